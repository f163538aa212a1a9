#include "device_gate.hpp"

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <system_error>

#include "ironroot/crypto/x509.hpp"

namespace ironroot::broker {

// The connection's TLS client certificate and its identity (the certificate's id and the MQTT
// client id).
struct Peer {
  crypto::Certificate certificate;
  fleet::ClientIdentity identity;
};

namespace {

constexpr std::size_t kMaxLoggedBytes = 256;

Result<Peer> peer_of(mosquitto* client) {
  // A new reference to the peer certificate (SSL_get_peer_certificate), owned by `certificate`.
  void* peer = mosquitto_client_certificate(client);
  if (peer == nullptr) return fail("no TLS client certificate");
  auto certificate = crypto::Certificate::adopt(static_cast<x509_st*>(peer));
  if (!certificate) return prefixed(certificate.error(), "client certificate");
  const char* client_id = mosquitto_client_id(client);
  if (client_id == nullptr || *client_id == '\0') return fail("no client id");
  fleet::ClientIdentity identity{fleet::certificate_id_of(*certificate), client_id};
  return Peer{std::move(*certificate), std::move(identity)};
}

std::string who(const fleet::ClientIdentity& identity) {
  return "client '" + printable(identity.client_id) + "' (certificate " +
         identity.certificate_id.substr(0, 12) + "...)";
}

void log_refusal(const std::string& text) {
  mosquitto_log_printf(MOSQ_LOG_NOTICE, "ironroot: %s", text.c_str());
}

// Tells the fleet service that a certificate eligible for just-in-time registration (unknown,
// or PENDING_ACTIVATION, and issued by a registered ACTIVE CA with auto-registration) tried to
// connect: AWS IoT's registration event keys, and the certificate itself, which the service
// registers (and provisions, when the CA has a template) as AWS IoT does.
void publish_just_in_time_event(const Peer& peer, const std::string& ca_id) {
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::now().time_since_epoch());
  nlohmann::json event = {{"certificateId", peer.identity.certificate_id},
                          {"caCertificateId", ca_id},
                          {"timestamp", now.count()},
                          {"certificateStatus", "PENDING_ACTIVATION"},
                          {"clientId", peer.identity.client_id},
                          {"certificatePem", peer.certificate.pem()}};
  const std::string payload = event.dump();
  const std::string topic = std::string(kJustInTimeEventPrefix) + ca_id;
  int rc = mosquitto_broker_publish_copy(nullptr, topic.c_str(), static_cast<int>(payload.size()),
                                         payload.data(), 1, false, nullptr);
  if (rc != MOSQ_ERR_SUCCESS) {
    mosquitto_log_printf(MOSQ_LOG_WARNING, "ironroot: cannot publish %s: %s", topic.c_str(),
                         mosquitto_strerror(rc));
  }
}

}  // namespace

std::vector<DeviceGate*>& device_gates() {
  static std::vector<DeviceGate*> gates;
  return gates;
}

std::string printable(std::string_view text) {
  std::string out(text.substr(0, kMaxLoggedBytes));
  for (char& c : out) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) c = '?';
  }
  if (text.size() > kMaxLoggedBytes) out += "...";
  return out;
}

Result<std::unique_ptr<DeviceGate>> DeviceGate::open(const std::filesystem::path& registry_path,
                                                     std::string api_prefix) {
  if (auto valid = validate_api_prefix(api_prefix); !valid) return fail(valid.error().message);
  std::error_code error;
  const auto status = std::filesystem::status(registry_path, error);
  if (status.type() == std::filesystem::file_type::not_found) {
    return fail("registry " + registry_path.string() +
                " does not exist (the fleet service creates it; plugin_opt_registry must name "
                "the fleet service's registry database)");
  }
  if (error) {
    return fail("registry " + registry_path.string() + " cannot be reached by the broker's user (" +
                error.message() + ")");
  }
  auto registry = fleet::Registry::open(registry_path);
  if (!registry) return fail(registry.error().message);
  std::unique_ptr<DeviceGate> gate(new DeviceGate(std::move(*registry), std::move(api_prefix)));
  device_gates().push_back(gate.get());
  return gate;
}

DeviceGate::DeviceGate(fleet::Registry registry, std::string api_prefix)
    : registry_(std::move(registry)), authorizer_(registry_), api_prefix_(std::move(api_prefix)) {}

DeviceGate::~DeviceGate() {
  auto& gates = device_gates();
  gates.erase(std::remove(gates.begin(), gates.end(), this), gates.end());
}

