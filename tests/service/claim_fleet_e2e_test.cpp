// Issue 5's acceptance for provisioning by claim and per-device authorization, all real: ironrootd
// with its embedded Mosquitto and broker plugin, the operator's set-up through the REST API, and
// simulated devices (support/claim_device.hpp) that speak AWS IoT's fleet provisioning API over
// mutual TLS without subscribing to the replies.
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/stat.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "claim_fleet_fixture.hpp"
#include "ironroot/core/file.hpp"
#include "ironroot/crypto/x509.hpp"
#include "service_fixture.hpp"
#include "support/claim_device.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace ironroot::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

constexpr int kConcurrentDevices = 50;

class ClaimFleetE2E : public ClaimFleetTest {
 protected:
  void add_template(const std::string& name, const std::string& hook = "") {
    json body = {{"templateName", name}, {"templateBody", kFleetTemplate}};
    if (!hook.empty()) body["preProvisioningHook"] = hook;
    call("POST", "/v1/templates", body, 201);
  }

  std::size_t thing_count() { return call("GET", "/v1/things?limit=250")["items"].size(); }

  // Publishes on `topic` with QoS 1 and waits for the PUBACK: by then the broker has decided.
  static void publish_and_wait(mqtt::Client& client, const std::string& topic) {
    ASSERT_TRUE(client.publish(topic, as_bytes("{}"), 1));
    ASSERT_TRUE(client.wait_until([](const mqtt::ClientStats& s) { return s.queued == 0; }, 20s));
  }
};

TEST_F(ClaimFleetE2E, FiftyDevicesProvisionConcurrentlyAndConnectAsThemselves) {
  std::vector<std::optional<Result<ClaimedIdentity>>> results(kConcurrentDevices);
  std::vector<std::thread> devices;
  for (int i = 0; i < kConcurrentDevices; ++i) {
    devices.emplace_back([&, i] {
      ClaimRequest request{"claimed-" + std::to_string(i),
                           "SN" + std::to_string(i),
                           "AcmeFleet",
                           {},
                           i % 2 ? protocol::PayloadFormat::json : protocol::PayloadFormat::cbor};
      results[i] = provision_by_claim(broker_, *claim_, request, temp_.path());
    });
  }
  for (auto& device : devices) device.join();

  for (int i = 0; i < kConcurrentDevices; ++i) {
    const auto& result = *results[i];
    ASSERT_TRUE(result) << result.error().message << "\n" << daemon_->log();
    const std::string thing = "claimed-" + std::to_string(i);
    EXPECT_EQ(result->thing_name, thing);
    const json certificate = call("GET", "/v1/certificates/" + result->certificate_id);
    EXPECT_EQ(certificate["status"], "ACTIVE");
    EXPECT_EQ(certificate["things"], json::array({thing})) << certificate.dump();
    // Online as itself, within its own topics.
    auto client = connect_device(broker_, result->identity, thing);
    ASSERT_TRUE(client) << client.error().message;
    ASSERT_NO_FATAL_FAILURE(publish_and_wait(**client, "things/" + thing + "/hello"));
    EXPECT_EQ((*client)->stats().connection_losses, 0u);
    (*client)->stop();
  }
  EXPECT_EQ(thing_count(), static_cast<std::size_t>(kConcurrentDevices));
}

