#include "ironroot/protocol/payload_format.hpp"

#include <algorithm>
#include <cstdint>
#include <exception>
#include <string>
#include <vector>

#include "cbor_structure.hpp"
#include "json_fields.hpp"

namespace ironroot::protocol {
namespace {

using nlohmann::json;

// nlohmann's messages start with "[json.exception.parse_error.101] "; users need the rest.
std::string without_exception_id(const std::string& what) {
  if (!what.empty() && what.front() == '[') {
    if (auto end = what.find("] "); end != std::string::npos) return what.substr(end + 2);
  }
  return what;
}

// A SAX pass over JSON text that bounds the nesting depth (nlohmann's JSON parser is iterative,
// but printing and comparing documents recurses) and keeps the first error.
class DepthBoundedJson final : public nlohmann::json_sax<json> {
 public:
  explicit DepthBoundedJson(std::size_t max_depth) : max_depth_(max_depth) {}

  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return enter(); }
  bool key(string_t&) override { return true; }
  bool end_object() override { return leave(); }
  bool start_array(std::size_t) override { return enter(); }
  bool end_array() override { return leave(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    error_ = "invalid JSON: " + without_exception_id(e.what());
    return false;
  }

  const std::string& error() const { return error_; }

 private:
  bool enter() {
    if (++depth_ > max_depth_) {
      error_ = "the JSON payload nests deeper than " + std::to_string(max_depth_) + " levels";
      return false;
    }
    return true;
  }
  bool leave() {
    --depth_;
    return true;
  }

  std::size_t max_depth_;
  std::size_t depth_ = 0;
  std::string error_;
};

Result<json> decode_json(ByteView payload) {
  const unsigned char* first = as_uchars(payload);
  const unsigned char* last = first + payload.size();
  DepthBoundedJson check(kMaxNestingDepth);
  if (!json::sax_parse(first, last, &check, json::input_format_t::json, true, false)) {
    return fail(check.error().empty() ? "invalid JSON" : check.error());
  }
  json document = json::parse(first, last, nullptr, false);
  if (document.is_discarded()) return fail("invalid JSON");
  if (!document.is_object()) {
    return fail(std::string("the JSON payload is ") + fields::type_name(document) +
                ", not an object");
  }
  return document;
}

// Whether every text string of `value` (values and map keys) is UTF-8. nlohmann checks UTF-8 when
// it prints a string, so each string is printed alone: printing the whole document would also
// print its byte strings, at about six characters a byte (a 128 KiB block would take 700 KiB).
// Depth is bounded by check_cbor_structure.
bool text_is_utf8(const json& value) {
  try {
    switch (value.type()) {
      case json::value_t::string:
        (void)json(value.get_ref<const json::string_t&>()).dump();
        return true;
      case json::value_t::object:
        for (const auto& [key, member] : value.items()) {
          (void)json(key).dump();
          if (!text_is_utf8(member)) return false;
        }
        return true;
      case json::value_t::array:
        for (const json& element : value) {
          if (!text_is_utf8(element)) return false;
        }
        return true;
      default:
        return true;
    }
  } catch (const json::type_error&) {
    return false;
  }
}

Result<json> decode_cbor(ByteView payload) {
  if (auto checked = check_cbor_structure(payload, kMaxNestingDepth); !checked) {
    return tl::unexpected(checked.error());
  }
  const unsigned char* first = as_uchars(payload);
  json document = json::from_cbor(first, first + payload.size(), true, false);
  if (document.is_discarded()) return fail("invalid CBOR: a value is not supported");
  if (!document.is_object()) return fail("the CBOR payload is not a map");
  // RFC 8949 requires text strings to be UTF-8, but nlohmann does not check CBOR text; printing
  // does, and nothing invalid may reach callers that print or re-encode it.
  if (!text_is_utf8(document)) return fail("invalid CBOR: a text string is not valid UTF-8");
  return document;
}

}  // namespace

std::optional<PayloadFormat> parse_payload_format(std::string_view name) {
  if (name == "json") return PayloadFormat::json;
  if (name == "cbor") return PayloadFormat::cbor;
  return std::nullopt;
}

std::string_view to_string(PayloadFormat format) {
  return format == PayloadFormat::cbor ? "cbor" : "json";
}

Bytes encode_payload(const nlohmann::json& document, PayloadFormat format) {
  if (format == PayloadFormat::cbor) {
    std::vector<std::uint8_t> cbor = json::to_cbor(document);
    Bytes out(cbor.size());
    std::transform(cbor.begin(), cbor.end(), out.begin(),
                   [](std::uint8_t b) { return std::byte{b}; });
    return out;
  }
  return to_bytes(document.dump(-1, ' ', false, json::error_handler_t::replace));
}

Result<nlohmann::json> decode_payload(ByteView payload, PayloadFormat format,
                                      std::size_t max_size) {
  if (payload.size() > max_size) {
    return fail("the payload is " + std::to_string(payload.size()) + " bytes, more than the " +
                std::to_string(max_size) + " allowed");
  }
  if (payload.empty()) {
    return fail(std::string("the payload is empty; expected a ") +
                (format == PayloadFormat::cbor ? "CBOR map" : "JSON object"));
  }
  try {
    return format == PayloadFormat::cbor ? decode_cbor(payload) : decode_json(payload);
  } catch (const std::exception& e) {
    return fail(std::string("cannot decode the payload: ") + e.what());
  }
}

}  // namespace ironroot::protocol
