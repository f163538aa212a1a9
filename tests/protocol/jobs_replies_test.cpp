// The device's side of the Jobs API codecs: decoding replies and notifications
// (ironroot/protocol/jobs.hpp, decode_jobs_reply and the decode() members).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "ironroot/protocol/jobs.hpp"

namespace ironroot::protocol {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

template <class Message>
Result<Message> decode_text(const std::string& text) {
  return decode_jobs_reply<Message>(as_bytes(text));
}

template <class Message>
std::string error_of(const std::string& text) {
  auto decoded = decode_text<Message>(text);
  EXPECT_FALSE(decoded) << text;
  return decoded ? std::string() : decoded.error().message;
}

template <class Message>
void round_trips(const Message& message) {
  auto decoded = decode_jobs_reply<Message>(encode_jobs_message(message));
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_TRUE(*decoded == message) << message.encode().dump();
}

JobExecution sample_execution() {
  JobExecution e;
  e.job_id = "AFR_OTA-job";
  e.thing_name = "demo-thing";
  e.job_document = json::parse(R"({"afr_ota":{"protocols":["MQTT"],"files":[{"fileid":0}]}})");
  e.status = JobExecutionStatus::in_progress;
  e.status_details = {{"self_test", "ready"}, {"updatedBy", "0x00090002"}};
  e.queued_at = 100;
  e.started_at = 110;
  e.last_updated_at = 120;
  e.version_number = 3;
  e.execution_number = 1;
  e.approximate_seconds_before_timed_out = 590;
  return e;
}

TEST(JobsReplyDecoding, EveryMessageRoundTrips) {
  const JobExecution full = sample_execution();
  JobExecution minimal = full;
  minimal.job_document.reset();
  minimal.status_details.clear();
  minimal.started_at.reset();
  minimal.approximate_seconds_before_timed_out.reset();
  round_trips(DescribeJobExecutionResponse{full, 130, ":demo-thing"});
  round_trips(DescribeJobExecutionResponse{minimal, 130, {}});
  round_trips(DescribeJobExecutionResponse{{}, 1, "c"});
  round_trips(StartNextJobExecutionResponse{full, 7, "t-1"});
  round_trips(StartNextJobExecutionResponse{{}, 7, {}});
  round_trips(NextJobExecutionChangedEvent{full, 9});
  round_trips(NextJobExecutionChangedEvent{{}, 9});
  round_trips(UpdateJobExecutionResponse{
      JobExecutionState{JobExecutionStatus::succeeded, {{"a", "b"}}, 4}, json{{"x", 1}}, 10, "u"});
  round_trips(UpdateJobExecutionResponse{{}, {}, 10, {}});
  round_trips(GetPendingJobExecutionsResponse{{JobExecutionSummary{"job-1", 1, 2, 3, 2, 1}},
                                              {JobExecutionSummary{"job-2", 1, {}, 1, 1, 1}},
                                              5,
                                              "g"});
  JobExecutionsChangedEvent changed;
  changed.timestamp = 12;
  changed.jobs[JobExecutionStatus::queued] = {JobExecutionSummary{"job1", 1, {}, 1, 1, 1}};
  changed.jobs[JobExecutionStatus::in_progress] = {JobExecutionSummary{"job0", 1, 2, 3, 3, 2}};
  round_trips(changed);
  round_trips(JobExecutionsChangedEvent{{}, 3});
  round_trips(JobsErrorResponse{std::string(jobs_errors::kVersionMismatch), "at version 3", "c-9",
                                14, JobExecutionState{JobExecutionStatus::in_progress, {}, 3}});
  round_trips(JobsErrorResponse{"SomethingNew", "", {}, 0, {}});
}

TEST(JobsReplyDecoding, ReadsAwsDocumentedExamples) {
  // jobs-comm-notifications' NextNotification: no statusDetails at all.
  auto next = decode_text<NextJobExecutionChangedEvent>(R"({
    "timestamp": 1476546249,
    "execution": {"jobId": "022", "thingName": "MyThing", "jobDocument": {"operation": "test"},
                  "status": "QUEUED", "queuedAt": 1476546249, "lastUpdatedAt": 1476546249,
                  "versionNumber": 1, "executionNumber": 1234567890}})");
  ASSERT_TRUE(next) << next.error().message;
  ASSERT_TRUE(next->execution);
  EXPECT_EQ(next->execution->job_id, "022");
  EXPECT_EQ(next->execution->status, JobExecutionStatus::queued);
  EXPECT_TRUE(next->execution->status_details.empty());
  EXPECT_EQ(next->execution->job_document->at("operation"), "test");
  EXPECT_EQ(next->execution->execution_number, 1234567890);

