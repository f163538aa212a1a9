// Issue 5, just-in-time provisioning end to end, all real: ironrootd with its embedded Mosquitto
// and broker plugin; a manufacturer's CA registered through the REST API with a template and
// auto-registration. Its devices, unknown to the registry, connect: the first attempt is refused,
// the broker plugin tells ironrootd, which provisions each (thing, ACTIVE certificate, policy,
// from the certificate's subject) and publishes AWS IoT's registration event; the devices' next
// attempt succeeds.
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/stat.h>

#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "ironroot/core/file.hpp"
#include "ironroot/crypto/certificate_authority.hpp"
#include "ironroot/crypto/x509.hpp"
#include "ironroot/mqtt/client.hpp"
#include "ironroot/mqtt/tls.hpp"
#include "service_fixture.hpp"
#include "support/temp_dir.hpp"

namespace ironroot::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

constexpr int kDevices = 20;

const json kDevicePolicy = json::parse(R"({"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": "iot:Connect",
   "Resource": "arn:aws:iot:*:*:client/${iot:Connection.Thing.ThingName}"},
  {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive", "iot:Subscribe"],
   "Resource": ["arn:aws:iot:*:*:topic/things/${iot:Connection.Thing.ThingName}/*",
                "arn:aws:iot:*:*:topicfilter/things/${iot:Connection.Thing.ThingName}/*"]}]})");

// AWS's JITP template shape: everything from the certificate's subject.
const json kTemplate = json::parse(R"({
  "Resources": {
    "thing": {"Type": "AWS::IoT::Thing",
              "Properties": {"ThingName": {"Ref": "AWS::IoT::Certificate::CommonName"},
                             "AttributePayload": {
                               "serial": {"Ref": "AWS::IoT::Certificate::SerialNumber"}}}},
    "certificate": {"Type": "AWS::IoT::Certificate",
                    "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"},
                                   "Status": "ACTIVE"}},
    "policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": "JitpDevicePolicy"}}}})");

crypto::Time now() {
  return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
}

// A manufacturer's root CA that signs its devices' certificates directly (as in AWS's JITP guide).
struct Manufacturer {
  crypto::CertificateAuthority ca;

  static Manufacturer make(const std::string& name) {
    auto root = crypto::CertificateAuthority::create_root(
        {name, "", name},
        std::make_unique<crypto::PrivateKey>(
            *crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256)),
        crypto::validity_from_now(std::chrono::days(30), now()));
    if (!root) throw std::runtime_error(root.error().message);
    return Manufacturer{std::move(*root)};
  }
};

// A device's key (in a file) and certificate from `maker`.
struct DeviceCredentials {
  std::string thing;
  std::string serial;
  fs::path key_file;
  crypto::Certificate certificate;
};

DeviceCredentials make_device(Manufacturer& maker, const fs::path& dir, const std::string& thing,
                              const std::string& serial) {
  auto key = crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256);
  auto csr = crypto::CertificateRequest::create({thing, serial, ""}, *key);
  if (!csr) throw std::runtime_error(csr.error().message);
  auto certificate = maker.ca.issue_device_certificate(
      *csr, crypto::validity_from_now(std::chrono::days(7), now()));
  if (!certificate) throw std::runtime_error(certificate.error().message);
  const fs::path key_file = dir / (thing + ".key");
  if (!write_file_atomic(key_file, as_bytes(*key->pem()), 0600)) {
    throw std::runtime_error("cannot write " + key_file.string());
  }
  return DeviceCredentials{thing, serial, key_file, *certificate};
}

