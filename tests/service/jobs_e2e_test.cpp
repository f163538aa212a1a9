// Issue 6 against the real ironrootd (embedded Mosquitto, broker plugin, jobs store, rollout
// engine): devices provisioned by claim run the device jobs client (libs/agent), which asks
// $next/get without subscribing to its replies, as AWS's libraries do; the operator uses the
// REST API. Also the device API's documented rejections, a continuous job reaching a device that
// joins its group later, an abort at its threshold, and a rollout group's pause gate.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "ironroot/agent/jobs_client.hpp"
#include "jobs_fleet.hpp"

namespace ironroot::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

// Runs jobs whose document says {"operation": "blink"}; fails those that also say "fail": true.
class BlinkHandler final : public agent::JobHandler {
 public:
  agent::JobOutcome handle(const protocol::JobExecution& job,
                           agent::JobProgress& progress) override {
    if (!progress.report({{"step", "blinking"}})) return agent::JobOutcome::failed();
    if (job.job_document && job.job_document->value("fail", false)) {
      return agent::JobOutcome::failed({{"reason", "the lamp is broken"}});
    }
    return agent::JobOutcome::succeeded({{"blinked", "3"}});
  }
};

// A provisioned device with its jobs client.
struct JobsDevice {
  std::string thing;
  FileIdentity identity;
  std::unique_ptr<agent::MqttJobsConnection> connection;
  std::unique_ptr<agent::CurrentJobFile> store;
  std::unique_ptr<agent::JobsClient> client;  // last: it goes first
};

class JobsE2E : public JobsFleetTest {
 protected:
  // Provisions `thing` by claim into group lamps and, unless `with_client` is false, connects its
  // jobs client (as client id `thing`, the only one its policy allows).
  JobsDevice device(const std::string& thing, bool with_client = true) {
    auto identity = provision(thing);
    EXPECT_TRUE(identity);
    if (!with_client) return JobsDevice{thing, *identity, nullptr, nullptr, nullptr};
    auto options = device_client_options(broker_, *identity, thing);
    EXPECT_TRUE(options);
    auto connection = agent::MqttJobsConnection::create(std::move(*options));
    EXPECT_TRUE(connection) << (connection ? "" : connection.error().message);
    EXPECT_TRUE((*connection)->client().wait_connected(30s));
    agent::JobsClientSettings settings;
    settings.thing_name = thing;
    JobsDevice made{thing, *identity, std::move(*connection),
                    std::make_unique<agent::CurrentJobFile>(temp_.path() / (thing + ".job")),
                    nullptr};
    auto client = agent::JobsClient::create(settings, *made.connection, *made.store);
    EXPECT_TRUE(client) << (client ? "" : client.error().message);
    (*client)->register_handler("blink", std::make_shared<BlinkHandler>());
    made.client = std::move(*client);
    return made;
  }

  // Each device runs its next job (in parallel); returns the final statuses.
  std::vector<std::optional<protocol::JobExecutionStatus>> run_next(
      std::vector<JobsDevice>& devices) {
    std::vector<std::optional<protocol::JobExecutionStatus>> statuses(devices.size());
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < devices.size(); ++i) {
      threads.emplace_back([&, i] {
        auto report = devices[i].client->run_next_job(60s);
        EXPECT_TRUE(report) << devices[i].thing << ": " << (report ? "" : report.error().message);
        if (report && *report) statuses[i] = (*report)->final_status;
      });
    }
    for (auto& thread : threads) thread.join();
    return statuses;
  }
};

TEST_F(JobsE2E, DevicesRunAJobToCompletionWithoutSubscribingToReplies) {
  std::vector<JobsDevice> devices;
  for (int i = 0; i < 4; ++i) devices.push_back(device("lamp-" + std::to_string(i)));
  call("POST", "/v1/jobs",
       {{"jobId", "blink-1"},
        {"document", {{"operation", "blink"}}},
        {"targets", {{"groups", {"lamps"}}}}},
       201);
  for (const auto& status : run_next(devices)) {
    EXPECT_EQ(status, protocol::JobExecutionStatus::succeeded);
  }
  const json done = job("blink-1");
  EXPECT_EQ(done.value("status", ""), "COMPLETED") << done.dump();
  EXPECT_EQ(done.value("/jobProcessDetails/numberOfSucceededThings"_json_pointer, -1), 4)
      << done.dump();
  const json execution = call("GET", "/v1/jobs/blink-1/things/lamp-0");
  EXPECT_EQ(execution.value("/statusDetails/detailsMap/blinked"_json_pointer, ""), "3")
      << execution.dump();
}

