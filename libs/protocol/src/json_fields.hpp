// Typed, bounded access to the fields of a decoded payload, with errors that name the field.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "ironroot/core/result.hpp"

namespace ironroot::protocol::fields {

// "a string", "an array", "a byte string", ... for messages.
const char* type_name(const nlohmann::json& value);

// The value under `key` of an object, or nullptr when it is absent.
// REQUIRES: object.is_object().
const nlohmann::json* find(const nlohmann::json& object, const char* key);

// A string field of 1 to `max_size` bytes. Errors: "<key>: missing", "<key>: must be a string,
// not a number", "<key>: must not be empty", "<key>: 3000 bytes, more than the 2048 allowed".
Result<std::string> required_string(const nlohmann::json& object, const char* key,
                                    std::size_t max_size);
// An integer field within [min, max]; floating-point numbers are refused.
Result<std::int64_t> required_integer(const nlohmann::json& object, const char* key,
                                      std::int64_t min, std::int64_t max);
// An object whose values are all strings; keys must not be empty. Absent: an empty map.
Result<std::map<std::string, std::string>> optional_string_map(const nlohmann::json& object,
                                                               const char* key);

}  // namespace ironroot::protocol::fields
