#include "json_fields.hpp"

namespace ironroot::protocol::fields {

using nlohmann::json;

const char* type_name(const json& value) {
  switch (value.type()) {
    case json::value_t::object:
      return "an object";
    case json::value_t::array:
      return "an array";
    case json::value_t::string:
      return "a string";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::null:
      return "null";
    case json::value_t::binary:
      return "a byte string";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "an integer";
    case json::value_t::number_float:
      return "a floating-point number";
    case json::value_t::discarded:
      break;
  }
  return "an unknown value";
}

const json* find(const json& object, const char* key) {
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

namespace {

Result<std::string> check_string(const json& value, const char* key, std::size_t max_size) {
  if (!value.is_string()) {
    return fail(std::string(key) + ": must be a string, not " + type_name(value));
  }
  const auto& text = value.get_ref<const std::string&>();
  if (text.empty()) return fail(std::string(key) + ": must not be empty");
  if (text.size() > max_size) {
    return fail(std::string(key) + ": " + std::to_string(text.size()) + " bytes, more than the " +
                std::to_string(max_size) + " allowed");
  }
  return text;
}

}  // namespace

Result<std::string> required_string(const json& object, const char* key, std::size_t max_size) {
  const json* value = find(object, key);
  if (value == nullptr) return fail(std::string(key) + ": missing");
  return check_string(*value, key, max_size);
}

Result<std::int64_t> required_integer(const json& object, const char* key, std::int64_t min,
                                      std::int64_t max) {
  const json* value = find(object, key);
  if (value == nullptr) return fail(std::string(key) + ": missing");
  const std::string range = std::to_string(min) + " to " + std::to_string(max);
  if (value->is_number_unsigned()) {
    const auto n = value->get<std::uint64_t>();
    if (max >= 0 && n <= static_cast<std::uint64_t>(max) && static_cast<std::int64_t>(n) >= min) {
      return static_cast<std::int64_t>(n);
    }
    return fail(std::string(key) + ": " + std::to_string(n) + " is outside " + range);
  }
  if (value->is_number_integer()) {
    const auto n = value->get<std::int64_t>();
    if (n >= min && n <= max) return n;
    return fail(std::string(key) + ": " + std::to_string(n) + " is outside " + range);
  }
  return fail(std::string(key) + ": must be an integer, not " + type_name(*value));
}

Result<std::map<std::string, std::string>> optional_string_map(const json& object,
                                                               const char* key) {
  std::map<std::string, std::string> out;
  const json* value = find(object, key);
  if (value == nullptr) return out;
  if (!value->is_object()) {
    return fail(std::string(key) + ": must be an object of strings, not " + type_name(*value));
  }
  for (const auto& [name, entry] : value->items()) {
    if (name.empty()) return fail(std::string(key) + ": a key is empty");
    if (!entry.is_string()) {
      // The name comes from the payload: keep the message short.
      const std::string shown = name.size() <= 64 ? name : name.substr(0, 64) + "...";
      return fail(std::string(key) + "." + shown + ": must be a string, not " + type_name(entry));
    }
    out.emplace(name, entry.get<std::string>());
  }
  return out;
}

}  // namespace ironroot::protocol::fields
