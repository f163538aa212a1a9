// Signing keys inside a real SoftHSM2 token, named by PKCS#11 URIs, through the real CLI.
#include <gtest/gtest.h>

#include "cli.hpp"
#include "support/softhsm_token.hpp"
#include "support/temp_dir.hpp"

namespace ironroot::testing {
namespace {

class CliPkcs11 : public ::testing::Test {
 protected:
  void SetUp() override {
    Bytes fw(32, std::byte{0});
    for (int i = 0; i < 2000; ++i) fw.push_back(std::byte(i & 0xff));
    write_bytes(dir_ / "fw.bin", fw);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  ProcessResult sign(const std::string& key, const std::string& out,
                     const std::vector<std::string>& env = {}) {
    return ironroot_cli({"image", "sign", "-k", key, "-v", "2.0.0", "-H", "32", "-S", "0x4000",
                         "-s", "auto", path("fw.bin"), path(out)},
                        env);
  }
  TempDir dir_;
  SoftHsmToken token_{"oem-signing", "4321"};
};

class CliPkcs11Keygen : public CliPkcs11, public ::testing::WithParamInterface<std::string> {};

TEST_P(CliPkcs11Keygen, GenerateInTokenSignVerify) {
  const std::string uri = token_.uri("fw-key-" + GetParam());
  auto gen = ironroot_cli({"--json", "image", "keygen", "-k", uri, "-t", GetParam()});
  ASSERT_EQ(gen.exit_code, 0) << gen.err << gen.out;
  const std::string key_hash = json_of(gen)["key_hash"];

  auto s = sign(uri, "hsm.img");
  ASSERT_EQ(s.exit_code, 0) << s.err;
  // Verify with the token key itself, and with its public half exported to a file.
  EXPECT_EQ(ironroot_cli({"image", "verify", "-k", uri, path("hsm.img")}).exit_code, 0);
  ASSERT_EQ(
      ironroot_cli({"image", "getpub", "-k", uri, "-e", "pem", "-o", path("pub.pem")}).exit_code,
      0);
  auto v = ironroot_cli({"--json", "image", "verify", "-k", path("pub.pem"), path("hsm.img")});
  ASSERT_EQ(v.exit_code, 0) << v.err;
  EXPECT_EQ(json_of(v)["key_hash"], key_hash);

  // The same label twice is refused: a code-signing key is never silently replaced.
  auto again = ironroot_cli({"image", "keygen", "-k", uri, "-t", GetParam()});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_EQ(line_count(again.err), 1) << again.err;
}

INSTANTIATE_TEST_SUITE_P(KeyTypes, CliPkcs11Keygen, ::testing::Values("ecdsa-p256", "ed25519"),
                         [](const ::testing::TestParamInfo<std::string>& p) {
                           return p.param == "ed25519" ? std::string("ed25519")
                                                       : std::string("ecdsa_p256");
                         });

TEST_F(CliPkcs11, SignsWithAKeyMadeByPkcs11Tool) {
  auto made = run_process({"pkcs11-tool", "--module", kSoftHsmModule, "--token-label",
                           "oem-signing", "--login", "--pin", "4321", "--keypairgen", "--key-type",
                           "EC:prime256v1", "--label", "legacy key", "--id", "0a0b"});
  ASSERT_EQ(made.exit_code, 0) << made.err << made.out;
  // Label with a space (percent-encoded), PIN from the environment.
  const std::string uri = "pkcs11:token=oem-signing;object=legacy%20key;type=private";
  auto s = sign(uri, "legacy.img", {"IRONROOT_PKCS11_PIN=4321"});
  ASSERT_EQ(s.exit_code, 0) << s.err;
  auto by_id =
      sign("pkcs11:token=oem-signing;id=%0a%0b", "by-id.img", {"IRONROOT_PKCS11_PIN=4321"});
  ASSERT_EQ(by_id.exit_code, 0) << by_id.err;
  auto v = ironroot_cli({"image", "verify", "-k", uri, path("legacy.img")},
                        {"IRONROOT_PKCS11_PIN=4321"});
  EXPECT_EQ(v.exit_code, 0) << v.err;
}

TEST_F(CliPkcs11, TokenErrorsAreClear) {
  ASSERT_EQ(ironroot_cli({"image", "keygen", "-k", token_.uri("k")}).exit_code, 0);
  auto wrong_pin = sign("pkcs11:token=oem-signing;object=k?pin-value=0000", "x.img");
  EXPECT_EQ(wrong_pin.exit_code, 1);
  EXPECT_NE(wrong_pin.err.find("PIN incorrect"), std::string::npos) << wrong_pin.err;
  auto no_token = sign("pkcs11:token=nope;object=k?pin-value=4321", "x.img");
  EXPECT_EQ(no_token.exit_code, 1);
  EXPECT_NE(no_token.err.find("oem-signing"), std::string::npos)
      << no_token.err;  // lists what exists
  auto no_key = sign("pkcs11:token=oem-signing;object=missing?pin-value=4321", "x.img");
  EXPECT_EQ(no_key.exit_code, 1);
  EXPECT_NE(no_key.err.find("missing"), std::string::npos) << no_key.err;
  auto bad_uri = sign("pkcs11:token=oem-signing;object=k%zz", "x.img");
  EXPECT_EQ(bad_uri.exit_code, 1);
  EXPECT_EQ(line_count(bad_uri.err), 1) << bad_uri.err;
  auto no_module = sign(
      "pkcs11:token=oem-signing;object=k?pin-value=4321&module-path=/nonexistent/p11.so", "x.img");
  EXPECT_EQ(no_module.exit_code, 1);
  EXPECT_NE(no_module.err.find("/nonexistent/p11.so"), std::string::npos) << no_module.err;
  // The PIN never appears in messages.
  for (const auto* r : {&wrong_pin, &no_token, &no_key}) {
    EXPECT_EQ(r->err.find("pin-value"), std::string::npos) << r->err;
  }
  EXPECT_FALSE(std::filesystem::exists(path("x.img")));
}

}  // namespace
}  // namespace ironroot::testing
