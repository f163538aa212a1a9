// Operator provisioning over HTTP: POST /v1/templates/{name}/provision and GET /v1/device-trust
// on a real httplib server, with a real registry, CA and provisioning service.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "ironroot/crypto/certificate_authority.hpp"
#include "ironroot/fleet/provisioning.hpp"
#include "rest_api_server.hpp"

namespace ironroot::fleet::testing {
namespace {

using nlohmann::json;

const json kPolicy = json::parse(
    R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]})");

const json kTemplate = json::parse(R"({
  "Parameters": {"ThingName": {"Type": "String"}, "Serial": {"Type": "String", "Default": "none"}},
  "Resources": {
    "thing": {"Type": "AWS::IoT::Thing",
              "Properties": {"ThingName": {"Ref": "ThingName"},
                             "AttributePayload": {"serial": {"Ref": "Serial"}}}},
    "certificate": {"Type": "AWS::IoT::Certificate",
                    "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}}},
    "policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": "DevicePolicy"}}}})");

struct Reply {
  int status = 0;
  json body;
};

std::unique_ptr<crypto::PrivateKey> new_key() {
  return std::make_unique<crypto::PrivateKey>(
      *crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256));
}

// A root CA and a device CA under it.
struct Authorities {
  Authorities() {
    const auto validity = crypto::validity_from_now(
        crypto::kDefaultCaValidity,
        std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()));
    auto created = crypto::CertificateAuthority::create_root({"Acme Root CA", "", "Acme"},
                                                             new_key(), validity);
    if (!created) throw std::runtime_error(created.error().message);
    root.emplace(std::move(*created));
    auto key = new_key();
    auto certificate =
        root->issue_device_ca({"Acme Device CA", "", "Acme"}, key->public_key(), validity);
    if (!certificate) throw std::runtime_error(certificate.error().message);
    auto opened = crypto::CertificateAuthority::open(*certificate, std::move(key));
    if (!opened) throw std::runtime_error(opened.error().message);
    device_ca.emplace(std::move(*opened));
  }
  std::optional<crypto::CertificateAuthority> root;
  std::optional<crypto::CertificateAuthority> device_ca;
};

class RestApiProvisioningTest : public ::testing::Test {
 protected:
  Reply call(const std::string& method, const std::string& path, const json& body = nullptr) {
    httplib::Client client("127.0.0.1", server_.port());
    httplib::Headers headers{{"Authorization", std::string("Bearer ") + kAliceToken}};
    const std::string text = body.is_null() ? "" : body.dump();
    httplib::Result r = method == "GET" ? client.Get(path, headers)
                                        : client.Post(path, headers, text, "application/json");
    EXPECT_TRUE(r) << method << " " << path;
    if (!r) return {};
    return {r->status, r->body.empty() ? json() : json::parse(r->body, nullptr, false)};
  }

  void set_up_fleet() {
    ASSERT_EQ(
        call("POST", "/v1/policies", {{"policyName", "DevicePolicy"}, {"policyDocument", kPolicy}})
            .status,
        201);
    ASSERT_EQ(
        call("POST", "/v1/templates", {{"templateName", "factory"}, {"templateBody", kTemplate}})
            .status,
        201);
  }

  std::string csr_pem(const std::string& cn, crypto::PrivateKey& key) {
    auto csr = crypto::CertificateRequest::create({cn, "", ""}, key);
    EXPECT_TRUE(csr) << csr.error().message;
    return csr ? csr->pem() : std::string();
  }

  std::size_t audit_count() {
    return server_.registry().list_audit({}, {kMaxPageLimit, ""})->items.size();
  }
  std::size_t certificate_count() {
    return server_.registry().list_certificates({}, {kMaxPageLimit, ""})->items.size();
  }

  static void expect_error(const Reply& r, int status, const std::string& code,
                           const std::string& part = "") {
    EXPECT_EQ(r.status, status) << r.body.dump();
    ASSERT_TRUE(r.body.is_object() && r.body.contains("error")) << r.body.dump();
    EXPECT_EQ(r.body["error"]["code"], code) << r.body.dump();
    EXPECT_NE(r.body["error"]["message"].get<std::string>().find(part), std::string::npos)
        << r.body.dump();
  }

  // Made before the server, whose API takes the service over its registry.
  Authorities cas_;
  std::unique_ptr<ProvisioningService> service_;
  RestApiServer server_{[this](Registry& registry) {
    auto ca = registry.register_ca(
        "setup", NewCa{cas_.device_ca->certificate().pem(), CaStatus::active, std::nullopt, false});
    if (!ca) throw std::runtime_error(ca.error().message);
    service_ = std::make_unique<ProvisioningService>(registry, *cas_.device_ca);
    RestApiOptions options;
    options.provisioning = service_.get();
    options.device_trust_pem = cas_.root->certificate().pem();
    return options;
  }};
};

