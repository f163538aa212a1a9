#include "ironroot/flash/nor_flash.hpp"

#include <gtest/gtest.h>

#include <limits>

#include "flash_fixtures.hpp"
#include "ironroot/core/file.hpp"
#include "support/temp_dir.hpp"

namespace ironroot::flash {
namespace {

using testing::all_equal;
using testing::contains;
using testing::pattern;
using testing::read_back;
using testing::slice;
using testing::stm32f4_like;

TEST(FlashGeometry, AddSectorsTilesFromZero) {
  FlashGeometry g = stm32f4_like();
  ASSERT_EQ(g.sectors.size(), 8u);
  EXPECT_EQ(g.sectors[0], (Sector{0, 256}));
  EXPECT_EQ(g.sectors[4], (Sector{1024, 1024}));
  EXPECT_EQ(g.sectors[5], (Sector{2048, 2048}));
  EXPECT_EQ(g.sectors[7], (Sector{6144, 2048}));
  EXPECT_EQ(g.size(), 8192u);
  EXPECT_TRUE(g.validate());
}

TEST(FlashGeometry, ValidateNamesWhatIsWrong) {
  auto error = [](const FlashGeometry& g) {
    auto r = g.validate();
    return r ? std::string() : r.error().message;
  };
  FlashGeometry gap = stm32f4_like();
  gap.sectors[2].offset += 4;
  EXPECT_TRUE(contains(error(gap), "sector 2 starts at 0x204 but should start at 0x200"))
      << error(gap);

  FlashGeometry overlap = stm32f4_like();
  overlap.sectors[5].offset -= 256;
  EXPECT_TRUE(contains(error(overlap), "sector 5")) << error(overlap);

  FlashGeometry odd_size = stm32f4_like(8);
  odd_size.sectors.push_back(Sector{8192, 12});
  EXPECT_TRUE(contains(error(odd_size), "not a positive multiple of the write alignment (8"))
      << error(odd_size);

  FlashGeometry empty_sector = stm32f4_like();
  empty_sector.sectors.push_back(Sector{8192, 0});
  EXPECT_FALSE(empty_sector.validate());

  FlashGeometry align3 = stm32f4_like(3);
  EXPECT_TRUE(contains(error(align3), "write alignment 3 is not supported")) << error(align3);
  EXPECT_FALSE(stm32f4_like(64).validate());
  for (std::uint32_t align : {1u, 2u, 4u, 8u, 16u, 32u})
    EXPECT_TRUE(stm32f4_like(align).validate());

  EXPECT_TRUE(contains(error(stm32f4_like(4, std::byte{0x5a})), "erased value 5a"));
  EXPECT_TRUE(contains(error(FlashGeometry{}), "sector map is empty"));
  EXPECT_FALSE(NorFlash::in_memory(align3));
}

TEST(NorFlash, InitialContentsMustMatchTheGeometry) {
  Bytes image = pattern(8192);
  auto flash = NorFlash::in_memory(stm32f4_like(), image);
  ASSERT_TRUE(flash) << flash.error().message;
  EXPECT_EQ((*flash)->snapshot(), image);
  // Units holding data count as programmed.
  auto rewrite = (*flash)->write(0, pattern(4));
  ASSERT_FALSE(rewrite);
  EXPECT_EQ(rewrite.error().fault, FlashFault::not_erased);

  auto wrong = NorFlash::in_memory(stm32f4_like(), pattern(100));
  ASSERT_FALSE(wrong);
  EXPECT_TRUE(contains(wrong.error().message, "100 bytes")) << wrong.error().message;
}

// Every rule, for each write alignment and both erased values.
struct Shape {
  std::uint32_t align;
  std::byte erased;
};

void PrintTo(const Shape& shape, std::ostream* out) {
  *out << "write_align " << shape.align << ", erased 0x" << std::hex
       << std::to_integer<unsigned>(shape.erased) << std::dec;
}

class NorFlashRules : public ::testing::TestWithParam<Shape> {
 protected:
  std::uint32_t align() const { return GetParam().align; }
  std::byte erased() const { return GetParam().erased; }
  std::shared_ptr<NorFlash> make() {
    auto flash = NorFlash::in_memory(stm32f4_like(align(), erased()));
    if (!flash) throw std::runtime_error(flash.error().message);
    return *flash;
  }
};

TEST_P(NorFlashRules, StartsErasedAndReadsBackWhatWasWritten) {
  auto flash = make();
  EXPECT_EQ(flash->geometry().write_align, align());
  EXPECT_TRUE(all_equal(flash->snapshot(), erased()));
  Bytes data = pattern(3 * align());
  ASSERT_TRUE(flash->write(256 + align(), data));
  EXPECT_EQ(read_back(*flash, 256 + align(), data.size()), data);
  // Neighbours untouched.
  EXPECT_TRUE(all_equal(read_back(*flash, 256, align()), erased()));
  EXPECT_TRUE(all_equal(read_back(*flash, 256 + 4 * align(), align()), erased()));
}

TEST_P(NorFlashRules, ProgrammingMovesBitsAwayFromTheErasedValueOnly) {
  auto flash = make();
  // Every byte value, including the erased value itself.
  Bytes data(256);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::byte>(i);
  ASSERT_TRUE(flash->write(0, data));
  EXPECT_EQ(read_back(*flash, 0, data.size()), data);
  ASSERT_TRUE(flash->erase(0, 256));
  EXPECT_TRUE(all_equal(read_back(*flash, 0, 256), erased()));
}

TEST_P(NorFlashRules, MisalignedWritesAreRefused) {
  auto flash = make();
  if (align() == 1) {
    // Byte-writable flash takes any offset and length.
    ASSERT_TRUE(flash->write(3, pattern(5)));
    EXPECT_EQ(read_back(*flash, 3, 5), pattern(5));
    return;
  }
  auto offset = flash->write(align() / 2, pattern(align()));
  ASSERT_FALSE(offset);
  EXPECT_EQ(offset.error().fault, FlashFault::misaligned);
  EXPECT_TRUE(contains(offset.error().message,
                       "the offset is not a multiple of the write "
                       "alignment (" +
                           std::to_string(align()) + " bytes)"))
      << offset.error().message;
  auto length = flash->write(0, pattern(align() + 1));
  ASSERT_FALSE(length);
  EXPECT_EQ(length.error().fault, FlashFault::misaligned);
  EXPECT_TRUE(contains(length.error().message,
                       "write of " + std::to_string(align() + 1) + " bytes at 0x0: the length"))
      << length.error().message;
  EXPECT_TRUE(all_equal(flash->snapshot(), erased()));
  EXPECT_EQ(flash->operations(), 0u);
}

TEST_P(NorFlashRules, OutOfBoundsIsRefusedWithoutOverflow) {
  auto flash = make();
  auto past = flash->write(8192 - align(), pattern(2 * align()));
  ASSERT_FALSE(past);
  EXPECT_EQ(past.error().fault, FlashFault::out_of_bounds);
  EXPECT_TRUE(contains(past.error().message, "goes past the end of the flash (0x2000 bytes)"))
      << past.error().message;
  const std::uint64_t huge = std::numeric_limits<std::uint64_t>::max() - (align() - 1);
  EXPECT_EQ(flash->write(huge, pattern(align() * 2)).error().fault, FlashFault::out_of_bounds);
  Bytes out(16);
  EXPECT_EQ(flash->read(huge, out).error().fault, FlashFault::out_of_bounds);
  EXPECT_EQ(flash->read(8190, out).error().fault, FlashFault::out_of_bounds);
  EXPECT_EQ(flash->erase(6144, 4096).error().fault, FlashFault::out_of_bounds);
  EXPECT_EQ(flash->erase(std::numeric_limits<std::uint64_t>::max(), 2).error().fault,
            FlashFault::out_of_bounds);
  // The last bytes are reachable.
  EXPECT_TRUE(flash->write(8192 - align(), pattern(align())));
  EXPECT_TRUE(flash->read(8192 - 16, out));
}

TEST_P(NorFlashRules, AWriteUnitIsProgrammedOncePerErase) {
  auto flash = make();
  ASSERT_TRUE(flash->write(512, pattern(align())));
  // Again, even with the same data, even with bits that would only move further.
  auto again = flash->write(512, pattern(align()));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().fault, FlashFault::not_erased);
  EXPECT_TRUE(contains(again.error().message, "the write unit at 0x200")) << again.error().message;
  EXPECT_TRUE(contains(again.error().message, "erase sector [0x200, 0x300) first"))
      << again.error().message;
  // A longer write that only overlaps the programmed unit at its end.
  auto overlapping = flash->write(512 - align(), pattern(2 * align()));
  ASSERT_FALSE(overlapping);
  EXPECT_EQ(overlapping.error().fault, FlashFault::not_erased);
  // Nothing of the refused write landed.
  EXPECT_TRUE(all_equal(read_back(*flash, 512 - align(), align()), erased()));
  // Programming the erased value still uses up the unit, as in MCUboot's simulator.
  ASSERT_TRUE(flash->write(768, Bytes(align(), erased())));
  EXPECT_EQ(flash->write(768, pattern(align())).error().fault, FlashFault::not_erased);