TEST_F(ClaimFleetE2E, BadRequestsAreRejectedOnTheReservedTopicAndCreateNothing) {
  // Hooks: one that denies, one that overruns AWS's 5 s.
  const fs::path deny = temp_.path() / "deny.sh";
  ASSERT_TRUE(write_file_atomic(
      deny, as_bytes("#!/bin/sh\necho '{\"allowProvisioning\": false}'\n"), 0755));
  add_template("Denied", "command:" + deny.string());
  add_template("Slow", "command:/bin/sleep 30");

  auto session = RequestSession::open(broker_, *claim_, "bad-device");
  ASSERT_TRUE(session) << session.error().message;
  auto expect_rejected = [&](const std::string& topic, const Bytes& payload, int status,
                             const std::string& code) {
    auto reply = (*session)->ask(topic, payload, 30s);
    ASSERT_TRUE(reply) << reply.error().message;
    ASSERT_FALSE(reply->accepted) << topic;
    auto error = protocol::decode_message<protocol::ErrorResponse>(
        reply->payload,
        topic.ends_with("json") ? protocol::PayloadFormat::json : protocol::PayloadFormat::cbor);
    ASSERT_TRUE(error) << error.error().message;
    EXPECT_EQ(error->status_code, status) << topic << ": " << error->error_message;
    EXPECT_EQ(error->error_code, code) << topic << ": " << error->error_message;
    EXPECT_FALSE(error->error_message.empty());
  };
  const std::string create = "$aws/certificates/create-from-csr/cbor";
  using protocol::PayloadFormat;

  // Malformed CSR; a payload that is not CBOR at all.
  const protocol::CreateCertificateFromCsrRequest garbage{
      "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"};
  expect_rejected(create, protocol::encode_message(garbage, PayloadFormat::cbor), 400,
                  "InvalidPayload");
  expect_rejected(create, to_bytes("not cbor"), 400, "InvalidPayload");
  // A CSR whose subject cannot name a thing.
  auto key = crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256);
  auto bad_subject = crypto::CertificateRequest::create({"bad name!", "", ""}, *key);
  ASSERT_TRUE(bad_subject);
  expect_rejected(
      create,
      protocol::encode_message(protocol::CreateCertificateFromCsrRequest{bad_subject->pem()},
                               PayloadFormat::cbor),
      400, "InvalidPayload");

  // A good certificate, then RegisterThing with bad templates and tokens.
  auto csr = crypto::CertificateRequest::create({"bad-device", "SN-1", ""}, *key);
  auto created = (*session)->ask(
      create, protocol::encode_message(protocol::CreateCertificateFromCsrRequest{csr->pem()},
                                       PayloadFormat::cbor));
  ASSERT_TRUE(created && created->accepted);
  auto issued = protocol::decode_message<protocol::CreateCertificateFromCsrResponse>(
      created->payload, PayloadFormat::cbor);
  ASSERT_TRUE(issued);
  protocol::RegisterThingRequest registration{issued->certificate_ownership_token,
                                              {{"ThingName", "bad-device"}, {"SerialNumber", "1"}}};
  auto provision = [](const std::string& name) {
    return "$aws/provisioning-templates/" + name + "/provision/cbor";
  };
  const Bytes good = protocol::encode_message(registration, PayloadFormat::cbor);
  expect_rejected(provision("NoSuchTemplate"), good, 404, "ResourceNotFound");
  expect_rejected(provision("Denied"), good, 403, "AccessDenied");
  expect_rejected(provision("Slow"), good, 403, "AccessDenied");
  protocol::RegisterThingRequest forged = registration;
  forged.certificate_ownership_token = "forged";
  expect_rejected(provision("AcmeFleet"), protocol::encode_message(forged, PayloadFormat::cbor),
                  400, "InvalidCertificateOwnershipToken");
  protocol::RegisterThingRequest missing = registration;
  missing.parameters.erase("SerialNumber");
  expect_rejected(provision("AcmeFleet"), protocol::encode_message(missing, PayloadFormat::cbor),
                  400, "InvalidPayload");
  EXPECT_EQ(thing_count(), 0u) << "a rejection creates nothing";

  // The token still works after all that, once; reused, it is refused.
  auto accepted = (*session)->ask(provision("AcmeFleet"), good);
  ASSERT_TRUE(accepted && accepted->accepted);
  expect_rejected(provision("AcmeFleet"), good, 400, "InvalidCertificateOwnershipToken");
  EXPECT_EQ(thing_count(), 1u);
}

