// Verifying an image that stays in storage (image::StoredImage, the ImageSource form of
// verify_image_by_key_hash) judges every image exactly as verifying it from one buffer does, same
// fault and same message, while it reads the slot a header, TLV area or 4 KiB chunk at a time.
#include <gtest/gtest.h>

#include <random>

#include "ironroot/image/image.hpp"
#include "ironroot/image/sign.hpp"
#include "test_keys.hpp"

namespace ironroot::image {
namespace {

using ironroot::testing::ed25519_key;
using ironroot::testing::fresh_key;

// Storage over a buffer that records how it is read, and can fail from a given offset on.
class RecordedSource final : public ImageSource {
 public:
  explicit RecordedSource(ByteView data) : data_(data) {}

  std::uint64_t size() const override { return data_.size(); }
  Status read(std::uint64_t offset, std::span<std::byte> out) override {
    EXPECT_LE(offset + out.size(), data_.size()) << "read past the source";
    if (offset + out.size() > data_.size()) return fail("past the end");
    if (fail_from && offset + out.size() > *fail_from) return fail("flash read error (test)");
    largest_read = std::max(largest_read, out.size());
    bytes_read += out.size();
    ++reads;
    std::copy_n(data_.begin() + static_cast<std::ptrdiff_t>(offset), out.size(), out.begin());
    return {};
  }

  std::optional<std::uint64_t> fail_from;
  std::size_t largest_read = 0;
  std::uint64_t bytes_read = 0;
  std::size_t reads = 0;

