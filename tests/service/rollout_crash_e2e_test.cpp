// Issue 6's durability acceptance: ironrootd is killed with SIGKILL in the middle of a rollout to
// 500 devices, and restarted on the same data. Every execution must then finish exactly once: each
// device's SUCCEEDED is accepted once, no finished execution comes back, none is lost or stuck,
// and the store holds one SUCCEEDED execution per thing. The devices are a JobsSwarm (simulated
// devices on the wire of AWS's Jobs library), identities from `ironroot provision bulk`.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "bulk_devices.hpp"
#include "claim_fleet_fixture.hpp"
#include "support/jobs_swarm.hpp"

namespace ironroot::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr int kDevices = 500;
constexpr std::size_t kKillAfter = 150;  // successes confirmed before ironrootd is killed
const std::string kJob = "fleet-update";

using RolloutCrash = ClaimFleetTest;

TEST_F(RolloutCrash, KilledMidRolloutEveryExecutionFinishesExactlyOnce) {
  std::vector<std::string> things;
  for (int i = 0; i < kDevices; ++i) things.push_back("crash-" + std::to_string(i));
  auto devices = provision_bulk_devices(things, ports_.api, data_, temp_.path());
  ASSERT_TRUE(devices) << devices.error().message;
  call("POST", "/v1/groups", {{"groupName", "fleet"}, {"queryString", "thingName:crash-*"}}, 201);

  JobsSwarmOptions options;
  options.swarm.broker = broker_;
  auto swarm = JobsSwarm::start(std::move(*devices), options);
  ASSERT_TRUE(swarm) << swarm.error().message;
  ASSERT_TRUE((*swarm)->swarm().wait_all_ready(120s)) << (*swarm)->swarm().stats().last_error;

  // An exponential rollout, so that the kill finds things dispatched, running, done, and not
  // dispatched yet: 100 a minute, doubled for every 100 that succeed.
  call("POST", "/v1/jobs",
       {{"jobId", kJob},
        {"document", {{"operation", "update"}, {"version", "1.1.0"}}},
        {"targets", {{"groups", {"fleet"}}}},
        {"jobExecutionsRolloutConfig",
         {{"exponentialRate",
           {{"baseRatePerMinute", 100},
            {"incrementFactor", 2},
            {"rateIncreaseCriteria", {{"numberOfSucceededThings", 100}}}}}}}},
       201);
  ASSERT_TRUE((*swarm)->wait_succeeded(kJob, kKillAfter, 120s)) << daemon_->log();
  EXPECT_EQ(daemon_->kill(SIGKILL), 128 + SIGKILL);
  const std::size_t before = (*swarm)->succeeded(kJob);
  ASSERT_LT(before, static_cast<std::size_t>(kDevices)) << "the rollout ended before the kill";

  // Restarted on the same data; the devices reconnect to the new broker and carry on.
  daemon_ = std::make_unique<Daemon>(ports_.args(data_));
  ASSERT_TRUE(daemon_->wait_for_log("ironrootd is running")) << daemon_->log() << broker_log();
  if (!(*swarm)->wait_succeeded(kJob, kDevices, 180s)) {
    // Where the others stand, for the failure report.
    std::string stuck;
    for (const json& execution : list_all("/v1/jobs/" + kJob + "/executions")) {
      if (execution.value("status", "") != "SUCCEEDED") stuck += execution.dump() + "\n";
    }
    const SwarmStats stats = (*swarm)->swarm().stats();
    FAIL() << (*swarm)->succeeded(kJob) << " of " << kDevices << " succeeded; not SUCCEEDED:\n"
           << stuck << "swarm: " << stats.connected << " connected, " << stats.messages_dropped
           << " messages dropped, last error " << stats.last_error;
  }

  // The restarted service took the rollout up where the store said it was.
  EXPECT_TRUE(daemon_->wait_for_log("job " + kJob + ": dispatched", 1s)) << daemon_->log();

  const std::vector<JobRun> runs = (*swarm)->runs(kJob);
  for (std::size_t i = 0; i < runs.size(); ++i) {
    EXPECT_TRUE(runs[i].succeeded) << "device " << i;
    EXPECT_LE(runs[i].accepted, 1) << "device " << i << ": its SUCCEEDED was accepted twice";
    EXPECT_EQ(runs[i].redelivered, 0) << "device " << i << ": its finished execution came back";
  }
  const json job = call("GET", "/v1/jobs/" + kJob);
  EXPECT_EQ(job.value("status", ""), "COMPLETED") << job.dump();
  EXPECT_EQ(job.value("/jobProcessDetails/numberOfSucceededThings"_json_pointer, -1), kDevices)
      << job.dump();
  const std::vector<json> executions = list_all("/v1/jobs/" + kJob + "/executions");
  ASSERT_EQ(executions.size(), static_cast<std::size_t>(kDevices));
  for (const json& execution : executions) {
    EXPECT_EQ(execution.value("status", ""), "SUCCEEDED") << execution.dump();
    EXPECT_EQ(execution.value("executionNumber", 0), 1) << execution.dump();
  }
  std::cout << before << " of " << kDevices << " had succeeded at the kill; "
            << (*swarm)->rejections() << " updates were rejected on the way (and re-synced)\n";
}

}  // namespace
}  // namespace ironroot::testing
