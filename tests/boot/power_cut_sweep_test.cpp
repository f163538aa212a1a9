// The power-cut sweep, modelled on MCUboot's simulator (sim/, perm_with_fails and
// revert_with_fails): count the N flash operations of a clean upgrade or revert, then for every
// i in 1..N cut the power before operation i (alternately cleanly and with the operation torn),
// power on again and again until the device settles, and check that every boot started a valid
// image and that the end state is exactly right. One in seven runs is cut a second time during
// its recovery. Three layouts x write alignments 1, 4, 8 x erased values 0xff, 0x00.
#include <gtest/gtest.h>

#include <cstdio>
#include <random>

#include "device_fixture.hpp"

namespace ironroot::testing {
namespace {

enum class Scenario { upgrade, revert };

struct SweepCase {
  std::string layout;
  std::uint32_t align;
  std::byte erased;
  Scenario scenario;
  boot::UpgradeStrategy strategy;
  std::string name;
};

struct Outcome {
  bool reverted = false;     // the test image did not stay
  bool confirm_cut = false;  // the power failed while the firmware was confirming itself
  int boots = 0;
  std::string trace;  // what each boot did, for failure messages
};

class PowerCutSweep : public ::testing::TestWithParam<SweepCase> {
 protected:
  void SetUp() override {
    const SweepCase& c = GetParam();
    config_.layout = c.layout;
    config_.write_align = c.align;
    config_.erased = c.erased;
    config_.strategy = c.strategy;
    config_.sector_scale = c.layout == "stm32f4" ? 16 : 4;
    config_.slot_size = 16 * 1024;
    v1_ = device_image(key_, "1.0.0", 1, 9000, config_.slot_size);
    v2_ = device_image(key_, "1.1.0", 2, 8000, config_.slot_size);
    SimulatedDevice device(config_);
    ASSERT_TRUE(boot::install_image(device.primary(), v1_));
    {
      auto otp = fresh_otp();
      ASSERT_EQ(device.bootloader(otp).boot()->firmware.version.to_string(), "1.0.0+0");
    }
    const bool permanent = c.strategy == boot::UpgradeStrategy::overwrite;
    ASSERT_TRUE(boot::stage_image(device.secondary(), v2_, permanent));
    start_ = device.flash().snapshot();
  }

  boot::Otp fresh_otp() {
    auto otp = boot::Otp::in_memory();
    EXPECT_TRUE(otp.fuse_firmware_key(0, key_.public_key().key_hash()));
    return otp;
  }

  // Powers the device on until it settles, as the firmware would behave: the test image confirms
  // itself in the upgrade scenario and never does in the revert one.
  Outcome run(SimulatedDevice& device, boot::Otp& otp, std::optional<std::uint64_t> second_cut) {
    Outcome out;
    bool saw_test_boot = false;
    for (out.boots = 1; out.boots <= 12; ++out.boots) {
      if (device.flash().power_lost()) {
        device.flash().restore_power();
        if (second_cut) {
          device.flash().arm({device.flash().operations() + *second_cut, true, *second_cut});
          second_cut.reset();
        }
      }
      auto r = device.bootloader(otp).boot();
      out.trace += "boot " + std::to_string(out.boots) + ": ";
      for (const auto& e : r ? r->events : r.error().events) out.trace += e + "; ";
      out.trace +=
          r ? "started " + r->firmware.version.to_string() + (r->test_boot ? " (test)" : "")
            : "failed: " + r.error().reason;
      out.trace += "\n";
      if (!r) {
        EXPECT_EQ(r.error().kind, boot::BootFailureKind::power_cut) << r.error().reason;
        if (r.error().kind != boot::BootFailureKind::power_cut) return out;
        continue;
      }
      // Every boot starts a whole, valid image: the old one or the new one, byte for byte.
      EXPECT_TRUE(r->image == v1_ || r->image == v2_)
          << "boot " << out.boots << " started other bytes";
      const bool is_v2 = r->image == v2_;
      if (is_v2 && r->test_boot) {
        saw_test_boot = true;
        if (GetParam().scenario == Scenario::upgrade) {
          // If the power fails during this write, the confirmation may or may not have reached the
          // flash (a torn write can complete): either outcome is right, as long as it is whole.
          if (!boot::set_confirmed(device.primary())) out.confirm_cut = true;
        }
        continue;
      }
      if (is_v2) return out;  // installed for good
      if (saw_test_boot) {    // reverted, and settled
        out.reverted = true;
        return out;
      }
    }
    ADD_FAILURE() << "the device did not settle in 12 boots:\n" << out.trace;
    return out;
  }

