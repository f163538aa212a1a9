// Golden-byte tests: the expected image is assembled here, field by field, from MCUboot's
// documented layout (docs/design.md, bootutil/image.h), not from the image library's encoders.
#include "ironroot/image/sign.hpp"

#include <gtest/gtest.h>

#include "ironroot/image/image.hpp"
#include "test_keys.hpp"

namespace ironroot::image {
namespace {

using ironroot::testing::ed25519_key;
using ironroot::testing::fresh_key;

Bytes hex(std::string_view text) {
  return *from_hex(text);
}

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

Bytes le16(std::uint16_t v) {
  return {std::byte(v & 0xff), std::byte(v >> 8)};
}
Bytes le32(std::uint32_t v) {
  return {std::byte(v & 0xff), std::byte((v >> 8) & 0xff), std::byte((v >> 16) & 0xff),
          std::byte(v >> 24)};
}
Bytes digest_bytes(const crypto::Sha256Digest& d) {
  return Bytes(d.begin(), d.end());
}

Bytes firmware_with_header_room(std::size_t header, std::string_view code) {
  Bytes fw(header, std::byte{0});
  append(fw, as_bytes(code));
  return fw;
}

SignOptions basic_options() {
  SignOptions o;
  o.version = *ImageVersion::parse("1.2.3+4");
  o.slot_size = 0x1000;
  return o;
}

TEST(SignGolden, Ed25519ImageIsByteExact) {
  auto key = ed25519_key();
  const std::string code = "hello, firmware";
  Bytes fw = firmware_with_header_room(32, code);
  auto image = sign_image(fw, basic_options(), key);
  ASSERT_TRUE(image) << image.error().message;

  Bytes header = cat({hex("3db8f396"), hex("00000000"), le16(32), le16(0),
                      le32(static_cast<std::uint32_t>(code.size())), hex("00000000"),
                      hex("01020300"), le32(4), hex("00000000")});
  Bytes hashed = cat({header, to_bytes(code)});
  auto hash = crypto::sha256(hashed);
  Bytes spki = hex(
      "302a300506032b6570032100d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  auto keyhash = crypto::sha256(spki);
  Bytes sig = *key.sign_digest(hash);  // Ed25519 is deterministic
  ASSERT_EQ(sig.size(), 64u);
  Bytes tlvs = cat({hex("0769"), le16(4 + 36 + 36 + 68), hex("1000"), le16(32), digest_bytes(hash),
                    hex("0100"), le16(32), digest_bytes(keyhash), hex("2400"), le16(64), sig});
  EXPECT_EQ(to_hex(*image), to_hex(cat({hashed, tlvs})));
}

TEST(SignGolden, ProtectedTlvsAndPaddedHeader) {
  auto key = ed25519_key();
  SignOptions o = basic_options();
  o.header_size = 0x200;
  o.pad_header = true;
  o.security_counter = 0x01020003;
  o.dependencies = {{1, *ImageVersion::parse("2.0.0")}, {2, *ImageVersion::parse("0.1.5+7")}};
  const std::string code = "payload";
  auto image = sign_image(as_bytes(code), o, key);
  ASSERT_TRUE(image) << image.error().message;

  const std::uint16_t prot_size = 4 + 8 + 16 + 16;
  Bytes header = cat({hex("3db8f396"), hex("00000000"), le16(0x200), le16(prot_size), le32(7),
                      hex("00000000"), hex("01020300"), le32(4), hex("00000000")});
  header.resize(0x200, std::byte{0xff});  // --pad-header fills with the erased value
  Bytes prot = cat({hex("0869"), le16(prot_size), hex("5000"), le16(4), le32(0x01020003),
                    hex("4000"), le16(12), hex("01000000"), hex("0200"), le16(0), le32(0),
                    hex("4000"), le16(12), hex("02000000"), hex("0001"), le16(5), le32(7)});
  Bytes hashed = cat({header, to_bytes(code), prot});
  auto hash = crypto::sha256(hashed);
  Bytes expected_prefix =
      cat({hashed, hex("0769"), le16(144), hex("1000"), le16(32), digest_bytes(hash)});
  ASSERT_GE(image->size(), expected_prefix.size());
  EXPECT_EQ(to_hex(ByteView(*image).first(expected_prefix.size())), to_hex(expected_prefix));
  EXPECT_EQ(image->size(), hashed.size() + 144);
}

TEST(SignGolden, EcdsaFullKeyPaddedAndConfirmed) {
  auto key = fresh_key(crypto::KeyType::ecdsa_p256);
  SignOptions o = basic_options();
  o.slot_size = 0x2000;
  o.public_key_format = PublicKeyFormat::full;
  o.trailer = *TrailerLayout::make(4, {}, 128, false);
  o.confirm = true;
  Bytes fw = firmware_with_header_room(32, "ecdsa firmware");
  auto image = sign_image(fw, o, key);
  ASSERT_TRUE(image) << image.error().message;
  ASSERT_EQ(image->size(), 0x2000u);

  Bytes spki = key.public_key().der();
  ASSERT_EQ(spki.size(), 91u);
  auto parsed = parse_image(*image);
  ASSERT_TRUE(parsed) << parsed.error().message;
  const std::size_t tlv_start = parsed->hashed_size;
  auto hash = crypto::sha256(ByteView(*image).first(tlv_start));
  // SHA256, then PUBKEY (the whole SubjectPublicKeyInfo), then the DER signature.
  Bytes expected =
      cat({hex("1000"), le16(32), digest_bytes(hash), hex("0200"), le16(91), spki, hex("2200")});
  EXPECT_EQ(to_hex(ByteView(*image).subspan(tlv_start + 4, expected.size())), to_hex(expected));
  const std::size_t sig_len = load_le16(ByteView(*image).subspan(tlv_start + 4 + expected.size()));
  EXPECT_GE(sig_len, 68u);
  EXPECT_LE(sig_len, 72u);
  EXPECT_EQ(load_le16(ByteView(*image).subspan(tlv_start + 2)), 4 + 36 + 95 + 4 + sig_len);

  // Trailer: 128 * 3 * 4 + 4 * 8 + 16 bytes, erased but for image_ok and the magic.
  const std::size_t trailer = 1536 + 32 + 16;
  for (std::size_t i = parsed->size; i < 0x2000 - 24; ++i)
    ASSERT_EQ((*image)[i], std::byte{0xff}) << i;
  EXPECT_EQ((*image)[0x2000 - 24], std::byte{0x01});
  for (std::size_t i = 0x2000 - 23; i < 0x2000 - 16; ++i)
    ASSERT_EQ((*image)[i], std::byte{0xff}) << i;
  EXPECT_EQ(to_hex(ByteView(*image).last(16)), "77c295f360d2ef7f3552500f2cb67980");
  EXPECT_LE(parsed->size + trailer, 0x2000u);
}

TEST(SignGolden, PadWithoutConfirmLeavesImageOkErasedAndHonoursErasedZero) {
  auto key = ed25519_key();
  SignOptions o = basic_options();
  o.pad = true;
  o.erased_val = std::byte{0};
  Bytes fw = firmware_with_header_room(32, "x");
  auto image = sign_image(fw, o, key);
  ASSERT_TRUE(image);
  ASSERT_EQ(image->size(), 0x1000u);
  EXPECT_EQ((*image)[0x1000 - 24], std::byte{0});
  EXPECT_EQ((*image)[0x1000 - 17], std::byte{0});
  EXPECT_EQ(to_hex(ByteView(*image).last(16)), "77c295f360d2ef7f3552500f2cb67980");
}

TEST(Sign, RamLoadAddressSetsTheFlag) {
  auto key = ed25519_key();
  SignOptions o = basic_options();
  o.load_addr = 0x20000000;
  auto image = sign_image(firmware_with_header_room(32, "ram"), o, key);
  ASSERT_TRUE(image);
  EXPECT_EQ(load_le32(ByteView(*image).subspan(4)), 0x20000000u);
  EXPECT_EQ(load_le32(ByteView(*image).subspan(16)), flag::kRamLoad);
}

TEST(Sign, AutoSecurityCounterFromVersion) {
  EXPECT_EQ(auto_security_counter(*ImageVersion::parse("1.2.3+4")), 0x01020003u);
  EXPECT_EQ(auto_security_counter(*ImageVersion::parse("255.255.65535")), 0xffffffffu);
}

TEST(Sign, RefusesInputWithoutHeaderRoom) {
  auto key = ed25519_key();
  auto image =
      sign_image(as_bytes("firmware without room for a header........"), basic_options(), key);
  ASSERT_FALSE(image);
  EXPECT_NE(image.error().message.find("--pad-header"), std::string::npos) << image.error().message;
  auto short_input = sign_image(Bytes(10), basic_options(), key);
  ASSERT_FALSE(short_input);
}

TEST(Sign, RefusesImagesLargerThanTheSlot) {
  auto key = ed25519_key();
  SignOptions o = basic_options();
  o.slot_size = 0x400;  // 32 header + 600 payload + 148 TLVs + 432 trailer > 1024
  auto image = sign_image(firmware_with_header_room(32, std::string(600, 'a')), o, key);
  ASSERT_FALSE(image);
  EXPECT_NE(image.error().message.find("exceeds the slot size 0x400"), std::string::npos)
      << image.error().message;
  o.slot_size = 0x500;  // fits: 780 + 432 = 1212 <= 1280
  EXPECT_TRUE(sign_image(firmware_with_header_room(32, std::string(600, 'a')), o, key));
}

TEST(Sign, RefusesBadHeaderAndSlotSizes) {
  auto key = ed25519_key();
  SignOptions o = basic_options();
  o.header_size = 16;
  EXPECT_FALSE(sign_image(firmware_with_header_room(32, "x"), o, key));
  o = basic_options();
  o.slot_size = 0;
  EXPECT_FALSE(sign_image(firmware_with_header_room(32, "x"), o, key));
}

}  // namespace
}  // namespace ironroot::image
