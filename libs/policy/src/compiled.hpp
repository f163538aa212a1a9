// The checked form of a policy document that the authorizer evaluates: action patterns ready to
// match, and each resource split into literal text, wildcards and policy variables.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ironroot/policy/authorizer.hpp"
#include "ironroot/policy/policy_document.hpp"
#include "text.hpp"

namespace ironroot::policy::detail {

// The distinguished-name attributes AWS IoT exposes as ${iot:Certificate.Subject.<name>} and
// ${iot:Certificate.Issuer.<name>}.
struct NameAttribute {
  std::string_view aws_name;
  std::optional<std::string> DistinguishedName::*member;
};
inline constexpr std::array<NameAttribute, 13> kNameAttributes{{
    {"CommonName", &DistinguishedName::common_name},
    {"SerialNumber", &DistinguishedName::serial_number},
    {"Organization", &DistinguishedName::organization},
    {"OrganizationalUnit", &DistinguishedName::organizational_unit},
    {"Country", &DistinguishedName::country},
    {"State", &DistinguishedName::state},
    {"Title", &DistinguishedName::title},
    {"Surname", &DistinguishedName::surname},
    {"GivenName", &DistinguishedName::given_name},
    {"Initials", &DistinguishedName::initials},
    {"Pseudonym", &DistinguishedName::pseudonym},
    {"GenerationQualifier", &DistinguishedName::generation_qualifier},
    {"DistinguishedNameQualifier", &DistinguishedName::distinguished_name_qualifier},
}};

// Which value a ${...} stands for.
struct Variable {
  enum class Kind {
    client_id,
    certificate_id,
    thing_name,
    thing_type_name,
    thing_attribute,    // name: the attribute name
    thing_is_attached,  // "true" or "false"
    subject_attribute,  // field: index into kNameAttributes
    issuer_attribute,   // field: index into kNameAttributes
  };
  Kind kind = Kind::client_id;
  std::string name;
  std::size_t field = 0;
};

// A piece of a resource pattern. Literal text is never a wildcard, whatever it contains (that is
// how ${*} and ${?} are kept literal).
struct ResourceToken {
  enum class Kind { literal, star, question, variable };
  Kind kind = Kind::literal;
  std::string text;   // literal
  Variable variable;  // variable
};

struct CompiledResource {
  bool any = false;  // the Resource "*": every action's resource
  // Otherwise the part after arn:<partition>:iot:<region>:<account>:, matched against
  // "<type>/<resource>".
  std::vector<ResourceToken> tokens;
};

struct CompiledStatement {
  std::vector<Glob> actions;  // lower-cased "service:name" patterns
  std::vector<CompiledResource> resources;
};

struct DocumentAccess {
  // A default-constructed document has no statements and allows nothing.
  static const std::vector<CompiledStatement>& compiled(const PolicyDocument& document) {
    static const std::vector<CompiledStatement> kNone;
    return document.compiled_ ? *document.compiled_ : kNone;
  }
};

}  // namespace ironroot::policy::detail
