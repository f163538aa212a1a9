// ironroot-firmware: the reference device application. ironroot-device starts it from memory after
// the bootloader verified it; it reads its boot record, runs its self-test, and on a test boot
// confirms itself (or, when the self-test fails, asks for the reboot that reverts it).
// Its exit code is its request to the device (ironroot/device/contract.hpp): 0 power off,
// 75 reboot.
//
// Environment: IRONROOT_DEVICE_DIR and IRONROOT_BOOT_RECORD (set by ironroot-device run);
// IRONROOT_FIRMWARE_REBOOT=1 (as --reboot); IRONROOT_FIRMWARE_HOLD=1 makes a test boot wait,
// before its self-test, until standard input closes, so that tests and demos can cut its power
// (kill -9) at a known point; IRONROOT_FIRMWARE_CONNECT_TIMEOUT (seconds, default 30) bounds how
// long it tries to reach its broker (and, when it provisions itself, each connection and reply).
//
// A device with claim provisioning settings (`ironroot-device identity install-claim`) and no
// certificate yet provisions itself by claim first (first_boot.hpp); when that fails, the firmware
// says why, carries on offline, and tries again at its next boot. Provisioning never fails the
// self-test: an image is not to blame for a fleet that refuses the device.
//
// With IRONROOT_FIRMWARE_TAKE_JOBS=S (`ironroot-device run --take-jobs S`) the firmware then takes
// jobs from the fleet until none has come for S seconds (updates.hpp): an OTA update downloads
// into the update slot and reboots into it; on that test boot the OTA agent, not this file,
// confirms the new image once it has told the fleet that it runs. IRONROOT_FIRMWARE_OTA_BLOCK_SIZE
// sets the block size the OTA agent asks for (default 4096 bytes, as AWS's agent).
//
// Once the device has a certificate, the firmware connects with its identity and publishes a
// hello (hello.hpp). On a test boot that is part of the self-test: an update that cannot reach the
// fleet is not confirmed, and the bootloader reverts it. A confirmed image that cannot reach it
// says so and carries on offline.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

#include "first_boot.hpp"
#include "hello.hpp"
#include "ironroot/boot/slot_state.hpp"
#include "ironroot/core/file.hpp"
#include "ironroot/device/contract.hpp"
#include "ironroot/device/device_folder.hpp"
#include "ironroot/image/format.hpp"
#include "updates.hpp"

