// `ironroot jobs` end to end: the real binary, run as a process, against the real REST API served
// in this test process over a real SQLite registry and jobs store; a second JobStore on the same
// file plays the service's rollout and the devices.
#include <gtest/gtest.h>

#include <future>

#include "fleet_cli.hpp"
#include "ironroot/fleet/jobs.hpp"

namespace ironroot::testing {
namespace {

using fleet::JobStore;
using fleet::RestApiOptions;
using fleet::testing::RestApiServer;
using nlohmann::json;
using protocol::JobExecutionStatus;

class CliJobs : public ::testing::Test {
 protected:
  CliJobs()
      : server_(RestApiServer::WithDatabase{},
                [this](fleet::Registry&, const std::filesystem::path& database) {
                  auto store = JobStore::open(database);
                  if (!store) throw std::runtime_error(store.error().message);
                  api_jobs_.emplace(std::move(*store));
                  RestApiOptions options;
                  options.jobs = &*api_jobs_;
                  return options;
                }) {
    auto store = JobStore::open(server_.database());
    if (!store) throw std::runtime_error(store.error().message);
    service_.emplace(std::move(*store));
    document_ = write("ota.json", R"({"operation":"update","version":"2.0.0"})");
  }

  ProcessResult run(std::vector<std::string> args) { return run_against(server_, args); }
  json run_json(std::vector<std::string> args) { return run_json_against(server_, args); }
  std::string write(const std::string& name, const std::string& text) {
    return write_text(dir_, name, text);
  }
  void make_things(const std::vector<std::string>& names) {
    for (const std::string& name : names) {
      ASSERT_TRUE(server_.registry().create_thing("test", {name, {}, {}, {}}));
    }
  }
  void create(const std::string& id, const std::string& targets) {
    ProcessResult r =
        run({"jobs", "create", "--job-id", id, "--document", document_, "--targets", targets});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  void dispatch_all(const std::string& job_id) {
    auto waiting = service_->undispatched(job_id, fleet::kMaxPageLimit);
    ASSERT_TRUE(waiting);
    ASSERT_TRUE(service_->dispatch("rollout", job_id, *waiting));
  }
  void device_runs(const std::string& thing, const std::string& job_id,
                   std::optional<JobExecutionStatus> status) {
    ASSERT_TRUE(service_->start_next(thing, {}));
    if (!status) return;
    protocol::UpdateJobExecutionRequest update;
    update.status = *status;
    ASSERT_TRUE(service_->update(thing, job_id, update));
  }
  std::size_t job_count() {
    auto listed = service_->list_jobs({}, fleet::Page{fleet::kMaxPageLimit, ""});
    EXPECT_TRUE(listed);
    return listed ? listed->items.size() : 0;
  }

  TempDir dir_;
  std::optional<JobStore> api_jobs_;
  RestApiServer server_;
  std::optional<JobStore> service_;
  std::string document_;
};

TEST_F(CliJobs, CreateWithRolloutOptionsThenListAndDescribe) {
  make_things({"a", "b", "c"});
  ASSERT_TRUE(server_.registry().create_group("test", {"hall", "", {}}));
  ASSERT_TRUE(server_.registry().add_to_group("test", "hall", "c"));
  const std::string groups = write("groups.json", R"([
    {"name": "canary", "targetPercentage": 34, "successThresholdPercentage": 100},
    {"name": "rest", "targetPercentage": 66, "successThresholdPercentage": 0,
     "pauseBefore": true}])");
  json created = run_json({"jobs",
                           "create",
                           "--job-id",
                           "ota-1",
                           "--document",
                           document_,
                           "--targets",
                           "thing:a,thing:b",
                           "--targets",
                           "group:hall",
                           "--description",
                           "firmware 2.0.0",
                           "--max-per-minute",
                           "10",
                           "--abort",
                           "FAILED:10%:5",
                           "--abort",
                           "TIMED_OUT:12.5:8",
                           "--retry",
                           "FAILED:2",
                           "--in-progress-timeout",
                           "30",
                           "--rollout-groups",
                           groups});
  EXPECT_EQ(created["jobId"], "ota-1");
  EXPECT_EQ(created["targets"]["things"], json({"a", "b"}));
  EXPECT_EQ(created["targets"]["groups"], json({"hall"}));
  EXPECT_EQ(created["jobExecutionsRolloutConfig"], json({{"maximumPerMinute", 10}}));
  ASSERT_EQ(created["abortConfig"]["criteriaList"].size(), 2u);
  EXPECT_EQ(created["abortConfig"]["criteriaList"][1]["failureType"], "TIMED_OUT");
  EXPECT_EQ(created["abortConfig"]["criteriaList"][1]["thresholdPercentage"], 12.5);
  EXPECT_EQ(created["abortConfig"]["criteriaList"][1]["minNumberOfExecutedThings"], 8);
  EXPECT_EQ(created["jobExecutionsRetryConfig"]["criteriaList"][0]["numberOfRetries"], 2);
  EXPECT_EQ(created["timeoutConfig"]["inProgressTimeoutInMinutes"], 30);
  EXPECT_EQ(created["rolloutGroups"][1]["pauseBefore"], true);
  EXPECT_EQ(created["jobProcessDetails"]["numberOfTargetedThings"], 3);

