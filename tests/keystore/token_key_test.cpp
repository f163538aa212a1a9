#include "ironroot/keystore/token_key.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "ironroot/core/file.hpp"
#include "raw_token.hpp"
#include "scoped_env.hpp"
#include "support/process.hpp"
#include "support/softhsm_token.hpp"
#include "support/temp_dir.hpp"

namespace ironroot::crypto {
// Readable parameter values in test names and messages.
void PrintTo(KeyType type, std::ostream* out) {
  *out << key_type_name(type);
}
}  // namespace ironroot::crypto

namespace ironroot::keystore {
namespace {

using crypto::KeyType;
using testing::RawToken;
using testing::ScopedEnv;

constexpr const char* kToken = "ironroot-test";
constexpr const char* kPin = "1234";

::testing::AssertionResult contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << part << "' not in: " << text;
}

Pkcs11Uri parse(const std::string& text) {
  auto uri = Pkcs11Uri::parse(text);
  EXPECT_TRUE(uri) << uri.error().message;
  return uri.value_or(Pkcs11Uri{});
}

// Each test gets a fresh SoftHSM2 store with one token, kToken, whose user PIN is kPin.
class TokenKeyTest : public ::testing::Test {
 protected:
  // The PIN and module only through the URI or TokenOptions, never from the caller's environment.
  ScopedEnv no_env_pin_{"IRONROOT_PKCS11_PIN", std::nullopt};
  ScopedEnv no_env_module_{"IRONROOT_PKCS11_MODULE", std::nullopt};
  testing::SoftHsmToken token_{kToken, kPin};
  testing::TempDir scratch_;

  std::string key_uri(const std::string& object) const { return token_.uri(object); }

  // Runs pkcs11-tool on this test's token; fails the test when it fails.
  void pkcs11_tool(std::vector<std::string> args) {
    std::vector<std::string> argv = {"pkcs11-tool", "--module", testing::kSoftHsmModule,
                                     "--token-label", kToken};
    argv.insert(argv.end(), args.begin(), args.end());
    auto result = testing::run_process(argv);
    ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
  }

  // pkcs11-tool --keypairgen, as an OEM would make a key outside ironroot.
  void pkcs11_tool_keygen(const std::string& key_type, const std::string& label,
                          const std::string& id) {
    pkcs11_tool({"--login", "--pin", kPin, "--keypairgen", "--key-type", key_type, "--label", label,
                 "--id", id});
  }

