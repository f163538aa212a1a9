// The operator's jobs over HTTP: /v1/jobs... and /v1/things/{name}/jobs on a real httplib server,
// with a real registry and jobs store on one SQLite file; a second JobStore on the same file plays
// the service's rollout and the devices.
#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>

#include "ironroot/fleet/jobs.hpp"
#include "ironroot/fleet/rollout.hpp"
#include "ironroot/fleet/rollout_schedule.hpp"
#include "rest_api_server.hpp"

namespace ironroot::fleet::testing {
namespace {

using nlohmann::json;
using protocol::JobExecutionStatus;

struct Reply {
  int status = 0;
  json body;
};

class RestApiJobsTest : public ::testing::Test {
 protected:
  RestApiJobsTest()
      : server_(RestApiServer::WithDatabase{},
                [this](Registry&, const std::filesystem::path& database) {
                  auto store = JobStore::open(database);
                  if (!store) throw std::runtime_error(store.error().message);
                  api_jobs_.emplace(std::move(*store));
                  RestApiOptions options;
                  options.jobs = &*api_jobs_;
                  options.on_job_notifications = [this](const JobNotifications& n) {
                    std::lock_guard lock(notified_mutex_);
                    notified_.push_back(n);
                  };
                  return options;
                }) {
    auto store = JobStore::open(server_.database());
    if (!store) throw std::runtime_error(store.error().message);
    service_.emplace(std::move(*store));
  }

  Reply call(const std::string& method, const std::string& path, const json& body = nullptr) {
    httplib::Client client("127.0.0.1", server_.port());
    httplib::Headers headers{{"Authorization", std::string("Bearer ") + kAliceToken}};
    const std::string text = body.is_null() ? "" : body.dump();
    httplib::Result r = method == "GET"    ? client.Get(path, headers)
                        : method == "POST" ? client.Post(path, headers, text, "application/json")
                        : method == "PUT"  ? client.Put(path, headers, text, "application/json")
                                           : client.Delete(path, headers, text, "application/json");
    EXPECT_TRUE(r) << method << " " << path;
    if (!r) return {};
    Reply reply{r->status, nullptr};
    if (!r->body.empty()) reply.body = json::parse(r->body, nullptr, false);
    return reply;
  }

  static void expect_error(const Reply& r, int status, const std::string& code,
                           const std::string& message_part) {
    EXPECT_EQ(r.status, status) << r.body.dump();
    ASSERT_TRUE(r.body.is_object() && r.body.contains("error")) << r.body.dump();
    EXPECT_EQ(r.body["error"]["code"], code) << r.body.dump();
    EXPECT_NE(r.body["error"]["message"].get<std::string>().find(message_part), std::string::npos)
        << r.body.dump();
  }

  void make_things(const std::vector<std::string>& names) {
    for (const std::string& name : names) {
      ASSERT_TRUE(server_.registry().create_thing("test", NewThing{name, {}, {}, {}}));
    }
  }

  static json job_body(const std::string& id, const std::vector<std::string>& things) {
    return {{"jobId", id},
            {"document", {{"operation", "update"}, {"version", "2.0.0"}}},
            {"targets", {{"things", things}}}};
  }

  // The rollout dispatches every execution of the job.
  void dispatch_all(const std::string& job_id) {
    auto waiting = service_->undispatched(job_id, kMaxPageLimit);
    ASSERT_TRUE(waiting) << waiting.error().message;
    ASSERT_TRUE(service_->dispatch("rollout", job_id, *waiting));
  }

  // The thing's device starts its next execution and ends it with `status`.
  void device_runs(const std::string& thing, const std::string& job_id,
                   std::optional<JobExecutionStatus> status) {
    auto started = service_->start_next(thing, {});
    ASSERT_TRUE(started) << started.error().message;
    if (!status) return;
    protocol::UpdateJobExecutionRequest update;
    update.status = *status;
    ASSERT_TRUE(service_->update(thing, job_id, update));
  }

  std::vector<JobNotifications> notified() {
    std::lock_guard lock(notified_mutex_);
    return notified_;
  }

