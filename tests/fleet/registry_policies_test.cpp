// Policies (documents, attachments, what a certificate gets) and provisioning templates.
#include <gtest/gtest.h>

#include "ironroot/crypto/certificate_authority.hpp"
#include "ironroot/fleet/names.hpp"
#include "registry_fixture.hpp"

namespace ironroot::fleet::testing {
namespace {

using Code = RegistryErrorCode;

constexpr std::string_view kConnect = R"({
  "Version": "2012-10-17",
  "Statement": [{"Effect": "Allow", "Action": "iot:Connect",
                 "Resource": "arn:aws:iot:*:*:client/${iot:Connection.Thing.ThingName}"}]
})";
constexpr std::string_view kPublish =
    R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Publish","Resource":"*"}]})";

// A real device certificate for `thing`, from a throw-away root CA.
std::string device_certificate(const std::string& thing) {
  auto ca_key = std::make_unique<crypto::PrivateKey>(
      *crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256));
  auto ca = crypto::CertificateAuthority::create_root(
      {"Test CA", "", ""}, std::move(ca_key),
      crypto::validity_from_now(crypto::kDefaultCaValidity, kStart));
  EXPECT_TRUE(ca) << ca.error().message;
  auto key = *crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256);
  auto csr = crypto::CertificateRequest::create({thing, "", ""}, key);
  auto cert =
      ca->issue_device_certificate(*csr, crypto::validity_from_now(std::chrono::days(1), kStart));
  EXPECT_TRUE(cert) << cert.error().message;
  return cert->pem();
}

TEST_F(RegistryTest, PoliciesAreValidatedJsonObjectsWithVersions) {
  auto policy = registry().create_policy("alice", "device-connect", kConnect);
  ASSERT_TRUE(policy) << policy.error().message;
  EXPECT_EQ(policy->version, 1);
  EXPECT_EQ(registry().describe_policy("device-connect")->document, kConnect);
  EXPECT_REFUSED(registry().create_policy("alice", "device-connect", kPublish),
                 Code::already_exists);
  EXPECT_REFUSED(registry().create_policy("alice", "bad name", kPublish), Code::invalid);
  EXPECT_REFUSED(registry().create_policy("alice", std::string(129, 'p'), kPublish), Code::invalid);
  auto not_json = registry().create_policy("alice", "p", R"({"Version": )");
  EXPECT_REFUSED(not_json, Code::invalid);
  EXPECT_NE(not_json.error().message.find("not valid JSON"), std::string::npos);
  EXPECT_REFUSED(registry().create_policy("alice", "p", "[1, 2]"), Code::invalid);
  std::string big = R"({"k": ")" + std::string(kMaxPolicyDocumentLength, 'x') + R"("})";
  EXPECT_REFUSED(registry().create_policy("alice", "p", big), Code::invalid);
  std::string spacious = "{" + std::string(3000, ' ') + R"("k": 1})";  // whitespace is free
  EXPECT_TRUE(registry().create_policy("alice", "spacious", spacious));

  EXPECT_EQ(registry().update_policy("alice", "device-connect", kPublish, 1)->version, 2);
  EXPECT_REFUSED(registry().update_policy("alice", "device-connect", kConnect, 1), Code::conflict);
  EXPECT_REFUSED(registry().update_policy("alice", "device-connect", "nope"), Code::invalid);
  EXPECT_REFUSED(registry().update_policy("alice", "missing", kConnect), Code::not_found);
  EXPECT_EQ(registry().describe_policy("device-connect")->document, kPublish);
  EXPECT_EQ(registry().list_policies(Page{}).value().items.size(), 2u);
}

TEST_F(RegistryTest, PoliciesForACertificateIncludeTheirThingsGroups) {
  ASSERT_TRUE(registry().create_thing("alice", NewThing{"lamp-1", "lamp", {{"site", "hall"}}, {}}));
  auto cert = registry().register_certificate("alice", device_certificate("lamp-1"));
  ASSERT_TRUE(cert) << cert.error().message;
  ASSERT_TRUE(registry().attach_certificate("alice", cert->id, "lamp-1"));
  for (auto name : {"connect", "publish", "hall-extra", "unused"}) {
    ASSERT_TRUE(registry().create_policy("alice", name, kPublish));
  }
  ASSERT_TRUE(registry().create_group("alice", NewThingGroup{"lamps", "", "thingTypeName:lamp"}));
  ASSERT_TRUE(registry().create_group("alice", NewThingGroup{"hall", "", std::nullopt}));
  ASSERT_TRUE(registry().add_to_group("alice", "hall", "lamp-1"));

  ASSERT_TRUE(registry().attach_policy_to_certificate("alice", "connect", cert->id));
  ASSERT_TRUE(registry().attach_policy_to_group("alice", "publish", "lamps"));
  ASSERT_TRUE(registry().attach_policy_to_group("alice", "connect", "lamps"));  // twice: once
  ASSERT_TRUE(registry().attach_policy_to_group("alice", "hall-extra", "hall"));
  EXPECT_REFUSED(registry().attach_policy_to_group("alice", "publish", "lamps"),
                 Code::already_exists);
  EXPECT_REFUSED(registry().attach_policy_to_certificate("alice", "connect", cert->id),
                 Code::already_exists);
  EXPECT_REFUSED(registry().attach_policy_to_group("alice", "missing", "lamps"), Code::not_found);
  EXPECT_REFUSED(registry().attach_policy_to_group("alice", "publish", "missing"), Code::not_found);
  EXPECT_REFUSED(registry().attach_policy_to_certificate("alice", "connect", std::string(64, 'c')),
                 Code::not_found);

  auto names = [&] {
    std::vector<std::string> out;
    auto policies = registry().policies_for(cert->id);
    EXPECT_TRUE(policies) << policies.error().message;
    for (const Policy& p : *policies) out.push_back(p.name);
    return out;
  };
  EXPECT_EQ(names(), (std::vector<std::string>{"connect", "hall-extra", "publish"}));
  ThingUpdate retype;
  retype.thing_type = "gateway";  // leaves the dynamic group "lamps"
  ASSERT_TRUE(registry().update_thing("alice", "lamp-1", retype));
  EXPECT_EQ(names(), (std::vector<std::string>{"connect", "hall-extra"}));
  ASSERT_TRUE(registry().detach_policy_from_certificate("alice", "connect", cert->id));
  EXPECT_EQ(names(), (std::vector<std::string>{"hall-extra"}));
  EXPECT_REFUSED(registry().detach_policy_from_certificate("alice", "connect", cert->id),
                 Code::not_found);
  EXPECT_REFUSED(registry().policies_for(std::string(64, 'c')), Code::not_found);
}

