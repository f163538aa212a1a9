// `ironroot broker init|run` through the real binary: what the configuration says, and what is
// refused before Mosquitto ever starts.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "ironroot/core/file.hpp"
#include "ironroot/crypto/certificate_authority.hpp"
#include "ironroot/crypto/x509.hpp"
#include "support/broker_process.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace ironroot::testing {
namespace {

::testing::AssertionResult contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << part << "' not in: " << text;
}

ProcessResult ironroot(std::vector<std::string> args) {
  args.insert(args.begin(), IRONROOT_CLI);
  return run_process(args);
}

std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

class BrokerCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::chmod(dir_.path().c_str(), 0755);
    auto r = ironroot({"ca", "init", "--dir", ca_, "--name", "Acme"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  TempDir dir_;
  std::string ca_ = (dir_ / "ca").string();
  std::string broker_ = (dir_ / "broker").string();
};

TEST_F(BrokerCliTest, InitWritesAnMtlsConfiguration) {
  auto r = ironroot({"broker", "init", "--dir", broker_, "--ca", ca_, "--port", "18883",
                     "--fleet-port", "18884", "--bind", "127.0.0.1", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["port"], 18883);
  EXPECT_EQ(doc["fleet_port"], 18884);
  std::string conf = slurp(std::filesystem::path(broker_) / "mosquitto.conf");
  const std::vector<std::string> lines{"per_listener_settings true\n",
                                       "set_tcp_nodelay true\n",
                                       "listener 18883 127.0.0.1\n",
                                       "listener 18884 127.0.0.1\n",
                                       "cafile " + broker_ + "/ca-chain.crt\n",
                                       "crlfile " + broker_ + "/crl.pem\n",
                                       "cafile " + broker_ + "/fleet-ca.crt\n",
                                       "require_certificate true\n",
                                       "use_identity_as_username true\n",
                                       "tls_version tlsv1.2\n",
                                       "allow_anonymous false\n",
                                       "persistence true\n",
                                       "persistence_location " + broker_ + "/data/\n",
                                       "user mosquitto\n"};
  for (const std::string& line : lines) {
    EXPECT_TRUE(contains(conf, line));
  }
  const std::string acl = slurp(std::filesystem::path(broker_) / "devices.acl");
  EXPECT_TRUE(contains(acl, "pattern readwrite $aws/things/%u/#\n"));
  EXPECT_TRUE(contains(acl, "pattern readwrite things/%u/#\n"));
  // The server certificate: issued by the device CA for the loopback names, recorded in the CA.
  auto chain = crypto::Certificate::all_from_pem(
      *read_file(std::filesystem::path(broker_) / "server.crt", 1 << 20));
  ASSERT_TRUE(chain);
  ASSERT_EQ(chain->size(), 2u);
  EXPECT_EQ(chain->front().extensions().extended_key_usage, std::vector<std::string>{"serverAuth"});
  EXPECT_TRUE(contains(slurp(std::filesystem::path(ca_) / "ca.json"), chain->front().serial_hex()));
  auto verify = run_process({"openssl", "verify", "-purpose", "sslserver", "-verify_ip",
                             "127.0.0.1", "-CAfile", ca_ + "/root-ca.crt", "-untrusted",
                             ca_ + "/device-ca.crt", broker_ + "/server.crt"});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  // The fleet identity chains to the fleet CA, not to the devices' root.
  auto fleet = run_process({"openssl", "verify", "-purpose", "sslclient", "-CAfile",
                            broker_ + "/fleet-ca.crt", broker_ + "/fleet.crt"});
  EXPECT_EQ(fleet.exit_code, 0) << fleet.out << fleet.err;
  struct stat key {};
  ASSERT_EQ(::stat((broker_ + "/fleet.key").c_str(), &key), 0);
  EXPECT_EQ(key.st_mode & 0777, 0600u);
}

TEST_F(BrokerCliTest, BadArgumentsAreUsageErrors) {
  auto usage = [&](std::vector<std::string> extra, const std::string& text) {
    std::vector<std::string> args{"broker", "init", "--dir", broker_};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = ironroot(args);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_TRUE(contains(r.err, text));
  };
  usage({}, "give the devices' CA as --ca CA_DIR");
  usage({"--ca-cert", ca_ + "/ca-chain.crt"}, "--ca-cert needs --crl FILE");
  usage({"--ca", ca_, "--server-cert", "x.crt"}, "--server-cert and --server-key together");
  usage({"--ca", ca_, "--port", "9000", "--fleet-port", "9000"}, "must differ");
  usage({"--ca", ca_, "--bind", "localhost"}, "is not an IP address");
  usage({"--ca", ca_, "--server-name", "*.example.com"}, "wildcards are not issued");
  usage({"--ca", ca_, "--topic-prefix", "a/b"}, "one topic level");
  usage({"--ca", ca_, "--user", "no such user"}, "is not a user name");
  usage({"--ca", ca_, "--port", "70000"}, "--port");
  EXPECT_FALSE(std::filesystem::exists(broker_));
}

TEST_F(BrokerCliTest, InputsThatWouldBreakTheBrokerAreRefused) {
  auto r = ironroot({"broker", "init", "--dir", broker_, "--ca", ca_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto again = ironroot({"broker", "init", "--dir", broker_, "--ca", ca_});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_TRUE(contains(again.err, "already holds a broker configuration"));
  auto not_a_ca = ironroot({"broker", "init", "--dir", (dir_ / "b1").string(), "--ca", broker_});
  EXPECT_EQ(not_a_ca.exit_code, 1);
  EXPECT_TRUE(contains(not_a_ca.err, "is not an ironroot CA folder"));

  // A CRL from another CA would make OpenSSL refuse every device.
  std::string other = (dir_ / "other").string();
  ASSERT_EQ(ironroot({"ca", "init", "--dir", other, "--name", "Other"}).exit_code, 0);
  ASSERT_EQ(ironroot({"ca", "crl", "--dir", other, "-o", other + "/crl.pem"}).exit_code, 0);
  auto wrong_crl = ironroot({"broker", "init", "--dir", (dir_ / "b2").string(), "--ca-cert",
                             ca_ + "/ca-chain.crt", "--crl", other + "/crl.pem", "--server-cert",
                             broker_ + "/server.crt", "--server-key", broker_ + "/server.key"});
  EXPECT_EQ(wrong_crl.exit_code, 1);
  EXPECT_TRUE(contains(wrong_crl.err, "is not signed by any CA of the devices' chain"));

  // A server key that is not the certificate's.
  auto wrong_key =
      ironroot({"broker", "init", "--dir", (dir_ / "b3").string(), "--ca", ca_, "--server-cert",
                broker_ + "/server.crt", "--server-key", broker_ + "/fleet.key"});
  EXPECT_EQ(wrong_key.exit_code, 1);
  EXPECT_TRUE(contains(wrong_key.err, "--server-key (key hash"));
  EXPECT_TRUE(contains(wrong_key.err, "is not the key of --server-cert"));

  // Given files are used as they are: the same broker identity in a second folder.
  auto reuse = ironroot({"broker", "init", "--dir", (dir_ / "b4").string(), "--ca-cert",
                         ca_ + "/ca-chain.crt", "--crl", broker_ + "/crl.pem", "--server-cert",
                         broker_ + "/server.crt", "--server-key", broker_ + "/server.key"});
  EXPECT_EQ(reuse.exit_code, 0) << reuse.err;
  EXPECT_EQ(slurp(dir_ / "b4" / "server.crt"),
            slurp(std::filesystem::path(broker_) / "server.crt"));
}

TEST_F(BrokerCliTest, RunRefusesWhatWouldRefuseEveryDevice) {
  auto not_a_broker = ironroot({"broker", "run", "--dir", ca_});
  EXPECT_EQ(not_a_broker.exit_code, 1);
  EXPECT_TRUE(contains(not_a_broker.err, "is not a broker folder"));

  auto r = ironroot({"broker", "init", "--dir", broker_, "--ca", ca_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // A CRL past its nextUpdate: OpenSSL would refuse every device ("CRL has expired"). Issued by
  // the device CA itself, dated in the past.
  auto ca_key = crypto::PrivateKey::from_pem(*read_file(ca_ + "/device-ca.key", 1 << 20));
  auto ca_cert = crypto::Certificate::from_pem(*read_file(ca_ + "/device-ca.crt", 1 << 20));
  ASSERT_TRUE(ca_key && ca_cert);
  auto device_ca = crypto::CertificateAuthority::open(
      *ca_cert, std::make_unique<crypto::PrivateKey>(std::move(*ca_key)));
  ASSERT_TRUE(device_ca) << device_ca.error().message;
  const crypto::Time past = std::chrono::floor<std::chrono::seconds>(
      std::chrono::system_clock::now() - std::chrono::hours(2));
  auto stale = device_ca->issue_crl({}, {past, past + std::chrono::hours(1), 99});
  ASSERT_TRUE(stale) << stale.error().message;
  ASSERT_TRUE(write_file_atomic(broker_ + "/crl.pem", as_bytes(stale->pem())));
  auto stale_run = ironroot({"broker", "run", "--dir", broker_, "--mosquitto", "/bin/false"});
  EXPECT_EQ(stale_run.exit_code, 1);
  EXPECT_TRUE(contains(stale_run.err, "so every device would be refused; publish a fresh one"));
}

}  // namespace
}  // namespace ironroot::testing
