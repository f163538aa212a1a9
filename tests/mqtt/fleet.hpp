// Test support for libs/mqtt: a CA folder, a broker folder and a device whose key lives in a
// SoftHSM2 token, made with the real `ironroot` CLI, libs/keystore and OpenSSL.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "support/broker_process.hpp"
#include "ironroot/keystore/token_key.hpp"
#include "ironroot/mqtt/client.hpp"
#include "support/process.hpp"
#include "support/softhsm_token.hpp"
#include "support/temp_dir.hpp"

namespace ironroot::testing {

// Messages a client received, for a test to wait on.
class Inbox {
 public:
  void add(const mqtt::Message& message);
  // Waits until `count` messages arrived; returns them all.
  std::vector<mqtt::Message> wait_for(std::size_t count, std::chrono::milliseconds timeout);

 private:
  std::mutex mutex_;
  std::condition_variable arrived_;
  std::vector<mqtt::Message> messages_;
};

std::string text_of(const mqtt::Message& message);

// One test's world: a CA (`ironroot ca init`), a broker folder (`ironroot broker init`) on free
// loopback ports, a SoftHSM2 token "device-1" for thing "thing-1".
class MqttFleetTest : public ::testing::Test {
 protected:
  static constexpr const char* kToken = "device-1";
  static constexpr const char* kPin = "1234";
  static constexpr const char* kThing = "thing-1";

  void SetUp() override;

  // `ironroot ...`; fails the test unless it exits 0.
  ProcessResult cli(std::vector<std::string> args);
  // The token-selecting URI, with the PIN.
  keystore::Pkcs11Uri token_uri(const std::string& token = kToken) const;
  // Generates a P-256 key labelled `label` in `token` and returns a CSR file for it (CN kThing).
  std::string token_csr(const std::string& label, const std::string& token = kToken);
  // A PEM key file and a CSR for it.
  std::string file_key(const std::string& name);
  std::string file_csr(const std::string& key, const std::string& name);
  // `ironroot ca issue` from the CA folder `ca` (default: the fleet's CA).
  crypto::Certificate issue(const std::string& csr, const std::string& name,
                            std::vector<std::string> extra = {}, const std::string& ca = "");
  // Provisions kToken: its device key, a certificate from the device CA, the root as "Root Cert".
  void provision_device();

  // The device's TLS settings from its token, for the broker at 127.0.0.1.
  mqtt::TlsSettings device_tls();
  // The fleet identity that `broker init` issued (files), trusting the root.
  mqtt::TlsSettings fleet_tls();
  std::shared_ptr<const mqtt::TlsContext> context(const mqtt::TlsSettings& settings);
  // A client with fast back-off (50 ms to 500 ms) on the device port (or the fleet port).
  mqtt::ClientOptions options(std::shared_ptr<const mqtt::TlsContext> tls,
                              const std::string& client_id, bool fleet_port = false);
  std::unique_ptr<mqtt::Client> client(mqtt::ClientOptions options);

  void start_broker();
  crypto::Certificate root_certificate() const;

  TempDir dir_;
  SoftHsmToken token_{kToken, kPin};
  std::uint16_t port_ = 0;
  std::uint16_t fleet_port_ = 0;
  std::string ca_dir_;
  std::string broker_dir_;
  std::unique_ptr<BrokerProcess> broker_;
};

}  // namespace ironroot::testing
