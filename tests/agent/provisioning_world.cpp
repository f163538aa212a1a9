#include "provisioning_world.hpp"

#include <sys/stat.h>

#include <fstream>

#include "ironroot/core/file.hpp"
#include "ironroot/keystore/token_certificates.hpp"
#include "ironroot/keystore/token_key.hpp"
#include "support/own_process.hpp"

namespace ironroot::testing {

namespace {

using namespace std::chrono_literals;

crypto::Certificate certificate_file(const std::filesystem::path& path) {
  auto data = read_file(path, 1 << 20);
  auto cert = data ? crypto::Certificate::from_pem(*data)
                   : Result<crypto::Certificate>(tl::unexpected(data.error()));
  if (!cert) throw std::runtime_error(path.string() + ": " + cert.error().message);
  return *cert;
}

}  // namespace

void ProvisioningTest::SetUp() {
  if (auto child = run_in_own_process()) {
    ASSERT_EQ(child->exit_code, 0) << "in a child process:\n" << child->out << child->err;
    GTEST_SKIP() << "passed in a child process of its own";
  }
  // Mosquitto, started as root, runs as user mosquitto: it must be able to enter the folders.
  ::chmod(dir_.path().c_str(), 0755);
  port_ = free_port();
  do {
    fleet_port_ = free_port();
  } while (fleet_port_ == port_);
  ca_dir_ = (dir_ / "ca").string();
  broker_dir_ = (dir_ / "broker").string();
  ASSERT_NO_FATAL_FAILURE(cli({"ca", "init", "--dir", ca_dir_, "--name", "Acme"}));
  ASSERT_NO_FATAL_FAILURE(
      cli({"broker", "init", "--dir", broker_dir_, "--ca", ca_dir_, "--port", std::to_string(port_),
           "--fleet-port", std::to_string(fleet_port_)}));
  // `broker init` lets a device use only $aws/things/<CN>/... . Until the broker plugin
  // authorises provisioning, the claim identity gets the provisioning topics here: requests out,
  // replies in (never the other way round, so a claim device cannot forge a reply).
  {
    std::ofstream acl(std::filesystem::path(broker_dir_) / "devices.acl", std::ios::app);
    acl << "\n# The claim identity (test): provisioning requests out, their replies in.\n"
        << "user " << kClaimName << "\n"
        << "topic write $aws/certificates/create-from-csr/+\n"
        << "topic read $aws/certificates/create-from-csr/+/+\n"
        << "topic write $aws/provisioning-templates/+/provision/+\n"
        << "topic read $aws/provisioning-templates/+/provision/+/+\n";
    ASSERT_TRUE(acl.good());
  }
  broker_ = std::make_unique<BrokerProcess>(broker_dir_, port_, fleet_port_);
  const std::string started = broker_->start();
  ASSERT_TRUE(started.empty()) << started;

  // The claim identity, as a factory puts it into every device of a batch.
  keystore::Pkcs11Uri claim_key_uri = token_uri();
  claim_key_uri.object = std::string(keystore::kClaimKeyLabel);
  auto claim_key = keystore::TokenKey::generate(claim_key_uri, crypto::KeyType::ecdsa_p256);
  ASSERT_TRUE(claim_key) << claim_key.error().message;
  auto csr = crypto::CertificateRequest::create({kClaimName, "", "Acme"}, **claim_key);
  ASSERT_TRUE(csr) << csr.error().message;
  const std::filesystem::path csr_path = dir_ / "claim.csr";
  const std::filesystem::path cert_path = dir_ / "claim.crt";
  ASSERT_TRUE(write_file_atomic(csr_path, as_bytes(csr->pem())));
  ASSERT_NO_FATAL_FAILURE(
      cli({"ca", "issue", "--dir", ca_dir_, "--csr", csr_path.string(), "-o", cert_path.string()}));
  std::vector<crypto::Certificate> claim{certificate_file(cert_path)};
  std::vector<crypto::Certificate> root{
      certificate_file(std::filesystem::path(ca_dir_) / "root-ca.crt")};
  auto stored = keystore::store_certificates(token_uri(), keystore::kClaimCertificateLabel, claim,
                                             keystore::CertificateCategory::token_user,
                                             (*claim_key)->uri().id);
  ASSERT_TRUE(stored) << stored.error().message;
  stored = keystore::store_certificates(token_uri(), keystore::kRootCertificateLabel, root,
                                        keystore::CertificateCategory::authority);
  ASSERT_TRUE(stored) << stored.error().message;

  // The fleet service's stand-in, with the fleet identity `broker init` issued (key file).
  ProvisioningResponder::Options o;
  o.ca_dir = ca_dir_;
  o.template_name = kTemplate;
  o.device_configuration = {{"Fallback", "false"}, {"Telemetry", "60"}};
  mqtt::TlsSettings fleet;
  fleet.trusted = root;
  fleet.server_name = "127.0.0.1";
  fleet.client_chain = {certificate_file(std::filesystem::path(broker_dir_) / "fleet.crt")};
  fleet.client_key = (std::filesystem::path(broker_dir_) / "fleet.key").string();
  auto tls = mqtt::TlsContext::create(fleet);
  ASSERT_TRUE(tls) << tls.error().message;
  o.client.host = "127.0.0.1";
  o.client.port = fleet_port_;
  o.client.client_id = "fleet-provisioning";
  o.client.clean_start = true;
  o.client.tls = *tls;
  o.client.backoff = {50ms, 500ms, 2.0, 0.5};
  responder_ = ProvisioningResponder::start(std::move(o));
  ASSERT_TRUE(responder_);
}

ProcessResult ProvisioningTest::cli(std::vector<std::string> args) {
  args.insert(args.begin(), IRONROOT_CLI);
  ProcessResult r = run_process(args);
  EXPECT_EQ(r.exit_code, 0) << args[1] << " " << args[2] << ": " << r.err << r.out;
  return r;
}

keystore::Pkcs11Uri ProvisioningTest::token_uri() const {
  return *keystore::Pkcs11Uri::parse(std::string("pkcs11:token=") + kToken + "?pin-value=" + kPin);
}

agent::ClaimProvisioningSettings ProvisioningTest::settings(protocol::PayloadFormat format) const {
  agent::ClaimProvisioningSettings s;
  s.token = token_uri();
  s.host = "127.0.0.1";
  s.port = port_;
  s.client_id = kThing;
  s.template_name = kTemplate;
  s.parameters = {{"ThingName", kThing}, {"SerialNumber", kSerial}};
  s.format = format;
  s.backoff = {50ms, 500ms, 2.0, 0.5};
  return s;
}

Bytes ProvisioningTest::device_public_key() const {
  keystore::Pkcs11Uri uri = token_uri();
  uri.object = std::string(keystore::kDeviceKeyLabel);
  auto key = keystore::TokenKey::open(uri);
  EXPECT_TRUE(key) << key.error().message;
  return key ? (*key)->public_key().der() : Bytes{};
}

}  // namespace ironroot::testing