 private:
  ByteView data_;
};

Result<VerifiedImage, ImageError> verify_stored(ByteView data,
                                                std::span<const crypto::Sha256Digest> trusted,
                                                const VerifyOptions& options = {}) {
  RecordedSource source(data);
  auto stored = StoredImage::read(source);
  if (!stored) return tl::unexpected(stored.error());
  auto verified = verify_image_by_key_hash(*stored, source, trusted, options);
  if (!verified) return verified;
  // The result points into `stored`, which dies here: hand back a copy that owns nothing.
  VerifiedImage out = *verified;
  out.image.tlvs.clear();
  return out;
}

// Both forms reach the same verdict: the same hash, key and header, or the same fault and message.
void expect_same_judgement(ByteView data, std::span<const crypto::Sha256Digest> trusted,
                           const VerifyOptions& options = {}) {
  auto from_buffer = verify_image_by_key_hash(data, trusted, options);
  auto from_storage = verify_stored(data, trusted, options);
  ASSERT_EQ(bool(from_buffer), bool(from_storage))
      << "buffer: " << (from_buffer ? std::string("verified") : from_buffer.error().message)
      << "; storage: " << (from_storage ? std::string("verified") : from_storage.error().message);
  if (from_buffer) {
    EXPECT_EQ(from_storage->hash, from_buffer->hash);
    EXPECT_EQ(from_storage->key_index, from_buffer->key_index);
    EXPECT_EQ(from_storage->key_hash, from_buffer->key_hash);
    EXPECT_EQ(from_storage->image.header.encode(), from_buffer->image.header.encode());
    EXPECT_EQ(from_storage->image.size, from_buffer->image.size);
    EXPECT_EQ(from_storage->image.hashed_size, from_buffer->image.hashed_size);
  } else {
    EXPECT_EQ(to_string(from_storage.error().fault), to_string(from_buffer.error().fault));
    EXPECT_EQ(from_storage.error().message, from_buffer.error().message);
  }
}

// Signed as a device wants it: embedded key, security counter (a protected TLV area).
Bytes device_image(crypto::Signer& key, std::size_t payload_size, std::uint32_t counter = 3) {
  SignOptions o;
  o.version = *ImageVersion::parse("1.2.3+4");
  o.slot_size = 0x200000;
  o.pad_header = true;
  o.header_size = 0x100;
  o.security_counter = counter;
  o.public_key_format = PublicKeyFormat::full;
  Bytes payload(payload_size);
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = std::byte(i * 31 + 7);
  auto img = sign_image(payload, o, key);
  EXPECT_TRUE(img) << img.error().message;
  return img ? *img : Bytes{};
}

class StoredImageBothTypes : public ::testing::TestWithParam<crypto::KeyType> {
 protected:
  crypto::PrivateKey key_ = fresh_key(GetParam());
  crypto::PrivateKey other_ = fresh_key(GetParam());
  Bytes image_ = device_image(key_, 20000);
  std::vector<crypto::Sha256Digest> trusted_ = {other_.public_key().key_hash(),
                                                key_.public_key().key_hash()};
  ImageView parsed_ = *parse_image(image_);
};

TEST_P(StoredImageBothTypes, AGoodImageVerifiesWithTheSameResult) {
  auto v = verify_stored(image_, trusted_);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->key_index, 1u);
  EXPECT_EQ(v->image.header.version.to_string(), "1.2.3+4");
  EXPECT_EQ(v->hash, crypto::sha256(ByteView(image_).first(parsed_.hashed_size)));
  expect_same_judgement(image_, trusted_);
  expect_same_judgement(image_, trusted_, VerifyOptions{0x100000, 432});
}

TEST_P(StoredImageBothTypes, EveryTamperingIsRefusedTheSameWay) {
  auto flipped = [&](std::size_t at, std::byte mask = std::byte{0x01}) {
    Bytes copy = image_;
    copy[at] ^= mask;
    return copy;
  };
  const std::size_t payload = parsed_.header.hdr_size;
  const Tlv* sig =
      parsed_.find(GetParam() == crypto::KeyType::ed25519 ? tlv::kEd25519 : tlv::kEcdsaSig);
  ASSERT_NE(sig, nullptr);
  const Tlv* counter = parsed_.find(tlv::kSecCnt);
  ASSERT_NE(counter, nullptr);
  const Tlv* pubkey = parsed_.find(tlv::kPubKey);
  ASSERT_NE(pubkey, nullptr);
  const Tlv* hash = parsed_.find(tlv::kSha256);
  ASSERT_NE(hash, nullptr);

  struct Case {
    const char* what;
    Bytes data;
    ImageFault expected;
  };
  const std::vector<Case> cases = {
      {"a payload byte (first)", flipped(payload), ImageFault::hash_mismatch},
      {"a payload byte (past the first chunk)", flipped(payload + 5000), ImageFault::hash_mismatch},
      {"a payload byte (last)", flipped(parsed_.hashed_size - parsed_.header.protect_tlv_size - 1),
       ImageFault::hash_mismatch},
      {"a header byte (version)", flipped(20), ImageFault::hash_mismatch},
      {"a header padding byte", flipped(100), ImageFault::hash_mismatch},
      {"the header magic", flipped(0), ImageFault::bad_magic},
      {"a protected TLV byte (security counter)", flipped(counter->offset + 4),
       ImageFault::hash_mismatch},
      {"the SHA256 TLV", flipped(hash->offset + 4 + 10), ImageFault::hash_mismatch},
      {"a signature byte", flipped(sig->offset + 4 + 20, std::byte{0x40}),
       ImageFault::signature_invalid},
      {"a PUBKEY TLV byte", flipped(pubkey->offset + 4 + 40), ImageFault::key_not_trusted},
      {"a TLV length", flipped(sig->offset + 3, std::byte{0x10}), ImageFault::bad_tlv},
      {"the TLV info total", flipped(parsed_.hashed_size + 3, std::byte{0x01}),
       ImageFault::truncated},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    auto r = verify_stored(c.data, trusted_);
    ASSERT_FALSE(r);
    EXPECT_EQ(to_string(r.error().fault), to_string(c.expected)) << r.error().message;
    expect_same_judgement(c.data, trusted_);
  }
}

TEST_P(StoredImageBothTypes, EveryTruncationIsRefusedTheSameWay) {
  for (std::size_t len = 0; len < parsed_.size; ++len) {
    ByteView prefix = ByteView(image_).first(len);
    auto r = verify_stored(prefix, trusted_);
    ASSERT_FALSE(r) << "a " << len << "-byte prefix verified";
    ASSERT_EQ(r.error().fault, ImageFault::truncated) << len << ": " << r.error().message;
    expect_same_judgement(prefix, trusted_);
    if (::testing::Test::HasFailure()) FAIL() << "at a " << len << "-byte prefix";
  }
}

TEST_P(StoredImageBothTypes, AWrongKeyIsRefusedTheSameWay) {
  const std::vector<crypto::Sha256Digest> others = {other_.public_key().key_hash()};
  auto r = verify_stored(image_, others);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().fault, ImageFault::key_not_trusted);
  expect_same_judgement(image_, others);
  expect_same_judgement(image_, {});
  // Signed by a stranger who embeds its own key.
  auto stranger = fresh_key(GetParam());
  expect_same_judgement(device_image(stranger, 3000), trusted_);
}

