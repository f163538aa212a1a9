// libs/mqtt against a real Mosquitto configured by `ironroot broker init`, with device keys in
// SoftHSM2 used through OpenSSL's PKCS#11 engine: who gets in, who is refused and why, and what
// survives the broker dying.
#include <gtest/gtest.h>
#include <signal.h>

#include "fleet.hpp"
#include "ironroot/core/file.hpp"
#include "ironroot/keystore/token_certificates.hpp"
#include "keystore/raw_token.hpp"

namespace ironroot::testing {
namespace {

using namespace std::chrono_literals;

::testing::AssertionResult contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << part << "' not in: " << text;
}

const std::string kHelloTopic = "$aws/things/thing-1/hello";

class MqttBrokerTest : public MqttFleetTest {
 protected:
  // Starts a client and waits for its first attempt to end without a connection; returns why.
  std::string refusal(const mqtt::TlsSettings& settings, const std::string& client_id) {
    auto tls = context(settings);
    if (!tls) return "no TLS context";
    auto c = client(options(tls, client_id));
    if (!c) return "no client";
    c->start();
    bool failed =
        c->wait_until([](const mqtt::ClientStats& s) { return s.failed_attempts >= 1; }, 20s);
    mqtt::ClientStats stats = c->stats();
    EXPECT_TRUE(failed) << "still trying after 20 s; last error: " << stats.last_error;
    EXPECT_EQ(stats.connections, 0u) << "the broker accepted " << client_id;
    RecordProperty("refusal", stats.last_error);  // in --gtest_output=xml reports
    return stats.last_error;
  }
};

TEST_F(MqttBrokerTest, DeviceWithTokenKeyConnectsAndPublishes) {
  ASSERT_NO_FATAL_FAILURE(provision_device());
  ASSERT_NO_FATAL_FAILURE(start_broker());

  Inbox inbox;
  auto fleet_options = options(context(fleet_tls()), "fleet-service", /*fleet_port=*/true);
  fleet_options.on_message = [&](const mqtt::Message& m) { inbox.add(m); };
  auto fleet = client(std::move(fleet_options));
  ASSERT_TRUE(fleet);
  ASSERT_TRUE(fleet->subscribe("$aws/things/+/hello", 1));
  fleet->start();
  ASSERT_TRUE(fleet->wait_connected(20s));
  ASSERT_TRUE(fleet->wait_until(
      [](const mqtt::ClientStats& s) { return s.subscriptions_acknowledged >= 1; }, 20s));

  auto tls = context(device_tls());
  ASSERT_TRUE(tls);
  EXPECT_TRUE(contains(tls->client_identity(), "token key pkcs11:token=device-1;"));
  EXPECT_TRUE(contains(tls->client_identity(), ";object=Device%20Priv%20TLS%20Key;"));
  auto device = client(options(tls, kThing));
  ASSERT_TRUE(device);
  device->start();
  auto connected = device->wait_connected(20s);
  ASSERT_TRUE(connected) << connected.error().message;
  EXPECT_TRUE(broker_->wait_for_log("as thing-1 (p5, c0, k60, u'thing-1')", 5s)) << broker_->log();

  ASSERT_TRUE(device->publish(kHelloTopic, as_bytes("hello from thing-1"), 1));
  ASSERT_TRUE(
      device->wait_until([](const mqtt::ClientStats& s) { return s.acknowledged == 1; }, 20s));
  auto received = inbox.wait_for(1, 20s);
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].topic, kHelloTopic);
  EXPECT_EQ(text_of(received[0]), "hello from thing-1");
  EXPECT_EQ(received[0].qos, 1);

  // A device may use only its own topics: the broker answers another thing's with "not
  // authorized", and the fleet never sees it.
  ASSERT_TRUE(device->publish("$aws/things/thing-2/hello", as_bytes("spoofed"), 1));
  ASSERT_TRUE(
      device->wait_until([](const mqtt::ClientStats& s) { return s.acknowledged == 2; }, 20s));
  EXPECT_TRUE(contains(device->stats().last_error, "refused a message: Not authorized"));
  ASSERT_TRUE(device->publish(kHelloTopic, as_bytes("second"), 1));
  received = inbox.wait_for(2, 20s);
  ASSERT_EQ(received.size(), 2u);
  EXPECT_EQ(text_of(received[1]), "second");

  // `broker run` is Mosquitto itself (exec): SIGTERM is its clean shutdown.
  EXPECT_EQ(broker_->stop(), 0);
  EXPECT_TRUE(contains(broker_->log(), "terminating"));
  EXPECT_TRUE(device->wait_until([](const mqtt::ClientStats& s) { return !s.connected; }, 20s));
}

