// Simulated devices that run every job they are given, on a DeviceSwarm (device_swarm.hpp): what
// the jobs crash test and the jobs benchmark drive by the thousand. Each device behaves on the wire
// as devices built on AWS's Jobs library do: it subscribes to its notify-next topic, asks
// $next/get without subscribing to the replies (AWS IoT, and ironroot's broker plugin, deliver them
// to the requester anyway), moves a QUEUED execution to IN_PROGRESS, then to SUCCEEDED, each with
// expectedVersion, and resumes an IN_PROGRESS one it is given. A request that goes unanswered for a
// while, or whose connection ended, is sent again as it was; a rejected update that carries the
// execution's state is taken from there (an IN_PROGRESS one is finished, a SUCCEEDED one means the
// device's earlier update landed), any other rejection makes it ask $next/get.
//
// It records, per device and job, when the job first reached it, how many of its SUCCEEDED updates
// were accepted, when the service confirmed the SUCCEEDED (accepted, or rejected as already
// SUCCEEDED after a lost reply), and whether the job came back after that: what "every execution
// finishes exactly once" is checked against.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "ironroot/core/result.hpp"
#include "support/device_swarm.hpp"

namespace ironroot::testing {

// One device's history with one job.
struct JobRun {
  using Clock = std::chrono::steady_clock;
  std::optional<Clock::time_point> reached;    // the job's execution first reached the device
  std::optional<Clock::time_point> succeeded;  // the service first confirmed its SUCCEEDED
  int accepted = 0;     // SUCCEEDED updates accepted (at most 1: a second would be a duplicate)
  int redelivered = 0;  // times the job came back after it succeeded
};

struct JobsSwarmOptions {
  SwarmOptions swarm;
  // A device whose request has had no reply for this long asks $next/get again.
  std::chrono::milliseconds request_timeout{5000};
};

class JobsSwarm {
 public:
  // Starts the devices (DeviceSwarm::start, with its failures) and subscribes each to its
  // notify-next topic.
  static Result<std::unique_ptr<JobsSwarm>> start(std::vector<SwarmDevice> devices,
                                                  JobsSwarmOptions options);
  ~JobsSwarm();  // stops the devices first

  DeviceSwarm& swarm() { return *swarm_; }

  // Devices whose SUCCEEDED of `job_id` the service confirmed.
  std::size_t succeeded(const std::string& job_id) const;
  // Waits until the service confirmed at least `count` devices' SUCCEEDED of `job_id`.
  bool wait_succeeded(const std::string& job_id, std::size_t count,
                      std::chrono::milliseconds timeout) const;
  // Every device's run of `job_id`, by device index (a device the job never reached has an
  // empty run).
  std::vector<JobRun> runs(const std::string& job_id) const;
  // Updates the service rejected (VersionMismatch, InvalidStateTransition, ...), after which the
  // device carried on from the execution state the rejection gave, or asked $next/get.
  std::uint64_t rejections() const;

 private:
  struct Device;
  JobsSwarm() = default;

  void on_connected(DeviceSwarm& swarm, std::size_t device);
  void on_message(DeviceSwarm& swarm, std::size_t device, const std::string& topic,
                  ByteView payload);
  void on_tick(DeviceSwarm& swarm, std::chrono::steady_clock::time_point now);
  void ask_next(DeviceSwarm& swarm, std::size_t device);
  void send(DeviceSwarm& swarm, std::size_t device, std::string topic, Bytes payload);
  void take(DeviceSwarm& swarm, std::size_t device, const std::string& job_id,
            const std::string& status, std::int64_t version);
  void confirm(const std::string& job_id, std::size_t device, bool accepted);

  JobsSwarmOptions options_;
  std::vector<Device> devices_;  // touched by the swarm's thread only
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::map<std::string, std::vector<JobRun>> runs_;  // by job id, then device
  std::uint64_t rejections_ = 0;
  std::unique_ptr<DeviceSwarm> swarm_;  // last: stopped first
};

}  // namespace ironroot::testing
