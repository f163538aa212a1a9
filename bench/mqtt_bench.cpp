// Device identity costs, each against its baseline in the same run:
//  - mTLS MQTT connections to a real Mosquitto (`ironroot broker init|run`) with the client key in
//    a SoftHSM2 token (through OpenSSL's PKCS#11 engine) against the same with a PEM key file;
//  - ECDSA P-256 signatures through the token (libs/keystore TokenKey, which also checks each
//    signature against the key's public-key object) against OpenSSL with the key in memory.
// Read the ratios: mqtt_connect_token_key / mqtt_connect_file_key and ecdsa_sign_token /
// ecdsa_sign_openssl (docs/mqtt.md).
#include <benchmark/benchmark.h>
#include <sys/stat.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <stdexcept>

#include "ironroot/core/file.hpp"
#include "ironroot/crypto/x509.hpp"
#include "ironroot/keystore/token_certificates.hpp"
#include "ironroot/keystore/token_key.hpp"
#include "ironroot/mqtt/client.hpp"
#include "support/broker_process.hpp"
#include "support/process.hpp"
#include "support/softhsm_token.hpp"
#include "support/temp_dir.hpp"

namespace {

using namespace ironroot;
using namespace std::chrono_literals;

constexpr const char* kToken = "bench-device";
constexpr const char* kPin = "1234";

void require(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error(what);
}

testing::ProcessResult cli(std::vector<std::string> args) {
  args.insert(args.begin(), IRONROOT_CLI);
  auto r = testing::run_process(args);
  require(r.exit_code == 0, args[1] + " " + args[2] + ": " + r.err);
  return r;
}

crypto::Certificate read_certificate(const std::string& path) {
  auto data = read_file(path, 1 << 20);
  require(data.has_value(), "cannot read " + path);
  auto cert = crypto::Certificate::from_pem(*data);
  require(cert.has_value(), "not a certificate: " + path);
  return *cert;
}

// A CA, a broker and two identities for thing "bench-1": one whose key is in the token, one with
// a PEM key file. Built once, on first use; the broker stops when the process exits.
class World {
 public:
  World() {
    ::chmod(dir_.path().c_str(), 0755);  // Mosquitto started as root runs as user mosquitto
    const std::string ca = (dir_ / "ca").string();
    const std::string broker = (dir_ / "broker").string();
    port_ = testing::free_port();
    fleet_port_ = testing::free_port();
    cli({"ca", "init", "--dir", ca, "--name", "Bench"});
    cli({"broker", "init", "--dir", broker, "--ca", ca, "--port", std::to_string(port_),
         "--fleet-port", std::to_string(fleet_port_)});
    root_.emplace(read_certificate(ca + "/root-ca.crt"));

    // The token identity, provisioned as a device would be.
    auto token =
        *keystore::Pkcs11Uri::parse(std::string("pkcs11:token=") + kToken + "?pin-value=" + kPin);
    keystore::Pkcs11Uri key_uri = token;
    key_uri.object = std::string(keystore::kDeviceKeyLabel);
    auto key = keystore::TokenKey::generate(key_uri, crypto::KeyType::ecdsa_p256);
    require(key.has_value(), key ? "" : key.error().message);
    auto csr = crypto::CertificateRequest::create({"bench-1", "", ""}, **key);
    require(csr.has_value(), "token CSR");
    require(write_file_atomic(dir_ / "token.csr", as_bytes(csr->pem())).has_value(), "write CSR");
    cli({"ca", "issue", "--dir", ca, "--csr", (dir_ / "token.csr").string(), "-o",
         (dir_ / "token.crt").string()});
    std::vector<crypto::Certificate> trusted{*root_};
    require(keystore::store_device_identity(token, read_certificate((dir_ / "token.crt").string()),
                                            trusted)
                .has_value(),
            "store the device identity");
    token_key_ = std::move(*key);

    // The file identity.
    const std::string file_key = (dir_ / "file.key").string();
    cli({"image", "keygen", "-k", file_key, "-t", "ecdsa-p256"});
    cli({"ca", "csr", "-k", file_key, "--cn", "bench-1", "-o", (dir_ / "file.csr").string()});
    cli({"ca", "issue", "--dir", ca, "--csr", (dir_ / "file.csr").string(), "-o",
         (dir_ / "file.crt").string()});

    auto token_settings = mqtt::tls_settings_from_token(token, "127.0.0.1");
    require(token_settings.has_value(), token_settings ? "" : token_settings.error().message);
    auto token_tls = mqtt::TlsContext::create(*token_settings);
    require(token_tls.has_value(), token_tls ? "" : token_tls.error().message);
    token_tls_ = *token_tls;
    mqtt::TlsSettings file_settings;
    file_settings.trusted = trusted;
    file_settings.server_name = "127.0.0.1";
    file_settings.client_chain = {read_certificate((dir_ / "file.crt").string())};
    file_settings.client_key = file_key;
    auto file_tls = mqtt::TlsContext::create(file_settings);
    require(file_tls.has_value(), file_tls ? "" : file_tls.error().message);
    file_tls_ = *file_tls;

    memory_key_.emplace(*crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256));
    broker_ = std::make_unique<testing::BrokerProcess>(broker, port_, fleet_port_);
    std::string error = broker_->start();
    require(error.empty(), error);
  }

