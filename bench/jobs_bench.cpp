// Jobs throughput against a real ironrootd (embedded Mosquitto, broker plugin, SQLite store with
// synchronous=FULL) with thousands of connected lightweight devices (tests/support/jobs_swarm.hpp:
// one thread drives them all, each on the wire of AWS's Jobs library: notify-next, IN_PROGRESS,
// SUCCEEDED, each update a durable transaction before its reply).
//
// Measured: executions dispatched per minute (from CreateJob to the notification reaching each
// device) and completed per minute (to each device's SUCCEEDED accepted), with `jobs` rollouts
// running at once over disjoint groups, each at AWS's highest rate (maximumPerMinute 1000). Set
// against two yardsticks: AWS IoT's documented ceiling of 1,000 devices a minute, and, measured in
// the same run with the same devices and broker, the raw MQTT rate: every device sending two
// messages to itself through the broker one after the other (an execution's two updates, without
// the service).
//
// Writes one JSON document (scripts/bench turns it into docs/BENCHMARKS.md).
// Usage: jobs_bench OUT.json [devices] [jobs]
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <mutex>

#include "bulk_devices.hpp"
#include "claim_fleet.hpp"
#include "daemon.hpp"
#include "ironroot/core/file.hpp"
#include "operator_client.hpp"
#include "support/jobs_swarm.hpp"
#include "support/temp_dir.hpp"

namespace {

using namespace ironroot;
using namespace ironroot::testing;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr double kAwsDevicesPerMinute = 1000;

void require(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "jobs_bench: %s\n", what.c_str());
    std::exit(1);
  }
}

double per_minute(std::size_t count, Clock::time_point from, Clock::time_point to) {
  return static_cast<double>(count) * 60.0 / std::chrono::duration<double>(to - from).count();
}

std::string device_name(int group, int index) {
  return "jobs-" + std::to_string(group) + "-" + std::to_string(index);
}

// The yardstick: each device sends two messages to its own topic through the broker, the second
// once the first came back. Returns round trips per minute over all devices.
double raw_round_trips_per_minute(std::vector<SwarmDevice> devices, const SwarmOptions& options) {
  constexpr int kRounds = 2;
  std::vector<int> rounds(devices.size(), 0);
  std::mutex mutex;
  std::condition_variable done;
  std::size_t finished = 0;
  std::optional<Clock::time_point> last;
  DeviceSwarm::Handlers handlers;
  handlers.on_message = [&](DeviceSwarm& swarm, std::size_t device, const std::string& topic,
                            ByteView) {
    if (++rounds[device] < kRounds) {
      (void)swarm.publish(device, topic, Bytes(64, std::byte{0x5a}), 1);
      return;
    }
    std::lock_guard lock(mutex);
    ++finished;
    last = Clock::now();
    done.notify_all();
  };
  auto swarm = DeviceSwarm::start(devices, options, handlers);
  require(swarm.has_value(), swarm ? "" : swarm.error().message);
  for (std::size_t i = 0; i < devices.size(); ++i) {
    require((*swarm)->subscribe(i, "things/" + devices[i].client_id + "/echo", 1).has_value(),
            "subscribe");
  }
  require((*swarm)->wait_all_ready(300s),
          "the devices did not all connect: " + (*swarm)->stats().last_error);
  const auto start = Clock::now();
  for (std::size_t i = 0; i < devices.size(); ++i) {
    require(
        (*swarm)
            ->publish(i, "things/" + devices[i].client_id + "/echo", Bytes(64, std::byte{0x5a}), 1)
            .has_value(),
        "publish");
  }
  std::unique_lock lock(mutex);
  require(done.wait_for(lock, 300s, [&] { return finished == devices.size(); }),
          "the raw round trips did not all come back");
  return per_minute(devices.size() * kRounds, start, *last);
}

}  // namespace

