#include "support/jobs_swarm.hpp"

#include <algorithm>
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
  std::string jobs_topic;  // "$aws/things/<thing>/jobs/"
  // The request still waiting for its reply, and when it was sent.
  std::optional<Clock::time_point> asked;
  std::string request_topic;
  Bytes request;
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
  return static_cast<std::size_t>(
      std::count_if(found->second.begin(), found->second.end(),
                    [](const JobRun& run) { return run.succeeded.has_value(); }));
}

bool JobsSwarm::wait_succeeded(const std::string& job_id, std::size_t count,
                               std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] {
    auto found = runs_.find(job_id);
    if (found == runs_.end()) return count == 0;
    const auto done = std::count_if(found->second.begin(), found->second.end(),
                                    [](const JobRun& run) { return run.succeeded.has_value(); });
    return static_cast<std::size_t>(done) >= count;
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
  Device& d = devices_[device];
  if (d.asked) {
    send(swarm, device, d.request_topic, d.request);  // its reply went with the connection
  } else {
    ask_next(swarm, device);
  }
}

void JobsSwarm::send(DeviceSwarm& swarm, std::size_t device, std::string topic, Bytes payload) {
  Device& d = devices_[device];
  d.asked = Clock::now();
  d.request_topic = topic;
  d.request = payload;
  // Refused only for a full queue; the request is sent again when it goes unanswered.
  (void)swarm.publish(device, std::move(topic), std::move(payload));
}

void JobsSwarm::ask_next(DeviceSwarm& swarm, std::size_t device) {
  send(swarm, device, devices_[device].jobs_topic + "$next/get",
       payload_of({{"clientToken", "next"}}));
}

void JobsSwarm::on_tick(DeviceSwarm& swarm, Clock::time_point now) {
  for (std::size_t i = 0; i < devices_.size(); ++i) {
    Device& d = devices_[i];
    if (d.asked && now - *d.asked >= options_.request_timeout) {
      send(swarm, i, d.request_topic, d.request);
    }
  }
}

void JobsSwarm::confirm(const std::string& job_id, std::size_t device, bool accepted) {
  std::lock_guard lock(mutex_);
  JobRun& run = runs_.try_emplace(job_id, devices_.size()).first->second[device];
  if (accepted) ++run.accepted;
  if (!run.succeeded) run.succeeded = Clock::now();
  changed_.notify_all();
}

void JobsSwarm::on_message(DeviceSwarm& swarm, std::size_t device, const std::string& topic,
                           ByteView payload) {
  Device& d = devices_[device];
  if (!topic.starts_with(d.jobs_topic)) return;
  const std::string api = topic.substr(d.jobs_topic.size());
  const bool accepted = api.ends_with("/accepted");
  const bool rejected = api.ends_with("/rejected");
  if (accepted || rejected) d.asked.reset();
  const json body = json::parse(as_chars(payload), nullptr, false);
  if (!body.is_object()) return;

  if (api == "notify-next" || api == "$next/get/accepted") {
    const json execution = body.value("execution", json());
    if (!execution.is_object()) return;
    take(swarm, device, execution.value("jobId", ""), execution.value("status", ""),
         execution.value("versionNumber", std::int64_t{0}));
    return;
  }
  const std::string suffix = accepted ? "/update/accepted" : "/update/rejected";
  if (!api.ends_with(suffix)) return;  // $next/get rejected: asked again when it times out
  const std::string job_id = api.substr(0, api.size() - suffix.size());
  const json state = body.value("executionState", json());
  if (rejected) {
    std::lock_guard lock(mutex_);
    ++rejections_;
  }
  if (accepted && body.value("clientToken", "") == kSucceeded) {
    confirm(job_id, device, true);
  } else if (state.is_object() && state.value("status", "") == "SUCCEEDED") {
    confirm(job_id, device, false);  // an earlier SUCCEEDED landed; its reply was lost
  } else if (state.is_object()) {
    // The accepted IN_PROGRESS (asked with includeJobExecutionState), or a rejection that says
    // where the execution stands: carry on from there.
    take(swarm, device, job_id, state.value("status", ""),
         state.value("versionNumber", std::int64_t{0}));
  } else {
    ask_next(swarm, device);
  }
}

void JobsSwarm::take(DeviceSwarm& swarm, std::size_t device, const std::string& job_id,
                     const std::string& status, std::int64_t version) {
  {
    std::lock_guard lock(mutex_);
    JobRun& run = runs_.try_emplace(job_id, devices_.size()).first->second[device];
    if (!run.reached) run.reached = Clock::now();
    if (run.succeeded && (status == "QUEUED" || status == "IN_PROGRESS")) {
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
  send(swarm, device, devices_[device].jobs_topic + job_id + "/update", payload_of(update));
}

}  // namespace ironroot::testing