// Persistent sessions: QoS 1 messages published while a subscriber is away wait for it at the
// broker, with MQTT 3.1.1 (clean_session=0) as with MQTT 5 (clean_start=0, session expiry).
TEST_F(MqttBrokerTest, PersistentSessionKeepsMessagesForAnAbsentSubscriber) {
  ASSERT_NO_FATAL_FAILURE(provision_device());
  ASSERT_NO_FATAL_FAILURE(start_broker());
  auto fleet_tls_context = context(fleet_tls());
  for (mqtt::ProtocolVersion protocol : {mqtt::ProtocolVersion::v311, mqtt::ProtocolVersion::v5}) {
    const std::string id = protocol == mqtt::ProtocolVersion::v5 ? "fleet-v5" : "fleet-v311";
    const std::string topic =
        std::string("$aws/things/thing-1/") + (protocol == mqtt::ProtocolVersion::v5 ? "a" : "b");
    {
      auto o = options(fleet_tls_context, id, /*fleet_port=*/true);
      o.protocol = protocol;
      auto first = client(std::move(o));
      ASSERT_TRUE(first->subscribe(topic, 1));
      first->start();
      ASSERT_TRUE(first->wait_until(
          [](const mqtt::ClientStats& s) { return s.subscriptions_acknowledged >= 1; }, 20s));
    }  // disconnected: the session stays at the broker

    auto device = client(options(context(device_tls()), kThing));
    device->start();
    ASSERT_TRUE(device->publish(topic, as_bytes("while you were away"), 1));
    ASSERT_TRUE(device->wait_until(
        [](const mqtt::ClientStats& s) { return s.acknowledged == 1 && s.queued == 0; }, 20s))
        << device->stats().last_error;
    device.reset();

    Inbox inbox;
    auto o = options(fleet_tls_context, id, /*fleet_port=*/true);
    o.protocol = protocol;
    o.on_message = [&](const mqtt::Message& m) { inbox.add(m); };
    auto back = client(std::move(o));
    back->start();  // no subscribe(): the broker kept the subscription too
    auto received = inbox.wait_for(1, 20s);
    ASSERT_EQ(received.size(), 1u) << id;
    EXPECT_EQ(received[0].topic, topic);
    EXPECT_EQ(text_of(received[0]), "while you were away");
  }
  // Mosquitto logs its protocol enum: p2 is MQTT 3.1.1, p5 MQTT 5.
  EXPECT_TRUE(contains(broker_->log(), "as fleet-v311 (p2, c0, k60, u'ironroot-fleet')"));
  EXPECT_TRUE(contains(broker_->log(), "as fleet-v5 (p5, c0, k60, u'ironroot-fleet')"));
}

TEST_F(MqttBrokerTest, CertificateFromAnotherCaIsRefused) {
  std::string other_ca = (dir_ / "other-ca").string();
  ASSERT_NO_FATAL_FAILURE(cli({"ca", "init", "--dir", other_ca, "--name", "Other"}));
  std::string csr = token_csr(std::string(keystore::kDeviceKeyLabel));
  crypto::Certificate foreign = issue(csr, "foreign", {}, other_ca);
  ASSERT_NO_FATAL_FAILURE(start_broker());

  mqtt::TlsSettings settings;
  settings.trusted = {root_certificate()};
  settings.server_name = "127.0.0.1";
  settings.client_chain = {foreign};
  keystore::Pkcs11Uri key = token_uri();
  key.object = std::string(keystore::kDeviceKeyLabel);
  settings.client_key = key.to_string();
  settings.token_options.pin = kPin;
  std::string why = refusal(settings, kThing);
  EXPECT_TRUE(contains(why, "alert unknown ca"));
  EXPECT_TRUE(broker_->wait_for_log("certificate verify failed", 5s)) << broker_->log();
}

