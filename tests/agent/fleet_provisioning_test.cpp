// provision_by_claim against a real Mosquitto with mutual TLS, a real SoftHSM2 token and a
// responder that issues certificates from the real CA (provisioning_world.hpp).
#include "ironroot/agent/fleet_provisioning.hpp"

#include <gtest/gtest.h>

#include "ironroot/keystore/token_certificates.hpp"
#include "keystore/raw_token.hpp"
#include "provisioning_world.hpp"

namespace ironroot::testing {
namespace {

using namespace std::chrono_literals;
using agent::ProvisioningStep;
using protocol::PayloadFormat;
using Behaviour = ProvisioningResponder::Behaviour;

class FleetProvisioningTest : public ProvisioningTest {
 protected:
  // Provisions successfully in `format` and checks everything the device ends up with.
  void provisions_in(PayloadFormat format) {
    ASSERT_FALSE(agent::has_device_identity(token_uri()));
    auto report = agent::provision_by_claim(settings(format));
    ASSERT_TRUE(report) << report.error().message;
    EXPECT_EQ(report->thing_name, kThing);
    EXPECT_FALSE(report->reused_device_key);
    const std::map<std::string, std::string> configuration{{"Fallback", "false"},
                                                           {"Telemetry", "60"}};
    EXPECT_EQ(report->device_configuration, configuration);

    // The token now holds the identity the fleet issued, for the key generated inside it.
    EXPECT_TRUE(agent::has_device_identity(token_uri()));
    auto identity = keystore::read_device_identity(token_uri());
    ASSERT_TRUE(identity) << identity.error().message;
    EXPECT_EQ(report->certificate_id, to_hex(identity->certificate.fingerprint()));
    auto subject = identity->certificate.subject_name();
    ASSERT_TRUE(subject);
    EXPECT_EQ(subject->common_name, kThing);
    EXPECT_EQ(subject->serial_number, kSerial);
    ASSERT_EQ(identity->trusted.size(), 1u);
    EXPECT_EQ(identity->certificate.public_key()->der(), device_public_key());

    // The requests went out in `format`, CSR first, with the template's parameters.
    auto seen = responder_->seen();
    ASSERT_EQ(seen.requests.size(), 2u);
    EXPECT_EQ(seen.requests[0].kind, protocol::ProvisioningApi::create_certificate_from_csr);
    EXPECT_EQ(seen.requests[1].kind, protocol::ProvisioningApi::register_thing);
    EXPECT_EQ(seen.requests[1].template_name, kTemplate);
    for (const auto& request : seen.requests) EXPECT_EQ(request.format, format);
    ASSERT_EQ(seen.parameters.size(), 1u);
    EXPECT_EQ(seen.parameters[0].at("SerialNumber"), kSerial);

    // The claim identity connected, then the device as itself (its CN is its MQTT username).
    EXPECT_TRUE(broker_->wait_for_log(std::string("u'") + kClaimName + "'", 5s)) << broker_->log();
    EXPECT_TRUE(broker_->wait_for_log(std::string("as ") + kThing + " ", 5s)) << broker_->log();
    EXPECT_TRUE(broker_->wait_for_log(std::string("u'") + kThing + "'", 5s)) << broker_->log();
  }
};

TEST_F(FleetProvisioningTest, ProvisionsInCbor) {
  provisions_in(PayloadFormat::cbor);
}

TEST_F(FleetProvisioningTest, ProvisionsInJson) {
  provisions_in(PayloadFormat::json);
}

TEST_F(FleetProvisioningTest, DeviceKeyIsSensitiveAndNeverExtractable) {
  auto report = agent::provision_by_claim(settings(PayloadFormat::cbor));
  ASSERT_TRUE(report) << report.error().message;

  RawToken raw(kToken, kPin);
  ASSERT_TRUE(raw.ok()) << raw.error();
  auto keys = raw.find(CKO_PRIVATE_KEY, std::string(keystore::kDeviceKeyLabel));
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(raw.get_bool(keys[0], CKA_SENSITIVE), true);
  EXPECT_EQ(raw.get_bool(keys[0], CKA_EXTRACTABLE), false);
  EXPECT_EQ(raw.get_bool(keys[0], CKA_ALWAYS_SENSITIVE), true);
  EXPECT_EQ(raw.get_bool(keys[0], CKA_NEVER_EXTRACTABLE), true);
  Bytes value;
  EXPECT_EQ(raw.get(keys[0], CKA_VALUE, value), static_cast<CK_RV>(CKR_ATTRIBUTE_SENSITIVE));
  EXPECT_EQ(raw.set_bool(keys[0], CKA_EXTRACTABLE, true),
            static_cast<CK_RV>(CKR_ATTRIBUTE_READ_ONLY));
}

TEST_F(FleetProvisioningTest, RejectedCertificateRequestSurfacesTheErrorCode) {
  responder_->set_create_certificate(Behaviour::reject);
  auto report = agent::provision_by_claim(settings(PayloadFormat::cbor));
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().step, ProvisioningStep::create_certificate);
  ASSERT_TRUE(report.error().rejection);
  EXPECT_EQ(report.error().rejection->status_code, 403);
  EXPECT_EQ(report.error().rejection->error_code, "AccessDenied");
  EXPECT_FALSE(report.error().timed_out);
  EXPECT_NE(report.error().message.find("create certificate from CSR: "), std::string::npos)
      << report.error().message;
  EXPECT_NE(report.error().message.find("statusCode 403, errorCode AccessDenied: this claim"),
            std::string::npos)
      << report.error().message;
  EXPECT_FALSE(agent::has_device_identity(token_uri()));
}

TEST_F(FleetProvisioningTest, RejectedRegistrationSurfacesTheErrorCodeAndStoresNothing) {
  auto s = settings(PayloadFormat::json);
  s.template_name = "NoSuchTemplate";
  auto report = agent::provision_by_claim(s);
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().step, ProvisioningStep::register_thing);
  ASSERT_TRUE(report.error().rejection);
  EXPECT_EQ(report.error().rejection->status_code, 404);
  EXPECT_EQ(report.error().rejection->error_code, "ResourceNotFound");
  EXPECT_NE(report.error().message.find("register thing: "), std::string::npos)
      << report.error().message;
  EXPECT_NE(report.error().message.find("no provisioning template named NoSuchTemplate"),
            std::string::npos)
      << report.error().message;
  // The certificate was issued, but a device whose thing was not registered has no identity.
  EXPECT_EQ(responder_->seen().csr_keys.size(), 1u);
  EXPECT_FALSE(agent::has_device_identity(token_uri()));
  auto certs = keystore::read_certificates(token_uri(), keystore::kDeviceCertificateLabel);
  EXPECT_FALSE(certs);
}

