// The device-facing MQTT API of the fleet service (AWS IoT's reserved topics), now fleet
// provisioning and just-in-time registration. The broker plugin hands every device request to the
// fleet connection as
// `$ironroot/from/<clientId>/<certificateId>/<topic>` (docs/broker-plugin.md), so the service knows
// who asks; replies go back through `$ironroot/to/<clientId>/<reply topic>`, which the plugin
// delivers to that client alone, subscribed or not, as AWS IoT does.
//
// Requests are handled one at a time on a worker thread of their own, not on the MQTT network
// thread: a pre-provisioning hook may take up to its timeout.
#pragma once

#include <string>

#include "ironroot/crypto/certificate_authority.hpp"
#include "ironroot/fleet/provisioning.hpp"
#include "ironroot/fleet/registry.hpp"
#include "ironroot/mqtt/client.hpp"
#include "ironroot/protocol/topics.hpp"
#include "message_worker.hpp"

namespace ironroot::service {

inline constexpr std::string_view kFromPrefix = "$ironroot/from/";
inline constexpr std::string_view kToPrefix = "$ironroot/to/";
inline constexpr std::string_view kRegistryChangedTopic = "$ironroot/registry/changed";
// The broker plugin's notice that a certificate eligible for just-in-time registration tried to
// connect: `<prefix><ca id>`, JSON with `certificatePem` (docs/broker-plugin.md).
inline constexpr std::string_view kJustInTimeNoticePrefix =
    "$ironroot/events/certificates/registered/";

// A device request as the plugin delivers it.
struct DeviceRequest {
  std::string client_id;
  std::string certificate_id;
  std::string topic;  // the topic the device published on
};

// Takes `$ironroot/from/<clientId>/<certificateId>/<topic>` apart; nullopt for anything else.
std::optional<DeviceRequest> parse_device_request_topic(std::string_view topic);

class DeviceApi {
 public:
  // `registry` is this API's own connection (the REST API has another); it, `ca` and `fleet` must
  // outlive the DeviceApi.
  DeviceApi(fleet::Registry& registry, crypto::CertificateAuthority& ca, mqtt::Client& fleet,
            protocol::TopicPrefix prefix, fleet::ProvisioningOptions options = {});
  // Destruction finishes the request in hand and drops the rest.
  DeviceApi(const DeviceApi&) = delete;
  DeviceApi& operator=(const DeviceApi&) = delete;

  // The filters the fleet connection subscribes to.
  std::vector<std::string> subscriptions() const;
  // Queues a message from the fleet connection (called on its network thread).
  void enqueue(const mqtt::Message& message) { worker_.enqueue(message); }

 private:
  void handle(const mqtt::Message& message);
  // A plugin notice: registers (and, with the CA's template, provisions) the certificate, then
  // publishes AWS IoT's <prefix>/events/certificates/registered/<caCertificateId>.
  void register_just_in_time(const mqtt::Message& notice);
  void reply(const DeviceRequest& to, const std::string& topic, const Bytes& payload);

  fleet::ProvisioningService provisioning_;
  mqtt::Client& fleet_;
  protocol::TopicPrefix prefix_;
  MessageWorker worker_;  // last: it stops before the rest goes
};

}  // namespace ironroot::service