namespace {

using namespace ironroot;

constexpr int kExitFailure = 1;
constexpr std::uintmax_t kMaxBootRecordSize = 1024 * 1024;
constexpr std::chrono::seconds kDefaultConnectTimeout{30};
constexpr unsigned long kMaxConnectTimeoutSeconds = 3600;
constexpr unsigned long kMaxTakeJobsSeconds = 86400;

struct BootRecord {
  std::string version;  // of this firmware, as the bootloader measured it
  bool test_boot = false;
};

Result<BootRecord> read_boot_record(const std::string& path) {
  auto text = read_file(path, kMaxBootRecordSize);
  if (!text) return prefixed(text.error(), "reading the boot record");
  const auto record = nlohmann::json::parse(as_chars(*text), nullptr, false);
  if (record.is_discarded() || !record.is_object()) {
    return fail("the boot record " + path + " is not a JSON object");
  }
  const auto firmware = record.find("firmware");
  if (firmware == record.end() || !firmware->is_object() || !firmware->contains("version") ||
      !(*firmware)["version"].is_string() || !firmware->contains("test_boot") ||
      !(*firmware)["test_boot"].is_boolean()) {
    return fail("the boot record " + path + " has no firmware version and test_boot");
  }
  return BootRecord{(*firmware)["version"].get<std::string>(),
                    (*firmware)["test_boot"].get<bool>()};
}

// The self-test: the device opens, and the image in the primary slot is the one the boot record
// says is running.
Status self_test(device::DeviceFolder& folder, const BootRecord& record) {
#ifdef IRONROOT_FIRMWARE_SELFTEST_FAILS
  (void)folder;
  (void)record;
  return fail("this build's self-test always fails (ironroot-firmware-failing, SELFTEST=fail)");
#else
  flash::FlashArea& primary = folder.board().primary();
  auto image = boot::read_image(primary, primary.size());
  if (!image) return prefixed(image.error(), "reading the primary slot");
  const auto header = image::ImageHeader::decode(*image);
  if (header.version.to_string() != record.version) {
    return fail("the primary slot holds " + header.version.to_string() +
                ", but the boot record says " + record.version + " is running");
  }
  return {};
#endif
}

bool env_is_set(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && std::string(value) == "1";
}

Result<std::chrono::seconds> connect_timeout() {
  const char* value = std::getenv("IRONROOT_FIRMWARE_CONNECT_TIMEOUT");
  if (value == nullptr || *value == '\0') return kDefaultConnectTimeout;
  char* end = nullptr;
  const unsigned long seconds = std::strtoul(value, &end, 10);
  if (*end != '\0' || seconds == 0 || seconds > kMaxConnectTimeoutSeconds) {
    return fail("IRONROOT_FIRMWARE_CONNECT_TIMEOUT='" + std::string(value) +
                "' is not a number of seconds from 1 to 3600");
  }
  return std::chrono::seconds(seconds);
}

// IRONROOT_FIRMWARE_TAKE_JOBS (set by `ironroot-device run --take-jobs`): how long to wait for a
// job before powering off; 0 or unset: the firmware takes no jobs.
Result<std::chrono::seconds> jobs_idle() {
  const char* value = std::getenv(device::kTakeJobsEnv);
  if (value == nullptr || *value == '\0') return std::chrono::seconds(0);
  char* end = nullptr;
  const unsigned long seconds = std::strtoul(value, &end, 10);
  if (*end != '\0' || seconds > kMaxTakeJobsSeconds) {
    return fail(std::string(device::kTakeJobsEnv) + "='" + value +
                "' is not a number of seconds from 0 to " + std::to_string(kMaxTakeJobsSeconds));
  }
  return std::chrono::seconds(seconds);
}

// IRONROOT_FIRMWARE_OTA_BLOCK_SIZE: the block size the OTA agent asks for (default 4096, as AWS's
// agent); larger blocks mean fewer messages for a large image.
Result<std::uint32_t> ota_block_size() {
  const char* value = std::getenv("IRONROOT_FIRMWARE_OTA_BLOCK_SIZE");
  if (value == nullptr || *value == '\0') return 4096u;
  char* end = nullptr;
  const unsigned long bytes = std::strtoul(value, &end, 10);
  if (*end != '\0' || bytes < 256 || bytes > 131072) {
    return fail("IRONROOT_FIRMWARE_OTA_BLOCK_SIZE='" + std::string(value) +
                "' is not a number of bytes from 256 to 131072");
  }
  return static_cast<std::uint32_t>(bytes);
}

// The part of the self-test that needs the network: reach the fleet, when the device is enrolled.
Status reach_fleet(const std::string& dir, const BootRecord& record) {
  auto timeout = connect_timeout();
  if (!timeout) return tl::unexpected(timeout.error());
  const firmware::FirstBootReport first_boot = firmware::provision_on_first_boot(dir, *timeout);
  if (first_boot.outcome != firmware::FirstBootReport::Outcome::not_needed) {
    std::cout << first_boot.detail << std::endl;
  }
  auto hello = firmware::say_hello(dir, {record.version, record.test_boot}, *timeout);
  if (!hello) return prefixed(hello.error(), "reaching the fleet");
  std::cout << hello->detail << std::endl;
  return {};
}

int run(bool reboot) {
  const char* dir = std::getenv(device::kDeviceDirEnv);
  const char* record_path = std::getenv(device::kBootRecordEnv);
  if (dir == nullptr || *dir == '\0' || record_path == nullptr || *record_path == '\0') {
    std::cerr << "error: " << device::kDeviceDirEnv << " and " << device::kBootRecordEnv
              << " are not set: ironroot-firmware runs on a device, started by "
                 "`ironroot-device run`\n";
    return kExitFailure;
  }
  auto record = read_boot_record(record_path);
  if (!record) {
    std::cerr << "error: " << record.error().message << "\n";
    return kExitFailure;
  }
  std::cout << "ironroot-firmware " << record->version << " (pid " << ::getpid()
            << "): " << (record->test_boot ? "test boot" : "confirmed image") << std::endl;
  // The bootloader hands over the bytes it verified, in a sealed memfd: say so.
  std::error_code ec;
  const auto executable = std::filesystem::read_symlink("/proc/self/exe", ec);
  std::cout << "running from " << (ec ? "an unknown executable" : executable.string()) << std::endl;

  if (record->test_boot && env_is_set("IRONROOT_FIRMWARE_HOLD")) {
    std::cout << "holding before the self-test until standard input closes" << std::endl;
    char ignored[256];
    while (::read(STDIN_FILENO, ignored, sizeof ignored) > 0) {
    }
  }

  auto folder = device::DeviceFolder::open(dir);
  if (!folder) {
    std::cerr << "error: " << folder.error().message << "\n";
    return record->test_boot ? device::kRebootExitCode : kExitFailure;
  }
  Status passed = self_test(*folder, *record);
  if (passed) {
    auto reached = reach_fleet(dir, *record);
    if (!reached && !record->test_boot) {
      // A confirmed image stays: it would retry in the field; here it says so and carries on.
      std::cout << "warning: " << reached.error().message << "; running offline" << std::endl;
    } else {
      passed = reached;
    }
  }
  if (!passed) {
    std::cout << "self-test failed: " << passed.error().message << std::endl;
    if (record->test_boot) {
      std::cout << "not confirming " << record->version
                << "; requesting a reboot, and the bootloader reverts to the previous image"
                << std::endl;
      return device::kRebootExitCode;
    }
    std::cerr << "error: the self-test of the confirmed image " << record->version << " failed\n";
    return kExitFailure;
  }
  std::cout << "self-test passed" << std::endl;
  auto take_jobs_for = jobs_idle();
  if (!take_jobs_for) {
    std::cerr << "error: " << take_jobs_for.error().message << "\n";
    return record->test_boot ? device::kRebootExitCode : kExitFailure;
  }
  // A test boot that resumes an OTA job leaves the confirmation to the OTA agent, which first
  // reports to the fleet that the new image runs.
  const bool resuming_update =
      record->test_boot && take_jobs_for->count() > 0 && firmware::remembers_a_job(dir);
  if (record->test_boot && !resuming_update) {
    if (auto confirmed = boot::set_confirmed(folder->board().primary()); !confirmed) {
      std::cerr << "error: confirming " << record->version << ": " << confirmed.error().message
                << "\n";
      return device::kRebootExitCode;
    }
    std::cout << "confirmed " << record->version << ": it stays installed" << std::endl;
  }
  if (take_jobs_for->count() > 0) {
    firmware::JobsSession session;
    session.version = record->version;
    session.test_boot = record->test_boot;
    session.idle = *take_jobs_for;
    if (auto timeout = connect_timeout()) session.connect_timeout = *timeout;
    auto block_size = ota_block_size();
    if (!block_size) {
      std::cerr << "error: " << block_size.error().message << "\n";
      return record->test_boot && resuming_update ? device::kRebootExitCode : kExitFailure;
    }
    session.ota_block_size = *block_size;
    session.self_test = [&folder, &record] { return self_test(*folder, *record); };
    auto jobs = firmware::take_jobs(*folder, session);
    if (!jobs) {
      if (resuming_update) {
        std::cout << "self-test failed: reaching the fleet's jobs: " << jobs.error().message
                  << std::endl
                  << "not confirming " << record->version
                  << "; requesting a reboot, and the bootloader reverts to the previous image"
                  << std::endl;
        return device::kRebootExitCode;
      }
      std::cout << "warning: jobs: " << jobs.error().message << "; running offline" << std::endl;
    } else if (jobs->next == firmware::AfterJobs::reboot) {
      std::cout << "requesting a reboot" << std::endl;
      return device::kRebootExitCode;
    } else if (resuming_update && !jobs->confirmed) {
      std::cout << "warning: " << record->version
                << " was not confirmed: the bootloader reverts it at the next boot" << std::endl;
    }
  }
  if (reboot) {
    std::cout << "requesting a reboot" << std::endl;
    return device::kRebootExitCode;
  }
  std::cout << "powering off" << std::endl;
  return device::kPowerOffExitCode;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "ironroot-firmware: the reference device application, started by `ironroot-device run`"};
  app.footer(
      "Exit codes: 0 power off, 75 reboot (also after a failed self-test on a test boot, so that "
      "the bootloader reverts), 1 failure.");
  bool reboot = env_is_set("IRONROOT_FIRMWARE_REBOOT");
  app.add_flag("--reboot", reboot,
               "Ask for a reboot after a successful run (also IRONROOT_FIRMWARE_REBOOT=1)");
  app.set_version_flag("--version", "ironroot-firmware 0.1.0");
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
  return run(reboot);
}
