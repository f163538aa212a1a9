#include "ironroot/flash/flash_area.hpp"

#include <gtest/gtest.h>

#include "flash_fixtures.hpp"
#include "ironroot/flash/nor_flash.hpp"

namespace ironroot::flash {
namespace {

using testing::all_equal;
using testing::contains;
using testing::pattern;
using testing::read_back;
using testing::slice;
using testing::stm32f4_like;

std::unique_ptr<FlashArea> area_of(NorFlash& flash, std::uint64_t offset, std::uint64_t size) {
  auto area = flash.area(offset, size);
  if (!area) throw std::runtime_error(area.error().message);
  return std::move(*area);
}

TEST(FlashArea, HasAnAreaRelativeSectorMap) {
  auto flash = *NorFlash::in_memory(stm32f4_like(8, std::byte{0x00}));
  // Sectors 3 (256), 4 (1024) and 5 (2048).
  auto area = area_of(*flash, 768, 3328);
  EXPECT_EQ(area->size(), 3328u);
  EXPECT_EQ(area->write_align(), 8u);
  EXPECT_EQ(area->erased_value(), std::byte{0x00});
  ASSERT_EQ(area->sectors().size(), 3u);
  EXPECT_EQ(area->sectors()[0], (Sector{0, 256}));
  EXPECT_EQ(area->sectors()[1], (Sector{256, 1024}));
  EXPECT_EQ(area->sectors()[2], (Sector{1280, 2048}));

  EXPECT_EQ(sector_at(*area, 0), (Sector{0, 256}));
  EXPECT_EQ(sector_at(*area, 255), (Sector{0, 256}));
  EXPECT_EQ(sector_at(*area, 256), (Sector{256, 1024}));
  EXPECT_EQ(sector_at(*area, 1279), (Sector{256, 1024}));
  EXPECT_EQ(sector_at(*area, 3327), (Sector{1280, 2048}));
}

TEST(FlashArea, OperationsLandAtTheAreasPlaceOnTheDevice) {
  auto flash = *NorFlash::in_memory(stm32f4_like());
  auto area = area_of(*flash, 1024, 1024 + 2048);
  ASSERT_TRUE(area->write(1020, pattern(8)));  // crosses the area's first sector boundary
  EXPECT_EQ(read_back(*flash, 2044, 8), pattern(8));
  Bytes out(8);
  ASSERT_TRUE(area->read(1020, out));
  EXPECT_EQ(out, pattern(8));
  ASSERT_TRUE(area->erase(1024, 2048));
  EXPECT_TRUE(all_equal(read_back(*flash, 2048, 2048), std::byte{0xff}));
  EXPECT_EQ(read_back(*flash, 2044, 4), slice(pattern(8), 0, 4));
  EXPECT_EQ(flash->operations(), 2u);
}

TEST(FlashArea, EnforcesItsOwnBoundsAndSectors) {
  auto flash = *NorFlash::in_memory(stm32f4_like());
  auto area = area_of(*flash, 2048, 2048);  // sector 5 only
  auto past = area->write(2044, pattern(8));
  ASSERT_FALSE(past);
  EXPECT_EQ(past.error().fault, FlashFault::out_of_bounds);
  EXPECT_TRUE(contains(past.error().message,
                       "area [0x800, 0x1000): write of 8 bytes at 0x7fc (device 0xffc) goes past "
                       "the end of the area (0x800 bytes)"))
      << past.error().message;
  Bytes out(8);
  EXPECT_EQ(area->read(2044, out).error().fault, FlashFault::out_of_bounds);
  EXPECT_EQ(area->erase(0, 4096).error().fault, FlashFault::out_of_bounds);
  auto half = area->erase(0, 1024);
  ASSERT_FALSE(half);
  EXPECT_EQ(half.error().fault, FlashFault::misaligned);
  EXPECT_TRUE(contains(half.error().message,
                       "its end 0x400 (device 0xc00) is inside sector "
                       "[0x0, 0x800)"))
      << half.error().message;
  EXPECT_EQ(area->write(2, pattern(4)).error().fault, FlashFault::misaligned);
  ASSERT_TRUE(area->write(0, pattern(4)));
  auto again = area->write(0, pattern(4));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().fault, FlashFault::not_erased);
  EXPECT_TRUE(contains(again.error().message, "the write unit at 0x0 (device 0x800)"))
      << again.error().message;
  // Nothing outside the area changed.
  EXPECT_TRUE(all_equal(read_back(*flash, 0, 2048), std::byte{0xff}));
  EXPECT_TRUE(all_equal(read_back(*flash, 2052, 6140), std::byte{0xff}));
}

TEST(FlashArea, AnAreaAtOffsetZeroIsStillAnArea) {
  auto flash = *NorFlash::in_memory(stm32f4_like());
  auto area = area_of(*flash, 0, 1024);
  auto past = area->write(1024, pattern(4));
  ASSERT_FALSE(past);
  EXPECT_TRUE(contains(past.error().message, "end of the area (0x400 bytes)"))
      << past.error().message;
}

TEST(FlashArea, MustStartAndEndOnSectorBoundaries) {
  auto flash = *NorFlash::in_memory(stm32f4_like());
  auto inside = flash->area(1024 + 512, 512);
  ASSERT_FALSE(inside);
  EXPECT_TRUE(contains(inside.error().message, "its start is inside sector [0x400, 0x800)"))
      << inside.error().message;
  auto end = flash->area(0, 1500);
  ASSERT_FALSE(end);
  EXPECT_TRUE(contains(end.error().message, "its end 0x5dc is inside sector [0x400, 0x800)"))
      << end.error().message;
  EXPECT_FALSE(flash->area(6144, 4096));
  EXPECT_FALSE(flash->area(8192, 0));
  EXPECT_FALSE(flash->area(0, 0));
  EXPECT_TRUE(flash->area(0, 8192));
  EXPECT_TRUE(flash->area(6144, 2048));
}

TEST(FlashArea, KeepsTheFlashAlive) {
  std::unique_ptr<FlashArea> area;
  {
    auto flash = *NorFlash::in_memory(stm32f4_like());
    area = area_of(*flash, 4096, 2048);
  }
  ASSERT_TRUE(area->write(0, pattern(16)));
  Bytes out(16);
  ASSERT_TRUE(area->read(0, out));
  EXPECT_EQ(out, pattern(16));
}

TEST(FlashArea, FaultNamesAreStable) {
  EXPECT_EQ(to_string(FlashFault::out_of_bounds), "out of bounds");
  EXPECT_EQ(to_string(FlashFault::misaligned), "misaligned");
  EXPECT_EQ(to_string(FlashFault::not_erased), "not erased");
  EXPECT_EQ(to_string(FlashFault::power_cut), "power cut");
  EXPECT_EQ(to_string(FlashFault::io), "I/O error");
}

}  // namespace
}  // namespace ironroot::flash
