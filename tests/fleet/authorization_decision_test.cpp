// DeviceAuthorizer over a real SQLite registry, with real certificates: what a certificate may do,
// and how fast a registry change applies.
#include <gtest/gtest.h>

#include "ironroot/crypto/certificate_authority.hpp"
#include "ironroot/fleet/authorization.hpp"
#include "registry_fixture.hpp"

namespace ironroot::fleet::testing {
namespace {

using crypto::CertificateAuthority;
using policy::Action;

constexpr const char* kDevicePolicy = R"({"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": "iot:Connect",
   "Resource": "arn:aws:iot:*:*:client/${iot:Connection.Thing.ThingName}"},
  {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"],
   "Resource": "arn:aws:iot:*:*:topic/$aws/things/${iot:Connection.Thing.ThingName}/*"},
  {"Effect": "Allow", "Action": "iot:Subscribe",
   "Resource": "arn:aws:iot:*:*:topicfilter/$aws/things/${iot:Connection.Thing.ThingName}/*"}]})";

NewThing thing_named(const std::string& name) {
  NewThing thing;
  thing.name = name;
  return thing;
}

NewCa ca_of(const crypto::Certificate& certificate) {
  NewCa ca;
  ca.pem = certificate.pem();
  return ca;
}

std::unique_ptr<crypto::Signer> new_key() {
  return std::make_unique<crypto::PrivateKey>(
      *crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256));
}

class AuthorizationTest : public RegistryTest {
 protected:
  void SetUp() override {
    RegistryTest::SetUp();
    auto validity = crypto::validity_from_now(crypto::kDefaultCaValidity, kStart);
    auto ca =
        CertificateAuthority::create_root({"Acme Device CA", "", "Acme"}, new_key(), validity);
    ASSERT_TRUE(ca) << ca.error().message;
    ca_.emplace(std::move(*ca));
    ca_id_ = certificate_id_of(ca_->certificate());
    ASSERT_TRUE(registry().register_ca("alice", ca_of(ca_->certificate())));
    ASSERT_TRUE(registry().create_policy("alice", "device", kDevicePolicy));
    authorizer_.emplace(registry());
  }

  // Registers a certificate with CN `thing`, issued by the test's CA.
  std::string certificate(const std::string& thing,
                          CertificateStatus status = CertificateStatus::active) {
    auto key = new_key();
    auto csr = crypto::CertificateRequest::create({thing, "SN-" + thing, ""}, *key);
    EXPECT_TRUE(csr) << csr.error().message;
    auto cert = ca_->issue_device_certificate(
        *csr, crypto::validity_from_now(std::chrono::days(30), kStart));
    EXPECT_TRUE(cert) << cert.error().message;
    auto record = registry().register_certificate("alice", cert->pem(), status);
    EXPECT_TRUE(record) << record.error().message;
    EXPECT_EQ(record->id, certificate_id_of(*cert));
    return record->id;
  }

  // A thing with a certificate that has the device policy.
  std::string device(const std::string& thing) {
    EXPECT_TRUE(registry().create_thing("alice", thing_named(thing)));
    std::string id = certificate(thing);
    EXPECT_TRUE(registry().attach_certificate("alice", id, thing));
    EXPECT_TRUE(registry().attach_policy_to_certificate("alice", "device", id));
    return id;
  }

  AuthorizationDecision decide(const std::string& certificate_id, const std::string& client_id,
                               Action action, const std::string& resource) {
    auto decision = authorizer_->authorize({certificate_id, client_id}, {action, resource});
    EXPECT_TRUE(decision) << decision.error().message;
    return decision.value_or(AuthorizationDecision{false, "error", std::nullopt});
  }
  bool allowed(const std::string& certificate_id, const std::string& client_id, Action action,
               const std::string& resource) {
    return decide(certificate_id, client_id, action, resource).allowed;
  }

  std::optional<CertificateAuthority> ca_;
  std::string ca_id_;
  std::optional<DeviceAuthorizer> authorizer_;
};

TEST_F(AuthorizationTest, ADeviceReachesOnlyItsOwnTopics) {
  const std::string id = device("lamp-1");
  EXPECT_TRUE(allowed(id, "lamp-1", Action::connect, "lamp-1"));
  EXPECT_TRUE(allowed(id, "lamp-1", Action::publish, "$aws/things/lamp-1/jobs/$next/get"));
  EXPECT_TRUE(allowed(id, "lamp-1", Action::subscribe, "$aws/things/lamp-1/jobs/notify"));
  EXPECT_TRUE(allowed(id, "lamp-1", Action::receive, "$aws/things/lamp-1/jobs/notify"));

  EXPECT_FALSE(allowed(id, "lamp-1", Action::publish, "$aws/things/lamp-2/jobs/$next/get"));
  EXPECT_FALSE(allowed(id, "lamp-1", Action::subscribe, "$aws/things/+/jobs/notify"));
  EXPECT_FALSE(allowed(id, "lamp-1", Action::receive, "$aws/things/lamp-2/jobs/notify"));
  EXPECT_FALSE(allowed(id, "lamp-1", Action::retain_publish, "$aws/things/lamp-1/x"));
  auto refused = decide(id, "lamp-1", Action::publish, "$aws/things/lamp-2/x");
  EXPECT_EQ(refused.reason, "no policy allows iot:Publish on topic/$aws/things/lamp-2/x");
}

