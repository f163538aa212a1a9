// The firmware repository over HTTP: /v1/firmware (binary uploads) and /v1/code-signing-keys on a
// real httplib server, with a real registry and firmware store on one SQLite file and a real
// content folder, and images signed by libs/image.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "ironroot/fleet/firmware.hpp"
#include "ironroot/image/sign.hpp"
#include "rest_api_server.hpp"

namespace ironroot::fleet::testing {
namespace {

using nlohmann::json;

constexpr std::uint64_t kMaxImage = 64 * 1024;

struct Reply {
  int status = 0;
  json body;
};

std::string signed_image(crypto::Signer& key, std::string_view version, std::size_t payload = 800) {
  image::SignOptions o;
  o.version = *image::ImageVersion::parse(version);
  o.slot_size = 0x400000;
  o.security_counter = 7;
  Bytes firmware(32, std::byte{0});
  for (std::size_t i = 0; i < payload; ++i) firmware.push_back(std::byte(i * 31 + 5));
  auto img = image::sign_image(firmware, o, key);
  EXPECT_TRUE(img) << img.error().message;
  return img ? std::string(as_chars(*img)) : std::string();
}

class RestApiFirmwareTest : public ::testing::Test {
 protected:
  RestApiFirmwareTest()
      : key_(*crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256)),
        server_(RestApiServer::WithDatabase{},
                [this](Registry&, const std::filesystem::path& database) {
                  FirmwareStoreOptions options;
                  options.max_image_size = kMaxImage;
                  auto store = FirmwareStore::open(database, database.parent_path() / "firmware",
                                                   nullptr, options);
                  if (!store) throw std::runtime_error(store.error().message);
                  store_.emplace(std::move(*store));
                  RestApiOptions api;
                  api.firmware = &*store_;
                  return api;
                }) {}

  static Reply reply_of(const httplib::Result& r) {
    EXPECT_TRUE(r);
    if (!r) return {};
    Reply reply{r->status, nullptr};
    if (!r->body.empty()) reply.body = json::parse(r->body, nullptr, false);
    return reply;
  }

  httplib::Headers auth() const {
    return {{"Authorization", std::string("Bearer ") + kAliceToken}};
  }

  Reply call(const std::string& method, const std::string& path, const json& body = nullptr) {
    httplib::Client client("127.0.0.1", server_.port());
    const std::string text = body.is_null() ? "" : body.dump();
    return reply_of(method == "GET"    ? client.Get(path, auth())
                    : method == "POST" ? client.Post(path, auth(), text, "application/json")
                    : method == "PUT"  ? client.Put(path, auth(), text, "application/json")
                                       : client.Delete(path, auth(), text, "application/json"));
  }

  Reply upload(const std::string& bytes, const std::string& query = "",
               const std::string& content_type = "application/octet-stream") {
    httplib::Client client("127.0.0.1", server_.port());
    return reply_of(client.Post("/v1/firmware" + query, auth(), bytes, content_type.c_str()));
  }

  static void expect_error(const Reply& r, int status, const std::string& code,
                           const std::string& message_part) {
    EXPECT_EQ(r.status, status) << r.body.dump();
    ASSERT_TRUE(r.body.is_object() && r.body.contains("error")) << r.body.dump();
    EXPECT_EQ(r.body["error"]["code"], code) << r.body.dump();
    EXPECT_NE(r.body["error"]["message"].get<std::string>().find(message_part), std::string::npos)
        << r.body.dump();
  }

  Reply register_key(const std::string& name, const crypto::PrivateKey& key) {
    return call("POST", "/v1/code-signing-keys",
                {{"name", name}, {"publicKeyPem", key.public_key().pem()}});
  }

  crypto::PrivateKey key_;
  std::optional<FirmwareStore> store_;  // outlives server_, which uses it
  RestApiServer server_;
};

TEST(RestApiFirmwareUnavailable, FirmwareRoutesAnswer501WithoutAStore) {
  RestApiServer server;
  httplib::Client client("127.0.0.1", server.port());
  httplib::Headers headers{{"Authorization", std::string("Bearer ") + kAliceToken}};
  for (const std::string path : {"/v1/firmware", "/v1/code-signing-keys"}) {
    auto r = client.Get(path, headers);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 501) << path;
  }
}

