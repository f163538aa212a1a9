// The MQTT topics of AWS IoT's fleet provisioning API and of just-in-time registration events,
// under a configurable prefix ("$aws" on AWS IoT):
//   <prefix>/certificates/create/<format>[/accepted|/rejected] CreateKeysAndCertificate
//   <prefix>/certificates/create-from-csr/<format>[/accepted|/rejected] CreateCertificateFromCsr
//   <prefix>/provisioning-templates/<template>/provision/<format>[/accepted|/rejected]
//   RegisterThing <prefix>/events/certificates/registered/<caCertificateId>                  JITR
//   event
// where <format> is "json" or "cbor" and names the payload encoding of the request and its reply.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ironroot/core/result.hpp"
#include "ironroot/protocol/payload_format.hpp"

namespace ironroot::protocol {

// The first topic levels of every reserved topic. Invariant: not empty, at most 256 bytes, no
// '+', '#', NUL or other control character, and no '/' at the end.
class TopicPrefix {
 public:
  // "$aws", as on AWS IoT.
  TopicPrefix() = default;
  // Fails, saying why, when `prefix` breaks the invariant.
  static Result<TopicPrefix> create(std::string_view prefix);

  const std::string& str() const { return value_; }
  bool operator==(const TopicPrefix&) const = default;

 private:
  explicit TopicPrefix(std::string value) : value_(std::move(value)) {}
  std::string value_ = "$aws";
};

enum class ProvisioningApi {
  create_keys_and_certificate,
  create_certificate_from_csr,
  register_thing
};

// A request topic has no reply suffix; its replies end in /accepted or /rejected.
enum class Reply { none, accepted, rejected };

// One provisioning topic, taken apart.
struct ProvisioningTopic {
  ProvisioningApi kind = ProvisioningApi::create_keys_and_certificate;
  std::string template_name;  // register_thing: a valid template name; empty for the others
  PayloadFormat format = PayloadFormat::json;
  Reply reply = Reply::none;

  bool operator==(const ProvisioningTopic&) const = default;
};

// A provisioning template name as AWS IoT allows it: 1 to 36 characters of [0-9A-Za-z_-].
bool is_valid_template_name(std::string_view name);

// The topic string. Fails if `topic.template_name` is not a valid template name for
// register_thing, or is not empty for the other kinds.
Result<std::string> provisioning_topic(const TopicPrefix& prefix, const ProvisioningTopic& topic);

// Takes a topic apart; nullopt for any topic that is not exactly one of the provisioning topics
// under `prefix` (unknown format, invalid template name, extra or missing levels).
std::optional<ProvisioningTopic> parse_provisioning_topic(const TopicPrefix& prefix,
                                                          std::string_view topic);

// The topic of a reply to `request`: the same kind, template and format, with `reply`.
ProvisioningTopic reply_topic(const ProvisioningTopic& request, Reply reply);

// The subscription filters that match every provisioning request (and no reply) under `prefix`:
// <prefix>/certificates/create/+, <prefix>/certificates/create-from-csr/+ and
// <prefix>/provisioning-templates/+/provision/+.
std::vector<std::string> provisioning_request_filters(const TopicPrefix& prefix);

// <prefix>/events/certificates/registered/<caCertificateId>. Fails unless `ca_certificate_id` is
// a certificate id (64 lower-case hex digits).
Result<std::string> certificate_registered_topic(const TopicPrefix& prefix,
                                                 std::string_view ca_certificate_id);

}  // namespace ironroot::protocol