  // jobs-comm-notifications' ListNotification.
  auto list = decode_text<JobExecutionsChangedEvent>(R"({
    "timestamp": 1517016948,
    "jobs": {"QUEUED": [{"jobId": "job1", "queuedAt": 1517016947, "lastUpdatedAt": 1517016947,
                         "executionNumber": 1, "versionNumber": 1}]}})");
  ASSERT_TRUE(list) << list.error().message;
  ASSERT_EQ(list->jobs.size(), 1u);
  EXPECT_EQ(list->jobs.at(JobExecutionStatus::queued).at(0).job_id, "job1");

  // $next/get/accepted with nothing pending.
  auto nothing = decode_text<DescribeJobExecutionResponse>(R"({"timestamp":1,"clientToken":"c"})");
  ASSERT_TRUE(nothing) << nothing.error().message;
  EXPECT_FALSE(nothing->execution);
  EXPECT_EQ(nothing->client_token, "c");

  auto rejected = decode_text<JobsErrorResponse>(R"({
    "code": "VersionMismatch", "message": "expectedVersion 2, the execution is at version 3",
    "clientToken": "c-9", "timestamp": 1517016948,
    "executionState": {"status": "IN_PROGRESS", "statusDetails": {}, "versionNumber": 3}})");
  ASSERT_TRUE(rejected) << rejected.error().message;
  EXPECT_EQ(rejected->code, jobs_errors::kVersionMismatch);
  ASSERT_TRUE(rejected->execution_state);
  EXPECT_EQ(rejected->execution_state->version_number, 3);
}

TEST(JobsReplyDecoding, IgnoresKeysItDoesNotKnow) {
  auto update = decode_text<UpdateJobExecutionResponse>(
      R"({"timestamp": 5, "clientToken": "t", "future": [1, {"x": null}],
          "executionState": {"status": "SUCCEEDED", "versionNumber": 2, "note": 1.5}})");
  ASSERT_TRUE(update) << update.error().message;
  EXPECT_EQ(update->execution_state->status, JobExecutionStatus::succeeded);
  EXPECT_TRUE(update->execution_state->status_details.empty());
  // Lists under names that are not statuses in a notify are skipped; empty lists are none.
  auto list = decode_text<JobExecutionsChangedEvent>(
      R"({"timestamp": 1, "jobs": {"SCHEDULED": 3, "QUEUED": []}})");
  ASSERT_TRUE(list) << list.error().message;
  EXPECT_TRUE(list->jobs.empty());
  // Absent pending lists are empty.
  auto pending = decode_text<GetPendingJobExecutionsResponse>(R"({"timestamp": 1})");
  ASSERT_TRUE(pending) << pending.error().message;
  EXPECT_TRUE(pending->in_progress_jobs.empty());
  EXPECT_TRUE(pending->queued_jobs.empty());
}

