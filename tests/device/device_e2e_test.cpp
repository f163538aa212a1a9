// Issue 3's acceptance, end to end: a device made by the real `ironroot-device init`, booted by
// `ironroot-device run`, which starts the real ironroot-firmware (or ironroot-firmware-failing)
// from memory; images signed by the real `ironroot image sign`, as `make firmware` does.
//
// Most devices use the stm32f4 layout (device_e2e.hpp); one test covers uniform-4k.
#include "device_e2e.hpp"

#include <gtest/gtest.h>

#include "ironroot/device/device_folder.hpp"

namespace ironroot::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

TEST_F(DeviceE2E, UpgradeConfirmRevertAndRefusals) {
  init();

  // 1.0.0 runs, from memory.
  auto first = device({"run", "--dir", dev()});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_TRUE(contains(first.out, "boot 1: ROM: bootloader 1.0.0+0 verified")) << first.out;
  EXPECT_TRUE(contains(first.out, "ironroot-firmware 1.0.0+0 (pid ")) << first.out;
  EXPECT_TRUE(contains(first.out, "running from /memfd:ironroot-firmware")) << first.out;
  EXPECT_TRUE(contains(first.out, "powered off after 1 boot")) << first.out;
  EXPECT_EQ(firmware_counter(status()), kCounter100);  // fused at provisioning

  // 1.1.0 as a test: it boots once, confirms itself, and the next boot makes it permanent.
  stage(firmware("1.1.0"));
  json upgrade = run();
  ASSERT_EQ(upgrade["boots"].size(), 1u) << upgrade;
  EXPECT_EQ(upgrade["boots"][0]["firmware"]["version"], "1.1.0+0");
  EXPECT_EQ(upgrade["boots"][0]["firmware"]["test_boot"], true);
  EXPECT_EQ(upgrade["boots"][0]["firmware_exit"]["exit_code"], 0);
  EXPECT_TRUE(contains(last_.err, "confirmed 1.1.0+0")) << last_.err;  // the firmware's stdout
  json s = status();
  EXPECT_EQ(s["primary"]["version"], "1.1.0+0");
  EXPECT_EQ(s["primary"]["trailer"]["image_ok"], "set");
  EXPECT_EQ(s["journal"]["awaiting_confirmation"], true);
  json next = run();
  EXPECT_TRUE(has_event(next["boots"][0], "1.1.0+0 confirmed itself")) << next;
  EXPECT_EQ(next["boots"][0]["firmware"]["test_boot"], false);
  s = status();
  EXPECT_EQ(firmware_counter(s), kCounter110);
  EXPECT_EQ(s["journal"]["awaiting_confirmation"], false);
  EXPECT_EQ(s["primary"]["valid"], true);

  // 1.2.0 fails its self-test: it boots once, asks for the reboot, and 1.1.0 comes back.
  stage(firmware("1.2.0", Build::failing));
  json failing = run();
  ASSERT_EQ(failing["boots"].size(), 2u) << failing;
  EXPECT_EQ(failing["boots"][0]["firmware"]["version"], "1.2.0+0");
  EXPECT_EQ(failing["boots"][0]["firmware_exit"]["exit_code"], 75);
  EXPECT_TRUE(contains(last_.err, "self-test failed")) << last_.err;
  EXPECT_TRUE(has_event(failing["boots"][1], "1.2.0+0 was not confirmed: reverting to 1.1.0+0"))
      << failing;
  EXPECT_EQ(failing["boots"][1]["firmware"]["version"], "1.1.0+0");
  EXPECT_EQ(failing["boots"][1]["firmware_exit"]["exit_code"], 0);
  s = status();
  EXPECT_EQ(s["primary"]["version"], "1.1.0+0");
  EXPECT_EQ(firmware_counter(s), kCounter110);

  // 1.0.0 again: below the fused counter, refused; 1.1.0 still runs.
  stage(firmware("1.0.0"));
  json rollback = run();
  const std::string reason =
      "update refused: image 1.0.0+0 has security counter 16777216, below the fused 16842752: "
      "rollback refused";
  EXPECT_TRUE(has_event(rollback["boots"][0], reason)) << rollback;
  EXPECT_EQ(rollback["boots"][0]["firmware"]["version"], "1.1.0+0");
  s = status();
  EXPECT_TRUE(has_event(s["last_boot"], reason)) << s["last_boot"];
  auto text = device({"status", "--dir", dev()});
  EXPECT_TRUE(contains(text.out, reason)) << text.out;

  // A tampered image (one payload byte changed after signing): refused; 1.1.0 still runs.
  Bytes tampered = *read_file(firmware("1.3.0"), 1 << 30);
  tampered[0x400 + 1000] ^= std::byte{0x01};
  ASSERT_TRUE(write_file_atomic(path("tampered.img"), tampered));
  stage(path("tampered.img"));
  json tamper = run();
  EXPECT_TRUE(has_event(tamper["boots"][0], "update refused: image hash mismatch")) << tamper;
  EXPECT_EQ(tamper["boots"][0]["firmware"]["version"], "1.1.0+0");
  EXPECT_EQ(status()["primary"]["version"], "1.1.0+0");
}

