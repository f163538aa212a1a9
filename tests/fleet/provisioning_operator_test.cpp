// Operator (bulk) provisioning: ProvisioningService::provision_by_operator over a real registry
// and CA. Idempotent by (thing, public key); one transaction; refusals change nothing.
#include <gtest/gtest.h>

#include "provisioning_fixture.hpp"

namespace ironroot::fleet::testing {
namespace {

namespace errors = protocol::provisioning_errors;

constexpr std::string_view kPolicy =
    R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]})";

// The thing named by ThingName, a Color attribute (default red), the policy `policy`.
std::string device_template(
    const std::string& policy = "device-policy",
    const std::string& thing_name = R"({"Ref": "ThingName"})",
    const std::string& certificate_id = R"({"Ref": "AWS::IoT::Certificate::Id"})") {
  return R"({"Parameters": {"ThingName": {"Type": "String"},
                            "Color": {"Type": "String", "Default": "red"}},
     "Resources": {
       "thing": {"Type": "AWS::IoT::Thing",
                 "Properties": {"ThingName": )" +
         thing_name + R"(, "AttributePayload": {"color": {"Ref": "Color"}}}},
       "certificate": {"Type": "AWS::IoT::Certificate",
                       "Properties": {"CertificateId": )" +
         certificate_id + R"(, "Status": "ACTIVE"}},
       "policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": ")" +
         policy + R"("}}}})";
}

class OperatorProvisioningTest : public ProvisioningTest {
 protected:
  void SetUp() override {
    ProvisioningTest::SetUp();
    ASSERT_TRUE(registry().create_policy("alice", "device-policy", kPolicy));
    create_template("factory", device_template());
  }

  // A CSR for `cn` from `key`.
  static crypto::CertificateRequest csr_for(const std::string& cn, crypto::PrivateKey& key) {
    auto csr = crypto::CertificateRequest::create({cn, "", ""}, key);
    EXPECT_TRUE(csr) << csr.error().message;
    return *csr;
  }

  ProvisioningResult<OperatorProvisioning> provision(const TemplateParameters& parameters,
                                                     crypto::PrivateKey& key,
                                                     const std::string& template_name = "factory",
                                                     const std::string& cn = "sensor-1") {
    return service().provision_by_operator("ops", template_name, parameters, csr_for(cn, key));
  }

  std::size_t certificate_count() {
    return registry().list_certificates({}, {kMaxPageLimit, ""})->items.size();
  }

  std::unique_ptr<crypto::PrivateKey> key_ = new_private_key();
};

TEST_F(OperatorProvisioningTest, CreatesTheThingAndItsActiveCertificateAuditedAsTheOperator) {
  const std::size_t before = audit().size();
  auto done = provision({{"ThingName", "sensor-1"}, {"Color", "blue"}}, *key_);
  ASSERT_TRUE(done) << done.error().error_message;
  EXPECT_TRUE(done->created);
  EXPECT_EQ(done->thing_name, "sensor-1");
  EXPECT_EQ(done->certificate_status, CertificateStatus::active);
  auto certificate = crypto::Certificate::from_pem(as_bytes(done->certificate_pem));
  ASSERT_TRUE(certificate);
  EXPECT_EQ(done->certificate_id, to_hex(certificate->fingerprint()));
  EXPECT_TRUE(certificate->verify_signature(*device_ca_->certificate().public_key()));
  EXPECT_EQ(certificate->public_key()->der(), key_->public_key().der());
  EXPECT_EQ(certificate->subject_name()->common_name, "sensor-1");

  auto record = registry().describe_certificate(done->certificate_id);
  ASSERT_TRUE(record);
  EXPECT_EQ(record->status, CertificateStatus::active);
  EXPECT_EQ(record->ca_id, device_ca_id_);
  EXPECT_EQ(*registry().things_of(done->certificate_id), (std::vector<std::string>{"sensor-1"}));
  EXPECT_EQ(registry().describe_thing("sensor-1")->attributes, (Attributes{{"color", "blue"}}));
  auto policies = registry().policies_for(done->certificate_id);
  ASSERT_TRUE(policies);
  ASSERT_EQ(policies->size(), 1u);
  EXPECT_EQ(policies->front().name, "device-policy");
  // No ownership token is involved, and every change is the operator's.
  auto entries = audit();
  ASSERT_GT(entries.size(), before);
  for (std::size_t i = before; i < entries.size(); ++i) {
    EXPECT_EQ(entries[i].actor, "ops") << entries[i].action;
  }
}

TEST_F(OperatorProvisioningTest, RunningItAgainReturnsTheSameCertificateAndChangesNothing) {
  auto first = provision({{"ThingName", "sensor-1"}}, *key_);
  ASSERT_TRUE(first) << first.error().error_message;
  const RegistrySnapshot after_first = snapshot();
  // A new CSR from the same key (as a re-run of the CLI makes one), even with other parameters.
  now_ += 1h;
  auto again = provision({{"ThingName", "sensor-1"}, {"Color", "green"}}, *key_);
  ASSERT_TRUE(again) << again.error().error_message;
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->certificate_id, first->certificate_id);
  EXPECT_EQ(again->certificate_pem, first->certificate_pem);
  EXPECT_EQ(again->thing_name, "sensor-1");
  EXPECT_EQ(snapshot(), after_first);
}

TEST_F(OperatorProvisioningTest, AnInactiveCertificateIsReturnedAsItIs) {
  auto first = provision({{"ThingName", "sensor-1"}}, *key_);
  ASSERT_TRUE(first);
  ASSERT_TRUE(registry().set_certificate_status("alice", first->certificate_id,
                                                CertificateStatus::inactive));
  const RegistrySnapshot before = snapshot();
  auto again = provision({{"ThingName", "sensor-1"}}, *key_);
  ASSERT_TRUE(again) << again.error().error_message;
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->certificate_id, first->certificate_id);
  EXPECT_EQ(again->certificate_status, CertificateStatus::inactive);
  EXPECT_EQ(snapshot(), before);
}

