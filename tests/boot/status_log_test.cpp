#include "ironroot/boot/status_log.hpp"

#include <gtest/gtest.h>

#include "ironroot/boot/layout.hpp"
#include "ironroot/flash/nor_flash.hpp"

namespace ironroot::boot {
namespace {

class StatusLogTest : public ::testing::TestWithParam<std::byte> {
 protected:
  void SetUp() override {
    flash::FlashGeometry g;
    g.write_align = 8;
    g.erased_value = GetParam();
    g.add_sectors(2, 256);  // 8 records a sector
    flash_ = *flash::NorFlash::in_memory(g);
    area_ = *flash_->area(0, 512);
  }
  std::shared_ptr<flash::NorFlash> flash_;
  std::unique_ptr<flash::FlashArea> area_;
};

TEST_P(StatusLogTest, EmptyLogReadsAsIdle) {
  StatusLog log(*area_);
  auto s = log.read();
  ASSERT_TRUE(s);
  EXPECT_EQ(*s, BootState{});
}

TEST_P(StatusLogTest, NewestRecordWinsAcrossReopenAndWraparound) {
  BootState last;
  {
    StatusLog log(*area_);
    for (std::uint32_t i = 0; i < 37; ++i) {  // more than both sectors hold: wraps around twice
      last = BootState{Operation::swap, 2, i, 4096 + i, i % 2 == 0};
      ASSERT_TRUE(log.write(last));
      ASSERT_EQ(*log.read(), last);
    }
  }
  StatusLog reopened(*area_);
  EXPECT_EQ(*reopened.read(), last);
  // 37 records, 8 a sector: each sector is erased before its first record, 5 sectors in turn.
  EXPECT_EQ(flash_->erase_count(), 5u);
}

TEST_P(StatusLogTest, TornRecordIsIgnoredAndSkipped) {
  StatusLog log(*area_);
  BootState before{Operation::overwrite, 3, 5, 1000, false};
  ASSERT_TRUE(log.write(before));
  flash_->arm({flash_->operations() + 1, true, 99});
  EXPECT_FALSE(log.write(BootState{Operation::overwrite, 3, 6, 1000, false}));
  flash_->restore_power();
  StatusLog after_cut(*area_);
  EXPECT_EQ(*after_cut.read(), before);  // the torn record does not count
  BootState next{Operation::overwrite, 3, 6, 1000, false};
  ASSERT_TRUE(after_cut.write(next));  // written after the torn one, never over it
  EXPECT_EQ(*StatusLog(*area_).read(), next);
}

TEST_P(StatusLogTest, CutWhileMovingToTheNextSectorKeepsTheNewest) {
  StatusLog log(*area_);
  BootState s{Operation::swap, 2, 0, 100, false};
  for (std::uint32_t i = 0; i < 8; ++i) {
    s.steps_done = i;
    ASSERT_TRUE(log.write(s));
  }
  // The 9th record needs the second sector erased first; cut the power during that erase.
  flash_->arm({flash_->operations() + 1, true, 5});
  s.steps_done = 8;
  EXPECT_FALSE(log.write(s));
  flash_->restore_power();
  StatusLog again(*area_);
  EXPECT_EQ(again.read()->steps_done, 7u);
  ASSERT_TRUE(again.write(s));
  EXPECT_EQ(StatusLog(*area_).read()->steps_done, 8u);
}

INSTANTIATE_TEST_SUITE_P(ErasedValues, StatusLogTest,
                         ::testing::Values(std::byte{0xff}, std::byte{0x00}),
                         [](const ::testing::TestParamInfo<std::byte>& p) {
                           return p.param == std::byte{0xff} ? std::string("erased_ff")
                                                             : std::string("erased_00");
                         });

TEST(BootLayout, KnownLayoutsAreConsistent) {
  for (auto name : boot_layout_names()) {
    auto layout = make_boot_layout(name, {4, std::byte{0xff}, 1024 * 1024, 1});
    ASSERT_TRUE(layout) << layout.error().message;
    EXPECT_EQ(layout->primary.size, layout->secondary.size) << name;
    EXPECT_GE(layout->primary.size, 1024u * 1024) << name;
    EXPECT_TRUE(layout->geometry.validate()) << name;
    EXPECT_LE(layout->scratch.offset + layout->scratch.size, layout->geometry.size()) << name;
  }
  EXPECT_FALSE(make_boot_layout("nope"));
  EXPECT_FALSE(make_boot_layout("uniform-4k", {4, std::byte{0xff}, 0, 1}));
  EXPECT_FALSE(make_boot_layout("uniform-4k", {4, std::byte{0xff}, 4096, 3}));
}

}  // namespace
}  // namespace ironroot::boot
