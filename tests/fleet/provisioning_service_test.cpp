// Fleet provisioning by claim: CreateCertificateFromCsr, CreateKeysAndCertificate and
// RegisterThing over a real registry, CA and hooks.
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/stat.h>

#include <fstream>
#include <future>
#include <thread>

#include "ironroot/crypto/digest.hpp"
#include "ironroot/protocol/topics.hpp"
#include "provisioning_fixture.hpp"

namespace ironroot::fleet::testing {
namespace {

namespace errors = protocol::provisioning_errors;
using namespace std::chrono_literals;

// AWS's fleet provisioning template example (developer guide, "Provisioning templates").
constexpr std::string_view kAwsFleetExample = R"({
    "Parameters" : {
        "ThingName" : {
            "Type" : "String"
        },
        "SerialNumber": {
            "Type": "String"
        },
        "DeviceLocation": {
            "Type": "String"
        }
    },
    "Mappings": {
        "LocationTable": {
            "Seattle": {
                "LocationUrl": "https://example.aws"
            }
        }
    },
    "Resources" : {
        "thing" : {
            "Type" : "AWS::IoT::Thing",
            "Properties" : {
                "AttributePayload" : {
                    "version" : "v1",
                    "serialNumber" : "serialNumber"
                },
                "ThingName" : {"Ref" : "ThingName"},
                "ThingTypeName" : {"Fn::Join":["",["ThingPrefix_",{"Ref":"SerialNumber"}]]},
                "ThingGroups" : ["v1-lightbulbs", "WA"],
                "BillingGroup": "LightBulbBillingGroup"
            },
            "OverrideSettings" : {
                "AttributePayload" : "MERGE",
                "ThingTypeName" : "REPLACE",
                "ThingGroups" : "DO_NOTHING"
            }
        },
        "certificate" : {
            "Type" : "AWS::IoT::Certificate",
            "Properties" : {
                "CertificateId": {"Ref": "AWS::IoT::Certificate::Id"},
                "Status" : "Active"
            }
        },
        "policy" : {
            "Type" : "AWS::IoT::Policy",
            "Properties" : {
                "PolicyDocument" : {
                    "Version": "2012-10-17",
                    "Statement": [{
                        "Effect": "Allow",
                        "Action":["iot:Publish"],
                        "Resource": ["arn:aws:iot:us-east-1:123456789012:topic/foo/bar"]
                    }]
                }
            }
        }
    },
    "DeviceConfiguration": {
        "FallbackUrl": "https://www.example.com/test-site",
        "LocationUrl": {
            "Fn::FindInMap": ["LocationTable",{"Ref": "DeviceLocation"}, "LocationUrl"]}
    }
})";

// A small template: thing named by a parameter, optional attributes override, a named policy.
std::string simple_template(const std::string& attributes_override = "DO_NOTHING",
                            const std::string& policy = R"({"PolicyName": "device-policy"})") {
  return R"({"Parameters": {"ThingName": {"Type": "String"},
                            "Color": {"Type": "String", "Default": "red"}},
     "Resources": {
       "thing": {"Type": "AWS::IoT::Thing",
                 "Properties": {"ThingName": {"Ref": "ThingName"},
                                "AttributePayload": {"color": {"Ref": "Color"}}},
                 "OverrideSettings": {"AttributePayload": ")" +
         attributes_override + R"("}},
       "certificate": {"Type": "AWS::IoT::Certificate",
                       "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"},
                                      "Status": "ACTIVE"}},
       "policy": {"Type": "AWS::IoT::Policy", "Properties": )" +
         policy + R"(}},
     "DeviceConfiguration": {"thing": {"Ref": "ThingName"}}})";
}

constexpr std::string_view kPolicy =
    R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]})";

// The registry's files (database and write-ahead log) as text.
std::string read_file_text(const std::filesystem::path& database) {
  std::string text;
  for (const auto& file : {database, std::filesystem::path(database.string() + "-wal")}) {
    std::ifstream in(file, std::ios::binary);
    text.append(std::istreambuf_iterator<char>(in), {});
  }
  return text;
}