TEST_F(AuthorizationTest, TheThingVariablesComeFromTheThingNamedByTheClientId) {
  const std::string id = device("lamp-1");
  // Another client id: no thing of that name is attached, so the thing variables are unresolved.
  EXPECT_FALSE(allowed(id, "lamp-2", Action::connect, "lamp-2"));
  EXPECT_FALSE(allowed(id, "lamp-2", Action::publish, "$aws/things/lamp-2/x"));
  EXPECT_FALSE(allowed(id, "lamp-2", Action::publish, "$aws/things/lamp-1/x"));
}

TEST_F(AuthorizationTest, ThingAttributesTypeAndCertificateNamesAreVariables) {
  NewThing lamp = thing_named("lamp-1");
  lamp.thing_type = "bulb";
  lamp.attributes = {{"room", "hall"}};
  ASSERT_TRUE(registry().create_thing("alice", lamp));
  const std::string id = certificate("lamp-1");
  ASSERT_TRUE(registry().attach_certificate("alice", id, "lamp-1"));
  ASSERT_TRUE(registry().create_policy("alice", "rooms", R"({"Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "iot:Publish", "Resource": [
      "arn:aws:iot:*:*:topic/rooms/${iot:Connection.Thing.Attributes[room]}",
      "arn:aws:iot:*:*:topic/types/${iot:Connection.Thing.ThingTypeName}",
      "arn:aws:iot:*:*:topic/serials/${iot:Certificate.Subject.SerialNumber}",
      "arn:aws:iot:*:*:topic/issuers/${iot:Certificate.Issuer.CommonName}",
      "arn:aws:iot:*:*:topic/certificates/${iot:CertificateId}"]}]})"));
  ASSERT_TRUE(registry().attach_policy_to_certificate("alice", "rooms", id));

  EXPECT_TRUE(allowed(id, "lamp-1", Action::publish, "rooms/hall"));
  EXPECT_FALSE(allowed(id, "lamp-1", Action::publish, "rooms/kitchen"));
  EXPECT_TRUE(allowed(id, "lamp-1", Action::publish, "types/bulb"));
  EXPECT_TRUE(allowed(id, "lamp-1", Action::publish, "serials/SN-lamp-1"));
  EXPECT_TRUE(allowed(id, "lamp-1", Action::publish, "issuers/Acme Device CA"));
  EXPECT_TRUE(allowed(id, "lamp-1", Action::publish, "certificates/" + id));
  EXPECT_FALSE(allowed(id, "other", Action::publish, "rooms/hall"));  // no thing: unresolved
}

TEST_F(AuthorizationTest, PoliciesOfTheThingsGroupsApplyAndADenyWins) {
  ASSERT_TRUE(registry().create_thing("alice", thing_named("lamp-1")));
  const std::string id = certificate("lamp-1");
  ASSERT_TRUE(registry().attach_certificate("alice", id, "lamp-1"));
  EXPECT_FALSE(allowed(id, "lamp-1", Action::connect, "lamp-1"));  // no policy at all

  ASSERT_TRUE(registry().create_group("alice", NewThingGroup{"hall", "", std::nullopt}));
  ASSERT_TRUE(registry().add_to_group("alice", "hall", "lamp-1"));
  ASSERT_TRUE(registry().attach_policy_to_group("alice", "device", "hall"));
  EXPECT_TRUE(allowed(id, "lamp-1", Action::connect, "lamp-1"));

  ASSERT_TRUE(registry().create_policy("alice", "quarantine", R"({"Version": "2012-10-17",
    "Statement": {"Sid": "NoConnect", "Effect": "Deny", "Action": "iot:Connect",
                  "Resource": "*"}})"));
  ASSERT_TRUE(registry().attach_policy_to_certificate("alice", "quarantine", id));
  auto denied = decide(id, "lamp-1", Action::connect, "lamp-1");
  EXPECT_FALSE(denied.allowed);
  EXPECT_NE(denied.reason.find("quarantine"), std::string::npos) << denied.reason;
}

TEST_F(AuthorizationTest, AnUnknownCertificateCanDoNothing) {
  device("lamp-1");
  const std::string unknown(64, 'a');
  auto decision = decide(unknown, "lamp-1", Action::connect, "lamp-1");
  EXPECT_FALSE(decision.allowed);
  EXPECT_EQ(decision.reason, "refused iot:Connect: certificate aaaaaaaaaaaa... is not registered");
  EXPECT_FALSE(decision.just_in_time_ca_id);
  EXPECT_FALSE(allowed(unknown, "lamp-1", Action::publish, "$aws/things/lamp-1/x"));
  EXPECT_FALSE(allowed("not hex", "lamp-1", Action::connect, "lamp-1"));
}