class JustInTimeE2E : public ServiceTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(ServiceTest::SetUp());
    broker_root_ = broker_root();
  }

  // Registers `maker`'s CA ACTIVE, with auto-registration and (when given) a template.
  std::string register_ca(const Manufacturer& maker, const std::string& template_name) {
    json body = {{"caCertificatePem", maker.ca.certificate().pem()},
                 {"status", "ACTIVE"},
                 {"autoRegistration", true}};
    if (!template_name.empty()) body["templateName"] = template_name;
    return call("POST", "/v1/cas", body, 201).value("caCertificateId", "");
  }

  std::unique_ptr<mqtt::Client> device_client(const DeviceCredentials& device) {
    mqtt::TlsSettings tls;
    tls.trusted = {*broker_root_};
    tls.server_name = "localhost";  // checked against the broker's certificate, sent as SNI
    tls.client_chain = {device.certificate};
    tls.client_key = device.key_file.string();
    auto context = mqtt::TlsContext::create(tls);
    EXPECT_TRUE(context) << context.error().message;
    mqtt::ClientOptions options;
    options.host = "127.0.0.1";
    options.port = ports_.broker;
    options.client_id = device.thing;
    options.tls = *context;
    options.backoff = {50ms, 400ms, 2.0, 0.5};
    auto client = mqtt::Client::create(std::move(options));
    EXPECT_TRUE(client) << client.error().message;
    return std::move(*client);
  }

  // A client of the fleet listener (with the fleet identity) that collects AWS IoT's
  // certificate registration events.
  std::unique_ptr<mqtt::Client> event_listener() {
    const fs::path broker = data_ / "broker";
    mqtt::TlsSettings tls;
    tls.trusted = {*broker_root_};
    tls.server_name = "127.0.0.1";
    tls.client_chain = {*crypto::Certificate::from_pem(*read_file(broker / "fleet.crt", 1 << 20))};
    tls.client_key = (broker / "fleet.key").string();
    mqtt::ClientOptions options;
    options.host = "127.0.0.1";
    options.port = ports_.fleet;
    options.client_id = "event-listener";
    options.tls = *mqtt::TlsContext::create(tls);
    options.on_message = [this](const mqtt::Message& m) {
      std::lock_guard lock(mutex_);
      events_.push_back(m);
      arrived_.notify_all();
    };
    auto client = mqtt::Client::create(std::move(options));
    EXPECT_TRUE(client);
    (*client)->start();
    EXPECT_TRUE((*client)->wait_connected(20s));
    EXPECT_TRUE((*client)->subscribe("$aws/events/certificates/registered/+", 1));
    EXPECT_TRUE((*client)->wait_until(
        [](const mqtt::ClientStats& s) { return s.subscriptions_acknowledged >= 1; }, 20s));
    return std::move(*client);
  }

  bool wait_for_events(std::size_t count) {
    std::unique_lock lock(mutex_);
    return arrived_.wait_for(lock, 60s, [&] { return events_.size() >= count; });
  }

  std::optional<crypto::Certificate> broker_root_;
  std::mutex mutex_;
  std::condition_variable arrived_;
  std::vector<mqtt::Message> events_;
};

