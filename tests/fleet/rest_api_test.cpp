// The operator REST API over HTTP: a real httplib server on a loopback port, a real SQLite
// registry, real certificates, and httplib's client making every request.
#include "ironroot/fleet/rest_api.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "ironroot/crypto/certificate_authority.hpp"
#include "rest_api_server.hpp"

namespace ironroot::fleet::testing {
namespace {

using nlohmann::json;

struct Answer {
  int status = 0;
  json body;
  httplib::Headers headers;
};

class RestApiTest : public ::testing::Test {
 protected:
  // One request with `token` (none when empty); the body is sent as it is.
  Answer raw(const std::string& method, const std::string& path, const std::string& body,
             const std::string& token = kAliceToken) {
    httplib::Client client("127.0.0.1", server_.port());
    httplib::Headers headers;
    if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
    httplib::Result r = method == "GET"    ? client.Get(path, headers)
                        : method == "POST" ? client.Post(path, headers, body, "application/json")
                        : method == "PUT"  ? client.Put(path, headers, body, "application/json")
                        : method == "PATCH"
                            ? client.Patch(path, headers, body, "application/json")
                            : client.Delete(path, headers, body, "application/json");
    EXPECT_TRUE(r) << method << " " << path << ": " << httplib::to_string(r.error());
    if (!r) return {};
    Answer a{r->status, nullptr, r->headers};
    if (!r->body.empty()) {
      a.body = json::parse(r->body, nullptr, false);
      EXPECT_FALSE(a.body.is_discarded()) << r->body;
    }
    return a;
  }
  Answer call(const std::string& method, const std::string& path, const json& body = nullptr,
              const std::string& token = kAliceToken) {
    return raw(method, path, body.is_null() ? "" : body.dump(), token);
  }
  Answer get(const std::string& path) { return call("GET", path); }

  // Asserts an error answer: status, code, and a part of its message.
  static void expect_error(const Answer& a, int status, const std::string& code,
                           const std::string& message_part = "") {
    EXPECT_EQ(a.status, status) << a.body.dump();
    ASSERT_TRUE(a.body.is_object() && a.body.contains("error")) << a.body.dump();
    EXPECT_EQ(a.body["error"]["code"], code) << a.body.dump();
    EXPECT_NE(a.body["error"]["message"].get<std::string>().find(message_part), std::string::npos)
        << a.body.dump();
  }

  std::size_t thing_count() {
    auto listing = server_.registry().list_things(Page{kMaxPageLimit, ""});
    EXPECT_TRUE(listing);
    return listing ? listing->items.size() : 0;
  }
  std::size_t audit_count() {
    auto listing = server_.registry().list_audit({}, Page{kMaxPageLimit, ""});
    EXPECT_TRUE(listing);
    return listing ? listing->items.size() : 0;
  }