TEST_F(AuthorizationTest, OnlyAnActiveCertificateMayActAndChangesApplyToTheNextRequest) {
  const std::string id = device("lamp-1");
  ASSERT_TRUE(allowed(id, "lamp-1", Action::connect, "lamp-1"));  // now cached

  ASSERT_TRUE(registry().set_certificate_status("alice", id, CertificateStatus::inactive));
  auto inactive = decide(id, "lamp-1", Action::publish, "$aws/things/lamp-1/x");
  EXPECT_FALSE(inactive.allowed);
  EXPECT_NE(inactive.reason.find("is INACTIVE"), std::string::npos) << inactive.reason;

  ASSERT_TRUE(registry().set_certificate_status("alice", id, CertificateStatus::active));
  EXPECT_TRUE(allowed(id, "lamp-1", Action::publish, "$aws/things/lamp-1/x"));

  ASSERT_TRUE(registry().set_certificate_status("alice", id, CertificateStatus::revoked));
  auto revoked = decide(id, "lamp-1", Action::connect, "lamp-1");
  EXPECT_FALSE(revoked.allowed);
  EXPECT_NE(revoked.reason.find("is REVOKED"), std::string::npos) << revoked.reason;
}

TEST_F(AuthorizationTest, CommitsOfAnotherConnectionApplyAtOnce) {
  const std::string id = device("lamp-1");
  ASSERT_TRUE(allowed(id, "lamp-1", Action::publish, "$aws/things/lamp-1/x"));
  auto service = Registry::open(path());  // as the fleet service's own connection would
  ASSERT_TRUE(service) << service.error().message;

  auto refresh = authorizer_->refresh();
  ASSERT_TRUE(refresh);
  EXPECT_FALSE(*refresh);  // nothing changed since the last request

  ASSERT_TRUE(service->detach_policy_from_certificate("bob", "device", id));
  EXPECT_FALSE(allowed(id, "lamp-1", Action::publish, "$aws/things/lamp-1/x"));
  ASSERT_TRUE(service->attach_policy_to_certificate("bob", "device", id));
  EXPECT_TRUE(allowed(id, "lamp-1", Action::publish, "$aws/things/lamp-1/x"));
  ASSERT_TRUE(service->set_certificate_status("bob", id, CertificateStatus::revoked));
  refresh = authorizer_->refresh();
  ASSERT_TRUE(refresh);
  EXPECT_TRUE(*refresh);
  EXPECT_FALSE(allowed(id, "lamp-1", Action::connect, "lamp-1"));
}

TEST_F(AuthorizationTest, APendingCertificateIsEligibleForJustInTimeRegistrationOnlyIfItsCaAllows) {
  const std::string id = certificate("lamp-1", CertificateStatus::pending_activation);
  auto without = decide(id, "lamp-1", Action::connect, "lamp-1");
  EXPECT_FALSE(without.allowed);
  EXPECT_FALSE(without.just_in_time_ca_id);
  EXPECT_NE(without.reason.find("PENDING_ACTIVATION"), std::string::npos) << without.reason;

  ASSERT_TRUE(registry().set_ca_auto_registration("alice", ca_id_, true));
  auto with = decide(id, "lamp-1", Action::connect, "lamp-1");
  EXPECT_FALSE(with.allowed);
  ASSERT_TRUE(with.just_in_time_ca_id);
  EXPECT_EQ(*with.just_in_time_ca_id, ca_id_);
  EXPECT_NE(with.reason.find("eligible for just-in-time registration"), std::string::npos);

  ASSERT_TRUE(registry().set_ca_status("alice", ca_id_, CaStatus::inactive));
  EXPECT_FALSE(decide(id, "lamp-1", Action::connect, "lamp-1").just_in_time_ca_id);

  // An INACTIVE certificate is never eligible.
  ASSERT_TRUE(registry().set_ca_status("alice", ca_id_, CaStatus::active));
  ASSERT_TRUE(registry().set_certificate_status("alice", id, CertificateStatus::inactive));
  EXPECT_FALSE(decide(id, "lamp-1", Action::connect, "lamp-1").just_in_time_ca_id);
}

TEST_F(AuthorizationTest, APolicyThatCannotBeParsedRefusesEverything) {
  const std::string id = device("lamp-1");
  // Valid JSON, stored by the registry, but not a policy ironroot can evaluate: its Deny could
  // not be honoured, so nothing is allowed.
  ASSERT_TRUE(registry().create_policy("alice", "conditional", R"({"Version": "2012-10-17",
    "Statement": {"Effect": "Deny", "Action": "iot:Publish", "Resource": "*",
                  "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "false"}}}})"));
  ASSERT_TRUE(registry().attach_policy_to_certificate("alice", "conditional", id));
  auto decision = decide(id, "lamp-1", Action::connect, "lamp-1");
  EXPECT_FALSE(decision.allowed);
  EXPECT_NE(decision.reason.find("policy 'conditional' cannot be used"), std::string::npos)
      << decision.reason;
}

TEST_F(AuthorizationTest, TheCertificateIdIsTheSha256OfTheDer) {
  EXPECT_EQ(certificate_id_of(ca_->certificate()),
            to_hex(crypto::sha256(ca_->certificate().der())));
  EXPECT_EQ(ca_id_.size(), 64u);
}

}  // namespace
}  // namespace ironroot::fleet::testing
