// AWS IoT's provisioning template format (developer guide: "Provisioning templates"), as fleet
// provisioning (RegisterThing) and just-in-time provisioning apply it:
//
//   {"Parameters":   {"<name>": {"Type": "String", "Default": "<value>"}, ...},
//    "Mappings":     {"<map>": {"<key>": {"<key>": "<value>" | ["<value>", ...]}}},
//    "Resources":    {"<logical name>": {"Type": "AWS::IoT::Thing" | "AWS::IoT::Certificate" |
//                                                "AWS::IoT::Policy",
//                                        "Properties": {...}, "OverrideSettings": {...}}},
//    "DeviceConfiguration": {"<key>": <string expression>, ...}}
//
// Resources: exactly one AWS::IoT::Thing (ThingName required; AttributePayload, a flat object of
// string values; ThingTypeName; ThingGroups, static groups that must exist; BillingGroup is
// evaluated and ignored: ironroot has no billing groups), exactly one AWS::IoT::Certificate
// (CertificateId, {"Ref": "AWS::IoT::Certificate::Id"} in practice; Status ACTIVE or INACTIVE in
// any case, default ACTIVE) and any number of AWS::IoT::Policy (PolicyName of an existing policy,
// or PolicyDocument as an object or as JSON text: the policy is created under the hex SHA-256 of
// its compact JSON unless it exists, as AWS names it "a hash of the policy document"; not both).
// A certificate given by CertificateSigningRequest or CertificatePem is refused: AWS allows only
// certificate ids in fleet provisioning templates.
//
// OverrideSettings (for a thing that already exists): AttributePayload, ThingTypeName and
// ThingGroups of the thing, Status of the certificate; DO_NOTHING (the default), REPLACE, FAIL
// (refused when the existing value differs) or MERGE (attributes and groups only).
//
// Expressions (anywhere but Mappings): a literal, or an object with one intrinsic function:
//   {"Ref": "<parameter>"}                       a parameter's value
//   {"Fn::Join": ["<delimiter>", [<values>]]}    the values joined
//   {"Fn::Split": ["<delimiter>", <string>]}     a list of strings
//   {"Fn::Select": [<index>, <list>]}            one element (index from 0; out of range: error)
//   {"Fn::FindInMap": [<map>, <key>, <key>]}     a value from Mappings
//   {"Fn::Sub": "<text with ${name}>"} or {"Fn::Sub": ["<text>", {"name": <value>}]}
//                                                ${name} replaced; ${!text} gives "${text}"
// Pseudo-parameters the service supplies (they need not be declared):
// AWS::IoT::Certificate::Id, and for just-in-time provisioning also ...::CommonName,
// SerialNumber, Country, Organization, OrganizationalUnit, DistinguishedNameQualifier, StateName
// from the certificate's subject.
#pragma once

#include <cstddef>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "ironroot/core/result.hpp"
#include "ironroot/fleet/registry.hpp"

namespace ironroot::fleet {

// Parameter name -> value.
using TemplateParameters = std::map<std::string, std::string>;

inline constexpr std::string_view kPseudoParameterPrefix = "AWS::";
inline constexpr std::string_view kCertificateIdParameter = "AWS::IoT::Certificate::Id";

// Evaluation refuses to produce more than this many characters in all (so a small template and
// large parameters cannot multiply into unbounded memory), and any single string longer than
// kMaxTemplateStringLength.
inline constexpr std::size_t kMaxTemplateOutput = 1024 * 1024;
inline constexpr std::size_t kMaxTemplateStringLength = 64 * 1024;

// What a template gives for one set of parameters.
struct TemplateOutcome {
  // certificate_id, certificate_status, status_override, thing and policies are set; token and
  // registration are the caller's.
  ProvisioningPlan plan;
  std::map<std::string, std::string> device_configuration;
};

// A parsed template. Immutable, copyable.
class ProvisioningTemplateBody {
 public:
  // Parses and checks the structure: sections, resource types and properties, override values,
  // parameter declarations, mappings. Expressions are checked when applied. The error says
  // what is wrong where ("Resources.thing.OverrideSettings.ThingTypeName: MERGE is valid only
  // for AttributePayload and ThingGroups").
  static Result<ProvisioningTemplateBody> parse(std::string_view json_text);

  // Declared parameters and their defaults.
  const std::map<std::string, std::optional<std::string>>& parameters() const {
    return parameters_;
  }

  // Evaluates the template. Each declared parameter takes its value from `parameters`, else its
  // Default; one with neither is an error, as is a Ref to an undeclared name (pseudo-parameters
  // excepted). Parameters the template does not declare are ignored. The error names the
  // parameter or the expression.
  Result<TemplateOutcome> apply(const TemplateParameters& parameters) const;

 private:
  ProvisioningTemplateBody() = default;

  nlohmann::json body_;
  std::map<std::string, std::optional<std::string>> parameters_;
  std::string thing_resource_;
  std::string certificate_resource_;
  std::vector<std::string> policy_resources_;
};

}  // namespace ironroot::fleet