  mqtt::ClientOptions options(bool token_key) const {
    mqtt::ClientOptions o;
    o.host = "127.0.0.1";
    o.port = port_;
    o.client_id = "bench-1";
    o.clean_start = true;  // no session left behind per connection
    o.tls = token_key ? token_tls_ : file_tls_;
    o.backoff = {10ms, 100ms, 2.0, 0.5};
    return o;
  }
  keystore::TokenKey& token_key() { return *token_key_; }
  crypto::PrivateKey& memory_key() { return *memory_key_; }

 private:
  testing::SoftHsmToken token_{kToken, kPin};
  testing::TempDir dir_;
  std::uint16_t port_ = 0;
  std::uint16_t fleet_port_ = 0;
  std::optional<crypto::Certificate> root_;
  std::unique_ptr<keystore::TokenKey> token_key_;
  std::optional<crypto::PrivateKey> memory_key_;
  std::shared_ptr<const mqtt::TlsContext> token_tls_;
  std::shared_ptr<const mqtt::TlsContext> file_tls_;
  std::unique_ptr<testing::BrokerProcess> broker_;
};

World& world() {
  static World instance;
  return instance;
}

// One whole connection: TCP, the TLS 1.3 handshake with the client's CertificateVerify signed by
// the key under test, MQTT CONNECT/CONNACK, DISCONNECT.
void BM_MqttConnect(benchmark::State& state, bool token_key) {
  mqtt::ClientOptions options = world().options(token_key);
  for (auto _ : state) {
    auto client = mqtt::Client::create(options);
    if (!client) {
      state.SkipWithError(client.error().message.c_str());
      return;
    }
    (*client)->start();
    if (auto ok = (*client)->wait_connected(10s); !ok) {
      state.SkipWithError(ok.error().message.c_str());
      return;
    }
    (*client)->stop();
  }
  state.counters["connections_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

void BM_EcdsaSign(benchmark::State& state, bool token_key) {
  crypto::Signer& signer = token_key ? static_cast<crypto::Signer&>(world().token_key())
                                     : static_cast<crypto::Signer&>(world().memory_key());
  const crypto::Sha256Digest digest = crypto::sha256(as_bytes("firmware image or TLS transcript"));
  for (auto _ : state) {
    auto signature = signer.sign_digest(digest);
    if (!signature) {
      state.SkipWithError(signature.error().message.c_str());
      return;
    }
    benchmark::DoNotOptimize(signature);
  }
  state.counters["signatures_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

}  // namespace

BENCHMARK_CAPTURE(BM_MqttConnect, file, false)
    ->Name("mqtt_connect_file_key")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_MqttConnect, token, true)
    ->Name("mqtt_connect_token_key")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_EcdsaSign, openssl, false)
    ->Name("ecdsa_sign_openssl")
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_EcdsaSign, token, true)
    ->Name("ecdsa_sign_token")
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

BENCHMARK_MAIN();
