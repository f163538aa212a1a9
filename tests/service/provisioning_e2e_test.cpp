// Issue 5, fleet provisioning by claim end to end, all real: ironrootd with its embedded Mosquitto
// and broker plugin; the operator's set-up through the REST API (claim certificate, policies,
// template); a device whose SoftHSM2 token holds the claim identity, running the device agent's
// provision_by_claim: CSR from a key made in the token, certificate from ironrootd's CA,
// RegisterThing through the template, then a connection as itself; revoked through the REST API,
// it is disconnected at once.
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "claim_fleet.hpp"
#include "ironroot/agent/fleet_provisioning.hpp"
#include "ironroot/core/file.hpp"
#include "ironroot/crypto/x509.hpp"
#include "ironroot/keystore/token_certificates.hpp"
#include "ironroot/keystore/token_key.hpp"
#include "ironroot/mqtt/client.hpp"
#include "ironroot/mqtt/tls.hpp"
#include "service_fixture.hpp"
#include "support/broker_process.hpp"
#include "support/process.hpp"
#include "support/softhsm_token.hpp"
#include "support/temp_dir.hpp"

namespace ironroot::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kToken = "device-1";
constexpr const char* kPin = "1234";

class ProvisioningE2E : public ServiceTest {
 protected:
  keystore::Pkcs11Uri token_uri() const {
    return *keystore::Pkcs11Uri::parse(std::string("pkcs11:token=") + kToken +
                                       "?pin-value=" + kPin);
  }

  // The factory's part: a claim key made in the device's token, certified by ironrootd's CA,
  // stored with the root the broker chains to; the operator registers and activates it.
  void make_claim_identity() {
    keystore::Pkcs11Uri key_uri = token_uri();
    key_uri.object = std::string(keystore::kClaimKeyLabel);
    auto key = keystore::TokenKey::generate(key_uri, crypto::KeyType::ecdsa_p256);
    ASSERT_TRUE(key) << key.error().message;
    auto csr = crypto::CertificateRequest::create({"claim-acme", "", "Acme"}, **key);
    ASSERT_TRUE(csr);
    const fs::path csr_path = temp_.path() / "claim.csr";
    const fs::path cert_path = temp_.path() / "claim.crt";
    ASSERT_TRUE(write_file_atomic(csr_path, as_bytes(csr->pem())));
    auto issued = run_process({IRONROOT_CLI, "ca", "issue", "--dir", (data_ / "ca").string(),
                               "--csr", csr_path.string(), "-o", cert_path.string()});
    ASSERT_EQ(issued.exit_code, 0) << issued.err;
    auto claim = crypto::Certificate::from_pem(*read_file(cert_path, 1 << 20));
    auto root = crypto::Certificate::from_pem(*read_file(data_ / "ca" / "root-ca.crt", 1 << 20));
    ASSERT_TRUE(claim && root);
    std::vector<crypto::Certificate> claims{*claim}, roots{*root};
    ASSERT_TRUE(keystore::store_certificates(token_uri(), keystore::kClaimCertificateLabel, claims,
                                             keystore::CertificateCategory::token_user,
                                             (*key)->uri().id));
    ASSERT_TRUE(keystore::store_certificates(token_uri(), keystore::kRootCertificateLabel, roots,
                                             keystore::CertificateCategory::authority));

    const json registered =
        call("POST", "/v1/certificates", {{"certificatePem", claim->pem()}}, 201);
    claim_id_ = registered.value("certificateId", "");
    call("POST", "/v1/policies", {{"policyName", "ClaimPolicy"}, {"policyDocument", kClaimPolicy}},
         201);
    call("PUT", "/v1/policies/ClaimPolicy/certificates/" + claim_id_, nullptr, 204);
  }

