// A registry and a jobs store on the same fresh database, sharing a clock the test moves by hand.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "ironroot/fleet/jobs.hpp"
#include "registry_fixture.hpp"

namespace ironroot::fleet::testing {

using protocol::JobExecutionStatus;

// A time as the Jobs API sends it: seconds since the epoch.
inline std::int64_t to_db_seconds(Time time) {
  return time.time_since_epoch().count();
}

class JobsTest : public RegistryTest {
 protected:
  void SetUp() override {
    RegistryTest::SetUp();
    reopen_jobs();
  }

  void reopen_jobs() {
    jobs_.reset();
    auto opened = JobStore::open(path(), [this] { return now_; });
    ASSERT_TRUE(opened) << opened.error().message;
    jobs_.emplace(std::move(*opened));
  }

  JobStore& jobs() { return *jobs_; }

  void make_things(const std::vector<std::string>& names) {
    for (const std::string& name : names) {
      auto thing = registry().create_thing("test", NewThing{name, {}, {}, {}});
      ASSERT_TRUE(thing) << thing.error().message;
    }
  }

  static NewJob job_for(std::string id, std::vector<std::string> things,
                        std::vector<std::string> groups = {}) {
    NewJob job;
    job.job_id = std::move(id);
    job.document = R"({"operation":"update","version":"2.0.0"})";
    job.things = std::move(things);
    job.groups = std::move(groups);
    return job;
  }

  Job create(const NewJob& job) {
    auto created = jobs().create_job("operator", job);
    EXPECT_TRUE(created) << created.error().message;
    return created ? *created : Job{};
  }

  // Creates the job and dispatches every execution at once.
  Job create_dispatched(const NewJob& job) {
    Job created = create(job);
    std::vector<std::string> things;
    auto waiting = jobs().undispatched(job.job_id, kMaxPageLimit);
    EXPECT_TRUE(waiting) << waiting.error().message;
    if (waiting) things = *waiting;
    auto dispatched = jobs().dispatch("rollout", job.job_id, things);
    EXPECT_TRUE(dispatched) << dispatched.error().message;
    return created;
  }

  static protocol::UpdateJobExecutionRequest update_to(JobExecutionStatus status) {
    protocol::UpdateJobExecutionRequest request;
    request.status = status;
    return request;
  }

  // The device's update, which must be accepted.
  ExecutionUpdate accept(const std::string& thing, const std::string& job_id,
                         const protocol::UpdateJobExecutionRequest& request) {
    auto updated = jobs().update(thing, job_id, request);
    EXPECT_TRUE(updated) << updated.error().code << ": " << updated.error().message;
    return updated ? updated->value : ExecutionUpdate{};
  }

  JobExecutionRecord execution(const std::string& job_id, const std::string& thing,
                               std::optional<std::int64_t> number = std::nullopt) {
    auto found = jobs().describe_execution(job_id, thing, number);
    EXPECT_TRUE(found) << found.error().message;
    return found ? *found : JobExecutionRecord{};
  }

  JobStatus job_status(const std::string& job_id) {
    auto job = jobs().describe_job(job_id);
    EXPECT_TRUE(job) << job.error().message;
    return job ? job->status : JobStatus::in_progress;
  }

  std::optional<JobStore> jobs_;
};

// Asserts that a device request was refused with `expected_code` (a protocol::jobs_errors value).
#define EXPECT_JOBS_REFUSED(result, expected_code)                                             \
  do {                                                                                         \
    const auto& refused_outcome = (result);                                                    \
    ASSERT_FALSE(refused_outcome) << "expected " << (expected_code);                           \
    EXPECT_EQ(refused_outcome.error().code, expected_code) << refused_outcome.error().message; \
  } while (false)

}  // namespace ironroot::fleet::testing
