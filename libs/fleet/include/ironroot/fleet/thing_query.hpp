// The query language of dynamic thing groups, in the spirit of AWS IoT fleet indexing:
//
//   thingName:sensor-*            thingTypeName:lamp           attributes.color:red
//   firmwareVersion:1.2.*         attributes.rev>=3            firmwareVersion<1.10.0
//   (attributes.site:"hall b" OR attributes.site:hall-c) AND NOT thingTypeName:gateway
//
// A term is `field op value`. Fields: thingName, thingTypeName, firmwareVersion,
// attributes.<name>. Operators: ':' matches (in an unquoted value '*' stands for any run of
// characters and '?' for one; a quoted value is matched exactly, with \" and \\ as escapes),
// '<', '<=', '>', '>=' compare. Comparisons are between versions when both sides are digits
// separated by dots ("1.10.0" > "1.9" > "1": component by component, missing components are 0;
// so "2.10" > "2.5" too), between numbers when both sides are signed decimals ("-2" < "1.5"),
// and byte-wise as text otherwise.
// A term on a field the thing lacks (no type, no such attribute) is false.
// Terms combine with AND, OR and NOT (upper case), parentheses, and juxtaposition (an implicit
// AND); NOT binds tightest, then AND, then OR.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "ironroot/core/result.hpp"
#include "ironroot/fleet/records.hpp"

namespace ironroot::fleet {

inline constexpr std::size_t kMaxQueryDepth = 16;  // nested parentheses and NOTs
inline constexpr std::size_t kMaxQueryTerms = 64;

// A parsed query. Immutable; cheap to copy.
class ThingQuery {
 public:
  // Fails, giving the 1-based character position and what was expected there, on a syntax error,
  // an unknown field, a query longer than kMaxQueryLength (names.hpp), deeper than
  // kMaxQueryDepth or with more than kMaxQueryTerms terms.
  static Result<ThingQuery> parse(std::string_view text);

  bool matches(const Thing& thing) const;
  const std::string& text() const { return text_; }

  struct Node;

 private:
  ThingQuery(std::string text, std::shared_ptr<const Node> root)
      : text_(std::move(text)), root_(std::move(root)) {}

  std::string text_;
  std::shared_ptr<const Node> root_;
};

// The comparison the query language uses for '<', '<=', '>', '>=' (see above): negative, zero or
// positive as `left` is less than, equal to or greater than `right`.
int compare_values(std::string_view left, std::string_view right);
// Whether `text` matches `pattern`, where '*' is any run of characters and '?' any one.
bool wildcard_match(std::string_view pattern, std::string_view text);

}  // namespace ironroot::fleet