TEST_F(RegistryTest, AttachedPoliciesCannotBeDeleted) {
  ASSERT_TRUE(registry().create_policy("alice", "p", kPublish));
  ASSERT_TRUE(registry().create_group("alice", NewThingGroup{"g", "", std::nullopt}));
  ASSERT_TRUE(registry().attach_policy_to_group("alice", "p", "g"));
  auto refused = registry().delete_policy("alice", "p");
  EXPECT_REFUSED(refused, Code::conflict);
  EXPECT_NE(refused.error().message.find("1 thing group(s)"), std::string::npos);
  EXPECT_TRUE(registry().describe_policy("p"));
  ASSERT_TRUE(registry().detach_policy_from_group("alice", "p", "g"));
  EXPECT_REFUSED(registry().detach_policy_from_group("alice", "p", "g"), Code::not_found);
  ASSERT_TRUE(registry().delete_policy("alice", "p"));
  EXPECT_REFUSED(registry().describe_policy("p"), Code::not_found);
  EXPECT_REFUSED(registry().delete_policy("alice", "p"), Code::not_found);
}

TEST_F(RegistryTest, ProvisioningTemplatesLifecycle) {
  NewProvisioningTemplate spec{
      "fleet-claim", "Claim certificates for lamps",
      R"({"Parameters":{"SerialNumber":{"Type":"String"}},"Resources":{}})", true,
      "https://hooks.example/check"};
  auto created = registry().create_template("alice", spec);
  ASSERT_TRUE(created) << created.error().message;
  EXPECT_EQ(created->version, 1);
  EXPECT_EQ(*registry().describe_template("fleet-claim"), *created);
  EXPECT_REFUSED(registry().create_template("alice", spec), Code::already_exists);
  auto bad = spec;
  bad.name = std::string(37, 't');
  EXPECT_REFUSED(registry().create_template("alice", bad), Code::invalid);
  bad = spec;
  bad.name = "t";
  bad.body = "[]";
  EXPECT_REFUSED(registry().create_template("alice", bad), Code::invalid);
  bad.body = "{}";
  bad.description = std::string(kMaxTemplateDescriptionLength + 1, 'd');
  EXPECT_REFUSED(registry().create_template("alice", bad), Code::invalid);
  bad.description = "";
  bad.pre_provisioning_hook = "";
  EXPECT_REFUSED(registry().create_template("alice", bad), Code::invalid);

  now_ += 5min;
  ProvisioningTemplateUpdate update;
  update.enabled = false;
  update.remove_pre_provisioning_hook = true;
  update.expected_version = 1;
  auto updated = registry().update_template("bob", "fleet-claim", update);
  ASSERT_TRUE(updated) << updated.error().message;
  EXPECT_FALSE(updated->enabled);
  EXPECT_FALSE(updated->pre_provisioning_hook);
  EXPECT_EQ(updated->version, 2);
  EXPECT_EQ(updated->updated_at, kStart + 5min);
  EXPECT_EQ(updated->body, spec.body);
  EXPECT_REFUSED(registry().update_template("bob", "fleet-claim", update), Code::conflict);
  ProvisioningTemplateUpdate bad_body;
  bad_body.body = "{";
  EXPECT_REFUSED(registry().update_template("bob", "fleet-claim", bad_body), Code::invalid);
  EXPECT_REFUSED(registry().update_template("bob", "missing", ProvisioningTemplateUpdate{}),
                 Code::not_found);
  EXPECT_EQ(registry().list_templates(Page{}).value().items.size(), 1u);
  ASSERT_TRUE(registry().delete_template("bob", "fleet-claim"));
  EXPECT_REFUSED(registry().describe_template("fleet-claim"), Code::not_found);
}

}  // namespace
}  // namespace ironroot::fleet::testing