TEST_F(FleetProvisioningTest, ReplyTimeoutIsReportedPerStep) {
  auto s = settings(PayloadFormat::cbor);
  s.reply_timeout = 300ms;

  responder_->set_create_certificate(Behaviour::silent);
  auto report = agent::provision_by_claim(s);
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().step, ProvisioningStep::create_certificate);
  EXPECT_TRUE(report.error().timed_out);
  EXPECT_FALSE(report.error().rejection);
  EXPECT_NE(
      report.error().message.find("create certificate from CSR: no reply on "
                                  "$aws/certificates/create-from-csr/cbor/accepted or "
                                  "$aws/certificates/create-from-csr/cbor/rejected within 300 ms"),
      std::string::npos)
      << report.error().message;

  responder_->set_create_certificate(Behaviour::answer);
  responder_->set_register_thing(Behaviour::silent);
  report = agent::provision_by_claim(s);
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().step, ProvisioningStep::register_thing);
  EXPECT_TRUE(report.error().timed_out);
  EXPECT_NE(report.error().message.find("register thing: no reply on "
                                        "$aws/provisioning-templates/AcmeFleet/provision/cbor/"
                                        "accepted"),
            std::string::npos)
      << report.error().message;
  EXPECT_FALSE(agent::has_device_identity(token_uri()));
}

TEST_F(FleetProvisioningTest, ResumesAfterAnInterruptionWithTheSameKey) {
  // The first attempt is cut short after the certificate was issued (no RegisterThing reply):
  // the key stays in the token, and the token has no device identity.
  auto s = settings(PayloadFormat::cbor);
  s.reply_timeout = 300ms;
  responder_->set_register_thing(Behaviour::silent);
  auto first = agent::provision_by_claim(s);
  ASSERT_FALSE(first);
  EXPECT_EQ(first.error().step, ProvisioningStep::register_thing);
  EXPECT_FALSE(agent::has_device_identity(token_uri()));
  const Bytes key = device_public_key();
  ASSERT_FALSE(key.empty());

  responder_->set_register_thing(Behaviour::answer);
  s.reply_timeout = 10s;
  auto second = agent::provision_by_claim(s);
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_TRUE(second->reused_device_key);
  EXPECT_EQ(device_public_key(), key);
  auto seen = responder_->seen();
  ASSERT_EQ(seen.csr_keys.size(), 2u);
  EXPECT_EQ(seen.csr_keys[0], key);
  EXPECT_EQ(seen.csr_keys[1], key);
  auto identity = keystore::read_device_identity(token_uri());
  ASSERT_TRUE(identity) << identity.error().message;
  EXPECT_EQ(identity->certificate.public_key()->der(), key);

  RawToken raw(kToken, kPin);
  ASSERT_TRUE(raw.ok()) << raw.error();
  EXPECT_EQ(raw.find(CKO_PRIVATE_KEY, std::string(keystore::kDeviceKeyLabel)).size(), 1u);
}