class FleetProvisioningTest : public ProvisioningTest {
 protected:
  void SetUp() override {
    ProvisioningTest::SetUp();
    ASSERT_TRUE(registry().create_policy("alice", "device-policy", kPolicy));
  }

  ProvisioningResult<protocol::RegisterThingResponse> register_thing(
      const std::string& token, std::map<std::string, std::string> parameters,
      const std::string& template_name = "simple") {
    return service().register_thing(claim_id_, template_name,
                                    protocol::RegisterThingRequest{token, std::move(parameters)},
                                    "client-1");
  }

  // Every audit entry since `before` has the provisioning actor.
  void expect_audited_as(const std::string& actor, std::size_t before) {
    auto entries = audit();
    ASSERT_GT(entries.size(), before);
    for (std::size_t i = before; i < entries.size(); ++i) {
      EXPECT_EQ(entries[i].actor, actor) << entries[i].action;
    }
  }
};

TEST_F(FleetProvisioningTest, CreateCertificateFromCsrIssuesAPendingCertificateWithAToken) {
  const std::size_t before = audit().size();
  auto created = service().create_certificate_from_csr(claim_id_, {csr_pem("sensor-1")});
  ASSERT_TRUE(created) << created.error().error_message;
  auto certificate = crypto::Certificate::from_pem(as_bytes(created->certificate_pem));
  ASSERT_TRUE(certificate);
  EXPECT_EQ(created->certificate_id, to_hex(certificate->fingerprint()));
  EXPECT_TRUE(certificate->verify_signature(*device_ca_->certificate().public_key()));
  EXPECT_EQ(certificate->public_key()->der(), csr_key_->public_key().der());
  EXPECT_EQ(certificate->subject_name()->common_name, "sensor-1");
  EXPECT_EQ(certificate->not_after(), now_ + std::chrono::days(365));
  // As AWS: PENDING_ACTIVATION until RegisterThing, issued by the registered device CA.
  auto record = registry().describe_certificate(created->certificate_id);
  ASSERT_TRUE(record);
  EXPECT_EQ(record->status, CertificateStatus::pending_activation);
  EXPECT_EQ(record->ca_id, device_ca_id_);
  // The token: random, short, stored only as its hash.
  const std::string& token = created->certificate_ownership_token;
  EXPECT_GE(token.size(), 32u);
  EXPECT_LT(token.size(), 512u);
  auto stored = registry().find_ownership_token(to_hex(crypto::sha256(as_bytes(token))));
  ASSERT_TRUE(stored && *stored);
  EXPECT_EQ((*stored)->certificate_id, created->certificate_id);
  EXPECT_EQ((*stored)->claim_certificate_id, claim_id_);
  EXPECT_EQ((*stored)->expires_at, now_ + 1h);
  EXPECT_EQ(read_file_text(path()).find(token), std::string::npos);
  auto again = service().create_certificate_from_csr(claim_id_, {csr_pem("sensor-1")});
  ASSERT_TRUE(again);
  EXPECT_NE(again->certificate_ownership_token, token);
  expect_audited_as("provisioning:" + claim_id_, before);
}

TEST_F(FleetProvisioningTest, TheCborReplyFitsADeviceBuffer) {
  auto created = new_certificate("a-thing-name-of-thirty-two-chars");
  const Bytes payload = protocol::encode_message(created, protocol::PayloadFormat::cbor);
  auto topic = protocol::provisioning_topic(
      protocol::TopicPrefix{}, {protocol::ProvisioningApi::create_certificate_from_csr, "",
                                protocol::PayloadFormat::cbor, protocol::Reply::accepted});
  ASSERT_TRUE(topic);
  // MQTT PUBLISH: fixed header (at most 5 bytes), topic length (2) and topic, payload (QoS 0).
  EXPECT_LE(5 + 2 + topic->size() + payload.size(), 2048u) << payload.size();
  EXPECT_LT(created.certificate_pem.size(), 2048u);
}