  ASSERT_TRUE(flash->erase(512, 256));
  ASSERT_TRUE(flash->erase(768, 256));
  EXPECT_TRUE(flash->write(512, pattern(align(), 1)));
  EXPECT_TRUE(flash->write(768, pattern(align(), 2)));
  EXPECT_EQ(read_back(*flash, 512, align()), pattern(align(), 1));
}

TEST_P(NorFlashRules, AWriteMayCrossSectors) {
  auto flash = make();
  // From the last unit of sector 3 (256 bytes at 768) over sector 4 (1024) into sector 5.
  Bytes data = pattern(align() + 1024 + align());
  ASSERT_TRUE(flash->write(1024 - align(), data));
  EXPECT_EQ(read_back(*flash, 1024 - align(), data.size()), data);
  // Erasing the middle sector leaves the ends programmed.
  ASSERT_TRUE(flash->erase(1024, 1024));
  EXPECT_TRUE(all_equal(read_back(*flash, 1024, 1024), erased()));
  EXPECT_EQ(read_back(*flash, 1024 - align(), align()), slice(data, 0, align()));
  EXPECT_EQ(flash->write(2048, pattern(align())).error().fault, FlashFault::not_erased);
  EXPECT_TRUE(flash->write(1024, pattern(align())));
}

TEST_P(NorFlashRules, ErasesCoverWholeSectorsOnly) {
  auto flash = make();
  ASSERT_TRUE(flash->write(0, pattern(8192)));
  // Across sectors of three sizes: 256 (sector 3), 1024 (sector 4), 2048 (sector 5).
  ASSERT_TRUE(flash->erase(768, 256 + 1024 + 2048));
  EXPECT_TRUE(all_equal(read_back(*flash, 768, 3328), erased()));
  EXPECT_EQ(read_back(*flash, 0, 768), slice(pattern(8192), 0, 768));
  EXPECT_EQ(read_back(*flash, 4096, 4096), slice(pattern(8192), 4096));

  auto start = flash->erase(4096 + 512, 2048 - 512);
  ASSERT_FALSE(start);
  EXPECT_EQ(start.error().fault, FlashFault::misaligned);
  EXPECT_TRUE(contains(start.error().message,
                       "erase of 0x600 bytes at 0x1200: its start 0x1200 is inside sector "
                       "[0x1000, 0x1800)"))
      << start.error().message;
  auto end = flash->erase(4096, 1024);
  ASSERT_FALSE(end);
  EXPECT_EQ(end.error().fault, FlashFault::misaligned);
  EXPECT_TRUE(contains(end.error().message, "its end 0x1400 is inside sector [0x1000, 0x1800)"))
      << end.error().message;
  // A 256-byte erase is a whole sector at the start, but not in the 2 KiB sectors.
  EXPECT_TRUE(flash->erase(0, 256));
  EXPECT_EQ(flash->erase(6144, 256).error().fault, FlashFault::misaligned);
  EXPECT_EQ(read_back(*flash, 4096, 4096), slice(pattern(8192), 4096));
  // The whole device at once.
  EXPECT_TRUE(flash->erase(0, 8192));
  EXPECT_TRUE(all_equal(flash->snapshot(), erased()));
}

TEST_P(NorFlashRules, CountersCountOperationsAndBytes) {
  auto flash = make();
  ASSERT_TRUE(flash->write(0, pattern(2 * align())));
  ASSERT_TRUE(flash->write(1024, pattern(4 * align())));
  ASSERT_TRUE(flash->erase(0, 2048));                  // several sectors, one operation
  EXPECT_FALSE(flash->write(8192, pattern(align())));  // refused: not counted
  EXPECT_FALSE(flash->erase(100, 100));
  EXPECT_TRUE(flash->write(0, {}));  // nothing to do: not counted
  EXPECT_TRUE(flash->erase(256, 0));
  Bytes out(64);
  ASSERT_TRUE(flash->read(0, out));  // reads are not operations
  EXPECT_EQ(flash->write_count(), 2u);
  EXPECT_EQ(flash->erase_count(), 1u);
  EXPECT_EQ(flash->operations(), 3u);
  EXPECT_EQ(flash->bytes_written(), 6u * align());
}

INSTANTIATE_TEST_SUITE_P(AlignmentsAndErasedValues, NorFlashRules,
                         ::testing::Values(Shape{1, std::byte{0xff}}, Shape{4, std::byte{0xff}},
                                           Shape{8, std::byte{0xff}}, Shape{1, std::byte{0x00}},
                                           Shape{4, std::byte{0x00}}, Shape{8, std::byte{0x00}}),
                         [](const ::testing::TestParamInfo<Shape>& param) {
                           return "align" + std::to_string(param.param.align) + "_erased" +
                                  (param.param.erased == std::byte{0xff} ? "ff" : "00");
                         });

class NorFlashFile : public ::testing::Test {
 protected:
  ironroot::testing::TempDir temp_;
  std::filesystem::path path_ = temp_ / "flash.bin";
};

TEST_F(NorFlashFile, CreateMakesAnErasedFileOnceOnly) {
  for (std::byte erased : {std::byte{0xff}, std::byte{0x00}}) {
    std::filesystem::remove(path_);
    auto flash = NorFlash::create_file(path_, stm32f4_like(4, erased));
    ASSERT_TRUE(flash) << flash.error().message;
    auto file = read_file(path_, 1 << 20);
    ASSERT_TRUE(file) << file.error().message;
    EXPECT_EQ(file->size(), 8192u);
    EXPECT_TRUE(all_equal(*file, erased));
  }
  auto again = NorFlash::create_file(path_, stm32f4_like());
  ASSERT_FALSE(again);
  EXPECT_TRUE(contains(again.error().message, "already exists")) << again.error().message;
  EXPECT_FALSE(NorFlash::create_file(temp_ / "missing" / "flash.bin", stm32f4_like()));
}

TEST_F(NorFlashFile, EveryOperationReachesTheFileBeforeItReturns) {
  auto flash = *NorFlash::create_file(path_, stm32f4_like());
  ASSERT_TRUE(flash->write(1020, pattern(8)));
  // Read through another descriptor while the flash is still open: a process killed now would
  // leave exactly this.
  EXPECT_EQ(*read_file(path_, 1 << 20), flash->snapshot());
  EXPECT_EQ(slice(*read_file(path_, 1 << 20), 1020, 8), pattern(8));
  ASSERT_TRUE(flash->erase(1024, 1024));
  EXPECT_EQ(*read_file(path_, 1 << 20), flash->snapshot());
}

TEST_F(NorFlashFile, ContentsAndProgrammedUnitsSurviveAReopen) {
  Bytes expected;
  {
    auto flash = *NorFlash::create_file(path_, stm32f4_like(8, std::byte{0x00}));
    ASSERT_TRUE(flash->write(0, pattern(2048)));
    ASSERT_TRUE(flash->erase(256, 256));
    ASSERT_TRUE(flash->write(4096, pattern(64, 3)));
    expected = flash->snapshot();
  }
  auto reopened = NorFlash::open_file(path_, stm32f4_like(8, std::byte{0x00}));
  ASSERT_TRUE(reopened) << reopened.error().message;
  auto flash = *reopened;
  EXPECT_EQ(flash->snapshot(), expected);
  EXPECT_EQ(flash->operations(), 0u);  // counters belong to the object, not to the file
  // What holds data is programmed; the erased sector is writable.
  EXPECT_EQ(flash->write(0, pattern(8)).error().fault, FlashFault::not_erased);
  EXPECT_EQ(flash->write(4096 + 56, pattern(8)).error().fault, FlashFault::not_erased);
  EXPECT_TRUE(flash->write(256, pattern(8)));
  EXPECT_TRUE(flash->write(4096 + 64, pattern(8)));
}

TEST_F(NorFlashFile, OpenChecksTheSizeAgainstTheGeometry) {
  { ASSERT_TRUE(NorFlash::create_file(path_, stm32f4_like())); }
  FlashGeometry bigger = stm32f4_like();
  bigger.add_sectors(1, 2048);
  auto wrong = NorFlash::open_file(path_, bigger);
  ASSERT_FALSE(wrong);
  EXPECT_TRUE(contains(wrong.error().message, "is 8192 bytes, but the geometry describes 10240"))
      << wrong.error().message;
  EXPECT_FALSE(NorFlash::open_file(temp_ / "absent.bin", stm32f4_like()));
  EXPECT_FALSE(NorFlash::open_file(temp_.path(), stm32f4_like()));
  EXPECT_TRUE(NorFlash::open_file(path_, stm32f4_like()));
}

TEST_F(NorFlashFile, ErrorsNameTheFile) {
  auto flash = *NorFlash::create_file(path_, stm32f4_like());
  auto bad = flash->write(2, pattern(4));
  ASSERT_FALSE(bad);
  EXPECT_TRUE(contains(bad.error().message, path_.string() + ": write of 4 bytes at 0x2"))
      << bad.error().message;
}

}  // namespace
}  // namespace ironroot::flash