TEST_F(FleetProvisioningTest, IgnoresRetainedAndStrayMessages) {
  // Retained messages on the reply topics (delivered at subscription) and a message on the
  // previous request's reply topic during RegisterThing are not replies.
  for (const char* reply : {"accepted", "rejected"}) {
    ASSERT_TRUE(responder_->publish_retained(
        std::string("$aws/certificates/create-from-csr/cbor/") + reply, "not a reply"));
  }
  responder_->set_stray_before_register(true);
  auto report = agent::provision_by_claim(settings(PayloadFormat::cbor));
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->thing_name, kThing);
}

TEST_F(FleetProvisioningTest, RefusesATokenThatHasADeviceIdentity) {
  auto report = agent::provision_by_claim(settings(PayloadFormat::cbor));
  ASSERT_TRUE(report) << report.error().message;
  auto identity = keystore::read_device_identity(token_uri());
  ASSERT_TRUE(identity);

  auto again = agent::provision_by_claim(settings(PayloadFormat::cbor));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().step, ProvisioningStep::device_key);
  EXPECT_NE(again.error().message.find("already holds a device identity"), std::string::npos)
      << again.error().message;
  EXPECT_EQ(responder_->seen().requests.size(), 2u);  // nothing more was asked
  auto after = keystore::read_device_identity(token_uri());
  ASSERT_TRUE(after);
  EXPECT_EQ(after->certificate.der(), identity->certificate.der());
}

TEST_F(FleetProvisioningTest, BadSettingsChangeNothing) {
  auto s = settings(PayloadFormat::cbor);
  s.template_name = "bad/template";
  auto report = agent::provision_by_claim(s);
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().step, ProvisioningStep::check_settings);
  EXPECT_NE(report.error().message.find("check settings: template name 'bad/template'"),
            std::string::npos)
      << report.error().message;

  s = settings(PayloadFormat::cbor);
  s.parameters["ThingName"] = "no spaces";
  report = agent::provision_by_claim(s);
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().step, ProvisioningStep::check_settings);
  EXPECT_NE(report.error().message.find("parameter ThingName"), std::string::npos)
      << report.error().message;

  RawToken raw(kToken, kPin);
  ASSERT_TRUE(raw.ok()) << raw.error();
  EXPECT_TRUE(raw.find(CKO_PRIVATE_KEY, std::string(keystore::kDeviceKeyLabel)).empty());
}

TEST_F(FleetProvisioningTest, ClaimConnectionFailureSaysWhy) {
  ASSERT_EQ(broker_->stop(), 0);
  auto s = settings(PayloadFormat::cbor);
  s.connect_timeout = 500ms;
  auto report = agent::provision_by_claim(s);
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().step, ProvisioningStep::claim_connection);
  EXPECT_TRUE(report.error().timed_out);
  EXPECT_NE(report.error().message.find("claim connection: not connected to 127.0.0.1:"),
            std::string::npos)
      << report.error().message;
}

TEST_F(FleetProvisioningTest, ClaimIdentityMissingFromTheTokenSaysWhich) {
  // A token whose claim certificate is not under its label (as if the factory never stored it).
  {
    RawToken raw(kToken, kPin);
    ASSERT_TRUE(raw.ok()) << raw.error();
    auto certs = raw.find(CKO_CERTIFICATE, std::string(keystore::kClaimCertificateLabel));
    ASSERT_EQ(certs.size(), 1u);
    ASSERT_EQ(raw.set(certs[0], CKA_LABEL, as_bytes("Old Claim Cert")), static_cast<CK_RV>(CKR_OK));
  }
  auto report = agent::provision_by_claim(settings(PayloadFormat::cbor));
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().step, ProvisioningStep::claim_connection);
  EXPECT_NE(report.error().message.find("Claim Cert"), std::string::npos) << report.error().message;
}

}  // namespace
}  // namespace ironroot::testing
