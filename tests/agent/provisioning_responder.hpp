// A stand-in for the fleet service's provisioning API, small enough to trust in a test: a client
// on the broker's fleet listener that answers CreateCertificateFromCsr with a certificate issued
// by the real CA folder's device CA, and RegisterThing for one template, checking the ownership
// token it handed out.
#pragma once

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "ironroot/crypto/certificate_authority.hpp"
#include "ironroot/mqtt/client.hpp"
#include "ironroot/protocol/provisioning.hpp"
#include "ironroot/protocol/topics.hpp"

namespace ironroot::testing {

class ProvisioningResponder {
 public:
  // How the responder treats one API.
  enum class Behaviour { answer, silent, reject };

  struct Options {
    std::filesystem::path ca_dir;  // an `ironroot ca init` folder (device-ca.crt/.key)
    mqtt::ClientOptions client;    // the fleet identity on the fleet listener (on_message unset)
    std::string template_name;     // the one template it knows
    std::map<std::string, std::string> device_configuration;
  };

  // Connects and subscribes; fails the calling test (returns null) when it cannot.
  static std::unique_ptr<ProvisioningResponder> start(Options options);
  ~ProvisioningResponder();

  void set_create_certificate(Behaviour b) { create_certificate_ = b; }
  void set_register_thing(Behaviour b) { register_thing_ = b; }
  // Before answering RegisterThing, also publish junk on the CSR reply topic (a stray message).
  void set_stray_before_register(bool on) { stray_ = on; }
  // Publishes `payload` as a retained message on `topic` and waits for the broker's PUBACK.
  bool publish_retained(const std::string& topic, const std::string& payload);

  struct Seen {
    std::vector<protocol::ProvisioningTopic> requests;           // in arrival order
    std::vector<Bytes> csr_keys;                                 // the DER public key of each CSR
    std::vector<std::map<std::string, std::string>> parameters;  // of each RegisterThing
  };
  Seen seen() const;

 private:
  explicit ProvisioningResponder(Options options, crypto::CertificateAuthority ca)
      : options_(std::move(options)), ca_(std::move(ca)) {}
  void on_message(const mqtt::Message& message);
  void reply(const protocol::ProvisioningTopic& request, protocol::Reply kind,
             const nlohmann::json& document);
  void answer_csr(const protocol::ProvisioningTopic& topic, const mqtt::Message& message);
  void answer_register(const protocol::ProvisioningTopic& topic, const mqtt::Message& message);

  Options options_;
  crypto::CertificateAuthority ca_;  // used on the client's network thread only
  std::unique_ptr<mqtt::Client> client_;
  std::atomic<Behaviour> create_certificate_{Behaviour::answer};
  std::atomic<Behaviour> register_thing_{Behaviour::answer};
  std::atomic<bool> stray_{false};

  mutable std::mutex mutex_;
  Seen seen_;
  std::map<std::string, std::string> tokens_;  // ownership token -> the certificate's CN
};

}  // namespace ironroot::testing
