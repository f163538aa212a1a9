// Text checks and wildcard matching shared by the policy parser, the authorizer and the MQTT
// topic rules.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ironroot::policy::detail {

// Why `text` is not acceptable as an MQTT UTF-8 string ("invalid UTF-8 at byte 3", "U+0000 at
// byte 0", "control character U+001B at byte 5"), or nullopt when it is: well-formed UTF-8 (no
// overlong forms, no surrogates, nothing above U+10FFFF), no U+0000, no C0 or C1 control.
// With `allow_controls`, only well-formedness and U+0000 are checked.
std::optional<std::string> utf8_problem(std::string_view text, bool allow_controls = false);

// The length of the UTF-8 character starting at text[at], clamped to what is left; 1 for a byte
// that does not start a well-formed sequence. REQUIRES: at < text.size().
std::size_t utf8_length_at(std::string_view text, std::size_t at);

// A wildcard pattern after variable substitution: `text`, and for each of its bytes whether it is
// a wildcard ('*' any run of characters, '?' one character) or literal.
struct Glob {
  std::string text;
  std::vector<bool> wildcard;

  void append_literal(std::string_view literal);
  void append_wildcard(char star_or_question);
};

// A Glob where every '*' and '?' of `pattern` is a wildcard.
Glob glob_from_pattern(std::string_view pattern);

// True when `pattern` matches all of `subject`. '?' consumes one UTF-8 character. Linear in
// practice; at worst O(pattern x subject), both of which callers bound.
bool glob_match(const Glob& pattern, std::string_view subject);

// ASCII lower case (IAM compares action names without regard to case).
std::string ascii_lower(std::string_view text);

}  // namespace ironroot::policy::detail
