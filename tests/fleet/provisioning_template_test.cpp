// Provisioning templates: structure checks, parameters and intrinsic functions.
#include "ironroot/fleet/provisioning_template.hpp"

#include <gtest/gtest.h>

#include "ironroot/crypto/digest.hpp"

namespace ironroot::fleet::testing {
namespace {

const std::string kCertificateId(64, 'c');

// A template with the given Parameters, thing Properties and extra top-level sections.
std::string make_template(const std::string& parameters, const std::string& thing,
                          const std::string& extra = "") {
  return R"({"Parameters": )" + parameters + R"(, "Resources": {
      "thing": {"Type": "AWS::IoT::Thing", "Properties": )" +
         thing + R"(},
      "certificate": {"Type": "AWS::IoT::Certificate",
                      "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}}}})" +
         extra + "}";
}

Result<TemplateOutcome> apply_template(const std::string& body, TemplateParameters parameters) {
  auto parsed = ProvisioningTemplateBody::parse(body);
  if (!parsed) return tl::unexpected(parsed.error());
  parameters.emplace(kCertificateIdParameter, kCertificateId);
  return parsed->apply(parameters);
}

std::string thing_name_of(const std::string& expression, TemplateParameters parameters = {},
                          const std::string& extra = "") {
  auto outcome = apply_template(make_template(R"({"P": {"Type": "String", "Default": "a,b,c"}})",
                                              R"({"ThingName": )" + expression + "}", extra),
                                std::move(parameters));
  if (!outcome) return "error: " + outcome.error().message;
  return outcome->plan.thing.name;
}

TEST(ProvisioningTemplate, RefTakesTheGivenValueOrTheDefault) {
  EXPECT_EQ(thing_name_of(R"({"Ref": "P"})"), "a,b,c");
  EXPECT_EQ(thing_name_of(R"({"Ref": "P"})", {{"P", "given"}}), "given");
}

TEST(ProvisioningTemplate, JoinSplitAndSelect) {
  EXPECT_EQ(thing_name_of(R"({"Fn::Join": ["-", ["lamp", {"Ref": "P"}]]})", {{"P", "7"}}),
            "lamp-7");
  EXPECT_EQ(thing_name_of(R"({"Fn::Join": ["_", {"Fn::Split": [",", {"Ref": "P"}]}]})"), "a_b_c");
  EXPECT_EQ(thing_name_of(R"({"Fn::Select": [1, {"Fn::Split": [",", {"Ref": "P"}]}]})"), "b");
  EXPECT_EQ(thing_name_of(R"({"Fn::Select": ["2", ["x", "y", "z"]]})"), "z");
  EXPECT_NE(thing_name_of(R"({"Fn::Select": [3, {"Fn::Split": [",", {"Ref": "P"}]}]})")
                .find("out of range"),
            std::string::npos);
}

TEST(ProvisioningTemplate, SubReplacesParametersAndVariables) {
  EXPECT_EQ(thing_name_of(R"({"Fn::Sub": "lamp-${P}"})", {{"P", "9"}}), "lamp-9");
  EXPECT_EQ(
      thing_name_of(R"({"Fn::Sub": ["${Prefix}-${P}", {"Prefix": {"Ref": "P"}}]})", {{"P", "x"}}),
      "x-x");
  // ${!Literal} gives the literal text, here checked through an attribute (a thing name cannot
  // hold '$').
  auto outcome = apply_template(make_template("{}", R"({"ThingName": "t",
      "AttributePayload": {"a": {"Fn::Sub": "${!Literal}"}}})"),
                                {});
  ASSERT_TRUE(outcome) << outcome.error().message;
  EXPECT_EQ(outcome->plan.thing.attributes->at("a"), "${Literal}");
  EXPECT_NE(thing_name_of(R"({"Fn::Sub": "lamp-${Missing}"})").find("'Missing'"),
            std::string::npos);
  EXPECT_NE(thing_name_of(R"({"Fn::Sub": "lamp-${P"})").find("closing"), std::string::npos);
}

TEST(ProvisioningTemplate, FindInMapReadsMappings) {
  const std::string mappings = R"(, "Mappings": {"Sites": {"a,b,c": {"Name": "site-abc"}}})";
  EXPECT_EQ(thing_name_of(R"({"Fn::FindInMap": ["Sites", {"Ref": "P"}, "Name"]})", {}, mappings),
            "site-abc");
  EXPECT_NE(thing_name_of(R"({"Fn::FindInMap": ["Sites", "nowhere", "Name"]})", {}, mappings)
                .find("'nowhere' is missing"),
            std::string::npos);
}

TEST(ProvisioningTemplate, ParametersMustBeDeclaredAndGiven) {
  EXPECT_NE(thing_name_of(R"({"Ref": "Undeclared"})", {{"Undeclared", "x"}})
                .find("not a declared parameter"),
            std::string::npos);
  auto outcome = apply_template(
      make_template(R"({"Needed": {"Type": "String"}})", R"({"ThingName": "t"})"), {});
  ASSERT_FALSE(outcome);
  EXPECT_NE(outcome.error().message.find("'Needed' is required"), std::string::npos);
  // A declared pseudo-parameter (as AWS's SDK samples declare AWS::IoT::Certificate::Id) takes
  // the value the service supplies, not one from the device.
  auto pseudo = apply_template(make_template(R"({"AWS::IoT::Certificate::Id": {"Type": "String"}})",
                                             R"({"ThingName": "t"})"),
                               {});
  ASSERT_TRUE(pseudo) << pseudo.error().message;
  EXPECT_EQ(pseudo->plan.certificate_id, kCertificateId);
}

TEST(ProvisioningTemplate, ThingPropertiesAndOverrides) {
  auto outcome = apply_template(
      R"({"Parameters": {"Serial": {"Type": "String"}},
          "Resources": {
            "thing": {"Type": "AWS::IoT::Thing",
                      "Properties": {"ThingName": {"Ref": "Serial"},
                                     "AttributePayload": {"serial": {"Ref": "Serial"}, "v": "1"},
                                     "ThingTypeName": "lamp",
                                     "ThingGroups": ["a", "b"]},
                      "OverrideSettings": {"AttributePayload": "MERGE", "ThingTypeName": "FAIL",
                                           "ThingGroups": "REPLACE"}},
            "certificate": {"Type": "AWS::IoT::Certificate",
                            "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"},
                                           "Status": "Inactive"},
                            "OverrideSettings": {"Status": "REPLACE"}},
            "byName": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": "connect"}}}})",
      {{"Serial", "SN-1"}});
  ASSERT_TRUE(outcome) << outcome.error().message;
  const ProvisioningPlan& plan = outcome->plan;
  EXPECT_EQ(plan.thing.name, "SN-1");
  EXPECT_EQ(*plan.thing.attributes, (Attributes{{"serial", "SN-1"}, {"v", "1"}}));
  EXPECT_EQ(plan.thing.attributes_override, OverrideAction::merge);
  EXPECT_EQ(plan.thing.thing_type, "lamp");
  EXPECT_EQ(plan.thing.thing_type_override, OverrideAction::fail);
  EXPECT_EQ(*plan.thing.groups, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(plan.thing.groups_override, OverrideAction::replace);
  EXPECT_EQ(plan.certificate_id, kCertificateId);
  EXPECT_EQ(plan.certificate_status, CertificateStatus::inactive);
  EXPECT_EQ(plan.status_override, OverrideAction::replace);
  EXPECT_EQ(plan.policies, (std::vector<PolicyProvisioning>{{"connect", std::nullopt}}));
}

TEST(ProvisioningTemplate, PolicyDocumentsAreNamedByTheirHash) {
  const std::string document =
      R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iot:Connect"],"Resource":["*"]}]})";
  for (const std::string& form : {document, nlohmann::json(document).dump()}) {
    auto outcome = apply_template(R"({"Resources": {
          "thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": "t"}},
          "certificate": {"Type": "AWS::IoT::Certificate",
                          "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}}},
          "policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": )" +
                                      form + "}}}}",
                                  {});
    ASSERT_TRUE(outcome) << outcome.error().message;
    ASSERT_EQ(outcome->plan.policies.size(), 1u);
    // Stored compact, keys in order, and named by the SHA-256 of that text.
    const std::string compact = nlohmann::json::parse(document).dump();
    EXPECT_EQ(outcome->plan.policies[0].document, compact);
    EXPECT_EQ(outcome->plan.policies[0].name, to_hex(crypto::sha256(as_bytes(compact))));
  }
}

TEST(ProvisioningTemplate, DeviceConfigurationIsStrings) {
  auto outcome = apply_template(
      make_template(R"({"Site": {"Type": "String", "Default": "north"}})", R"({"ThingName": "t"})",
                    R"(, "DeviceConfiguration": {"site": {"Ref": "Site"},
                                                               "url": "https://x"})"),
      {});
  ASSERT_TRUE(outcome) << outcome.error().message;
  EXPECT_EQ(outcome->device_configuration,
            (std::map<std::string, std::string>{{"site", "north"}, {"url", "https://x"}}));
  auto nested = apply_template(make_template("{}", R"({"ThingName": "t"})",
                                             R"(, "DeviceConfiguration": {"nested": {"a": "b"}})"),
                               {});
  ASSERT_FALSE(nested);
  EXPECT_NE(nested.error().message.find("DeviceConfiguration.nested"), std::string::npos);
}

