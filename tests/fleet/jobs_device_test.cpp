// The jobs store's device side: GetPendingJobExecutions, StartNextPendingJobExecution,
// DescribeJobExecution and UpdateJobExecution, with their refusals and notifications.
#include <gtest/gtest.h>

#include "jobs_fixture.hpp"

namespace ironroot::fleet::testing {
namespace {

namespace errors = protocol::jobs_errors;

TEST_F(JobsTest, DevicesSeeDispatchedExecutionsRunningFirstThenOldestFirst) {
  make_things({"a", "b"});
  create_dispatched(job_for("first", {"a"}));
  now_ += 1min;
  create_dispatched(job_for("second", {"a", "b"}));
  now_ += 1min;
  create(job_for("hidden", {"a"}));  // not dispatched
  now_ += 1min;
  create_dispatched(job_for("third", {"a"}));
  accept("a", "second", update_to(JobExecutionStatus::in_progress));

  auto pending = jobs().pending_executions("a");
  ASSERT_TRUE(pending) << pending.error().message;
  ASSERT_EQ(pending->in_progress.size(), 1u);
  EXPECT_EQ(pending->in_progress[0].job_id, "second");
  EXPECT_EQ(pending->in_progress[0].started_at, to_db_seconds(kStart + 3min));
  ASSERT_EQ(pending->queued.size(), 2u);
  EXPECT_EQ(pending->queued[0].job_id, "first");
  EXPECT_EQ(pending->queued[1].job_id, "third");
  auto next = jobs().next_pending("a");
  ASSERT_TRUE(next && *next);
  EXPECT_EQ((*next)->job_id, "second");
  auto other = jobs().pending_executions("b");
  ASSERT_TRUE(other);
  ASSERT_EQ(other->queued.size(), 1u);
  EXPECT_TRUE(other->in_progress.empty());
}

TEST_F(JobsTest, StartNextStartsTheNextQueuedExecution) {
  make_things({"a"});
  create_dispatched(job_for("ota", {"a"}));
  now_ += 2min;
  protocol::StartNextPendingJobExecutionRequest request;
  request.status_details = protocol::StatusDetails{{"step", "download"}};
  request.step_timeout_in_minutes = 5;
  auto started = jobs().start_next("a", request);
  ASSERT_TRUE(started) << started.error().message;
  ASSERT_TRUE(started->value);
  const protocol::JobExecution& execution = *started->value;
  EXPECT_EQ(execution.job_id, "ota");
  EXPECT_EQ(execution.thing_name, "a");
  EXPECT_EQ(execution.status, JobExecutionStatus::in_progress);
  EXPECT_EQ(execution.status_details.at("step"), "download");
  EXPECT_EQ(execution.version_number, 2);
  EXPECT_EQ(execution.execution_number, 1);
  EXPECT_EQ(execution.started_at, to_db_seconds(kStart + 2min));
  EXPECT_EQ(execution.approximate_seconds_before_timed_out, 300);
  ASSERT_TRUE(execution.job_document);
  EXPECT_EQ(execution.job_document->at("version"), "2.0.0");
  // The same execution stays next: no notify-next; the pending list changed (QUEUED to
  // IN_PROGRESS).
  EXPECT_TRUE(started->notifications.next_changed.empty());
  EXPECT_EQ(started->notifications.pending_changed, (std::set<std::string>{"a"}));

  // Asked again, it returns the running execution unchanged.
  now_ += 1min;
  auto again = jobs().start_next("a", {});
  ASSERT_TRUE(again && again->value);
  EXPECT_EQ(again->value->version_number, 2);
  EXPECT_EQ(again->value->approximate_seconds_before_timed_out, 240);
  EXPECT_TRUE(again->notifications.empty());

  accept("a", "ota", update_to(JobExecutionStatus::succeeded));
  auto nothing = jobs().start_next("a", {});
  ASSERT_TRUE(nothing);
  EXPECT_FALSE(nothing->value);
  auto entries = audit(AuditFilter{"job", "ota", {}});
  ASSERT_FALSE(entries.empty());
  EXPECT_EQ(entries.back().actor, "a");
}

TEST_F(JobsTest, UpdateFollowsLegalTransitionsAndCountsVersions) {
  make_things({"a"});
  create_dispatched(job_for("ota", {"a"}));
  auto progress = update_to(JobExecutionStatus::in_progress);
  progress.status_details = protocol::StatusDetails{{"progress", "10%"}};
  progress.include_job_document = true;
  ExecutionUpdate update = accept("a", "ota", progress);
  EXPECT_EQ(update.state.status, JobExecutionStatus::in_progress);
  EXPECT_EQ(update.state.version_number, 2);
  ASSERT_TRUE(update.document);
  EXPECT_EQ(update.document->at("operation"), "update");

  // Absent statusDetails leave them as they are; present ones replace them.
  update = accept("a", "ota", update_to(JobExecutionStatus::in_progress));
  EXPECT_EQ(update.state.status_details, (protocol::StatusDetails{{"progress", "10%"}}));
  EXPECT_EQ(update.state.version_number, 3);
  EXPECT_FALSE(update.document);
  progress.status_details = protocol::StatusDetails{{"phase", "verify"}};
  progress.expected_version = 3;
  update = accept("a", "ota", progress);
  EXPECT_EQ(update.state.status_details, (protocol::StatusDetails{{"phase", "verify"}}));
  auto done = update_to(JobExecutionStatus::succeeded);
  done.expected_version = 4;
  done.execution_number = 1;
  update = accept("a", "ota", done);
  EXPECT_EQ(update.state.status, JobExecutionStatus::succeeded);
  EXPECT_EQ(update.state.version_number, 5);
  EXPECT_EQ(update.execution.status_details, (protocol::StatusDetails{{"phase", "verify"}}));

  // A terminal execution never changes again.
  for (JobExecutionStatus status : {JobExecutionStatus::in_progress, JobExecutionStatus::succeeded,
                                    JobExecutionStatus::failed, JobExecutionStatus::rejected}) {
    auto refused = jobs().update("a", "ota", update_to(status));
    EXPECT_JOBS_REFUSED(refused, errors::kInvalidStateTransition);
    ASSERT_TRUE(refused.error().execution_state);
    EXPECT_EQ(refused.error().execution_state->status, JobExecutionStatus::succeeded);
    EXPECT_EQ(refused.error().execution_state->version_number, 5);
  }
  EXPECT_EQ(execution("ota", "a").version_number, 5);
}

TEST_F(JobsTest, DevicesCannotSetTheServiceStates) {
  make_things({"a"});
  create_dispatched(job_for("ota", {"a"}));
  for (JobExecutionStatus status : {JobExecutionStatus::queued, JobExecutionStatus::timed_out,
                                    JobExecutionStatus::canceled, JobExecutionStatus::removed}) {
    EXPECT_JOBS_REFUSED(jobs().update("a", "ota", update_to(status)),
                        errors::kInvalidStateTransition);
  }
  JobExecutionRecord unchanged = execution("ota", "a");
  EXPECT_EQ(unchanged.status, JobExecutionStatus::queued);
  EXPECT_EQ(unchanged.version_number, 1);
  // QUEUED may end at once (a device that refuses the job).
  EXPECT_EQ(accept("a", "ota", update_to(JobExecutionStatus::rejected)).state.status,
            JobExecutionStatus::rejected);
}

TEST_F(JobsTest, VersionMismatchSendsTheCurrentStateAndChangesNothing) {
  make_things({"a"});
  create_dispatched(job_for("ota", {"a"}));
  auto request = update_to(JobExecutionStatus::in_progress);
  request.expected_version = 7;
  request.status_details = protocol::StatusDetails{{"x", "y"}};
  auto refused = jobs().update("a", "ota", request);
  EXPECT_JOBS_REFUSED(refused, errors::kVersionMismatch);
  ASSERT_TRUE(refused.error().execution_state);
  EXPECT_EQ(refused.error().execution_state->version_number, 1);
  EXPECT_EQ(refused.error().execution_state->status, JobExecutionStatus::queued);
  JobExecutionRecord unchanged = execution("ota", "a");
  EXPECT_EQ(unchanged.version_number, 1);
  EXPECT_TRUE(unchanged.status_details.empty());
}

TEST_F(JobsTest, ADeviceReachesOnlyItsOwnDispatchedExecutions) {
  make_things({"a", "b"});
  create_dispatched(job_for("ota", {"a"}));
  create(job_for("later", {"b"}));
  // b has no execution of "ota"; its execution of "later" is not dispatched.
  EXPECT_JOBS_REFUSED(jobs().update("b", "ota", update_to(JobExecutionStatus::succeeded)),
                      errors::kResourceNotFound);
  EXPECT_JOBS_REFUSED(jobs().describe("b", "ota", {}), errors::kResourceNotFound);
  EXPECT_JOBS_REFUSED(jobs().update("b", "later", update_to(JobExecutionStatus::in_progress)),
                      errors::kResourceNotFound);
  EXPECT_JOBS_REFUSED(jobs().update("a", "unknown", update_to(JobExecutionStatus::in_progress)),
                      errors::kResourceNotFound);
  auto numbered = update_to(JobExecutionStatus::in_progress);
  numbered.execution_number = 2;
  EXPECT_JOBS_REFUSED(jobs().update("a", "ota", numbered), errors::kResourceNotFound);
  auto b_next = jobs().start_next("b", {});
  ASSERT_TRUE(b_next);
  EXPECT_FALSE(b_next->value);
  EXPECT_EQ(execution("ota", "a").status, JobExecutionStatus::queued);
  EXPECT_EQ(execution("later", "b").status, JobExecutionStatus::queued);
}

TEST_F(JobsTest, BadRequestsAreInvalidRequestAndChangeNothing) {
  make_things({"a"});
  create_dispatched(job_for("ota", {"a"}));
  auto request = update_to(JobExecutionStatus::in_progress);
  request.status_details = protocol::StatusDetails{{"bad key!", "x"}};
  EXPECT_JOBS_REFUSED(jobs().update("a", "ota", request), errors::kInvalidRequest);
  request = update_to(JobExecutionStatus::in_progress);
  request.step_timeout_in_minutes = 10081;
  EXPECT_JOBS_REFUSED(jobs().update("a", "ota", request), errors::kInvalidRequest);
  protocol::StartNextPendingJobExecutionRequest start;
  start.step_timeout_in_minutes = 0;
  EXPECT_JOBS_REFUSED(jobs().start_next("a", start), errors::kInvalidRequest);
  EXPECT_JOBS_REFUSED(jobs().update("a", "$next", update_to(JobExecutionStatus::in_progress)),
                      errors::kInvalidRequest);
  EXPECT_EQ(execution("ota", "a").version_number, 1);
}

TEST_F(JobsTest, DescribeByIdAndNext) {
  make_things({"a"});
  create_dispatched(job_for("ota", {"a"}));
  auto described = jobs().describe("a", "ota", {});
  ASSERT_TRUE(described) << described.error().message;
  ASSERT_TRUE(*described);
  EXPECT_EQ((*described)->status, JobExecutionStatus::queued);
  EXPECT_TRUE((*described)->job_document);  // includeJobDocument defaults to true
  protocol::DescribeJobExecutionRequest without;
  without.include_job_document = false;
  described = jobs().describe("a", std::string(protocol::kNextJobId), without);
  ASSERT_TRUE(described && *described);
  EXPECT_EQ((*described)->job_id, "ota");
  EXPECT_FALSE((*described)->job_document);
  auto next = jobs().next_pending_execution("a");
  ASSERT_TRUE(next && *next);
  EXPECT_EQ(**next, **jobs().describe("a", "ota", {}));

  accept("a", "ota", update_to(JobExecutionStatus::succeeded));
  EXPECT_JOBS_REFUSED(jobs().describe("a", "ota", {}), errors::kTerminalStateReached);
  described = jobs().describe("a", std::string(protocol::kNextJobId), {});
  ASSERT_TRUE(described);
  EXPECT_FALSE(*described);
  protocol::DescribeJobExecutionRequest numbered;
  numbered.execution_number = 9;
  EXPECT_JOBS_REFUSED(jobs().describe("a", "ota", numbered), errors::kResourceNotFound);
}

TEST_F(JobsTest, NotificationsNameTheThingsWhoseNextExecutionChanged) {
  make_things({"a", "b"});
  create(job_for("first", {"a", "b"}));
  auto dispatched = jobs().dispatch("rollout", "first", std::vector<std::string>{"a"});
  ASSERT_TRUE(dispatched);
  EXPECT_EQ(dispatched->value, 1u);
  EXPECT_EQ(dispatched->notifications.next_changed, (std::set<std::string>{"a"}));
  // Dispatching again dispatches nothing and notifies no one.
  dispatched = jobs().dispatch("rollout", "first", std::vector<std::string>{"a", "ghost"});
  ASSERT_TRUE(dispatched);
  EXPECT_EQ(dispatched->value, 0u);
  EXPECT_TRUE(dispatched->notifications.empty());

  now_ += 1min;
  create_dispatched(job_for("second", {"a"}));
  // A progress report leaves the next execution where it was.
  auto progress = jobs().update("a", "first", update_to(JobExecutionStatus::in_progress));
  ASSERT_TRUE(progress);
  EXPECT_TRUE(progress->notifications.next_changed.empty());
  progress = jobs().update("a", "first", update_to(JobExecutionStatus::in_progress));
  ASSERT_TRUE(progress);
  EXPECT_TRUE(progress->notifications.empty());
  // Finishing it makes "second" next.
  auto done = jobs().update("a", "first", update_to(JobExecutionStatus::succeeded));
  ASSERT_TRUE(done);
  EXPECT_EQ(done->notifications.next_changed, (std::set<std::string>{"a"}));
  auto next = jobs().next_pending("a");
  ASSERT_TRUE(next && *next);
  EXPECT_EQ((*next)->job_id, "second");
}

TEST_F(JobsTest, DispatchRefusesJobsThatAreNotInProgress) {
  make_things({"a"});
  create(job_for("ota", {"a"}));
  ASSERT_TRUE(jobs().cancel_job("operator", "ota", {}));
  EXPECT_REFUSED(jobs().dispatch("rollout", "ota", std::vector<std::string>{"a"}),
                 RegistryErrorCode::conflict);
  EXPECT_REFUSED(jobs().dispatch("rollout", "none", std::vector<std::string>{"a"}),
                 RegistryErrorCode::not_found);
  std::vector<std::string> too_many(kMaxPageLimit + 1, "a");
  EXPECT_REFUSED(jobs().dispatch("rollout", "ota", too_many), RegistryErrorCode::invalid);
  EXPECT_REFUSED(jobs().undispatched("ota", 0), RegistryErrorCode::invalid);
}

TEST_F(JobsTest, UndispatchedPagesThroughTheWaitingThings) {
  make_things({"a", "b", "c"});
  create(job_for("ota", {"a", "b", "c"}));
  auto waiting = jobs().undispatched("ota", 2);
  ASSERT_TRUE(waiting);
  EXPECT_EQ(*waiting, (std::vector<std::string>{"a", "b"}));
  ASSERT_TRUE(jobs().dispatch("rollout", "ota", *waiting));
  waiting = jobs().undispatched("ota", 2);
  ASSERT_TRUE(waiting);
  EXPECT_EQ(*waiting, (std::vector<std::string>{"c"}));
  auto counts = jobs().counts("ota");
  ASSERT_TRUE(counts);
  EXPECT_EQ(counts->dispatched, 2);
  EXPECT_EQ(counts->undispatched, 1);
  EXPECT_EQ(counts->queued, 3);
  EXPECT_EQ(audit(AuditFilter{"job", "ota", {}}).back().action, "job.dispatch");
}

}  // namespace
}  // namespace ironroot::fleet::testing
