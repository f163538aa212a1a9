// The device's identity in its token: a key that never leaves it, and the certificate objects
// stored next to it. Checked through libs/keystore and, independently, through raw PKCS#11 calls
// and pkcs11-tool.
#include "ironroot/keystore/token_certificates.hpp"

#include <gtest/gtest.h>

#include "ironroot/crypto/certificate_authority.hpp"
#include "raw_token.hpp"
#include "scoped_env.hpp"
#include "support/process.hpp"
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

std::unique_ptr<crypto::Signer> new_p256_key() {
  return std::make_unique<crypto::PrivateKey>(
      *crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256));
}

class TokenCertificatesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
    auto root = crypto::CertificateAuthority::create_root(
        {"Test Root CA", "", "Test"}, new_p256_key(),
        crypto::validity_from_now(crypto::kDefaultCaValidity, now));
    ASSERT_TRUE(root) << root.error().message;
    root_.emplace(std::move(*root));
    auto device_ca_key = new_p256_key();
    auto device_ca_cert =
        root_->issue_device_ca({"Test Device CA", "", "Test"}, device_ca_key->public_key(),
                               crypto::validity_from_now(crypto::kDefaultCaValidity, now));
    ASSERT_TRUE(device_ca_cert) << device_ca_cert.error().message;
    auto device_ca = crypto::CertificateAuthority::open(*device_ca_cert, std::move(device_ca_key));
    ASSERT_TRUE(device_ca) << device_ca.error().message;
    device_ca_.emplace(std::move(*device_ca));
    validity_ = crypto::validity_from_now(crypto::kDefaultDeviceValidity, now);
  }

  Pkcs11Uri token_uri() const {
    return *Pkcs11Uri::parse(std::string("pkcs11:token=") + kToken + "?pin-value=" + kPin);
  }
  Pkcs11Uri device_key_uri() const {
    Pkcs11Uri uri = token_uri();
    uri.object = std::string(kDeviceKeyLabel);
    return uri;
  }
  std::unique_ptr<TokenKey> generate_device_key() {
    auto key = TokenKey::generate(device_key_uri(), crypto::KeyType::ecdsa_p256);
    EXPECT_TRUE(key) << key.error().message;
    return key ? std::move(*key) : nullptr;
  }
  crypto::Certificate issue_for(crypto::Signer& key, const std::string& thing = "thing-1") {
    auto csr = crypto::CertificateRequest::create({thing, "SN-1", ""}, key);
    EXPECT_TRUE(csr) << csr.error().message;
    auto cert = device_ca_->issue_device_certificate(*csr, validity_);
    EXPECT_TRUE(cert) << cert.error().message;
    return *cert;
  }

  ScopedEnv no_env_pin_{"IRONROOT_PKCS11_PIN", std::nullopt};
  ScopedEnv no_env_module_{"IRONROOT_PKCS11_MODULE", std::nullopt};
  testing::SoftHsmToken token_{kToken, kPin};
  std::optional<crypto::CertificateAuthority> root_;
  std::optional<crypto::CertificateAuthority> device_ca_;
  crypto::Validity validity_{};
};

TEST_F(TokenCertificatesTest, DeviceKeyCannotBeReadOutNorMadeExtractable) {
  ASSERT_TRUE(generate_device_key());
  RawToken token(kToken, kPin);
  ASSERT_TRUE(token.ok()) << token.error();
  auto keys = token.find(CKO_PRIVATE_KEY, std::string(kDeviceKeyLabel));
  ASSERT_EQ(keys.size(), 1u);
  const CK_OBJECT_HANDLE key = keys[0];
  Bytes value;
  EXPECT_EQ(token.get(key, CKA_VALUE, value), CKR_ATTRIBUTE_SENSITIVE);
  // PKCS#11: CKA_EXTRACTABLE cannot become true once false, CKA_SENSITIVE not false once true.
  EXPECT_EQ(token.set_bool(key, CKA_EXTRACTABLE, true), CKR_ATTRIBUTE_READ_ONLY);
  EXPECT_EQ(token.set_bool(key, CKA_SENSITIVE, false), CKR_ATTRIBUTE_READ_ONLY);
  // Both refusals changed nothing.
  EXPECT_EQ(token.get_bool(key, CKA_EXTRACTABLE), false);
  EXPECT_EQ(token.get_bool(key, CKA_SENSITIVE), true);
  EXPECT_EQ(token.get_bool(key, CKA_NEVER_EXTRACTABLE), true);
  EXPECT_EQ(token.get_bool(key, CKA_ALWAYS_SENSITIVE), true);
  EXPECT_EQ(token.get(key, CKA_VALUE, value), CKR_ATTRIBUTE_SENSITIVE);
}