TEST_F(JobsE2E, TheDeviceApiRejectsAsAwsDocuments) {
  JobsDevice lamp = device("lamp-1", false);
  call("POST", "/v1/jobs",
       {{"jobId", "blink-2"},
        {"document", {{"operation", "blink"}}},
        {"targets", {{"things", {"lamp-1"}}}}},
       201);
  auto session = RequestSession::open(broker_, lamp.identity, "lamp-1");
  ASSERT_TRUE(session) << session.error().message;
  const std::string jobs = "$aws/things/lamp-1/jobs/";
  auto rejected = [&](const std::string& topic, const std::string& payload,
                      const std::string& code) -> json {
    auto reply = (*session)->ask(topic, as_bytes(payload), 30s);
    EXPECT_TRUE(reply) << reply.error().message;
    if (!reply) return nullptr;
    EXPECT_FALSE(reply->accepted) << topic;
    const json error = json::parse(as_chars(reply->payload), nullptr, false);
    EXPECT_EQ(error.value("code", ""), code) << error.dump();
    EXPECT_TRUE(error.contains("message") && error.contains("timestamp")) << error.dump();
    return error;
  };
  rejected(jobs + "no-such-job/get", R"({"clientToken": "t1"})", "ResourceNotFound");
  const json invalid = rejected(jobs + "blink-2/update", "{not json", "InvalidJson");
  // The execution: dispatched to the device, then moved on by it.
  auto started = (*session)->ask(jobs + "start-next", as_bytes(R"({"clientToken": "t2"})"), 30s);
  ASSERT_TRUE(started && started->accepted);
  const json execution = json::parse(as_chars(started->payload))["execution"];
  EXPECT_EQ(execution["jobId"], "blink-2");
  EXPECT_EQ(json::parse(as_chars(started->payload))["clientToken"], "t2");
  const int version = execution["versionNumber"];
  const json mismatch = rejected(
      jobs + "blink-2/update",
      json{{"status", "IN_PROGRESS"}, {"expectedVersion", version + 5}, {"clientToken", "t3"}}
          .dump(),
      "VersionMismatch");
  EXPECT_EQ(mismatch.value("clientToken", ""), "t3");
  EXPECT_EQ(mismatch.value("/executionState/versionNumber"_json_pointer, -1), version)
      << mismatch.dump();
  auto done = (*session)->ask(jobs + "blink-2/update", as_bytes(R"({"status": "SUCCEEDED"})"), 30s);
  ASSERT_TRUE(done && done->accepted);
  rejected(jobs + "blink-2/update", R"({"status": "IN_PROGRESS"})", "InvalidStateTransition");

  // Another device's execution is not reachable: the broker refuses the request.
  JobsDevice other = device("lamp-2", false);
  auto intruder = connect_device(broker_, other.identity, "lamp-2");
  ASSERT_TRUE(intruder);
  ASSERT_TRUE((*intruder)->publish(jobs + "blink-2/get", as_bytes("{}"), 1));
  ASSERT_TRUE(
      (*intruder)->wait_until([](const mqtt::ClientStats& s) { return s.queued == 0; }, 20s));
  EXPECT_TRUE(
      contains(broker_log(), "no policy allows iot:Publish on topic/" + jobs + "blink-2/get"))
      << broker_log();
}