TEST_F(RestApiFirmwareTest, CodeSigningKeysRoundTrip) {
  Reply created = register_key("release", key_);
  ASSERT_EQ(created.status, 201) << created.body.dump();
  const std::string id = to_hex(key_.public_key().key_hash());
  EXPECT_EQ(created.body["keyId"], id);
  EXPECT_EQ(created.body["type"], "ecdsa-p256");
  EXPECT_EQ(created.body["status"], "ACTIVE");
  EXPECT_FALSE(created.body.contains("revokedAt"));

  expect_error(register_key("again", key_), 409, "already_exists", "already registered");
  expect_error(call("POST", "/v1/code-signing-keys", {{"name", "x"}, {"publicKeyPem", "junk"}}),
               400, "invalid", "code-signing key");
  expect_error(call("POST", "/v1/code-signing-keys", {{"name", "x"}}), 400, "invalid",
               "field 'publicKeyPem' is required");
  expect_error(
      call("POST", "/v1/code-signing-keys", {{"name", "x"}, {"publicKeyPem", "p"}, {"pem", "p"}}),
      400, "invalid", "unknown field 'pem'");

  Reply one = call("GET", "/v1/code-signing-keys/" + id);
  EXPECT_EQ(one.status, 200);
  EXPECT_EQ(one.body, created.body);
  Reply list = call("GET", "/v1/code-signing-keys?limit=10");
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.body["items"].size(), 1u);
  expect_error(call("GET", "/v1/code-signing-keys/" + std::string(64, 'a')), 404, "not_found",
               "no code-signing key");
  expect_error(call("GET", "/v1/code-signing-keys/nothex"), 400, "invalid", "64 hex digits");

  Reply revoked = call("PUT", "/v1/code-signing-keys/" + id + "/revoke");
  ASSERT_EQ(revoked.status, 200) << revoked.body.dump();
  EXPECT_EQ(revoked.body["status"], "REVOKED");
  EXPECT_TRUE(revoked.body.contains("revokedAt"));
  expect_error(call("PUT", "/v1/code-signing-keys/" + std::string(64, 'a') + "/revoke"), 404,
               "not_found", "no code-signing key");
}

TEST_F(RestApiFirmwareTest, FirmwareRoundTrip) {
  ASSERT_EQ(register_key("release", key_).status, 201);
  const std::string img = signed_image(key_, "1.4.2+9");

  Reply created = upload(img, "?name=lamp-fw&description=spring%20release");
  ASSERT_EQ(created.status, 201) << created.body.dump();
  const std::string id = to_hex(crypto::sha256(as_bytes(img)));
  EXPECT_EQ(created.body["firmwareId"], id);
  EXPECT_EQ(created.body["version"], "1.4.2+9");
  EXPECT_EQ(created.body["securityCounter"], 7);
  EXPECT_EQ(created.body["signingKeyId"], to_hex(key_.public_key().key_hash()));
  EXPECT_EQ(created.body["signingKeyRevoked"], false);
  EXPECT_EQ(created.body["size"], img.size());
  EXPECT_EQ(created.body["name"], "lamp-fw");
  EXPECT_EQ(created.body["description"], "spring release");
  EXPECT_EQ(created.body["uploadedBy"], "alice");

  // The same image again: 200 with the record as it was.
  Reply again = upload(img);
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.body, created.body);

  EXPECT_EQ(call("GET", "/v1/firmware/" + id).body, created.body);
  ASSERT_EQ(upload(signed_image(key_, "2.0.0")).status, 201);
  Reply by_version = call("GET", "/v1/firmware?order=version&limit=1");
  ASSERT_EQ(by_version.status, 200) << by_version.body.dump();
  ASSERT_EQ(by_version.body["items"].size(), 1u);
  EXPECT_EQ(by_version.body["items"][0]["version"], "2.0.0+0");
  ASSERT_TRUE(by_version.body.contains("next"));
  Reply second = call("GET", "/v1/firmware?order=version&limit=1&next=" +
                                 by_version.body["next"].get<std::string>());
  ASSERT_EQ(second.status, 200) << second.body.dump();
  EXPECT_EQ(second.body["items"][0]["firmwareId"], id);
  expect_error(call("GET", "/v1/firmware?order=size"), 400, "invalid", "'order'");

  Reply deleted = call("DELETE", "/v1/firmware/" + id);
  EXPECT_EQ(deleted.status, 204);
  expect_error(call("GET", "/v1/firmware/" + id), 404, "not_found", "no firmware image");
  expect_error(call("DELETE", "/v1/firmware/" + id), 404, "not_found", "no firmware image");
  expect_error(call("GET", "/v1/firmware/xyz"), 400, "invalid", "64 hex digits");
}