TEST_P(StoredImageBothTypes, TooLargeForTheSlotIsRefusedTheSameWay) {
  VerifyOptions fits{parsed_.size + 432, 432};
  VerifyOptions too_small{parsed_.size + 431, 432};
  ASSERT_TRUE(verify_stored(image_, trusted_, fits));
  auto r = verify_stored(image_, trusted_, too_small);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().fault, ImageFault::too_large);
  expect_same_judgement(image_, trusted_, fits);
  expect_same_judgement(image_, trusted_, too_small);
}

INSTANTIATE_TEST_SUITE_P(Keys, StoredImageBothTypes,
                         ::testing::Values(crypto::KeyType::ecdsa_p256, crypto::KeyType::ed25519),
                         [](const ::testing::TestParamInfo<crypto::KeyType>& p) {
                           return p.param == crypto::KeyType::ed25519 ? "ed25519" : "ecdsa_p256";
                         });

class StoredImageTest : public ::testing::Test {
 protected:
  crypto::PrivateKey key_ = ed25519_key();
  std::vector<crypto::Sha256Digest> trusted_ = {key_.public_key().key_hash()};
};

TEST_F(StoredImageTest, BadSecurityCountersAreRefusedTheSameWay) {
  Bytes img = device_image(key_, 5000);
  const ImageView parsed = *parse_image(img);
  // A SEC_CNT that claims 3 bytes: the protected area no longer tiles.
  Bytes short_counter = img;
  store_le16(std::span<std::byte>(short_counter).subspan(parsed.find(tlv::kSecCnt)->offset + 2), 3);
  auto r = verify_stored(short_counter, trusted_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().fault, ImageFault::bad_tlv);
  expect_same_judgement(short_counter, trusted_);
  // A different counter value: the image hash no longer matches.
  Bytes other_counter = img;
  other_counter[parsed.find(tlv::kSecCnt)->offset + 4] = std::byte{0x7f};
  expect_same_judgement(other_counter, trusted_);
  // The counter the stored form reports is the one in the protected area.
  RecordedSource source(img);
  auto stored = StoredImage::read(source);
  ASSERT_TRUE(stored) << stored.error().message;
  EXPECT_EQ(stored->view().security_counter(), 3u);
}

TEST_F(StoredImageTest, RandomCorruptionIsJudgedTheSameWay) {
  Bytes img = device_image(key_, 1000, 7);
  std::mt19937 rng(4321);  // fixed seed: deterministic
  for (int round = 0; round < 1500; ++round) {
    Bytes copy = img;
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) {
      std::size_t at = rng() % copy.size();
      if (round % 3 == 0) at %= 64;                            // the header, often
      if (round % 3 == 1) at = copy.size() - 1 - rng() % 256;  // the TLV areas, often
      copy[at] = std::byte(rng() & 0xff);
    }
    copy.resize(copy.size() - rng() % 16);
    expect_same_judgement(copy, trusted_);
    if (::testing::Test::HasFailure()) FAIL() << "round " << round;
  }
}

