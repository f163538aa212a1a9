// The jobs store's operator side: CreateJob's validation and target resolution, listings,
// CancelJob, CancelJobExecution, DeleteJob, and a snapshot job's completion.
#include <gtest/gtest.h>

#include "jobs_fixture.hpp"

namespace ironroot::fleet::testing {
namespace {

using protocol::jobs_errors::kResourceNotFound;

TEST_F(JobsTest, CreateJobQueuesOneUndispatchedExecutionPerDistinctThing) {
  make_things({"a", "b", "c", "d"});
  ASSERT_TRUE(registry().create_group("test", {"g", "", {}}));
  ASSERT_TRUE(registry().add_to_group("test", "g", "b"));
  ASSERT_TRUE(registry().add_to_group("test", "g", "c"));
  Job job = create(job_for("ota-1", {"a", "b", "a"}, {"g"}));

  EXPECT_EQ(job.status, JobStatus::in_progress);
  EXPECT_EQ(job.things, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(job.groups, (std::vector<std::string>{"g"}));
  EXPECT_EQ(job.counts.things, 3);
  EXPECT_EQ(job.counts.queued, 3);
  EXPECT_EQ(job.counts.undispatched, 3);
  EXPECT_EQ(job.counts.dispatched, 0);
  EXPECT_EQ(job.created_at, kStart);
  for (const char* thing : {"a", "b", "c"}) {
    JobExecutionRecord execution = this->execution("ota-1", thing);
    EXPECT_EQ(execution.status, JobExecutionStatus::queued);
    EXPECT_EQ(execution.execution_number, 1);
    EXPECT_EQ(execution.version_number, 1);
    EXPECT_FALSE(execution.dispatched_at);
    EXPECT_EQ(execution.queued_at, kStart);
  }
  EXPECT_REFUSED(jobs().describe_execution("ota-1", "d"), RegistryErrorCode::not_found);
  // Not dispatched: the device sees nothing yet.
  auto pending = jobs().pending_executions("a");
  ASSERT_TRUE(pending);
  EXPECT_TRUE(pending->queued.empty());
  EXPECT_JOBS_REFUSED(jobs().describe("a", "ota-1", {}), kResourceNotFound);
  EXPECT_JOBS_REFUSED(jobs().update("a", "ota-1", update_to(JobExecutionStatus::in_progress)),
                      kResourceNotFound);

  auto entries = audit(AuditFilter{"job", "ota-1", {}});
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].action, "job.create");
  EXPECT_EQ(entries[0].actor, "operator");
}

TEST_F(JobsTest, DynamicGroupTargetsTheThingsItsQueryMatches) {
  make_things({"sensor-1", "sensor-2", "lamp-1"});
  ASSERT_TRUE(registry().create_group("test", {"sensors", "", "thingName:sensor-*"}));
  Job job = create(job_for("calibrate", {}, {"sensors"}));
  EXPECT_EQ(job.counts.things, 2);
  EXPECT_TRUE(jobs().describe_execution("calibrate", "sensor-2"));
  EXPECT_REFUSED(jobs().describe_execution("calibrate", "lamp-1"), RegistryErrorCode::not_found);
}

TEST_F(JobsTest, EmptySnapshotJobIsCompleteAtOnce) {
  ASSERT_TRUE(registry().create_group("test", {"empty", "", {}}));
  Job job = create(job_for("nothing", {}, {"empty"}));
  EXPECT_EQ(job.status, JobStatus::completed);
  EXPECT_EQ(job.completed_at, kStart);
}

TEST_F(JobsTest, BadCreateJobRequestsAreRefusedAndChangeNothing) {
  make_things({"a"});
  ASSERT_TRUE(registry().create_group("test", {"g", "", {}}));
  create(job_for("taken", {"a"}));
  const auto audit_before = audit();

  auto refused = [&](NewJob job, RegistryErrorCode code) {
    SCOPED_TRACE(job.job_id);
    EXPECT_REFUSED(jobs().create_job("operator", job), code);
  };
  refused(job_for("", {"a"}), RegistryErrorCode::invalid);
  refused(job_for("$next", {"a"}), RegistryErrorCode::invalid);
  refused(job_for(std::string(65, 'x'), {"a"}), RegistryErrorCode::invalid);
  refused(job_for("has space", {"a"}), RegistryErrorCode::invalid);
  NewJob job = job_for("doc-array", {"a"});
  job.document = "[1, 2]";
  refused(job, RegistryErrorCode::invalid);
  job = job_for("doc-broken", {"a"});
  job.document = R"({"a": )";
  refused(job, RegistryErrorCode::invalid);
  job = job_for("doc-large", {"a"});
  job.document = R"({"a": ")" + std::string(kMaxJobDocumentSize, 'x') + R"("})";
  refused(job, RegistryErrorCode::invalid);
  refused(job_for("no-targets", {}), RegistryErrorCode::invalid);
  refused(job_for("bad-thing-name", {"a b"}), RegistryErrorCode::invalid);
  job = job_for("too-many", {});
  for (std::size_t i = 0; i <= kMaxJobTargets; ++i) job.things.push_back("t" + std::to_string(i));
  refused(job, RegistryErrorCode::invalid);
  job = job_for("continuous-things", {"a"}, {"g"});
  job.target_selection = TargetSelection::continuous;
  refused(job, RegistryErrorCode::invalid);
  for (std::int64_t minutes : {std::int64_t{0}, kMaxTimeoutInMinutes + 1, std::int64_t{-5}}) {
    job = job_for("timeout", {"a"});
    job.in_progress_timeout_minutes = minutes;
    refused(job, RegistryErrorCode::invalid);
  }
  for (std::int64_t retries : {std::int64_t{-1}, kMaxNumberOfRetries + 1}) {
    job = job_for("retries", {"a"});
    job.retry_criteria = {{RetryFailureType::failed, retries}};
    refused(job, RegistryErrorCode::invalid);
  }
  job = job_for("retry-twice", {"a"});
  job.retry_criteria = {{RetryFailureType::failed, 1}, {RetryFailureType::failed, 2}};
  refused(job, RegistryErrorCode::invalid);
  job.retry_criteria = {{RetryFailureType::all, 1}, {RetryFailureType::timed_out, 2}};
  refused(job, RegistryErrorCode::invalid);
  job.retry_criteria = {
      {RetryFailureType::failed, 1}, {RetryFailureType::timed_out, 2}, {RetryFailureType::all, 3}};
  refused(job, RegistryErrorCode::invalid);
  job = job_for("rollout", {"a"});
  job.rollout_config = "not json";
  refused(job, RegistryErrorCode::invalid);
  job = job_for("abort", {"a"});
  job.abort_config = "[]";
  refused(job, RegistryErrorCode::invalid);
  job = job_for("description", {"a"});
  job.description = "line\nbreak";
  refused(job, RegistryErrorCode::invalid);
  refused(job_for("unknown-thing", {"a", "ghost"}), RegistryErrorCode::not_found);
  refused(job_for("unknown-group", {"a"}, {"ghosts"}), RegistryErrorCode::not_found);
  refused(job_for("taken", {"a"}), RegistryErrorCode::already_exists);
  EXPECT_REFUSED(jobs().create_job("", job_for("no-actor", {"a"})), RegistryErrorCode::invalid);

  auto listed = jobs().list_jobs({}, Page{});
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->items.size(), 1u);
  EXPECT_EQ(listed->items[0].job_id, "taken");
  EXPECT_EQ(audit(), audit_before);
  auto executions = jobs().list_executions_of_thing("a", Page{});
  ASSERT_TRUE(executions);
  EXPECT_EQ(executions->items.size(), 1u);
}

