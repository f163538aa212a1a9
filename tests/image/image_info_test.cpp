#include "ironroot/image/image_info.hpp"

#include <gtest/gtest.h>

#include "ironroot/image/sign.hpp"
#include "test_keys.hpp"

namespace ironroot::image {
namespace {

TEST(ImageInfo, DescribesHeaderTlvsHashAndTrailer) {
  auto key = ironroot::testing::ed25519_key();
  SignOptions o;
  o.version = *ImageVersion::parse("3.1.4+15");
  o.slot_size = 0x2000;
  o.security_counter = 9;
  o.dependencies = {{1, *ImageVersion::parse("1.0.0")}};
  o.confirm = true;
  Bytes fw(32, std::byte{0});
  append(fw, as_bytes("info"));
  Bytes img = *sign_image(fw, o, key);
  auto parsed = parse_image(img);
  ASSERT_TRUE(parsed);
  auto info = describe_image(*parsed, img);
  EXPECT_EQ(info["header"]["version"], "3.1.4+15");
  EXPECT_EQ(info["header"]["magic"], "0x96f3b83d");
  EXPECT_EQ(info["security_counter"], 9);
  ASSERT_EQ(info["dependencies"].size(), 1u);
  EXPECT_EQ(info["dependencies"][0]["min_version"], "1.0.0+0");
  EXPECT_EQ(info["hash"]["status"], "ok");
  EXPECT_EQ(info["tlvs"][1]["name"], "KEYHASH");
  EXPECT_EQ(info["tlvs"][1]["value"], to_hex(key.public_key().key_hash()));
  EXPECT_EQ(info["trailer"]["magic"], "good");
  EXPECT_EQ(info["trailer"]["image_ok"], "set");
  std::string text = format_image_info(info);
  EXPECT_NE(text.find("version:          3.1.4+15"), std::string::npos) << text;
  EXPECT_NE(text.find("SEC_CNT (0x0050, 4 bytes): 9 (0x00000009)"), std::string::npos) << text;
  EXPECT_NE(text.find("trailer: magic good, image_ok set"), std::string::npos) << text;

  img[40] ^= std::byte{1};
  auto tampered = describe_image(*parse_image(img), img);
  EXPECT_EQ(tampered["hash"]["status"], "hash_mismatch");
}

TEST(ImageInfo, UnpaddedImageHasNoTrailer) {
  auto key = ironroot::testing::ed25519_key();
  SignOptions o;
  o.slot_size = 0x2000;
  Bytes fw(40, std::byte{0});
  Bytes img = *sign_image(fw, o, key);
  auto info = describe_image(*parse_image(img), img);
  EXPECT_TRUE(info["trailer"].is_null());
  EXPECT_TRUE(info["security_counter"].is_null());
}

}  // namespace
}  // namespace ironroot::image