TEST_F(ClaimFleetE2E, DevicesReachOnlyTheirOwnTopicsAndTheClaimOnlyProvisioning) {
  auto a =
      provision_by_claim(broker_, *claim_, {"device-a", "SN-A", "AcmeFleet", {}}, temp_.path());
  auto b =
      provision_by_claim(broker_, *claim_, {"device-b", "SN-B", "AcmeFleet", {}}, temp_.path());
  ASSERT_TRUE(a && b);

  std::mutex mutex;
  std::vector<std::string> b_received;
  auto on_b = [&](const mqtt::Message& m) {
    std::lock_guard lock(mutex);
    b_received.push_back(m.topic);
  };
  auto client_b = connect_device(broker_, b->identity, "device-b", 30s, on_b);
  auto client_a = connect_device(broker_, a->identity, "device-a");
  ASSERT_TRUE(client_a && client_b);
  ASSERT_TRUE((*client_b)->subscribe("things/device-b/#", 1));
  ASSERT_TRUE((*client_b)->wait_until(
      [](const mqtt::ClientStats& s) { return s.subscriptions_acknowledged >= 1; }, 20s));

  // A publishes on B's topic and subscribes to B's topics: both refused by the plugin.
  ASSERT_NO_FATAL_FAILURE(publish_and_wait(**client_a, "things/device-b/command"));
  ASSERT_TRUE((*client_a)->subscribe("things/device-b/#", 1));
  ASSERT_TRUE((*client_a)->wait_until(
      [](const mqtt::ClientStats& s) { return s.subscriptions_acknowledged >= 1; }, 20s));
  // B's own message, published after A's was decided, arrives; A's never did before it.
  ASSERT_NO_FATAL_FAILURE(publish_and_wait(**client_b, "things/device-b/marker"));
  ASSERT_TRUE(
      (*client_b)->wait_until([](const mqtt::ClientStats& s) { return s.received >= 1; }, 20s));
  {
    std::lock_guard lock(mutex);
    EXPECT_EQ(b_received, std::vector<std::string>{"things/device-b/marker"});
  }
  const std::string log = broker_log();
  EXPECT_TRUE(
      contains(log, "'device-a' (certificate " + a->certificate_id.substr(0, 12) +
                        "...) no policy allows iot:Publish on topic/things/device-b/command"))
      << log;
  EXPECT_TRUE(contains(log, "no policy allows iot:Subscribe on topicfilter/things/device-b/#"))
      << log;
  EXPECT_EQ((*client_a)->stats().received, 0u);

  // The claim certificate reaches the provisioning topics only: not the jobs API.
  auto claim = connect_device(broker_, *claim_, "device-c");
  ASSERT_TRUE(claim);
  ASSERT_NO_FATAL_FAILURE(publish_and_wait(**claim, "$aws/things/device-c/jobs/$next/get"));
  EXPECT_TRUE(contains(broker_log(), "'device-c' (certificate " + claim_id_.substr(0, 12) +
                                         "...) no policy allows iot:Publish on "
                                         "topic/$aws/things/device-c/jobs/$next/get"))
      << broker_log();
  (*claim)->stop();
  (*client_a)->stop();
  (*client_b)->stop();
}

TEST_F(ClaimFleetE2E, DeactivatedOrRevokedDevicesAreDisconnectedAndOnlyReactivatedOnesReturn) {
  auto device =
      provision_by_claim(broker_, *claim_, {"lamp-1", "SN-1", "AcmeFleet", {}}, temp_.path());
  ASSERT_TRUE(device) << device.error().message;
  const std::string status = "/v1/certificates/" + device->certificate_id + "/status";
  auto client = connect_device(broker_, device->identity, "lamp-1");
  ASSERT_TRUE(client);

  // INACTIVE: disconnected at once, refused while inactive; ACTIVE again: it comes back.
  call("PUT", status, {{"status", "INACTIVE"}});
  ASSERT_TRUE((*client)->wait_until(
      [](const mqtt::ClientStats& s) { return s.connection_losses >= 1 && !s.connected; }, 20s));
  ASSERT_TRUE((*client)->wait_until(
      [](const mqtt::ClientStats& s) { return s.failed_attempts >= 2; }, 20s));
  EXPECT_FALSE((*client)->stats().connected);
  call("PUT", status, {{"status", "ACTIVE"}});
  ASSERT_TRUE((*client)->wait_connected(20s));

  // REVOKED: disconnected, refused for good (REVOKED is final, as on AWS IoT).
  call("PUT", status, {{"status", "REVOKED"}});
  ASSERT_TRUE((*client)->wait_until(
      [](const mqtt::ClientStats& s) { return s.connection_losses >= 2 && !s.connected; }, 20s));
  call("PUT", status, {{"status", "ACTIVE"}}, 409);
  const auto failed = (*client)->stats().failed_attempts;
  ASSERT_TRUE((*client)->wait_until(
      [&](const mqtt::ClientStats& s) { return s.failed_attempts >= failed + 2; }, 20s));
  EXPECT_FALSE((*client)->stats().connected);
  (*client)->stop();
}

}  // namespace
}  // namespace ironroot::testing
