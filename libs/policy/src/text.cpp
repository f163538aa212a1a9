#include "text.hpp"

#include <cstdint>
#include <cstdio>

namespace ironroot::policy::detail {

namespace {

std::string at_byte(std::size_t at) {
  return " at byte " + std::to_string(at);
}

std::string code_point_name(std::uint32_t cp) {
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "U+%04X", static_cast<unsigned>(cp));
  return buffer;
}

}  // namespace

std::optional<std::string> utf8_problem(std::string_view text, bool allow_controls) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    std::uint32_t cp = 0;
    std::size_t length = 0;
    std::uint32_t minimum = 0;
    if (lead < 0x80) {
      cp = lead;
      length = 1;
    } else if (lead >= 0xC2 && lead <= 0xDF) {
      cp = lead & 0x1Fu;
      length = 2;
      minimum = 0x80;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      cp = lead & 0x0Fu;
      length = 3;
      minimum = 0x800;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      cp = lead & 0x07u;
      length = 4;
      minimum = 0x10000;
    } else {
      return "invalid UTF-8" + at_byte(i);
    }
    if (text.size() - i < length) return "truncated UTF-8 sequence" + at_byte(i);
    for (std::size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0u) != 0x80u) return "invalid UTF-8" + at_byte(i);
      cp = (cp << 6) | (next & 0x3Fu);
    }
    if (cp < minimum) return "overlong UTF-8 sequence" + at_byte(i);
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return "invalid code point " + code_point_name(cp) + at_byte(i);
    }
    if (cp == 0) return "U+0000" + at_byte(i);
    if (!allow_controls && (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F))) {
      return "control character " + code_point_name(cp) + at_byte(i);
    }
    i += length;
  }
  return std::nullopt;
}

std::size_t utf8_length_at(std::string_view text, std::size_t at) {
  const auto lead = static_cast<unsigned char>(text[at]);
  std::size_t length = 1;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
  }
  const std::size_t left = text.size() - at;
  return length < left ? length : left;
}

void Glob::append_literal(std::string_view literal) {
  text.append(literal);
  wildcard.insert(wildcard.end(), literal.size(), false);
}

void Glob::append_wildcard(char star_or_question) {
  text.push_back(star_or_question);
  wildcard.push_back(true);
}

Glob glob_from_pattern(std::string_view pattern) {
  Glob glob;
  glob.text = pattern;
  glob.wildcard.reserve(pattern.size());
  for (char c : pattern) glob.wildcard.push_back(c == '*' || c == '?');
  return glob;
}

bool glob_match(const Glob& pattern, std::string_view subject) {
  const std::string_view p = pattern.text;
  const auto is = [&](std::size_t at, char c) { return pattern.wildcard[at] && p[at] == c; };
  constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  std::size_t pi = 0;
  std::size_t si = 0;
  std::size_t star = kNone;  // the pattern position just after the last '*' seen
  std::size_t star_subject = 0;
  while (si < subject.size()) {
    if (pi < p.size() && is(pi, '*')) {
      star = ++pi;
      star_subject = si;
    } else if (pi < p.size() && is(pi, '?')) {
      ++pi;
      si += utf8_length_at(subject, si);
    } else if (pi < p.size() && !pattern.wildcard[pi] && p[pi] == subject[si]) {
      ++pi;
      ++si;
    } else if (star != kNone) {
      // Let the last '*' take one more character and try again from there.
      star_subject += utf8_length_at(subject, star_subject);
      pi = star;
      si = star_subject;
    } else {
      return false;
    }
  }
  while (pi < p.size() && is(pi, '*')) ++pi;
  return pi == p.size();
}

std::string ascii_lower(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return lower;
}

}  // namespace ironroot::policy::detail