TEST_F(FleetProvisioningTest, CreateKeysAndCertificateReturnsTheKey) {
  auto created = service().create_keys_and_certificate(claim_id_);
  ASSERT_TRUE(created) << created.error().error_message;
  auto key = crypto::PrivateKey::from_pem(as_bytes(created->private_key));
  ASSERT_TRUE(key) << key.error().message;
  auto certificate = crypto::Certificate::from_pem(as_bytes(created->certificate_pem));
  ASSERT_TRUE(certificate);
  EXPECT_EQ(certificate->public_key()->der(), key->public_key().der());
  EXPECT_EQ(registry().describe_certificate(created->certificate_id)->status,
            CertificateStatus::pending_activation);
  EXPECT_EQ(certificate->subject_name()->common_name.rfind("device-", 0), 0u);
}

TEST_F(FleetProvisioningTest, CertificateRequestsAreRefusedWithoutChanges) {
  const RegistrySnapshot before = snapshot();
  EXPECT_REJECTED(service().create_certificate_from_csr(std::string(64, 'e'), {csr_pem("a")}),
                  errors::kAccessDenied);
  EXPECT_REJECTED(service().create_keys_and_certificate("not-an-id"), errors::kAccessDenied);
  EXPECT_REJECTED(service().create_certificate_from_csr(claim_id_, {"-----BEGIN CERTIFICATE "
                                                                    "REQUEST-----\nAAAA\n"}),
                  errors::kInvalidPayload);
  // A CN that cannot be a thing name.
  EXPECT_REJECTED(service().create_certificate_from_csr(claim_id_, {csr_pem("a/b")}),
                  errors::kInvalidPayload);
  EXPECT_EQ(snapshot(), before);
  ASSERT_TRUE(registry().set_certificate_status("alice", claim_id_, CertificateStatus::inactive));
  const RegistrySnapshot inactive = snapshot();
  EXPECT_REJECTED(service().create_certificate_from_csr(claim_id_, {csr_pem("a")}),
                  errors::kAccessDenied);
  EXPECT_REJECTED(service().create_keys_and_certificate(claim_id_), errors::kAccessDenied);
  EXPECT_EQ(snapshot(), inactive);
}

TEST_F(FleetProvisioningTest, AnUnregisteredDeviceCaIssuesNothing) {
  auto other = make_device_ca("Other Device CA");
  ProvisioningService elsewhere(registry(), other, [this] { return now_; });
  const RegistrySnapshot before = snapshot();
  EXPECT_REJECTED(elsewhere.create_certificate_from_csr(claim_id_, {csr_pem("a")}),
                  errors::kInternalError);
  EXPECT_EQ(snapshot(), before);
}

TEST_F(FleetProvisioningTest, AwsDocumentedExampleTemplateProvisions) {
  ASSERT_TRUE(registry().create_group("alice", {"v1-lightbulbs", "", std::nullopt}));
  ASSERT_TRUE(registry().create_group("alice", {"WA", "", std::nullopt}));
  create_template("aws-example", std::string(kAwsFleetExample));
  auto created = new_certificate("bulb-1");
  const std::size_t before = audit().size();
  auto registered = register_thing(
      created.certificate_ownership_token,
      {{"ThingName", "bulb-1"}, {"SerialNumber", "SN42"}, {"DeviceLocation", "Seattle"}},
      "aws-example");
  ASSERT_TRUE(registered) << registered.error().error_message;
  EXPECT_EQ(registered->thing_name, "bulb-1");
  EXPECT_EQ(
      registered->device_configuration,
      (std::map<std::string, std::string>{{"FallbackUrl", "https://www.example.com/test-site"},
                                          {"LocationUrl", "https://example.aws"}}));
  auto thing = registry().describe_thing("bulb-1");
  ASSERT_TRUE(thing);
  EXPECT_EQ(thing->thing_type, "ThingPrefix_SN42");
  EXPECT_EQ(thing->attributes, (Attributes{{"serialNumber", "serialNumber"}, {"version", "v1"}}));
  EXPECT_EQ(*registry().groups_of("bulb-1"), (std::vector<std::string>{"WA", "v1-lightbulbs"}));
  auto certificate = registry().describe_certificate(created.certificate_id);
  EXPECT_EQ(certificate->status, CertificateStatus::active);
  EXPECT_EQ(*registry().things_of(created.certificate_id), (std::vector<std::string>{"bulb-1"}));
  auto policies = registry().policies_for(created.certificate_id);
  ASSERT_TRUE(policies);
  ASSERT_EQ(policies->size(), 1u);
  EXPECT_EQ(policies->front().name, to_hex(crypto::sha256(as_bytes(policies->front().document))));
  EXPECT_NE(policies->front().document.find("topic/foo/bar"), std::string::npos);
  expect_audited_as("provisioning:" + claim_id_, before);

  // A second device with the same document reuses the policy.
  auto second = new_certificate("bulb-2");
  ASSERT_TRUE(register_thing(
      second.certificate_ownership_token,
      {{"ThingName", "bulb-2"}, {"SerialNumber", "SN43"}, {"DeviceLocation", "Seattle"}},
      "aws-example"));
  EXPECT_EQ(registry().list_policies({kMaxPageLimit, ""})->items.size(), 2u);  // + device-policy
}