  std::optional<JobStore> api_jobs_;  // outlives server_, which uses it
  std::mutex notified_mutex_;
  std::vector<JobNotifications> notified_;
  RestApiServer server_;
  std::optional<JobStore> service_;
};

TEST(RestApiJobsUnavailable, JobRoutesAnswer501WithoutAJobStore) {
  RestApiServer server;
  httplib::Client client("127.0.0.1", server.port());
  httplib::Headers headers{{"Authorization", std::string("Bearer ") + kAliceToken}};
  for (const std::string path : {"/v1/jobs", "/v1/jobs/a", "/v1/things/x/jobs"}) {
    auto r = client.Get(path, headers);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 501) << path;
    EXPECT_EQ(json::parse(r->body)["error"]["code"], "unavailable");
  }
}

TEST_F(RestApiJobsTest, CreateDescribeListAndRefusals) {
  make_things({"lamp-1", "lamp-2", "lamp-3"});
  ASSERT_TRUE(server_.registry().create_group("test", NewThingGroup{"hall", "", {}}));
  ASSERT_TRUE(server_.registry().add_to_group("test", "hall", "lamp-3"));

  json body = job_body("ota-1", {"lamp-1", "lamp-2"});
  body["targets"]["groups"] = {"hall"};
  body["description"] = "firmware 2.0.0";
  body["timeoutConfig"] = {{"inProgressTimeoutInMinutes", 30}};
  body["jobExecutionsRetryConfig"] = {
      {"criteriaList", {{{"failureType", "FAILED"}, {"numberOfRetries", 2}}}}};
  Reply created = call("POST", "/v1/jobs", body);
  ASSERT_EQ(created.status, 201) << created.body.dump();
  EXPECT_EQ(created.body["jobId"], "ota-1");
  EXPECT_EQ(created.body["status"], "IN_PROGRESS");
  EXPECT_EQ(created.body["targetSelection"], "SNAPSHOT");
  EXPECT_EQ(created.body["targets"]["groups"], json({"hall"}));
  EXPECT_EQ(created.body["document"]["version"], "2.0.0");
  EXPECT_EQ(created.body["timeoutConfig"]["inProgressTimeoutInMinutes"], 30);
  EXPECT_EQ(created.body["jobExecutionsRetryConfig"]["criteriaList"][0]["numberOfRetries"], 2);
  EXPECT_EQ(created.body["jobProcessDetails"]["numberOfQueuedThings"], 3);
  EXPECT_EQ(created.body["jobProcessDetails"]["numberOfUndispatchedThings"], 3);

  expect_error(call("POST", "/v1/jobs", job_body("ota-1", {"lamp-1"})), 409, "already_exists",
               "ota-1");
  // Every refusal names the field at fault, and creates nothing.
  json unknown = job_body("bad", {"lamp-1"});
  unknown["jobExecutionRolloutConfig"] = json::object();
  expect_error(call("POST", "/v1/jobs", unknown), 400, "invalid",
               "unknown field 'jobExecutionRolloutConfig'");
  json flat = job_body("bad", {});
  flat["targets"] = {"lamp-1"};
  expect_error(call("POST", "/v1/jobs", flat), 400, "invalid", "field 'targets' must be an object");
  json typo = job_body("bad", {});
  typo["targets"] = {{"thing", {"lamp-1"}}};
  expect_error(call("POST", "/v1/jobs", typo), 400, "invalid", "unknown field 'targets.thing'");
  json retry = job_body("bad", {"lamp-1"});
  retry["jobExecutionsRetryConfig"] = {
      {"criteriaList", {{{"failureType", "REJECTED"}, {"numberOfRetries", 2}}}}};
  expect_error(call("POST", "/v1/jobs", retry), 400, "invalid",
               "jobExecutionsRetryConfig.criteriaList[0].failureType");
  json rate = job_body("bad", {"lamp-1"});
  rate["jobExecutionsRolloutConfig"] = {{"maximumPerMinute", 5000}};
  expect_error(call("POST", "/v1/jobs", rate), 400, "invalid",
               "jobExecutionsRolloutConfig.maximumPerMinute");
  json missing = job_body("bad", {"nobody"});
  expect_error(call("POST", "/v1/jobs", missing), 404, "not_found", "nobody");
  json selection = job_body("bad", {"lamp-1"});
  selection["targetSelection"] = "SOMETIMES";
  expect_error(call("POST", "/v1/jobs", selection), 400, "invalid", "SNAPSHOT or CONTINUOUS");

  ASSERT_EQ(call("POST", "/v1/jobs", job_body("ota-2", {"lamp-1"})).status, 201);
  ASSERT_EQ(call("PUT", "/v1/jobs/ota-2/cancel").status, 200);
  Reply all = call("GET", "/v1/jobs");
  ASSERT_EQ(all.status, 200);
  ASSERT_EQ(all.body["items"].size(), 2u) << all.body.dump();
  EXPECT_EQ(all.body["items"][0]["jobId"], "ota-1");
  EXPECT_FALSE(all.body["items"][0].contains("document"));  // a summary
  Reply canceled = call("GET", "/v1/jobs?status=CANCELED");
  ASSERT_EQ(canceled.body["items"].size(), 1u);
  EXPECT_EQ(canceled.body["items"][0]["jobId"], "ota-2");
  Reply page = call("GET", "/v1/jobs?limit=1");
  EXPECT_EQ(page.body["items"].size(), 1u);
  EXPECT_TRUE(page.body.contains("next"));
  expect_error(call("GET", "/v1/jobs?status=DONE"), 400, "invalid", "IN_PROGRESS");
  expect_error(call("GET", "/v1/jobs/nope"), 404, "not_found", "nope");

  Reply described = call("GET", "/v1/jobs/ota-1");
  ASSERT_EQ(described.status, 200);
  EXPECT_EQ(described.body["description"], "firmware 2.0.0");
  EXPECT_EQ(described.body["rolloutApprovals"], json::array());
}

// The rollout parts are checked by RolloutPolicy and kept as one policy object in rollout_config
// (abortConfig also alone in abort_config), and DescribeJob shows them under their own keys.
TEST_F(RestApiJobsTest, RolloutConfigurationIsValidatedAndKept) {
  make_things({"a", "b"});
  json body = job_body("staged", {"a", "b"});
  body["jobExecutionsRolloutConfig"] = {
      {"exponentialRate",
       {{"baseRatePerMinute", 10},
        {"incrementFactor", 2},
        {"rateIncreaseCriteria", {{"numberOfSucceededThings", 5}}}}}};
  body["abortConfig"] = {{"criteriaList",
                          {{{"failureType", "FAILED"},
                            {"action", "CANCEL"},
                            {"thresholdPercentage", 10},
                            {"minNumberOfExecutedThings", 5}}}}};
  body["rolloutGroups"] = {
      {{"name", "canary"}, {"targetPercentage", 50}, {"successThresholdPercentage", 100}},
      {{"name", "rest"},
       {"targetPercentage", 50},
       {"successThresholdPercentage", 0},
       {"pauseBefore", true}}};
  Reply created = call("POST", "/v1/jobs", body);
  ASSERT_EQ(created.status, 201) << created.body.dump();
  EXPECT_EQ(created.body["rolloutGroups"][1]["name"], "rest");
  EXPECT_EQ(created.body["rolloutGroups"][1]["pauseBefore"], true);
  EXPECT_EQ(created.body["abortConfig"]["criteriaList"][0]["failureType"], "FAILED");
  EXPECT_EQ(created.body["jobExecutionsRolloutConfig"]["exponentialRate"]["baseRatePerMinute"], 10);

  auto stored = service_->describe_job("staged");
  ASSERT_TRUE(stored);
  ASSERT_TRUE(stored->rollout_config && stored->abort_config);
  auto policy = RolloutPolicy::from_json(json::parse(*stored->rollout_config));
  ASSERT_TRUE(policy) << policy.error().message;
  EXPECT_EQ(policy->groups.size(), 2u);
  EXPECT_TRUE(policy->groups[1].pause_before);
  ASSERT_TRUE(policy->abort);
  EXPECT_EQ(json::parse(*stored->abort_config), to_json(*policy->abort));

  json groups = job_body("bad", {"a"});
  groups["rolloutGroups"] = {
      {{"name", "only"}, {"targetPercentage", 60}, {"successThresholdPercentage", 0}}};
  expect_error(call("POST", "/v1/jobs", groups), 400, "invalid", "rolloutGroups");
  json abort = job_body("bad", {"a"});
  abort["abortConfig"] = {{"criteriaList",
                           {{{"failureType", "FAILED"},
                             {"action", "CANCEL"},
                             {"thresholdPercentage", 10.999},
                             {"minNumberOfExecutedThings", 5}}}}};
  expect_error(call("POST", "/v1/jobs", abort), 400, "invalid",
               "abortConfig.criteriaList[0].thresholdPercentage");

  // AWS's schedule rules apply against the time now: a start 5 minutes ahead is too soon, a day
  // ahead is accepted.
  const auto now =
      std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
  json soon = job_body("bad", {"a"});
  soon["schedulingConfig"] = {
      {"startTime", format_rollout_timestamp(now + std::chrono::minutes(5))}};
  expect_error(call("POST", "/v1/jobs", soon), 400, "invalid", "schedulingConfig");
  json later = job_body("scheduled", {"a"});
  later["schedulingConfig"] = {
      {"startTime", format_rollout_timestamp(now + std::chrono::hours(24))},
      {"endBehavior", "CANCEL"}};
  Reply scheduled = call("POST", "/v1/jobs", later);
  ASSERT_EQ(scheduled.status, 201) << scheduled.body.dump();
  EXPECT_EQ(scheduled.body["schedulingConfig"]["endBehavior"], "CANCEL");

  Reply listed = call("GET", "/v1/jobs");
  EXPECT_EQ(listed.body["items"].size(), 2u) << "refused requests created nothing";
}

TEST_F(RestApiJobsTest, ExecutionsOfJobAndThingWithCounts) {
  make_things({"a", "b", "c"});
  ASSERT_EQ(call("POST", "/v1/jobs", job_body("j1", {"a", "b", "c"})).status, 201);
  ASSERT_EQ(call("POST", "/v1/jobs", job_body("j2", {"a"})).status, 201);
  dispatch_all("j1");
  device_runs("a", "j1", JobExecutionStatus::succeeded);
  device_runs("b", "j1", JobExecutionStatus::failed);
  device_runs("c", "j1", std::nullopt);

  Reply job = call("GET", "/v1/jobs/j1");
  const json& counts = job.body["jobProcessDetails"];
  EXPECT_EQ(counts["numberOfSucceededThings"], 1);
  EXPECT_EQ(counts["numberOfFailedThings"], 1);
  EXPECT_EQ(counts["numberOfInProgressThings"], 1);
  EXPECT_EQ(counts["numberOfNotifiedThings"], 3);
  EXPECT_EQ(counts["numberOfTargetedThings"], 3);

  Reply executions = call("GET", "/v1/jobs/j1/executions");
  ASSERT_EQ(executions.status, 200);
  ASSERT_EQ(executions.body["items"].size(), 3u);
  EXPECT_EQ(executions.body["items"][0]["thingName"], "a");
  EXPECT_EQ(executions.body["items"][0]["status"], "SUCCEEDED");
  EXPECT_EQ(executions.body["items"][1]["status"], "FAILED");
  EXPECT_TRUE(executions.body["items"][2].contains("startedAt"));
  Reply first = call("GET", "/v1/jobs/j1/executions?limit=2");
  EXPECT_EQ(first.body["items"].size(), 2u);
  ASSERT_TRUE(first.body.contains("next"));
  Reply rest =
      call("GET", "/v1/jobs/j1/executions?limit=2&next=" + first.body["next"].get<std::string>());
  ASSERT_EQ(rest.body["items"].size(), 1u);
  EXPECT_EQ(rest.body["items"][0]["thingName"], "c");
  expect_error(call("GET", "/v1/jobs/none/executions"), 404, "not_found", "none");

  Reply of_thing = call("GET", "/v1/things/a/jobs");
  ASSERT_EQ(of_thing.body["items"].size(), 2u);
  EXPECT_EQ(of_thing.body["items"][0]["jobId"], "j1");
  EXPECT_EQ(of_thing.body["items"][1]["jobId"], "j2");
  EXPECT_EQ(of_thing.body["items"][1]["status"], "QUEUED");
  EXPECT_FALSE(of_thing.body["items"][1].contains("dispatchedAt"));

  Reply one = call("GET", "/v1/jobs/j1/things/c");
  ASSERT_EQ(one.status, 200);
  EXPECT_EQ(one.body["status"], "IN_PROGRESS");
  EXPECT_EQ(one.body["executionNumber"], 1);
  EXPECT_EQ(call("GET", "/v1/jobs/j1/things/c?executionNumber=1").status, 200);
  expect_error(call("GET", "/v1/jobs/j1/things/c?executionNumber=0"), 400, "invalid",
               "executionNumber");
  expect_error(call("GET", "/v1/jobs/j1/things/c?executionNumber=2"), 404, "not_found", "");
}

TEST_F(RestApiJobsTest, CancelJobNotifiesDevicesAfterTheChange) {
  make_things({"a", "b"});
  ASSERT_EQ(call("POST", "/v1/jobs", job_body("j", {"a", "b"})).status, 201);
  dispatch_all("j");
  device_runs("a", "j", std::nullopt);  // a runs it; b has it queued

  expect_error(call("PUT", "/v1/jobs/j/cancel", {{"reasonCode", "lower case"}}), 400, "invalid",
               "");
  expect_error(call("PUT", "/v1/jobs/j/cancel", {{"force", "yes"}}), 400, "invalid", "force");
  EXPECT_TRUE(notified().empty());

  Reply canceled =
      call("PUT", "/v1/jobs/j/cancel", {{"reasonCode", "BAD_BUILD"}, {"comment", "crashes"}});
  ASSERT_EQ(canceled.status, 200) << canceled.body.dump();
  EXPECT_EQ(canceled.body["status"], "CANCELED");
  EXPECT_EQ(canceled.body["reasonCode"], "BAD_BUILD");
  EXPECT_EQ(canceled.body["comment"], "crashes");
  EXPECT_EQ(canceled.body["jobProcessDetails"]["numberOfCanceledThings"], 1);
  EXPECT_EQ(canceled.body["jobProcessDetails"]["numberOfInProgressThings"], 1);
  auto after_cancel = notified();
  ASSERT_EQ(after_cancel.size(), 1u);
  EXPECT_EQ(after_cancel[0].next_changed, std::set<std::string>{"b"});

  expect_error(call("PUT", "/v1/jobs/j/cancel"), 409, "conflict", "already CANCELED");
  Reply forced = call("PUT", "/v1/jobs/j/cancel", {{"force", true}});
  ASSERT_EQ(forced.status, 200) << forced.body.dump();
  EXPECT_EQ(forced.body["forceCanceled"], true);
  auto after_force = notified();
  ASSERT_EQ(after_force.size(), 2u);
  EXPECT_EQ(after_force[1].next_changed, std::set<std::string>{"a"});
}

TEST_F(RestApiJobsTest, CancelExecutionNeedsForceWhileRunning) {
  make_things({"a", "b"});
  ASSERT_EQ(call("POST", "/v1/jobs", job_body("j", {"a", "b"})).status, 201);
  dispatch_all("j");
  device_runs("a", "j", std::nullopt);

  expect_error(call("PUT", "/v1/jobs/j/things/a/cancel"), 409, "conflict", "");
  expect_error(call("PUT", "/v1/jobs/j/things/a/cancel", {{"force", true}, {"expectedVersion", 9}}),
               409, "conflict", "");
  EXPECT_TRUE(notified().empty());
  Reply a = call("PUT", "/v1/jobs/j/things/a/cancel",
                 {{"force", true}, {"statusDetails", {{"reason", "operator"}}}});
  ASSERT_EQ(a.status, 200) << a.body.dump();
  EXPECT_EQ(a.body["status"], "CANCELED");
  EXPECT_EQ(a.body["forceCanceled"], true);
  EXPECT_EQ(a.body["statusDetails"]["detailsMap"]["reason"], "operator");
  Reply b = call("PUT", "/v1/jobs/j/things/b/cancel");
  ASSERT_EQ(b.status, 200) << b.body.dump();
  auto all = notified();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].next_changed, std::set<std::string>{"a"});
  EXPECT_EQ(all[1].next_changed, std::set<std::string>{"b"});
  expect_error(call("PUT", "/v1/jobs/j/things/b/cancel"), 409, "conflict", "");
  expect_error(call("PUT", "/v1/jobs/j/things/b/cancel", {{"statusDetails", {{"n", 1}}}}), 400,
               "invalid", "statusDetails.n");
}