TEST_F(MqttBrokerTest, ExpiredCertificateIsRefused) {
  std::string csr = token_csr(std::string(keystore::kDeviceKeyLabel));
  crypto::Certificate expired =
      issue(csr, "expired", {"--not-before", "2024-01-01", "--not-after", "2024-02-01"});
  std::vector<crypto::Certificate> trusted{root_certificate()};
  ASSERT_TRUE(keystore::store_device_identity(token_uri(), expired, trusted));
  ASSERT_NO_FATAL_FAILURE(start_broker());
  std::string why = refusal(device_tls(), kThing);
  EXPECT_TRUE(contains(why, "alert certificate expired"));
  EXPECT_TRUE(broker_->wait_for_log("certificate verify failed", 5s)) << broker_->log();
}

TEST_F(MqttBrokerTest, RevokedCertificateIsRefused) {
  ASSERT_NO_FATAL_FAILURE(provision_device());
  auto identity = keystore::read_device_identity(token_uri());
  ASSERT_TRUE(identity) << identity.error().message;
  ASSERT_NO_FATAL_FAILURE(cli({"ca", "revoke", "--dir", ca_dir_, "--serial",
                               identity->certificate.serial_hex(), "--reason", "keyCompromise"}));
  // Publishing the CRL to the broker: its crlfile, read when it starts.
  ASSERT_NO_FATAL_FAILURE(cli({"ca", "crl", "--dir", ca_dir_, "-o", broker_dir_ + "/crl.pem"}));
  ASSERT_NO_FATAL_FAILURE(start_broker());
  std::string why = refusal(device_tls(), kThing);
  EXPECT_TRUE(contains(why, "alert certificate revoked"));
  EXPECT_TRUE(broker_->wait_for_log("certificate verify failed", 5s)) << broker_->log();
}

TEST_F(MqttBrokerTest, ClientWithoutCertificateIsRefused) {
  ASSERT_NO_FATAL_FAILURE(start_broker());
  mqtt::TlsSettings settings;
  settings.trusted = {root_certificate()};
  settings.server_name = "127.0.0.1";
  std::string why = refusal(settings, "anonymous");
  EXPECT_TRUE(contains(why, "alert certificate required"));
  EXPECT_TRUE(broker_->wait_for_log("peer did not return a certificate", 5s)) << broker_->log();
}

TEST_F(MqttBrokerTest, DeviceCertificateIsRefusedOnTheFleetListener) {
  ASSERT_NO_FATAL_FAILURE(provision_device());
  ASSERT_NO_FATAL_FAILURE(start_broker());
  auto tls = context(device_tls());
  ASSERT_TRUE(tls);
  auto o = options(tls, kThing, /*fleet_port=*/true);
  auto c = client(std::move(o));
  c->start();
  ASSERT_TRUE(
      c->wait_until([](const mqtt::ClientStats& s) { return s.failed_attempts >= 1; }, 20s));
  EXPECT_EQ(c->stats().connections, 0u);
  EXPECT_TRUE(contains(c->stats().last_error, "alert unknown ca"));
}

