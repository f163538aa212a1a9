// A lightweight simulated device for fleet tests and benchmarks: it provisions itself by claim
// over real MQTT the way AWS's fleet_provisioning_with_csr demo does on the wire
// (CreateCertificateFromCsr, then RegisterThing, in CBOR or JSON), with its keys in memory and
// files instead of a token, so that hundreds can run in one process. Unlike the demo it does not
// subscribe to the /accepted and /rejected replies: AWS IoT delivers replies on reserved topics to
// the requesting client anyway, and devices built on AWS's Jobs and OTA libraries rely on that.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "ironroot/core/bytes.hpp"
#include "ironroot/core/result.hpp"
#include "ironroot/crypto/key.hpp"
#include "ironroot/crypto/x509.hpp"
#include "ironroot/mqtt/client.hpp"
#include "ironroot/protocol/payload_format.hpp"
#include "ironroot/protocol/provisioning.hpp"

namespace ironroot::testing {

// Where the broker is and how to trust it.
struct BrokerAccess {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::string server_name = "localhost";     // checked against the broker's certificate, and SNI
  std::vector<crypto::Certificate> trusted;  // the CA(s) the broker's certificate chains to
};

// A device identity in files: its certificate and the PEM file of its key.
struct FileIdentity {
  crypto::Certificate certificate;
  std::filesystem::path key_file;
};

// Writes `key` (PEM, mode 0600) to `path`.
Status write_key_file(const crypto::PrivateKey& key, const std::filesystem::path& path);

// The MQTT client options of a device connecting with `identity` (quick retries).
Result<mqtt::ClientOptions> device_client_options(const BrokerAccess& broker,
                                                  const FileIdentity& identity,
                                                  const std::string& client_id);

// A started MQTT client with `identity`, connected (or failed after `timeout`). Retries quickly.
Result<std::unique_ptr<mqtt::Client>> connect_device(
    const BrokerAccess& broker, const FileIdentity& identity, const std::string& client_id,
    std::chrono::milliseconds timeout = std::chrono::seconds(30),
    std::function<void(const mqtt::Message&)> on_message = nullptr);

// A reply to a request on the reserved API: which one, its payload, and how long it took.
struct DeviceReply {
  bool accepted = false;
  Bytes payload;
  std::chrono::microseconds latency{0};
};

// One MQTT connection that asks the reserved API and waits for the replies it is sent.
class RequestSession {
 public:
  // `on_message`, when set, also sees every message the session receives (on the client's network
  // thread), for what the device listens to besides replies.
  static Result<std::unique_ptr<RequestSession>> open(
      const BrokerAccess& broker, const FileIdentity& identity, const std::string& client_id,
      std::function<void(const mqtt::Message&)> on_message = nullptr);
  ~RequestSession();

  // Publishes `payload` (QoS 1) on `topic` and waits for a message on `topic`/accepted or
  // `topic`/rejected, without subscribing. Fails on a timeout.
  Result<DeviceReply> ask(const std::string& topic, ByteView payload,
                          std::chrono::milliseconds timeout = std::chrono::seconds(20));
  mqtt::Client& client() { return *client_; }

 private:
  RequestSession() = default;
  std::unique_ptr<mqtt::Client> client_;
  std::mutex mutex_;
  std::condition_variable arrived_;
  std::map<std::string, Bytes> replies_;  // by topic
};

struct ClaimRequest {
  std::string thing_name;  // the client id, the CSR's CN and the template's ThingName
  std::string serial;      // the CSR's serialNumber and the template's SerialNumber
  std::string template_name;
  std::map<std::string, std::string> parameters;  // more template parameters
  protocol::PayloadFormat format = protocol::PayloadFormat::cbor;
};

// What a successful provisioning gave the device.
struct ClaimedIdentity {
  FileIdentity identity;
  std::string certificate_id;
  std::string thing_name;
  std::chrono::microseconds create_latency{0};    // CreateCertificateFromCsr's reply
  std::chrono::microseconds register_latency{0};  // RegisterThing's reply
};

// Provisions one device by claim over a new connection made with `claim`: a key made here, its
// CSR, CreateCertificateFromCsr, RegisterThing. The device's key goes to `key_dir`/<thing>.key.
// A rejection fails with "<step> rejected: <statusCode> <errorCode>: <errorMessage>".
Result<ClaimedIdentity> provision_by_claim(const BrokerAccess& broker, const FileIdentity& claim,
                                           const ClaimRequest& request,
                                           const std::filesystem::path& key_dir);

}  // namespace ironroot::testing