  agent::ClaimProvisioningSettings settings() const {
    agent::ClaimProvisioningSettings s;
    s.token = token_uri();
    s.host = "127.0.0.1";
    s.port = ports_.broker;
    s.client_id = "sensor-42";
    s.template_name = "AcmeFleet";
    s.parameters = {{"ThingName", "sensor-42"}, {"SerialNumber", "SN-42"}};
    s.backoff = {50ms, 500ms, 2.0, 0.5};
    return s;
  }

  SoftHsmToken token_{kToken, kPin};
  std::string claim_id_;
};

TEST_F(ProvisioningE2E, ADeviceProvisionsItselfByClaimAndIsDisconnectedWhenRevoked) {
  ASSERT_NO_FATAL_FAILURE(make_claim_identity());
  call("POST", "/v1/policies", {{"policyName", "DevicePolicy"}, {"policyDocument", kDevicePolicy}},
       201);

  // No template yet: the fleet rejects RegisterThing, and the device says which step failed.
  auto refused = agent::provision_by_claim(settings());
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().step, agent::ProvisioningStep::register_thing)
      << refused.error().message;
  ASSERT_TRUE(refused.error().rejection);
  EXPECT_EQ(refused.error().rejection->error_code, "ResourceNotFound");

  call("POST", "/v1/templates", {{"templateName", "AcmeFleet"}, {"templateBody", kFleetTemplate}},
       201);
  auto report = agent::provision_by_claim(settings());
  ASSERT_TRUE(report) << report.error().message << "\n" << daemon_->log();
  EXPECT_EQ(report->thing_name, "sensor-42");
  EXPECT_TRUE(report->reused_device_key);  // made by the first, refused attempt
  EXPECT_EQ(report->device_configuration.at("Telemetry"), "60");

  // The registry has the thing, its attribute and its ACTIVE certificate from ironrootd's CA.
  const json thing = call("GET", "/v1/things/sensor-42");
  EXPECT_EQ(thing["attributes"]["serial"], "SN-42") << thing.dump();
  const json certificate = call("GET", "/v1/certificates/" + report->certificate_id);
  EXPECT_EQ(certificate["status"], "ACTIVE") << certificate.dump();
  EXPECT_EQ(certificate["commonName"], "sensor-42");
  auto identity = keystore::read_device_identity(token_uri());
  ASSERT_TRUE(identity) << identity.error().message;
  EXPECT_EQ(to_hex(identity->certificate.fingerprint()), report->certificate_id);
  // The service says what it did.
  EXPECT_TRUE(daemon_->wait_for_log("provision/cbor for sensor-42")) << daemon_->log();

  // The device online as itself; the operator revokes its certificate through the REST API, and
  // the broker disconnects it at once and refuses it afterwards.
  auto tls_settings = mqtt::tls_settings_from_token(token_uri(), "127.0.0.1");
  ASSERT_TRUE(tls_settings) << tls_settings.error().message;
  auto tls = mqtt::TlsContext::create(*tls_settings);
  ASSERT_TRUE(tls) << tls.error().message;
  mqtt::ClientOptions options;
  options.host = "127.0.0.1";
  options.port = ports_.broker;
  options.client_id = "sensor-42";
  options.tls = *tls;
  options.backoff = {50ms, 200ms, 2.0, 0.5};
  auto device = mqtt::Client::create(std::move(options));
  ASSERT_TRUE(device) << device.error().message;
  (*device)->start();
  ASSERT_TRUE((*device)->wait_connected(20s)) << daemon_->log();
  call("PUT", "/v1/certificates/" + report->certificate_id + "/status", {{"status", "REVOKED"}});
  EXPECT_TRUE((*device)->wait_until(
      [](const mqtt::ClientStats& s) { return s.connection_losses >= 1 && !s.connected; }, 20s));
  // Later attempts are refused at CONNECT.
  EXPECT_TRUE((*device)->wait_until(
      [](const mqtt::ClientStats& s) { return s.failed_attempts >= 2 && !s.connected; }, 20s));
  (*device)->stop();
}

}  // namespace
}  // namespace ironroot::testing
