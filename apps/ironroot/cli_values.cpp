#include "cli_values.hpp"

#include <cctype>
#include <charconv>
#include <string>

namespace ironroot::cli {

Result<std::uint64_t> parse_uint(std::string_view text, std::uint64_t max) {
  std::string_view digits = text;
  int base = 10;
  if (digits.size() > 2 && digits[0] == '0') {
    char p = static_cast<char>(std::tolower(static_cast<unsigned char>(digits[1])));
    base = p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 10;
    if (base != 10) digits.remove_prefix(2);
  }
  if (base == 10 && digits.size() > 1 && digits[0] == '0') {
    return fail("'" + std::string(text) +
                "' is not a valid integer (a leading 0 needs 0x, 0o or 0b)");
  }
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value, base);
  if (digits.empty() || ec == std::errc::invalid_argument || end != digits.data() + digits.size()) {
    return fail("'" + std::string(text) +
                "' is not a valid integer; use decimal or 0x/0o/0b prefixes");
  }
  if (ec == std::errc::result_out_of_range || value > max) {
    return fail("'" + std::string(text) + "' is larger than the maximum " + std::to_string(max));
  }
  return value;
}

Result<std::vector<image::Dependency>> parse_dependencies(std::string_view text) {
  std::vector<image::Dependency> deps;
  auto bad = [&](const std::string& why) {
    return fail("invalid dependency list '" + std::string(text) + "': " + why +
                "; expected \"(image_id,version), ...\", e.g. \"(1,1.2.3+0)\"");
  };
  auto skip_space = [](std::string_view& s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  };
  std::string_view rest = text;
  skip_space(rest);
  while (!rest.empty()) {
    if (rest.front() != '(') return bad("expected '('");
    auto close = rest.find(')');
    if (close == std::string_view::npos) return bad("missing ')'");
    std::string_view inner = rest.substr(1, close - 1);
    auto comma = inner.find(',');
    if (comma == std::string_view::npos) return bad("missing ',' between image id and version");
    auto trim = [](std::string_view s) {
      while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
      while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
      return s;
    };
    auto id = parse_uint(trim(inner.substr(0, comma)), 255);
    if (!id) return bad("image id: " + id.error().message);
    auto version = image::ImageVersion::parse(trim(inner.substr(comma + 1)));
    if (!version) return bad(version.error().message);
    deps.push_back({static_cast<std::uint8_t>(*id), *version});
    rest.remove_prefix(close + 1);
    skip_space(rest);
    if (!rest.empty()) {
      if (rest.front() != ',') return bad("expected ',' between dependencies");
      rest.remove_prefix(1);
      skip_space(rest);
    }
  }
  if (deps.empty()) return bad("no dependency given");
  return deps;
}

Result<std::chrono::seconds> parse_duration(std::string_view text, std::chrono::seconds max) {
  const std::string usage = "'" + std::string(text) +
                            "' is not a duration: give a whole number and a unit, s, m, h, d or "
                            "w, e.g. 30d or 12h";
  if (text.size() < 2) return fail(usage);
  std::int64_t unit = 0;
  switch (text.back()) {
    case 's':
      unit = 1;
      break;
    case 'm':
      unit = 60;
      break;
    case 'h':
      unit = 3600;
      break;
    case 'd':
      unit = 86400;
      break;
    case 'w':
      unit = 7 * 86400;
      break;
    default:
      return fail(usage);
  }
  std::string_view digits = text.substr(0, text.size() - 1);
  std::uint64_t count = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), count);
  if (ec == std::errc::invalid_argument || end != digits.data() + digits.size()) return fail(usage);
  if (count == 0) return fail("'" + std::string(text) + "': a duration must be longer than 0");
  const auto limit = static_cast<std::uint64_t>(max.count() / unit);
  if (ec == std::errc::result_out_of_range || count > limit) {
    return fail("'" + std::string(text) + "' is longer than the maximum " +
                std::to_string(max.count() / 86400) + "d");
  }
  return std::chrono::seconds(static_cast<std::int64_t>(count) * unit);
}

}  // namespace ironroot::cli
