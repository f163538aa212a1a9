// `ironroot ca ...` end to end: the real binary, a real CA folder, keys in files and in a SoftHSM2
// token, and OpenSSL's own command line as the independent judge of every certificate and CRL.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "cli.hpp"
#include "ironroot/crypto/x509.hpp"
#include "support/softhsm_token.hpp"
#include "support/temp_dir.hpp"

namespace ironroot::testing {
namespace {

namespace fs = std::filesystem;

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

unsigned mode_of(const fs::path& path) {
  struct stat st {};
  ::stat(path.c_str(), &st);
  return st.st_mode & 0777;
}

// A failure: exit 1 and exactly one line on stderr that names the cause.
void expect_failure(const ProcessResult& r, const std::string& cause, int exit_code = 1) {
  EXPECT_EQ(r.exit_code, exit_code) << r.out << r.err;
  EXPECT_EQ(line_count(r.err), 1) << r.err;
  EXPECT_TRUE(has(r.err, cause)) << r.err;
}

class CliCa : public ::testing::Test {
 protected:
  void SetUp() override {
    auto init = ironroot_cli({"--json", "ca", "init", "--dir", ca_dir(), "--name", "Acme"});
    ASSERT_EQ(init.exit_code, 0) << init.err;
    init_ = json_of(init);
    ASSERT_EQ(ironroot_cli({"image", "keygen", "-k", path("device.pem")}).exit_code, 0);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::string ca_dir() const { return path("ca"); }
  std::string ca_file(const std::string& name) const { return (dir_ / "ca" / name).string(); }

  // Makes a CSR for device.pem and issues it; returns `ca issue --json`'s document.
  nlohmann::json issue(const std::string& cert, const std::string& cn = "thing-1",
                       std::vector<std::string> extra = {}) {
    auto csr = ironroot_cli({"ca", "csr", "-k", path("device.pem"), "--cn", cn, "--serial",
                             "SN-0001", "-o", path(cn + ".csr")});
    EXPECT_EQ(csr.exit_code, 0) << csr.err;
    std::vector<std::string> args = {"--json",          "ca", "issue",   "--dir", ca_dir(), "--csr",
                                     path(cn + ".csr"), "-o", path(cert)};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = ironroot_cli(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.exit_code == 0 ? json_of(r) : nlohmann::json();
  }
  ProcessResult openssl_verify(const std::string& cert, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"openssl",    "verify",
                                     "-CAfile",    ca_file("root-ca.crt"),
                                     "-untrusted", ca_file("device-ca.crt")};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(path(cert));
    return run_process(args);
  }
  std::string openssl_text(const std::string& file, const std::string& what = "x509") {
    return run_process({"openssl", what, "-in", file, "-noout", "-text"}).out;
  }

  TempDir dir_;
  nlohmann::json init_;
};

TEST_F(CliCa, InitMakesARootAndADeviceCa) {
  EXPECT_EQ(mode_of(ca_dir()), 0700u);
  EXPECT_EQ(mode_of(ca_file("root-ca.key")), 0600u);
  EXPECT_EQ(mode_of(ca_file("device-ca.key")), 0600u);
  for (const char* file : {"root-ca.crt", "device-ca.crt", "ca-chain.crt", "ca.json"}) {
    EXPECT_TRUE(fs::exists(ca_file(file))) << file;
  }
  EXPECT_EQ(init_["root_ca"]["subject"], "CN=Acme Root CA,O=Acme");
  EXPECT_EQ(init_["device_ca"]["issuer"], "CN=Acme Root CA,O=Acme");
  EXPECT_EQ(init_["root_ca"]["serial"].get<std::string>().size(), 32u);

  std::string root = openssl_text(ca_file("root-ca.crt"));
  EXPECT_TRUE(has(root, "X509v3 Basic Constraints: critical\n                CA:TRUE\n")) << root;
  EXPECT_TRUE(has(root, "X509v3 Key Usage: critical\n                Certificate Sign, CRL Sign"));
  EXPECT_TRUE(has(root, "X509v3 Subject Key Identifier"));
  EXPECT_TRUE(has(root, "ecdsa-with-SHA256"));
  EXPECT_TRUE(has(root, "ASN1 OID: prime256v1"));
  std::string device_ca = openssl_text(ca_file("device-ca.crt"));
  EXPECT_TRUE(has(device_ca, "CA:TRUE, pathlen:0")) << device_ca;
  EXPECT_TRUE(has(device_ca, "X509v3 Authority Key Identifier"));
  auto v = run_process(
      {"openssl", "verify", "-CAfile", ca_file("root-ca.crt"), ca_file("device-ca.crt")});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;

  // The validity asked for.
  auto short_ca =
      ironroot_cli({"--json", "ca", "init", "--dir", path("short"), "--validity-days", "30"});
  ASSERT_EQ(short_ca.exit_code, 0) << short_ca.err;
  auto j = json_of(short_ca);
  auto from = crypto::parse_time(j["root_ca"]["not_before"].get<std::string>());
  auto to = crypto::parse_time(j["root_ca"]["not_after"].get<std::string>());
  EXPECT_EQ(*to - *from, std::chrono::days{30} + std::chrono::hours{1});
}

TEST_F(CliCa, InitRefusesAnExistingCaAndBadOptions) {
  expect_failure(ironroot_cli({"ca", "init", "--dir", ca_dir()}), "already holds a CA");
  fs::create_directories(dir_ / "busy");
  write_bytes(dir_ / "busy" / "x", as_bytes("x"));
  expect_failure(ironroot_cli({"ca", "init", "--dir", path("busy")}), "not empty");
  expect_failure(ironroot_cli({"ca", "init", "--dir", path("n"), "--name", ""}), "--name", 2);
  expect_failure(ironroot_cli({"ca", "init", "--dir", path("n"), "--root-key", path("root.pem")}),
                 "pkcs11: URI", 2);
  EXPECT_EQ(ironroot_cli({"ca", "init", "--dir", path("n"), "--validity-days", "0"}).exit_code, 2);
  EXPECT_FALSE(fs::exists(path("n")));
}

TEST_F(CliCa, IssuesAClientCertificateThatOpensslAccepts) {
  auto csr_check = [&] {
    EXPECT_EQ(ironroot_cli({"ca", "csr", "-k", path("device.pem"), "--cn", "thing-1", "--serial",
                            "SN-0001", "-o", path("device.csr")})
                  .exit_code,
              0);
    return run_process(
        {"openssl", "req", "-in", path("device.csr"), "-noout", "-verify", "-subject"});
  }();
  EXPECT_EQ(csr_check.exit_code, 0) << csr_check.err;
  EXPECT_TRUE(has(csr_check.out + csr_check.err, "verify OK")) << csr_check.err;
  EXPECT_TRUE(has(csr_check.out, "CN = thing-1, serialNumber = SN-0001")) << csr_check.out;

  nlohmann::json cert = issue("device.crt");
  EXPECT_EQ(cert["subject"], "serialNumber=SN-0001,CN=thing-1");
  EXPECT_EQ(cert["issuer"], "CN=Acme Device CA,O=Acme");
  auto v = openssl_verify("device.crt", {"-purpose", "sslclient"});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_EQ(v.out, path("device.crt") + ": OK\n");

  std::string text = openssl_text(path("device.crt"));
  EXPECT_TRUE(has(text, "X509v3 Basic Constraints: critical\n                CA:FALSE")) << text;
  EXPECT_TRUE(has(text, "X509v3 Key Usage: critical\n                Digital Signature\n"));
  EXPECT_TRUE(
      has(text, "X509v3 Extended Key Usage: \n                TLS Web Client Authentication"));
  EXPECT_TRUE(has(text, "X509v3 Subject Key Identifier"));
  EXPECT_TRUE(has(text, "X509v3 Authority Key Identifier"));
  auto serial = run_process({"openssl", "x509", "-in", path("device.crt"), "-noout", "-serial"});
  std::string upper = cert["serial"];
  std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
  EXPECT_EQ(serial.out, "serial=" + upper + "\n");
  auto fp = run_process(
      {"openssl", "x509", "-in", path("device.crt"), "-noout", "-fingerprint", "-sha256"});
  std::string hex = fp.out.substr(fp.out.find('=') + 1);
  hex.erase(std::remove(hex.begin(), hex.end(), ':'), hex.end());
  hex.erase(std::remove(hex.begin(), hex.end(), '\n'), hex.end());
  std::transform(hex.begin(), hex.end(), hex.begin(), ::tolower);
  EXPECT_EQ(hex, cert["sha256"]);

  // --chain appends the device CA: verifiable with the root alone.
  issue("full.crt", "thing-2", {"--chain"});
  auto chain_v = run_process({"openssl", "verify", "-CAfile", ca_file("root-ca.crt"), "-untrusted",
                              path("full.crt"), path("full.crt")});
  EXPECT_EQ(chain_v.exit_code, 0) << chain_v.out << chain_v.err;
  // ca-chain.crt is the whole trust path a broker needs.
  auto by_chain =
      run_process({"openssl", "verify", "-CAfile", ca_file("ca-chain.crt"), path("device.crt")});
  EXPECT_EQ(by_chain.exit_code, 0) << by_chain.out << by_chain.err;
}

TEST_F(CliCa, SerialsAreUniqueAndRecorded) {
  std::set<std::string> serials;
  for (int i = 0; i < 8; ++i) {
    std::string serial = issue("c" + std::to_string(i) + ".crt")["serial"];
    EXPECT_EQ(serial.size(), 32u) << serial;
    EXPECT_TRUE(serial.find_first_not_of("0123456789abcdef") == std::string::npos) << serial;
    serials.insert(serial);
  }
  EXPECT_EQ(serials.size(), 8u);
  auto db = nlohmann::json::parse(as_chars(file_bytes(ca_file("ca.json"))));
  ASSERT_EQ(db["certificates"].size(), 8u);
  for (const auto& entry : db["certificates"]) {
    EXPECT_EQ(serials.count(entry["serial"].get<std::string>()), 1u);
    EXPECT_EQ(entry["subject"], "serialNumber=SN-0001,CN=thing-1");
  }
}

TEST_F(CliCa, RevokedCertificatesAreRefusedThroughTheCrl) {
  std::string revoked = issue("revoked.crt")["serial"];
  std::string kept = issue("kept.crt", "thing-2")["serial"];
  // Before any revocation: a CRL with nothing in it, and both certificates pass a CRL check.
  auto empty = ironroot_cli({"--json", "ca", "crl", "--dir", ca_dir(), "-o", path("crl0.pem")});
  ASSERT_EQ(empty.exit_code, 0) << empty.err;
  EXPECT_EQ(json_of(empty)["crl_number"], 1);
  EXPECT_EQ(openssl_verify("revoked.crt", {"-crl_check", "-CRLfile", path("crl0.pem")}).exit_code,
            0);

  // The serial as OpenSSL prints it: upper case, with colons.
  auto printed = run_process({"openssl", "x509", "-in", path("revoked.crt"), "-noout", "-serial"});
  std::string colons;
  std::string hex = printed.out.substr(7, 32);
  for (std::size_t i = 0; i < hex.size(); i += 2) colons += (i ? ":" : "") + hex.substr(i, 2);
  auto r = ironroot_cli({"--json", "ca", "revoke", "--dir", ca_dir(), "--serial", colons,
                         "--reason", "keyCompromise"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json_of(r)["serial"], revoked);

  auto crl = ironroot_cli({"--json", "ca", "crl", "--dir", ca_dir(), "-o", path("crl.pem"),
                           "--next-update-hours", "48"});
  ASSERT_EQ(crl.exit_code, 0) << crl.err;
  auto doc = json_of(crl);
  EXPECT_EQ(doc["crl_number"], 2);
  EXPECT_EQ(doc["revoked"], 1);
  EXPECT_EQ(*crypto::parse_time(doc["next_update"].get<std::string>()) -
                *crypto::parse_time(doc["this_update"].get<std::string>()),
            std::chrono::hours{48});

  auto refused = openssl_verify("revoked.crt", {"-crl_check", "-CRLfile", path("crl.pem")});
  EXPECT_EQ(refused.exit_code, 2) << refused.out;
  EXPECT_TRUE(has(refused.out + refused.err, "certificate revoked")) << refused.out << refused.err;
  auto ok = openssl_verify("kept.crt", {"-crl_check", "-CRLfile", path("crl.pem")});
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  std::string text = openssl_text(path("crl.pem"), "crl");
  EXPECT_TRUE(has(text, "Key Compromise")) << text;
  EXPECT_TRUE(has(text, "X509v3 CRL Number: \n                2")) << text;
  EXPECT_TRUE(has(text, "X509v3 Authority Key Identifier")) << text;
  auto signed_by = run_process(
      {"openssl", "crl", "-in", path("crl.pem"), "-noout", "-CAfile", ca_file("device-ca.crt")});
  EXPECT_TRUE(has(signed_by.err, "verify OK")) << signed_by.err;

  // Twice is refused; the certificate file works as well as the serial.
  expect_failure(ironroot_cli({"ca", "revoke", "--dir", ca_dir(), "--cert", path("revoked.crt")}),
                 "already revoked");
  auto by_cert = ironroot_cli({"--json", "ca", "revoke", "--dir", ca_dir(), "--cert",
                               path("kept.crt"), "--reason", "cessationOfOperation"});
  ASSERT_EQ(by_cert.exit_code, 0) << by_cert.err;
  EXPECT_EQ(json_of(by_cert)["serial"], kept);
  ASSERT_EQ(ironroot_cli({"ca", "crl", "--dir", ca_dir(), "-o", path("crl2.pem")}).exit_code, 0);
  EXPECT_EQ(openssl_verify("kept.crt", {"-crl_check", "-CRLfile", path("crl2.pem")}).exit_code, 2);
}

TEST_F(CliCa, RevokeSaysWhatIsWrong) {
  issue("device.crt");
  expect_failure(ironroot_cli({"ca", "revoke", "--dir", ca_dir(), "--serial", "0x1234"}),
                 "was not issued by the CA");
  expect_failure(ironroot_cli({"ca", "revoke", "--dir", ca_dir(), "--serial", "xyz"}),
                 "not a serial number", 2);
  expect_failure(ironroot_cli({"ca", "revoke", "--dir", ca_dir()}), "--serial HEX or --cert", 2);
  EXPECT_EQ(ironroot_cli({"ca", "revoke", "--dir", ca_dir(), "--serial", "12", "--reason",
                          "certificateHold"})
                .exit_code,
            2);
  EXPECT_EQ(ironroot_cli(
                {"ca", "revoke", "--dir", ca_dir(), "--serial", "12", "--cert", path("device.crt")})
                .exit_code,
            2);
  // A certificate from another CA.
  ASSERT_EQ(ironroot_cli({"ca", "init", "--dir", path("other")}).exit_code, 0);
  ASSERT_EQ(ironroot_cli({"ca", "issue", "--dir", path("other"), "--csr", path("thing-1.csr"), "-o",
                          path("foreign.crt")})
                .exit_code,
            0);
  expect_failure(ironroot_cli({"ca", "revoke", "--dir", ca_dir(), "--cert", path("foreign.crt")}),
                 "was not issued by this CA");
  expect_failure(ironroot_cli({"ca", "crl", "--dir", path("nowhere"), "-o", path("x.pem")}),
                 "is not an ironroot CA folder");
}

TEST_F(CliCa, BadCsrsAreRefusedWithTheReason) {
  ASSERT_EQ(ironroot_cli(
                {"ca", "csr", "-k", path("device.pem"), "--cn", "thing-1", "-o", path("good.csr")})
                .exit_code,
            0);
  auto issue_csr = [&](const std::string& csr) {
    return ironroot_cli(
        {"ca", "issue", "--dir", ca_dir(), "--csr", path(csr), "-o", path("out.crt")});
  };
  // Altered after signing: the CN in the DER form changes, the signature no longer matches.
  auto der = run_process(
      {"openssl", "req", "-in", path("good.csr"), "-outform", "DER", "-out", path("good.der")});
  ASSERT_EQ(der.exit_code, 0) << der.err;
  Bytes bytes = file_bytes(path("good.der"));
  auto at = std::search(bytes.begin(), bytes.end(), as_bytes("thing-1").begin(),
                        as_bytes("thing-1").end());
  ASSERT_NE(at, bytes.end());
  at[6] = std::byte{'9'};
  write_bytes(dir_ / "altered.der", bytes);
  expect_failure(issue_csr("altered.der"), "self-signature does not verify");

  // Made by OpenSSL: an Ed25519 key, a P-384 key, no CN, a CN that is no thing name.
  struct Case {
    std::vector<std::string> keygen;
    std::string subject;
    std::string cause;
  };
  const std::vector<Case> cases = {
      {{"-algorithm", "ED25519"}, "/CN=thing-1", "device keys must be ECDSA P-256"},
      {{"-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"}, "/CN=thing-1", "secp384r1"},
      {{"-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"}, "/serialNumber=7", "no CN"},
      {{"-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"}, "/CN=thing 1", "thing name"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> keygen = {"openssl", "genpkey"};
    keygen.insert(keygen.end(), c.keygen.begin(), c.keygen.end());
    keygen.insert(keygen.end(), {"-out", path("k.pem")});
    ASSERT_EQ(run_process(keygen).exit_code, 0);
    ASSERT_EQ(run_process({"openssl", "req", "-new", "-key", path("k.pem"), "-subj", c.subject,
                           "-out", path("k.csr")})
                  .exit_code,
              0);
    expect_failure(issue_csr("k.csr"), c.cause);
  }
  write_bytes(dir_ / "garbage.csr", as_bytes("garbage"));
  expect_failure(issue_csr("garbage.csr"), "not a certificate request");
  expect_failure(issue_csr("missing.csr"), "cannot open");

  // Nothing refused was recorded.
  auto db = nlohmann::json::parse(as_chars(file_bytes(ca_file("ca.json"))));
  EXPECT_TRUE(db["certificates"].empty());
  EXPECT_FALSE(fs::exists(path("out.crt")));

  // `ca csr` checks its own input.
  expect_failure(
      ironroot_cli({"ca", "csr", "-k", path("device.pem"), "--cn", "a/b", "-o", path("x.csr")}),
      "thing name", 2);
  expect_failure(ironroot_cli({"ca", "csr", "-k", path("device.pem"), "--cn", "ok", "--serial",
                               "S N", "-o", path("x.csr")}),
                 "device serial", 2);
  ASSERT_EQ(ironroot_cli({"image", "keygen", "-k", path("ed.pem"), "-t", "ed25519"}).exit_code, 0);
  expect_failure(
      ironroot_cli({"ca", "csr", "-k", path("ed.pem"), "--cn", "ok", "-o", path("x.csr")}),
      "ECDSA P-256");
}

TEST_F(CliCa, ValidityCanBeChosenIncludingExpired) {
  nlohmann::json month = issue("month.crt", "thing-1", {"--days", "30"});
  EXPECT_EQ(*crypto::parse_time(month["not_after"].get<std::string>()) -
                *crypto::parse_time(month["not_before"].get<std::string>()),
            std::chrono::days{30} + std::chrono::hours{1});

  nlohmann::json old = issue("expired.crt", "thing-2",
                             {"--not-before", "2024-01-01", "--not-after", "2024-06-30T12:00:00Z"});
  EXPECT_EQ(old["not_before"], "2024-01-01T00:00:00Z");
  EXPECT_EQ(old["not_after"], "2024-06-30T12:00:00Z");
  auto v = openssl_verify("expired.crt");
  EXPECT_EQ(v.exit_code, 2);
  EXPECT_TRUE(has(v.out + v.err, "certificate has expired")) << v.out << v.err;
  // Only its time is wrong: without the time check the chain verifies.
  auto then = openssl_verify("expired.crt", {"-no_check_time"});
  EXPECT_EQ(then.exit_code, 0) << then.out << then.err;

  auto args = [&](std::vector<std::string> extra) {
    std::vector<std::string> a = {
        "ca", "issue", "--dir", ca_dir(), "--csr", path("thing-1.csr"), "-o", path("x.crt")};
    a.insert(a.end(), extra.begin(), extra.end());
    return ironroot_cli(a);
  };
  EXPECT_EQ(args({"--days", "3", "--not-after", "2030-01-01"}).exit_code, 2);
  expect_failure(args({"--not-before", "2030-01-01", "--not-after", "2029-01-01"}),
                 "must come after", 2);
  expect_failure(args({"--not-before", "2030-02-30"}), "not a valid date", 2);
  expect_failure(args({"--days", "20000"}), "after the CA certificate");
  EXPECT_EQ(args({"--days", "0"}).exit_code, 2);
}

TEST_F(CliCa, EveryVerbHasHelp) {
  for (const char* verb : {"init", "csr", "issue", "revoke", "crl"}) {
    auto r = ironroot_cli({"ca", verb, "--help"});
    EXPECT_EQ(r.exit_code, 0) << verb;
    EXPECT_TRUE(has(r.out, "Usage:")) << verb;
  }
  EXPECT_EQ(ironroot_cli({"ca"}).exit_code, 2);
  EXPECT_EQ(ironroot_cli({"ca", "issue", "--dir", ca_dir()}).exit_code, 2);
}

// The CA keys inside a PKCS#11 token: certificates, CRLs and CSRs all signed there.
TEST(CliCaToken, KeysInATokenSignEverything) {
  TempDir dir;
  SoftHsmToken token("ca-token", "2468");
  const std::vector<std::string> pin = {"IRONROOT_PKCS11_PIN=2468"};
  auto path = [&](const std::string& name) { return (dir / name).string(); };
  auto init = ironroot_cli({"--json", "ca", "init", "--dir", path("ca"), "--root-key",
                            token.uri("root-ca"), "--device-ca-key", token.uri("device-ca")});
  ASSERT_EQ(init.exit_code, 0) << init.err;
  EXPECT_FALSE(fs::exists(dir / "ca" / "root-ca.key"));
  std::string db(as_chars(file_bytes(dir / "ca" / "ca.json")));
  EXPECT_TRUE(has(db, "pkcs11:token=ca-token;object=device-ca")) << db;
  EXPECT_FALSE(has(db, "2468")) << "the PIN must not be stored";

  ASSERT_EQ(ironroot_cli({"image", "keygen", "-k", "pkcs11:token=ca-token;object=thing-7"}, pin)
                .exit_code,
            0);
  auto csr = ironroot_cli({"ca", "csr", "-k", "pkcs11:token=ca-token;object=thing-7", "--cn",
                           "thing-7", "-o", path("thing.csr")},
                          pin);
  ASSERT_EQ(csr.exit_code, 0) << csr.err;
  auto no_pin = ironroot_cli(
      {"ca", "issue", "--dir", path("ca"), "--csr", path("thing.csr"), "-o", path("thing.crt")});
  expect_failure(no_pin, "IRONROOT_PKCS11_PIN");
  auto issued = ironroot_cli(
      {"ca", "issue", "--dir", path("ca"), "--csr", path("thing.csr"), "-o", path("thing.crt")},
      pin);
  ASSERT_EQ(issued.exit_code, 0) << issued.err;
  ASSERT_EQ(
      ironroot_cli({"ca", "revoke", "--dir", path("ca"), "--cert", path("thing.crt")}).exit_code,
      0);
  ASSERT_EQ(ironroot_cli({"ca", "crl", "--dir", path("ca"), "-o", path("crl.pem")}, pin).exit_code,
            0);

  std::string root = (dir / "ca" / "root-ca.crt").string();
  std::string ca = (dir / "ca" / "device-ca.crt").string();
  auto v = run_process({"openssl", "verify", "-CAfile", root, "-untrusted", ca, path("thing.crt")});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  auto revoked = run_process({"openssl", "verify", "-crl_check", "-CRLfile", path("crl.pem"),
                              "-CAfile", root, "-untrusted", ca, path("thing.crt")});
  EXPECT_TRUE(has(revoked.out + revoked.err, "certificate revoked")) << revoked.out;
  auto req = run_process({"openssl", "req", "-in", path("thing.csr"), "-noout", "-verify"});
  EXPECT_EQ(req.exit_code, 0) << req.err;
}

}  // namespace
}  // namespace ironroot::testing
