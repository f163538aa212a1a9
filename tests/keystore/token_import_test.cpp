// A key made outside the token, imported into it: the claim key that a production batch shares for
// AWS IoT provisioning by claim. Once in the token it behaves like a key made there (sensitive, not
// extractable, found by label, signing as its certificate says), which the tests check through
// libs/keystore and, independently, through raw PKCS#11 calls.
#include <gtest/gtest.h>

#include "ironroot/crypto/certificate_authority.hpp"
#include "ironroot/keystore/token_certificates.hpp"
#include "ironroot/keystore/token_key.hpp"
#include "raw_token.hpp"
#include "scoped_env.hpp"
#include "support/softhsm_token.hpp"

namespace ironroot::keystore {
namespace {

using testing::RawToken;
using testing::ScopedEnv;

constexpr const char* kToken = "device-1";
constexpr const char* kPin = "1234";

::testing::AssertionResult contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << part << "' not in: " << text;
}

class TokenImportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
    auto root = crypto::CertificateAuthority::create_root(
        {"Test Root CA", "", "Test"},
        std::make_unique<crypto::PrivateKey>(
            *crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256)),
        crypto::validity_from_now(crypto::kDefaultCaValidity, now));
    ASSERT_TRUE(root) << root.error().message;
    ca_.emplace(std::move(*root));
    auto key = crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256);
    ASSERT_TRUE(key) << key.error().message;
    claim_key_.emplace(std::move(*key));
    auto csr = crypto::CertificateRequest::create({"claim-acme", "", "Acme"}, *claim_key_);
    ASSERT_TRUE(csr) << csr.error().message;
    auto cert = ca_->issue_device_certificate(
        *csr, crypto::validity_from_now(crypto::kDefaultDeviceValidity, now));
    ASSERT_TRUE(cert) << cert.error().message;
    claim_certificate_.emplace(std::move(*cert));
  }

  Pkcs11Uri token_uri() const {
    return *Pkcs11Uri::parse(std::string("pkcs11:token=") + kToken + "?pin-value=" + kPin);
  }
  Pkcs11Uri claim_key_uri() const {
    Pkcs11Uri uri = token_uri();
    uri.object = std::string(kClaimKeyLabel);
    return uri;
  }

  ScopedEnv no_env_pin_{"IRONROOT_PKCS11_PIN", std::nullopt};
  ScopedEnv no_env_module_{"IRONROOT_PKCS11_MODULE", std::nullopt};
  testing::SoftHsmToken token_{kToken, kPin};
  std::optional<crypto::CertificateAuthority> ca_;
  std::optional<crypto::PrivateKey> claim_key_;
  std::optional<crypto::Certificate> claim_certificate_;
};

TEST_F(TokenImportTest, ImportedKeySignsAsItsCertificateSays) {
  auto imported = TokenKey::import_private_key(claim_key_uri(), *claim_key_);
  ASSERT_TRUE(imported) << imported.error().message;
  EXPECT_EQ((*imported)->uri().object, std::string(kClaimKeyLabel));
  ASSERT_TRUE((*imported)->uri().id);
  EXPECT_EQ((*imported)->uri().id->size(), 16u);  // a random id from the token
  imported->reset();

  // Opened again by its label, as TLS and provisioning open it, it signs; the signature verifies
  // with the public key of the claim certificate.
  auto key = TokenKey::open(claim_key_uri());
  ASSERT_TRUE(key) << key.error().message;
  auto cert_key = claim_certificate_->public_key();
  ASSERT_TRUE(cert_key);
  EXPECT_EQ((*key)->public_key().der(), cert_key->der());
  const crypto::Sha256Digest digest = crypto::sha256(as_bytes("a claim connection's handshake"));
  auto signature = (*key)->sign_digest(digest);
  ASSERT_TRUE(signature) << signature.error().message;
  EXPECT_TRUE(cert_key->verify_digest(digest, *signature));
  // A signature from another key does not verify: the check above can fail.
  auto other = crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256);
  EXPECT_FALSE(cert_key->verify_digest(digest, *other->sign_digest(digest)));
}