TEST_F(StoredImageTest, TheStoredViewIsTheParsedViewWithoutThePayload) {
  Bytes img = device_image(key_, 3000);
  const ImageView parsed = *parse_image(img);
  RecordedSource source(img);
  auto stored = StoredImage::read(source);
  ASSERT_TRUE(stored) << stored.error().message;
  const ImageView& view = stored->view();
  EXPECT_TRUE(view.payload.empty());
  EXPECT_EQ(stored->source_size(), img.size());
  EXPECT_EQ(view.size, parsed.size);
  EXPECT_EQ(view.hashed_size, parsed.hashed_size);
  ASSERT_EQ(view.tlvs.size(), parsed.tlvs.size());
  for (std::size_t i = 0; i < view.tlvs.size(); ++i) {
    EXPECT_EQ(view.tlvs[i].type, parsed.tlvs[i].type);
    EXPECT_EQ(view.tlvs[i].offset, parsed.tlvs[i].offset);
    EXPECT_EQ(view.tlvs[i].is_protected, parsed.tlvs[i].is_protected);
    EXPECT_TRUE(std::equal(view.tlvs[i].value.begin(), view.tlvs[i].value.end(),
                           parsed.tlvs[i].value.begin(), parsed.tlvs[i].value.end()));
  }
  // Reading it took the header and the TLV areas only: not the payload.
  EXPECT_LT(source.bytes_read, 1000u);
  // A moved StoredImage still points at its own copies.
  StoredImage moved = std::move(*stored);
  EXPECT_EQ(moved.view().find(tlv::kPubKey)->value.size(), parsed.find(tlv::kPubKey)->value.size());
  auto hash = moved.hash(source);
  ASSERT_TRUE(hash) << hash.error().message;
  EXPECT_EQ(*hash, crypto::sha256(ByteView(img).first(parsed.hashed_size)));
}

TEST_F(StoredImageTest, ALargeImageIsReadInBoundedChunksAndOnce) {
  Bytes img = device_image(key_, 1024 * 1024);
  RecordedSource source(img);
  auto stored = StoredImage::read(source);
  ASSERT_TRUE(stored) << stored.error().message;
  auto v = verify_image_by_key_hash(*stored, source, trusted_);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_LE(source.largest_read, kImageReadChunk);
  EXPECT_GE(source.reads, img.size() / kImageReadChunk);
  // The payload once, and the header and TLV areas: no more than the image and a few hundred.
  EXPECT_LE(source.bytes_read, img.size() + 1024);
}

TEST_F(StoredImageTest, AFlashReadErrorIsUnreadableNotAVerdict) {
  Bytes img = device_image(key_, 20000);
  for (std::uint64_t from : {std::uint64_t{0}, std::uint64_t{10000}, img.size() - 10}) {
    SCOPED_TRACE(from);
    RecordedSource source(img);
    source.fail_from = from;
    auto stored = StoredImage::read(source);
    Result<VerifiedImage, ImageError> r =
        stored ? verify_image_by_key_hash(*stored, source, trusted_)
               : Result<VerifiedImage, ImageError>(tl::unexpected(stored.error()));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().fault, ImageFault::unreadable) << r.error().message;
    EXPECT_NE(r.error().message.find("flash read error (test)"), std::string::npos)
        << r.error().message;
  }
}

TEST_F(StoredImageTest, ASourceThatChangedSizeIsRefused) {
  Bytes img = device_image(key_, 2000);
  RecordedSource source(img);
  auto stored = StoredImage::read(source);
  ASSERT_TRUE(stored);
  Bytes longer = img;
  longer.resize(img.size() + 4096, std::byte{0xff});
  RecordedSource other(longer);
  auto r = verify_image_by_key_hash(*stored, other, trusted_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().fault, ImageFault::unreadable);
}

}  // namespace
}  // namespace ironroot::image