TEST_F(DeviceE2E, BootloaderSignedWithTheWrongKeyHaltsInTheRom) {
  init();
  {
    // An attacker with flash access replaces the bootloader with one signed by another key.
    auto folder = device::DeviceFolder::open(dev());
    ASSERT_TRUE(folder) << folder.error().message;
    flash::FlashArea& area = folder->board().bootloader();
    Bytes image = *read_file(bootloader("firmware"), 1 << 20);
    image.resize((image.size() + 3) / 4 * 4, area.erased_value());
    ASSERT_TRUE(area.erase(0, area.size()));
    ASSERT_TRUE(area.write(0, image));
  }
  auto r = device({"run", "--dir", dev()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err.rfind("error: halted at boot 1: ROM: bootloader image refused", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(contains(r.out, "ironroot-firmware")) << r.out;  // nothing ran
  json s = status();
  EXPECT_EQ(s["last_boot"]["result"], "halted");
  EXPECT_EQ(s["last_boot"]["stage"], "rom");
  EXPECT_TRUE(contains(s["last_boot"]["reason"], "ROM: bootloader image refused"));
  EXPECT_EQ(s["bootloader"]["valid"], false);
}

TEST_F(DeviceE2E, InitRefusesImagesThatWouldNotBootAndMakesNothing) {
  struct Case {
    std::string name;
    std::vector<std::string> changes;  // option, value pairs replacing (or added to) init_args()'s
    int exit_code;
    std::string message;
  };
  Bytes script = to_bytes("#!/bin/sh\necho not a program\n");
  ASSERT_TRUE(write_file_atomic(path("script.sh"), script));
  auto r = cli({"image", "sign", "-k", key("firmware"), "-v", "1.0.0", "-H", "0x400",
                "--pad-header", "-S", "0x100000", "-s", "auto", "--public-key-format", "full",
                path("script.sh"), path("script.img")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<Case> cases = {
      {"bootloader signed by the wrong key",
       {"--bootloader", bootloader("firmware")},
       1,
       "the bootloader image would not boot: ROM: bootloader image refused"},
      {"firmware signed by an untrusted key",
       {"--firmware", firmware("1.0.0", Build::good, "other")},
       1,
       "the firmware image would not boot"},
      {"firmware that is not a program",
       {"--firmware", path("script.img")},
       1,
       "payload is not an ELF executable"},
      {"firmware larger than the slot", {"--slot-size", "0x100000"}, 1, "--firmware (a "},
      {"missing key file", {"--rom-key", path("missing.pem")}, 1, "--rom-key"},
      {"slot size that is not a number", {"--slot-size", "12abc"}, 2, "--slot-size"},
      {"unsupported write alignment", {"--write-align", "3"}, 2, "--write-align"},
  };
  for (const Case& c : cases) {
    auto args = init_args();
    for (std::size_t i = 0; i + 1 < c.changes.size(); i += 2) {
      auto at = std::find(args.begin(), args.end(), c.changes[i]);
      if (at == args.end()) {
        args.insert(args.end(), {c.changes[i], c.changes[i + 1]});
      } else {
        *(at + 1) = c.changes[i + 1];
      }
    }
    auto result = device(args);
    EXPECT_EQ(result.exit_code, c.exit_code) << c.name << ": " << result.err;
    EXPECT_TRUE(contains(result.err, c.message)) << c.name << ": " << result.err;
    EXPECT_FALSE(fs::exists(dev())) << c.name;
  }
  auto args = init_args();
  for (const char* k : {"k1", "k2", "k3", "k4"}) {
    args.push_back("--firmware-key");
    args.push_back(key(k));
  }
  auto five = device(args);
  EXPECT_EQ(five.exit_code, 2) << five.err;
  EXPECT_TRUE(contains(five.err, "4 firmware key slots")) << five.err;

  init();
  auto again = device(init_args());
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_TRUE(contains(again.err, "already holds a device")) << again.err;
}

// A power cut before flash operation N of the run that starts an upgrade; a plain run then
// finishes it and 1.1.0 confirms itself. N = 1 cuts before anything is journaled; 40 and 3000 cut
// early in and deep into the swap (about 12000 operations on this layout).
class PowerCutDuringUpgrade : public DeviceE2E, public ::testing::WithParamInterface<int> {};

TEST_P(PowerCutDuringUpgrade, APlainRunCompletesTheUpgrade) {
  init();
  stage(firmware("1.1.0"));
  json cut = run(3, {"--power-cut-after", std::to_string(GetParam())});
  EXPECT_EQ(cut["result"], "power_cut") << cut;
  EXPECT_TRUE(contains(last_.err,
                       "power cut at boot 1, before flash operation " + std::to_string(GetParam())))
      << last_.err;
  json s = status();
  EXPECT_EQ(s["last_boot"]["result"], "power_cut");
  const bool interrupted = s["journal"]["operation"] == "swap";
  EXPECT_EQ(interrupted, GetParam() != 1) << s["journal"];

  json resumed = run();
  const json& boot = resumed["boots"][0];
  EXPECT_EQ(has_event(boot, "resuming the interrupted swap"), interrupted) << resumed;
  EXPECT_EQ(boot["firmware"]["version"], "1.1.0+0") << resumed;
  EXPECT_EQ(boot["firmware"]["test_boot"], true);
  s = status();
  EXPECT_EQ(s["primary"]["version"], "1.1.0+0");
  EXPECT_EQ(s["primary"]["trailer"]["image_ok"], "set");  // it confirmed itself
  EXPECT_EQ(s["secondary"]["version"], "1.0.0+0");        // kept for a revert
}

INSTANTIATE_TEST_SUITE_P(Operations, PowerCutDuringUpgrade, ::testing::Values(1, 40, 3000));

TEST_F(DeviceE2E, KillingTheFirmwareIsAPowerCutAndTheTestImageIsReverted) {
  init();
  stage(firmware("1.1.0"));
  RunningProcess running({IRONROOT_DEVICE, "run", "--dir", dev()}, {"IRONROOT_FIRMWARE_HOLD=1"},
                         path("run.err"));
  const std::string banner = running.line_containing("ironroot-firmware 1.1.0+0 (pid ");
  ASSERT_FALSE(banner.empty());
  ASSERT_FALSE(running.line_containing("holding before the self-test").empty());
  const pid_t firmware = std::stoi(banner.substr(banner.find("(pid ") + 5));
  ASSERT_EQ(::kill(firmware, SIGKILL), 0);
  ProcessResult r = running.wait();
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "boot 1: the firmware ended with killed by signal 9")) << r.out;
  EXPECT_TRUE(contains(r.out, "boot 2: 1.1.0+0 was not confirmed: reverting to 1.0.0+0")) << r.out;
  EXPECT_TRUE(contains(r.out, "ironroot-firmware 1.0.0+0 (pid ")) << r.out;
  json s = status();
  EXPECT_EQ(s["primary"]["version"], "1.0.0+0");
  EXPECT_EQ(s["last_boot"]["firmware"]["version"], "1.0.0+0");
}

TEST_F(DeviceE2E, ARevokedKeyNoLongerSignsUpdates) {
  init({"--firmware-key", key("firmware2")});
  auto in_use = device({"revoke-key", "--dir", dev(), "--slot", "0"});
  EXPECT_EQ(in_use.exit_code, 1);
  EXPECT_TRUE(contains(in_use.err, "add --force")) << in_use.err;
  auto empty = device({"revoke-key", "--dir", dev(), "--slot", "2"});
  EXPECT_EQ(empty.exit_code, 1);
  EXPECT_TRUE(contains(empty.err, "holds no key")) << empty.err;
  auto revoked = device({"revoke-key", "--dir", dev(), "--slot", "1"});
  ASSERT_EQ(revoked.exit_code, 0) << revoked.err;

  stage(firmware("1.1.0", Build::good, "firmware2"));
  json r = run();
  EXPECT_TRUE(
      has_event(r["boots"][0], "update refused: image 1.1.0+0 is signed with revoked key 1"))
      << r;
  EXPECT_EQ(r["boots"][0]["firmware"]["version"], "1.0.0+0");
  json s = status();
  EXPECT_EQ(s["fuses"]["firmware_keys"][1]["revoked"], true);
  EXPECT_EQ(s["fuses"]["firmware_keys"][0]["revoked"], false);
}

TEST_F(DeviceE2E, StagingCutByAPowerCutLeavesNoPendingUpdate) {
  init();
  auto cut = device({"stage", "--dir", dev(), firmware("1.1.0"), "--power-cut-after", "5"});
  EXPECT_EQ(cut.exit_code, 3) << cut.err;
  EXPECT_TRUE(contains(cut.err, "power cut")) << cut.err;
  json r = run();
  EXPECT_EQ(r["boots"][0]["events"], json::array()) << r;
  EXPECT_EQ(r["boots"][0]["firmware"]["version"], "1.0.0+0");
}

TEST_F(DeviceE2E, RebootRequestsStopAtMaxBoots) {
  init();
  json r = run(4, {"--max-boots", "2"}, {"IRONROOT_FIRMWARE_REBOOT=1"});
  EXPECT_EQ(r["result"], "boot_limit");
  ASSERT_EQ(r["boots"].size(), 2u);
  for (const auto& boot : r["boots"]) {
    EXPECT_EQ(boot["firmware_exit"]["exit_code"], 75);
    EXPECT_EQ(boot["firmware_exit"]["meaning"], "reboot requested");
  }
}

TEST_F(DeviceE2E, OverwriteUpgradesArePermanentAtOnce) {
  init({"--strategy", "overwrite", "--write-align", "8", "--erased-value", "0x00"}, "mixed-slots");
  stage(firmware("1.1.0"));
  json r = run();
  EXPECT_TRUE(has_event(r["boots"][0], "installed 1.1.0+0 permanently")) << r;
  EXPECT_EQ(r["boots"][0]["firmware"]["test_boot"], false);
  EXPECT_EQ(firmware_counter(status()), kCounter110);
}

TEST_F(DeviceE2E, DefaultLayoutUpgrade) {
  init({}, "uniform-4k");
  stage(firmware("1.1.0"));
  json r = run();
  EXPECT_EQ(r["boots"][0]["firmware"]["version"], "1.1.0+0") << r;
  EXPECT_EQ(status()["primary"]["trailer"]["image_ok"], "set");
}

TEST_F(DeviceE2E, CommandsExplainAMissingOrDamagedDevice) {
  Bytes not_image = to_bytes("plain text");
  ASSERT_TRUE(write_file_atomic(path("notes.txt"), not_image));
  const std::vector<std::vector<std::string>> verbs = {
      {"run"}, {"status"}, {"stage", path("notes.txt")}, {"revoke-key", "--slot", "0"}};
  for (auto verb : verbs) {
    verb.insert(verb.begin() + 1, {"--dir", dev()});
    auto r = device(verb);
    EXPECT_EQ(r.exit_code, 1) << verb[0];
    EXPECT_EQ(r.err.rfind("error: no device at ", 0), 0u) << verb[0] << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  init();
  auto not_image_r = device({"stage", "--dir", dev(), path("notes.txt")});
  EXPECT_EQ(not_image_r.exit_code, 1);
  EXPECT_TRUE(contains(not_image_r.err, "is not an MCUboot image")) << not_image_r.err;

  ASSERT_TRUE(write_file_atomic(fs::path(dev()) / "device.json", as_bytes("{\"layout\": 3}")));
  auto damaged = device({"status", "--dir", dev()});
  EXPECT_EQ(damaged.exit_code, 1);
  EXPECT_TRUE(contains(damaged.err, "device.json is damaged")) << damaged.err;

  for (const char* verb : {"init", "run", "status", "stage", "revoke-key"}) {
    auto help = device({verb, "--help"});
    EXPECT_EQ(help.exit_code, 0) << verb;
    EXPECT_TRUE(contains(help.out, "--dir")) << verb << help.out;
  }
  EXPECT_EQ(device({"run"}).exit_code, 2);
  EXPECT_EQ(device({"run", "--dir", dev(), "--power-cut-after", "0"}).exit_code, 2);
  EXPECT_EQ(device({"revoke-key", "--dir", dev(), "--slot", "4"}).exit_code, 2);
  EXPECT_EQ(device({}).exit_code, 2);
}

TEST_F(DeviceE2E, FirmwareNeedsADevice) {
  auto r = run_process({IRONROOT_FIRMWARE}, {"IRONROOT_DEVICE_DIR=", "IRONROOT_BOOT_RECORD="});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "ironroot-device run")) << r.err;
  EXPECT_EQ(run_process({IRONROOT_FIRMWARE, "--help"}).exit_code, 0);
}

}  // namespace
}  // namespace ironroot::testing