TEST_F(RestApiFirmwareTest, BadUploadsAreRefused) {
  ASSERT_EQ(register_key("release", key_).status, 201);
  const std::string img = signed_image(key_, "1.0.0");

  expect_error(upload(img, "", "application/json"), 400, "invalid", "application/octet-stream");
  expect_error(upload(img, "?version=1"), 400, "invalid", "unknown query parameter 'version'");
  expect_error(upload(img, "?name=has%20space"), 400, "invalid", "firmware name");
  expect_error(upload(""), 400, "invalid", "the image is empty");
  expect_error(upload("definitely not an MCUboot image"), 400, "invalid", "bad magic");
  expect_error(upload(img.substr(0, img.size() - 8)), 400, "invalid", "truncated");

  auto stranger = *crypto::PrivateKey::generate(crypto::KeyType::ed25519);
  expect_error(upload(signed_image(stranger, "1.0.0")), 400, "invalid",
               "not a registered code-signing key");

  // Over the store's bound: the body is refused before it is read whole.
  expect_error(upload(std::string(kMaxImage + 1, 'x')), 413, "payload_too_large",
               std::to_string(kMaxImage));

  // A revoked key: 409.
  ASSERT_EQ(call("PUT", "/v1/code-signing-keys/" + to_hex(key_.public_key().key_hash()) + "/revoke")
                .status,
            200);
  expect_error(upload(img), 409, "conflict", "REVOKED");
  Reply list = call("GET", "/v1/firmware");
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(list.body["items"].size(), 0u);
}

// A store that takes images over the JSON bound (1 MiB): the server takes them, while the JSON
// routes still refuse bodies over 1 MiB.
TEST(RestApiFirmwareLarge, ImagesOverTheJsonBoundAreAcceptedAndJsonRoutesKeepTheirs) {
  std::optional<FirmwareStore> store;
  RestApiServer server(
      RestApiServer::WithDatabase{}, [&store](Registry&, const std::filesystem::path& database) {
        FirmwareStoreOptions options;
        options.max_image_size = 2 * kMaxRequestBodyBytes;
        auto opened =
            FirmwareStore::open(database, database.parent_path() / "firmware", nullptr, options);
        if (!opened) throw std::runtime_error(opened.error().message);
        store.emplace(std::move(*opened));
        RestApiOptions api;
        api.firmware = &*store;
        return api;
      });
  auto key = *crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256);
  httplib::Client client("127.0.0.1", server.port());
  httplib::Headers headers{{"Authorization", std::string("Bearer ") + kAliceToken}};
  auto registered =
      client.Post("/v1/code-signing-keys", headers,
                  json{{"name", "release"}, {"publicKeyPem", key.public_key().pem()}}.dump(),
                  "application/json");
  ASSERT_TRUE(registered);
  ASSERT_EQ(registered->status, 201) << registered->body;

  const std::string big = signed_image(key, "1.0.0", kMaxRequestBodyBytes + 1000);
  auto uploaded = client.Post("/v1/firmware", headers, big, "application/octet-stream");
  ASSERT_TRUE(uploaded);
  EXPECT_EQ(uploaded->status, 201) << uploaded->body;

  const std::string padded_json =
      json{{"name", "x"}, {"publicKeyPem", std::string(kMaxRequestBodyBytes, 'a')}}.dump();
  auto refused = client.Post("/v1/code-signing-keys", headers, padded_json, "application/json");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 413) << refused->body;
}

}  // namespace
}  // namespace ironroot::fleet::testing
