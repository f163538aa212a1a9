#include "ironroot/keystore/pkcs11_uri.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstddef>

namespace ironroot::keystore {

namespace {

constexpr std::string_view kScheme = "pkcs11:";
constexpr std::array<std::string_view, 5> kObjectTypes = {"private", "public", "cert", "secret-key",
                                                          "data"};
// RFC 7512 attributes that ironroot does not use to select a token: refused by name rather than
// ignored, so that a URI never silently matches more than its author meant.
constexpr std::array<std::string_view, 5> kUnsupportedAttributes = {
    "library-manufacturer", "library-description", "library-version", "slot-description",
    "slot-manufacturer"};
constexpr std::array<std::string_view, 8> kPathAttributes = {
    "token", "manufacturer", "model", "serial", "slot-id", "object", "id", "type"};
constexpr std::array<std::string_view, 4> kQueryAttributes = {"pin-value", "pin-source",
                                                              "module-path", "module-name"};

template <std::size_t N>
bool contains(const std::array<std::string_view, N>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

template <std::size_t N>
std::string join(const std::array<std::string_view, N>& names) {
  std::string out;
  for (std::string_view name : names) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    return lower(x) == lower(y);
  });
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<Bytes> percent_decode(std::string_view name, std::string_view value) {
  Bytes out;
  out.reserve(value.size());
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (value[i] != '%') {
      out.push_back(static_cast<std::byte>(value[i]));
      continue;
    }
    int high = i + 1 < value.size() ? hex_value(value[i + 1]) : -1;
    int low = i + 2 < value.size() ? hex_value(value[i + 2]) : -1;
    if (high < 0 || low < 0) {
      // Never echo any part of a PIN.
      std::string escape = name == "pin-value" ? "" : " '" + std::string(value.substr(i, 3)) + "'";
      return fail("bad percent-escape" + escape + " in attribute '" + std::string(name) +
                  "': write a byte as % and two hex digits, e.g. %20");
    }
    out.push_back(static_cast<std::byte>(high * 16 + low));
    i += 2;
  }
  return out;
}

// `extra` lists the reserved characters RFC 7512 allows unescaped in this part of the URI.
void percent_encode(std::string& out, ByteView value, std::string_view extra) {
  constexpr std::string_view kHex = "0123456789ABCDEF";
  for (std::byte b : value) {
    auto c = static_cast<char>(b);
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '.' || c == '_' || c == '~' ||
                 (c != '\0' && extra.find(c) != std::string_view::npos);
    if (plain) {
      out += c;
    } else {
      auto v = std::to_integer<unsigned>(b);
      out += '%';
      out += kHex[v >> 4];
      out += kHex[v & 0xf];
    }
  }
}

// "file:/p", "file:///p" and "file://localhost/p" name the local file /p.
Result<std::string> pin_source_path(std::string value) {
  if (value.rfind("file:", 0) != 0) return value;
  std::string_view rest = std::string_view(value).substr(5);
  if (rest.rfind("//", 0) == 0) {
    rest.remove_prefix(2);
    if (rest.rfind("localhost/", 0) == 0) rest.remove_prefix(9);
    if (rest.empty() || rest[0] != '/') {
      return fail("pin-source '" + value +
                  "' names a remote file; give a local path or file:///path");
    }
  }
  if (rest.empty()) return fail("pin-source 'file:' names no file");
  return std::string(rest);
}

class Parser {
 public:
  Status path_attribute(std::string_view name, std::string value) {
    if (name == "token") return set(uri.token, name, std::move(value));
    if (name == "manufacturer") return set(uri.manufacturer, name, std::move(value));
    if (name == "model") return set(uri.model, name, std::move(value));
    if (name == "serial") return set(uri.serial, name, std::move(value));
    if (name == "object") return set(uri.object, name, std::move(value));
    if (name == "id") return set(uri.id, name, to_bytes(value));
    if (name == "type") {
      if (!contains(kObjectTypes, value)) {
        return fail("type '" + value + "' is not one of " + join(kObjectTypes));
      }
      return set(uri.type, name, std::move(value));
    }
    if (name == "slot-id") {
      unsigned long slot = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), slot);
      if (ec != std::errc() || end != value.data() + value.size()) {
        return fail("slot-id '" + value + "' is not a decimal slot number");
      }
      return set(uri.slot_id, name, slot);
    }
    return unknown(name, "path", join(kPathAttributes), contains(kQueryAttributes, name));
  }

  Status query_attribute(std::string_view name, std::string value) {
    if (name == "pin-value") return set(uri.pin_value, name, std::move(value));
    if (name == "module-path") return set(uri.module_path, name, std::move(value));
    if (name == "module-name") return set(uri.module_name, name, std::move(value));
    if (name == "pin-source") {
      auto path = pin_source_path(std::move(value));
      if (!path) return tl::unexpected(path.error());
      return set(uri.pin_source, name, std::move(*path));
    }
    return unknown(name, "query", join(kQueryAttributes), contains(kPathAttributes, name));
  }

  Pkcs11Uri uri;

 private:
  template <class T>
  static Status set(std::optional<T>& field, std::string_view name, T value) {
    if (field) return fail("attribute '" + std::string(name) + "' appears twice");
    field = std::move(value);
    return {};
  }

  static Status unknown(std::string_view name, std::string_view part, const std::string& known,
                        bool belongs_elsewhere) {
    std::string n(name);
    if (contains(kUnsupportedAttributes, name)) {
      return fail("attribute '" + n +
                  "' is not supported; select the token with token=, serial=, "
                  "manufacturer=, model= or slot-id=");
    }
    if (belongs_elsewhere) {
      return fail("attribute '" + n + "' belongs " +
                  (part == "path" ? "after the '?'" : "before the '?'") + " in a PKCS#11 URI");
    }
    return fail("unknown " + std::string(part) + " attribute '" + n + "' (known: " + known + ")");
  }
};

