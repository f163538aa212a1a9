// The firmware's jobs: once it has passed the part of its self-test that needs no network, it
// connects with its identity and takes jobs from the fleet (AWS IoT Jobs), one at a time, until
// none has come for a while. OTA updates (jobs whose document holds "afr_ota") go to the device's
// OTA agent (ironroot/agent/ota_agent.hpp), which downloads the image into the update slot, has
// it checked as the bootloader will, marks it pending and asks for a reboot; after the reboot the
// same job is resumed, by the new image on its test boot (which then runs its self-test and
// confirms itself) or by the old one after the bootloader reverted it.
//
// The current job is remembered in the device folder (current_job.json), so a job that spans a
// reboot, a power cut or a crash is resumed, not started again.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "ironroot/core/result.hpp"
#include "ironroot/device/device_folder.hpp"

namespace ironroot::firmware {

// The file in the device folder that remembers the current job (agent::CurrentJobFile).
inline constexpr const char* kCurrentJobFile = "current_job.json";

struct JobsSession {
  std::string version;  // of the running firmware, as the bootloader measured it
  bool test_boot = false;
  // How long to wait for a job before powering off; also bounds each connection attempt.
  std::chrono::seconds idle{60};
  std::chrono::seconds connect_timeout{30};
  // The OTA agent's block size (l): AWS's agent asks for 4096-byte blocks; 256 to 131072.
  std::uint32_t ota_block_size = 4096;
  // The firmware's own checks that need no network (run by the OTA agent on a test boot, before
  // it confirms the image).
  std::function<Status()> self_test;
};

enum class AfterJobs {
  power_off,  // no job came for `idle`
  reboot,     // a job asked for a restart (an update is pending), or a test boot failed
};

struct JobsOutcome {
  AfterJobs next = AfterJobs::power_off;
  // On a test boot: whether the running image is confirmed now (by the OTA agent, or because no
  // update job was resumed and the caller confirmed it).
  bool confirmed = false;
};

// Whether the device remembers a job that was running before this boot.
bool remembers_a_job(const std::filesystem::path& device_dir);

// Takes jobs until none comes for `session.idle`, printing what happens. Fails when the device
// cannot connect or the jobs service does not answer; on a test boot the caller then reboots
// (the update could not reach the fleet, so it is reverted).
Result<JobsOutcome> take_jobs(device::DeviceFolder& folder, const JobsSession& session);

}  // namespace ironroot::firmware
