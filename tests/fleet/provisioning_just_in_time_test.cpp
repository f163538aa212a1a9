// Just-in-time provisioning (a CA with a template) and registration (a CA without one).
#include <gtest/gtest.h>

#include "provisioning_fixture.hpp"

namespace ironroot::fleet::testing {
namespace {

// AWS's just-in-time template shape: parameters from the certificate subject.
constexpr std::string_view kJitpTemplate = R"({
  "Parameters": {
    "AWS::IoT::Certificate::CommonName": {"Type": "String"},
    "AWS::IoT::Certificate::SerialNumber": {"Type": "String"},
    "AWS::IoT::Certificate::Id": {"Type": "String"}
  },
  "Resources": {
    "thing": {"Type": "AWS::IoT::Thing",
              "Properties": {"ThingName": {"Ref": "AWS::IoT::Certificate::CommonName"},
                             "AttributePayload": {
                               "serial": {"Ref": "AWS::IoT::Certificate::SerialNumber"}}}},
    "certificate": {"Type": "AWS::IoT::Certificate",
                    "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"},
                                   "Status": "ACTIVE"}},
    "policy": {"Type": "AWS::IoT::Policy",
               "Properties": {"PolicyDocument": "{ \"Version\": \"2012-10-17\", \"Statement\": [{ \"Effect\": \"Allow\", \"Action\": [\"iot:Connect\"], \"Resource\": [\"arn:aws:iot:us-east-1:123456789012:client/${iot:Connection.Thing.ThingName}\"] }] }"}}
  }
})";

class JustInTimeTest : public ProvisioningTest {
 protected:
  // A second device CA, registered ACTIVE with auto-registration and, optionally, a template.
  void SetUp() override {
    ProvisioningTest::SetUp();
    jit_ca_.emplace(make_device_ca("Acme Factory CA"));
  }

  void register_jit_ca(std::optional<std::string> template_name, bool auto_registration = true) {
    auto ca = registry().register_ca("alice", NewCa{jit_ca_->certificate().pem(), CaStatus::active,
                                                    std::move(template_name), auto_registration});
    ASSERT_TRUE(ca) << ca.error().message;
    jit_ca_id_ = ca->id;
  }

  crypto::Certificate factory_certificate(const std::string& cn, const std::string& serial) {
    return device_certificate(cn, serial, &*jit_ca_);
  }

  std::optional<crypto::CertificateAuthority> jit_ca_;
  std::string jit_ca_id_;
};

TEST_F(JustInTimeTest, ProvisionsWithTheCasTemplate) {
  create_template("factory", std::string(kJitpTemplate));
  register_jit_ca("factory");
  const crypto::Certificate device = factory_certificate("meter-7", "SN-7");
  const std::string id = to_hex(device.fingerprint());
  const std::size_t before = audit().size();
  auto registered = service().register_just_in_time({device, jit_ca_->certificate()});
  ASSERT_TRUE(registered) << registered.error().message;
  ASSERT_TRUE(*registered);
  const protocol::CertificateRegisteredEvent& event = (*registered)->event;
  EXPECT_EQ(event.certificate_id, id);
  EXPECT_EQ(event.ca_certificate_id, jit_ca_id_);
  EXPECT_EQ(event.certificate_status, "ACTIVE");
  EXPECT_EQ(event.timestamp,
            std::chrono::duration_cast<std::chrono::milliseconds>(now_.time_since_epoch()).count());
  EXPECT_EQ((*registered)->thing_name, "meter-7");
  auto record = registry().describe_certificate(id);
  ASSERT_TRUE(record);
  EXPECT_EQ(record->status, CertificateStatus::active);
  EXPECT_EQ(record->ca_id, jit_ca_id_);
  EXPECT_EQ(registry().describe_thing("meter-7")->attributes, (Attributes{{"serial", "SN-7"}}));
  EXPECT_EQ(*registry().things_of(id), (std::vector<std::string>{"meter-7"}));
  EXPECT_EQ(registry().policies_for(id)->size(), 1u);
  auto entries = audit();
  for (std::size_t i = before; i < entries.size(); ++i) {
    EXPECT_EQ(entries[i].actor, "provisioning:" + jit_ca_id_);
  }
  // Known and ACTIVE: nothing more to do.
  const RegistrySnapshot after = snapshot();
  auto again = service().register_just_in_time({device});
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_FALSE(*again);
  EXPECT_EQ(snapshot(), after);
}