TEST_F(TokenImportTest, ImportedKeyCannotBeReadOutAgain) {
  ASSERT_TRUE(TokenKey::import_private_key(claim_key_uri(), *claim_key_));
  RawToken token(kToken, kPin);
  ASSERT_TRUE(token.ok()) << token.error();
  auto keys = token.find(CKO_PRIVATE_KEY, std::string(kClaimKeyLabel));
  ASSERT_EQ(keys.size(), 1u);
  Bytes value;
  EXPECT_EQ(token.get(keys[0], CKA_VALUE, value), CKR_ATTRIBUTE_SENSITIVE);
  EXPECT_EQ(token.get_bool(keys[0], CKA_SENSITIVE), true);
  EXPECT_EQ(token.get_bool(keys[0], CKA_EXTRACTABLE), false);
  EXPECT_EQ(token.get_bool(keys[0], CKA_TOKEN), true);
  EXPECT_EQ(token.get_bool(keys[0], CKA_PRIVATE), true);
  EXPECT_EQ(token.get_bool(keys[0], CKA_SIGN), true);
  EXPECT_EQ(token.get_bool(keys[0], CKA_LOCAL), false);  // imported, not generated there
  EXPECT_EQ(token.set_bool(keys[0], CKA_EXTRACTABLE, true), CKR_ATTRIBUTE_READ_ONLY);
  // Its public half, with the same id, carries the point.
  auto publics = token.find(CKO_PUBLIC_KEY, std::string(kClaimKeyLabel));
  ASSERT_EQ(publics.size(), 1u);
  Bytes private_id, public_id, point;
  ASSERT_EQ(token.get(keys[0], CKA_ID, private_id), CKR_OK);
  ASSERT_EQ(token.get(publics[0], CKA_ID, public_id), CKR_OK);
  EXPECT_EQ(private_id, public_id);
  ASSERT_EQ(token.get(publics[0], CKA_EC_POINT, point), CKR_OK);
  Bytes expected{std::byte{0x04}, std::byte{65}};
  const Bytes raw = claim_key_->public_key().raw();
  expected.insert(expected.end(), raw.begin(), raw.end());
  EXPECT_EQ(point, expected);
}

TEST_F(TokenImportTest, RefusesWhatItCannotImportAndChangesNothing) {
  ASSERT_TRUE(TokenKey::import_private_key(claim_key_uri(), *claim_key_));

  // The label is taken (by the key imported above).
  auto again = TokenKey::import_private_key(claim_key_uri(), *claim_key_);
  ASSERT_FALSE(again);
  EXPECT_TRUE(contains(again.error().message, "already has 2 object(s) labelled 'Claim Key'"));

  // Only P-256.
  Pkcs11Uri other = token_uri();
  other.object = "other-key";
  auto ed25519 = crypto::PrivateKey::generate(crypto::KeyType::ed25519);
  auto refused = TokenKey::import_private_key(other, *ed25519);
  ASSERT_FALSE(refused);
  EXPECT_TRUE(contains(refused.error().message, "only ecdsa-p256 keys can be imported"));

  // An id some object has already.
  auto first = TokenKey::open(claim_key_uri());
  ASSERT_TRUE(first);
  other.id = (*first)->uri().id;
  first->reset();
  refused = TokenKey::import_private_key(other, *claim_key_);
  ASSERT_FALSE(refused);
  EXPECT_TRUE(contains(refused.error().message, "already has an object with id"));

  // No label.
  refused = TokenKey::import_private_key(token_uri(), *claim_key_);
  ASSERT_FALSE(refused);
  EXPECT_TRUE(contains(refused.error().message, "needs object=<label>"));

  RawToken token(kToken, kPin);
  ASSERT_TRUE(token.ok()) << token.error();
  EXPECT_TRUE(token.find(CKO_PRIVATE_KEY, "other-key").empty());
  EXPECT_TRUE(token.find(CKO_PUBLIC_KEY, "other-key").empty());
  EXPECT_EQ(token.find(CKO_PRIVATE_KEY, std::string(kClaimKeyLabel)).size(), 1u);
  EXPECT_EQ(token.find(CKO_PUBLIC_KEY, std::string(kClaimKeyLabel)).size(), 1u);
}

TEST_F(TokenImportTest, DestroyObjectsTakesBackOneLabelOnly) {
  ASSERT_TRUE(TokenKey::import_private_key(claim_key_uri(), *claim_key_));
  std::vector<crypto::Certificate> claims{*claim_certificate_};
  ASSERT_TRUE(store_certificates(token_uri(), kClaimCertificateLabel, claims,
                                 CertificateCategory::token_user));

  auto destroyed = destroy_objects(token_uri(), kClaimKeyLabel);
  ASSERT_TRUE(destroyed) << destroyed.error().message;
  EXPECT_EQ(*destroyed, 2u);  // the private and the public half
  auto key = TokenKey::open(claim_key_uri());
  ASSERT_FALSE(key);
  EXPECT_TRUE(contains(key.error().message, "no private key with label 'Claim Key'"));
  auto certificates = read_certificates(token_uri(), kClaimCertificateLabel);
  ASSERT_TRUE(certificates) << certificates.error().message;
  EXPECT_EQ(certificates->size(), 1u);

  destroyed = destroy_objects(token_uri(), kClaimKeyLabel);
  ASSERT_TRUE(destroyed);
  EXPECT_EQ(*destroyed, 0u);
  EXPECT_FALSE(destroy_objects(token_uri(), ""));
}

}  // namespace
}  // namespace ironroot::keystore