TEST_F(JobsTest, CreateJobKeepsItsConfiguration) {
  make_things({"a"});
  NewJob spec = job_for("configured", {"a"});
  spec.description = "firmware 2.0.0";
  spec.in_progress_timeout_minutes = 30;
  spec.retry_criteria = {{RetryFailureType::failed, 3}, {RetryFailureType::timed_out, 10}};
  spec.rollout_config = R"({"maximumPerMinute":50})";
  spec.abort_config = R"({"criteriaList":[]})";
  create(spec);
  reopen_jobs();
  auto job = jobs().describe_job("configured");
  ASSERT_TRUE(job) << job.error().message;
  EXPECT_EQ(job->document, spec.document);
  EXPECT_EQ(job->description, spec.description);
  EXPECT_EQ(job->in_progress_timeout_minutes, 30);
  EXPECT_EQ(job->retry_criteria, spec.retry_criteria);
  EXPECT_EQ(job->rollout_config, spec.rollout_config);
  EXPECT_EQ(job->abort_config, spec.abort_config);
  EXPECT_EQ(job->target_selection, TargetSelection::snapshot);
  EXPECT_EQ(job->version, 1);
}

TEST_F(JobsTest, ListingsPageAndFilter) {
  make_things({"a", "b", "c"});
  for (const char* id : {"j1", "j2", "j3"}) create(job_for(id, {"a", "b", "c"}));
  ASSERT_TRUE(jobs().cancel_job("operator", "j2", {}));

  auto first = jobs().list_jobs({}, Page{2, ""});
  ASSERT_TRUE(first);
  ASSERT_EQ(first->items.size(), 2u);
  EXPECT_EQ(first->items[1].job_id, "j2");
  EXPECT_EQ(first->items[1].counts.canceled, 3);
  auto second = jobs().list_jobs({}, Page{2, first->next_token});
  ASSERT_TRUE(second);
  ASSERT_EQ(second->items.size(), 1u);
  EXPECT_EQ(second->items[0].job_id, "j3");
  EXPECT_TRUE(second->next_token.empty());
  auto canceled = jobs().list_jobs({JobStatus::canceled}, Page{});
  ASSERT_TRUE(canceled);
  ASSERT_EQ(canceled->items.size(), 1u);
  EXPECT_EQ(canceled->items[0].job_id, "j2");

  std::vector<std::string> seen;
  Page page{2, ""};
  for (;;) {
    auto listed = jobs().list_executions_of_job("j1", page);
    ASSERT_TRUE(listed) << listed.error().message;
    for (const auto& execution : listed->items) seen.push_back(execution.thing_name);
    if (listed->next_token.empty()) break;
    page.next_token = listed->next_token;
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "b", "c"}));
  auto of_thing = jobs().list_executions_of_thing("b", Page{kMaxPageLimit, ""});
  ASSERT_TRUE(of_thing);
  ASSERT_EQ(of_thing->items.size(), 3u);
  EXPECT_EQ(of_thing->items[2].job_id, "j3");
  EXPECT_REFUSED(jobs().list_executions_of_job("j1", Page{2, "garbage"}),
                 RegistryErrorCode::invalid);
  EXPECT_REFUSED(jobs().list_executions_of_job("none", Page{}), RegistryErrorCode::not_found);
  EXPECT_REFUSED(jobs().list_jobs({}, Page{0, ""}), RegistryErrorCode::invalid);
}

