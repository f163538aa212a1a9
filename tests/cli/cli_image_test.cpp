// `ironroot image ...` end to end: the real binary, real files, and OpenSSL's own command line as
// an independent check of keys and signatures.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "cli.hpp"
#include "ironroot/crypto/digest.hpp"
#include "ironroot/image/image.hpp"
#include "support/temp_dir.hpp"

namespace ironroot::testing {
namespace {

namespace fs = std::filesystem;

class CliImage : public ::testing::Test {
 protected:
  void SetUp() override {
    Bytes fw(32, std::byte{0});  // room for the header, as a linker script would leave
    for (int i = 0; i < 5000; ++i) fw.push_back(std::byte((i * 31) & 0xff));
    write_bytes(dir_ / "fw.bin", fw);
    Bytes bare;
    for (int i = 0; i < 3000; ++i) bare.push_back(std::byte((i * 17) & 0xff));
    write_bytes(dir_ / "bare.bin", bare);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::string keygen(const std::string& type) {
    std::string key = path(type + ".pem");
    auto r = ironroot_cli({"image", "keygen", "-k", key, "-t", type});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return key;
  }
  ProcessResult sign(const std::string& key, std::vector<std::string> extra, const std::string& out,
                     const std::string& in = "fw.bin") {
    std::vector<std::string> args = {"image",   "sign", "-k", key,  "-v",
                                     "1.2.3+4", "-H",   "32", "-S", "0x8000"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(path(in));
    args.push_back(path(out));
    return ironroot_cli(args);
  }
  TempDir dir_;
};

struct RoundTrip {
  std::string type;
  std::vector<std::string> options;
  std::string name;
};

class CliRoundTrip : public CliImage, public ::testing::WithParamInterface<RoundTrip> {};

TEST_P(CliRoundTrip, KeygenSignVerifyDumpinfo) {
  const RoundTrip& p = GetParam();
  std::string key = keygen(p.type);
  auto signed_r = sign(key, p.options, "out.img");
  ASSERT_EQ(signed_r.exit_code, 0) << signed_r.err;

  auto verified = ironroot_cli({"image", "verify", "-k", key, "-S", "0x8000", path("out.img")});
  ASSERT_EQ(verified.exit_code, 0) << verified.err;
  EXPECT_NE(verified.out.find("valid, version 1.2.3+4"), std::string::npos) << verified.out;

  auto info_r = ironroot_cli({"image", "dumpinfo", "--json", path("out.img")});
  ASSERT_EQ(info_r.exit_code, 0) << info_r.err;
  auto info = json_of(info_r);
  EXPECT_EQ(info["header"]["version"], "1.2.3+4");
  EXPECT_EQ(info["hash"]["status"], "ok");
  const auto& opts = p.options;
  auto has = [&](const std::string& o) {
    return std::find(opts.begin(), opts.end(), o) != opts.end();
  };
  if (has("--confirm") || has("--pad")) {
    EXPECT_EQ(fs::file_size(path("out.img")), 0x8000u);
    EXPECT_EQ(info["trailer"]["magic"], "good");
    EXPECT_EQ(info["trailer"]["image_ok"], has("--confirm") ? "set" : "unset");
  } else {
    EXPECT_TRUE(info["trailer"].is_null());
  }
  nlohmann::json expected_counter = has("auto") ? nlohmann::json(0x01020003)
                                    : has("9")  ? nlohmann::json(9)
                                                : nlohmann::json();
  EXPECT_EQ(info["security_counter"], expected_counter);
  if (has("(1,1.0.0), (2,0.9.1+3)")) {
    ASSERT_EQ(info["dependencies"].size(), 2u);
    EXPECT_EQ(info["dependencies"][1]["image_id"], 2);
    EXPECT_EQ(info["dependencies"][1]["min_version"], "0.9.1+3");
  }
  EXPECT_EQ(info["tlvs"].back()["name"], p.type == "ed25519" ? "ED25519" : "ECDSA_SIG");

  // The human form is there too.
  auto text = ironroot_cli({"image", "dumpinfo", path("out.img")});
  EXPECT_EQ(text.exit_code, 0);
  EXPECT_NE(text.out.find("version:          1.2.3+4"), std::string::npos) << text.out;
}

std::vector<RoundTrip> round_trips() {
  std::vector<RoundTrip> all;
  const std::vector<std::pair<std::vector<std::string>, std::string>> variants = {
      {{}, "plain"},
      {{"--pad"}, "pad"},
      {{"--confirm"}, "confirm"},
      {{"-s", "9"}, "counter"},
      {{"-s", "auto"}, "counter_auto"},
      {{"-d", "(1,1.0.0), (2,0.9.1+3)"}, "dependencies"},
      {{"--confirm", "-s", "auto", "-d", "(1,1.0.0), (2,0.9.1+3)", "--align", "8"}, "everything"},
      {{"--public-key-format", "full", "--pad", "--align", "4"}, "full_key"},
  };
  for (const std::string type : {"ecdsa-p256", "ed25519"}) {
    for (const auto& [options, name] : variants) {
      all.push_back({type, options, (type == "ed25519" ? "ed25519_" : "ecdsa_") + name});
    }
  }
  return all;
}

INSTANTIATE_TEST_SUITE_P(BothKeyTypes, CliRoundTrip, ::testing::ValuesIn(round_trips()),
                         [](const ::testing::TestParamInfo<RoundTrip>& p) { return p.param.name; });

TEST_F(CliImage, PadHeaderSignsABareBinary) {
  std::string key = keygen("ed25519");
  auto without = sign(key, {}, "bare.img", "bare.bin");
  EXPECT_EQ(without.exit_code, 1);
  EXPECT_NE(without.err.find("--pad-header"), std::string::npos) << without.err;
  auto with = sign(key, {"--pad-header", "-H", "0x200"}, "bare.img", "bare.bin");
  ASSERT_EQ(with.exit_code, 0) << with.err;
  EXPECT_EQ(ironroot_cli({"image", "verify", "-k", key, path("bare.img")}).exit_code, 0);
}

// Each verify failure: exit 1 and exactly one line on stderr that names the cause.
void expect_refused(const ProcessResult& r, const std::string& cause) {
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_EQ(line_count(r.err), 1) << r.err;
  EXPECT_NE(r.err.find(cause), std::string::npos) << r.err;
}

TEST_F(CliImage, VerifySaysExactlyWhyAnImageFails) {
  std::string key = keygen("ecdsa-p256");
  std::string other = path("other.pem");
  ASSERT_EQ(ironroot_cli({"image", "keygen", "-k", other}).exit_code, 0);
  ASSERT_EQ(sign(key, {"-s", "1"}, "good.img").exit_code, 0);
  Bytes good = file_bytes(path("good.img"));

  Bytes tampered = good;
  tampered[200] ^= std::byte{1};
  write_bytes(dir_ / "tampered.img", tampered);
  expect_refused(ironroot_cli({"image", "verify", "-k", key, path("tampered.img")}),
                 "hash mismatch");

  expect_refused(ironroot_cli({"image", "verify", "-k", other, path("good.img")}),
                 "key not trusted");

  write_bytes(dir_ / "short.img", ByteView(good).first(good.size() - 20));
  expect_refused(ironroot_cli({"image", "verify", "-k", key, path("short.img")}), "truncated");

  expect_refused(ironroot_cli({"image", "verify", "-k", key, path("fw.bin")}), "bad magic");

  Bytes bad_sig = good;
  bad_sig[bad_sig.size() - 3] ^= std::byte{0x10};
  write_bytes(dir_ / "badsig.img", bad_sig);
  expect_refused(ironroot_cli({"image", "verify", "-k", key, path("badsig.img")}),
                 "signature invalid");

  Bytes bad_sizes = good;
  store_le16(std::span<std::byte>(bad_sizes).subspan(10), 40);  // protect_tlv_size
  write_bytes(dir_ / "sizes.img", bad_sizes);
  expect_refused(ironroot_cli({"image", "verify", "-k", key, path("sizes.img")}),
                 "protected TLV area");

  expect_refused(ironroot_cli({"image", "verify", "-k", key, "-S", "0x1000", path("good.img")}),
                 "too large");
  expect_refused(ironroot_cli({"image", "verify", "-k", key, path("missing.img")}), "cannot open");

  auto as_json = ironroot_cli({"--json", "image", "verify", "-k", other, path("good.img")});
  EXPECT_EQ(as_json.exit_code, 1);
  auto doc = json_of(as_json);
  EXPECT_EQ(doc["valid"], false);
  EXPECT_EQ(doc["fault"], "key_not_trusted");
}

TEST_F(CliImage, VerifyAcceptsSeveralTrustedKeysAndPublicPem) {
  std::string key = keygen("ed25519");
  std::string other = keygen("ecdsa-p256");
  ASSERT_EQ(sign(key, {}, "x.img").exit_code, 0);
  auto pub = ironroot_cli({"image", "getpub", "-k", key, "-e", "pem", "-o", path("pub.pem")});
  ASSERT_EQ(pub.exit_code, 0) << pub.err;
  auto r = ironroot_cli(
      {"image", "verify", "--json", "-k", other, "-k", path("pub.pem"), path("x.img")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto doc = json_of(r);
  EXPECT_EQ(doc["valid"], true);
  EXPECT_EQ(doc["key"], path("pub.pem"));
}

TEST_F(CliImage, SignNeverLeavesAPartialOutput) {
  std::string key = keygen("ecdsa-p256");
  // Too large for the slot: nothing written.
  auto r = sign(key, {"-S", "0x800"}, "never.img");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("exceeds the slot size"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(path("never.img")));
  // An existing output is left as it was when signing fails.
  write_bytes(dir_ / "keep.img", as_bytes("previous build"));
  EXPECT_EQ(sign(path("no-such-key.pem"), {}, "keep.img").exit_code, 1);
  EXPECT_EQ(as_chars(file_bytes(path("keep.img"))), "previous build");
  for (const auto& entry : fs::directory_iterator(dir_.path())) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos) << entry.path();
  }
}

TEST_F(CliImage, UsageErrorsExitTwo) {
  std::string key = keygen("ed25519");
  EXPECT_EQ(ironroot_cli({"image", "sign", "-v", "1.0.0", "-H", "32", "-S", "4096", path("fw.bin"),
                          path("o")})
                .exit_code,
            2);
  EXPECT_EQ(sign(key, {"--align", "3"}, "o.img").exit_code, 2);
  auto bad_version = ironroot_cli({"image", "sign", "-k", key, "-v", "1.2.x", "-H", "32", "-S",
                                   "4096", path("fw.bin"), path("o")});
  EXPECT_EQ(bad_version.exit_code, 2);
  EXPECT_NE(bad_version.err.find("invalid version '1.2.x'"), std::string::npos) << bad_version.err;
  auto bad_dep = sign(key, {"-d", "(1;1.0.0)"}, "o.img");
  EXPECT_EQ(bad_dep.exit_code, 2);
  EXPECT_NE(bad_dep.err.find("-d/--dependencies"), std::string::npos) << bad_dep.err;
  EXPECT_EQ(sign(key, {"-s", "-1"}, "o.img").exit_code, 2);
  EXPECT_EQ(sign(key, {"-H", "16"}, "o.img").exit_code, 2);
  EXPECT_EQ(sign(key, {"-e", "big"}, "o.img").exit_code, 2);
  EXPECT_EQ(ironroot_cli({"image", "frobnicate"}).exit_code, 2);
  EXPECT_EQ(ironroot_cli({}).exit_code, 2);
  EXPECT_FALSE(fs::exists(path("o.img")));
}

TEST_F(CliImage, HelpOnEveryCommand) {
  for (std::vector<std::string> cmd : {std::vector<std::string>{},
                                       {"image"},
                                       {"image", "keygen"},
                                       {"image", "getpub"},
                                       {"image", "getpubhash"},
                                       {"image", "sign"},
                                       {"image", "verify"},
                                       {"image", "dumpinfo"}}) {
    cmd.push_back("--help");
    auto r = ironroot_cli(cmd);
    EXPECT_EQ(r.exit_code, 0) << cmd.size();
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << r.out;
  }
  EXPECT_NE(ironroot_cli({"image", "sign", "--help"}).out.find("--slot-size"), std::string::npos);
}

TEST_F(CliImage, KeygenProtectsExistingKeysAndTheSecret) {
  std::string key = keygen("ecdsa-p256");
  struct stat st {};
  ASSERT_EQ(::stat(key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0077, 0u);
  Bytes before = file_bytes(key);
  auto again = ironroot_cli({"image", "keygen", "-k", key});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("--force"), std::string::npos);
  EXPECT_EQ(file_bytes(key), before);
  EXPECT_EQ(ironroot_cli({"image", "keygen", "-k", key, "--force"}).exit_code, 0);
  EXPECT_NE(file_bytes(key), before);
}

TEST_F(CliImage, EncryptedKeyFilesUseThePassphraseFromTheEnvironment) {
  std::string key = path("enc.pem");
  EXPECT_EQ(ironroot_cli({"image", "keygen", "-k", key, "-p"}).exit_code,
            1);  // no passphrase given
  ASSERT_EQ(ironroot_cli({"image", "keygen", "-k", key, "-p"}, {"IRONROOT_KEY_PASSPHRASE=s3cret"})
                .exit_code,
            0);
  auto no_pass = sign(key, {}, "enc.img");
  EXPECT_EQ(no_pass.exit_code, 1);
  EXPECT_NE(no_pass.err.find("IRONROOT_KEY_PASSPHRASE"), std::string::npos) << no_pass.err;
  std::vector<std::string> args = {"image", "sign",   "-k",           key,
                                   "-v",    "1.0.0",  "-H",           "32",
                                   "-S",    "0x8000", path("fw.bin"), path("enc.img")};
  EXPECT_EQ(ironroot_cli(args, {"IRONROOT_KEY_PASSPHRASE=s3cret"}).exit_code, 0);
}

// OpenSSL's command line agrees with ironroot on keys, key hashes and signatures, so images signed
// here verify with any standard verifier (MCUboot's bootutil among them).
class CliOpensslInterop : public CliImage, public ::testing::WithParamInterface<std::string> {};

TEST_P(CliOpensslInterop, KeysHashesAndSignaturesAreStandard) {
  const std::string type = GetParam();
  // A key made by OpenSSL itself.
  std::string key = path("openssl.pem");
  auto gen = type == "ed25519"
                 ? run_process({"openssl", "genpkey", "-algorithm", "ed25519", "-out", key})
                 : run_process({"openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                                "ec_paramgen_curve:P-256", "-out", key});
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  ASSERT_EQ(run_process({"openssl", "pkey", "-in", key, "-pubout", "-outform", "DER", "-out",
                         path("pub.der")})
                .exit_code,
            0);
  Bytes der = file_bytes(path("pub.der"));

  auto raw = ironroot_cli({"image", "getpub", "-k", key, "-e", "raw", "-o", path("raw.der")});
  ASSERT_EQ(raw.exit_code, 0) << raw.err;
  EXPECT_EQ(file_bytes(path("raw.der")), der);
  auto hash = ironroot_cli({"image", "getpubhash", "-k", key, "-e", "hex"});
  ASSERT_EQ(hash.exit_code, 0);
  EXPECT_EQ(hash.out, to_hex(crypto::sha256(der)) + "\n");
  auto c = ironroot_cli({"image", "getpub", "-k", key});
  EXPECT_NE(c.out.find(type == "ed25519" ? "ed25519_pub_key_len = 44;" : "ecdsa_pub_key_len = 91;"),
            std::string::npos)
      << c.out;

  ASSERT_EQ(sign(key, {"-s", "3"}, "x.img").exit_code, 0);
  Bytes img = file_bytes(path("x.img"));
  auto parsed = image::parse_image(img);
  ASSERT_TRUE(parsed);
  write_bytes(dir_ / "hash.bin", parsed->find(image::tlv::kSha256)->value);
  const auto* sig = parsed->find(type == "ed25519" ? image::tlv::kEd25519 : image::tlv::kEcdsaSig);
  ASSERT_NE(sig, nullptr);
  write_bytes(dir_ / "sig.bin", sig->value);
  EXPECT_EQ(parsed->find(image::tlv::kKeyHash)->value.size(), 32u);
  EXPECT_EQ(to_hex(parsed->find(image::tlv::kKeyHash)->value), to_hex(crypto::sha256(der)));
  std::vector<std::string> verify = {
      "openssl", "pkeyutl",       "-verify", "-pubin",         "-keyform", "DER",
      "-inkey",  path("pub.der"), "-in",     path("hash.bin"), "-sigfile", path("sig.bin")};
  if (type == "ed25519") verify.push_back("-rawin");
  auto ok = run_process(verify);
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  EXPECT_NE(ok.out.find("Signature Verified Successfully"), std::string::npos) << ok.out;
}

INSTANTIATE_TEST_SUITE_P(BothKeyTypes, CliOpensslInterop,
                         ::testing::Values("ecdsa-p256", "ed25519"),
                         [](const ::testing::TestParamInfo<std::string>& p) {
                           return p.param == "ed25519" ? std::string("ed25519")
                                                       : std::string("ecdsa_p256");
                         });

}  // namespace
}  // namespace ironroot::testing
