// The fleet nouns of `ironroot` end to end: the real binary, run as a process, against the real
// REST API served in this test process over a real SQLite registry.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>

#include "fleet_cli.hpp"
#include "ironroot/crypto/certificate_authority.hpp"

namespace ironroot::testing {
namespace {

using fleet::testing::kAliceToken;
using fleet::testing::RestApiServer;
using nlohmann::json;
namespace fs = std::filesystem;

class CliFleet : public ::testing::Test {
 protected:
  // `ironroot ARGS... --server URL --token alice's`.
  ProcessResult run(std::vector<std::string> args) { return run_against(server_, args); }
  // The same with --json; asserts success and returns the parsed document.
  json run_json(std::vector<std::string> args) { return run_json_against(server_, args); }
  std::string write(const std::string& name, const std::string& text) {
    return write_text(dir_, name, text);
  }

  TempDir dir_;
  RestApiServer server_;
};

TEST_F(CliFleet, ThingCreateListDescribeUpdateDelete) {
  ProcessResult created = run({"thing", "create", "lamp-1", "--type", "lamp", "--attr",
                               "site=hall-b", "--attr", "rev=3", "--firmware-version", "1.2.0"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  EXPECT_TRUE(has(created.out, "created thing lamp-1"));
  ASSERT_EQ(run({"thing", "create", "lamp-2"}).exit_code, 0);
  ASSERT_EQ(run({"thing", "create", "lamp-3"}).exit_code, 0);
  expect_failure(run({"thing", "create", "lamp-1"}), "already exists");

  ProcessResult listed = run({"thing", "list"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_TRUE(has(listed.out, "NAME")) << listed.out;
  EXPECT_TRUE(has(listed.out, "lamp-3")) << listed.out;
  EXPECT_TRUE(has(listed.out, "rev=3, site=hall-b")) << listed.out;
  json two = run_json({"thing", "list", "--limit", "2"});
  EXPECT_EQ(two["items"].size(), 2u);
  EXPECT_TRUE(two.contains("next"));

  json described = run_json({"thing", "describe", "lamp-1"});
  EXPECT_EQ(described["thingTypeName"], "lamp");
  EXPECT_EQ(described["attributes"], json({{"rev", "3"}, {"site", "hall-b"}}));
  ProcessResult text = run({"thing", "describe", "lamp-1"});
  EXPECT_TRUE(has(text.out, "firmware:")) << text.out;
  EXPECT_TRUE(has(text.out, "1.2.0")) << text.out;

  json updated = run_json(
      {"thing", "update", "lamp-1", "--remove-type", "--attr", "rev=", "--expected-version", "1"});
  EXPECT_EQ(updated["version"], 2);
  EXPECT_FALSE(updated.contains("thingTypeName"));
  EXPECT_EQ(updated["attributes"], json({{"site", "hall-b"}}));
  expect_failure(
      run({"thing", "update", "lamp-1", "--firmware-version", "2", "--expected-version", "1"}),
      "version");
  expect_failure(run({"thing", "update", "lamp-1"}), "nothing to update", 2);
  expect_failure(run({"thing", "create", "x", "--attr", "novalue"}), "NAME=VALUE", 2);

  ASSERT_EQ(run({"thing", "delete", "lamp-1"}).exit_code, 0);
  expect_failure(run({"thing", "describe", "lamp-1"}), "lamp-1");
}

TEST_F(CliFleet, ListsFollowTheApiPagesToTheEnd) {
  constexpr int kThings = 260;  // more than the API's largest page (250)
  for (int i = 0; i < kThings; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "t-%03d", i);
    ASSERT_TRUE(server_.registry().create_thing("test", {name, {}, {}, {}}));
  }
  json all = run_json({"thing", "list"});
  ASSERT_EQ(all["items"].size(), static_cast<std::size_t>(kThings));
  EXPECT_EQ(all["items"][259]["thingName"], "t-259");
  EXPECT_FALSE(all.contains("next"));
  json some = run_json({"thing", "list", "--limit", "255"});
  EXPECT_EQ(some["items"].size(), 255u);
  EXPECT_EQ(some["items"][254]["thingName"], "t-254");
}

TEST_F(CliFleet, GroupsStaticAndDynamic) {
  ASSERT_EQ(run({"thing", "create", "lamp-1", "--attr", "site=b"}).exit_code, 0);
  ASSERT_EQ(run({"thing", "create", "lamp-2"}).exit_code, 0);
  ProcessResult created = run({"group", "create", "hall", "--description", "Hall B"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  EXPECT_TRUE(has(created.out, "created static group hall"));
  ASSERT_EQ(run({"group", "add", "hall", "lamp-2"}).exit_code, 0);
  expect_failure(run({"group", "add", "hall", "nope"}), "nope");
  EXPECT_EQ(run_json({"group", "members", "hall"})["items"], json({"lamp-2"}));

  ProcessResult dynamic = run({"group", "create", "site-b", "--query", "attributes.site:b"});
  EXPECT_TRUE(has(dynamic.out, "created dynamic group site-b")) << dynamic.err;
  EXPECT_EQ(run({"group", "members", "site-b"}).out, "lamp-1\n");
  EXPECT_EQ(run_json({"group", "describe", "site-b"})["queryString"], "attributes.site:b");
  EXPECT_TRUE(has(run({"group", "list"}).out, "dynamic"));
  expect_failure(run({"group", "create", "bad", "--query", "site:b"}), "unknown field 'site'");

  ASSERT_EQ(run({"group", "remove", "hall", "lamp-2"}).exit_code, 0);
  EXPECT_EQ(run({"group", "members", "hall"}).out, "(none)\n");
  ASSERT_EQ(run({"group", "delete", "hall"}).exit_code, 0);
  expect_failure(run({"group", "describe", "hall"}), "hall");
}

std::unique_ptr<crypto::Signer> new_key() {
  return std::make_unique<crypto::PrivateKey>(
      *crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256));
}

TEST_F(CliFleet, CasCertificatesPoliciesAndTemplates) {
  auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  auto ca = crypto::CertificateAuthority::create_root(
      {"Acme Root CA", "", "Acme"}, new_key(),
      crypto::validity_from_now(crypto::kDefaultCaValidity, now));
  ASSERT_TRUE(ca) << ca.error().message;
  auto key = new_key();
  auto csr = crypto::CertificateRequest::create({"lamp-1", "", ""}, *key);
  ASSERT_TRUE(csr);
  auto cert =
      ca->issue_device_certificate(*csr, crypto::validity_from_now(std::chrono::days(9), now));
  ASSERT_TRUE(cert);
  const std::string ca_id = to_hex(ca->certificate().fingerprint());
  const std::string id = to_hex(cert->fingerprint());

  // CA
  ProcessResult registered =
      run({"ca", "register", "--pem", write("ca.pem", ca->certificate().pem())});
  ASSERT_EQ(registered.exit_code, 0) << registered.err;
  EXPECT_TRUE(has(registered.out, ca_id));
  EXPECT_TRUE(has(run({"ca", "list"}).out, "Acme Root CA"));
  EXPECT_EQ(run_json({"ca", "set-status", ca_id, "INACTIVE"})["status"], "INACTIVE");
  EXPECT_EQ(run_json({"ca", "describe", ca_id})["status"], "INACTIVE");

  // template
  std::string body = write("template.json", R"({"Parameters": {}, "Resources": {}})");
  ASSERT_EQ(run({"template", "create", "jit", "--body", body, "--description", "JIT"}).exit_code,
            0);
  EXPECT_TRUE(has(run({"template", "list"}).out, "JIT"));
  EXPECT_TRUE(has(run({"template", "describe", "jit"}).out, "\"Resources\""));
  EXPECT_EQ(run_json({"template", "update", "jit", "--disable"})["enabled"], false);
  EXPECT_EQ(run_json({"ca", "set-template", ca_id, "jit"})["templateName"], "jit");
  expect_failure(run({"template", "delete", "jit"}), "jit");
  EXPECT_FALSE(run_json({"ca", "set-template", ca_id, "--none"}).contains("templateName"));
  expect_failure(run({"ca", "set-template", ca_id}), "--none", 2);
  ASSERT_EQ(run({"template", "delete", "jit"}).exit_code, 0);

  // certificate
  json c = run_json({"cert", "register", "--pem", write("lamp.pem", cert->pem())});
  EXPECT_EQ(c["certificateId"], id);
  EXPECT_EQ(c["caCertificateId"], ca_id);
  ASSERT_EQ(run({"thing", "create", "lamp-1"}).exit_code, 0);
  ASSERT_EQ(run({"cert", "attach", id, "lamp-1"}).exit_code, 0);
  EXPECT_EQ(run_json({"cert", "describe", id})["things"], json({"lamp-1"}));
  EXPECT_TRUE(has(run({"cert", "list", "--status", "ACTIVE"}).out, id));
  EXPECT_EQ(run_json({"cert", "list", "--status", "INACTIVE"})["items"].size(), 0u);
  EXPECT_EQ(run_json({"cert", "list", "--ca", ca_id})["items"].size(), 1u);
  EXPECT_EQ(run_json({"cert", "deactivate", id})["status"], "INACTIVE");
  EXPECT_EQ(run_json({"cert", "activate", id})["status"], "ACTIVE");

  // policy
  std::string document = write("policy.json", R"({"Version": "2012-10-17", "Statement": [
      {"Effect": "Allow", "Action": "iot:Connect", "Resource": "arn:aws:iot:*:*:client/${iot:ClientId}"}]})");
  ProcessResult policy = run({"policy", "create", "connect", "--document", document});
  ASSERT_EQ(policy.exit_code, 0) << policy.err;
  EXPECT_TRUE(has(policy.out, "created policy connect (version 1)"));
  std::string typo = write("typo.json", R"({"Version": "2012-10-17", "Statement": [
      {"Effect": "Allow", "Action": "iot:Conect", "Resource": "*"}]})");
  expect_failure(run({"policy", "create", "typo", "--document", typo}), "iot:Conect");
  EXPECT_EQ(run_json({"policy", "update", "connect", "--document", document})["version"], 2);
  EXPECT_TRUE(has(run({"policy", "describe", "connect"}).out, "iot:Connect"));
  ASSERT_EQ(run({"policy", "attach", "connect", "--cert", id}).exit_code, 0);
  EXPECT_EQ(run_json({"policy", "list", "--cert", id})["items"][0]["policyName"], "connect");
  expect_failure(run({"policy", "attach", "connect"}), "--cert", 2);
  expect_failure(run({"policy", "delete", "connect"}), "connect");
  ASSERT_EQ(run({"policy", "detach", "connect", "--cert", id}).exit_code, 0);
  ASSERT_EQ(run({"policy", "delete", "connect"}).exit_code, 0);
  EXPECT_EQ(run_json({"policy", "list"})["items"].size(), 0u);

  // revoking is final
  ProcessResult revoked = run({"cert", "revoke", id});
  EXPECT_TRUE(has(revoked.out, "is REVOKED")) << revoked.err;
  expect_failure(run({"cert", "activate", id}), "REVOKED");
  ASSERT_EQ(run({"cert", "detach", id, "lamp-1"}).exit_code, 0);
}

TEST_F(CliFleet, AuditListShowsWhoChangedWhat) {
  ASSERT_EQ(run({"thing", "create", "lamp-1"}).exit_code, 0);
  ASSERT_EQ(run({"group", "create", "g"}).exit_code, 0);
  json entries = run_json({"audit", "list"});
  ASSERT_EQ(entries["items"].size(), 2u);
  EXPECT_EQ(entries["items"][0]["actor"], "alice");
  EXPECT_EQ(entries["items"][0]["action"], "thing.create");
  EXPECT_EQ(run_json({"audit", "list", "--target-type", "thing-group"})["items"].size(), 1u);
  ProcessResult text = run({"audit", "list", "--target-id", "lamp-1"});
  EXPECT_TRUE(has(text.out, "alice")) << text.out;
  EXPECT_TRUE(has(text.out, "thing lamp-1")) << text.out;
  expect_failure(run({"audit", "list", "--since", "yesterday"}), "since");
}

// ---- errors and where the token comes from ----------------------------------------------------

TEST_F(CliFleet, UnreachableServerSaysWhereItLookedAndWhatToDo) {
  // A bound socket that does not listen: connecting to it is refused.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  socklen_t size = sizeof address;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size), 0);
  std::string url = "http://127.0.0.1:" + std::to_string(ntohs(address.sin_port));

  ProcessResult r =
      ironroot_cli({"thing", "list", "--server", url, "--token", "t"}, kCleanEnvironment);
  expect_failure(r, "cannot reach ironrootd at " + url);
  EXPECT_TRUE(has(r.err, "--server")) << r.err;
  // IRONROOT_SERVER is used when --server is not given.
  std::vector<std::string> env = kCleanEnvironment;
  env.push_back("IRONROOT_SERVER=" + url);
  expect_failure(ironroot_cli({"thing", "list", "--token", "t"}, env), url);
  ::close(fd);

  expect_failure(
      ironroot_cli({"thing", "list", "--server", "127.0.0.1:1", "--token", "t"}, kCleanEnvironment),
      "http://", 2);
}

TEST_F(CliFleet, BadOrMissingTokensSayHowToGiveOne) {
  ProcessResult bad = ironroot_cli({"thing", "list", "--server", server_.url(), "--token", "nope"},
                                   kCleanEnvironment);
  expect_failure(bad, "not accepted");
  EXPECT_TRUE(has(bad.err, "--token")) << bad.err;
  ProcessResult none =
      ironroot_cli({"thing", "list", "--server", server_.url()}, kCleanEnvironment);
  expect_failure(none, "no operator token");
  EXPECT_TRUE(has(none.err, "IRONROOT_TOKEN")) << none.err;
  ProcessResult json_error = ironroot_cli(
      {"thing", "list", "--server", server_.url(), "--token", "nope", "--json"}, kCleanEnvironment);
  EXPECT_EQ(json_error.exit_code, 1);
  EXPECT_TRUE(json::parse(json_error.out)["error"].get<std::string>().find("not accepted") !=
              std::string::npos);
}

TEST_F(CliFleet, TokenComesFromTheFlagAFileTheEnvironmentOrTheDataFolder) {
  const std::vector<std::string> list = {"thing", "list", "--server", server_.url()};
  auto with = [&](std::vector<std::string> extra, std::vector<std::string> env) {
    std::vector<std::string> args = list;
    args.insert(args.end(), extra.begin(), extra.end());
    env.insert(env.begin(), kCleanEnvironment.begin(), kCleanEnvironment.end());
    return ironroot_cli(args, env);
  };
  std::string file = write("token", std::string(kAliceToken) + "\n");
  EXPECT_EQ(with({"--token-file", file}, {}).exit_code, 0);
  EXPECT_EQ(with({}, {std::string("IRONROOT_TOKEN=") + kAliceToken}).exit_code, 0);
  fs::create_directories(dir_ / "data");
  write("data/operator.token", kAliceToken);
  EXPECT_EQ(with({}, {"IRONROOT_DATA_DIR=" + (dir_ / "data").string()}).exit_code, 0);
  // The flag wins over the environment.
  expect_failure(with({"--token", "nope"}, {std::string("IRONROOT_TOKEN=") + kAliceToken}),
                 "not accepted");
  expect_failure(with({"--token-file", (dir_ / "missing").string()}, {}), "missing");
}

TEST_F(CliFleet, UnknownObjectsAreReportedByName) {
  expect_failure(run({"thing", "describe", "nope"}), "no thing 'nope'");
  expect_failure(run({"cert", "describe", std::string(64, 'a')}), std::string(64, 'a'));
  expect_failure(run({"cert", "describe", "xyz"}), "64 hex digits");
  expect_failure(run({"policy", "describe", "nope"}), "nope");
  expect_failure(run({"template", "describe", "nope"}), "nope");
  EXPECT_EQ(run({"thing", "--help"}).exit_code, 0);
  EXPECT_EQ(run({"cert", "revoke", "--help"}).exit_code, 0);
}

}  // namespace
}  // namespace ironroot::testing