  // The public key exactly as pkcs11-tool exports it (DER SubjectPublicKeyInfo).
  Bytes pkcs11_tool_public_key(const std::string& id) {
    auto out = scratch_ / "pub.der";
    pkcs11_tool({"--read-object", "--type", "pubkey", "--id", id, "--output-file", out.string()});
    return read_file(out, 4096).value_or(Bytes{});
  }
};

class TokenKeyTypes : public TokenKeyTest, public ::testing::WithParamInterface<KeyType> {};

TEST_P(TokenKeyTypes, GeneratesInsideTheTokenAndSigns) {
  auto key = TokenKey::generate(parse(key_uri("image-key")), GetParam());
  ASSERT_TRUE(key) << key.error().message;
  const crypto::PublicKey& pub = (*key)->public_key();
  EXPECT_EQ(pub.type(), GetParam());

  crypto::Sha256Digest digest = crypto::sha256(as_bytes("firmware image"));
  auto sig = (*key)->sign_digest(digest);
  ASSERT_TRUE(sig) << sig.error().message;
  if (GetParam() == KeyType::ed25519) {
    EXPECT_EQ(sig->size(), 64u);
  } else {
    EXPECT_EQ(sig->front(), std::byte{0x30});  // DER, as MCUboot wants
  }
  EXPECT_TRUE(pub.verify_digest(digest, *sig));
  // A public key rebuilt from its DER (what goes into the image) agrees.
  auto from_der = crypto::PublicKey::from_der(pub.der());
  ASSERT_TRUE(from_der);
  EXPECT_TRUE(from_der->verify_digest(digest, *sig));
  EXPECT_FALSE(from_der->verify_digest(crypto::sha256(as_bytes("firmware imagE")), *sig));
  Bytes tampered = *sig;
  tampered[tampered.size() - 5] ^= std::byte{0x01};
  EXPECT_FALSE(pub.verify_digest(digest, tampered));

  // The key's URI finds it again, with the PIN from the options.
  const Pkcs11Uri& uri = (*key)->uri();
  EXPECT_EQ(uri.token, kToken);
  EXPECT_EQ(uri.object, "image-key");
  EXPECT_EQ(uri.type, "private");
  ASSERT_TRUE(uri.id);
  EXPECT_EQ(uri.id->size(), 16u);
  EXPECT_FALSE(contains(uri.to_string(), "pin"));
  auto again = TokenKey::open(uri, TokenOptions{{}, kPin});
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ((*again)->public_key().der(), pub.der());
  auto sig2 = (*again)->sign_digest(digest);
  ASSERT_TRUE(sig2) << sig2.error().message;
  EXPECT_TRUE(pub.verify_digest(digest, *sig2));
}

TEST_P(TokenKeyTypes, GeneratedPrivateKeyCannotBeReadOut) {
  {
    auto key = TokenKey::generate(parse(key_uri("device-identity")), GetParam());
    ASSERT_TRUE(key) << key.error().message;
  }
  RawToken token(kToken, kPin);
  ASSERT_TRUE(token.ok()) << token.error();
  auto keys = token.find(CKO_PRIVATE_KEY, "device-identity");
  ASSERT_EQ(keys.size(), 1u);
  Bytes value;
  EXPECT_EQ(token.get(keys[0], CKA_VALUE, value), CKR_ATTRIBUTE_SENSITIVE);
  EXPECT_EQ(token.get_bool(keys[0], CKA_SENSITIVE), true);
  EXPECT_EQ(token.get_bool(keys[0], CKA_EXTRACTABLE), false);
  EXPECT_EQ(token.get_bool(keys[0], CKA_ALWAYS_SENSITIVE), true);
  EXPECT_EQ(token.get_bool(keys[0], CKA_NEVER_EXTRACTABLE), true);
  EXPECT_EQ(token.get_bool(keys[0], CKA_TOKEN), true);
  EXPECT_EQ(token.get_bool(keys[0], CKA_PRIVATE), true);
  EXPECT_EQ(token.get_bool(keys[0], CKA_SIGN), true);
  EXPECT_EQ(token.get_bool(keys[0], CKA_LOCAL), true);  // generated in the token, not imported
}

INSTANTIATE_TEST_SUITE_P(BothTypes, TokenKeyTypes,
                         ::testing::Values(KeyType::ecdsa_p256, KeyType::ed25519),
                         [](const ::testing::TestParamInfo<KeyType>& p) {
                           return p.param == KeyType::ed25519 ? "ed25519" : "ecdsa_p256";
                         });

TEST_F(TokenKeyTest, OpensP256KeyMadeByPkcs11Tool) {
  ASSERT_NO_FATAL_FAILURE(pkcs11_tool_keygen("EC:prime256v1", "oem-key", "01"));
  Bytes exported = pkcs11_tool_public_key("01");
  ASSERT_FALSE(exported.empty());

  auto by_label = TokenKey::open(parse(std::string("pkcs11:token=") + kToken +
                                       ";object=oem-key;type=private?pin-value=" + kPin));
  ASSERT_TRUE(by_label) << by_label.error().message;
  EXPECT_EQ((*by_label)->public_key().type(), KeyType::ecdsa_p256);
  EXPECT_EQ(to_hex((*by_label)->public_key().der()), to_hex(exported));

  crypto::Sha256Digest digest = crypto::sha256(as_bytes("bootloader"));
  auto sig = (*by_label)->sign_digest(digest);
  ASSERT_TRUE(sig) << sig.error().message;
  auto pub = crypto::PublicKey::from_der(exported);
  ASSERT_TRUE(pub);
  EXPECT_TRUE(pub->verify_digest(digest, *sig));

  // By id alone, the PIN from the environment.
  ScopedEnv pin("IRONROOT_PKCS11_PIN", kPin);
  auto by_id = TokenKey::open(parse(std::string("pkcs11:token=") + kToken + ";id=%01"));
  ASSERT_TRUE(by_id) << by_id.error().message;
  EXPECT_EQ((*by_id)->public_key().der(), exported);
  EXPECT_EQ((*by_id)->uri().object, "oem-key");
}

TEST_F(TokenKeyTest, OpensEd25519KeyMadeByPkcs11Tool) {
  // pkcs11-tool names the curve with the PrintableString "edwards25519", not an OID.
  ASSERT_NO_FATAL_FAILURE(pkcs11_tool_keygen("EC:edwards25519", "oem-ed", "02"));
  auto key = TokenKey::open(parse(key_uri("oem-ed")));
  ASSERT_TRUE(key) << key.error().message;
  EXPECT_EQ((*key)->public_key().type(), KeyType::ed25519);
  crypto::Sha256Digest digest = crypto::sha256(as_bytes("firmware"));
  auto sig = (*key)->sign_digest(digest);
  ASSERT_TRUE(sig) << sig.error().message;
  EXPECT_TRUE((*key)->public_key().verify_digest(digest, *sig));
}

TEST_F(TokenKeyTest, KeysSharingTheModuleOutliveEachOther) {
  auto first = TokenKey::generate(parse(key_uri("first")), KeyType::ecdsa_p256);
  ASSERT_TRUE(first) << first.error().message;
  auto second = TokenKey::generate(parse(key_uri("second")), KeyType::ed25519);
  ASSERT_TRUE(second) << second.error().message;
  auto first_again = TokenKey::open((*first)->uri(), {{}, kPin});
  ASSERT_TRUE(first_again) << first_again.error().message;
  first->reset();  // must neither finalise the module nor log the token out under the others
  crypto::Sha256Digest digest = crypto::sha256(as_bytes("x"));
  auto sig = (*second)->sign_digest(digest);
  ASSERT_TRUE(sig) << sig.error().message;
  EXPECT_TRUE((*second)->public_key().verify_digest(digest, *sig));
  auto sig2 = (*first_again)->sign_digest(digest);
  ASSERT_TRUE(sig2) << sig2.error().message;
  EXPECT_TRUE((*first_again)->public_key().verify_digest(digest, *sig2));
}

TEST_F(TokenKeyTest, SecondTokenIsChosenByLabel) {
  token_.add_token("second-token", "4321");
  auto key = TokenKey::generate(parse("pkcs11:token=second-token;object=k?pin-value=4321"),
                                KeyType::ecdsa_p256);
  ASSERT_TRUE(key) << key.error().message;
  EXPECT_EQ((*key)->uri().token, "second-token");
  // Without a token attribute the choice is ambiguous, and the message lists both.
  auto ambiguous = TokenKey::open(parse("pkcs11:object=k?pin-value=4321"));
  ASSERT_FALSE(ambiguous);
  EXPECT_TRUE(contains(ambiguous.error().message, "2 tokens"));
  EXPECT_TRUE(contains(ambiguous.error().message, "'second-token'"));
  EXPECT_TRUE(contains(ambiguous.error().message, std::string("'") + kToken + "'"));
}

TEST_F(TokenKeyTest, WrongPinIsReported) {
  auto key =
      TokenKey::generate(parse(std::string("pkcs11:token=") + kToken + ";object=k?pin-value=9999"),
                         KeyType::ecdsa_p256);
  ASSERT_FALSE(key);
  EXPECT_TRUE(
      contains(key.error().message, std::string("PIN incorrect for token '") + kToken + "'"));
  EXPECT_FALSE(contains(key.error().message, "9999"));

  // The explicit option wins over the URI's correct PIN.
  auto overridden = TokenKey::open(parse(key_uri("k")), TokenOptions{{}, "0000"});
  ASSERT_FALSE(overridden);
  EXPECT_TRUE(contains(overridden.error().message, "PIN incorrect"));
}

TEST_F(TokenKeyTest, MissingPinSaysHowToGiveOne) {
  auto key = TokenKey::open(parse(std::string("pkcs11:token=") + kToken + ";object=k"));
  ASSERT_FALSE(key);
  EXPECT_TRUE(contains(key.error().message, "needs its user PIN"));
  EXPECT_TRUE(contains(key.error().message, "IRONROOT_PKCS11_PIN"));
}

TEST_F(TokenKeyTest, PinSourceFileIsRead) {
  auto pin_file = scratch_.path() / "pin.txt";
  std::ofstream(pin_file) << kPin << "\n";
  auto key = TokenKey::generate(parse(std::string("pkcs11:token=") + kToken +
                                      ";object=k?pin-source=file://" + pin_file.string()),
                                KeyType::ecdsa_p256);
  ASSERT_TRUE(key) << key.error().message;

  auto missing =
      TokenKey::open(parse(std::string("pkcs11:token=") + kToken +
                           ";object=k?pin-source=" + (scratch_.path() / "none").string()));
  ASSERT_FALSE(missing);
  EXPECT_TRUE(contains(missing.error().message, "pin-source"));
  EXPECT_TRUE(contains(missing.error().message, (scratch_.path() / "none").string()));
}

TEST_F(TokenKeyTest, MissingTokenListsTheTokensPresent) {
  auto key = TokenKey::open(parse("pkcs11:token=no-such-token;object=k?pin-value=1234"));
  ASSERT_FALSE(key);
  EXPECT_TRUE(contains(key.error().message, "token='no-such-token'"));
  EXPECT_TRUE(contains(key.error().message, std::string("tokens present: '") + kToken + "'"));
}

TEST_F(TokenKeyTest, MissingKeySaysWhatWasSearchedAndWhatExists) {
  ASSERT_TRUE(TokenKey::generate(parse(key_uri("image-key")), KeyType::ecdsa_p256));
  auto key = TokenKey::open(
      parse(std::string("pkcs11:token=") + kToken + ";object=other-key;id=%AB?pin-value=" + kPin));
  ASSERT_FALSE(key);
  EXPECT_TRUE(contains(key.error().message, "label 'other-key' and id ab"));
  EXPECT_TRUE(contains(key.error().message, "private keys present: 'image-key' (id "));
}

TEST_F(TokenKeyTest, SeveralMatchingKeysAreRefused) {
  ASSERT_NO_FATAL_FAILURE(pkcs11_tool_keygen("EC:prime256v1", "twin", "01"));
  ASSERT_NO_FATAL_FAILURE(pkcs11_tool_keygen("EC:prime256v1", "twin", "02"));
  auto key = TokenKey::open(parse(key_uri("twin")));
  ASSERT_FALSE(key);
  EXPECT_TRUE(contains(key.error().message, "2 private keys"));
  EXPECT_TRUE(contains(key.error().message, "'twin' (id 01), 'twin' (id 02)"));
  auto chosen = TokenKey::open(
      parse(std::string("pkcs11:token=") + kToken + ";object=twin;id=%02?pin-value=" + kPin));
  ASSERT_TRUE(chosen) << chosen.error().message;
  EXPECT_EQ((*chosen)->uri().id, Bytes{std::byte{0x02}});
}

TEST_F(TokenKeyTest, GenerateRefusesAnExistingLabelOrId) {
  auto first = TokenKey::generate(parse(std::string("pkcs11:token=") + kToken +
                                        ";object=image-key;id=%C0%FF%EE?pin-value=" + kPin),
                                  KeyType::ecdsa_p256);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(to_hex(*(*first)->uri().id), "c0ffee");
  auto again = TokenKey::generate(parse(key_uri("image-key")), KeyType::ed25519);
  ASSERT_FALSE(again);
  EXPECT_TRUE(contains(again.error().message, "already has a private key labelled 'image-key'"));
  auto same_id = TokenKey::generate(
      parse(std::string("pkcs11:token=") + kToken + ";object=other;id=%c0%ff%ee?pin-value=" + kPin),
      KeyType::ecdsa_p256);
  ASSERT_FALSE(same_id);
  EXPECT_TRUE(contains(same_id.error().message, "already has an object with id c0ffee"));

  // Nothing was added: the label still selects exactly one key, the first one.
  first->reset();
  auto only = TokenKey::open(parse(key_uri("image-key")));
  ASSERT_TRUE(only) << only.error().message;
  EXPECT_EQ((*only)->public_key().type(), KeyType::ecdsa_p256);
}

TEST_F(TokenKeyTest, GenerateNeedsALabel) {
  auto key = TokenKey::generate(parse(std::string("pkcs11:token=") + kToken + "?pin-value=" + kPin),
                                KeyType::ecdsa_p256);
  ASSERT_FALSE(key);
  EXPECT_TRUE(contains(key.error().message, "object=<label>"));
}

TEST_F(TokenKeyTest, OnlyPrivateKeysSign) {
  auto key = TokenKey::open(
      parse(std::string("pkcs11:token=") + kToken + ";object=k;type=cert?pin-value=" + kPin));
  ASSERT_FALSE(key);
  EXPECT_TRUE(contains(key.error().message, "type=cert"));
}

TEST_F(TokenKeyTest, UnsupportedCurveIsNamed) {
  ASSERT_NO_FATAL_FAILURE(pkcs11_tool_keygen("EC:secp384r1", "p384", "03"));
  auto key = TokenKey::open(parse(key_uri("p384")));
  ASSERT_FALSE(key);
  EXPECT_TRUE(contains(key.error().message, "neither P-256 nor Ed25519"));
}

TEST_F(TokenKeyTest, PublicKeyObjectOfAnotherKeyIsCaughtWhenSigning) {
  ASSERT_NO_FATAL_FAILURE(pkcs11_tool_keygen("EC:prime256v1", "a", "0a"));
  ASSERT_NO_FATAL_FAILURE(pkcs11_tool_keygen("EC:prime256v1", "b", "0b"));
  {
    // Swap the ids of the two public-key objects: each private key now pairs with the wrong one.
    RawToken token(kToken, kPin);
    ASSERT_TRUE(token.ok()) << token.error();
    auto pub_a = token.find(CKO_PUBLIC_KEY, "a");
    auto pub_b = token.find(CKO_PUBLIC_KEY, "b");
    ASSERT_EQ(pub_a.size(), 1u);
    ASSERT_EQ(pub_b.size(), 1u);
    ASSERT_EQ(token.set(pub_a[0], CKA_ID, Bytes{std::byte{0x0b}}), CKR_OK);
    ASSERT_EQ(token.set(pub_b[0], CKA_ID, Bytes{std::byte{0x0a}}), CKR_OK);
  }
  auto key = TokenKey::open(parse(key_uri("a")));
  ASSERT_TRUE(key) << key.error().message;
  auto sig = (*key)->sign_digest(crypto::sha256(as_bytes("x")));
  ASSERT_FALSE(sig);
  EXPECT_TRUE(contains(sig.error().message, "does not verify with its public-key object"));
}

TEST_F(TokenKeyTest, UnloadableModuleIsNamed) {
  auto missing = TokenKey::open(parse(key_uri("k")), {"/nonexistent/libnope.so", std::nullopt});
  ASSERT_FALSE(missing);
  EXPECT_TRUE(
      contains(missing.error().message, "cannot load PKCS#11 module '/nonexistent/libnope.so'"));
  EXPECT_TRUE(contains(missing.error().message, "No such file"));  // dlerror()

  auto garbage_path = scratch_ / "garbage.so";
  std::ofstream(garbage_path) << "not a shared library";
  auto garbage = TokenKey::open(parse(key_uri("k")), {garbage_path, std::nullopt});
  ASSERT_FALSE(garbage);
  EXPECT_TRUE(contains(garbage.error().message, garbage_path.string()));

  auto not_pkcs11 = TokenKey::open(parse(key_uri("k")), {"libc.so.6", std::nullopt});
  ASSERT_FALSE(not_pkcs11);
  EXPECT_TRUE(contains(not_pkcs11.error().message, "is not a PKCS#11 module"));
}

TEST_F(TokenKeyTest, ModuleResolutionOrder) {
  ASSERT_TRUE(TokenKey::generate(parse(key_uri("k")), KeyType::ecdsa_p256));
  {
    ScopedEnv env("IRONROOT_PKCS11_MODULE", "/nonexistent/from-env.so");
    auto from_env = TokenKey::open(parse(key_uri("k")));
    ASSERT_FALSE(from_env);
    EXPECT_TRUE(contains(from_env.error().message, "/nonexistent/from-env.so"));
    // The URI's module-path, then the explicit option, win over the environment.
    auto from_uri = TokenKey::open(parse(key_uri("k") + "&module-path=" + testing::kSoftHsmModule));
    EXPECT_TRUE(from_uri) << from_uri.error().message;
    auto from_name = TokenKey::open(parse(key_uri("k") + "&module-name=softhsm2"));
    EXPECT_TRUE(from_name) << from_name.error().message;
    auto explicit_module =
        TokenKey::open(parse(key_uri("k") + "&module-path=/nonexistent/from-uri.so"),
                       {testing::kSoftHsmModule, {}});
    EXPECT_TRUE(explicit_module) << explicit_module.error().message;
  }
  auto unknown_name = TokenKey::open(parse(key_uri("k") + "&module-name=no-such-module"));
  ASSERT_FALSE(unknown_name);
  EXPECT_TRUE(contains(unknown_name.error().message, "no PKCS#11 module named 'no-such-module'"));
}

}  // namespace
}  // namespace ironroot::keystore