TEST_F(FleetProvisioningTest, TheTokenWorksOnce) {
  create_template("simple", simple_template());
  auto created = new_certificate();
  ASSERT_TRUE(register_thing(created.certificate_ownership_token, {{"ThingName", "lamp-1"}}));
  const RegistrySnapshot before = snapshot();
  auto replay = register_thing(created.certificate_ownership_token, {{"ThingName", "lamp-2"}});
  EXPECT_REJECTED(replay, errors::kInvalidCertificateOwnershipToken);
  EXPECT_NE(replay.error().error_message.find("already been used"), std::string::npos);
  EXPECT_EQ(snapshot(), before);
}

TEST_F(FleetProvisioningTest, BadTokensAreRefusedWithoutChanges) {
  create_template("simple", simple_template());
  auto created = new_certificate();
  const RegistrySnapshot before = snapshot();
  EXPECT_REJECTED(register_thing("made-up", {{"ThingName", "lamp-1"}}),
                  errors::kInvalidCertificateOwnershipToken);
  EXPECT_REJECTED(register_thing("", {{"ThingName", "lamp-1"}}),
                  errors::kInvalidCertificateOwnershipToken);
  EXPECT_EQ(snapshot(), before);
  // Another claim certificate cannot use this claim's token.
  auto other_claim = registry().register_certificate("alice", device_pem("claim-2"));
  ASSERT_TRUE(other_claim);
  const RegistrySnapshot with_other = snapshot();
  EXPECT_REJECTED(
      service().register_thing(other_claim->id, "simple",
                               {created.certificate_ownership_token, {{"ThingName", "lamp-1"}}}),
      errors::kInvalidCertificateOwnershipToken);
  EXPECT_EQ(snapshot(), with_other);
  // An hour later the token has expired.
  now_ += 1h;
  auto expired = register_thing(created.certificate_ownership_token, {{"ThingName", "lamp-1"}});
  EXPECT_REJECTED(expired, errors::kInvalidCertificateOwnershipToken);
  EXPECT_NE(expired.error().error_message.find("expired"), std::string::npos);
  EXPECT_EQ(snapshot(), with_other);
}

TEST_F(FleetProvisioningTest, TemplatesMustExistAndBeEnabled) {
  create_template("off", simple_template(), std::nullopt, /*enabled=*/false);
  auto created = new_certificate();
  const RegistrySnapshot before = snapshot();
  EXPECT_REJECTED(register_thing(created.certificate_ownership_token, {{"ThingName", "x"}}, "nope"),
                  errors::kResourceNotFound);
  EXPECT_REJECTED(register_thing(created.certificate_ownership_token, {{"ThingName", "x"}}, "off"),
                  errors::kResourceNotFound);
  EXPECT_EQ(snapshot(), before);
  ASSERT_TRUE(registry().set_certificate_status("alice", claim_id_, CertificateStatus::revoked));
  EXPECT_REJECTED(register_thing(created.certificate_ownership_token, {{"ThingName", "x"}}, "off"),
                  errors::kAccessDenied);
}