TEST_F(RestApiJobsTest, DeleteNeedsForceWhileInProgress) {
  make_things({"a"});
  ASSERT_EQ(call("POST", "/v1/jobs", job_body("j", {"a"})).status, 201);
  dispatch_all("j");
  expect_error(call("DELETE", "/v1/jobs/j"), 409, "conflict", "force");
  expect_error(call("DELETE", "/v1/jobs/j?force=yes"), 400, "invalid", "true or false");
  expect_error(call("DELETE", "/v1/jobs/j?force=false"), 409, "conflict", "force");
  EXPECT_TRUE(notified().empty());
  Reply deleted = call("DELETE", "/v1/jobs/j?force=true");
  EXPECT_EQ(deleted.status, 204);
  ASSERT_EQ(notified().size(), 1u);
  EXPECT_EQ(notified()[0].next_changed, std::set<std::string>{"a"});
  expect_error(call("GET", "/v1/jobs/j"), 404, "not_found", "");
  expect_error(call("DELETE", "/v1/jobs/j"), 404, "not_found", "");
}

TEST_F(RestApiJobsTest, ApprovingPauseGatesIsDurable) {
  make_things({"a", "b", "c", "d"});
  json body = job_body("staged", {"a", "b", "c", "d"});
  body["rolloutGroups"] = {
      {{"name", "canary"}, {"targetPercentage", 25}, {"successThresholdPercentage", 100}},
      {{"name", "wave-1"},
       {"targetPercentage", 25},
       {"successThresholdPercentage", 100},
       {"pauseBefore", true}},
      {{"name", "wave-2"},
       {"targetPercentage", 50},
       {"successThresholdPercentage", 0},
       {"pauseBefore", true}}};
  ASSERT_EQ(call("POST", "/v1/jobs", body).status, 201);
  ASSERT_EQ(call("POST", "/v1/jobs", job_body("plain", {"a"})).status, 201);

  expect_error(call("POST", "/v1/jobs/staged/approve", {{"group", "wave-9"}}), 400, "invalid",
               "its groups: canary, wave-1, wave-2");
  expect_error(call("POST", "/v1/jobs/staged/approve", {{"group", "canary"}}), 400, "invalid",
               "no pause gate");
  expect_error(call("POST", "/v1/jobs/plain/approve", {{"group", "canary"}}), 400, "invalid",
               "no rolloutGroups");
  expect_error(call("POST", "/v1/jobs/nope/approve", {{"group", "canary"}}), 404, "not_found",
               "nope");
  expect_error(call("POST", "/v1/jobs/staged/approve", json::object()), 400, "invalid",
               "'group' is required");

  Reply approved = call("POST", "/v1/jobs/staged/approve", {{"group", "wave-1"}});
  ASSERT_EQ(approved.status, 200) << approved.body.dump();
  EXPECT_EQ(approved.body["group"], "wave-1");
  EXPECT_EQ(approved.body["approvedBy"], "alice");
  Reply again = call("POST", "/v1/jobs/staged/approve", {{"group", "wave-1"}});
  EXPECT_EQ(again.body, approved.body) << "approving twice keeps the first approval";

  // Another connection (a restarted service) sees it.
  auto reopened = JobStore::open(server_.database());
  ASSERT_TRUE(reopened);
  auto approvals = reopened->rollout_approvals("staged");
  ASSERT_TRUE(approvals) << approvals.error().message;
  ASSERT_EQ(approvals->size(), 1u);
  EXPECT_EQ((*approvals)[0].group, "wave-1");
  EXPECT_EQ((*approvals)[0].approved_by, "alice");
  auto audit = server_.registry().list_audit({}, Page{kMaxPageLimit, ""});
  ASSERT_TRUE(audit);
  std::size_t approvals_audited = 0;
  for (const AuditEntry& e : audit->items)
    approvals_audited += e.action == "job.approve-rollout-group";
  EXPECT_EQ(approvals_audited, 1u);

  Reply described = call("GET", "/v1/jobs/staged");
  ASSERT_EQ(described.body["rolloutApprovals"].size(), 1u);
  EXPECT_EQ(described.body["rolloutApprovals"][0]["group"], "wave-1");

  ASSERT_EQ(call("PUT", "/v1/jobs/staged/cancel").status, 200);
  expect_error(call("POST", "/v1/jobs/staged/approve", {{"group", "wave-2"}}), 409, "conflict",
               "CANCELED");
  ASSERT_EQ(call("DELETE", "/v1/jobs/staged").status, 204);
  expect_error(call("GET", "/v1/jobs/staged"), 404, "not_found", "");
  auto gone = reopened->rollout_approvals("staged");
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, RegistryErrorCode::not_found);
}

}  // namespace
}  // namespace ironroot::fleet::testing