// The client checks the broker too: its chain must end at the stored root, and its certificate
// must name the address the device dialled.
TEST_F(MqttBrokerTest, BrokerIsCheckedAgainstTheStoredRootAndItsName) {
  ASSERT_NO_FATAL_FAILURE(provision_device());
  ASSERT_NO_FATAL_FAILURE(start_broker());
  mqtt::TlsSettings wrong_name = device_tls();
  wrong_name.server_name = "broker.example.com";
  EXPECT_TRUE(contains(refusal(wrong_name, kThing), "certificate verify failed"));

  std::string other_ca = (dir_ / "other-ca").string();
  ASSERT_NO_FATAL_FAILURE(cli({"ca", "init", "--dir", other_ca, "--name", "Other"}));
  auto other_root = read_file(other_ca + "/root-ca.crt", 1 << 20);
  mqtt::TlsSettings wrong_root = device_tls();
  wrong_root.trusted = {*crypto::Certificate::from_pem(*other_root)};
  EXPECT_TRUE(contains(refusal(wrong_root, kThing), "certificate verify failed"));
}

// A certificate whose key is not the token's: the client refuses to use it, and a client that
// skips that check is refused by the broker, which sees a handshake signature that does not
// verify.
TEST_F(MqttBrokerTest, CertificateWhoseKeyIsNotTheTokensIsRefused) {
  const std::string device_key(keystore::kDeviceKeyLabel);
  // Before any PKCS#11 use: SoftHSM2 reads its token list when it is initialised.
  token_.add_token("device-2", kPin);
  // Case 1: the certificate is for a key file, the token holds another key.
  token_csr(device_key);
  std::string file_csr_path = file_csr(file_key("file"), "file");
  crypto::Certificate for_file_key = issue(file_csr_path, "for-file-key");
  std::vector<crypto::Certificate> trusted{root_certificate()};
  auto stored = keystore::store_device_identity(token_uri(), for_file_key, trusted);
  ASSERT_FALSE(stored);
  EXPECT_TRUE(contains(stored.error().message,
                       "issue the certificate from a CSR made with this "
                       "token's key"));
  mqtt::TlsSettings settings;
  settings.trusted = trusted;
  settings.server_name = "127.0.0.1";
  settings.client_chain = {for_file_key};
  keystore::Pkcs11Uri key = token_uri();
  key.object = device_key;
  settings.client_key = key.to_string();
  settings.token_options.pin = kPin;
  auto refused = mqtt::TlsContext::create(settings);
  ASSERT_FALSE(refused);
  EXPECT_TRUE(contains(refused.error().message, "is not the key of client certificate CN=thing-1"));

  // Case 2: a token whose public-key object claims the certificate's key, while its private key
  // is another one: OpenSSL's own key/certificate comparison passes.
  std::string claimed_csr = token_csr("claimed", "device-2");
  token_csr(device_key, "device-2");
  crypto::Certificate claimed = issue(claimed_csr, "claimed");
  {
    RawToken raw("device-2", kPin);
    ASSERT_TRUE(raw.ok()) << raw.error();
    auto pub_claimed = raw.find(CKO_PUBLIC_KEY, "claimed");
    auto pub_device = raw.find(CKO_PUBLIC_KEY, device_key);
    auto priv_claimed = raw.find(CKO_PRIVATE_KEY, "claimed");
    auto priv_device = raw.find(CKO_PRIVATE_KEY, device_key);
    ASSERT_EQ(pub_claimed.size(), 1u);
    ASSERT_EQ(pub_device.size(), 1u);
    Bytes id_claimed, id_device;
    ASSERT_EQ(raw.get(priv_claimed[0], CKA_ID, id_claimed), CKR_OK);
    ASSERT_EQ(raw.get(priv_device[0], CKA_ID, id_device), CKR_OK);
    ASSERT_EQ(raw.set(pub_claimed[0], CKA_ID, id_device), CKR_OK);
    ASSERT_EQ(raw.set(pub_device[0], CKA_ID, id_claimed), CKR_OK);
  }
  mqtt::TlsSettings impostor = settings;
  impostor.client_chain = {claimed};
  keystore::Pkcs11Uri device2_key = token_uri("device-2");
  device2_key.object = device_key;
  impostor.client_key = device2_key.to_string();
  auto caught = mqtt::TlsContext::create(impostor);
  ASSERT_FALSE(caught);
  EXPECT_TRUE(contains(caught.error().message, "its signature does not verify"));

  ASSERT_NO_FATAL_FAILURE(start_broker());
  impostor.check_key_possession = false;
  std::string why = refusal(impostor, kThing);
  EXPECT_TRUE(contains(why, "alert decrypt error")) << why;
  EXPECT_TRUE(broker_->wait_for_log("bad signature", 5s)) << broker_->log();
}

