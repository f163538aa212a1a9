// Parsers for command-line values, with imgtool's spellings (0x-prefixed integers, "(id,ver)"
// lists).
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>
#include <vector>

#include "ironroot/core/result.hpp"
#include "ironroot/image/format.hpp"

namespace ironroot::cli {

// An unsigned integer written as Python's int(x, 0) reads it: decimal, 0x.., 0o.. or 0b..
// (underscores not allowed). Fails when it is larger than `max`.
Result<std::uint64_t> parse_uint(std::string_view text, std::uint64_t max);

// imgtool's -d/--dependencies: "(1,1.2.3+0), (2, 0.4.0)".
Result<std::vector<image::Dependency>> parse_dependencies(std::string_view text);

// A duration: a whole number and a unit, s, m, h, d or w ("30d", "12h"). Fails on 0, on a
// missing or unknown unit, and on more than `max`.
Result<std::chrono::seconds> parse_duration(std::string_view text, std::chrono::seconds max);

}  // namespace ironroot::cli
