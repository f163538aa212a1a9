#include "ironroot/core/bytes.hpp"

#include <gtest/gtest.h>

namespace ironroot {
namespace {

TEST(Bytes, LittleEndianRoundTrip) {
  Bytes out;
  append_le16(out, 0x6907);
  append_le32(out, 0x96f3b83d);
  ASSERT_EQ(to_hex(out), "07693db8f396");
  EXPECT_EQ(load_le16(out), 0x6907);
  EXPECT_EQ(load_le32(ByteView(out).subspan(2)), 0x96f3b83du);
}

TEST(Bytes, HexRejectsOddLengthAndNonHex) {
  EXPECT_FALSE(from_hex("abc"));
  EXPECT_FALSE(from_hex("zz"));
  auto parsed = from_hex("00FFa5");
  ASSERT_TRUE(parsed);
  EXPECT_EQ(to_hex(*parsed), "00ffa5");
}

}  // namespace
}  // namespace ironroot