bool DeviceGate::is_admitted(const mosquitto* client, const fleet::ClientIdentity& identity) const {
  auto found = connections_.find(client);
  return found != connections_.end() && found->second.client_id == identity.client_id &&
         found->second.certificate_id == identity.certificate_id;
}

bool DeviceGate::admit(mosquitto* client, const Peer& peer) {
  const fleet::ClientIdentity& identity = peer.identity;
  connections_.erase(client);
  auto decision = authorizer_.authorize(identity, {policy::Action::connect, identity.client_id});
  if (!decision) {
    log_refusal(who(identity) +
                " refused iot:Connect: the registry cannot be read: " + decision.error().message);
    return false;
  }
  if (!decision->allowed) {
    std::optional<std::string> ca_id = decision->just_in_time_ca_id;
    if (!ca_id) {
      auto issuer = authorizer_.just_in_time_issuer(peer.certificate);
      if (issuer && *issuer) {
        ca_id = *issuer;
        decision->reason +=
            " (eligible for just-in-time registration by CA " + ca_id->substr(0, 12) + "...)";
      }
    }
    log_refusal(who(identity) + " " + decision->reason);
    if (ca_id) publish_just_in_time_event(peer, *ca_id);
    return false;
  }
  // A connection that takes over this client id's session replaces the older one.
  std::erase_if(connections_,
                [&](const auto& entry) { return entry.second.client_id == identity.client_id; });
  connections_[client] = Connection{identity.client_id, identity.certificate_id};
  return true;
}

int DeviceGate::on_basic_auth(mosquitto* client) {
  auto peer = peer_of(client);
  if (!peer) {
    log_refusal(
        "connection from " +
        printable(mosquitto_client_address(client) ? mosquitto_client_address(client) : "?") +
        " refused: " + peer.error().message);
    return MOSQ_ERR_AUTH;
  }
  return admit(client, *peer) ? MOSQ_ERR_SUCCESS : MOSQ_ERR_AUTH;
}

void DeviceGate::kick(const mosquitto* client, const std::string& client_id) {
  kicking_.insert(client);
  mosquitto_kick_client_by_clientid(client_id.c_str(), false);
  kicking_.erase(client);
}

int DeviceGate::on_acl_check(mosquitto* client, const char* topic, int access, bool retain) {
  if (kicking_.contains(client)) return MOSQ_ERR_ACL_DENIED;
  auto peer = peer_of(client);
  if (!peer) {
    log_refusal("refused a request: " + peer.error().message);
    return MOSQ_ERR_ACL_DENIED;
  }
  const fleet::ClientIdentity* identity = &peer->identity;
  if (!is_admitted(client, *identity)) {
    // No connect hook ran (use_identity_as_username): this is the connection's first request.
    if (!admit(client, *peer)) {
      kick(client, identity->client_id);
      return MOSQ_ERR_ACL_DENIED;
    }
  }
  if (access == MOSQ_ACL_UNSUBSCRIBE) return MOSQ_ERR_SUCCESS;

  std::string_view name = topic != nullptr ? topic : "";
  policy::Request request;
  switch (access) {
    case MOSQ_ACL_SUBSCRIBE:
      request.action = policy::Action::subscribe;
      name = without_share_prefix(name);
      break;
    case MOSQ_ACL_WRITE:
      request.action = policy::Action::publish;
      break;
    case MOSQ_ACL_READ:
      request.action = policy::Action::receive;
      break;
    default:
      log_refusal(who(*identity) + " refused an unknown access " + std::to_string(access));
      return MOSQ_ERR_ACL_DENIED;
  }
  request.resource = std::string(name);
  if (is_reserved(name)) {
    log_refusal(who(*identity) + " refused " + std::string(policy::action_name(request.action)) +
                " on " + printable(name) + ": " + std::string(kReservedRoot) +
                " is reserved for the fleet service");
    return MOSQ_ERR_ACL_DENIED;
  }
  const bool api_request = is_api_request(name, api_prefix_);
  if (api_request && access == MOSQ_ACL_READ) {
    // A will, the only way such a message is not rewritten by on_message.
    log_refusal(who(*identity) + " refused iot:Receive on " + printable(name) +
                ": requests to the reserved API reach only the fleet service");
    return MOSQ_ERR_ACL_DENIED;
  }
  if (api_request && access == MOSQ_ACL_WRITE) {
    if (auto rewritten = from_topic(identity->client_id, identity->certificate_id, name);
        !rewritten) {
      log_refusal(who(*identity) + " refused iot:Publish on " + printable(name) +
                  ": the fleet service could not be told who sent it: " +
                  printable(rewritten.error().message));
      return MOSQ_ERR_ACL_DENIED;
    }
  }

  auto decision = authorizer_.authorize(*identity, request);
  if (decision && decision->allowed && access == MOSQ_ACL_WRITE && retain) {
    decision = authorizer_.authorize(*identity, {policy::Action::retain_publish, request.resource});
  }
  if (!decision) {
    log_refusal(who(*identity) + " refused " + std::string(policy::action_name(request.action)) +
                " on " + printable(name) +
                ": the registry cannot be read: " + decision.error().message);
    return MOSQ_ERR_ACL_DENIED;
  }
  if (!decision->allowed) {
    log_refusal(who(*identity) + " " + printable(decision->reason));
    return MOSQ_ERR_ACL_DENIED;
  }
  return MOSQ_ERR_SUCCESS;
}

