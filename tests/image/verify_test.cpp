// Verification, and every class of malformed input the parser must refuse without reading out of
// bounds (the debug build runs these under AddressSanitizer).
#include <gtest/gtest.h>

#include <random>

#include "ironroot/image/image.hpp"
#include "ironroot/image/sign.hpp"
#include "test_keys.hpp"

namespace ironroot::image {
namespace {

using ironroot::testing::ed25519_key;
using ironroot::testing::fresh_key;

Bytes signed_image(crypto::Signer& key, std::optional<std::uint32_t> counter = {}) {
  SignOptions o;
  o.version = *ImageVersion::parse("2.0.1+9");
  o.slot_size = 0x10000;
  o.security_counter = counter;
  Bytes fw(32, std::byte{0});
  for (int i = 0; i < 1000; ++i) fw.push_back(std::byte(i * 7));
  return *sign_image(fw, o, key);
}

ImageFault fault_of(ByteView data, std::span<const crypto::PublicKey> keys, VerifyOptions o = {}) {
  auto r = verify_image(data, keys, o);
  EXPECT_FALSE(r) << "image unexpectedly verified";
  return r ? ImageFault::hash_missing : r.error().fault;
}

// Assembles an image by hand: header + payload + optional protected area + TLV area.
Bytes craft(std::uint16_t prot_size, const Bytes& prot_area, const Bytes& tlv_entries,
            std::uint16_t tlv_magic = kTlvInfoMagic) {
  ImageHeader h;
  h.img_size = 4;
  h.protect_tlv_size = prot_size;
  auto hb = h.encode();
  Bytes img(hb.begin(), hb.end());
  append(img, as_bytes("code"));
  append(img, prot_area);
  append_le16(img, tlv_magic);
  append_le16(img, static_cast<std::uint16_t>(tlv_entries.size() + 4));
  append(img, tlv_entries);
  return img;
}

Bytes tlv_entry(std::uint16_t type, ByteView value) {
  Bytes e;
  append_le16(e, type);
  append_le16(e, static_cast<std::uint16_t>(value.size()));
  append(e, value);
  return e;
}

// A hand-made image whose first TLV is a correct SHA256, followed by `more` entries.
Bytes craft_hashed(const Bytes& more) {
  Bytes entries = tlv_entry(tlv::kSha256, Bytes(32));
  append(entries, more);
  Bytes img = craft(0, {}, entries);
  auto digest = crypto::sha256(ByteView(img).first(32 + 4));
  std::copy(digest.begin(), digest.end(), img.begin() + 32 + 4 + 4 + 4);
  return img;
}

class VerifyBothTypes : public ::testing::TestWithParam<crypto::KeyType> {};

TEST_P(VerifyBothTypes, ValidImageVerifiesAndReportsItsKey) {
  auto key = fresh_key(GetParam());
  auto other = fresh_key(GetParam());
  Bytes img = signed_image(key, 42);
  std::vector<crypto::PublicKey> trusted = {other.public_key(), key.public_key()};
  auto v = verify_image(img, trusted);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->key_index, 1u);
  EXPECT_EQ(v->key_hash, key.public_key().key_hash());
  EXPECT_EQ(v->image.security_counter(), 42u);
  EXPECT_EQ(v->image.header.version.to_string(), "2.0.1+9");
}

TEST_P(VerifyBothTypes, TamperedPayloadIsAHashMismatch) {
  auto key = fresh_key(GetParam());
  Bytes img = signed_image(key);
  img[100] ^= std::byte{0x01};
  std::vector<crypto::PublicKey> trusted = {key.public_key()};
  EXPECT_EQ(fault_of(img, trusted), ImageFault::hash_mismatch);
}

TEST_P(VerifyBothTypes, TamperedSignatureIsInvalid) {
  auto key = fresh_key(GetParam());
  Bytes img = signed_image(key);
  img[img.size() - 5] ^= std::byte{0x40};
  std::vector<crypto::PublicKey> trusted = {key.public_key()};
  EXPECT_EQ(fault_of(img, trusted), ImageFault::signature_invalid);
}

TEST_P(VerifyBothTypes, UntrustedKeyNamesBothKeys) {
  auto key = fresh_key(GetParam());
  auto device_key = fresh_key(GetParam());
  Bytes img = signed_image(key);
  std::vector<crypto::PublicKey> trusted = {device_key.public_key()};
  auto r = verify_image(img, trusted);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().fault, ImageFault::key_not_trusted);
  EXPECT_NE(r.error().message.find(to_hex(key.public_key().key_hash()).substr(0, 16)),
            std::string::npos);
  EXPECT_NE(r.error().message.find(to_hex(device_key.public_key().key_hash()).substr(0, 16)),
            std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Keys, VerifyBothTypes,
                         ::testing::Values(crypto::KeyType::ecdsa_p256, crypto::KeyType::ed25519),
                         [](const ::testing::TestParamInfo<crypto::KeyType>& p) {
                           return p.param == crypto::KeyType::ed25519 ? "ed25519" : "ecdsa_p256";
                         });

class Malformed : public ::testing::Test {
 protected:
  crypto::PrivateKey key_ = ed25519_key();
  Bytes image_ = signed_image(key_, 7);
  std::vector<crypto::PublicKey> trusted_ = {key_.public_key()};
};

TEST_F(Malformed, BadMagic) {
  image_[0] = std::byte{0};
  EXPECT_EQ(fault_of(image_, trusted_), ImageFault::bad_magic);
  store_le32(image_, kImageMagicV1);
  auto r = verify_image(image_, trusted_);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("v1"), std::string::npos);
  EXPECT_EQ(fault_of(as_bytes("not an image at all, just some text here"), trusted_),
            ImageFault::bad_magic);
}