TEST_F(TokenCertificatesTest, DeviceIdentityIsStoredAndReadBack) {
  auto key = generate_device_key();
  ASSERT_TRUE(key);
  crypto::Certificate cert = issue_for(*key);
  std::vector<crypto::Certificate> trusted{root_->certificate()};
  key.reset();
  auto stored = store_device_identity(token_uri(), cert, trusted);
  ASSERT_TRUE(stored) << stored.error().message;

  auto identity = read_device_identity(token_uri());
  ASSERT_TRUE(identity) << identity.error().message;
  EXPECT_EQ(identity->certificate.der(), cert.der());
  ASSERT_EQ(identity->trusted.size(), 1u);
  EXPECT_EQ(identity->trusted[0].der(), root_->certificate().der());
  EXPECT_EQ(identity->key.object, std::string(kDeviceKeyLabel));
  EXPECT_EQ(identity->key.token, kToken);
  EXPECT_FALSE(identity->key.pin_value);

  // What the token itself says: public X.509 objects, the device certificate paired with the key
  // by CKA_ID, the DER in CKA_VALUE.
  RawToken token(kToken, kPin);
  ASSERT_TRUE(token.ok()) << token.error();
  auto certs = token.find(CKO_CERTIFICATE, std::string(kDeviceCertificateLabel));
  auto keys = token.find(CKO_PRIVATE_KEY, std::string(kDeviceKeyLabel));
  ASSERT_EQ(certs.size(), 1u);
  ASSERT_EQ(keys.size(), 1u);
  Bytes cert_id, key_id, der;
  EXPECT_EQ(token.get(certs[0], CKA_ID, cert_id), CKR_OK);
  EXPECT_EQ(token.get(keys[0], CKA_ID, key_id), CKR_OK);
  EXPECT_EQ(cert_id, key_id);
  EXPECT_EQ(token.get(certs[0], CKA_VALUE, der), CKR_OK);
  EXPECT_EQ(der, cert.der());
  EXPECT_EQ(token.get_bool(certs[0], CKA_PRIVATE), false);
  EXPECT_EQ(token.get_bool(certs[0], CKA_TOKEN), true);
  EXPECT_EQ(token.find(CKO_CERTIFICATE, std::string(kRootCertificateLabel)).size(), 1u);

  // And pkcs11-tool lists both under corePKCS11's labels.
  auto listed = testing::run_process({"pkcs11-tool", "--module", testing::kSoftHsmModule,
                                      "--token-label", kToken, "--list-objects", "--type", "cert"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_TRUE(contains(listed.out, "label:      Device Cert"));
  EXPECT_TRUE(contains(listed.out, "label:      Root Cert"));
}

TEST_F(TokenCertificatesTest, CertificateForAnotherKeyIsRefusedAndChangesNothing) {
  ASSERT_TRUE(generate_device_key());
  auto other = new_p256_key();
  crypto::Certificate foreign = issue_for(*other);
  std::vector<crypto::Certificate> trusted{root_->certificate()};
  auto stored = store_device_identity(token_uri(), foreign, trusted);
  ASSERT_FALSE(stored);
  EXPECT_TRUE(
      contains(stored.error().message, "key hash " + to_hex(other->public_key().key_hash())));
  EXPECT_TRUE(contains(stored.error().message,
                       "issue the certificate from a CSR made with this token's key"));
  auto read = read_certificates(token_uri(), kDeviceCertificateLabel);
  ASSERT_FALSE(read);
  EXPECT_TRUE(
      contains(read.error().message, "there is no certificate 'Device Cert' in token 'device-1'"));
  EXPECT_FALSE(read_certificates(token_uri(), kRootCertificateLabel));
}

TEST_F(TokenCertificatesTest, NoDeviceKeyAndNonCaTrustAreRefused) {
  auto other = new_p256_key();
  crypto::Certificate cert = issue_for(*other);
  std::vector<crypto::Certificate> roots{root_->certificate()};
  auto no_key = store_device_identity(token_uri(), cert, roots);
  ASSERT_FALSE(no_key);
  EXPECT_TRUE(contains(no_key.error().message,
                       "the device key: no private key with label 'Device Priv TLS Key'"));
  std::vector<crypto::Certificate> not_a_ca{cert};
  auto bad_trust = store_device_identity(token_uri(), cert, not_a_ca);
  ASSERT_FALSE(bad_trust);
  EXPECT_TRUE(contains(bad_trust.error().message, "is not a CA certificate"));
  auto none = store_device_identity(token_uri(), cert, {});
  ASSERT_FALSE(none);
  EXPECT_TRUE(contains(none.error().message, "at least one trusted CA"));
}

TEST_F(TokenCertificatesTest, ChainsComeBackLeafFirstAndStoringReplaces) {
  auto key = generate_device_key();
  ASSERT_TRUE(key);
  crypto::Certificate leaf = issue_for(*key);
  std::vector<crypto::Certificate> scrambled{root_->certificate(), leaf, device_ca_->certificate()};
  ASSERT_TRUE(
      store_certificates(token_uri(), "Chain", scrambled, CertificateCategory::other_entity));
  auto chain = read_certificates(token_uri(), "Chain");
  ASSERT_TRUE(chain) << chain.error().message;
  ASSERT_EQ(chain->size(), 3u);
  EXPECT_EQ((*chain)[0].der(), leaf.der());
  EXPECT_EQ((*chain)[1].der(), device_ca_->certificate().der());
  EXPECT_EQ((*chain)[2].der(), root_->certificate().der());

  crypto::Certificate renewed = issue_for(*key, "thing-1");
  ASSERT_TRUE(store_certificates(token_uri(), "Chain", std::span(&renewed, 1),
                                 CertificateCategory::token_user));
  chain = read_certificates(token_uri(), "Chain");
  ASSERT_TRUE(chain) << chain.error().message;
  ASSERT_EQ(chain->size(), 1u);
  EXPECT_EQ(chain->front().der(), renewed.der());
  EXPECT_FALSE(store_certificates(token_uri(), "Chain", {}, CertificateCategory::token_user));
}

}  // namespace
}  // namespace ironroot::keystore