int DeviceGate::on_message(mosquitto_evt_message& message) {
  const std::string_view topic = message.topic != nullptr ? message.topic : "";
  if (!is_api_request(topic, api_prefix_)) return MOSQ_ERR_SUCCESS;
  // on_acl_check admitted the connection before allowing the publish; its identity is recorded.
  auto found = connections_.find(message.client);
  if (found == connections_.end()) {
    log_refusal("refused a request on " + printable(topic) + ": its connection was not admitted");
    return MOSQ_ERR_ACL_DENIED;
  }
  auto rewritten = from_topic(found->second.client_id, found->second.certificate_id, topic);
  if (!rewritten) {
    log_refusal("refused a request on " + printable(topic) + ": " +
                printable(rewritten.error().message));
    return MOSQ_ERR_ACL_DENIED;
  }
  char* copy = mosquitto_strdup(rewritten->c_str());
  if (copy == nullptr) return MOSQ_ERR_NOMEM;
  // Mosquitto 2.0.11 (plugin__handle_message) adopts a changed topic and frees nothing itself.
  mosquitto_free(message.topic);
  message.topic = copy;
  message.retain = false;
  return MOSQ_ERR_SUCCESS;
}

void DeviceGate::on_disconnect(mosquitto* client) {
  connections_.erase(client);
}

void DeviceGate::revalidate() {
  // Kicking ends connections (and may call on_disconnect): decide first, then kick.
  std::vector<std::pair<const mosquitto*, std::string>> refused;
  for (auto it = connections_.begin(); it != connections_.end();) {
    const fleet::ClientIdentity identity{it->second.certificate_id, it->second.client_id};
    auto decision = authorizer_.authorize(identity, {policy::Action::connect, identity.client_id});
    if (!decision) {
      mosquitto_log_printf(MOSQ_LOG_WARNING,
                           "ironroot: cannot re-check %s: the registry cannot be read: %s",
                           who(identity).c_str(), decision.error().message.c_str());
      ++it;
    } else if (!decision->allowed) {
      log_refusal("disconnecting " + who(identity) + ": " + printable(decision->reason));
      refused.emplace_back(it->first, identity.client_id);
      it = connections_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& [client, client_id] : refused) kick(client, client_id);
}

bool DeviceGate::deliver(const RelayTarget& target, const void* payload,
                         std::uint32_t payload_length, int qos) {
  auto found = std::find_if(connections_.begin(), connections_.end(), [&](const auto& entry) {
    return entry.second.client_id == target.client_id;
  });
  if (found == connections_.end()) return false;
  const fleet::ClientIdentity identity{found->second.certificate_id, found->second.client_id};
  auto decision = authorizer_.authorize(identity, {policy::Action::receive, target.topic});
  if (!decision || !decision->allowed) {
    log_refusal("reply for " + who(identity) + " dropped: " +
                (decision ? printable(decision->reason)
                          : "the registry cannot be read: " + decision.error().message));
    return true;
  }
  int rc =
      mosquitto_broker_publish_copy(target.client_id.c_str(), target.topic.c_str(),
                                    static_cast<int>(payload_length), payload, qos, false, nullptr);
  if (rc != MOSQ_ERR_SUCCESS) {
    mosquitto_log_printf(MOSQ_LOG_WARNING, "ironroot: cannot deliver a reply to %s: %s",
                         who(identity).c_str(), mosquitto_strerror(rc));
  }
  return true;
}

}  // namespace ironroot::broker
