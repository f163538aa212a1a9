#include "byte_range.hpp"

#include <cctype>
#include <limits>

namespace ironroot::service {

namespace {

constexpr std::uint64_t kHuge = std::numeric_limits<std::uint64_t>::max();

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// 1*DIGIT; saturates at 2^64 - 1. nullopt for anything else (empty included).
std::optional<std::uint64_t> parse_digits(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto digit = static_cast<std::uint64_t>(c - '0');
    value = value > (kHuge - digit) / 10 ? kHuge : value * 10 + digit;
  }
  return value;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != b[i]) return false;
  }
  return true;
}

RangeAnswer whole(std::uint64_t size) {
  RangeAnswer answer;
  if (size > 0) answer.range = {0, size - 1};
  return answer;
}

}  // namespace

std::string RangeAnswer::content_range(std::uint64_t size) const {
  switch (kind) {
    case Kind::partial:
      return "bytes " + std::to_string(range.first) + "-" + std::to_string(range.last) + "/" +
             std::to_string(size);
    case Kind::unsatisfiable:
      return "bytes */" + std::to_string(size);
    case Kind::whole:
      break;
  }
  return "";
}

RangeAnswer answer_range(std::optional<std::string_view> range_header, std::uint64_t size) {
  if (!range_header) return whole(size);
  const std::string_view header = trim(*range_header);
  const auto equals = header.find('=');
  if (equals == std::string_view::npos || !iequals(trim(header.substr(0, equals)), "bytes")) {
    return whole(size);  // another unit, or not a range at all
  }
  const std::string_view spec = trim(header.substr(equals + 1));
  if (spec.find(',') != std::string_view::npos) return whole(size);  // several ranges
  const auto dash = spec.find('-');
  if (dash == std::string_view::npos) return whole(size);
  const std::string_view first_text = spec.substr(0, dash), last_text = spec.substr(dash + 1);
  RangeAnswer unsatisfiable{RangeAnswer::Kind::unsatisfiable, {}};
  if (first_text.empty()) {  // suffix: the last n bytes
    auto suffix = parse_digits(last_text);
    if (!suffix) return whole(size);
    if (*suffix == 0 || size == 0) return unsatisfiable;
    const std::uint64_t length = *suffix < size ? *suffix : size;
    return {RangeAnswer::Kind::partial, {size - length, size - 1}};
  }
  auto first = parse_digits(first_text);
  if (!first) return whole(size);
  std::uint64_t last = kHuge;
  if (!last_text.empty()) {
    auto given = parse_digits(last_text);
    if (!given || *given < *first) return whole(size);  // invalid: ignored
    last = *given;
  }
  if (*first >= size) return unsatisfiable;
  return {RangeAnswer::Kind::partial, {*first, last < size ? last : size - 1}};
}

}  // namespace ironroot::service