TEST_F(FleetProvisioningTest, AMissingParameterChangesNothingAndKeepsTheToken) {
  create_template("simple", simple_template());
  auto created = new_certificate();
  const RegistrySnapshot before = snapshot();
  auto missing = register_thing(created.certificate_ownership_token, {{"Color", "blue"}});
  EXPECT_REJECTED(missing, errors::kInvalidPayload);
  EXPECT_NE(missing.error().error_message.find("'ThingName' is required"), std::string::npos);
  EXPECT_REJECTED(register_thing(created.certificate_ownership_token, {{"ThingName", "bad/name"}}),
                  errors::kInvalidPayload);
  EXPECT_EQ(snapshot(), before);
  auto registered = register_thing(created.certificate_ownership_token, {{"ThingName", "lamp-1"}});
  ASSERT_TRUE(registered) << registered.error().error_message;
  EXPECT_EQ(registered->device_configuration.at("thing"), "lamp-1");
  EXPECT_EQ(registry().describe_thing("lamp-1")->attributes, (Attributes{{"color", "red"}}));
}

TEST_F(FleetProvisioningTest, AFailureLateInTheTransactionUndoesEverything) {
  // The named policy does not exist: thing creation, certificate activation and token use
  // before it must be rolled back.
  create_template("simple", simple_template("DO_NOTHING", R"({"PolicyName": "absent"})"));
  auto created = new_certificate();
  const RegistrySnapshot before = snapshot();
  EXPECT_REJECTED(register_thing(created.certificate_ownership_token, {{"ThingName", "lamp-1"}}),
                  errors::kInvalidPayload);
  EXPECT_EQ(snapshot(), before);
  EXPECT_FALSE((*registry().find_ownership_token(
                    to_hex(crypto::sha256(as_bytes(created.certificate_ownership_token)))))
                   ->used_at);
}

TEST_F(FleetProvisioningTest, OverrideSettingsForAnExistingThing) {
  ASSERT_TRUE(registry().create_thing(
      "alice", {"lamp-1", std::nullopt, {{"color", "green"}, {"room", "hall"}}, std::nullopt}));
  create_template("fail", simple_template("FAIL"));
  create_template("merge", simple_template("MERGE"));
  create_template("replace", simple_template("REPLACE"));
  create_template("keep", simple_template("DO_NOTHING"));

  auto created = new_certificate();
  const RegistrySnapshot before = snapshot();
  auto conflict =
      register_thing(created.certificate_ownership_token, {{"ThingName", "lamp-1"}}, "fail");
  EXPECT_REJECTED(conflict, kResourceConflict);
  EXPECT_EQ(snapshot(), before);

  ASSERT_TRUE(
      register_thing(created.certificate_ownership_token, {{"ThingName", "lamp-1"}}, "keep"));
  EXPECT_EQ(registry().describe_thing("lamp-1")->attributes,
            (Attributes{{"color", "green"}, {"room", "hall"}}));
  ASSERT_TRUE(register_thing(new_certificate().certificate_ownership_token,
                             {{"ThingName", "lamp-1"}, {"Color", "blue"}}, "merge"));
  EXPECT_EQ(registry().describe_thing("lamp-1")->attributes,
            (Attributes{{"color", "blue"}, {"room", "hall"}}));
  ASSERT_TRUE(register_thing(new_certificate().certificate_ownership_token,
                             {{"ThingName", "lamp-1"}}, "replace"));
  EXPECT_EQ(registry().describe_thing("lamp-1")->attributes, (Attributes{{"color", "red"}}));
  // FAIL passes when the values already agree.
  ASSERT_TRUE(register_thing(new_certificate().certificate_ownership_token,
                             {{"ThingName", "lamp-1"}}, "fail"));
  EXPECT_EQ(registry().certificates_of("lamp-1")->size(), 4u);
}

// A hook script in the test's folder; the hook text passes the folder as its argument.
std::string hook_script(const std::filesystem::path& dir, const std::string& body) {
  const std::string path = (dir / "hook.sh").string();
  std::ofstream(path) << "#!/bin/sh\n" << body;
  ::chmod(path.c_str(), 0755);
  return "command:" + path + " " + dir.string();
}

