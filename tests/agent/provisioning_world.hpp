// One provisioning test's world, all real: a CA folder (`ironroot ca init`), a Mosquitto broker
// (`ironroot broker init` + `broker run`) on free loopback ports whose device ACL also lets the
// claim identity use the provisioning topics, a SoftHSM2 token holding the claim key (generated
// in the token), the claim certificate issued by the CA and the root as "Root Cert", and a
// ProvisioningResponder on the fleet listener.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "ironroot/agent/fleet_provisioning.hpp"
#include "provisioning_responder.hpp"
#include "support/broker_process.hpp"
#include "support/process.hpp"
#include "support/softhsm_token.hpp"
#include "support/temp_dir.hpp"

namespace ironroot::testing {

class ProvisioningTest : public ::testing::Test {
 protected:
  static constexpr const char* kToken = "device-1";
  static constexpr const char* kPin = "1234";
  static constexpr const char* kClaimName = "claim-acme";  // the claim certificate's CN
  static constexpr const char* kTemplate = "AcmeFleet";
  static constexpr const char* kThing = "thing-42";
  static constexpr const char* kSerial = "SN-42";

  // Each test runs in a process of its own (see docs/mqtt.md: libp11's engine keeps SoftHSM2
  // initialised per process): run directly, this binary runs every test after the first in a
  // child process and reports its verdict.
  void SetUp() override;

  // `ironroot ...`; fails the test unless it exits 0.
  ProcessResult cli(std::vector<std::string> args);
  // The token-selecting URI, with the PIN.
  keystore::Pkcs11Uri token_uri() const;
  // Settings for the broker and token of this world: client id kThing, template kTemplate,
  // parameters ThingName and SerialNumber, reply timeout 10 s, fast back-off.
  agent::ClaimProvisioningSettings settings(protocol::PayloadFormat format) const;
  // The device key's DER public key, through keystore.
  Bytes device_public_key() const;

  TempDir dir_;
  SoftHsmToken token_{kToken, kPin};
  std::uint16_t port_ = 0;
  std::uint16_t fleet_port_ = 0;
  std::string ca_dir_;
  std::string broker_dir_;
  std::unique_ptr<BrokerProcess> broker_;
  std::unique_ptr<ProvisioningResponder> responder_;
};

}  // namespace ironroot::testing