TEST(ProvisioningTemplate, RefusesMalformedTemplatesSayingWhere) {
  auto refused = [](const std::string& body, const std::string& expected) {
    auto parsed = ProvisioningTemplateBody::parse(body);
    ASSERT_FALSE(parsed) << body;
    EXPECT_NE(parsed.error().message.find(expected), std::string::npos) << parsed.error().message;
  };
  refused("not json", "template");
  refused(R"({"Resources": {}, "Outputs": {}})", "unknown key 'Outputs'");
  refused(R"({"Resources": {}})", "AWS::IoT::Thing is required");
  refused(make_template(R"({"P": {"Type": "Number"}})", R"({"ThingName": "t"})"),
          "Parameters.P: Type must be \"String\"");
  refused(R"({"Resources": {
      "thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": "t"},
                "OverrideSettings": {"ThingTypeName": "MERGE"}},
      "certificate": {"Type": "AWS::IoT::Certificate", "Properties": {"CertificateId": "x"}}}})",
          "Resources.thing.OverrideSettings.ThingTypeName: MERGE is valid only");
  refused(R"({"Resources": {
      "thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": "t"}},
      "certificate": {"Type": "AWS::IoT::Certificate",
                      "Properties": {"CertificateSigningRequest": {"Ref": "CSR"}}}}})",
          "CertificateSigningRequest: not supported");
  refused(R"({"Resources": {
      "thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": "t"}},
      "other": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": "u"}},
      "certificate": {"Type": "AWS::IoT::Certificate", "Properties": {"CertificateId": "x"}}}})",
          "more than one AWS::IoT::Thing");
  refused(R"({"Resources": {
      "thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": "t"}},
      "certificate": {"Type": "AWS::IoT::Certificate", "Properties": {"CertificateId": "x"}},
      "policy": {"Type": "AWS::IoT::Policy",
                 "Properties": {"PolicyName": "p", "PolicyDocument": "{}"}}}})",
          "either PolicyName or PolicyDocument");
  refused(make_template("{}", R"({"ThingName": "t"})",
                        R"(, "Mappings": {"M": {"k": {"v": {"Ref": "P"}}}})"),
          "no functions in Mappings");
}

TEST(ProvisioningTemplate, BoundsWhatEvaluationProduces) {
  // 2,000 references to a 60,000-character parameter would make 120 MB.
  std::string text;
  for (int i = 0; i < 2000; ++i) text += "${P}";
  auto outcome =
      apply_template(make_template(R"({"P": {"Type": "String"}})",
                                   R"({"ThingName": "t", "AttributePayload": {"a": {"Fn::Sub": ")" +
                                       text + R"("}}})"),
                     {{"P", std::string(60000, 'x')}});
  ASSERT_FALSE(outcome);
  EXPECT_NE(outcome.error().message.find("limit"), std::string::npos) << outcome.error().message;
  EXPECT_NE(thing_name_of(R"({"Fn::Unknown": []})").find("unknown function"), std::string::npos);
}

}  // namespace
}  // namespace ironroot::fleet::testing