TEST_F(FleetProvisioningTest, TheHookCanOverrideParameters) {
  create_template("hooked", simple_template(), hook_script(dir_.path(), R"(cat > "$1/request.json"
echo '{"allowProvisioning": true, "parameterOverrides": {"ThingName": "chosen-by-hook"}}'
)"));
  auto created = new_certificate();
  auto registered =
      register_thing(created.certificate_ownership_token, {{"ThingName", "asked"}}, "hooked");
  ASSERT_TRUE(registered) << registered.error().error_message;
  EXPECT_EQ(registered->thing_name, "chosen-by-hook");
  std::ifstream in(dir_ / "request.json");
  auto request = nlohmann::json::parse(in);
  EXPECT_EQ(request["claimCertificateId"], claim_id_);
  EXPECT_EQ(request["certificateId"], created.certificate_id);
  EXPECT_EQ(request["templateArn"], "arn:ironroot:iot:::provisioningtemplate/hooked");
  EXPECT_EQ(request["clientId"], "client-1");
  EXPECT_EQ(request["parameters"], nlohmann::json({{"ThingName", "asked"}}));
}

TEST_F(FleetProvisioningTest, AHookThatDeniesFailsOrTimesOutDenies) {
  ProvisioningOptions options;
  options.hook_timeout = 300ms;
  set_options(options);
  auto created = new_certificate();
  const RegistrySnapshot before = snapshot();
  int n = 0;
  auto denied_by = [&](const std::string& body, const std::string& expected) {
    const std::string name = "hook-" + std::to_string(++n);
    create_template(name, simple_template(), hook_script(dir_.path(), body));
    const RegistrySnapshot with_template = snapshot();
    auto result =
        register_thing(created.certificate_ownership_token, {{"ThingName", "lamp-1"}}, name);
    EXPECT_REJECTED(result, errors::kAccessDenied);
    if (!result) {
      EXPECT_NE(result.error().error_message.find(expected), std::string::npos)
          << result.error().error_message;
    }
    EXPECT_EQ(snapshot(), with_template);
  };
  denied_by("echo '{\"allowProvisioning\": false}'\n", "did not allow");
  denied_by("echo 'sure'\n", "not a JSON object");
  denied_by("exec sleep 600\n", "timed out");
  ASSERT_TRUE(registry().create_template(
      "alice", NewProvisioningTemplate{"bad-hook", "", simple_template(), true, "ftp://x"}));
  EXPECT_REJECTED(
      register_thing(created.certificate_ownership_token, {{"ThingName", "lamp-1"}}, "bad-hook"),
      errors::kAccessDenied);
  EXPECT_FALSE(registry().describe_thing("lamp-1"));
  EXPECT_EQ(snapshot().certificates, before.certificates);
}

TEST_F(FleetProvisioningTest, HttpHookAllowsAndTimesOut) {
  ProvisioningOptions options;
  options.hook_timeout = 300ms;
  set_options(options);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  httplib::Server server;
  server.Post("/allow", [](const httplib::Request&, httplib::Response& response) {
    response.set_content(R"({"allowProvisioning": true})", "application/json");
  });
  server.Post("/slow", [&](const httplib::Request&, httplib::Response& response) {
    released.wait();
    response.set_content(R"({"allowProvisioning": true})", "application/json");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  std::thread thread([&] { server.listen_after_bind(); });
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  create_template("allow", simple_template(), base + "/allow");
  create_template("slow", simple_template(), base + "/slow");

  auto created = new_certificate();
  const RegistrySnapshot before = snapshot();
  auto slow =
      register_thing(created.certificate_ownership_token, {{"ThingName", "lamp-1"}}, "slow");
  release.set_value();
  EXPECT_REJECTED(slow, errors::kAccessDenied);
  EXPECT_NE(slow.error().error_message.find("timed out"), std::string::npos);
  EXPECT_EQ(snapshot(), before);
  auto allowed =
      register_thing(created.certificate_ownership_token, {{"ThingName", "lamp-1"}}, "allow");
  EXPECT_TRUE(allowed) << allowed.error().error_message;
  server.stop();
  thread.join();
}

}  // namespace
}  // namespace ironroot::fleet::testing