  void check_final(SimulatedDevice& device, boot::Otp& otp, bool reverted,
                   const std::string& where) {
    const Bytes& running = reverted ? v1_ : v2_;
    const Bytes& other = reverted ? v2_ : v1_;
    EXPECT_EQ(device.slot_bytes(device.primary(), running.size()), running) << where;
    if (GetParam().strategy == boot::UpgradeStrategy::swap) {
      EXPECT_EQ(device.slot_bytes(device.secondary(), other.size()), other) << where;
    }
    auto primary = boot::read_slot_trailer(device.primary());
    auto secondary = boot::read_slot_trailer(device.secondary());
    ASSERT_TRUE(primary && secondary);
    EXPECT_NE(secondary->magic, image::MagicState::good)
        << where << ": the secondary slot is still pending";
    if (!reverted) {
      EXPECT_EQ(primary->image_ok, image::FlagState::set) << where;
    }
    EXPECT_EQ(otp.security_counter(boot::kFirmwareCounter), reverted ? 1u : 2u) << where;
    // And it stays that way.
    auto again = device.bootloader(otp).boot();
    ASSERT_TRUE(again) << where << ": " << again.error().reason;
    EXPECT_EQ(again->image, running) << where;
    EXPECT_FALSE(again->test_boot) << where;
  }

  DeviceConfig config_;
  crypto::PrivateKey key_ = *crypto::PrivateKey::generate(crypto::KeyType::ed25519);
  Bytes v1_, v2_, start_;
};

TEST_P(PowerCutSweep, EveryInterruptionPointRecovers) {
  // The clean run: how many flash operations does it take?
  std::uint64_t n = 0;
  {
    SimulatedDevice device(config_, start_);
    auto otp = fresh_otp();
    Outcome clean = run(device, otp, std::nullopt);
    check_final(device, otp, GetParam().scenario == Scenario::revert, "clean run");
    n = device.flash().operations();
    ASSERT_FALSE(clean.reverted && GetParam().scenario == Scenario::upgrade);
  }
  ASSERT_GT(n, 10u);
  std::mt19937 rng(7);
  std::uint64_t tried = 0;
  for (std::uint64_t i = 1; i <= n; ++i) {
    SimulatedDevice device(config_, start_);
    auto otp = fresh_otp();
    device.flash().arm({i, i % 2 == 0, i});
    std::optional<std::uint64_t> second;
    if (i % 7 == 0) second = 1 + rng() % 20;
    Outcome out = run(device, otp, second);
    if (!out.confirm_cut) {
      EXPECT_EQ(out.reverted, GetParam().scenario == Scenario::revert)
          << "cut before operation " << i << ":\n"
          << out.trace;
    }
    const bool reverted = out.reverted;
    check_final(device, otp, reverted,
                "cut before operation " + std::to_string(i) + ":\n" + out.trace);
    ++tried;
    if (::testing::Test::HasFailure()) break;
  }
  std::printf("[ sweep    ] %s: N = %llu flash operations, %llu interruption points tried\n",
              GetParam().name.c_str(), static_cast<unsigned long long>(n),
              static_cast<unsigned long long>(tried));
  EXPECT_EQ(tried, n);
}

std::vector<SweepCase> sweep_cases() {
  std::vector<SweepCase> all;
  for (const std::string layout : {"uniform-4k", "stm32f4", "mixed-slots"}) {
    for (std::uint32_t align : {1u, 4u, 8u}) {
      for (std::byte erased : {std::byte{0xff}, std::byte{0x00}}) {
        std::string base =
            layout + "_align" + std::to_string(align) + (erased == std::byte{0xff} ? "_ff" : "_00");
        for (char& ch : base) {
          if (ch == '-') ch = '_';
        }
        all.push_back({layout, align, erased, Scenario::upgrade, boot::UpgradeStrategy::swap,
                       base + "_upgrade"});
        all.push_back({layout, align, erased, Scenario::revert, boot::UpgradeStrategy::swap,
                       base + "_revert"});
        all.push_back({layout, align, erased, Scenario::upgrade, boot::UpgradeStrategy::overwrite,
                       base + "_overwrite"});
      }
    }
  }
  return all;
}

INSTANTIATE_TEST_SUITE_P(Layouts, PowerCutSweep, ::testing::ValuesIn(sweep_cases()),
                         [](const ::testing::TestParamInfo<SweepCase>& p) { return p.param.name; });

}  // namespace
}  // namespace ironroot::testing