TEST_F(Malformed, EveryTruncationIsRefused) {
  auto parsed = parse_image(image_);
  ASSERT_TRUE(parsed);
  for (std::size_t len = 0; len < parsed->size; ++len) {
    auto r = parse_image(ByteView(image_).first(len));
    ASSERT_FALSE(r) << "a " << len << "-byte prefix parsed";
    ASSERT_TRUE(r.error().fault == ImageFault::truncated) << len << ": " << r.error().message;
  }
}

TEST_F(Malformed, HeaderSizeSmallerThanHeader) {
  store_le16(std::span<std::byte>(image_).subspan(8), 16);
  EXPECT_EQ(fault_of(image_, trusted_), ImageFault::inconsistent_sizes);
}

TEST_F(Malformed, ImageSizeBeyondTheData) {
  store_le32(std::span<std::byte>(image_).subspan(12), 0xfffffff0);
  EXPECT_EQ(fault_of(image_, trusted_), ImageFault::truncated);
}

TEST_F(Malformed, ProtectedSizeDisagreesWithItsArea) {
  auto h = ImageHeader::decode(image_);
  ASSERT_EQ(h.protect_tlv_size, 12);
  store_le16(std::span<std::byte>(image_).subspan(10), 16);
  EXPECT_EQ(fault_of(image_, trusted_), ImageFault::inconsistent_sizes);
  store_le16(std::span<std::byte>(image_).subspan(10), 0);
  EXPECT_EQ(fault_of(image_, trusted_), ImageFault::inconsistent_sizes);
  store_le16(std::span<std::byte>(image_).subspan(10), 2);
  EXPECT_EQ(fault_of(image_, trusted_), ImageFault::inconsistent_sizes);
}

TEST_F(Malformed, ProtectedSizeClaimedWhereNoneIs) {
  Bytes unprotected = craft(0, {}, tlv_entry(tlv::kSha256, Bytes(32)));
  store_le16(std::span<std::byte>(unprotected).subspan(10), 8);
  EXPECT_EQ(fault_of(unprotected, trusted_), ImageFault::inconsistent_sizes);
}

TEST_F(Malformed, TlvTotalSmallerThanItsInfo) {
  Bytes img = craft(0, {}, {});
  store_le16(std::span<std::byte>(img).subspan(img.size() - 2), 2);
  EXPECT_EQ(fault_of(img, trusted_), ImageFault::inconsistent_sizes);
}

TEST_F(Malformed, TlvLengthRunsPastItsArea) {
  Bytes entries = tlv_entry(tlv::kSha256, Bytes(32));
  store_le16(std::span<std::byte>(entries).subspan(2), 200);
  EXPECT_EQ(fault_of(craft(0, {}, entries), trusted_), ImageFault::bad_tlv);
  Bytes stub = {std::byte{0x10}, std::byte{0x00}};  // half a TLV header
  EXPECT_EQ(fault_of(craft(0, {}, stub), trusted_), ImageFault::bad_tlv);
}

TEST_F(Malformed, BadTlvInfoMagic) {
  EXPECT_EQ(fault_of(craft(0, {}, {}, 0x1234), trusted_), ImageFault::bad_tlv);
}

TEST_F(Malformed, ProtectedOnlyTlvOutsideTheProtectedArea) {
  Bytes counter(4, std::byte{0xff});
  auto r = verify_image(craft(0, {}, tlv_entry(tlv::kSecCnt, counter)), trusted_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().fault, ImageFault::bad_tlv);
  EXPECT_NE(r.error().message.find("SEC_CNT"), std::string::npos);
}

TEST_F(Malformed, WrongSizedFixedTlvs) {
  Bytes prot;
  append_le16(prot, kTlvProtInfoMagic);
  Bytes entry = tlv_entry(tlv::kSecCnt, Bytes(3));
  append_le16(prot, static_cast<std::uint16_t>(entry.size() + 4));
  append(prot, entry);
  EXPECT_EQ(fault_of(craft(static_cast<std::uint16_t>(prot.size()), prot,
                           tlv_entry(tlv::kSha256, Bytes(32))),
                     trusted_),
            ImageFault::bad_tlv);
  EXPECT_EQ(fault_of(craft(0, {}, tlv_entry(tlv::kSha256, Bytes(31))), trusted_),
            ImageFault::bad_tlv);
  EXPECT_EQ(fault_of(craft_hashed(tlv_entry(tlv::kKeyHash, Bytes(5))), trusted_),
            ImageFault::bad_tlv);
}

