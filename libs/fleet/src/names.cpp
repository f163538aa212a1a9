#include "ironroot/fleet/names.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <nlohmann/json.hpp>

namespace ironroot::fleet {

namespace {

bool is_alnum(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0;
}

// 1 to `max` characters, each a letter, a digit or one of `extra`.
Status check_pattern(std::string_view what, std::string_view text, std::size_t min, std::size_t max,
                     std::string_view extra, std::string_view alphabet) {
  const std::string quoted = std::string(what) + " '" + std::string(text.substr(0, 64)) +
                             (text.size() > 64 ? "...'" : "'");
  if (text.size() < min || text.size() > max) {
    return fail(quoted + " must be " + std::to_string(min) + " to " + std::to_string(max) +
                " characters long");
  }
  for (char c : text) {
    if (!is_alnum(c) && extra.find(c) == std::string_view::npos) {
      return fail(quoted + " may contain only " + std::string(alphabet));
    }
  }
  return {};
}

// Well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, at most U+10FFFF).
bool is_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    auto byte = static_cast<unsigned char>(text[i]);
    std::size_t length = byte < 0x80           ? 1
                         : (byte >> 5) == 0x6  ? 2
                         : (byte >> 4) == 0xe  ? 3
                         : (byte >> 3) == 0x1e ? 4
                                               : 0;
    if (length == 0 || i + length > text.size()) return false;
    std::uint32_t code = length == 1 ? byte : byte & (0x7f >> length);
    for (std::size_t k = 1; k < length; ++k) {
      auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xc0) != 0x80) return false;
      code = (code << 6) | (next & 0x3f);
    }
    static constexpr std::uint32_t kMinimum[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < kMinimum[length] || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) {
      return false;
    }
    i += length;
  }
  return true;
}

}  // namespace

Status check_thing_type_name(std::string_view name) {
  return check_pattern("thing type name", name, 1, 128, ":_-", "letters, digits, ':', '_' and '-'");
}

Status check_group_name(std::string_view name) {
  return check_pattern("thing group name", name, 1, 128, ":_-",
                       "letters, digits, ':', '_' and '-'");
}

Status check_attribute_name(std::string_view name) {
  return check_pattern("attribute name", name, 1, kMaxAttributeNameLength, "_.,@/:#-",
                       "letters, digits and _ . , @ / : # -");
}

Status check_attribute_value(std::string_view name, std::string_view value) {
  return check_pattern("value of attribute " + std::string(name), value, 0,
                       kMaxAttributeValueLength, "_.,@/:#=[]-",
                       "letters, digits and _ . , @ / : # = [ ] -");
}

Status check_attributes(const Attributes& attributes) {
  if (attributes.size() > kMaxAttributes) {
    return fail("a thing has at most " + std::to_string(kMaxAttributes) + " attributes, not " +
                std::to_string(attributes.size()));
  }
  for (const auto& [name, value] : attributes) {
    if (auto ok = check_attribute_name(name); !ok) return ok;
    if (auto ok = check_attribute_value(name, value); !ok) return ok;
  }
  return {};
}

Status check_firmware_version(std::string_view version) {
  return check_pattern("firmware version", version, 1, 64, "._+-",
                       "letters, digits, '.', '_', '+' and '-'");
}

Status check_policy_name(std::string_view name) {
  return check_pattern("policy name", name, 1, 128, "_+=,.@-", "letters, digits and _ + = , . @ -");
}

Status check_template_name(std::string_view name) {
  return check_pattern("provisioning template name", name, 1, 36, "_-",
                       "letters, digits, '_' and '-'");
}

Status check_text(std::string_view what, std::string_view text, std::size_t max) {
  if (text.size() > max) {
    return fail(std::string(what) + " is " + std::to_string(text.size()) +
                " bytes long; the limit is " + std::to_string(max));
  }
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      return fail(std::string(what) + " must not contain control characters");
    }
  }
  if (!is_utf8(text)) return fail(std::string(what) + " is not valid UTF-8");
  return {};
}

Status check_actor(std::string_view actor) {
  if (actor.empty()) return fail("a change needs an actor (who makes it)");
  return check_text("actor", actor, kMaxActorLength);
}

Result<std::string> normalize_certificate_id(std::string_view id) {
  std::string lower(id.substr(0, 65));
  bool hex = lower.size() == 64 && std::all_of(lower.begin(), lower.end(), [](char c) {
               return std::isxdigit(static_cast<unsigned char>(c)) != 0;
             });
  if (!hex) {
    return fail("certificate id '" + std::string(id.substr(0, 80)) +
                "' must be 64 hex digits (the SHA-256 fingerprint of the certificate)");
  }
  std::transform(lower.begin(), lower.end(), lower.begin(), [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  });
  return lower;
}

Status check_json_object(std::string_view what, std::string_view text, std::size_t max_length) {
  if (text.size() > max_length) {
    return fail(std::string(what) + " is " + std::to_string(text.size()) +
                " bytes long; the limit is " + std::to_string(max_length));
  }
  try {
    auto value = nlohmann::json::parse(text);
    if (!value.is_object()) {
      return fail(std::string(what) + " must be a JSON object, not " + value.type_name());
    }
  } catch (const nlohmann::json::parse_error& e) {
    return fail(std::string(what) + " is not valid JSON: byte " + std::to_string(e.byte) + ": " +
                e.what());
  }
  return {};
}

Status check_policy_document(std::string_view document) {
  // Bounded before parsing: the whole text may carry a little indentation around 2048 characters.
  if (auto ok = check_json_object("policy document", document, 8 * kMaxPolicyDocumentLength); !ok) {
    return ok;
  }
  auto significant = std::count_if(document.begin(), document.end(), [](char c) {
    return std::isspace(static_cast<unsigned char>(c)) == 0;
  });
  if (static_cast<std::size_t>(significant) > kMaxPolicyDocumentLength) {
    return fail("policy document has " + std::to_string(significant) +
                " characters besides whitespace; AWS IoT's limit is " +
                std::to_string(kMaxPolicyDocumentLength));
  }
  return {};
}

}  // namespace ironroot::fleet
