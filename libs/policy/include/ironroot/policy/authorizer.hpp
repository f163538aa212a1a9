// The authorization decision for one MQTT request, as AWS IoT Core makes it from the policies
// attached to the client's certificate. Pure logic over the request, the connection's identity
// and the policies: the Mosquitto plugin, and HTTP authorization hooks of other brokers, ask the
// same question and get the same answer.
//
// Semantics (AWS IoT Core, which follows IAM's evaluation logic):
// - default deny: a request is allowed only when some statement allows it;
// - an explicit Deny overrides any Allow, whichever policy either comes from;
// - a statement applies when one of its actions matches the request's action and one of its
//   resources matches "<type>/<resource>" (client/<id>, topic/<name>, topicfilter/<filter>);
// - policy variables are replaced by the connection's values before matching, and a value is
//   always literal text: a '*' or '?' in a client ID or attribute never acts as a wildcard;
// - a resource with a variable that has no value (a thing variable when no thing is attached, a
//   certificate attribute the certificate lacks, an attribute the thing does not have) matches
//   nothing, in an Allow statement and in a Deny statement alike (IAM: "If AWS cannot resolve a
//   variable this might cause the entire statement to be invalid"; AWS IoT: "this variable won't
//   be resolved and will result in an access denied error").
//
// What the broker must still do around this call (as AWS IoT Core does):
// - a PUBLISH with RETAIN needs both publish and retain_publish on its topic;
// - check subscribe at SUBSCRIBE time and receive on each delivery;
// - pin client IDs with the connect action: ${iot:ClientId} in a topicfilter resource lets a
//   client that connects as "+" subscribe to "my/+/topic" (AWS documents the same caveat).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "ironroot/policy/policy_document.hpp"

namespace ironroot::policy {

// The MQTT actions a broker asks about, and the resource each one names.
enum class Action {
  connect,         // iot:Connect on client/<client id>
  publish,         // iot:Publish on topic/<topic name>
  subscribe,       // iot:Subscribe on topicfilter/<topic filter>
  receive,         // iot:Receive on topic/<topic name>
  retain_publish,  // iot:RetainPublish on topic/<topic name>
};

// "iot:Connect", "iot:Publish", ...
std::string_view action_name(Action action);

// One question to the authorizer.
struct Request {
  Action action = Action::connect;
  // The client ID (connect), topic name (publish, receive, retain_publish) or topic filter
  // (subscribe). Checked here: an invalid one is denied (see mqtt_topic.hpp).
  std::string resource;
};

// A distinguished name's attributes as AWS IoT exposes them to policies. When an attribute occurs
// more than once, AWS uses the first value; so should whoever fills this in.
struct DistinguishedName {
  std::optional<std::string> common_name;                   // CommonName (CN)
  std::optional<std::string> serial_number;                 // SerialNumber (the attribute)
  std::optional<std::string> organization;                  // Organization (O)
  std::optional<std::string> organizational_unit;           // OrganizationalUnit (OU)
  std::optional<std::string> country;                       // Country (C)
  std::optional<std::string> state;                         // State (ST)
  std::optional<std::string> title;                         // Title
  std::optional<std::string> surname;                       // Surname (SN)
  std::optional<std::string> given_name;                    // GivenName (GN)
  std::optional<std::string> initials;                      // Initials
  std::optional<std::string> pseudonym;                     // Pseudonym
  std::optional<std::string> generation_qualifier;          // GenerationQualifier
  std::optional<std::string> distinguished_name_qualifier;  // DistinguishedNameQualifier
};

// Who is asking: the values of the policy variables for one connection.
struct ConnectionContext {
  std::string client_id;  // ${iot:ClientId}
  // ${iot:Connection.Thing.ThingName}: the thing the client's certificate is attached to, whose
  // name (as AWS requires) is the client ID. Unset: no thing, so every thing variable is
  // unresolved except IsAttached, which is "false".
  std::optional<std::string> thing_name;
  std::optional<std::string> thing_type_name;  // ${iot:Connection.Thing.ThingTypeName}
  // ${iot:Connection.Thing.Attributes[<name>]}
  std::map<std::string, std::string, std::less<>> thing_attributes;
  std::optional<std::string> certificate_id;  // ${iot:CertificateId}
  DistinguishedName certificate_subject;      // ${iot:Certificate.Subject.<attribute>}
  DistinguishedName certificate_issuer;       // ${iot:Certificate.Issuer.<attribute>}
};

// A policy as attached to a certificate: its name (for reasons and audit) and its document.
struct NamedPolicy {
  std::string name;
  PolicyDocument document;
};

struct Decision {
  bool allowed = false;
  // Which statement decided, or why none did, for logs and audit:
  //   "policy 'device' Statement[0] allows iot:Publish on topic/dt/t1/x"
  //   "explicitly denied by policy 'quarantine' Statement[1] (Sid \"NoOta\"): iot:Subscribe on ..."
  //   "no policy allows iot:Publish on topic/x"
  //   "refused iot:Publish: invalid topic name: ..."
  std::string reason;
};

// Decides `request` for the connection `context` under `policies` (all attached to the
// client's certificate, in any order: `allowed` does not depend on it; the reason names the
// first deciding statement in that order). Never throws.
Decision evaluate(std::span<const NamedPolicy> policies, const ConnectionContext& context,
                  const Request& request);

}  // namespace ironroot::policy
