// AWS IoT Core policy documents: the JSON that says which MQTT clients may connect, publish,
// subscribe and receive where. ironroot reads the same documents as AWS IoT Core, so a policy
// written for one works on the other (within the subset below).
//
//   {"Version": "2012-10-17",
//    "Statement": [{"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"],
//                   "Resource": "arn:aws:iot:*:*:topic/dt/${iot:Connection.Thing.ThingName}/*"}]}
//
// Supported: Version "2012-10-17" (the version with policy variables); "Id"; "Statement" as one
// object or an array; per statement "Sid", "Effect" ("Allow" | "Deny"), "Action" and "Resource"
// (a string or a non-empty array of strings). Refused with a "not supported" error: "Condition",
// "NotAction", "NotResource", "Principal", "NotPrincipal". Any other field is refused as unknown.
//
// Action: "*", or "<service>:<name>" with service iot or iotjobsdata; '*' and '?' are wildcards;
// compared without regard to case, as IAM does. Every entry must name, or match, at least one
// AWS IoT action, so a typo ("iot:Publsh") is an error instead of a silent no-op.
//
// Resource: "*", or arn:<partition>:iot:<region>:<account>:<type>/<name>. ironroot is one
// account in one region: partition, region and account may be anything (a wildcard or any
// literal) and are not compared. <type> is one of client, topic, topicfilter, thing, rolealias
// (unless a wildcard covers it). In <type>/<name>, '*' matches any run of characters, including
// '/', and '?' exactly one character; MQTT's '+' and '#' are ordinary characters (a topicfilter
// resource "a/+" matches only the filter "a/+"). Comparison is case-sensitive.
//
// Policy variables ${...} may appear in resources (see authorizer.hpp for their values):
//   ${iot:ClientId}  ${iot:CertificateId}
//   ${iot:Connection.Thing.ThingName}  ${iot:Connection.Thing.ThingTypeName}
//   ${iot:Connection.Thing.Attributes[<name>]}  ${iot:Connection.Thing.IsAttached}
//   ${iot:Certificate.Subject.<attribute>}  ${iot:Certificate.Issuer.<attribute>}
//     (<attribute>: CommonName, SerialNumber, Organization, OrganizationalUnit, Country, State,
//      Title, Surname, GivenName, Initials, Pseudonym, GenerationQualifier,
//      DistinguishedNameQualifier)
//   ${*} ${?} ${$}: a literal '*', '?' or '$'.
// Variable names are case-insensitive (attribute names inside [...] are not). An unknown
// variable, a default value ("${key, 'x'}") or an unterminated "${" is an error.
//
// Bounds (bounded memory for untrusted input): at most kMaxDocumentBytes of JSON text,
// kMaxStatements statements, kMaxEntriesPerField actions or resources per statement and
// kMaxEntryBytes per action, resource, Sid or Id. AWS IoT Core itself accepts at most 2048
// characters excluding whitespace; ironroot accepts more (20 KiB including whitespace, so indented
// documents fit), and documents meant to work on AWS IoT Core too should stay within AWS's limit.
#pragma once

#include <cstddef>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ironroot/core/result.hpp"

namespace ironroot::policy {

inline constexpr std::size_t kMaxDocumentBytes = 20 * 1024;
inline constexpr std::size_t kMaxStatements = 100;
inline constexpr std::size_t kMaxEntriesPerField = 100;
inline constexpr std::size_t kMaxEntryBytes = 2048;

enum class Effect { allow, deny };

// One statement as written in the document (actions and resources verbatim).
struct Statement {
  std::optional<std::string> sid;
  Effect effect = Effect::deny;
  std::vector<std::string> actions;
  std::vector<std::string> resources;

  friend bool operator==(const Statement&, const Statement&) = default;
};

namespace detail {
struct CompiledStatement;
struct DocumentAccess;
}  // namespace detail

// A parsed and checked policy document. Immutable; copies share the checked form, and it is
// safe to evaluate one document from several threads. A default-constructed document has no
// statements and allows nothing.
class PolicyDocument {
 public:
  // Parses JSON text. Fails when the text is over kMaxDocumentBytes, is not JSON, or breaks a
  // rule above; the message names the place ("Statement[1].Resource[0]: ...") and the rule.
  static Result<PolicyDocument> parse(std::string_view json_text);
  // The same checks on a document already parsed (e.g. from a larger request body). The size
  // bound applies to the sum of its strings.
  static Result<PolicyDocument> from_json(const nlohmann::json& document);

  const std::optional<std::string>& id() const { return id_; }
  const std::vector<Statement>& statements() const { return statements_; }

  // The document in canonical form: Version, Id when present, Statement as an array, Action and
  // Resource as arrays. from_json(to_json()) gives an equal document.
  nlohmann::json to_json() const;

  friend bool operator==(const PolicyDocument& a, const PolicyDocument& b) {
    return a.id_ == b.id_ && a.statements_ == b.statements_;
  }

 private:
  friend struct detail::DocumentAccess;
  std::optional<std::string> id_;
  std::vector<Statement> statements_;
  std::shared_ptr<const std::vector<detail::CompiledStatement>> compiled_;
};

// AWS IoT policy names: 1 to 128 characters from [A-Za-z0-9_+=,.@-]. Fails saying why.
Status validate_policy_name(std::string_view name);

}  // namespace ironroot::policy