TEST_F(OperatorProvisioningTest, ANewKeyForAnExistingThingGetsASecondCertificate) {
  auto first = provision({{"ThingName", "sensor-1"}}, *key_);
  ASSERT_TRUE(first);
  auto other_key = new_private_key();
  auto second = provision({{"ThingName", "sensor-1"}}, *other_key);
  ASSERT_TRUE(second) << second.error().error_message;
  EXPECT_TRUE(second->created);
  EXPECT_NE(second->certificate_id, first->certificate_id);
  auto attached = registry().certificates_of("sensor-1");
  ASSERT_TRUE(attached);
  EXPECT_EQ(attached->size(), 2u);
  EXPECT_EQ(registry().describe_certificate(first->certificate_id)->status,
            CertificateStatus::active);
  EXPECT_EQ(registry().list_things({kMaxPageLimit, ""})->items.size(), 1u);
}

TEST_F(OperatorProvisioningTest, ARevokedCertificateIsNeverReturned) {
  auto first = provision({{"ThingName", "sensor-1"}}, *key_);
  ASSERT_TRUE(first);
  ASSERT_TRUE(registry().set_certificate_status("alice", first->certificate_id,
                                                CertificateStatus::revoked));
  auto again = provision({{"ThingName", "sensor-1"}}, *key_);
  ASSERT_TRUE(again) << again.error().error_message;
  EXPECT_TRUE(again->created);
  EXPECT_NE(again->certificate_id, first->certificate_id);
  EXPECT_EQ(again->certificate_status, CertificateStatus::active);
}

TEST_F(OperatorProvisioningTest, ThePreProvisioningHookIsNotCalled) {
  // A hook that would deny every device: the operator is the authority here.
  create_template("hooked", device_template(), "command:/bin/false");
  auto done = provision({{"ThingName", "sensor-1"}}, *key_, "hooked");
  ASSERT_TRUE(done) << done.error().error_message;
  EXPECT_TRUE(done->created);
}

TEST_F(OperatorProvisioningTest, AThingNamedByItsCertificateIdCannotBeIdempotent) {
  create_template("by-id",
                  device_template("device-policy", R"({"Ref": "AWS::IoT::Certificate::Id"})"));
  // ThingName is declared (without a Default) and unused by this template.
  auto first = provision({{"ThingName", "unused"}}, *key_, "by-id");
  ASSERT_TRUE(first) << first.error().error_message;
  EXPECT_EQ(first->thing_name, first->certificate_id);
  auto second = provision({{"ThingName", "unused"}}, *key_, "by-id");
  ASSERT_TRUE(second) << second.error().error_message;
  EXPECT_TRUE(second->created);
  EXPECT_NE(second->thing_name, first->thing_name);
}

TEST_F(OperatorProvisioningTest, RefusalsChangeNothingAndLeaveNoCertificate) {
  create_template("disabled", device_template(), std::nullopt, /*enabled=*/false);
  create_template("no-such-policy", device_template("missing-policy"));
  create_template("literal-id", device_template("device-policy", R"({"Ref": "ThingName"})",
                                                "\"" + std::string(64, 'c') + "\""));
  const RegistrySnapshot before = snapshot();
  const std::size_t certificates = certificate_count();

  EXPECT_REJECTED(provision({{"ThingName", "sensor-1"}}, *key_, "nope"), errors::kResourceNotFound);
  EXPECT_REJECTED(provision({{"ThingName", "sensor-1"}}, *key_, "disabled"),
                  errors::kResourceNotFound);
  // A CN that cannot be a thing name.
  EXPECT_REJECTED(provision({{"ThingName", "sensor-1"}}, *key_, "factory", "a/b"),
                  errors::kInvalidPayload);
  // ThingName has no default.
  auto missing = provision({{"Color", "red"}}, *key_);
  EXPECT_REJECTED(missing, errors::kInvalidPayload);
  EXPECT_NE(missing.error().error_message.find("ThingName"), std::string::npos)
      << missing.error().error_message;
  EXPECT_REJECTED(provision({{"ThingName", "a b"}}, *key_), errors::kInvalidPayload);
  EXPECT_REJECTED(provision({{"ThingName", "sensor-1"}, {"AWS::IoT::Certificate::Id", "x"}}, *key_),
                  errors::kInvalidPayload);
  EXPECT_REJECTED(provision({{"ThingName", "sensor-1"}}, *key_, "literal-id"),
                  errors::kInvalidPayload);
  // The certificate is issued before the transaction that refuses the unknown policy: it is
  // thrown away, never stored without its thing.
  EXPECT_REJECTED(provision({{"ThingName", "sensor-1"}}, *key_, "no-such-policy"),
                  errors::kInvalidPayload);
  // The device CA deactivated by an operator issues nothing.
  ASSERT_TRUE(registry().set_ca_status("alice", device_ca_id_, CaStatus::inactive));
  const RegistrySnapshot inactive = snapshot();
  EXPECT_REJECTED(provision({{"ThingName", "sensor-1"}}, *key_), errors::kInternalError);
  EXPECT_EQ(snapshot(), inactive);
  ASSERT_TRUE(registry().set_ca_status("alice", device_ca_id_, CaStatus::active));

  RegistrySnapshot after = snapshot();
  EXPECT_EQ(after.things, before.things);
  EXPECT_EQ(after.certificates, before.certificates);
  EXPECT_EQ(after.policies, before.policies);
  EXPECT_EQ(certificate_count(), certificates);
}

}  // namespace
}  // namespace ironroot::fleet::testing
