// The ThingQuery evaluator and the comparisons it uses.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>

#include "ironroot/fleet/thing_query.hpp"
#include "thing_query_node.hpp"

namespace ironroot::fleet {

namespace {

bool all_digits(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c)) != 0;
  });
}

// Digits separated by single dots: "1", "1.10.0".
bool is_version(std::string_view text) {
  std::size_t start = 0;
  for (;;) {
    std::size_t dot = text.find('.', start);
    if (!all_digits(text.substr(start, dot == std::string_view::npos ? dot : dot - start))) {
      return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

// [+-]digits[.digits], parsed.
std::optional<double> decimal(std::string_view text) {
  std::string_view digits = text;
  if (!digits.empty() && (digits.front() == '+' || digits.front() == '-')) digits.remove_prefix(1);
  std::size_t dot = digits.find('.');
  if (!all_digits(digits.substr(0, dot))) return std::nullopt;
  if (dot != std::string_view::npos && !all_digits(digits.substr(dot + 1))) return std::nullopt;
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);  // from_chars refuses '+'
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// Compares two runs of digits as unbounded non-negative integers.
int compare_digits(std::string_view a, std::string_view b) {
  auto strip = [](std::string_view s) {
    std::size_t first = s.find_first_not_of('0');
    return first == std::string_view::npos ? std::string_view{} : s.substr(first);
  };
  a = strip(a);
  b = strip(b);
  if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
  int c = a.compare(b);
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

// REQUIRES: is_version(a) && is_version(b).
int compare_versions(std::string_view a, std::string_view b) {
  while (!a.empty() || !b.empty()) {
    auto next = [](std::string_view& s) {
      std::size_t dot = s.find('.');
      std::string_view part = s.substr(0, dot);
      s = dot == std::string_view::npos ? std::string_view{} : s.substr(dot + 1);
      return part;
    };
    if (int c = compare_digits(next(a), next(b)); c != 0) return c;
  }
  return 0;
}

std::optional<std::string_view> field_of(const ThingQuery::Node& term, const Thing& thing) {
  switch (term.field) {
    case QueryField::thing_name:
      return std::string_view(thing.name);
    case QueryField::thing_type:
      if (thing.thing_type) return std::string_view(*thing.thing_type);
      return std::nullopt;
    case QueryField::firmware_version:
      if (thing.firmware_version) return std::string_view(*thing.firmware_version);
      return std::nullopt;
    case QueryField::attribute:
      if (auto it = thing.attributes.find(term.attribute); it != thing.attributes.end()) {
        return std::string_view(it->second);
      }
      return std::nullopt;
  }
  return std::nullopt;
}

bool term_matches(const ThingQuery::Node& term, const Thing& thing) {
  auto actual = field_of(term, thing);
  if (!actual) return false;
  switch (term.op) {
    case QueryOp::match:
      return wildcard_match(term.value, *actual);
    case QueryOp::exact:
      return *actual == term.value;
    case QueryOp::less:
      return compare_values(*actual, term.value) < 0;
    case QueryOp::less_equal:
      return compare_values(*actual, term.value) <= 0;
    case QueryOp::greater:
      return compare_values(*actual, term.value) > 0;
    case QueryOp::greater_equal:
      return compare_values(*actual, term.value) >= 0;
  }
  return false;
}

bool node_matches(const ThingQuery::Node& node, const Thing& thing) {
  using Kind = ThingQuery::Node::Kind;
  switch (node.kind) {
    case Kind::term:
      return term_matches(node, thing);
    case Kind::all_of:
      return std::all_of(node.children.begin(), node.children.end(),
                         [&](const auto& child) { return node_matches(*child, thing); });
    case Kind::any_of:
      return std::any_of(node.children.begin(), node.children.end(),
                         [&](const auto& child) { return node_matches(*child, thing); });
    case Kind::negation:
      return !node_matches(*node.children.front(), thing);
  }
  return false;
}

}  // namespace

int compare_values(std::string_view left, std::string_view right) {
  if (is_version(left) && is_version(right)) return compare_versions(left, right);
  auto a = decimal(left);
  auto b = decimal(right);
  if (a && b) return *a < *b ? -1 : (*a > *b ? 1 : 0);
  int c = left.compare(right);
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

bool wildcard_match(std::string_view pattern, std::string_view text) {
  // Greedy with backtracking to the last '*': O(pattern * text) at worst, no recursion.
  std::size_t p = 0, t = 0;
  std::size_t star = std::string_view::npos, resume = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool ThingQuery::matches(const Thing& thing) const {
  return node_matches(*root_, thing);
}

}  // namespace ironroot::fleet
