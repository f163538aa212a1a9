// What the device simulator (ironroot-device) and the firmware it starts (ironroot-firmware) agree
// on: how the firmware finds its device and boot record, and what its exit code means.
#pragma once

namespace ironroot::device {

// The firmware's exit code is the device's power switch:
//   0                 power off: `ironroot-device run` ends
//   kRebootExitCode   reboot: the boot chain runs again (an update, a revert, a confirmed test)
//   killed by signal  a power cut while the firmware ran: the boot chain runs again
//   anything else     a crash: logged, and the boot chain runs again
// 75 is EX_TEMPFAIL in <sysexits.h>: "try again", which is what a reboot request asks for.
inline constexpr int kPowerOffExitCode = 0;
inline constexpr int kRebootExitCode = 75;

// Environment variables `ironroot-device run` sets for the firmware.
inline constexpr const char* kDeviceDirEnv = "IRONROOT_DEVICE_DIR";    // the device folder
inline constexpr const char* kBootRecordEnv = "IRONROOT_BOOT_RECORD";  // its boot_record.json
// Set by `run --take-jobs S`: the firmware takes jobs until none has come for S seconds.
inline constexpr const char* kTakeJobsEnv = "IRONROOT_FIRMWARE_TAKE_JOBS";

}  // namespace ironroot::device
