// The ThingQuery parser: recursive descent over the text, bounded in length, depth and terms.
#include <cctype>

#include "ironroot/fleet/names.hpp"
#include "ironroot/fleet/thing_query.hpp"
#include "thing_query_node.hpp"

namespace ironroot::fleet {

namespace {

using Node = ThingQuery::Node;
using NodePtr = std::unique_ptr<const Node>;

bool is_space(char c) {
  return std::isspace(static_cast<unsigned char>(c)) != 0;
}

// Characters of a field name: those of attribute names except ':', which is an operator here.
bool is_field_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
         std::string_view("_.,@/#-").find(c) != std::string_view::npos;
}

bool ends_value(char c) {
  return is_space(c) || c == '(' || c == ')' || c == '"';
}

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Result<NodePtr> parse() {
    auto root = parse_or(0);
    if (!root) return root;
    skip_spaces();
    if (pos_ < text_.size()) {
      return error(text_[pos_] == ')' ? "unbalanced ')'" : "expected AND, OR or the end");
    }
    return root;
  }

 private:
  tl::unexpected<Error> error(const std::string& what) const { return error_at(pos_, what); }
  tl::unexpected<Error> error_at(std::size_t at, const std::string& what) const {
    return fail("query, at character " + std::to_string(at + 1) + ": " + what);
  }

  void skip_spaces() {
    while (pos_ < text_.size() && is_space(text_[pos_])) ++pos_;
  }

  // Whether the keyword `word` is next (followed by a space, a parenthesis or the end).
  bool next_is(std::string_view word) {
    skip_spaces();
    if (text_.substr(pos_, word.size()) != word) return false;
    std::size_t after = pos_ + word.size();
    return after == text_.size() || is_space(text_[after]) || text_[after] == '(' ||
           text_[after] == ')';
  }

  static NodePtr combine(Node::Kind kind, std::vector<NodePtr> children) {
    if (children.size() == 1) return std::move(children.front());
    auto node = std::make_unique<Node>();
    node->kind = kind;
    node->children = std::move(children);
    return node;
  }

  Result<NodePtr> parse_or(std::size_t depth) {
    std::vector<NodePtr> any;
    for (;;) {
      auto all = parse_and(depth);
      if (!all) return all;
      any.push_back(std::move(*all));
      if (!next_is("OR")) break;
      pos_ += 2;
    }
    return combine(Node::Kind::any_of, std::move(any));
  }

  Result<NodePtr> parse_and(std::size_t depth) {
    std::vector<NodePtr> all;
    for (;;) {
      auto unary = parse_unary(depth);
      if (!unary) return unary;
      all.push_back(std::move(*unary));
      skip_spaces();
      if (pos_ == text_.size() || text_[pos_] == ')' || next_is("OR")) break;
      if (next_is("AND")) pos_ += 3;  // otherwise juxtaposition: an implicit AND
    }
    return combine(Node::Kind::all_of, std::move(all));
  }

  Result<NodePtr> parse_unary(std::size_t depth) {
    skip_spaces();
    if (depth >= kMaxQueryDepth) {
      return error("nested more than " + std::to_string(kMaxQueryDepth) + " levels deep");
    }
    if (next_is("NOT")) {
      pos_ += 3;
      auto inner = parse_unary(depth + 1);
      if (!inner) return inner;
      auto node = std::make_unique<Node>();
      node->kind = Node::Kind::negation;
      node->children.push_back(std::move(*inner));
      return NodePtr(std::move(node));
    }
    if (pos_ < text_.size() && text_[pos_] == '(') {
      std::size_t open = pos_++;
      auto inner = parse_or(depth + 1);
      if (!inner) return inner;
      skip_spaces();
      if (pos_ >= text_.size() || text_[pos_] != ')') {
        return error_at(open, "this '(' is not closed");
      }
      ++pos_;
      return inner;
    }
    if (next_is("AND") || next_is("OR")) return error("expected a term before this operator");
    return parse_term();
  }

