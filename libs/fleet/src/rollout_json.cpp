#include "rollout_json.hpp"

#include <algorithm>
#include <cmath>

namespace ironroot::fleet::rollout_json {

std::string show(const json& value) {
  std::string text = value.dump();
  if (text.size() > 64) text = text.substr(0, 61) + "...";
  return text;
}

Status expect_object(const json& value, std::string_view path,
                     std::initializer_list<std::string_view> known) {
  if (!value.is_object()) {
    return fail(std::string(path) + ": must be an object, not " + show(value));
  }
  for (const auto& [key, unused] : value.items()) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      std::string names;
      for (std::string_view name : known) names += (names.empty() ? "" : ", ") + std::string(name);
      return fail(member(path, key) + ": unknown field (known: " + names + ")");
    }
  }
  return {};
}

Result<std::uint64_t> integer(const json& value, std::string_view path, std::uint64_t min,
                              std::uint64_t max) {
  const std::string range = " (" + std::to_string(min) + ".." + std::to_string(max) + ")";
  if (value.is_number_unsigned() || (value.is_number_integer() && value.get<std::int64_t>() >= 0)) {
    const auto number = value.get<std::uint64_t>();
    if (number < min || number > max) {
      return fail(std::string(path) + ": " + std::to_string(number) + " is out of range" + range);
    }
    return number;
  }
  if (value.is_number_integer()) {  // negative
    return fail(std::string(path) + ": " + show(value) + " is out of range" + range);
  }
  return fail(std::string(path) + ": must be a whole number" + range + ", not " + show(value));
}

Result<std::uint32_t> scaled_decimal(const json& value, std::string_view path, int digits,
                                     double min, bool min_exclusive, double max) {
  if (!value.is_number()) {
    return fail(std::string(path) + ": must be a number, not " + show(value));
  }
  const double number = value.get<double>();
  const bool below = min_exclusive ? !(number > min) : !(number >= min);
  if (!std::isfinite(number) || below || number > max) {
    return fail(std::string(path) + ": " + show(value) + " is out of range " +
                (min_exclusive ? "(" : "[") + show(json(min)) + ", " + show(json(max)) + "]");
  }
  const double scale = std::pow(10.0, digits);
  const double scaled = number * scale;
  const double rounded = std::round(scaled);
  if (std::fabs(scaled - rounded) > 1e-6) {
    return fail(std::string(path) + ": " + show(value) + " has more than " +
                std::to_string(digits) + " digit" + (digits == 1 ? "" : "s") +
                " after the decimal point (AWS IoT accepts " + std::to_string(digits) + ")");
  }
  return static_cast<std::uint32_t>(rounded);
}

Result<std::string> string(const json& value, std::string_view path, std::size_t max_length) {
  if (!value.is_string()) {
    return fail(std::string(path) + ": must be a string, not " + show(value));
  }
  const auto& text = value.get_ref<const std::string&>();
  if (text.empty() || text.size() > max_length) {
    return fail(std::string(path) + ": must be 1 to " + std::to_string(max_length) +
                " characters long, not " + std::to_string(text.size()));
  }
  return text;
}

Result<bool> boolean(const json& value, std::string_view path) {
  if (!value.is_boolean()) {
    return fail(std::string(path) + ": must be true or false, not " + show(value));
  }
  return value.get<bool>();
}

json unscaled(std::uint32_t scaled, int digits) {
  std::uint32_t scale = 1;
  for (int i = 0; i < digits; ++i) scale *= 10;
  if (scaled % scale == 0) return json(scaled / scale);
  return json(static_cast<double>(scaled) / static_cast<double>(scale));
}

}  // namespace ironroot::fleet::rollout_json