TEST_F(JobsTest, CancelCancelsQueuedExecutionsAndForceCancelsRunningOnes) {
  make_things({"a", "b", "c"});
  create_dispatched(job_for("ota", {"a", "b", "c"}));
  accept("a", "ota", update_to(JobExecutionStatus::in_progress));

  JobCancellation cancellation;
  cancellation.reason_code = "BAD_BUILD";
  cancellation.comment = "crashes on boot";
  now_ += 1min;
  auto canceled = jobs().cancel_job("operator", "ota", cancellation);
  ASSERT_TRUE(canceled) << canceled.error().message;
  EXPECT_EQ(canceled->value.status, JobStatus::canceled);
  EXPECT_EQ(canceled->value.reason_code, "BAD_BUILD");
  EXPECT_FALSE(canceled->value.force_canceled);
  EXPECT_EQ(canceled->value.counts.canceled, 2);
  EXPECT_EQ(canceled->value.counts.in_progress, 1);
  // b and c had the job next; a still runs it.
  EXPECT_EQ(canceled->notifications.next_changed, (std::set<std::string>{"b", "c"}));
  EXPECT_EQ(execution("ota", "b").status, JobExecutionStatus::canceled);
  EXPECT_EQ(execution("ota", "b").last_updated_at, kStart + 1min);

  // Without force a running execution runs on, and its device may still update it.
  accept("a", "ota", update_to(JobExecutionStatus::in_progress));
  EXPECT_REFUSED(jobs().cancel_job("operator", "ota", {}), RegistryErrorCode::conflict);
  JobCancellation force;
  force.force = true;
  auto forced = jobs().cancel_job("operator", "ota", force);
  ASSERT_TRUE(forced) << forced.error().message;
  EXPECT_TRUE(forced->value.force_canceled);
  EXPECT_EQ(forced->value.reason_code, "BAD_BUILD");
  EXPECT_EQ(forced->notifications.next_changed, (std::set<std::string>{"a"}));
  JobExecutionRecord a = execution("ota", "a");
  EXPECT_EQ(a.status, JobExecutionStatus::canceled);
  EXPECT_TRUE(a.force_canceled);
  EXPECT_JOBS_REFUSED(jobs().update("a", "ota", update_to(JobExecutionStatus::succeeded)),
                      protocol::jobs_errors::kInvalidStateTransition);
  EXPECT_REFUSED(jobs().cancel_job("operator", "ota", force), RegistryErrorCode::conflict);

  JobCancellation bad;
  bad.reason_code = "lower case";
  EXPECT_REFUSED(jobs().cancel_job("operator", "ota", bad), RegistryErrorCode::invalid);
  EXPECT_REFUSED(jobs().cancel_job("operator", "none", {}), RegistryErrorCode::not_found);
  auto entries = audit(AuditFilter{"job", "ota", {}});
  ASSERT_GE(entries.size(), 2u);
  EXPECT_EQ(entries.back().action, "job.cancel");
}