TEST_F(Malformed, MissingHashAndMissingSignature) {
  EXPECT_EQ(fault_of(craft(0, {}, {}), trusted_), ImageFault::hash_missing);
  EXPECT_EQ(fault_of(craft_hashed(tlv_entry(tlv::kKeyHash, trusted_[0].key_hash())), trusted_),
            ImageFault::signature_missing);
  Bytes twice = tlv_entry(tlv::kSha256, Bytes(32));
  EXPECT_EQ(fault_of(craft_hashed(twice), trusted_), ImageFault::bad_tlv);
}

TEST_F(Malformed, UnsupportedHashAndSignatureTypes) {
  EXPECT_EQ(fault_of(craft(0, {}, tlv_entry(tlv::kSha384, Bytes(48))), trusted_),
            ImageFault::unsupported);
  Bytes rsa = tlv_entry(tlv::kKeyHash, trusted_[0].key_hash());
  append(rsa, tlv_entry(tlv::kRsa2048Pss, Bytes(256)));
  EXPECT_EQ(fault_of(craft_hashed(rsa), trusted_), ImageFault::unsupported);
}

TEST_F(Malformed, TooLargeForTheSlot) {
  auto parsed = parse_image(image_);
  ASSERT_TRUE(parsed);
  VerifyOptions fits{parsed->size + 432, 432};
  EXPECT_TRUE(verify_image(image_, trusted_, fits));
  VerifyOptions too_small{parsed->size + 431, 432};
  EXPECT_EQ(fault_of(image_, trusted_, too_small), ImageFault::too_large);
}

TEST_F(Malformed, RandomCorruptionNeverCrashes) {
  std::mt19937 rng(1234);  // fixed seed: deterministic
  for (int round = 0; round < 3000; ++round) {
    Bytes copy = image_;
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) {
      std::size_t at = rng() % std::min<std::size_t>(copy.size(), round % 2 ? 64 : copy.size());
      copy[at] = std::byte(rng() & 0xff);
    }
    copy.resize(copy.size() - rng() % 16);
    auto r = verify_image(copy, trusted_);
    if (r) {
      EXPECT_EQ(r->image.payload.size(), 1000u);  // only harmless bytes changed
    }
  }
}

}  // namespace
}  // namespace ironroot::image

namespace ironroot::image {
namespace {

// MCUBOOT_HW_KEY mode: the device trusts fused key hashes; the image carries its key.
class VerifyByKeyHash : public ::testing::Test {
 protected:
  Bytes sign_with(crypto::Signer& key, PublicKeyFormat format) {
    SignOptions o;
    o.slot_size = 0x10000;
    o.public_key_format = format;
    return *sign_image(Bytes(64, std::byte{0}), o, key);
  }
  crypto::PrivateKey key_ = fresh_key(crypto::KeyType::ecdsa_p256);
  crypto::PrivateKey other_ = fresh_key(crypto::KeyType::ed25519);
};

TEST_F(VerifyByKeyHash, EmbeddedKeyWhoseHashIsTrustedVerifies) {
  Bytes img = sign_with(key_, PublicKeyFormat::full);
  std::vector<crypto::Sha256Digest> fused = {other_.public_key().key_hash(),
                                             key_.public_key().key_hash()};
  auto v = verify_image_by_key_hash(img, fused);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->key_index, 1u);
  EXPECT_EQ(v->key_hash, key_.public_key().key_hash());
}

TEST_F(VerifyByKeyHash, UntrustedOrHashOnlyImagesAreRefused) {
  std::vector<crypto::Sha256Digest> fused = {other_.public_key().key_hash()};
  auto untrusted = verify_image_by_key_hash(sign_with(key_, PublicKeyFormat::full), fused);
  ASSERT_FALSE(untrusted);
  EXPECT_EQ(untrusted.error().fault, ImageFault::key_not_trusted);

  std::vector<crypto::Sha256Digest> mine = {key_.public_key().key_hash()};
  auto hash_only = verify_image_by_key_hash(sign_with(key_, PublicKeyFormat::hash), mine);
  ASSERT_FALSE(hash_only);
  EXPECT_EQ(hash_only.error().fault, ImageFault::signature_invalid);
  EXPECT_NE(hash_only.error().message.find("--public-key-format full"), std::string::npos);
}

TEST_F(VerifyByKeyHash, TamperedEmbeddedKeyIsRefused) {
  // Changing the embedded key changes its hash: no longer a fused key.
  Bytes img = sign_with(other_, PublicKeyFormat::full);
  auto parsed = parse_image(img);
  ASSERT_TRUE(parsed);
  std::vector<crypto::Sha256Digest> fused = {other_.public_key().key_hash()};
  ASSERT_TRUE(verify_image_by_key_hash(img, fused));
  Bytes tampered = img;
  tampered[parsed->find(tlv::kPubKey)->offset + 4 + 20] ^= std::byte{1};
  auto r = verify_image_by_key_hash(tampered, fused);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().fault == ImageFault::key_not_trusted ||
              r.error().fault == ImageFault::bad_tlv)
      << r.error().message;
}

}  // namespace
}  // namespace ironroot::image
