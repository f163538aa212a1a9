#include "support/jobs_swarm.hpp"

#include <nlohmann/json.hpp>

namespace ironroot::testing {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// The clientTokens of the device's two updates, which tell their replies apart.
constexpr const char* kStarted = "started";
constexpr const char* kSucceeded = "succeeded";

Bytes payload_of(const json& message) {
  const std::string text = message.dump();
  const auto* data = reinterpret_cast<const std::byte*>(text.data());
  return Bytes(data, data + text.size());
}

}  // namespace

struct JobsSwarm::Device {
  std::string jobs_topic;                  // "$aws/things/<thing>/jobs/"
  std::optional<Clock::time_point> asked;  // a request still waiting for its reply
};

Result<std::unique_ptr<JobsSwarm>> JobsSwarm::start(std::vector<SwarmDevice> devices,
                                                    JobsSwarmOptions options) {
  std::unique_ptr<JobsSwarm> self(new JobsSwarm());
  self->options_ = options;
  self->devices_.resize(devices.size());
  for (std::size_t i = 0; i < devices.size(); ++i) {
    self->devices_[i].jobs_topic = "$aws/things/" + devices[i].client_id + "/jobs/";
  }
  JobsSwarm* raw = self.get();
  DeviceSwarm::Handlers handlers;
  handlers.on_connected = [raw](DeviceSwarm& s, std::size_t d) { raw->on_connected(s, d); };
  handlers.on_message = [raw](DeviceSwarm& s, std::size_t d, const std::string& topic,
                              ByteView payload) { raw->on_message(s, d, topic, payload); };
  handlers.on_tick = [raw](DeviceSwarm& s, Clock::time_point now) { raw->on_tick(s, now); };
  auto swarm = DeviceSwarm::start(std::move(devices), options.swarm, std::move(handlers));
  if (!swarm) return tl::unexpected(swarm.error());
  self->swarm_ = std::move(*swarm);
  for (std::size_t i = 0; i < self->devices_.size(); ++i) {
    if (auto ok = self->swarm_->subscribe(i, self->devices_[i].jobs_topic + "notify-next", 1);
        !ok) {
      return tl::unexpected(ok.error());
    }
  }
  return self;
}

JobsSwarm::~JobsSwarm() {
  swarm_.reset();
}

std::size_t JobsSwarm::succeeded(const std::string& job_id) const {
  std::lock_guard lock(mutex_);
  auto found = runs_.find(job_id);
  if (found == runs_.end()) return 0;
  std::size_t count = 0;
  for (const JobRun& run : found->second) count += run.successes > 0 ? 1 : 0;
  return count;
}

bool JobsSwarm::wait_succeeded(const std::string& job_id, std::size_t count,
                               std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] {
    auto found = runs_.find(job_id);
    if (found == runs_.end()) return count == 0;
    std::size_t done = 0;
    for (const JobRun& run : found->second) done += run.successes > 0 ? 1 : 0;
    return done >= count;
  });
}

std::vector<JobRun> JobsSwarm::runs(const std::string& job_id) const {
  std::lock_guard lock(mutex_);
  auto found = runs_.find(job_id);
  return found == runs_.end() ? std::vector<JobRun>(devices_.size()) : found->second;
}

std::uint64_t JobsSwarm::rejections() const {
  std::lock_guard lock(mutex_);
  return rejections_;
}

void JobsSwarm::on_connected(DeviceSwarm& swarm, std::size_t device) {
  ask_next(swarm, device);
}

void JobsSwarm::ask_next(DeviceSwarm& swarm, std::size_t device) {
  Device& d = devices_[device];
  d.asked = Clock::now();
  // Refused only for a full queue; the next tick asks again.
  (void)swarm.publish(device, d.jobs_topic + "$next/get", payload_of({{"clientToken", "next"}}));
}

void JobsSwarm::on_tick(DeviceSwarm& swarm, Clock::time_point now) {
  for (std::size_t i = 0; i < devices_.size(); ++i) {
    if (devices_[i].asked && now - *devices_[i].asked >= options_.request_timeout) {
      ask_next(swarm, i);
    }
  }
}

void JobsSwarm::on_message(DeviceSwarm& swarm, std::size_t device, const std::string& topic,
                           ByteView payload) {
  Device& d = devices_[device];
  if (!topic.starts_with(d.jobs_topic)) return;
  const std::string api = topic.substr(d.jobs_topic.size());
  if (api.ends_with("/accepted") || api.ends_with("/rejected")) d.asked.reset();
  const json body = json::parse(as_chars(payload), nullptr, false);
  if (!body.is_object()) return;

  if (api == "notify-next" || api == "$next/get/accepted") {
    const json execution = body.value("execution", json());
    if (!execution.is_object()) return;
    take(swarm, device, execution.value("jobId", ""), execution.value("status", ""),
         execution.value("versionNumber", std::int64_t{0}));
  } else if (api.ends_with("/update/accepted")) {
    const std::string job_id = api.substr(0, api.size() - std::string("/update/accepted").size());
    const std::string token = body.value("clientToken", "");
    if (token == kStarted) {
      const std::int64_t version =
          body.value("/executionState/versionNumber"_json_pointer, std::int64_t{0});
      take(swarm, device, job_id, "IN_PROGRESS", version);
    } else if (token == kSucceeded) {
      std::lock_guard lock(mutex_);
      auto& runs = runs_.try_emplace(job_id, devices_.size()).first->second;
      JobRun& run = runs[device];
      if (++run.successes == 1) run.succeeded = Clock::now();
      changed_.notify_all();
    }
  } else if (api.ends_with("/update/rejected")) {
    {
      std::lock_guard lock(mutex_);
      ++rejections_;
    }
    ask_next(swarm, device);  // find out where the execution stands
  }
}

void JobsSwarm::take(DeviceSwarm& swarm, std::size_t device, const std::string& job_id,
                     const std::string& status, std::int64_t version) {
  {
    std::lock_guard lock(mutex_);
    auto& runs = runs_.try_emplace(job_id, devices_.size()).first->second;
    JobRun& run = runs[device];
    if (!run.reached) run.reached = Clock::now();
    if (run.successes > 0) {
      ++run.redelivered;  // a finished execution must never come back
      changed_.notify_all();
      return;
    }
  }
  json update;
  if (status == "QUEUED") {
    update = {{"status", "IN_PROGRESS"},
              {"expectedVersion", version},
              {"includeJobExecutionState", true},
              {"clientToken", kStarted}};
  } else if (status == "IN_PROGRESS") {
    update = {{"status", "SUCCEEDED"}, {"expectedVersion", version}, {"clientToken", kSucceeded}};
  } else {
    return;
  }
  Device& d = devices_[device];
  d.asked = Clock::now();
  (void)swarm.publish(device, d.jobs_topic + job_id + "/update", payload_of(update));
}

}  // namespace ironroot::testing