int main(int argc, char** argv) {
  require(argc >= 2, "usage: jobs_bench OUT.json [devices] [jobs]");
  const int total = argc > 2 ? std::atoi(argv[2]) : 2000;
  const int jobs = argc > 3 ? std::atoi(argv[3]) : 2;
  require(total > 0 && jobs > 0 && total % jobs == 0,
          "devices must be a positive multiple of jobs");
  const int per_job = total / jobs;

  TempDir temp;
  ::chmod(temp.path().c_str(), 0755);  // Mosquitto runs as its own user
  const std::filesystem::path data = temp.path() / "data";
  ServicePorts ports;
  Daemon daemon(ports.args(data));
  require(daemon.wait_for_log("ironrootd is running"), "ironrootd did not start:\n" + daemon.log());
  OperatorClient api(ports.api, data);
  auto fleet = set_up_claim_fleet(api, data, temp.path());
  require(fleet.has_value(), fleet ? "" : fleet.error().message);
  std::vector<std::string> things;
  for (int g = 0; g < jobs; ++g) {
    for (int i = 0; i < per_job; ++i) things.push_back(device_name(g, i));
  }
  auto provisioned = provision_bulk_devices(things, ports.api, data, temp.path());
  require(provisioned.has_value(), provisioned ? "" : provisioned.error().message);
  std::vector<SwarmDevice> devices = std::move(*provisioned);

  SwarmOptions swarm_options;
  swarm_options.broker.port = ports.broker;
  swarm_options.broker.trusted = {
      *crypto::Certificate::from_pem(*read_file(data / "ca" / "root-ca.crt", 1 << 20))};
  const double raw = raw_round_trips_per_minute(devices, swarm_options);

  JobsSwarmOptions options;
  options.swarm = swarm_options;
  auto swarm = JobsSwarm::start(devices, options);
  require(swarm.has_value(), swarm ? "" : swarm.error().message);
  require((*swarm)->swarm().wait_all_ready(300s),
          "the devices did not all connect: " + (*swarm)->swarm().stats().last_error);

  std::vector<std::string> job_ids;
  const auto start = Clock::now();
  for (int g = 0; g < jobs; ++g) {
    const std::string group = "bench-" + std::to_string(g);
    auto made = api.request(
        "POST", "/v1/groups",
        {{"groupName", group}, {"queryString", "thingName:jobs-" + std::to_string(g) + "-*"}});
    require(made.status == 201, "group " + group + ": " + made.body.dump());
    job_ids.push_back("update-" + std::to_string(g));
    auto job = api.request("POST", "/v1/jobs",
                           {{"jobId", job_ids.back()},
                            {"document", {{"operation", "update"}, {"version", "1.1.0"}}},
                            {"targets", {{"groups", {group}}}},
                            {"jobExecutionsRolloutConfig", {{"maximumPerMinute", 1000}}}});
    require(job.status == 201, "job " + job_ids.back() + ": " + job.body.dump());
  }
  for (const std::string& id : job_ids) {
    require((*swarm)->wait_succeeded(id, static_cast<std::size_t>(per_job), 600s),
            id + ": only " + std::to_string((*swarm)->succeeded(id)) + " of " +
                std::to_string(per_job) + " succeeded");
  }
  Clock::time_point last_reached = start, last_succeeded = start;
  for (const std::string& id : job_ids) {
    for (const JobRun& run : (*swarm)->runs(id)) {
      if (run.reached) last_reached = std::max(last_reached, *run.reached);
      if (run.succeeded) last_succeeded = std::max(last_succeeded, *run.succeeded);
      require(run.accepted <= 1 && run.redelivered == 0, "an execution finished twice");
    }
  }
  for (const std::string& id : job_ids) {
    auto job = api.request("GET", "/v1/jobs/" + id);
    require(job.body.value("status", "") == "COMPLETED", id + " is " + job.body.dump());
  }
  const auto count = static_cast<std::size_t>(total);
  json result = {{"devices", total},
                 {"jobs", jobs},
                 {"aws_devices_per_minute", kAwsDevicesPerMinute},
                 {"raw_round_trips_per_minute", raw},
                 {"dispatched_per_minute", per_minute(count, start, last_reached)},
                 {"completed_per_minute", per_minute(count, start, last_succeeded)},
                 {"updates_rejected", (*swarm)->rejections()}};
  std::ofstream(argv[1]) << result.dump(2) << "\n";
  std::printf("%s\n", result.dump(2).c_str());
  return 0;
}