TEST_F(JustInTimeE2E, DevicesOfARegisteredCaAreProvisionedOnTheirFirstConnection) {
  call("POST", "/v1/policies",
       {{"policyName", "JitpDevicePolicy"}, {"policyDocument", kDevicePolicy}}, 201);
  call("POST", "/v1/templates", {{"templateName", "JitpTemplate"}, {"templateBody", kTemplate}},
       201);
  Manufacturer maker = Manufacturer::make("Acme Devices CA");
  const std::string ca_id = register_ca(maker, "JitpTemplate");
  ASSERT_EQ(ca_id.size(), 64u);
  auto listener = event_listener();

  std::vector<DeviceCredentials> devices;
  std::vector<std::unique_ptr<mqtt::Client>> clients;
  for (int i = 0; i < kDevices; ++i) {
    devices.push_back(make_device(maker, temp_.path(), "jit-" + std::to_string(i),
                                  "SN" + std::to_string(1000 + i)));
    clients.push_back(device_client(devices.back()));
  }
  for (auto& client : clients) client->start();  // all at once
  for (std::size_t i = 0; i < clients.size(); ++i) {
    ASSERT_TRUE(clients[i]->wait_connected(60s)) << devices[i].thing << "\n" << daemon_->log();
    // Its first attempt was refused: the certificate was unknown then.
    EXPECT_GE(clients[i]->stats().failed_attempts, 1u) << devices[i].thing;
  }

  // Each is in the registry: the thing from the subject, its ACTIVE certificate, the policy.
  for (const DeviceCredentials& device : devices) {
    const json thing = call("GET", "/v1/things/" + device.thing);
    EXPECT_EQ(thing["attributes"]["serial"], device.serial) << thing.dump();
    const std::string id = to_hex(device.certificate.fingerprint());
    const json certificate = call("GET", "/v1/certificates/" + id);
    EXPECT_EQ(certificate["status"], "ACTIVE") << certificate.dump();
    EXPECT_EQ(certificate["caCertificateId"], ca_id);
    const json policies = call("GET", "/v1/certificates/" + id + "/policies");
    EXPECT_EQ(policies["items"][0]["policyName"], "JitpDevicePolicy") << policies.dump();
  }

  // One registration event per device, on AWS IoT's topic for the CA.
  ASSERT_TRUE(wait_for_events(kDevices));
  std::set<std::string> registered;
  {
    std::lock_guard lock(mutex_);
    for (const mqtt::Message& event : events_) {
      EXPECT_EQ(event.topic, "$aws/events/certificates/registered/" + ca_id);
      const json payload = json::parse(as_chars(event.payload), nullptr, false);
      EXPECT_EQ(payload.value("caCertificateId", ""), ca_id) << payload.dump();
      registered.insert(payload.value("certificateId", ""));
    }
  }
  for (const DeviceCredentials& device : devices) {
    EXPECT_TRUE(registered.contains(to_hex(device.certificate.fingerprint()))) << device.thing;
  }
  EXPECT_TRUE(daemon_->wait_for_log("just-in-time provisioned thing jit-19")) << daemon_->log();
  for (auto& client : clients) client->stop();
  listener->stop();
}

TEST_F(JustInTimeE2E, OnlyAnActiveCaWithAutoRegistrationProvisions) {
  call("POST", "/v1/policies",
       {{"policyName", "JitpDevicePolicy"}, {"policyDocument", kDevicePolicy}}, 201);
  call("POST", "/v1/templates", {{"templateName", "JitpTemplate"}, {"templateBody", kTemplate}},
       201);
  // Registered without auto-registration: its devices pass TLS and are refused, nothing created.
  Manufacturer closed = Manufacturer::make("Closed CA");
  const std::string closed_id =
      call("POST", "/v1/cas",
           {{"caCertificatePem", closed.ca.certificate().pem()}, {"status", "ACTIVE"}}, 201)
          .value("caCertificateId", "");
  DeviceCredentials refused = make_device(closed, temp_.path(), "closed-1", "SN1");
  auto client = device_client(refused);
  client->start();
  ASSERT_TRUE(
      client->wait_until([](const mqtt::ClientStats& s) { return s.failed_attempts >= 3; }, 20s));
  EXPECT_FALSE(client->stats().connected);
  client->stop();
  // Refused by the broker plugin (the TLS handshake passed: the CA is trusted), not by TLS.
  EXPECT_TRUE(contains(broker_log(), "client 'closed-1'")) << broker_log();
  call("GET", "/v1/things/closed-1", nullptr, 404);
  call("GET", "/v1/certificates/" + to_hex(refused.certificate.fingerprint()), nullptr, 404);

  // Auto-registration switched on through the API: the same device is provisioned.
  call("PUT", "/v1/cas/" + closed_id + "/template", {{"templateName", "JitpTemplate"}});
  call("PUT", "/v1/cas/" + closed_id + "/auto-registration", {{"enabled", true}});
  auto again = device_client(refused);
  again->start();
  ASSERT_TRUE(again->wait_connected(60s)) << daemon_->log();
  call("GET", "/v1/things/closed-1");
  again->stop();
}

}  // namespace
}  // namespace ironroot::testing