// The broker dies (SIGKILL) and comes back on the same port: the device reconnects within its
// back-off bound, and the QoS 1 messages it queued meanwhile are delivered; what does not fit in
// its queue is refused and counted.
TEST_F(MqttBrokerTest, DeviceReconnectsAfterBrokerRestartAndDeliversWhatItQueued) {
  ASSERT_NO_FATAL_FAILURE(provision_device());
  ASSERT_NO_FATAL_FAILURE(start_broker());
  constexpr std::size_t kQueued = 5;
  const mqtt::BackoffPolicy backoff{100ms, 1000ms, 2.0, 0.5};
  Inbox echoes;
  auto o = options(context(device_tls()), kThing);
  o.backoff = backoff;
  o.max_queued = kQueued;
  o.on_message = [&](const mqtt::Message& m) { echoes.add(m); };
  auto device = client(std::move(o));
  ASSERT_TRUE(device);
  const std::string echo_topic = "$aws/things/thing-1/echo";
  ASSERT_TRUE(device->subscribe(echo_topic, 1));
  device->start();
  ASSERT_TRUE(device->wait_connected(20s));
  ASSERT_TRUE(device->wait_until(
      [](const mqtt::ClientStats& s) { return s.subscriptions_acknowledged >= 1; }, 20s));

  broker_->kill(SIGKILL);
  ASSERT_TRUE(device->wait_until([](const mqtt::ClientStats& s) { return !s.connected; }, 20s));
  EXPECT_EQ(device->stats().connection_losses, 1u);
  for (std::size_t i = 0; i < kQueued; ++i) {
    auto queued = device->publish(echo_topic, as_bytes("queued " + std::to_string(i)), 1);
    ASSERT_TRUE(queued) << queued.error().message;
    EXPECT_EQ(*queued, i + 1);
  }
  auto overflow = device->publish(echo_topic, as_bytes("one too many"), 1);
  ASSERT_FALSE(overflow);
  EXPECT_EQ(overflow.error().code, mqtt::PublishError::Code::queue_full);
  EXPECT_TRUE(contains(overflow.error().message, "the outgoing queue is full (5 messages"));
  mqtt::ClientStats during = device->stats();
  EXPECT_EQ(during.overflows, 1u);
  EXPECT_EQ(during.queued, kQueued);
  EXPECT_EQ(during.acknowledged, 0u);
  // While the broker is down, every retry is refused and waits at most the back-off bound.
  ASSERT_TRUE(
      device->wait_until([](const mqtt::ClientStats& s) { return s.failed_attempts >= 2; }, 20s));
  EXPECT_TRUE(contains(device->stats().last_error, "Connection refused"));
  EXPECT_LE(device->stats().last_backoff, backoff.maximum);

  ASSERT_NO_FATAL_FAILURE(start_broker());
  const auto back = std::chrono::steady_clock::now();
  auto reconnected = device->wait_connected(20s);
  ASSERT_TRUE(reconnected) << reconnected.error().message;
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - back);
  // The bound plus room for a TLS handshake through the token on a loaded, sanitised build.
  EXPECT_LE(took, backoff.maximum + 5s) << "reconnected " << took.count() << " ms after the broker";

  ASSERT_TRUE(device->wait_until(
      [](const mqtt::ClientStats& s) { return s.acknowledged == kQueued && s.queued == 0; }, 20s))
      << device->stats().last_error;
  auto received = echoes.wait_for(kQueued, 20s);
  ASSERT_EQ(received.size(), kQueued);
  for (std::size_t i = 0; i < kQueued; ++i) {
    EXPECT_EQ(text_of(received[i]), "queued " + std::to_string(i));
  }
  EXPECT_EQ(device->stats().connections, 2u);
}

}  // namespace
}  // namespace ironroot::testing
