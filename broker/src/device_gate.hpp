// The device listener's side of the plugin: every connection, subscription, publish and delivery
// of a device goes through fleet::DeviceAuthorizer with the client's TLS certificate.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "ironroot/core/result.hpp"
#include "ironroot/fleet/authorization.hpp"
#include "ironroot/fleet/registry.hpp"
#include "reserved_topics.hpp"

struct mosquitto;
struct mosquitto_evt_message;

namespace ironroot::broker {

struct Peer;  // a connection's certificate and identity (device_gate.cpp)

// One device listener's gate. Mosquitto calls it on its single network thread only; so do the
// fleet listener's callbacks that reach it (FleetRelay), which is why it needs no lock.
class DeviceGate {
 public:
  // Opens the registry the fleet service keeps (it must exist: the plugin never creates one).
  // `api_prefix` is the reserved API's topic prefix (validate_api_prefix), "$aws" as on AWS IoT.
  static Result<std::unique_ptr<DeviceGate>> open(const std::filesystem::path& registry_path,
                                                  std::string api_prefix);
  ~DeviceGate();
  DeviceGate(const DeviceGate&) = delete;
  DeviceGate& operator=(const DeviceGate&) = delete;

  // MOSQ_EVT_BASIC_AUTH (called when the listener does not set use_identity_as_username): checks
  // iot:Connect for the certificate and client id. MOSQ_ERR_SUCCESS or MOSQ_ERR_AUTH (CONNACK
  // "not authorized"). The username is ignored.
  int on_basic_auth(mosquitto* client);
  // MOSQ_EVT_ACL_CHECK. A connection not admitted yet (use_identity_as_username: no connect hook)
  // is checked for iot:Connect first, and kicked when refused. Besides the policies: nothing
  // under `$ironroot`; no delivery of a reserved API request (is_api_request) to a device; no
  // publish of one by a client whose id cannot be named in `$ironroot/from/` (from_topic).
  int on_acl_check(mosquitto* client, const char* topic, int access, bool retain);
  // MOSQ_EVT_MESSAGE (after the publish was allowed): a reserved API request is rewritten to
  // `$ironroot/from/<client id>/<certificate id>/<topic>`, never retained, so that only the fleet
  // service receives it. Other messages pass unchanged. MOSQ_ERR_ACL_DENIED when the request
  // cannot be rewritten (the publish is then refused).
  int on_message(mosquitto_evt_message& message);
  // MOSQ_EVT_DISCONNECT.
  void on_disconnect(mosquitto* client);

  // Re-checks iot:Connect for every admitted connection and disconnects those refused now
  // (a certificate no longer ACTIVE, a policy or thing that lost its permission).
  void revalidate();
  // Delivers a relayed message to `target.client_id` when it is connected through this gate and
  // may receive on `target.topic`. Returns false when the client is not connected here.
  bool deliver(const RelayTarget& target, const void* payload, std::uint32_t payload_length,
               int qos);

 private:
  struct Connection {
    std::string client_id;
    std::string certificate_id;
  };

  DeviceGate(fleet::Registry registry, std::string api_prefix);
  // Checks iot:Connect; on success records the connection. Logs a refusal, and tells the fleet
  // service about certificates eligible for just-in-time registration.
  bool admit(mosquitto* client, const Peer& peer);
  bool is_admitted(const mosquitto* client, const fleet::ClientIdentity& identity) const;
  // Disconnects `client`. Mosquitto 2.0.11 re-checks a persistent session's subscriptions while
  // it kicks (MOSQ_ACL_SUBSCRIBE, which removes those refused): those checks are refused here
  // without another kick.
  void kick(const mosquitto* client, const std::string& client_id);

  fleet::Registry registry_;
  fleet::DeviceAuthorizer authorizer_;
  std::string api_prefix_;
  std::map<const mosquitto*, Connection> connections_;
  std::set<const mosquitto*> kicking_;
};

// The device gates loaded in this broker process, one per device listener. Mosquitto loads the
// plugin once per listener and offers no other way for the fleet listener's instance to reach
// the device listeners' clients: this list is the plugin's only process-wide state.
std::vector<DeviceGate*>& device_gates();

// "thing-1" with any control character replaced by '?', cut at 256 bytes: client ids and
// topics come from devices and go into the broker's log.
std::string printable(std::string_view text);

}  // namespace ironroot::broker