TEST_F(RestApiProvisioningTest, ProvisionsFromACsrThenAnswersWithTheSameCertificate) {
  ASSERT_NO_FATAL_FAILURE(set_up_fleet());
  auto key = new_key();
  const json request = {{"parameters", {{"ThingName", "lamp-1"}, {"Serial", "SN-1"}}},
                        {"certificateSigningRequest", csr_pem("lamp-1", *key)}};
  const std::size_t audit_before = audit_count();
  Reply created = call("POST", "/v1/templates/factory/provision", request);
  ASSERT_EQ(created.status, 201) << created.body.dump();
  EXPECT_EQ(created.body["thingName"], "lamp-1");
  EXPECT_EQ(created.body["created"], true);
  EXPECT_EQ(created.body["certificateStatus"], "ACTIVE");
  const std::string id = created.body["certificateId"];
  auto certificate =
      crypto::Certificate::from_pem(as_bytes(created.body["certificatePem"].get<std::string>()));
  ASSERT_TRUE(certificate);
  EXPECT_EQ(to_hex(certificate->fingerprint()), id);
  EXPECT_EQ(certificate->public_key()->der(), key->public_key().der());

  Reply thing = call("GET", "/v1/things/lamp-1");
  EXPECT_EQ(thing.body["certificateIds"], json::array({id})) << thing.body.dump();
  EXPECT_EQ(thing.body["attributes"]["serial"], "SN-1");
  // Audited as the operator whose token made the request.
  auto audit = server_.registry().list_audit({}, {kMaxPageLimit, ""});
  ASSERT_TRUE(audit);
  ASSERT_GT(audit->items.size(), audit_before);
  for (std::size_t i = audit_before; i < audit->items.size(); ++i) {
    EXPECT_EQ(audit->items[i].actor, "alice");
  }

  // Again, with a new CSR for the same key: 200, the same certificate, nothing changed.
  const std::size_t audit_after = audit_count();
  Reply again = call("POST", "/v1/templates/factory/provision",
                     {{"parameters", {{"ThingName", "lamp-1"}}},
                      {"certificateSigningRequest", csr_pem("lamp-1", *key)}});
  ASSERT_EQ(again.status, 200) << again.body.dump();
  EXPECT_EQ(again.body["created"], false);
  EXPECT_EQ(again.body["certificateId"], id);
  EXPECT_EQ(again.body["certificatePem"], created.body["certificatePem"]);
  EXPECT_EQ(audit_count(), audit_after);
  EXPECT_EQ(certificate_count(), 1u);
}

TEST_F(RestApiProvisioningTest, RefusalsSayWhyAndChangeNothing) {
  ASSERT_NO_FATAL_FAILURE(set_up_fleet());
  auto key = new_key();
  const std::string csr = csr_pem("lamp-1", *key);
  const std::size_t audit_before = audit_count();
  const std::string path = "/v1/templates/factory/provision";
  expect_error(
      call("POST", "/v1/templates/nope/provision",
           {{"parameters", {{"ThingName", "lamp-1"}}}, {"certificateSigningRequest", csr}}),
      404, "not_found", "nope");
  expect_error(call("POST", path, {{"parameters", {{"ThingName", "lamp-1"}}}}), 400, "invalid",
               "'certificateSigningRequest' is required");
  expect_error(call("POST", path,
                    {{"parameters", {{"ThingName", "lamp-1"}}},
                     {"certificateSigningRequest", "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n"}}),
               400, "invalid", "certificateSigningRequest");
  expect_error(call("POST", path,
                    {{"parameters", {{"ThingName", "lamp-1"}}},
                     {"certificateSigningRequest", std::string(9000, 'x')}}),
               400, "invalid", "bytes of PEM");
  expect_error(
      call("POST", path, {{"parameters", {{"Serial", "x"}}}, {"certificateSigningRequest", csr}}),
      400, "invalid", "ThingName");
  expect_error(
      call("POST", path, {{"parameters", {{"ThingName", 3}}}, {"certificateSigningRequest", csr}}),
      400, "invalid", "'parameters.ThingName' must be a string");
  expect_error(call("POST", path, {{"thingName", "lamp-1"}, {"certificateSigningRequest", csr}}),
               400, "invalid", "unknown field 'thingName'");
  // A CSR whose CN is not a thing name.
  expect_error(call("POST", path,
                    {{"parameters", {{"ThingName", "lamp-1"}}},
                     {"certificateSigningRequest", csr_pem("a b", *key)}}),
               400, "invalid", "CN");
  EXPECT_EQ(audit_count(), audit_before);
  EXPECT_EQ(certificate_count(), 0u);
  EXPECT_EQ(server_.registry().list_things({kMaxPageLimit, ""})->items.size(), 0u);
}

TEST_F(RestApiProvisioningTest, TheDeviceTrustIsTheRootCertificate) {
  Reply trust = call("GET", "/v1/device-trust");
  ASSERT_EQ(trust.status, 200) << trust.body.dump();
  EXPECT_EQ(trust.body["certificatesPem"], cas_.root->certificate().pem());
}

TEST(RestApiWithoutProvisioningTest, TheRoutesAnswerUnavailable) {
  RestApiServer server;
  httplib::Client client("127.0.0.1", server.port());
  httplib::Headers headers{{"Authorization", std::string("Bearer ") + kAliceToken}};
  auto provision = client.Post("/v1/templates/factory/provision", headers,
                               R"({"certificateSigningRequest": "x"})", "application/json");
  ASSERT_TRUE(provision);
  EXPECT_EQ(provision->status, 501);
  EXPECT_EQ(json::parse(provision->body)["error"]["code"], "unavailable");
  auto trust = client.Get("/v1/device-trust", headers);
  ASSERT_TRUE(trust);
  EXPECT_EQ(trust->status, 501);
  // Authentication still comes first.
  auto anonymous = client.Get("/v1/device-trust");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);
}

}  // namespace
}  // namespace ironroot::fleet::testing
