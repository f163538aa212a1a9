// Field readers shared by the rollout configuration parsers (rollout_config.cpp,
// rollout_schedule.cpp). Every error starts with the field's path ("abortConfig.criteriaList[0].
// thresholdPercentage: ...") so an operator can find what to change.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "ironroot/core/result.hpp"

namespace ironroot::fleet::rollout_json {

using nlohmann::json;

inline std::string member(std::string_view path, std::string_view key) {
  return std::string(path) + "." + std::string(key);
}

inline std::string element(std::string_view path, std::size_t index) {
  return std::string(path) + "[" + std::to_string(index) + "]";
}

// A short, bounded rendering of a value for messages.
std::string show(const json& value);

// `value` is an object whose keys are all in `known`.
Status expect_object(const json& value, std::string_view path,
                     std::initializer_list<std::string_view> known);

// An integer in [min, max] (JSON integers only: 5.0 is refused).
Result<std::uint64_t> integer(const json& value, std::string_view path, std::uint64_t min,
                              std::uint64_t max);

// A number with at most `digits` digits after the decimal point, in [min, max] (or (min, max]
// when `min_exclusive`), returned scaled by 10^digits ("12.25" with digits 2 gives 1225).
Result<std::uint32_t> scaled_decimal(const json& value, std::string_view path, int digits,
                                     double min, bool min_exclusive, double max);

Result<std::string> string(const json& value, std::string_view path, std::size_t max_length);

Result<bool> boolean(const json& value, std::string_view path);

// Writes a value scaled by 10^digits back as a JSON number (1225, 2 -> 12.25; 1200, 2 -> 12).
json unscaled(std::uint32_t scaled, int digits);

}  // namespace ironroot::fleet::rollout_json
