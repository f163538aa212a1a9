// Timeouts (step and in-progress) on an injected clock, and retries up to the job's limits.
#include <gtest/gtest.h>

#include "jobs_fixture.hpp"

namespace ironroot::fleet::testing {
namespace {

namespace errors = protocol::jobs_errors;

std::size_t timed_out_count(JobStore& jobs) {
  auto expired = jobs.expire("timer");
  EXPECT_TRUE(expired) << expired.error().message;
  return expired ? expired->value.timed_out.size() : 0;
}

TEST_F(JobsTest, StepTimeoutTimesOutAnExecutionThatDoesNotReport) {
  make_things({"a"});
  create_dispatched(job_for("ota", {"a"}));
  protocol::StartNextPendingJobExecutionRequest start;
  start.step_timeout_in_minutes = 5;
  ASSERT_TRUE(jobs().start_next("a", start));
  now_ += 4min + 59s;
  EXPECT_EQ(timed_out_count(jobs()), 0u);
  now_ += 1s;
  auto expired = jobs().expire("timer");
  ASSERT_TRUE(expired);
  ASSERT_EQ(expired->value.timed_out.size(), 1u);
  EXPECT_EQ(expired->value.timed_out[0].status, JobExecutionStatus::timed_out);
  EXPECT_TRUE(expired->value.retries.empty());
  EXPECT_EQ(expired->notifications.next_changed, (std::set<std::string>{"a"}));
  JobExecutionRecord timed_out = execution("ota", "a");
  EXPECT_EQ(timed_out.status, JobExecutionStatus::timed_out);
  EXPECT_EQ(timed_out.version_number, 3);
  EXPECT_FALSE(timed_out.step_timeout_at);
  EXPECT_EQ(job_status("ota"), JobStatus::completed);
  EXPECT_JOBS_REFUSED(jobs().update("a", "ota", update_to(JobExecutionStatus::succeeded)),
                      errors::kInvalidStateTransition);
  EXPECT_EQ(timed_out_count(jobs()), 0u);
  EXPECT_EQ(audit(AuditFilter{"job", "ota", {}}).back().action, "job.time-out");
}

TEST_F(JobsTest, ANewStepTimeoutRestartsTheStepTimer) {
  make_things({"a"});
  create_dispatched(job_for("ota", {"a"}));
  auto request = update_to(JobExecutionStatus::in_progress);
  request.step_timeout_in_minutes = 5;
  accept("a", "ota", request);
  now_ += 4min;
  accept("a", "ota", request);  // the timer runs 5 minutes from now again
  now_ += 4min;
  EXPECT_EQ(timed_out_count(jobs()), 0u);
  // A report without a step timeout leaves the running timer alone.
  accept("a", "ota", update_to(JobExecutionStatus::in_progress));
  now_ += 1min;
  EXPECT_EQ(timed_out_count(jobs()), 1u);
}

TEST_F(JobsTest, InProgressTimeoutCountsFromTheStartWhateverTheDeviceReports) {
  make_things({"a", "b"});
  NewJob spec = job_for("ota", {"a", "b"});
  spec.in_progress_timeout_minutes = 10;
  create_dispatched(spec);
  accept("a", "ota", update_to(JobExecutionStatus::in_progress));
  // The timer starts with IN_PROGRESS: b, still QUEUED, never times out.
  now_ += 6min;
  auto report = update_to(JobExecutionStatus::in_progress);
  report.include_job_execution_state = true;
  accept("a", "ota", report);
  auto described = jobs().describe("a", "ota", {});
  ASSERT_TRUE(described && *described);
  EXPECT_EQ((*described)->approximate_seconds_before_timed_out, 240);
  now_ += 4min;
  EXPECT_EQ(timed_out_count(jobs()), 1u);
  EXPECT_EQ(execution("ota", "a").status, JobExecutionStatus::timed_out);
  EXPECT_EQ(execution("ota", "b").status, JobExecutionStatus::queued);
  now_ += 1000min;
  EXPECT_EQ(timed_out_count(jobs()), 0u);
}

TEST_F(JobsTest, TimedOutExecutionsSurviveAReopen) {
  make_things({"a"});
  NewJob spec = job_for("ota", {"a"});
  spec.in_progress_timeout_minutes = 1;
  create_dispatched(spec);
  accept("a", "ota", update_to(JobExecutionStatus::in_progress));
  reopen_jobs();
  now_ += 1min;
  EXPECT_EQ(timed_out_count(jobs()), 1u);
  reopen_jobs();
  EXPECT_EQ(execution("ota", "a").status, JobExecutionStatus::timed_out);
}

TEST_F(JobsTest, FailedExecutionsAreRetriedUpToTheLimit) {
  make_things({"a", "b"});
  NewJob spec = job_for("ota", {"a", "b"});
  spec.retry_criteria = {{RetryFailureType::failed, 2}};
  create_dispatched(spec);
  accept("b", "ota", update_to(JobExecutionStatus::succeeded));

  for (std::int64_t attempt = 0; attempt < 2; ++attempt) {
    now_ += 1min;
    auto failed = jobs().update("a", "ota", update_to(JobExecutionStatus::failed));
    ASSERT_TRUE(failed) << failed.error().message;
    EXPECT_EQ(failed->value.state.status, JobExecutionStatus::failed);
    // The retry is the same job, next: the device hears of it as a new execution.
    EXPECT_EQ(failed->notifications.next_changed, (std::set<std::string>{"a"}));
    JobExecutionRecord retry = execution("ota", "a");
    EXPECT_EQ(retry.execution_number, attempt + 2);
    EXPECT_EQ(retry.retry_attempt, attempt + 1);
    EXPECT_EQ(retry.status, JobExecutionStatus::queued);
    EXPECT_EQ(retry.dispatched_at, now_);
    EXPECT_EQ(retry.version_number, 1);
    EXPECT_EQ(job_status("ota"), JobStatus::in_progress);
    auto counts = jobs().counts("ota");
    ASSERT_TRUE(counts);
    EXPECT_EQ(counts->queued, 1);
    EXPECT_EQ(counts->failed, 0);
    EXPECT_EQ(counts->things, 2);
  }
  // Retries used up: the third failure is final and completes the job.
  auto last = jobs().update("a", "ota", update_to(JobExecutionStatus::failed));
  ASSERT_TRUE(last);
  EXPECT_EQ(execution("ota", "a").execution_number, 3);
  EXPECT_EQ(execution("ota", "a").status, JobExecutionStatus::failed);
  EXPECT_EQ(execution("ota", "a", 1).status, JobExecutionStatus::failed);
  auto job = jobs().describe_job("ota");
  ASSERT_TRUE(job);
  EXPECT_EQ(job->status, JobStatus::completed);
  EXPECT_EQ(job->counts.failed, 1);
  EXPECT_EQ(job->counts.succeeded, 1);
  auto all = jobs().list_executions_of_job("ota", Page{});
  ASSERT_TRUE(all);
  EXPECT_EQ(all->items.size(), 4u);  // a: 3 attempts, b: 1
  // An earlier execution can be named, and is terminal.
  auto stale = update_to(JobExecutionStatus::succeeded);
  stale.execution_number = 1;
  EXPECT_JOBS_REFUSED(jobs().update("a", "ota", stale), errors::kInvalidStateTransition);
}

TEST_F(JobsTest, TenRetriesMeanElevenAttempts) {
  make_things({"a"});
  NewJob spec = job_for("ota", {"a"});
  spec.retry_criteria = {{RetryFailureType::all, kMaxNumberOfRetries}};
  create_dispatched(spec);
  for (int attempt = 0; attempt < 11; ++attempt) {
    accept("a", "ota", update_to(JobExecutionStatus::failed));
  }
  EXPECT_EQ(execution("ota", "a").execution_number, 11);
  EXPECT_EQ(execution("ota", "a").retry_attempt, 10);
  EXPECT_EQ(job_status("ota"), JobStatus::completed);
}

TEST_F(JobsTest, TimedOutExecutionsAreRetriedOnlyUnderATimedOutCriterion) {
  make_things({"a", "b"});
  NewJob spec = job_for("ota", {"a", "b"});
  spec.in_progress_timeout_minutes = 1;
  spec.retry_criteria = {{RetryFailureType::timed_out, 1}};
  create_dispatched(spec);
  accept("a", "ota", update_to(JobExecutionStatus::in_progress));
  // FAILED is not covered.
  accept("b", "ota", update_to(JobExecutionStatus::failed));
  EXPECT_EQ(execution("ota", "b").execution_number, 1);

  now_ += 1min;
  auto expired = jobs().expire("timer");
  ASSERT_TRUE(expired);
  ASSERT_EQ(expired->value.retries.size(), 1u);
  EXPECT_EQ(expired->value.retries[0].execution_number, 2);
  EXPECT_EQ(execution("ota", "a").status, JobExecutionStatus::queued);
  accept("a", "ota", update_to(JobExecutionStatus::in_progress));
  now_ += 1min;
  expired = jobs().expire("timer");
  ASSERT_TRUE(expired);
  EXPECT_EQ(expired->value.timed_out.size(), 1u);
  EXPECT_TRUE(expired->value.retries.empty());
  EXPECT_EQ(job_status("ota"), JobStatus::completed);
}

TEST_F(JobsTest, AllCriterionSharesOneBudgetBetweenFailuresAndTimeouts) {
  make_things({"a"});
  NewJob spec = job_for("ota", {"a"});
  spec.in_progress_timeout_minutes = 1;
  spec.retry_criteria = {{RetryFailureType::all, 2}};
  create_dispatched(spec);
  accept("a", "ota", update_to(JobExecutionStatus::failed));  // retry 1
  accept("a", "ota", update_to(JobExecutionStatus::in_progress));
  now_ += 1min;
  EXPECT_EQ(timed_out_count(jobs()), 1u);  // retry 2
  EXPECT_EQ(execution("ota", "a").status, JobExecutionStatus::queued);
  accept("a", "ota", update_to(JobExecutionStatus::failed));
  EXPECT_EQ(execution("ota", "a").execution_number, 3);
  EXPECT_EQ(execution("ota", "a").status, JobExecutionStatus::failed);
}

TEST_F(JobsTest, CanceledJobsAreNotRetried) {
  make_things({"a"});
  NewJob spec = job_for("ota", {"a"});
  spec.retry_criteria = {{RetryFailureType::failed, 3}};
  create_dispatched(spec);
  accept("a", "ota", update_to(JobExecutionStatus::in_progress));
  ASSERT_TRUE(jobs().cancel_job("operator", "ota", {}));
  accept("a", "ota", update_to(JobExecutionStatus::failed));
  EXPECT_EQ(execution("ota", "a").execution_number, 1);
  EXPECT_EQ(job_status("ota"), JobStatus::canceled);
}

TEST_F(JobsTest, DispatchedThingsKeepTheirFirstDispatchAndShowTheirLatestStatus) {
  make_things({"a", "b", "c"});
  NewJob spec = job_for("ota", {"a", "b", "c"});
  spec.retry_criteria = {{RetryFailureType::failed, 1}};
  create(spec);
  auto none = jobs().dispatched_things("ota");
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_TRUE(none->empty());

  const Time first = now_;
  ASSERT_TRUE(jobs().dispatch("rollout", "ota", std::vector<std::string>{"c"}));
  now_ += 1min;
  ASSERT_TRUE(jobs().dispatch("rollout", "ota", std::vector<std::string>{"a"}));
  // a fails and is retried: a new execution, dispatched now, but a keeps its place.
  now_ += 1min;
  accept("a", "ota", update_to(JobExecutionStatus::failed));
  accept("c", "ota", update_to(JobExecutionStatus::succeeded));

  auto things = jobs().dispatched_things("ota");
  ASSERT_TRUE(things) << things.error().message;
  const std::vector<DispatchedThing> expected{
      {"c", first, JobExecutionStatus::succeeded},
      {"a", first + 1min, JobExecutionStatus::queued},  // b was never dispatched
  };
  EXPECT_EQ(*things, expected);
  EXPECT_REFUSED(jobs().dispatched_things("nope"), RegistryErrorCode::not_found);
}

}  // namespace
}  // namespace ironroot::fleet::testing
