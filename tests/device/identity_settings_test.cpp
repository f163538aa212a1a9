// identity.json: its optional claim provisioning settings, and the files written before they
// existed.
#include <gtest/gtest.h>

#include "ironroot/device/identity.hpp"

namespace ironroot::device {
namespace {

using nlohmann::json;

// An identity.json as devices made before claim provisioning have it.
json old_identity() {
  return json::parse(R"({"format_version": 1, "thing_name": "sensor-7", "serial": "SN-7",
    "secure_element": {"module": "/usr/lib/softhsm/libsofthsm2.so", "token": "ironroot-device",
                       "pin_file": "secure-element/pin"},
    "broker": {"host": "127.0.0.1", "port": 8883, "server_name": "127.0.0.1"}})");
}

bool mentions(const Error& error, const std::string& part) {
  return error.message.find(part) != std::string::npos;
}

TEST(IdentitySettings, OldFilesStillReadAndHaveNoClaimProvisioning) {
  auto settings = identity_settings_from_json(old_identity());
  ASSERT_TRUE(settings) << settings.error().message;
  EXPECT_FALSE(settings->claim_provisioning);
  EXPECT_FALSE(to_json(*settings).contains("claim_provisioning"));
}

TEST(IdentitySettings, ClaimProvisioningRoundTrips) {
  json doc = old_identity();
  doc["claim_provisioning"] = {{"template", "AcmeFleet"},
                               {"parameters", {{"ThingName", "sensor-7"}, {"Site", "Lyon 2"}}}};
  auto settings = identity_settings_from_json(doc);
  ASSERT_TRUE(settings) << settings.error().message;
  ASSERT_TRUE(settings->claim_provisioning);
  EXPECT_EQ(settings->claim_provisioning->template_name, "AcmeFleet");
  EXPECT_EQ(settings->claim_provisioning->parameters.at("Site"), "Lyon 2");
  EXPECT_EQ(to_json(*settings), doc);

  doc["claim_provisioning"].erase("parameters");  // parameters are optional
  settings = identity_settings_from_json(doc);
  ASSERT_TRUE(settings) << settings.error().message;
  EXPECT_TRUE(settings->claim_provisioning->parameters.empty());
}

TEST(IdentitySettings, BadClaimProvisioningIsRefusedNamingTheField) {
  json doc = old_identity();
  doc["claim_provisioning"] = {{"template", "no/slash"}};
  auto settings = identity_settings_from_json(doc);
  ASSERT_FALSE(settings);
  EXPECT_TRUE(mentions(settings.error(), "template name 'no/slash'")) << settings.error().message;

  doc["claim_provisioning"] = {{"template", "AcmeFleet"}, {"parameters", {{"Site", 7}}}};
  settings = identity_settings_from_json(doc);
  ASSERT_FALSE(settings);
  EXPECT_TRUE(mentions(settings.error(), "claim_provisioning.parameters"))
      << settings.error().message;

  doc["claim_provisioning"] = {{"template", "AcmeFleet"}, {"parameters", {{"Site", "a\nb"}}}};
  settings = identity_settings_from_json(doc);
  ASSERT_FALSE(settings);
  EXPECT_TRUE(mentions(settings.error(), "control character")) << settings.error().message;

  doc["claim_provisioning"] = "AcmeFleet";
  settings = identity_settings_from_json(doc);
  ASSERT_FALSE(settings);
  EXPECT_TRUE(mentions(settings.error(), "claim_provisioning must be an object"));

  json many = json::object();
  for (std::size_t i = 0; i <= kMaxTemplateParameters; ++i) many["p" + std::to_string(i)] = "v";
  doc["claim_provisioning"] = {{"template", "AcmeFleet"}, {"parameters", many}};
  settings = identity_settings_from_json(doc);
  ASSERT_FALSE(settings);
  EXPECT_TRUE(mentions(settings.error(), "more than 64 parameters")) << settings.error().message;
}

TEST(IdentitySettings, ParameterLimits) {
  ClaimProvisioning ok{"AcmeFleet", {{"ThingName", "sensor-7"}}};
  EXPECT_TRUE(check_claim_provisioning(ok));
  ClaimProvisioning spaced{"AcmeFleet", {{"Thing Name", "x"}}};
  EXPECT_FALSE(check_claim_provisioning(spaced));
  ClaimProvisioning long_value{"AcmeFleet",
                               {{"Site", std::string(kMaxTemplateParameterValueLength + 1, 'x')}}};
  EXPECT_FALSE(check_claim_provisioning(long_value));
  ClaimProvisioning long_name{"AcmeFleet",
                              {{std::string(kMaxTemplateParameterNameLength + 1, 'x'), "v"}}};
  EXPECT_FALSE(check_claim_provisioning(long_name));
  EXPECT_FALSE(check_claim_provisioning({"", {}}));
}

}  // namespace
}  // namespace ironroot::device
