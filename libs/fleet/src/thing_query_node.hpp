// The syntax tree of a ThingQuery, shared by its parser and its evaluator.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ironroot/fleet/thing_query.hpp"

namespace ironroot::fleet {

enum class QueryField { thing_name, thing_type, firmware_version, attribute };
enum class QueryOp { match, exact, less, less_equal, greater, greater_equal };

struct ThingQuery::Node {
  enum class Kind { term, all_of, any_of, negation } kind = Kind::term;
  // term
  QueryField field = QueryField::thing_name;
  std::string attribute;  // for QueryField::attribute
  QueryOp op = QueryOp::match;
  std::string value;
  // all_of, any_of: two or more; negation: one
  std::vector<std::unique_ptr<const Node>> children;
};

}  // namespace ironroot::fleet