TEST_F(JobsTest, ForceCancelOfARunningJobCancelsEverythingAtOnce) {
  make_things({"a", "b"});
  create_dispatched(job_for("ota", {"a", "b"}));
  accept("a", "ota", update_to(JobExecutionStatus::in_progress));
  JobCancellation force;
  force.force = true;
  auto canceled = jobs().cancel_job("operator", "ota", force);
  ASSERT_TRUE(canceled);
  EXPECT_EQ(canceled->value.counts.canceled, 2);
  EXPECT_EQ(canceled->value.counts.in_progress, 0);
}

TEST_F(JobsTest, CompletedJobCannotBeCanceled) {
  make_things({"a"});
  create_dispatched(job_for("ota", {"a"}));
  accept("a", "ota", update_to(JobExecutionStatus::succeeded));
  EXPECT_EQ(job_status("ota"), JobStatus::completed);
  EXPECT_REFUSED(jobs().cancel_job("operator", "ota", {}), RegistryErrorCode::conflict);
}

TEST_F(JobsTest, CancelExecutionFollowsCancelJobExecutionRules) {
  make_things({"a", "b"});
  create_dispatched(job_for("ota", {"a", "b"}));
  accept("a", "ota", update_to(JobExecutionStatus::in_progress));

  EXPECT_REFUSED(jobs().cancel_execution("operator", "ota", "a", {}), RegistryErrorCode::conflict);
  ExecutionCancellation stale;
  stale.force = true;
  stale.expected_version = 1;
  EXPECT_REFUSED(jobs().cancel_execution("operator", "ota", "a", stale),
                 RegistryErrorCode::conflict);
  EXPECT_EQ(execution("ota", "a").status, JobExecutionStatus::in_progress);

  ExecutionCancellation force;
  force.force = true;
  force.expected_version = 2;
  force.status_details = protocol::StatusDetails{{"reason", "operator"}};
  auto canceled = jobs().cancel_execution("operator", "ota", "a", force);
  ASSERT_TRUE(canceled) << canceled.error().message;
  EXPECT_EQ(canceled->value.status, JobExecutionStatus::canceled);
  EXPECT_EQ(canceled->value.version_number, 3);
  EXPECT_EQ(canceled->value.status_details.at("reason"), "operator");
  EXPECT_EQ(canceled->notifications.next_changed, (std::set<std::string>{"a"}));
  EXPECT_REFUSED(jobs().cancel_execution("operator", "ota", "a", force),
                 RegistryErrorCode::conflict);

  ExecutionCancellation bad_details;
  bad_details.status_details = protocol::StatusDetails{{"bad key", "x"}};
  EXPECT_REFUSED(jobs().cancel_execution("operator", "ota", "b", bad_details),
                 RegistryErrorCode::invalid);
  EXPECT_REFUSED(jobs().cancel_execution("operator", "ota", "ghost", {}),
                 RegistryErrorCode::not_found);
  ASSERT_TRUE(jobs().cancel_execution("operator", "ota", "b", {}));
  // Every execution is terminal now: the snapshot job is complete.
  EXPECT_EQ(job_status("ota"), JobStatus::completed);
}