  RestApiServer server_;
};

// ---- health, authentication, routing ----------------------------------------------------------

TEST_F(RestApiTest, HealthAnswersWithoutAToken) {
  Answer a = call("GET", "/v1/health", nullptr, "");
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.body, json({{"status", "ok"}}));
}

TEST_F(RestApiTest, RefusesRequestsWithoutAnAcceptedTokenAndChangesNothing) {
  const json thing = {{"thingName", "lamp-1"}};
  Answer missing = call("POST", "/v1/things", thing, "");
  expect_error(missing, 401, "unauthorized", "Authorization: Bearer");
  EXPECT_EQ(missing.headers.count("WWW-Authenticate"), 1u);
  expect_error(call("POST", "/v1/things", thing, "not-a-token"), 401, "unauthorized",
               "not accepted");
  expect_error(call("POST", "/v1/things", thing, std::string(kAliceToken) + "x"), 401,
               "unauthorized");
  expect_error(call("GET", "/v1/things", nullptr, std::string(600, 'a')), 401, "unauthorized");
  {
    httplib::Client client("127.0.0.1", server_.port());
    auto r = client.Get("/v1/things", {{"Authorization", std::string("Basic ") + kAliceToken}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
  }
  EXPECT_EQ(thing_count(), 0u);
  EXPECT_EQ(audit_count(), 0u);
  // The scheme is case-insensitive (RFC 7235).
  httplib::Client client("127.0.0.1", server_.port());
  auto r = client.Get("/v1/things", {{"Authorization", std::string("bearer ") + kBobToken}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(RestApiTest, ApiRefusesInvalidOrDuplicateTokens) {
  auto registry = Registry::open(server_.dir() / "other.db");
  ASSERT_TRUE(registry);
  EXPECT_FALSE(RestApi::create(*registry, {operator_token("", "secret")}));
  EXPECT_FALSE(RestApi::create(*registry, {operator_token("a", "s1"), operator_token("a", "s2")}));
  EXPECT_FALSE(RestApi::create(*registry, {operator_token("a", "s"), operator_token("b", "s\n")}));
  auto generated = generate_operator_token();
  ASSERT_TRUE(generated);
  EXPECT_EQ(generated->size(), 64u);
  EXPECT_NE(*generated, *generate_operator_token());
  EXPECT_TRUE(RestApi::create(*registry, {operator_token("ops", *generated)}));
}

TEST_F(RestApiTest, UnknownRoutesAndMethodsAnswerJson) {
  expect_error(get("/v1/nothing-here"), 404, "not_found", "GET /v1/nothing-here");
  Answer wrong = call("PATCH", "/v1/policies/p", json::object());
  expect_error(wrong, 405, "method_not_allowed", "GET");
}

// ---- request checking -------------------------------------------------------------------------

TEST_F(RestApiTest, MalformedRequestsAreRefusedNamingTheProblemAndChangeNothing) {
  expect_error(raw("POST", "/v1/things", "{\"thingName\": "), 400, "invalid", "not valid JSON");
  expect_error(raw("POST", "/v1/things", "[1, 2]"), 400, "invalid", "JSON object");
  expect_error(call("POST", "/v1/things", {{"thingName", 5}}), 400, "invalid",
               "'thingName' must be a string");
  expect_error(call("POST", "/v1/things", json::object()), 400, "invalid",
               "'thingName' is required");
  expect_error(call("POST", "/v1/things", {{"thingName", "a"}, {"colour", "red"}}), 400, "invalid",
               "unknown field 'colour'");
  expect_error(call("POST", "/v1/things", {{"thingName", "a"}, {"attributes", {{"rev", 3}}}}), 400,
               "invalid", "'attributes.rev' must be a string");
  expect_error(call("POST", "/v1/things", {{"thingName", "a/b"}}), 400, "invalid");
  std::string deep(200, '[');
  deep += std::string(200, ']');
  expect_error(raw("POST", "/v1/things", "{\"thingName\": " + deep + "}"), 400, "invalid",
               "deeper than");
  expect_error(get("/v1/things?limit=0"), 400, "invalid", "'limit'");
  expect_error(get("/v1/things?limit=abc"), 400, "invalid", "'limit'");
  expect_error(get("/v1/things?colour=red"), 400, "invalid", "unknown query parameter 'colour'");
  expect_error(call("PUT", "/v1/groups/g/members/t", {{"x", 1}}), 400, "invalid", "no body");
  EXPECT_EQ(thing_count(), 0u);
  EXPECT_EQ(audit_count(), 0u);
}

TEST_F(RestApiTest, OversizeBodiesAre413AndChangeNothing) {
  json thing = {{"thingName", "big"}, {"attributes", {{"pad", std::string(2 << 20, 'a')}}}};
  expect_error(call("POST", "/v1/things", thing), 413, "payload_too_large");
  // The same without a Content-Length (chunked), which only the API's own bound stops.
  httplib::Client client("127.0.0.1", server_.port());
  const std::string text = thing.dump();
  std::size_t sent = 0;
  auto r = client.Post(
      "/v1/things", {{"Authorization", std::string("Bearer ") + kAliceToken}},
      [&](std::size_t, httplib::DataSink& sink) {
        std::size_t n = std::min<std::size_t>(64 * 1024, text.size() - sent);
        sink.write(text.data() + sent, n);
        sent += n;
        if (sent == text.size()) sink.done();
        return true;
      },
      "application/json");
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 413) << r->body;
  EXPECT_EQ(thing_count(), 0u);
  // A body within the bound is served.
  EXPECT_EQ(call("POST", "/v1/things", {{"thingName", "small"}}).status, 201);
}

// ---- things -----------------------------------------------------------------------------------

TEST_F(RestApiTest, ThingsAreCreatedListedInPagesUpdatedAndDeleted) {
  Answer created = call("POST", "/v1/things",
                        {{"thingName", "lamp-1"},
                         {"thingTypeName", "lamp"},
                         {"attributes", {{"site", "hall-b"}}},
                         {"firmwareVersion", "1.2.0"}});
  ASSERT_EQ(created.status, 201) << created.body.dump();
  EXPECT_EQ(created.body["thingName"], "lamp-1");
  EXPECT_EQ(created.body["thingTypeName"], "lamp");
  EXPECT_EQ(created.body["attributes"], json({{"site", "hall-b"}}));
  EXPECT_EQ(created.body["version"], 1);
  expect_error(call("POST", "/v1/things", {{"thingName", "lamp-1"}}), 409, "already_exists");
  for (const char* name : {"lamp-2", "lamp-3"}) {
    ASSERT_EQ(call("POST", "/v1/things", {{"thingName", name}}).status, 201);
  }

  Answer page1 = get("/v1/things?limit=2");
  ASSERT_EQ(page1.status, 200);
  ASSERT_EQ(page1.body["items"].size(), 2u);
  EXPECT_EQ(page1.body["items"][0]["thingName"], "lamp-1");
  ASSERT_TRUE(page1.body["next"].is_string());
  Answer page2 = get("/v1/things?limit=2&next=" + page1.body["next"].get<std::string>());
  ASSERT_EQ(page2.body["items"].size(), 1u);
  EXPECT_EQ(page2.body["items"][0]["thingName"], "lamp-3");
  EXPECT_FALSE(page2.body.contains("next"));

  Answer described = get("/v1/things/lamp-1");
  EXPECT_EQ(described.status, 200);
  EXPECT_EQ(described.body["groups"], json::array());
  EXPECT_EQ(described.body["certificateIds"], json::array());
  expect_error(get("/v1/things/nope"), 404, "not_found", "nope");

  expect_error(
      call("PATCH", "/v1/things/lamp-1", {{"firmwareVersion", "1.3.0"}, {"expectedVersion", 7}}),
      409, "conflict");
  Answer updated = call("PATCH", "/v1/things/lamp-1",
                        {{"thingTypeName", nullptr},
                         {"attributes", {{"rev", "3"}}},
                         {"firmwareVersion", "1.3.0"},
                         {"expectedVersion", 1}});
  ASSERT_EQ(updated.status, 200) << updated.body.dump();
  EXPECT_EQ(updated.body["version"], 2);
  EXPECT_FALSE(updated.body.contains("thingTypeName"));
  EXPECT_EQ(updated.body["attributes"], json({{"rev", "3"}, {"site", "hall-b"}}));
  Answer replaced = call("PATCH", "/v1/things/lamp-1",
                         {{"attributes", {{"rev", "4"}}}, {"mergeAttributes", false}});
  EXPECT_EQ(replaced.body["attributes"], json({{"rev", "4"}}));
  expect_error(call("PATCH", "/v1/things/lamp-1", {{"expectedVersion", "3"}}), 400, "invalid",
               "'expectedVersion' must be a whole number");

  expect_error(call("DELETE", "/v1/things/lamp-1?expectedVersion=1"), 409, "conflict");
  EXPECT_EQ(call("DELETE", "/v1/things/lamp-1?expectedVersion=3").status, 204);
  expect_error(get("/v1/things/lamp-1"), 404, "not_found");
  expect_error(call("DELETE", "/v1/things/lamp-1"), 404, "not_found");
}

TEST_F(RestApiTest, ConcurrentRequestsAreAllServed) {
  constexpr int kThreads = 4;
  constexpr int kEach = 10;
  std::atomic<int> created{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      httplib::Client client("127.0.0.1", server_.port());
      for (int i = 0; i < kEach; ++i) {
        json body = {{"thingName", "t" + std::to_string(t) + "-" + std::to_string(i)}};
        auto r = client.Post("/v1/things", {{"Authorization", std::string("Bearer ") + kBobToken}},
                             body.dump(), "application/json");
        if (r && r->status == 201) ++created;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(created.load(), kThreads * kEach);
  EXPECT_EQ(thing_count(), static_cast<std::size_t>(kThreads * kEach));
}

// ---- groups -----------------------------------------------------------------------------------

TEST_F(RestApiTest, StaticAndDynamicGroupsAndTheirMembers) {
  for (const char* name : {"lamp-1", "lamp-2"}) {
    ASSERT_EQ(
        call("POST", "/v1/things", {{"thingName", name}, {"attributes", {{"site", "b"}}}}).status,
        201);
  }
  Answer group = call("POST", "/v1/groups", {{"groupName", "hall"}, {"description", "Hall B"}});
  ASSERT_EQ(group.status, 201) << group.body.dump();
  EXPECT_EQ(group.body["dynamic"], false);
  expect_error(call("POST", "/v1/groups", {{"groupName", "hall"}}), 409, "already_exists");
  EXPECT_EQ(call("PUT", "/v1/groups/hall/members/lamp-1").status, 204);
  expect_error(call("PUT", "/v1/groups/hall/members/lamp-1"), 409, "already_exists");
  expect_error(call("PUT", "/v1/groups/hall/members/nope"), 404, "not_found");
  EXPECT_EQ(get("/v1/groups/hall/members").body["items"], json({"lamp-1"}));

  Answer dynamic =
      call("POST", "/v1/groups", {{"groupName", "site-b"}, {"queryString", "attributes.site:b"}});
  ASSERT_EQ(dynamic.status, 201) << dynamic.body.dump();
  EXPECT_EQ(dynamic.body["queryString"], "attributes.site:b");
  EXPECT_EQ(get("/v1/groups/site-b/members").body["items"], json({"lamp-1", "lamp-2"}));
  expect_error(call("PUT", "/v1/groups/site-b/members/lamp-1"), 400, "invalid");
  expect_error(call("POST", "/v1/groups", {{"groupName", "bad"}, {"queryString", "site:("}}), 400,
               "invalid");

  EXPECT_EQ(get("/v1/things/lamp-1/groups").body["items"], json({"hall", "site-b"}));
  EXPECT_EQ(get("/v1/things/lamp-1").body["groups"], json({"hall", "site-b"}));
  Answer groups = get("/v1/groups?limit=1");
  EXPECT_EQ(groups.body["items"].size(), 1u);
  EXPECT_TRUE(groups.body.contains("next"));
  EXPECT_EQ(get("/v1/groups/site-b").body["dynamic"], true);

  EXPECT_EQ(call("DELETE", "/v1/groups/hall/members/lamp-1").status, 204);
  expect_error(call("DELETE", "/v1/groups/hall/members/lamp-1"), 404, "not_found");
  EXPECT_EQ(call("DELETE", "/v1/groups/hall").status, 204);
  expect_error(get("/v1/groups/hall"), 404, "not_found");
}

// ---- certificates and CAs ---------------------------------------------------------------------

std::unique_ptr<crypto::Signer> new_key() {
  return std::make_unique<crypto::PrivateKey>(
      *crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256));
}

class RestApiCertificateTest : public RestApiTest {
 protected:
  void SetUp() override {
    auto validity = crypto::validity_from_now(crypto::kDefaultCaValidity, now_);
    auto root = crypto::CertificateAuthority::create_root({"Acme Root CA", "", "Acme"}, new_key(),
                                                          validity);
    ASSERT_TRUE(root) << root.error().message;
    ca_.emplace(std::move(*root));
    ca_id_ = to_hex(ca_->certificate().fingerprint());
    device_pem_ = device_pem("lamp-1");
  }

  std::string device_pem(const std::string& thing) {
    auto key = new_key();
    auto csr = crypto::CertificateRequest::create({thing, "SN-" + thing, ""}, *key);
    EXPECT_TRUE(csr);
    auto cert =
        ca_->issue_device_certificate(*csr, crypto::validity_from_now(std::chrono::days(30), now_));
    EXPECT_TRUE(cert) << cert.error().message;
    return cert ? cert->pem() : "";
  }

  const crypto::Time now_ =
      std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  std::optional<crypto::CertificateAuthority> ca_;
  std::string ca_id_;
  std::string device_pem_;
};

TEST_F(RestApiCertificateTest, CertificatesAreRegisteredFilteredAttachedAndRevoked) {
  Answer ca = call("POST", "/v1/cas", {{"caCertificatePem", ca_->certificate().pem()}});
  ASSERT_EQ(ca.status, 201) << ca.body.dump();
  EXPECT_EQ(ca.body["caCertificateId"], ca_id_);
  EXPECT_EQ(ca.body["status"], "ACTIVE");
  expect_error(call("POST", "/v1/cas", {{"caCertificatePem", ca_->certificate().pem()}}), 409,
               "already_exists");
  expect_error(call("POST", "/v1/cas", {{"caCertificatePem", device_pem_}}), 400, "invalid");

  Answer cert = call("POST", "/v1/certificates", {{"certificatePem", device_pem_}});
  ASSERT_EQ(cert.status, 201) << cert.body.dump();
  const std::string id = cert.body["certificateId"];
  EXPECT_EQ(id.size(), 64u);
  EXPECT_EQ(cert.body["caCertificateId"], ca_id_);
  EXPECT_EQ(cert.body["commonName"], "lamp-1");
  EXPECT_EQ(cert.body["certificatePem"], device_pem_);
  expect_error(call("POST", "/v1/certificates", {{"certificatePem", "not a pem"}}), 400, "invalid");
  expect_error(call("POST", "/v1/certificates",
                    {{"certificatePem", device_pem("lamp-3")}, {"status", "ON"}}),
               400, "invalid", "'status' must be ACTIVE");
  ASSERT_EQ(call("POST", "/v1/certificates",
                 {{"certificatePem", device_pem("lamp-2")}, {"status", "INACTIVE"}})
                .status,
            201);

  Answer active = get("/v1/certificates?status=ACTIVE");
  ASSERT_EQ(active.body["items"].size(), 1u);
  EXPECT_EQ(active.body["items"][0]["certificateId"], id);
  EXPECT_FALSE(active.body["items"][0].contains("certificatePem"));
  EXPECT_EQ(get("/v1/certificates?caCertificateId=" + ca_id_).body["items"].size(), 2u);
  expect_error(get("/v1/certificates?status=GONE"), 400, "invalid");

  ASSERT_EQ(call("POST", "/v1/things", {{"thingName", "lamp-1"}}).status, 201);
  EXPECT_EQ(call("PUT", "/v1/certificates/" + id + "/things/lamp-1").status, 204);
  expect_error(call("PUT", "/v1/certificates/" + id + "/things/lamp-1"), 409, "already_exists");
  EXPECT_EQ(get("/v1/certificates/" + id).body["things"], json({"lamp-1"}));
  EXPECT_EQ(get("/v1/things/lamp-1").body["certificateIds"], json({id}));
  EXPECT_EQ(get("/v1/things/lamp-1/certificates").body["items"], json({id}));
  expect_error(call("DELETE", "/v1/things/lamp-1"), 409, "conflict");

  Answer revoked = call("PUT", "/v1/certificates/" + id + "/status", {{"status", "REVOKED"}});
  EXPECT_EQ(revoked.status, 200);
  EXPECT_EQ(revoked.body["status"], "REVOKED");
  expect_error(call("PUT", "/v1/certificates/" + id + "/status", {{"status", "ACTIVE"}}), 409,
               "conflict", "REVOKED");
  expect_error(call("PUT", "/v1/certificates/" + id + "/status", json::object()), 400, "invalid",
               "'status' is required");
  expect_error(get("/v1/certificates/" + std::string(64, 'a')), 404, "not_found");
  expect_error(get("/v1/certificates/xyz"), 400, "invalid", "64 hex digits");
  EXPECT_EQ(call("DELETE", "/v1/certificates/" + id + "/things/lamp-1").status, 204);
  EXPECT_EQ(call("DELETE", "/v1/things/lamp-1").status, 204);
}

TEST_F(RestApiCertificateTest, CasHaveAStatusATemplateAndAutoRegistration) {
  ASSERT_EQ(call("POST", "/v1/cas",
                 {{"caCertificatePem", ca_->certificate().pem()}, {"status", "INACTIVE"}})
                .status,
            201);
  const std::string path = "/v1/cas/" + ca_id_;
  EXPECT_EQ(get(path).body["status"], "INACTIVE");
  EXPECT_EQ(get(path).body["caCertificatePem"], ca_->certificate().pem());
  EXPECT_FALSE(get("/v1/cas").body["items"][0].contains("caCertificatePem"));
  EXPECT_EQ(call("PUT", path + "/status", {{"status", "ACTIVE"}}).body["status"], "ACTIVE");
  expect_error(call("PUT", path + "/status", {{"status", "REVOKED"}}), 400, "invalid");

  expect_error(call("PUT", path + "/template", {{"templateName", "jit"}}), 404, "not_found");
  expect_error(call("PUT", path + "/template", json::object()), 400, "invalid", "templateName");
  ASSERT_EQ(call("POST", "/v1/templates",
                 {{"templateName", "jit"}, {"templateBody", {{"Resources", json::object()}}}})
                .status,
            201);
  EXPECT_EQ(call("PUT", path + "/template", {{"templateName", "jit"}}).body["templateName"], "jit");
  expect_error(call("DELETE", "/v1/templates/jit"), 409, "conflict");
  EXPECT_FALSE(
      call("PUT", path + "/template", {{"templateName", nullptr}}).body.contains("templateName"));
  EXPECT_EQ(call("PUT", path + "/auto-registration", {{"enabled", true}}).body["autoRegistration"],
            true);
  expect_error(call("PUT", path + "/auto-registration", {{"enabled", "yes"}}), 400, "invalid",
               "'enabled' must be true or false");
  expect_error(get("/v1/cas/" + std::string(64, 'b')), 404, "not_found");
}

// ---- policies ---------------------------------------------------------------------------------

const json kPolicy = {{"Version", "2012-10-17"},
                      {"Statement",
                       {{{"Effect", "Allow"},
                         {"Action", "iot:Publish"},
                         {"Resource", "arn:aws:iot:*:*:topic/dt/${iot:ClientId}"}}}}};

TEST_F(RestApiCertificateTest, PoliciesAreCheckedAttachedAndInEffect) {
  Answer created =
      call("POST", "/v1/policies", {{"policyName", "telemetry"}, {"policyDocument", kPolicy}});
  ASSERT_EQ(created.status, 201) << created.body.dump();
  EXPECT_EQ(json::parse(created.body["policyDocument"].get<std::string>()), kPolicy);
  // A document given as text is kept as it is.
  ASSERT_EQ(call("POST", "/v1/policies",
                 {{"policyName", "group-policy"}, {"policyDocument", kPolicy.dump(2)}})
                .status,
            201);
  EXPECT_EQ(get("/v1/policies/group-policy").body["policyDocument"], kPolicy.dump(2));
  json typo = kPolicy;
  typo["Statement"][0]["Action"] = "iot:Publsh";
  expect_error(call("POST", "/v1/policies", {{"policyName", "bad"}, {"policyDocument", typo}}), 400,
               "invalid", "policyDocument");
  expect_error(call("POST", "/v1/policies", {{"policyName", "bad"}, {"policyDocument", 3}}), 400,
               "invalid", "'policyDocument' must be");
  expect_error(
      call("POST", "/v1/policies", {{"policyName", "telemetry"}, {"policyDocument", kPolicy}}), 409,
      "already_exists");
  expect_error(get("/v1/policies/bad"), 404, "not_found");

  Answer updated =
      call("PUT", "/v1/policies/telemetry", {{"policyDocument", kPolicy}, {"expectedVersion", 1}});
  EXPECT_EQ(updated.body["version"], 2);
  expect_error(
      call("PUT", "/v1/policies/telemetry", {{"policyDocument", kPolicy}, {"expectedVersion", 1}}),
      409, "conflict");
  EXPECT_EQ(get("/v1/policies").body["items"].size(), 2u);

  const std::string id =
      call("POST", "/v1/certificates", {{"certificatePem", device_pem_}}).body["certificateId"];
  ASSERT_EQ(call("POST", "/v1/things", {{"thingName", "lamp-1"}}).status, 201);
  ASSERT_EQ(call("POST", "/v1/groups", {{"groupName", "lamps"}}).status, 201);
  ASSERT_EQ(call("PUT", "/v1/groups/lamps/members/lamp-1").status, 204);
  ASSERT_EQ(call("PUT", "/v1/certificates/" + id + "/things/lamp-1").status, 204);
  EXPECT_EQ(get("/v1/certificates/" + id + "/policies").body["items"], json::array());
  EXPECT_EQ(call("PUT", "/v1/policies/telemetry/certificates/" + id).status, 204);
  expect_error(call("PUT", "/v1/policies/telemetry/certificates/" + id), 409, "already_exists");
  EXPECT_EQ(call("PUT", "/v1/policies/group-policy/groups/lamps").status, 204);
  expect_error(call("PUT", "/v1/policies/telemetry/groups/nope"), 404, "not_found");
  Answer effective = get("/v1/certificates/" + id + "/policies");
  ASSERT_EQ(effective.body["items"].size(), 2u);
  EXPECT_EQ(effective.body["items"][0]["policyName"], "group-policy");
  EXPECT_EQ(effective.body["items"][1]["policyName"], "telemetry");

  expect_error(call("DELETE", "/v1/policies/telemetry"), 409, "conflict");
  EXPECT_EQ(call("DELETE", "/v1/policies/telemetry/certificates/" + id).status, 204);
  EXPECT_EQ(call("DELETE", "/v1/policies/group-policy/groups/lamps").status, 204);
  EXPECT_EQ(call("DELETE", "/v1/policies/telemetry").status, 204);
  expect_error(get("/v1/policies/telemetry"), 404, "not_found");
}

// ---- provisioning templates -------------------------------------------------------------------

TEST_F(RestApiTest, ProvisioningTemplatesAreCreatedUpdatedAndDeleted) {
  const json body = {{"Parameters", {{"SerialNumber", {{"Type", "String"}}}}},
                     {"Resources", json::object()}};
  Answer created = call("POST", "/v1/templates",
                        {{"templateName", "factory"},
                         {"description", "Factory line"},
                         {"templateBody", body},
                         {"preProvisioningHook", "http://127.0.0.1:9/hook"}});
  ASSERT_EQ(created.status, 201) << created.body.dump();
  EXPECT_EQ(created.body["enabled"], true);
  EXPECT_EQ(json::parse(created.body["templateBody"].get<std::string>()), body);
  expect_error(call("POST", "/v1/templates", {{"templateName", "factory"}, {"templateBody", body}}),
               409, "already_exists");
  expect_error(call("POST", "/v1/templates", {{"templateName", "x"}, {"templateBody", "[1]"}}), 400,
               "invalid");
  expect_error(call("POST", "/v1/templates", {{"templateName", "x"}}), 400, "invalid",
               "'templateBody' is required");

  Answer listed = get("/v1/templates");
  ASSERT_EQ(listed.body["items"].size(), 1u);
  EXPECT_FALSE(listed.body["items"][0].contains("templateBody"));
  EXPECT_TRUE(get("/v1/templates/factory").body.contains("templateBody"));

  Answer updated =
      call("PATCH", "/v1/templates/factory",
           {{"enabled", false}, {"preProvisioningHook", nullptr}, {"expectedVersion", 1}});
  ASSERT_EQ(updated.status, 200) << updated.body.dump();
  EXPECT_EQ(updated.body["enabled"], false);
  EXPECT_FALSE(updated.body.contains("preProvisioningHook"));
  EXPECT_EQ(updated.body["version"], 2);
  expect_error(call("PATCH", "/v1/templates/factory", {{"enabled", true}, {"expectedVersion", 1}}),
               409, "conflict");
  expect_error(call("PATCH", "/v1/templates/nope", {{"enabled", true}}), 404, "not_found");
  EXPECT_EQ(call("DELETE", "/v1/templates/factory").status, 204);
  expect_error(get("/v1/templates/factory"), 404, "not_found");
}

// ---- audit ------------------------------------------------------------------------------------

TEST_F(RestApiTest, AuditEntriesNameTheTokenAndFilter) {
  ASSERT_EQ(call("POST", "/v1/things", {{"thingName", "lamp-1"}}, kAliceToken).status, 201);
  ASSERT_EQ(call("POST", "/v1/things", {{"thingName", "lamp-2"}}, kBobToken).status, 201);
  ASSERT_EQ(call("POST", "/v1/groups", {{"groupName", "g"}}, kBobToken).status, 201);
  // A refused change leaves no entry.
  ASSERT_EQ(call("POST", "/v1/things", {{"thingName", "lamp-1"}}, kBobToken).status, 409);

  Answer all = get("/v1/audit");
  ASSERT_EQ(all.status, 200);
  ASSERT_EQ(all.body["items"].size(), 3u);
  EXPECT_EQ(all.body["items"][0]["actor"], "alice");
  EXPECT_EQ(all.body["items"][0]["action"], "thing.create");
  EXPECT_EQ(all.body["items"][0]["targetId"], "lamp-1");
  EXPECT_TRUE(all.body["items"][0]["details"].is_object());
  EXPECT_EQ(all.body["items"][1]["actor"], "bob");
  EXPECT_EQ(all.body["items"][2]["actor"], "bob");

  Answer things = get("/v1/audit?targetType=thing");
  EXPECT_EQ(things.body["items"].size(), 2u);
  Answer one = get("/v1/audit?targetType=thing&targetId=lamp-2");
  ASSERT_EQ(one.body["items"].size(), 1u);
  EXPECT_EQ(one.body["items"][0]["actor"], "bob");
  EXPECT_EQ(get("/v1/audit?since=2000-01-01").body["items"].size(), 3u);
  EXPECT_EQ(get("/v1/audit?since=9000-01-01").body["items"].size(), 0u);
  expect_error(get("/v1/audit?since=yesterday"), 400, "invalid", "'since'");
  Answer page = get("/v1/audit?limit=2");
  EXPECT_EQ(page.body["items"].size(), 2u);
  EXPECT_EQ(get("/v1/audit?limit=2&next=" + page.body["next"].get<std::string>())
                .body["items"][0]["targetId"],
            "g");
}

}  // namespace
}  // namespace ironroot::fleet::testing