TEST_F(JobsE2E, AContinuousJobReachesADeviceThatJoinsItsGroupLater) {
  std::vector<JobsDevice> first;
  first.push_back(device("lamp-1"));
  call("POST", "/v1/jobs",
       {{"jobId", "blink-c"},
        {"document", {{"operation", "blink"}}},
        {"targets", {{"groups", {"lamps"}}}},
        {"targetSelection", "CONTINUOUS"}},
       201);
  EXPECT_EQ(run_next(first)[0], protocol::JobExecutionStatus::succeeded);
  std::vector<JobsDevice> later;
  later.push_back(device("lamp-9"));  // joins the group now
  EXPECT_EQ(run_next(later)[0], protocol::JobExecutionStatus::succeeded);
  const json running = job("blink-c");
  EXPECT_EQ(running["status"], "IN_PROGRESS") << "a continuous job goes on";
  EXPECT_EQ(running.value("/jobProcessDetails/numberOfSucceededThings"_json_pointer, -1), 2)
      << running.dump();
}

TEST_F(JobsE2E, AnAbortFiresAtItsThreshold) {
  // Four things notified at once; two run the job and fail: 50 % of the notified things, at
  // least two executed. The other two never get to it.
  std::vector<JobsDevice> running;
  for (int i = 0; i < 2; ++i) running.push_back(device("lamp-" + std::to_string(i)));
  for (int i = 2; i < 4; ++i) device("idle-" + std::to_string(i), false);
  call("POST", "/v1/jobs",
       {{"jobId", "broken"},
        {"document", {{"operation", "blink"}, {"fail", true}}},
        {"targets", {{"groups", {"lamps"}}}},
        {"abortConfig",
         {{"criteriaList",
           {{{"failureType", "FAILED"},
             {"action", "CANCEL"},
             {"thresholdPercentage", 50},
             {"minNumberOfExecutedThings", 2}}}}}}},
       201);
  ASSERT_TRUE(daemon_->wait_for_log("job broken: dispatched 4")) << daemon_->log();
  for (const auto& status : run_next(running)) {
    EXPECT_EQ(status, protocol::JobExecutionStatus::failed);
  }
  ASSERT_TRUE(daemon_->wait_for_log("job broken: canceled (ROLLOUT_ABORTED)")) << daemon_->log();
  const json aborted = job("broken");
  EXPECT_EQ(aborted.value("status", ""), "CANCELED") << aborted.dump();
  EXPECT_EQ(aborted.value("reasonCode", ""), "ROLLOUT_ABORTED") << aborted.dump();
  EXPECT_EQ(aborted.value("/jobProcessDetails/numberOfCanceledThings"_json_pointer, -1), 2)
      << aborted.dump();
}

TEST_F(JobsE2E, APauseGateHoldsTheNextGroupUntilApproved) {
  std::vector<JobsDevice> devices;
  for (int i = 0; i < 4; ++i) devices.push_back(device("lamp-" + std::to_string(i)));
  call("POST", "/v1/jobs",
       {{"jobId", "staged"},
        {"document", {{"operation", "blink"}}},
        {"targets", {{"groups", {"lamps"}}}},
        {"rolloutGroups",
         {{{"name", "canary"}, {"targetPercentage", 50}, {"successThresholdPercentage", 100}},
          {{"name", "rest"},
           {"targetPercentage", 50},
           {"successThresholdPercentage", 100},
           {"pauseBefore", true}}}}},
       201);
  // The canary half gets the job; the other half sees nothing pending.
  ASSERT_TRUE(daemon_->wait_for_log("job staged: dispatched 2")) << daemon_->log();
  std::vector<JobsDevice> canary, rest;
  for (auto& device : devices) {
    const json execution = call("GET", "/v1/jobs/staged/things/" + device.thing);
    (execution.contains("dispatchedAt") ? canary : rest).push_back(std::move(device));
  }
  ASSERT_EQ(canary.size(), 2u);
  for (const auto& status : run_next(canary)) {
    EXPECT_EQ(status, protocol::JobExecutionStatus::succeeded);
  }
  ASSERT_TRUE(daemon_->wait_for_log("job staged: awaiting approval")) << daemon_->log();
  EXPECT_EQ(job("staged").value("/jobProcessDetails/numberOfQueuedThings"_json_pointer, -1), 2);
  call("POST", "/v1/jobs/staged/approve", {{"group", "rest"}});
  for (const auto& status : run_next(rest)) {
    EXPECT_EQ(status, protocol::JobExecutionStatus::succeeded);
  }
  EXPECT_EQ(job("staged").value("status", ""), "COMPLETED");
}

}  // namespace
}  // namespace ironroot::testing