  ProcessResult text = run({"jobs", "create", "--job-id", "ota-2", "--document", document_,
                            "--targets", "thing:a", "--exponential", "50,2,notified:1000"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_TRUE(has(text.out, "created job ota-2: 1 things")) << text.out;
  json exponential = run_json({"jobs", "describe", "ota-2"});
  EXPECT_EQ(exponential["jobExecutionsRolloutConfig"]["exponentialRate"],
            json({{"baseRatePerMinute", 50},
                  {"incrementFactor", 2},
                  {"rateIncreaseCriteria", {{"numberOfNotifiedThings", 1000}}}}));

  dispatch_all("ota-1");
  device_runs("a", "ota-1", JobExecutionStatus::succeeded);
  device_runs("b", "ota-1", std::nullopt);
  ProcessResult described = run({"jobs", "describe", "ota-1"});
  ASSERT_EQ(described.exit_code, 0) << described.err;
  EXPECT_TRUE(has(described.out, "1 of 3 things done: 1 succeeded")) << described.out;
  EXPECT_TRUE(has(described.out, "1 in progress, 1 queued")) << described.out;
  EXPECT_TRUE(has(described.out, "rest 66% (success 0%, waits for approval)")) << described.out;

  ProcessResult listed = run({"jobs", "list"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_TRUE(has(listed.out, "JOB")) << listed.out;
  EXPECT_TRUE(has(listed.out, "ota-1")) << listed.out;
  EXPECT_TRUE(has(listed.out, "1/3")) << listed.out;
  EXPECT_EQ(run_json({"jobs", "list", "--status", "COMPLETED"})["items"].size(), 0u);
  EXPECT_EQ(run_json({"jobs", "list", "--status", "IN_PROGRESS"})["items"].size(), 2u);
}

TEST_F(CliJobs, BadOptionsAreUsageErrorsAndRefusalsNameTheField) {
  make_things({"a"});
  auto create_with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"jobs",       "create",  "--job-id",  "bad",
                                     "--document", document_, "--targets", "thing:a"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run(args);
  };
  expect_failure(
      run({"jobs", "create", "--job-id", "bad", "--document", document_, "--targets", "a"}),
      "must be thing:NAME or group:NAME", 2);
  expect_failure(run({"jobs", "create", "--job-id", "bad", "--document",
                      (dir_ / "missing.json").string(), "--targets", "thing:a"}),
                 "--document", 2);
  expect_failure(run({"jobs", "create", "--job-id", "bad", "--document", write("list.json", "[1]"),
                      "--targets", "thing:a"}),
                 "must hold a JSON object", 2);
  expect_failure(create_with({"--exponential", "50,2"}), "BASE,FACTOR", 2);
  expect_failure(create_with({"--exponential", "50,2,failed:3"}), "BASE,FACTOR", 2);
  expect_failure(create_with({"--abort", "FAILED:10%"}), "TYPE:PERCENT%:MIN", 2);
  expect_failure(create_with({"--abort", "FAILED:ten:5"}), "not a number", 2);
  expect_failure(create_with({"--retry", "FAILED"}), "TYPE:N", 2);
  ProcessResult both = create_with({"--max-per-minute", "5", "--exponential", "5,2,notified:5"});
  EXPECT_EQ(both.exit_code, 2) << both.err;
  // Refused by ironrootd: the message names the field.
  expect_failure(create_with({"--abort", "FAILED:200%:5"}),
                 "abortConfig.criteriaList[0].thresholdPercentage");
  expect_failure(create_with({"--max-per-minute", "0"}), "maximumPerMinute");
  expect_failure(create_with({"--retry", "REJECTED:1"}), "failureType");
  EXPECT_EQ(job_count(), 0u);
  expect_failure(run({"jobs", "describe", "nope"}), "nope");
  expect_failure(run({"jobs", "executions"}), "give a job id, or --thing NAME", 2);

  ProcessResult help = run({"jobs", "create", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_TRUE(has(help.out, "--exponential")) << help.out;
  EXPECT_TRUE(has(help.out, "pauseBefore")) << help.out;
  EXPECT_TRUE(has(help.out, "--wait")) << help.out;
}

TEST_F(CliJobs, WaitFollowsTheJobUntilItEnds) {
  make_things({"a", "b"});
  create("ota", "thing:a,thing:b");
  dispatch_all("ota");
  auto waiting = std::async(std::launch::async, [&] {
    return run({"jobs", "describe", "ota", "--wait", "--interval", "0.05", "--json"});
  });
  device_runs("a", "ota", JobExecutionStatus::succeeded);
  device_runs("b", "ota", JobExecutionStatus::failed);
  ProcessResult done = waiting.get();
  ASSERT_EQ(done.exit_code, 0) << done.err;
  json job = json::parse(done.out);  // exactly one document
  EXPECT_EQ(job["status"], "COMPLETED");
  EXPECT_EQ(job["jobProcessDetails"]["numberOfSucceededThings"], 1);
  EXPECT_EQ(job["jobProcessDetails"]["numberOfFailedThings"], 1);
  EXPECT_TRUE(done.err.empty()) << "no progress bar without a terminal: " << done.err;

  // A job that cannot run long: its thing group is empty, so it is COMPLETED at once.
  ASSERT_TRUE(server_.registry().create_group("test", {"empty", "", {}}));
  ProcessResult at_once = run({"jobs", "create", "--job-id", "none", "--document", document_,
                               "--targets", "group:empty", "--wait"});
  ASSERT_EQ(at_once.exit_code, 0) << at_once.err;
  EXPECT_TRUE(has(at_once.out, "COMPLETED")) << at_once.out;

  create("stuck", "thing:a");
  ProcessResult timed_out =
      run({"jobs", "describe", "stuck", "--wait", "--interval", "0.05", "--timeout", "0.2"});
  expect_failure(timed_out, "job stuck is still IN_PROGRESS after");
  EXPECT_TRUE(has(timed_out.out, "status:")) << "the job is shown: " << timed_out.out;

  ASSERT_EQ(run({"jobs", "cancel", "stuck", "--reason", "BAD_BUILD"}).exit_code, 0);
  ProcessResult canceled = run({"jobs", "describe", "stuck", "--watch", "--json"});
  expect_failure(canceled, "job stuck was canceled (reason BAD_BUILD)");
  EXPECT_EQ(json::parse(canceled.out)["status"], "CANCELED");
}

TEST_F(CliJobs, CancelDeleteExecutionsAndApprove) {
  make_things({"a", "b"});
  const std::string groups = write("groups.json", R"([
    {"name": "first", "targetPercentage": 50, "successThresholdPercentage": 100},
    {"name": "second", "targetPercentage": 50, "successThresholdPercentage": 0,
     "pauseBefore": true}])");
  ProcessResult created = run({"jobs", "create", "--job-id", "ota", "--document", document_,
                               "--targets", "thing:a,thing:b", "--rollout-groups", groups});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  dispatch_all("ota");
  device_runs("a", "ota", std::nullopt);

  ProcessResult executions = run({"jobs", "executions", "ota"});
  ASSERT_EQ(executions.exit_code, 0) << executions.err;
  EXPECT_TRUE(has(executions.out, "THING")) << executions.out;
  EXPECT_TRUE(has(executions.out, "IN_PROGRESS")) << executions.out;
  json of_thing = run_json({"jobs", "executions", "--thing", "b"});
  ASSERT_EQ(of_thing["items"].size(), 1u);
  EXPECT_EQ(of_thing["items"][0]["jobId"], "ota");

  expect_failure(run({"jobs", "approve", "ota", "--group", "first"}), "no pause gate");
  ProcessResult approved = run({"jobs", "approve", "ota", "--group", "second"});
  ASSERT_EQ(approved.exit_code, 0) << approved.err;
  EXPECT_TRUE(has(approved.out, "approved rollout group second of job ota (by alice"))
      << approved.out;
  EXPECT_TRUE(has(run({"jobs", "describe", "ota"}).out, "approved by alice"));

  expect_failure(run({"jobs", "cancel", "ota", "--thing", "a"}), "IN_PROGRESS");
  json one = run_json({"jobs", "cancel", "ota", "--thing", "a", "--force"});
  EXPECT_EQ(one["status"], "CANCELED");
  expect_failure(run({"jobs", "delete", "ota"}), "force");
  json canceled = run_json(
      {"jobs", "cancel", "ota", "--reason", "BAD_BUILD", "--comment", "boot loop on rev 3"});
  EXPECT_EQ(canceled["status"], "CANCELED");
  EXPECT_EQ(canceled["comment"], "boot loop on rev 3");
  EXPECT_EQ(canceled["jobProcessDetails"]["numberOfCanceledThings"], 2);
  ProcessResult deleted = run({"jobs", "delete", "ota"});
  ASSERT_EQ(deleted.exit_code, 0) << deleted.err;
  EXPECT_TRUE(has(deleted.out, "deleted job ota"));
  EXPECT_EQ(job_count(), 0u);

  create("other", "thing:a");
  ASSERT_EQ(run({"jobs", "delete", "other", "--force"}).exit_code, 0);
  EXPECT_EQ(job_count(), 0u);
}

}  // namespace
}  // namespace ironroot::testing