TEST(JobsReplyDecoding, ChecksEveryFieldAndNamesIt) {
  const std::string execution_head =
      R"({"timestamp": 1, "execution": {"thingName": "t", "status": "QUEUED", "queuedAt": 1,
          "lastUpdatedAt": 1, "versionNumber": 1, "executionNumber": 1, )";
  using Next = NextJobExecutionChangedEvent;
  EXPECT_THAT(error_of<Next>(execution_head + R"("jobId": 7}})"),
              HasSubstr("NextJobExecutionChanged: execution.jobId: must be a string"));
  EXPECT_THAT(error_of<Next>(execution_head + R"("jobId": "a/b"}})"),
              HasSubstr("execution.jobId: \"a/b\" is not"));
  EXPECT_THAT(error_of<Next>(execution_head + R"("jobId": "j", "jobDocument": "{}"}})"),
              HasSubstr("execution.jobDocument: must be an object, not a string"));
  EXPECT_THAT(error_of<Next>(execution_head + R"("jobId": "j", "statusDetails": {"k": 1}}})"),
              HasSubstr("execution.statusDetails.k: must be a string, not an integer"));
  EXPECT_THAT(
      error_of<Next>(execution_head + R"("jobId": "j", "statusDetails": {"k": "a\u0007"}}})"),
      HasSubstr("execution.statusDetails.k: contains a control"));
  EXPECT_THAT(error_of<Next>(execution_head + R"("jobId": "j", "startedAt": -1}})"),
              HasSubstr("execution.startedAt: -1 is outside"));
  EXPECT_THAT(error_of<Next>(R"({"timestamp": 1, "execution": []})"),
              HasSubstr("execution: must be an object, not an array"));
  EXPECT_THAT(error_of<Next>(R"({"timestamp": 1.0})"),
              HasSubstr("timestamp: must be an integer, not a floating-point number"));
  EXPECT_THAT(error_of<Next>(R"({"timestamp": "1"})"), HasSubstr("timestamp: must be an integer"));
  EXPECT_THAT(error_of<Next>(R"({})"), HasSubstr("timestamp: missing"));

  const std::string missing_version =
      R"({"timestamp": 1, "execution": {"jobId": "j", "thingName": "t", "status": "QUEUED",
          "queuedAt": 1, "lastUpdatedAt": 1, "executionNumber": 1}})";
  EXPECT_THAT(error_of<DescribeJobExecutionResponse>(missing_version),
              HasSubstr("DescribeJobExecution reply: execution.versionNumber: missing"));
  EXPECT_THAT(error_of<StartNextJobExecutionResponse>(
                  R"({"timestamp": 1, "execution": {"jobId": "j", "thingName": "bad name"}})"),
              HasSubstr("execution.thingName: \"bad name\" is not"));
  EXPECT_THAT(
      error_of<UpdateJobExecutionResponse>(
          R"({"timestamp": 1, "executionState": {"status": "SUCCESS", "versionNumber": 1}})"),
      HasSubstr("executionState.status: \"SUCCESS\" is not a job execution status"));
  EXPECT_THAT(error_of<UpdateJobExecutionResponse>(R"({"timestamp": 1, "clientToken": ")" +
                                                   std::string(65, 'c') + R"("})"),
              HasSubstr("clientToken: 65 characters, more than the 64 allowed"));
  EXPECT_THAT(error_of<GetPendingJobExecutionsResponse>(
                  R"({"timestamp": 1, "queuedJobs": [{"jobId": "j", "queuedAt": 1,
                      "lastUpdatedAt": 1, "versionNumber": 1, "executionNumber": null}]})"),
              HasSubstr("queuedJobs[0].executionNumber: must be an integer, not null"));
  EXPECT_THAT(
      error_of<GetPendingJobExecutionsResponse>(R"({"timestamp": 1, "inProgressJobs": {}})"),
      HasSubstr("inProgressJobs: must be an array, not an object"));
  EXPECT_THAT(error_of<JobExecutionsChangedEvent>(R"({"timestamp": 1, "jobs": {"QUEUED": [1]}})"),
              HasSubstr("jobs.QUEUED[0]: must be an object, not an integer"));
  EXPECT_THAT(error_of<JobsErrorResponse>(R"({"message": "m", "timestamp": 1})"),
              HasSubstr("ErrorResponse: code: missing"));
  EXPECT_THAT(error_of<JobsErrorResponse>(R"({"code": "X", "message": 3, "timestamp": 1})"),
              HasSubstr("message: must be a string, not an integer"));
  EXPECT_THAT(error_of<JobsErrorResponse>(R"({"code": "X", "message": ")" +
                                          std::string(kMaxErrorMessageSize + 1, 'm') +
                                          R"(", "timestamp": 1})"),
              HasSubstr("message: more than 4096 bytes"));
  EXPECT_THAT(error_of<JobsErrorResponse>(R"({"code": ")" + std::string(129, 'C') +
                                          R"(", "timestamp": 1})"),
              HasSubstr("code: 129 bytes, more than the 128 allowed"));
}

TEST(JobsReplyDecoding, RefusesPayloadsThatAreNotOneBoundedObject) {
  using Next = NextJobExecutionChangedEvent;
  EXPECT_FALSE(decode_jobs_reply<Next>(ByteView{}));
  EXPECT_THAT(error_of<Next>("[1]"), HasSubstr("NextJobExecutionChanged: "));
  EXPECT_FALSE(decode_text<Next>("{\"timestamp\": 1"));
  EXPECT_FALSE(decode_text<Next>("{\"timestamp\": 1} x"));
  EXPECT_FALSE(decode_text<Next>("{\"timestamp\": 1, \"j\": \"\xff\"}"));
  std::string deep = R"({"timestamp": 1, "execution": {"jobId": "j", "jobDocument": )";
  for (int i = 0; i < 40; ++i) deep += "[";
  EXPECT_FALSE(decode_text<Next>(deep));
  const std::string text = R"({"timestamp": 1})";
  EXPECT_TRUE(decode_jobs_reply<Next>(as_bytes(text), text.size()));
  EXPECT_FALSE(decode_jobs_reply<Next>(as_bytes(text), text.size() - 1));
}

}  // namespace
}  // namespace ironroot::protocol