// Calls `add(name, decoded_value)` for each `sep`-separated "name=value" in `part`.
template <class Add>
Status for_each_attribute(std::string_view part, char sep, Add add) {
  if (part.empty()) return {};
  while (true) {
    std::size_t end = part.find(sep);
    std::string_view attribute = part.substr(0, end);
    std::size_t eq = attribute.find('=');
    if (attribute.empty()) {
      return fail(std::string("empty attribute (two '") + sep + "' in a row, or one at an end)");
    }
    if (eq == std::string_view::npos) {
      return fail("attribute '" + std::string(attribute) + "' has no value; write name=value");
    }
    std::string_view name = attribute.substr(0, eq);
    if (name.empty()) return fail("an attribute has no name (it starts with '=')");
    auto value = percent_decode(name, attribute.substr(eq + 1));
    if (!value) return tl::unexpected(value.error());
    if (value->empty()) {
      return fail("attribute '" + std::string(name) + "' is empty; give a value or leave it out");
    }
    if (auto added = add(name, std::string(as_chars(*value))); !added) return added;
    if (end == std::string_view::npos) return {};
    part.remove_prefix(end + 1);
  }
}

}  // namespace

bool is_pkcs11_uri(std::string_view text) {
  return text.size() >= kScheme.size() && iequals(text.substr(0, kScheme.size()), kScheme);
}

Result<Pkcs11Uri> Pkcs11Uri::parse(std::string_view text) {
  if (!is_pkcs11_uri(text)) {
    return fail("'" + std::string(text.substr(0, 40)) +
                "' is not a PKCS#11 URI: it must start with 'pkcs11:'");
  }
  std::string_view rest = text.substr(kScheme.size());
  std::size_t question = rest.find('?');
  std::string_view path = rest.substr(0, question);
  std::string_view query =
      question == std::string_view::npos ? std::string_view() : rest.substr(question + 1);

  Parser parser;
  auto in_path = for_each_attribute(path, ';', [&](std::string_view name, std::string value) {
    return parser.path_attribute(name, std::move(value));
  });
  if (!in_path) return prefixed(in_path.error(), "PKCS#11 URI path");
  auto in_query = for_each_attribute(query, '&', [&](std::string_view name, std::string value) {
    return parser.query_attribute(name, std::move(value));
  });
  if (!in_query) return prefixed(in_query.error(), "PKCS#11 URI query");
  if (parser.uri.pin_value && parser.uri.pin_source) {
    return fail("PKCS#11 URI: give the PIN with pin-value or pin-source, not both");
  }
  return std::move(parser.uri);
}

std::string Pkcs11Uri::to_string() const {
  // RFC 7512 pk11-path-res-avail and pk11-query-res-avail, minus the separators of that part.
  constexpr std::string_view kPathExtra = ":[]@!$'()*+,=&";
  constexpr std::string_view kQueryExtra = ":[]@!$'()*+,=/?|";
  std::string out(kScheme);
  bool first = true;
  auto path = [&](std::string_view name, ByteView value, std::string_view extra) {
    if (!first) out += ';';
    first = false;
    out += name;
    out += '=';
    percent_encode(out, value, extra);
  };
  if (token) path("token", as_bytes(*token), kPathExtra);
  if (manufacturer) path("manufacturer", as_bytes(*manufacturer), kPathExtra);
  if (model) path("model", as_bytes(*model), kPathExtra);
  if (serial) path("serial", as_bytes(*serial), kPathExtra);
  if (slot_id) path("slot-id", as_bytes(std::to_string(*slot_id)), kPathExtra);
  if (object) path("object", as_bytes(*object), kPathExtra);
  if (id) path("id", *id, "");  // RFC 7512: id is percent-encoded byte by byte
  if (type) path("type", as_bytes(*type), kPathExtra);

  first = true;
  auto query = [&](std::string_view name, const std::string& value) {
    out += first ? '?' : '&';
    first = false;
    out += name;
    out += '=';
    percent_encode(out, as_bytes(value), kQueryExtra);
  };
  if (module_name) query("module-name", *module_name);
  if (module_path) query("module-path", *module_path);
  // A path that itself starts with "file:" is written as a file: URI, or parsing would strip it.
  if (pin_source) {
    query("pin-source", pin_source->rfind("file:", 0) == 0 ? "file:" + *pin_source : *pin_source);
  }
  return out;
}

}  // namespace ironroot::keystore
