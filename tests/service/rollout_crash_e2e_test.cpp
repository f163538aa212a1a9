// Issue 6's durability acceptance: ironrootd is killed with SIGKILL in the middle of a rollout to
// 500 devices, and restarted on the same data. Every execution must then finish exactly once: each
// device's SUCCEEDED is accepted once, no finished execution comes back, none is lost or stuck,
// and the store holds one SUCCEEDED execution per thing. The devices are a JobsSwarm (simulated
// devices on the wire of AWS's Jobs library), identities from `ironroot provision bulk`.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "claim_fleet.hpp"
#include "ironroot/core/file.hpp"
#include "service_fixture.hpp"
#include "support/jobs_swarm.hpp"
#include "support/process.hpp"

namespace ironroot::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

constexpr int kDevices = 500;
constexpr std::size_t kKillAfter = 150;  // successes the devices saw before ironrootd is killed
const std::string kJob = "fleet-update";

class RolloutCrash : public ServiceTest {
 protected:
  // kDevices things crash-<i> with their bundles (key, certificate) made by the CLI.
  std::vector<SwarmDevice> provision_devices() {
    const fs::path csv = temp_.path() / "devices.csv";
    {
      std::ofstream out(csv);
      out << "ThingName,SerialNumber\n";
      for (int i = 0; i < kDevices; ++i) out << "crash-" << i << ",C" << i << "\n";
    }
    const fs::path bundles = temp_.path() / "bundles";
    const ProcessResult made =
        run_process({IRONROOT_CLI, "--json", "provision", "bulk", "--template", "AcmeFleet",
                     "--out", bundles.string(), csv.string()},
                    {"IRONROOT_SERVER=http://127.0.0.1:" + std::to_string(ports_.api),
                     "IRONROOT_DATA_DIR=" + data_.string()});
    EXPECT_EQ(made.exit_code, 0) << made.out << made.err;
    std::vector<SwarmDevice> devices;
    for (int i = 0; i < kDevices; ++i) {
      const std::string thing = "crash-" + std::to_string(i);
      auto pem = read_file(bundles / thing / "certificate.pem", 65536);
      EXPECT_TRUE(pem) << thing;
      if (!pem) return {};
      auto certificate = crypto::Certificate::from_pem(*pem);
      EXPECT_TRUE(certificate) << thing;
      if (!certificate) return {};
      devices.push_back({thing, {*certificate, bundles / thing / "private-key.pem"}});
    }
    return devices;
  }

  // Every item of a paged list route.
  std::vector<json> list_all(const std::string& route) {
    std::vector<json> items;
    std::string next;
    do {
      json page = call("GET", route + "?limit=250" + (next.empty() ? "" : "&next=" + next));
      for (auto& item : page["items"]) items.push_back(item);
      next = page.value("next", "");
    } while (!next.empty());
    return items;
  }
};

TEST_F(RolloutCrash, KilledMidRolloutEveryExecutionFinishesExactlyOnce) {
  ASSERT_TRUE(set_up_claim_fleet(OperatorClient(ports_.api, data_), data_, temp_.path()));
  std::vector<SwarmDevice> devices = provision_devices();
  ASSERT_EQ(devices.size(), static_cast<std::size_t>(kDevices));
  call("POST", "/v1/groups", {{"groupName", "fleet"}, {"queryString", "thingName:crash-*"}}, 201);

  JobsSwarmOptions options;
  options.swarm.broker = {"127.0.0.1", ports_.broker, "localhost", {broker_root()}};
  auto swarm = JobsSwarm::start(std::move(devices), options);
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
  ASSERT_TRUE((*swarm)->wait_succeeded(kJob, kDevices, 180s))
      << (*swarm)->succeeded(kJob) << " of " << kDevices << " succeeded\n"
      << daemon_->log();

  // The restarted service took the rollout up where the store said it was.
  EXPECT_TRUE(daemon_->wait_for_log("job " + kJob + ": dispatched", 1s)) << daemon_->log();

  const std::vector<JobRun> runs = (*swarm)->runs(kJob);
  for (std::size_t i = 0; i < runs.size(); ++i) {
    EXPECT_EQ(runs[i].successes, 1) << "device " << i;
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
