#include "ironroot/image/trailer.hpp"

#include <gtest/gtest.h>

namespace ironroot::image {
namespace {

constexpr const char* kClassicMagicHex = "77c295f360d2ef7f3552500f2cb67980";

TEST(Trailer, SizesFollowImgtool) {
  // m * 3 * write_align + 4 * max_align + align_up(16, max_align)
  EXPECT_EQ(TrailerLayout::make(1, {}, 128, false)->size(), 128u * 3 + 32 + 16);
  EXPECT_EQ(TrailerLayout::make(4, {}, 128, false)->size(), 1536u + 32 + 16);
  EXPECT_EQ(TrailerLayout::make(8, {}, 64, false)->size(), 64u * 3 * 8 + 32 + 16);
  EXPECT_EQ(TrailerLayout::make(32, {}, 128, false)->size(), 128u * 3 * 32 + 128 + 32);
  // Overwrite-only: two flag fields and the magic.
  EXPECT_EQ(TrailerLayout::make(4, {}, 128, true)->size(), 8u * 2 + 16);
}

TEST(Trailer, RejectsBadLayouts) {
  EXPECT_FALSE(TrailerLayout::make(3, {}, 128, false));
  EXPECT_FALSE(TrailerLayout::make(64, {}, 128, false));
  EXPECT_FALSE(TrailerLayout::make(1, 4, 128, false));
  EXPECT_FALSE(TrailerLayout::make(16, 8, 128, false));
  EXPECT_FALSE(TrailerLayout::make(1, {}, 0, false));
}

TEST(Trailer, ClassicMagicAndConfirmedFlagBytes) {
  auto layout = *TrailerLayout::make(4, {}, 128, false);
  Bytes t = make_trailer(layout, std::byte{0xff}, true);
  ASSERT_EQ(t.size(), layout.size());
  EXPECT_EQ(to_hex(ByteView(t).last(16)), kClassicMagicHex);
  // image_ok sits max_align before the 16-byte magic area; every other byte stays erased.
  const std::size_t image_ok = t.size() - 16 - 8;
  EXPECT_EQ(t[image_ok], std::byte{0x01});
  for (std::size_t i = 0; i < t.size() - 16; ++i) {
    if (i != image_ok) {
      ASSERT_EQ(t[i], std::byte{0xff}) << "offset " << i;
    }
  }
  auto state = read_trailer(t, layout, std::byte{0xff});
  EXPECT_EQ(state.magic, MagicState::good);
  EXPECT_EQ(state.image_ok, FlagState::set);
  EXPECT_EQ(state.copy_done, FlagState::unset);
  EXPECT_FALSE(state.swap_type);
}

TEST(Trailer, WideAlignmentUsesTheAlignedMagic) {
  auto layout = *TrailerLayout::make(32, {}, 4, false);
  Bytes t = make_trailer(layout, std::byte{0x00}, false);
  EXPECT_EQ(to_hex(ByteView(t).last(16)), "20002de15d29410b8d77679c110f1f8a");
  EXPECT_EQ(max_align_from_magic(t), 32u);
  auto state = read_trailer(t, layout, std::byte{0x00});
  EXPECT_EQ(state.magic, MagicState::good);
  EXPECT_EQ(state.image_ok, FlagState::unset);
}

TEST(Trailer, FieldOffsetsAndSwapInfo) {
  auto layout = *TrailerLayout::make(8, {}, 128, false);
  const std::uint64_t slot = 0x10000;
  EXPECT_EQ(layout.magic_offset(slot), slot - 16);
  EXPECT_EQ(layout.image_ok_offset(slot), slot - 24);
  EXPECT_EQ(layout.copy_done_offset(slot), slot - 32);
  EXPECT_EQ(layout.swap_info_offset(slot), slot - 40);
  EXPECT_EQ(layout.swap_size_offset(slot), slot - 48);
  EXPECT_EQ(layout.status_offset(slot), slot - layout.size());

  Bytes area(layout.size(), std::byte{0xff});
  area[layout.swap_info_offset(area.size())] = std::byte{0x13};  // image 1, swap type 3 (perm)
  area[layout.copy_done_offset(area.size())] = std::byte{0x42};
  auto state = read_trailer(area, layout, std::byte{0xff});
  EXPECT_EQ(state.magic, MagicState::unset);
  EXPECT_EQ(state.swap_type, 3);
  EXPECT_EQ(state.image_index, 1);
  EXPECT_EQ(swap_type_name(*state.swap_type), "perm");
  EXPECT_EQ(state.copy_done, FlagState::bad);
}

TEST(Trailer, NoMagicNoAlignment) {
  EXPECT_FALSE(max_align_from_magic(Bytes(64, std::byte{0xff})));
  EXPECT_FALSE(max_align_from_magic(Bytes(8)));
}

}  // namespace
}  // namespace ironroot::image
