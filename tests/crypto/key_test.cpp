#include "ironroot/crypto/key.hpp"

#include <gtest/gtest.h>

namespace ironroot::crypto {
namespace {

class KeyTest : public ::testing::TestWithParam<KeyType> {};

TEST_P(KeyTest, SignVerifyRoundTrip) {
  auto key = PrivateKey::generate(GetParam());
  ASSERT_TRUE(key) << key.error().message;
  Sha256Digest digest = sha256(as_bytes("firmware"));
  auto sig = key->sign_digest(digest);
  ASSERT_TRUE(sig) << sig.error().message;
  EXPECT_TRUE(key->public_key().verify_digest(digest, *sig));

  Sha256Digest other = sha256(as_bytes("firmwarE"));
  EXPECT_FALSE(key->public_key().verify_digest(other, *sig));
  Bytes tampered = *sig;
  tampered[tampered.size() / 2] ^= std::byte{1};
  EXPECT_FALSE(key->public_key().verify_digest(digest, tampered));
}

TEST_P(KeyTest, PemRoundTripKeepsTheKey) {
  auto key = PrivateKey::generate(GetParam());
  ASSERT_TRUE(key);
  auto pem = key->pem();
  ASSERT_TRUE(pem);
  EXPECT_NE(pem->find("BEGIN PRIVATE KEY"), std::string::npos);
  auto again = PrivateKey::from_pem(as_bytes(*pem));
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->public_key().der(), key->public_key().der());
  EXPECT_EQ(again->type(), GetParam());

  // The public half from the public PEM, or from the private PEM.
  auto pub = PublicKey::from_pem(as_bytes(key->public_key().pem()));
  ASSERT_TRUE(pub) << pub.error().message;
  EXPECT_EQ(pub->der(), key->public_key().der());
  auto pub_from_priv = PublicKey::from_pem(as_bytes(*pem));
  ASSERT_TRUE(pub_from_priv);
  EXPECT_EQ(pub_from_priv->key_hash(), key->public_key().key_hash());
}

TEST_P(KeyTest, RawPublicValueRoundTrip) {
  auto key = PrivateKey::generate(GetParam());
  ASSERT_TRUE(key);
  Bytes raw = key->public_key().raw();
  EXPECT_EQ(raw.size(), GetParam() == KeyType::ed25519 ? 32u : 65u);
  auto pub = PublicKey::from_raw(GetParam(), raw);
  ASSERT_TRUE(pub) << pub.error().message;
  EXPECT_EQ(pub->der(), key->public_key().der());
}

TEST_P(KeyTest, EncryptedPemNeedsItsPassphrase) {
  auto key = PrivateKey::generate(GetParam());
  ASSERT_TRUE(key);
  auto pem = key->pem("correct horse");
  ASSERT_TRUE(pem);
  auto no_pass = PrivateKey::from_pem(as_bytes(*pem));
  ASSERT_FALSE(no_pass);
  EXPECT_NE(no_pass.error().message.find("IRONROOT_KEY_PASSPHRASE"), std::string::npos);
  EXPECT_FALSE(PrivateKey::from_pem(as_bytes(*pem), "wrong"));
  auto ok = PrivateKey::from_pem(as_bytes(*pem), "correct horse");
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->public_key().der(), key->public_key().der());
}

INSTANTIATE_TEST_SUITE_P(BothTypes, KeyTest,
                         ::testing::Values(KeyType::ecdsa_p256, KeyType::ed25519),
                         [](const ::testing::TestParamInfo<KeyType>& p) {
                           return p.param == KeyType::ed25519 ? "ed25519" : "ecdsa_p256";
                         });

TEST(Key, PublicDerSizesMatchMcuboot) {
  // MCUboot embeds SubjectPublicKeyInfo: 91 bytes for P-256, 44 for Ed25519.
  EXPECT_EQ(PrivateKey::generate(KeyType::ecdsa_p256)->public_key().der().size(), 91u);
  EXPECT_EQ(PrivateKey::generate(KeyType::ed25519)->public_key().der().size(), 44u);
}