  Result<NodePtr> parse_term() {
    if (pos_ == text_.size()) return error("expected a term, found the end");
    if (++terms_ > kMaxQueryTerms) {
      return error("more than " + std::to_string(kMaxQueryTerms) + " terms");
    }
    auto node = std::make_unique<Node>();
    const std::size_t field_start = pos_;
    while (pos_ < text_.size() && is_field_char(text_[pos_])) ++pos_;
    std::string_view field = text_.substr(field_start, pos_ - field_start);
    if (field.empty()) {
      return error(std::string("expected a field name, found '") + text_[pos_] + "'");
    }
    constexpr std::string_view kAttributes = "attributes.";
    if (field == "thingName") {
      node->field = QueryField::thing_name;
    } else if (field == "thingTypeName") {
      node->field = QueryField::thing_type;
    } else if (field == "firmwareVersion") {
      node->field = QueryField::firmware_version;
    } else if (field.substr(0, kAttributes.size()) == kAttributes &&
               check_attribute_name(field.substr(kAttributes.size()))) {
      node->field = QueryField::attribute;
      node->attribute = std::string(field.substr(kAttributes.size()));
    } else {
      return error_at(field_start, "unknown field '" + std::string(field) +
                                       "' (fields: thingName, thingTypeName, firmwareVersion, "
                                       "attributes.<name>)");
    }
    if (auto op = parse_operator(*node); !op) return tl::unexpected(op.error());
    if (auto value = parse_value(*node); !value) return tl::unexpected(value.error());
    return NodePtr(std::move(node));
  }

  Status parse_operator(Node& node) {
    std::string_view rest = text_.substr(pos_);
    if (rest.substr(0, 2) == "<=") {
      node.op = QueryOp::less_equal;
    } else if (rest.substr(0, 2) == ">=") {
      node.op = QueryOp::greater_equal;
    } else if (rest.substr(0, 1) == "<") {
      node.op = QueryOp::less;
    } else if (rest.substr(0, 1) == ">") {
      node.op = QueryOp::greater;
    } else if (rest.substr(0, 1) == ":") {
      node.op = QueryOp::match;
    } else {
      return error("expected ':', '<', '<=', '>' or '>=' after the field name");
    }
    pos_ += (node.op == QueryOp::less_equal || node.op == QueryOp::greater_equal) ? 2 : 1;
    return {};
  }

  Status parse_value(Node& node) {
    if (pos_ < text_.size() && text_[pos_] == '"') {
      const std::size_t open = pos_++;
      for (;;) {
        if (pos_ >= text_.size()) return error_at(open, "this '\"' is not closed");
        char c = text_[pos_++];
        if (c == '"') break;
        if (c == '\\') {
          if (pos_ >= text_.size() || (text_[pos_] != '"' && text_[pos_] != '\\')) {
            return error_at(pos_ - 1, "in a quoted value, '\\' may only escape '\"' or '\\'");
          }
          c = text_[pos_++];
        }
        node.value.push_back(c);
      }
      if (node.op == QueryOp::match) node.op = QueryOp::exact;
      return {};
    }
    const std::size_t start = pos_;
    while (pos_ < text_.size() && !ends_value(text_[pos_])) ++pos_;
    if (pos_ == start) return error("expected a value after the operator");
    node.value = std::string(text_.substr(start, pos_ - start));
    return {};
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  std::size_t terms_ = 0;
};

}  // namespace

Result<ThingQuery> ThingQuery::parse(std::string_view text) {
  if (text.size() > kMaxQueryLength) {
    return fail("query is " + std::to_string(text.size()) + " characters long; the limit is " +
                std::to_string(kMaxQueryLength));
  }
  auto root = Parser(text).parse();
  if (!root) return tl::unexpected(root.error());
  return ThingQuery(std::string(text), std::shared_ptr<const Node>(std::move(*root)));
}

}  // namespace ironroot::fleet
