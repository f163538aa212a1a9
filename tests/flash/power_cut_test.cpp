#include <gtest/gtest.h>

#include "flash_fixtures.hpp"
#include "ironroot/core/file.hpp"
#include "ironroot/flash/nor_flash.hpp"
#include "support/temp_dir.hpp"

namespace ironroot::flash {
namespace {

using testing::all_equal;
using testing::contains;
using testing::pattern;
using testing::read_back;
using testing::slice;
using testing::stm32f4_like;

// Three writes and an erase: operations 1 to 4.
void run_sequence(NorFlash& flash, std::vector<FlashResult<void>>& results) {
  results.push_back(flash.write(0, pattern(64, 1)));
  results.push_back(flash.write(1024, pattern(64, 2)));
  results.push_back(flash.erase(0, 256));
  results.push_back(flash.write(2048, pattern(64, 3)));
}

TEST(NorFlashPowerCut, CutBeforeEachOperationStopsThereAndLater) {
  for (std::uint64_t n = 1; n <= 4; ++n) {
    SCOPED_TRACE("cut before operation " + std::to_string(n));
    auto flash = *NorFlash::in_memory(stm32f4_like());
    std::vector<FlashResult<void>> results;
    // `partial` runs only the operations before n.
    auto partial = *NorFlash::in_memory(stm32f4_like());
    for (std::uint64_t i = 1; i < n; ++i) {
      switch (i) {
        case 1:
          ASSERT_TRUE(partial->write(0, pattern(64, 1)));
          break;
        case 2:
          ASSERT_TRUE(partial->write(1024, pattern(64, 2)));
          break;
        case 3:
          ASSERT_TRUE(partial->erase(0, 256));
          break;
      }
    }

    flash->arm(PowerCut{n});
    run_sequence(*flash, results);
    for (std::uint64_t i = 1; i <= 4; ++i) {
      if (i < n) {
        EXPECT_TRUE(results[i - 1]) << "operation " << i;
      } else {
        ASSERT_FALSE(results[i - 1]) << "operation " << i;
        EXPECT_EQ(results[i - 1].error().fault, FlashFault::power_cut);
      }
    }
    EXPECT_TRUE(contains(results[n - 1].error().message,
                         "the power failed before operation " + std::to_string(n)))
        << results[n - 1].error().message;
    if (n < 4) {
      EXPECT_TRUE(contains(results[n].error().message, "the power has been off"))
          << results[n].error().message;
    }
    EXPECT_TRUE(flash->power_lost());
    EXPECT_EQ(flash->snapshot(), partial->snapshot());
    EXPECT_EQ(flash->operations(), n - 1);
    // Reads still work while the power is off.
    Bytes out(64);
    EXPECT_TRUE(flash->read(0, out));
  }
}

TEST(NorFlashPowerCut, RestorePowerResumesNumberingWhereItStopped) {
  auto flash = *NorFlash::in_memory(stm32f4_like());
  ASSERT_TRUE(flash->write(0, pattern(8)));
  flash->arm(PowerCut{2});
  EXPECT_EQ(flash->erase(0, 256).error().fault, FlashFault::power_cut);
  EXPECT_EQ(flash->write(512, pattern(8)).error().fault, FlashFault::power_cut);
  EXPECT_EQ(flash->operations(), 1u);
  flash->restore_power();
  EXPECT_FALSE(flash->power_lost());
  // The interrupted erase did not happen; the cut is disarmed, so operation 2 now succeeds.
  EXPECT_EQ(read_back(*flash, 0, 8), pattern(8));
  ASSERT_TRUE(flash->erase(0, 256));
  EXPECT_EQ(flash->operations(), 2u);
  EXPECT_TRUE(all_equal(read_back(*flash, 0, 256), std::byte{0xff}));
  // Counting continues: arm relative to what has been done.
  flash->arm(PowerCut{flash->operations() + 2});
  EXPECT_TRUE(flash->write(0, pattern(8)));
  EXPECT_EQ(flash->write(8, pattern(8)).error().fault, FlashFault::power_cut);
  EXPECT_EQ(flash->write_count(), 2u);
  EXPECT_EQ(flash->erase_count(), 1u);
  EXPECT_EQ(flash->bytes_written(), 16u);
}

TEST(NorFlashPowerCut, DisarmedOrPassedCutsNeverFire) {
  auto flash = *NorFlash::in_memory(stm32f4_like());
  flash->arm(PowerCut{3});
  flash->arm(PowerCut{0});
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(flash->write(static_cast<std::uint64_t>(i) * 4, pattern(4)));
  flash->arm(PowerCut{2});  // already done
  EXPECT_TRUE(flash->erase(0, 256));
  EXPECT_FALSE(flash->power_lost());
}

TEST(NorFlashPowerCut, RefusedOperationsTakeNoNumber) {
  auto flash = *NorFlash::in_memory(stm32f4_like());
  flash->arm(PowerCut{1});
  EXPECT_EQ(flash->write(2, pattern(4)).error().fault, FlashFault::misaligned);
  EXPECT_EQ(flash->erase(0, 100).error().fault, FlashFault::misaligned);
  EXPECT_EQ(flash->write(8192, pattern(4)).error().fault, FlashFault::out_of_bounds);
  EXPECT_TRUE(flash->write(0, {}));
  EXPECT_FALSE(flash->power_lost());
  EXPECT_EQ(flash->write(0, pattern(4)).error().fault, FlashFault::power_cut);
}

// Bits of every byte moved only from the erased value toward the target.
bool only_toward(ByteView now, ByteView target, std::byte erased) {
  for (std::size_t i = 0; i < now.size(); ++i) {
    std::byte moved = now[i] ^ erased;
    std::byte wanted = target[i] ^ erased;
    if ((moved & ~wanted) != std::byte{0}) return false;
  }
  return true;
}

class TornWrite : public ::testing::TestWithParam<std::byte> {};

TEST_P(TornWrite, ProgramsPartOfTheFirstUnitTowardTheData) {
  const std::byte erased = GetParam();
  const std::byte target = erased ^ std::byte{0xff};  // every bit must move
  const Bytes data(32, target);
  std::vector<Bytes> outcomes;
  for (std::uint64_t seed : {1u, 2u, 3u, 1u}) {
    auto flash = *NorFlash::in_memory(stm32f4_like(8, erased));
    ASSERT_TRUE(flash->write(0, pattern(8)));
    flash->arm(PowerCut{2, true, seed});
    auto cut = flash->write(256, data);
    ASSERT_FALSE(cut);
    EXPECT_EQ(cut.error().fault, FlashFault::power_cut);
    EXPECT_TRUE(contains(cut.error().message, "partly programmed")) << cut.error().message;
    Bytes unit = read_back(*flash, 256, 8);
    EXPECT_TRUE(only_toward(unit, slice(data, 0, 8), erased));
    EXPECT_NE(unit, slice(data, 0, 8));  // a random half of 64 bits: never all of them here
    EXPECT_FALSE(all_equal(unit, erased));
    // The rest of the write and of the flash is untouched.
    EXPECT_TRUE(all_equal(read_back(*flash, 264, 8192 - 264), erased));
    EXPECT_EQ(read_back(*flash, 0, 8), pattern(8));
    EXPECT_EQ(flash->operations(), 1u);
    EXPECT_EQ(flash->bytes_written(), 8u);
    // The torn unit must be erased before it is written again.
    flash->restore_power();
    EXPECT_EQ(flash->write(256, data).error().fault, FlashFault::not_erased);
    EXPECT_TRUE(flash->write(264, data));
    outcomes.push_back(unit);
  }
  EXPECT_EQ(outcomes[0], outcomes[3]);  // the same seed tears the same way
  EXPECT_TRUE(outcomes[0] != outcomes[1] || outcomes[0] != outcomes[2]);
}

TEST_P(TornWrite, MovesNoBitTheDataDoesNotMove) {
  const std::byte erased = GetParam();
  auto flash = *NorFlash::in_memory(stm32f4_like(4, erased));
  Bytes data = {std::byte{0x0f}, std::byte{0xf0}, std::byte{0x3c}, std::byte{0xa5}};
  for (std::uint64_t seed = 1; seed <= 16; ++seed) {
    flash->restore_power();
    ASSERT_TRUE(flash->erase(0, 256));
    flash->arm(PowerCut{flash->operations() + 1, true, seed});
    ASSERT_EQ(flash->write(0, data).error().fault, FlashFault::power_cut);
    EXPECT_TRUE(only_toward(read_back(*flash, 0, 4), data, erased)) << "seed " << seed;
  }
}

INSTANTIATE_TEST_SUITE_P(ErasedValues, TornWrite,
                         ::testing::Values(std::byte{0xff}, std::byte{0x00}),
                         [](const ::testing::TestParamInfo<std::byte>& param) {
                           return param.param == std::byte{0xff} ? "erased_ff" : "erased_00";
                         });

TEST(NorFlashPowerCut, TornEraseScramblesItsFirstSectorOnly) {
  std::vector<Bytes> outcomes;
  for (std::uint64_t seed : {7u, 8u, 7u}) {
    auto flash = *NorFlash::in_memory(stm32f4_like(), pattern(8192));
    flash->arm(PowerCut{1, true, seed});
    auto cut = flash->erase(2048, 4096);  // sectors 5 and 6
    ASSERT_FALSE(cut);
    EXPECT_EQ(cut.error().fault, FlashFault::power_cut);
    EXPECT_TRUE(contains(cut.error().message, "sector [0x800, 0x1000) is left with random"))
        << cut.error().message;
    Bytes now = flash->snapshot();
    Bytes sector(now.begin() + 2048, now.begin() + 4096);
    EXPECT_NE(sector, slice(pattern(8192), 2048, 2048));
    EXPECT_FALSE(all_equal(sector, std::byte{0xff}));
    EXPECT_EQ(slice(now, 0, 2048), slice(pattern(8192), 0, 2048));
    EXPECT_EQ(slice(now, 4096), slice(pattern(8192), 4096));
    EXPECT_EQ(flash->erase_count(), 0u);
    // Only a real erase makes the sector writable again.
    flash->restore_power();
    EXPECT_EQ(flash->write(2048, pattern(2048)).error().fault, FlashFault::not_erased);
    ASSERT_TRUE(flash->erase(2048, 2048));
    EXPECT_TRUE(flash->write(2048, pattern(2048)));
    outcomes.push_back(sector);
  }
  EXPECT_EQ(outcomes[0], outcomes[2]);
  EXPECT_NE(outcomes[0], outcomes[1]);
}

TEST(NorFlashPowerCut, TheFileHoldsWhatTheFlashHeldAtTheCut) {
  ironroot::testing::TempDir temp;
  const auto path = temp / "flash.bin";
  Bytes at_cut;
  {
    auto flash = *NorFlash::create_file(path, stm32f4_like());
    ASSERT_TRUE(flash->write(0, pattern(256)));
    flash->arm(PowerCut{2, true, 5});
    EXPECT_EQ(flash->write(1024, pattern(16)).error().fault, FlashFault::power_cut);
    EXPECT_EQ(flash->erase(0, 256).error().fault, FlashFault::power_cut);
    at_cut = flash->snapshot();
    EXPECT_EQ(*read_file(path, 1 << 20), at_cut);
  }
  // Power on again: a new process opens the same flash.
  auto flash = *NorFlash::open_file(path, stm32f4_like());
  EXPECT_EQ(flash->snapshot(), at_cut);
  EXPECT_FALSE(flash->power_lost());
  EXPECT_EQ(flash->write(0, pattern(4)).error().fault, FlashFault::not_erased);
  EXPECT_TRUE(flash->erase(0, 256));
}

}  // namespace
}  // namespace ironroot::flash