TEST_F(JustInTimeTest, RegistersPendingActivationWithoutATemplate) {
  register_jit_ca(std::nullopt);
  const crypto::Certificate device = factory_certificate("meter-8", "");
  const std::string id = to_hex(device.fingerprint());
  auto registered = service().register_just_in_time({device});
  ASSERT_TRUE(registered) << registered.error().message;
  ASSERT_TRUE(*registered);
  EXPECT_EQ((*registered)->event.certificate_status, "PENDING_ACTIVATION");
  EXPECT_EQ((*registered)->event.ca_certificate_id, jit_ca_id_);
  EXPECT_FALSE((*registered)->thing_name);
  EXPECT_EQ(registry().describe_certificate(id)->status, CertificateStatus::pending_activation);
  EXPECT_FALSE(registry().describe_thing("meter-8"));
  // Still pending on the next connection: the event again, and no change.
  const RegistrySnapshot after = snapshot();
  auto again = service().register_just_in_time({device});
  ASSERT_TRUE(again && *again);
  EXPECT_EQ((*again)->event.certificate_status, "PENDING_ACTIVATION");
  EXPECT_EQ(snapshot(), after);
  // Revoked: refused.
  ASSERT_TRUE(registry().set_certificate_status("alice", id, CertificateStatus::revoked));
  auto revoked = service().register_just_in_time({device});
  ASSERT_FALSE(revoked);
  EXPECT_NE(revoked.error().message.find("REVOKED"), std::string::npos);
}

TEST_F(JustInTimeTest, RefusalsChangeNothing) {
  create_template("needs-org", R"({
    "Parameters": {"AWS::IoT::Certificate::Organization": {"Type": "String"}},
    "Resources": {
      "thing": {"Type": "AWS::IoT::Thing",
                "Properties": {"ThingName": {"Ref": "AWS::IoT::Certificate::Organization"}}},
      "certificate": {"Type": "AWS::IoT::Certificate",
                      "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}}}}})");
  const crypto::Certificate device = factory_certificate("meter-9", "SN-9");
  RegistrySnapshot before = snapshot();
  // The CA is not registered.
  EXPECT_FALSE(service().register_just_in_time({device}));
  EXPECT_EQ(snapshot(), before);
  // Registered without auto-registration.
  register_jit_ca(std::nullopt, /*auto_registration=*/false);
  before = snapshot();
  auto refused = service().register_just_in_time({device});
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("auto-registration"), std::string::npos);
  EXPECT_EQ(snapshot(), before);
  // Inactive.
  ASSERT_TRUE(registry().set_ca_auto_registration("alice", jit_ca_id_, true));
  ASSERT_TRUE(registry().set_ca_status("alice", jit_ca_id_, CaStatus::inactive));
  before = snapshot();
  EXPECT_FALSE(service().register_just_in_time({device}));
  EXPECT_EQ(snapshot(), before);
  // A template the certificate cannot satisfy (the device CA keeps only CN and serialNumber).
  ASSERT_TRUE(registry().set_ca_status("alice", jit_ca_id_, CaStatus::active));
  ASSERT_TRUE(registry().set_ca_template("alice", jit_ca_id_, "needs-org"));
  before = snapshot();
  auto unsatisfied = service().register_just_in_time({device});
  ASSERT_FALSE(unsatisfied);
  EXPECT_NE(unsatisfied.error().message.find("Organization"), std::string::npos)
      << unsatisfied.error().message;
  EXPECT_EQ(snapshot(), before);
  // Outside its validity period.
  ASSERT_TRUE(registry().set_ca_template("alice", jit_ca_id_, std::nullopt));
  now_ += std::chrono::days(31);
  before = snapshot();
  EXPECT_FALSE(service().register_just_in_time({device}));
  EXPECT_EQ(snapshot(), before);
}

TEST(CertificateParameters, ReadTheSubject) {
  auto root = crypto::CertificateAuthority::create_root(
      {"Acme, Inc. Root", "42", "Acme"}, new_private_key(),
      crypto::validity_from_now(std::chrono::days(10), kStart));
  ASSERT_TRUE(root) << root.error().message;
  const TemplateParameters parameters = certificate_parameters(root->certificate());
  EXPECT_EQ(parameters.at("AWS::IoT::Certificate::CommonName"), "Acme, Inc. Root");
  EXPECT_EQ(parameters.at("AWS::IoT::Certificate::SerialNumber"), "42");
  EXPECT_EQ(parameters.at("AWS::IoT::Certificate::Organization"), "Acme");
  EXPECT_EQ(parameters.at("AWS::IoT::Certificate::Id"), to_hex(root->certificate().fingerprint()));
  EXPECT_FALSE(parameters.count("AWS::IoT::Certificate::Country"));
}

}  // namespace
}  // namespace ironroot::fleet::testing
