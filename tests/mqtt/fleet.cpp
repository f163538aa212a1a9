#include "fleet.hpp"

#include <sys/stat.h>

#include <stdexcept>

#include "ironroot/core/file.hpp"
#include "ironroot/crypto/x509.hpp"
#include "ironroot/keystore/token_certificates.hpp"
#include "support/own_process.hpp"

namespace ironroot::testing {

void Inbox::add(const mqtt::Message& message) {
  std::lock_guard lock(mutex_);
  messages_.push_back(message);
  arrived_.notify_all();
}

std::vector<mqtt::Message> Inbox::wait_for(std::size_t count, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  arrived_.wait_for(lock, timeout, [&] { return messages_.size() >= count; });
  return messages_;
}

std::string text_of(const mqtt::Message& message) {
  return std::string(as_chars(message.payload));
}

void MqttFleetTest::SetUp() {
  // Each test needs a process of its own (support/own_process.hpp).
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
  broker_ = std::make_unique<BrokerProcess>(broker_dir_, port_, fleet_port_);
}

ProcessResult MqttFleetTest::cli(std::vector<std::string> args) {
  std::vector<std::string> argv{IRONROOT_CLI};
  argv.insert(argv.end(), args.begin(), args.end());
  ProcessResult r = run_process(argv);
  EXPECT_EQ(r.exit_code, 0) << argv[1] << " " << argv[2] << ": " << r.err << r.out;
  return r;
}

keystore::Pkcs11Uri MqttFleetTest::token_uri(const std::string& token) const {
  return *keystore::Pkcs11Uri::parse("pkcs11:token=" + token + "?pin-value=" + kPin);
}

std::string MqttFleetTest::token_csr(const std::string& label, const std::string& token) {
  keystore::Pkcs11Uri uri = token_uri(token);
  uri.object = label;
  auto key = keystore::TokenKey::generate(uri, crypto::KeyType::ecdsa_p256);
  EXPECT_TRUE(key) << key.error().message;
  if (!key) return {};
  auto csr = crypto::CertificateRequest::create({kThing, "SN-1", ""}, **key);
  EXPECT_TRUE(csr) << csr.error().message;
  std::string file = token + "-" + label + ".csr";
  for (char& c : file) c = c == ' ' ? '_' : c;
  std::string path = (dir_ / file).string();
  EXPECT_TRUE(write_file_atomic(path, as_bytes(csr->pem())));
  return path;
}

std::string MqttFleetTest::file_key(const std::string& name) {
  auto key = crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256);
  std::string path = (dir_ / (name + ".key")).string();
  EXPECT_TRUE(write_file_atomic(path, as_bytes(*key->pem()), 0600));
  return path;
}

std::string MqttFleetTest::file_csr(const std::string& key, const std::string& name) {
  std::string path = (dir_ / (name + ".csr")).string();
  cli({"ca", "csr", "-k", key, "--cn", kThing, "-o", path});
  return path;
}

crypto::Certificate MqttFleetTest::issue(const std::string& csr, const std::string& name,
                                         std::vector<std::string> extra, const std::string& ca) {
  std::string path = (dir_ / (name + ".crt")).string();
  std::vector<std::string> args{"ca",    "issue", "--dir", ca.empty() ? ca_dir_ : ca,
                                "--csr", csr,     "-o",    path};
  args.insert(args.end(), extra.begin(), extra.end());
  cli(args);
  auto data = read_file(path, 1 << 20);
  auto cert = data ? crypto::Certificate::from_pem(*data)
                   : Result<crypto::Certificate>(tl::unexpected(data.error()));
  // A test cannot go on without it; gtest reports the exception as this test's failure.
  if (!cert) throw std::runtime_error("no certificate " + path + ": " + cert.error().message);
  return *cert;
}

crypto::Certificate MqttFleetTest::root_certificate() const {
  auto data = read_file(std::filesystem::path(ca_dir_) / "root-ca.crt", 1 << 20);
  return *crypto::Certificate::from_pem(*data);
}

void MqttFleetTest::provision_device() {
  std::string csr = token_csr(std::string(keystore::kDeviceKeyLabel));
  ASSERT_FALSE(csr.empty());
  crypto::Certificate cert = issue(csr, "device");
  std::vector<crypto::Certificate> trusted{root_certificate()};
  auto stored = keystore::store_device_identity(token_uri(), cert, trusted);
  ASSERT_TRUE(stored) << stored.error().message;
}

mqtt::TlsSettings MqttFleetTest::device_tls() {
  auto settings = mqtt::tls_settings_from_token(token_uri(), "127.0.0.1");
  EXPECT_TRUE(settings) << settings.error().message;
  return settings.value_or(mqtt::TlsSettings{});
}

mqtt::TlsSettings MqttFleetTest::fleet_tls() {
  mqtt::TlsSettings settings;
  settings.trusted = {root_certificate()};
  settings.server_name = "127.0.0.1";
  auto data = read_file(std::filesystem::path(broker_dir_) / "fleet.crt", 1 << 20);
  settings.client_chain = {*crypto::Certificate::from_pem(*data)};
  settings.client_key = (std::filesystem::path(broker_dir_) / "fleet.key").string();
  return settings;
}

std::shared_ptr<const mqtt::TlsContext> MqttFleetTest::context(const mqtt::TlsSettings& settings) {
  auto tls = mqtt::TlsContext::create(settings);
  EXPECT_TRUE(tls) << tls.error().message;
  return tls ? *tls : nullptr;
}

mqtt::ClientOptions MqttFleetTest::options(std::shared_ptr<const mqtt::TlsContext> tls,
                                           const std::string& client_id, bool fleet_port) {
  mqtt::ClientOptions o;
  o.host = "127.0.0.1";
  o.port = fleet_port ? fleet_port_ : port_;
  o.client_id = client_id;
  o.tls = std::move(tls);
  o.backoff = {std::chrono::milliseconds(50), std::chrono::milliseconds(500), 2.0, 0.5};
  return o;
}

std::unique_ptr<mqtt::Client> MqttFleetTest::client(mqtt::ClientOptions o) {
  auto c = mqtt::Client::create(std::move(o));
  EXPECT_TRUE(c) << c.error().message;
  return c ? std::move(*c) : nullptr;
}

void MqttFleetTest::start_broker() {
  std::string error = broker_->start();
  ASSERT_TRUE(error.empty()) << error;
}

}  // namespace ironroot::testing
