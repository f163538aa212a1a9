#include "ironroot/image/format.hpp"

#include <gtest/gtest.h>

namespace ironroot::image {
namespace {

TEST(ImageVersion, ParsesImgtoolForms) {
  auto full = ImageVersion::parse("1.2.3+4");
  ASSERT_TRUE(full);
  EXPECT_EQ(full->major, 1);
  EXPECT_EQ(full->minor, 2);
  EXPECT_EQ(full->revision, 3);
  EXPECT_EQ(full->build, 4u);
  EXPECT_EQ(full->to_string(), "1.2.3+4");
  EXPECT_EQ(ImageVersion::parse("7")->to_string(), "7.0.0+0");
  EXPECT_EQ(ImageVersion::parse("1.2")->to_string(), "1.2.0+0");
  EXPECT_EQ(ImageVersion::parse("255.255.65535+4294967295")->to_string(),
            "255.255.65535+4294967295");
}

TEST(ImageVersion, RejectsMalformedAndOutOfRange) {
  for (const char* bad :
       {"", "1.", ".1", "1..2", "1.2.3.4", "01.2.3", "1.2+3", "a.b.c", "1.2.3+", "256.0.0",
        "0.256.0", "0.0.65536", "0.0.0+4294967296", "-1.0.0", "1.2.3+4+5", " 1.2.3"}) {
    EXPECT_FALSE(ImageVersion::parse(bad)) << "accepted '" << bad << "'";
  }
  auto err = ImageVersion::parse("256.0.0");
  EXPECT_NE(err.error().message.find("major"), std::string::npos) << err.error().message;
}

TEST(ImageVersion, OrdersFieldByField) {
  EXPECT_LT(*ImageVersion::parse("1.2.3+9"), *ImageVersion::parse("1.2.4"));
  EXPECT_LT(*ImageVersion::parse("1.2.3"), *ImageVersion::parse("1.2.3+1"));
  EXPECT_LT(*ImageVersion::parse("1.255.65535"), *ImageVersion::parse("2.0.0"));
}

TEST(ImageHeader, EncodesTheDocumentedLayout) {
  ImageHeader h;
  h.load_addr = 0x20000000;
  h.hdr_size = 0x200;
  h.protect_tlv_size = 0x10;
  h.img_size = 0x1234;
  h.flags = flag::kRamLoad;
  h.version = *ImageVersion::parse("1.2.772+305419896");
  auto bytes = h.encode();
  EXPECT_EQ(to_hex(bytes),
            "3db8f396"  // magic 0x96f3b83d
            "00000020"  // load_addr
            "0002"      // hdr_size
            "1000"      // protect_tlv_size
            "34120000"  // img_size
            "20000000"  // flags
            "0102"
            "0403"
            "78563412"    // version 1.2.772+0x12345678
            "00000000");  // pad
  ImageHeader back = ImageHeader::decode(bytes);
  EXPECT_EQ(back.encode(), bytes);
  EXPECT_EQ(back.version, h.version);
}

TEST(Dependency, EncodesImageIdPaddingAndVersion) {
  Dependency d{3, *ImageVersion::parse("1.2.3+4")};
  EXPECT_EQ(to_hex(d.encode()),
            "03000000"
            "0102"
            "0300"
            "04000000");
  EXPECT_EQ(Dependency::decode(d.encode()), d);
}

TEST(TlvTypes, NamesAndProtection) {
  EXPECT_EQ(tlv_type_name(tlv::kSha256), "SHA256");
  EXPECT_EQ(tlv_type_name(tlv::kEcdsaSig), "ECDSA_SIG");
  EXPECT_EQ(tlv_type_name(0x00a0), "");
  EXPECT_TRUE(is_protected_only_tlv(tlv::kSecCnt));
  EXPECT_TRUE(is_protected_only_tlv(tlv::kDependency));
  EXPECT_FALSE(is_protected_only_tlv(tlv::kKeyHash));
}

}  // namespace
}  // namespace ironroot::image