TEST_F(JobsTest, DeleteNeedsForceWhileInProgress) {
  make_things({"a", "b"});
  create_dispatched(job_for("ota", {"a", "b"}));
  accept("a", "ota", update_to(JobExecutionStatus::in_progress));
  EXPECT_REFUSED(jobs().delete_job("operator", "ota", false), RegistryErrorCode::conflict);
  EXPECT_TRUE(jobs().describe_job("ota"));

  auto deleted = jobs().delete_job("operator", "ota", true);
  ASSERT_TRUE(deleted) << deleted.error().message;
  EXPECT_EQ(deleted->next_changed, (std::set<std::string>{"a", "b"}));
  EXPECT_REFUSED(jobs().describe_job("ota"), RegistryErrorCode::not_found);
  EXPECT_JOBS_REFUSED(jobs().update("a", "ota", update_to(JobExecutionStatus::succeeded)),
                      kResourceNotFound);
  auto executions = jobs().list_executions_of_thing("a", Page{});
  ASSERT_TRUE(executions);
  EXPECT_TRUE(executions->items.empty());
  EXPECT_REFUSED(jobs().delete_job("operator", "ota", true), RegistryErrorCode::not_found);
  EXPECT_EQ(audit(AuditFilter{"job", "ota", {}}).back().action, "job.delete");
  // The id is free again.
  create(job_for("ota", {"a"}));
}

TEST_F(JobsTest, CanceledOrCompletedJobsDeleteWithoutForce) {
  make_things({"a"});
  create(job_for("canceled", {"a"}));
  ASSERT_TRUE(jobs().cancel_job("operator", "canceled", {}));
  EXPECT_TRUE(jobs().delete_job("operator", "canceled", false));
  create_dispatched(job_for("done", {"a"}));
  accept("a", "done", update_to(JobExecutionStatus::succeeded));
  EXPECT_TRUE(jobs().delete_job("operator", "done", false));
}

TEST_F(JobsTest, SnapshotJobCompletesWhenEveryExecutionIsTerminal) {
  make_things({"a", "b", "c"});
  create_dispatched(job_for("ota", {"a", "b", "c"}));
  accept("a", "ota", update_to(JobExecutionStatus::succeeded));
  accept("b", "ota", update_to(JobExecutionStatus::rejected));
  EXPECT_EQ(job_status("ota"), JobStatus::in_progress);
  now_ += 3min;
  accept("c", "ota", update_to(JobExecutionStatus::failed));
  auto job = jobs().describe_job("ota");
  ASSERT_TRUE(job);
  EXPECT_EQ(job->status, JobStatus::completed);
  EXPECT_EQ(job->completed_at, kStart + 3min);
  EXPECT_EQ(job->counts.succeeded, 1);
  EXPECT_EQ(job->counts.rejected, 1);
  EXPECT_EQ(job->counts.failed, 1);
  EXPECT_EQ(job->counts.dispatched, 3);
}

}  // namespace
}  // namespace ironroot::fleet::testing

namespace ironroot::fleet {
namespace {

TEST(JobsSchema, ARegistryFromBeforeJobsIsUpgradedInPlace) {
  ironroot::testing::TempDir dir;
  const auto path = dir / "registry.db";
  {
    auto db = Database::open(path, registry_migrations().first(2));
    ASSERT_TRUE(db) << db.error().message;
    ASSERT_TRUE(
        db->execute("INSERT INTO things (name, attributes, version, created_at, updated_at) "
                    "VALUES ('old', '{}', 1, 0, 0)"));
  }
  auto store = JobStore::open(path);
  ASSERT_TRUE(store) << store.error().message;
  NewJob job;
  job.job_id = "first";
  job.document = "{}";
  job.things = {"old"};
  auto created = store->create_job("operator", job);
  ASSERT_TRUE(created) << created.error().message;
  EXPECT_EQ(created->counts.things, 1);
  auto db = Database::open(path, registry_migrations());
  ASSERT_TRUE(db);
  EXPECT_EQ(db->schema_version().value(), static_cast<std::int64_t>(registry_migrations().size()));
}

}  // namespace
}  // namespace ironroot::fleet