TEST(Key, RejectsGarbageAndUnsupportedCurves) {
  auto garbage = PrivateKey::from_pem(
      as_bytes("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"));
  EXPECT_FALSE(garbage);
  EXPECT_FALSE(PublicKey::from_pem(as_bytes("hello")));
  EXPECT_FALSE(PublicKey::from_der(as_bytes("\x30\x03\x02\x01\x01")));
  // A P-384 key (made with `openssl ecparam -name secp384r1`) is refused, naming the curve.
  const char* p384 =
      "-----BEGIN PUBLIC KEY-----\n"
      "MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAE/bOI+HUu18xeuTnoBAyGYMX59GTECfvy\n"
      "m+QiyWoHrrPHnWZCZn80sbgp3mWc1xH92DhXG5/CFJXHXPDwR/ZOs8NtBMPYM5xk\n"
      "pYPiZiwsZ78F5o+RzgBXLAwPmABSsrCB\n"
      "-----END PUBLIC KEY-----\n";
  auto unsupported = PublicKey::from_pem(as_bytes(p384));
  ASSERT_FALSE(unsupported);
  EXPECT_NE(unsupported.error().message.find("secp384r1"), std::string::npos)
      << unsupported.error().message;
  EXPECT_FALSE(PublicKey::from_raw(KeyType::ecdsa_p256, Bytes(65)));
  EXPECT_FALSE(PublicKey::from_raw(KeyType::ed25519, Bytes(31)));
}

TEST(Key, KeyTypeNames) {
  EXPECT_EQ(parse_key_type("ecdsa-p256"), KeyType::ecdsa_p256);
  EXPECT_EQ(parse_key_type("ed25519"), KeyType::ed25519);
  EXPECT_FALSE(parse_key_type("rsa-2048"));
  EXPECT_EQ(key_type_name(KeyType::ed25519), "ed25519");
}

// Cuts a DER ECDSA-Sig-Value (short-form lengths, as P-256 signatures have) back to raw r || s.
Bytes raw_from_der(ByteView der) {
  Bytes raw;
  std::size_t at = 2;  // SEQUENCE tag and length
  for (int i = 0; i < 2; ++i) {
    auto len = std::to_integer<std::size_t>(der[at + 1]);
    ByteView value = der.subspan(at + 2, len);
    while (value.size() > 32 && value[0] == std::byte{0}) value = value.subspan(1);
    raw.insert(raw.end(), 32 - value.size(), std::byte{0});
    raw.insert(raw.end(), value.begin(), value.end());
    at += 2 + len;
  }
  return raw;
}

TEST(EcdsaDerFromRaw, EncodesIntegersMinimallyWithSignPadding) {
  // r has its top bit set (needs a 00 in front), s is 1 (its leading zeros go).
  Bytes raw(64, std::byte{0});
  raw[0] = std::byte{0x80};
  raw[63] = std::byte{0x01};
  auto der = ecdsa_der_from_raw(raw);
  ASSERT_TRUE(der) << der.error().message;
  Bytes expected = {std::byte{0x30}, std::byte{0x26}, std::byte{0x02},
                    std::byte{0x21}, std::byte{0x00}, std::byte{0x80}};
  expected.insert(expected.end(), 31, std::byte{0});
  for (int b : {0x02, 0x01, 0x01}) expected.push_back(static_cast<std::byte>(b));
  EXPECT_EQ(to_hex(*der), to_hex(expected));
}

TEST(EcdsaDerFromRaw, RoundTripsARealSignature) {
  auto key = PrivateKey::generate(KeyType::ecdsa_p256);
  ASSERT_TRUE(key);
  Sha256Digest digest = sha256(as_bytes("firmware"));
  auto sig = key->sign_digest(digest);
  ASSERT_TRUE(sig);
  auto der = ecdsa_der_from_raw(raw_from_der(*sig));
  ASSERT_TRUE(der) << der.error().message;
  EXPECT_EQ(*der, *sig);
  EXPECT_TRUE(key->public_key().verify_digest(digest, *der));
}

TEST(EcdsaDerFromRaw, RejectsEmptyAndOddInput) {
  EXPECT_FALSE(ecdsa_der_from_raw(Bytes{}));
  auto odd = ecdsa_der_from_raw(Bytes(63));
  ASSERT_FALSE(odd);
  EXPECT_NE(odd.error().message.find("63 bytes"), std::string::npos) << odd.error().message;
}

}  // namespace
}  // namespace ironroot::crypto
