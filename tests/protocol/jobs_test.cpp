#include "ironroot/protocol/jobs.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ironroot::protocol {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const TopicPrefix kAws;

constexpr JobExecutionStatus kAllStatuses[] = {
    JobExecutionStatus::queued,  JobExecutionStatus::in_progress, JobExecutionStatus::succeeded,
    JobExecutionStatus::failed,  JobExecutionStatus::timed_out,   JobExecutionStatus::rejected,
    JobExecutionStatus::removed, JobExecutionStatus::canceled,
};

JobsTopic topic(std::string thing, JobsOperation operation, std::string job_id = "",
                Reply reply = Reply::none) {
  return JobsTopic{std::move(thing), operation, std::move(job_id), reply};
}

template <class Request>
JobsRequestError request_error(std::string_view payload) {
  auto decoded = decode_jobs_request<Request>(as_bytes(payload));
  EXPECT_FALSE(decoded) << "accepted: " << payload;
  return decoded ? JobsRequestError{} : decoded.error();
}

template <class Request>
void expect_invalid_request(std::string_view payload, std::string_view message,
                            std::optional<std::string> token) {
  auto error = request_error<Request>(payload);
  EXPECT_EQ(error.code, jobs_errors::kInvalidRequest) << payload;
  EXPECT_THAT(error.message, HasSubstr(message)) << payload;
  EXPECT_EQ(error.client_token, token) << payload;
}

template <class Request>
Request decoded(std::string_view payload) {
  auto request = decode_jobs_request<Request>(as_bytes(payload));
  EXPECT_TRUE(request) << payload << ": " << (request ? "" : request.error().message);
  return request ? *request : Request{};
}

template <class Request>
void expect_round_trip(const Request& request) {
  auto again = decode_jobs_request<Request>(encode_jobs_message(request));
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_TRUE(*again == request) << request.encode().dump();
}

std::string repeat(std::string_view text, std::size_t count) {
  std::string out;
  for (std::size_t i = 0; i < count; ++i) out += text;
  return out;
}

// ---- Topics

TEST(JobsTopics, BuildTheDocumentedTopics) {
  EXPECT_EQ(*jobs_topic(kAws, topic("T", JobsOperation::get_pending)), "$aws/things/T/jobs/get");
  EXPECT_EQ(*jobs_topic(kAws, topic("T", JobsOperation::get_pending, "", Reply::accepted)),
            "$aws/things/T/jobs/get/accepted");
  EXPECT_EQ(*jobs_topic(kAws, topic("T", JobsOperation::start_next, "", Reply::rejected)),
            "$aws/things/T/jobs/start-next/rejected");
  EXPECT_EQ(*jobs_topic(kAws, topic("T", JobsOperation::describe, "$next")),
            "$aws/things/T/jobs/$next/get");
  EXPECT_EQ(*jobs_topic(kAws, topic("T", JobsOperation::describe, "job-1", Reply::accepted)),
            "$aws/things/T/jobs/job-1/get/accepted");
  EXPECT_EQ(*jobs_topic(kAws, topic("my:Thing_1", JobsOperation::update, "job_1")),
            "$aws/things/my:Thing_1/jobs/job_1/update");
  EXPECT_EQ(*jobs_topic(kAws, topic("T", JobsOperation::update, "j", Reply::rejected)),
            "$aws/things/T/jobs/j/update/rejected");
  EXPECT_EQ(*jobs_notify_topic(kAws, "T"), "$aws/things/T/jobs/notify");
  EXPECT_EQ(*jobs_notify_next_topic(kAws, "T"), "$aws/things/T/jobs/notify-next");
  auto lab = TopicPrefix::create("lab/$aws");
  ASSERT_TRUE(lab);
  EXPECT_EQ(*jobs_topic(*lab, topic("T", JobsOperation::start_next)),
            "lab/$aws/things/T/jobs/start-next");
}

TEST(JobsTopics, EveryTopicParsesBackToItself) {
  std::vector<JobsTopic> topics = {topic("T", JobsOperation::notify),
                                   topic("T", JobsOperation::notify_next)};
  for (auto reply : {Reply::none, Reply::accepted, Reply::rejected}) {
    topics.push_back(topic("T", JobsOperation::get_pending, "", reply));
    topics.push_back(topic("T", JobsOperation::start_next, "", reply));
    // Job ids that are also operation names must not confuse the parser.
    for (const char* job : {"job-1", "get", "update", "notify", "notify-next", "start-next",
                            "accepted", "rejected"}) {
      topics.push_back(topic("T", JobsOperation::describe, job, reply));
      topics.push_back(topic("T", JobsOperation::update, job, reply));
    }
    topics.push_back(topic("T", JobsOperation::describe, "$next", reply));
  }
  for (const auto& t : topics) {
    auto text = jobs_topic(kAws, t);
    ASSERT_TRUE(text) << text.error().message;
    auto parsed = parse_jobs_topic(kAws, *text);
    ASSERT_TRUE(parsed) << *text;
    EXPECT_EQ(*parsed, t) << *text;
    EXPECT_EQ(parsed->is_request(), t.reply == Reply::none &&
                                        t.operation != JobsOperation::notify &&
                                        t.operation != JobsOperation::notify_next)
        << *text;
    EXPECT_EQ(jobs_namespace_thing(kAws, *text), "T") << *text;
  }
}

TEST(JobsTopics, ParseSeparatesOperationsFromJobIds) {
  auto get_reply = parse_jobs_topic(kAws, "$aws/things/T/jobs/get/accepted");
  ASSERT_TRUE(get_reply);
  EXPECT_EQ(get_reply->operation, JobsOperation::get_pending);
  EXPECT_EQ(get_reply->reply, Reply::accepted);
  auto describe_get = parse_jobs_topic(kAws, "$aws/things/T/jobs/get/get");
  ASSERT_TRUE(describe_get);
  EXPECT_EQ(describe_get->operation, JobsOperation::describe);
  EXPECT_EQ(describe_get->job_id, "get");
  EXPECT_TRUE(describe_get->is_request());
  auto update = parse_jobs_topic(kAws, "$aws/things/T/jobs/start-next/update");
  ASSERT_TRUE(update);
  EXPECT_EQ(update->operation, JobsOperation::update);
  EXPECT_EQ(update->job_id, "start-next");
}

TEST(JobsTopics, ParseRefusesEverythingElse) {
  for (const char* text : {
           "$aws/things/T/jobs",
           "$aws/things/T/jobs/",
           "$aws/things/T/jobs/x",
           "$aws/things/T/jobs/notify/accepted",
           "$aws/things/T/jobs/notify-next/rejected",
           "$aws/things/T/jobs/get/other",
           "$aws/things/T/jobs/get/accepted/x",
           "$aws/things/T/jobs/get/",
           "$aws/things/T/jobs/job/delete",
           "$aws/things/T/jobs/job/get/other",
           "$aws/things/T/jobs/job/get/accepted/x",
           "$aws/things/T/jobs/$next/update",
           "$aws/things/T/jobs/$other/get",
           "$aws/things/T/jobs/bad.id/get",
           "$aws/things/T/jobs/+/get",
           "$aws/things/T/jobs//get",
           "$aws/things/T/jobs/j/update/",
           "$aws/things/bad/name/jobs/get",
           "$aws/things/bad.name/jobs/get",
           "$aws/things//jobs/get",
           "$aws/things/+/jobs/get",
           "$aws/things/T/shadow/get",
           "$aws/things/T",
           "$awsx/things/T/jobs/get",
           "aws/things/T/jobs/get",
           "/$aws/things/T/jobs/get",
           "$aws/certificates/create/json",
           "",
       }) {
    EXPECT_FALSE(parse_jobs_topic(kAws, text)) << text;
  }
  const std::string id64(64, 'j');
  EXPECT_TRUE(parse_jobs_topic(kAws, "$aws/things/T/jobs/" + id64 + "/get"));
  EXPECT_FALSE(parse_jobs_topic(kAws, "$aws/things/T/jobs/" + id64 + "j/get"));
  const std::string thing128(128, 't');
  EXPECT_TRUE(parse_jobs_topic(kAws, "$aws/things/" + thing128 + "/jobs/get"));
  EXPECT_FALSE(parse_jobs_topic(kAws, "$aws/things/" + thing128 + "t/jobs/get"));
}

TEST(JobsTopics, ParseUsesTheConfiguredPrefix) {
  auto prefix = TopicPrefix::create("site/a");
  ASSERT_TRUE(prefix);
  EXPECT_TRUE(parse_jobs_topic(*prefix, "site/a/things/T/jobs/get"));
  EXPECT_FALSE(parse_jobs_topic(*prefix, "$aws/things/T/jobs/get"));
  EXPECT_FALSE(parse_jobs_topic(*prefix, "site/ab/things/T/jobs/get"));
}

TEST(JobsTopics, BuilderRefusesWhatTheParserWouldRefuse) {
  EXPECT_THAT(jobs_topic(kAws, topic("a/b", JobsOperation::get_pending)).error().message,
              HasSubstr("invalid thing name \"a/b\""));
  EXPECT_FALSE(jobs_topic(kAws, topic("", JobsOperation::get_pending)));
  EXPECT_FALSE(jobs_notify_topic(kAws, "a+b"));
  EXPECT_FALSE(jobs_notify_next_topic(kAws, std::string(129, 't')));
  EXPECT_THAT(jobs_topic(kAws, topic("T", JobsOperation::get_pending, "j")).error().message,
              HasSubstr("only DescribeJobExecution and UpdateJobExecution"));
  EXPECT_THAT(jobs_topic(kAws, topic("T", JobsOperation::update, "$next")).error().message,
              HasSubstr("invalid job id \"$next\""));
  EXPECT_THAT(jobs_topic(kAws, topic("T", JobsOperation::describe, "a.b")).error().message,
              HasSubstr("or $next"));
  EXPECT_FALSE(jobs_topic(kAws, topic("T", JobsOperation::describe, "")));
  EXPECT_FALSE(jobs_topic(kAws, topic("T", JobsOperation::update, std::string(65, 'j'))));
  EXPECT_THAT(
      jobs_topic(kAws, topic("T", JobsOperation::notify, "", Reply::accepted)).error().message,
      HasSubstr("no replies"));
}

TEST(JobsTopics, ReplyTopicKeepsThingOperationAndJob) {
  auto request = parse_jobs_topic(kAws, "$aws/things/T/jobs/$next/get");
  ASSERT_TRUE(request);
  EXPECT_EQ(*jobs_topic(kAws, reply_topic(*request, Reply::accepted)),
            "$aws/things/T/jobs/$next/get/accepted");
  EXPECT_EQ(*jobs_topic(kAws, reply_topic(*request, Reply::rejected)),
            "$aws/things/T/jobs/$next/get/rejected");
  EXPECT_FALSE(reply_topic(*request, Reply::accepted).is_request());
}

TEST(JobsTopics, NamespaceThingFindsTheThingOfUnknownOperations) {
  EXPECT_EQ(jobs_namespace_thing(kAws, "$aws/things/T/jobs/whatever/else/here"), "T");
  EXPECT_FALSE(parse_jobs_topic(kAws, "$aws/things/T/jobs/whatever/else/here"));
  EXPECT_EQ(jobs_namespace_thing(kAws, "$aws/things/T/jobs/"), "T");
  EXPECT_FALSE(jobs_namespace_thing(kAws, "$aws/things/T/jobs"));
  EXPECT_FALSE(jobs_namespace_thing(kAws, "$aws/things/T/shadow/get"));
  EXPECT_FALSE(jobs_namespace_thing(kAws, "$aws/things/a.b/jobs/get"));
}

TEST(JobsTopics, RequestFiltersCoverTheRequests) {
  EXPECT_THAT(jobs_request_filters(kAws),
              ElementsAre("$aws/things/+/jobs/get", "$aws/things/+/jobs/start-next",
                          "$aws/things/+/jobs/+/get", "$aws/things/+/jobs/+/update"));
}

TEST(JobsTopics, JobIdsFollowAws) {
  EXPECT_TRUE(is_valid_job_id("a"));
  EXPECT_TRUE(is_valid_job_id("Az09_-"));
  EXPECT_TRUE(is_valid_job_id(std::string(64, 'x')));
  EXPECT_FALSE(is_valid_job_id(""));
  EXPECT_FALSE(is_valid_job_id(std::string(65, 'x')));
  for (const char* bad : {"$next", "a b", "a/b", "a+b", "a#b", "a.b", "a:b", "caf\xc3\xa9"}) {
    EXPECT_FALSE(is_valid_job_id(bad)) << bad;
  }
}

// ---- States

TEST(JobExecutionStatuses, NamesAreAwsSpellings) {
  const std::vector<std::string> names = {"QUEUED",    "IN_PROGRESS", "SUCCEEDED", "FAILED",
                                          "TIMED_OUT", "REJECTED",    "REMOVED",   "CANCELED"};
  for (std::size_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ(to_string(kAllStatuses[i]), names[i]);
    EXPECT_EQ(parse_job_execution_status(names[i]), kAllStatuses[i]);
  }
  for (const char* bad : {"", "queued", "SUCCESS", "CANCELLED", "IN PROGRESS", "QUEUED "}) {
    EXPECT_FALSE(parse_job_execution_status(bad)) << bad;
  }
}

TEST(JobExecutionStatuses, OnlyQueuedAndInProgressAreNotTerminal) {
  for (auto status : kAllStatuses) {
    EXPECT_EQ(is_terminal(status),
              status != JobExecutionStatus::queued && status != JobExecutionStatus::in_progress)
        << to_string(status);
  }
}

TEST(JobExecutionStatuses, DevicesMakeOnlyTheDocumentedTransitions) {
  using S = JobExecutionStatus;
  // Written out in full rather than derived, so that a change to legal_transition shows here.
  const std::vector<std::pair<S, S>> legal = {
      {S::queued, S::in_progress}, {S::queued, S::succeeded},        {S::queued, S::failed},
      {S::queued, S::rejected},    {S::in_progress, S::in_progress}, {S::in_progress, S::succeeded},
      {S::in_progress, S::failed}, {S::in_progress, S::rejected},
  };
  int count = 0;
  for (auto from : kAllStatuses) {
    for (auto to : kAllStatuses) {
      const bool expected =
          std::find(legal.begin(), legal.end(), std::make_pair(from, to)) != legal.end();
      EXPECT_EQ(legal_transition(from, to), expected) << to_string(from) << " -> " << to_string(to);
      count += legal_transition(from, to) ? 1 : 0;
    }
  }
  EXPECT_EQ(count, 8);
}

// ---- Requests: what AWS's device libraries send (notes/aws-sdk-device-wire-behaviour.md)

TEST(JobsRequests, DecodeWhatAwsDeviceLibrariesSend) {
  // jobs_demo_mosquitto: $next/get with an empty payload.
  auto next = decoded<DescribeJobExecutionRequest>("");
  EXPECT_EQ(next, DescribeJobExecutionRequest{});
  EXPECT_TRUE(next.include_job_document);
  // ota_demo_core_mqtt: $next/get with a clientToken made of a counter and the thing name.
  EXPECT_EQ(decoded<DescribeJobExecutionRequest>(R"({"clientToken":":demo-thing"})").client_token,
            ":demo-thing");
  // jobs_demo_mosquitto: a bare status, no clientToken, no expectedVersion.
  auto succeeded = decoded<UpdateJobExecutionRequest>(R"({"status":"SUCCEEDED"})");
  EXPECT_EQ(succeeded.status, JobExecutionStatus::succeeded);
  EXPECT_FALSE(succeeded.status_details);
  EXPECT_FALSE(succeeded.expected_version);
  EXPECT_FALSE(succeeded.client_token);
  // ota_demo_core_mqtt: progress and self-test reports.
  auto progress = decoded<UpdateJobExecutionRequest>(
      R"({"status":"IN_PROGRESS","statusDetails":{"self_test":"ready","updatedBy":"0x00090002"}})");
  EXPECT_EQ(progress.status, JobExecutionStatus::in_progress);
  EXPECT_EQ(progress.status_details,
            (StatusDetails{{"self_test", "ready"}, {"updatedBy", "0x00090002"}}));
  auto receive = decoded<UpdateJobExecutionRequest>(
      R"({"status":"IN_PROGRESS","statusDetails":{"receive":"1/5"}})");
  EXPECT_EQ(receive.status_details, (StatusDetails{{"receive", "1/5"}}));
  auto accepted = decoded<UpdateJobExecutionRequest>(
      R"({"status":"SUCCEEDED","statusDetails":{"reason":"accepted  v0.9.3","updatedBy":"  v0.9.2"}})");
  EXPECT_EQ(accepted.status_details->at("reason"), "accepted  v0.9.3");
}

TEST(JobsRequests, DecodeEveryField) {
  auto get = decoded<GetPendingJobExecutionsRequest>(R"({"clientToken":"client-001"})");
  EXPECT_EQ(get.client_token, "client-001");
  EXPECT_FALSE(decoded<GetPendingJobExecutionsRequest>("").client_token);

  auto start = decoded<StartNextPendingJobExecutionRequest>(
      R"({"statusDetails":{"a":"b"},"stepTimeoutInMinutes":10080,"clientToken":"c"})");
  EXPECT_EQ(start.status_details, (StatusDetails{{"a", "b"}}));
  EXPECT_EQ(start.step_timeout_in_minutes, 10080);
  EXPECT_EQ(start.client_token, "c");
  // An empty statusDetails object is not an absent one: it clears the details.
  auto cleared = decoded<StartNextPendingJobExecutionRequest>(R"({"statusDetails":{}})");
  ASSERT_TRUE(cleared.status_details);
  EXPECT_TRUE(cleared.status_details->empty());

  auto describe = decoded<DescribeJobExecutionRequest>(
      R"({"executionNumber":3,"includeJobDocument":false,"clientToken":"c"})");
  EXPECT_EQ(describe.execution_number, 3);
  EXPECT_FALSE(describe.include_job_document);

  auto update = decoded<UpdateJobExecutionRequest>(
      R"({"status":"FAILED","statusDetails":{"k:1_-":"v"},"expectedVersion":0,)"
      R"("executionNumber":9223372036854775807,"includeJobExecutionState":true,)"
      R"("includeJobDocument":true,"stepTimeoutInMinutes":1,"clientToken":"c","unknown":[1]})");
  EXPECT_EQ(update.status, JobExecutionStatus::failed);
  EXPECT_EQ(update.status_details, (StatusDetails{{"k:1_-", "v"}}));
  EXPECT_EQ(update.expected_version, 0);
  EXPECT_EQ(update.execution_number, 9223372036854775807);
  EXPECT_TRUE(update.include_job_execution_state);
  EXPECT_TRUE(update.include_job_document);
  EXPECT_EQ(update.step_timeout_in_minutes, 1);
  EXPECT_EQ(update.client_token, "c");

  // Service-only statuses decode; legal_transition refuses them (InvalidStateTransition).
  EXPECT_EQ(decoded<UpdateJobExecutionRequest>(R"({"status":"CANCELED"})").status,
            JobExecutionStatus::canceled);
}

TEST(JobsRequests, RoundTrip) {
  expect_round_trip(GetPendingJobExecutionsRequest{});
  expect_round_trip(GetPendingJobExecutionsRequest{"token"});
  expect_round_trip(StartNextPendingJobExecutionRequest{});
  expect_round_trip(StartNextPendingJobExecutionRequest{StatusDetails{}, 5, "t"});
  expect_round_trip(StartNextPendingJobExecutionRequest{StatusDetails{{"a", "b"}}, {}, {}});
  expect_round_trip(DescribeJobExecutionRequest{});
  expect_round_trip(DescribeJobExecutionRequest{7, false, ""});
  UpdateJobExecutionRequest update;
  expect_round_trip(update);
  update.status = JobExecutionStatus::rejected;
  update.status_details = StatusDetails{{"reason", "caf\xc3\xa9"}};
  update.expected_version = 4;
  update.execution_number = 2;
  update.include_job_execution_state = true;
  update.include_job_document = true;
  update.step_timeout_in_minutes = 60;
  update.client_token = "t";
  expect_round_trip(update);
  EXPECT_EQ(json::parse(as_chars(encode_jobs_message(UpdateJobExecutionRequest{}))),
            json::parse(R"({"status":"IN_PROGRESS"})"));
}

// ---- Requests: every way to refuse one

TEST(JobsRequestErrors, PayloadsThatAreNotUtf8JsonAreInvalidJson) {
  for (std::string_view payload :
       {std::string_view("{"), std::string_view("{\"status\":"), std::string_view("not json"),
        std::string_view("{\"clientToken\":\"a\"} trailing"), std::string_view("{'a':1}"),
        std::string_view("{\"clientToken\":\"\xff\"}"), std::string_view("\xef\xbb\xbf{}x")}) {
    auto error = request_error<GetPendingJobExecutionsRequest>(payload);
    EXPECT_EQ(error.code, jobs_errors::kInvalidJson) << payload;
    EXPECT_THAT(error.message, HasSubstr("GetPendingJobExecutions: ")) << payload;
    EXPECT_FALSE(error.client_token) << payload;
  }
}

TEST(JobsRequestErrors, JsonThatIsNotARequestIsInvalidRequest) {
  for (std::string_view payload : {"[]", "1", "\"text\"", "null", "true"}) {
    auto error = request_error<GetPendingJobExecutionsRequest>(payload);
    EXPECT_EQ(error.code, jobs_errors::kInvalidRequest) << payload;
    EXPECT_THAT(error.message, HasSubstr("not an object")) << payload;
  }
  const std::string deep = "{\"a\":" + std::string(40, '[') + std::string(40, ']') + "}";
  auto deep_error = request_error<UpdateJobExecutionRequest>(deep);
  EXPECT_EQ(deep_error.code, jobs_errors::kInvalidRequest);
  EXPECT_THAT(deep_error.message, HasSubstr("nests deeper"));

  auto large = decode_jobs_request<UpdateJobExecutionRequest>(
      as_bytes(std::string_view(R"({"status":"IN_PROGRESS"})")), 10);
  ASSERT_FALSE(large);
  EXPECT_EQ(large.error().code, jobs_errors::kInvalidRequest);
  EXPECT_THAT(large.error().message, HasSubstr("more than the 10 allowed"));
}

TEST(JobsRequestErrors, ClientToken) {
  expect_invalid_request<GetPendingJobExecutionsRequest>(
      R"({"clientToken":5})", "clientToken: must be a string, not an integer", std::nullopt);
  expect_invalid_request<GetPendingJobExecutionsRequest>(
      R"({"clientToken":null})", "clientToken: must be a string, not null", std::nullopt);
  const std::string long_token = "{\"clientToken\":\"" + std::string(65, 'c') + "\"}";
  expect_invalid_request<DescribeJobExecutionRequest>(long_token, "65 characters, more than the 64",
                                                      std::nullopt);
  // 64 characters, whatever their UTF-8 length.
  const std::string wide = repeat("\xc3\xa9", 64);
  EXPECT_EQ(
      decoded<GetPendingJobExecutionsRequest>("{\"clientToken\":\"" + wide + "\"}").client_token,
      wide);
  EXPECT_EQ(decoded<GetPendingJobExecutionsRequest>(R"({"clientToken":""})").client_token, "");
}

TEST(JobsRequestErrors, Status) {
  const std::optional<std::string> token = "tok";
  expect_invalid_request<UpdateJobExecutionRequest>(R"({"clientToken":"tok"})", "status: missing",
                                                    token);
  expect_invalid_request<UpdateJobExecutionRequest>("", "status: missing", std::nullopt);
  expect_invalid_request<UpdateJobExecutionRequest>(
      R"({"clientToken":"tok","status":1})", "status: must be a string, not an integer", token);
  expect_invalid_request<UpdateJobExecutionRequest>(R"({"clientToken":"tok","status":"SUCCESS"})",
                                                    "\"SUCCESS\" is not a job execution status",
                                                    token);
  expect_invalid_request<UpdateJobExecutionRequest>(
      R"({"clientToken":"tok","status":"in_progress"})", "is not a job execution status", token);
}

TEST(JobsRequestErrors, StatusDetails) {
  const std::optional<std::string> token = "tok";
  auto update = [](const std::string& details) {
    return R"({"clientToken":"tok","status":"IN_PROGRESS","statusDetails":)" + details + "}";
  };
  expect_invalid_request<UpdateJobExecutionRequest>(
      update("[]"), "statusDetails: must be an object of strings, not an array", token);
  expect_invalid_request<UpdateJobExecutionRequest>(
      update("null"), "statusDetails: must be an object of strings, not null", token);
  std::string eleven = "{";
  for (int i = 0; i < 11; ++i) eleven += (i ? "," : "") + ("\"k" + std::to_string(i) + "\":\"v\"");
  eleven += "}";
  expect_invalid_request<UpdateJobExecutionRequest>(update(eleven),
                                                    "11 entries, more than the 10 allowed", token);
  expect_invalid_request<UpdateJobExecutionRequest>(update(R"({"":"v"})"),
                                                    "the key \"\" is not 1 to 128", token);
  expect_invalid_request<UpdateJobExecutionRequest>(update(R"({"a b":"v"})"),
                                                    "the key \"a b\" is not", token);
  expect_invalid_request<UpdateJobExecutionRequest>(update(R"({"a.b":"v"})"),
                                                    "the key \"a.b\" is not", token);
  expect_invalid_request<UpdateJobExecutionRequest>(
      update("{\"" + std::string(129, 'k') + "\":\"v\"}"), "is not 1 to 128", token);
  expect_invalid_request<UpdateJobExecutionRequest>(
      update(R"({"k":1})"), "statusDetails.k: must be a string, not an integer", token);
  expect_invalid_request<UpdateJobExecutionRequest>(
      update(R"({"k":{"nested":"x"}})"), "statusDetails.k: must be a string, not an object", token);
  expect_invalid_request<UpdateJobExecutionRequest>(update(R"({"k":""})"),
                                                    "statusDetails.k: must not be empty", token);
  expect_invalid_request<UpdateJobExecutionRequest>(
      update("{\"k\":\"" + std::string(1025, 'v') + "\"}"),
      "1025 characters, more than the 1024 allowed", token);
  for (const char* bad : {"a\\nb", "a\\u0000b", "\\u0085", "a\\u200bb", "\\ufeff", "\\ue000",
                          "\\ufffe", "\\udb80\\udc00"}) {
    expect_invalid_request<UpdateJobExecutionRequest>(
        update(std::string("{\"k\":\"") + bad + "\"}"), "control, format or private-use", token);
  }
  // The same checks apply to StartNextPendingJobExecution.
  expect_invalid_request<StartNextPendingJobExecutionRequest>(
      R"({"clientToken":"tok","statusDetails":{"k":""}})", "must not be empty", token);

  // At the limits: 10 pairs, 128-character keys, 1024-character values of any UTF-8 length.
  std::string ten = "{";
  for (int i = 0; i < 10; ++i) ten += (i ? "," : "") + ("\"k" + std::to_string(i) + "\":\"v\"");
  ten += "}";
  EXPECT_EQ(decoded<UpdateJobExecutionRequest>(update(ten)).status_details->size(), 10u);
  const std::string key(128, 'k');
  const std::string value = repeat("\xe2\x82\xac", 1024);  // U+20AC, 3 bytes each
  auto limits = decoded<UpdateJobExecutionRequest>(update("{\"" + key + "\":\"" + value + "\"}"));
  EXPECT_EQ(limits.status_details->at(key), value);
  EXPECT_EQ(decoded<UpdateJobExecutionRequest>(update(R"({"k":"tab\u00e9 and \ud83d\ude00"})"))
                .status_details->at("k"),
            "tab\xc3\xa9 and \xf0\x9f\x98\x80");
}

TEST(JobsRequestErrors, StatusDetailsBuiltInCodeMustBeUtf8) {
  json document{{"status", "IN_PROGRESS"}, {"statusDetails", {{"k", "\xff"}}}};
  auto decoded_request = UpdateJobExecutionRequest::decode(document);
  ASSERT_FALSE(decoded_request);
  EXPECT_THAT(decoded_request.error().message, HasSubstr("statusDetails.k: not valid UTF-8"));
  json bad_token{{"clientToken", "\xc0\x80"}};
  auto token_request = GetPendingJobExecutionsRequest::decode(bad_token);
  ASSERT_FALSE(token_request);
  EXPECT_THAT(token_request.error().message, HasSubstr("clientToken: not valid UTF-8"));
}

TEST(JobsRequestErrors, Numbers) {
  const std::optional<std::string> token = "tok";
  auto update = [](const std::string& fields) {
    return R"({"clientToken":"tok","status":"IN_PROGRESS",)" + fields + "}";
  };
  expect_invalid_request<UpdateJobExecutionRequest>(
      update(R"("expectedVersion":1.5)"),
      "expectedVersion: must be an integer, not a floating-point number", token);
  expect_invalid_request<UpdateJobExecutionRequest>(
      update(R"("expectedVersion":"3")"), "expectedVersion: must be an integer, not a string",
      token);
  expect_invalid_request<UpdateJobExecutionRequest>(update(R"("expectedVersion":-1)"),
                                                    "expectedVersion: -1 is outside 0 to", token);
  expect_invalid_request<UpdateJobExecutionRequest>(
      update(R"("expectedVersion":18446744073709551615)"), "is outside 0 to", token);
  expect_invalid_request<UpdateJobExecutionRequest>(update(R"("executionNumber":0)"),
                                                    "executionNumber: 0 is outside 1 to", token);
  expect_invalid_request<UpdateJobExecutionRequest>(update(R"("stepTimeoutInMinutes":0)"),
                                                    "stepTimeoutInMinutes: 0 is outside 1 to 10080",
                                                    token);
  expect_invalid_request<UpdateJobExecutionRequest>(update(R"("stepTimeoutInMinutes":10081)"),
                                                    "10081 is outside 1 to 10080", token);
  expect_invalid_request<StartNextPendingJobExecutionRequest>(
      R"({"clientToken":"tok","stepTimeoutInMinutes":-5})", "-5 is outside 1 to 10080", token);
  expect_invalid_request<DescribeJobExecutionRequest>(
      R"({"clientToken":"tok","executionNumber":null})",
      "executionNumber: must be an integer, not null", token);
}

TEST(JobsRequestErrors, Booleans) {
  const std::optional<std::string> token = "tok";
  expect_invalid_request<DescribeJobExecutionRequest>(
      R"({"clientToken":"tok","includeJobDocument":"false"})",
      "includeJobDocument: must be a boolean, not a string", token);
  expect_invalid_request<UpdateJobExecutionRequest>(
      R"({"clientToken":"tok","status":"FAILED","includeJobExecutionState":1})",
      "includeJobExecutionState: must be a boolean, not an integer", token);
  expect_invalid_request<UpdateJobExecutionRequest>(
      R"({"clientToken":"tok","status":"FAILED","includeJobDocument":null})",
      "includeJobDocument: must be a boolean, not null", token);
}

TEST(JobsRequestErrors, BecomeTheDocumentedRejectedReply) {
  auto error = request_error<UpdateJobExecutionRequest>(R"({"clientToken":"c-1","status":"x"})");
  auto reply = JobsErrorResponse::from(error, 1517016948);
  EXPECT_EQ(reply.encode(), json({{"code", "InvalidRequest"},
                                  {"message", error.message},
                                  {"clientToken", "c-1"},
                                  {"timestamp", 1517016948}}));
  auto invalid_json = JobsErrorResponse::from(request_error<UpdateJobExecutionRequest>("{"), 7);
  EXPECT_EQ(invalid_json.encode()["code"], "InvalidJson");
  EXPECT_FALSE(invalid_json.encode().contains("clientToken"));
  EXPECT_FALSE(invalid_json.encode().contains("executionState"));
}

// ---- Replies: the documents of AWS's developer guide

TEST(JobsReplies, GetPendingJobExecutionsAcceptedMatchesTheGuide) {
  // jobs-mqtt-api, GetPendingJobExecutions: {"inProgressJobs": [JobExecutionSummary ...],
  // "queuedJobs": [...], "timestamp": 1489096425069, "clientToken": "client-001"}
  GetPendingJobExecutionsResponse response;
  response.in_progress_jobs.push_back(
      JobExecutionSummary{"job-1", 1489096400, 1489096410, 1489096420, 2, 1});
  response.queued_jobs.push_back(JobExecutionSummary{"job-2", 1489096401, {}, 1489096401, 1, 1});
  response.timestamp = 1489096425069;
  response.client_token = "client-001";
  EXPECT_EQ(response.encode(), json::parse(R"({
    "inProgressJobs": [{"jobId": "job-1", "queuedAt": 1489096400, "startedAt": 1489096410,
                        "lastUpdatedAt": 1489096420, "versionNumber": 2, "executionNumber": 1}],
    "queuedJobs": [{"jobId": "job-2", "queuedAt": 1489096401, "lastUpdatedAt": 1489096401,
                    "versionNumber": 1, "executionNumber": 1}],
    "timestamp": 1489096425069,
    "clientToken": "client-001"})"));
  // Nothing pending, no clientToken: the lists are still there.
  EXPECT_EQ((GetPendingJobExecutionsResponse{{}, {}, 5, {}}.encode()),
            json::parse(R"({"inProgressJobs": [], "queuedJobs": [], "timestamp": 5})"));
}

TEST(JobsReplies, NotificationsMatchTheGuide) {
  // jobs-comm-notifications: a ListNotification on .../jobs/notify.
  JobExecutionsChangedEvent changed;
  changed.timestamp = 1517016948;
  changed.jobs[JobExecutionStatus::queued].push_back(
      JobExecutionSummary{"job1", 1517016947, {}, 1517016947, 1, 1});
  EXPECT_EQ(changed.encode(), json::parse(R"({
    "timestamp": 1517016948,
    "jobs": {"QUEUED": [{"jobId": "job1", "queuedAt": 1517016947, "lastUpdatedAt": 1517016947,
                         "executionNumber": 1, "versionNumber": 1}]}})"));
  changed.jobs[JobExecutionStatus::in_progress].push_back(
      JobExecutionSummary{"job0", 1517016900, 1517016910, 1517016920, 3, 2});
  auto both = changed.encode();
  EXPECT_EQ(both["jobs"]["IN_PROGRESS"][0]["jobId"], "job0");
  EXPECT_EQ(both["jobs"]["IN_PROGRESS"][0]["startedAt"], 1517016910);
  EXPECT_EQ(both["jobs"]["QUEUED"][0]["jobId"], "job1");
  // The last pending execution finished: an empty map.
  EXPECT_EQ((JobExecutionsChangedEvent{{}, 9}.encode()),
            json::parse(R"({"timestamp":9,"jobs":{}})"));
  JobExecutionsChangedEvent empty_lists{{{JobExecutionStatus::queued, {}}}, 9};
  EXPECT_EQ(empty_lists.encode(), json::parse(R"({"timestamp":9,"jobs":{}})"));

  // jobs-comm-notifications: a NextNotification on .../jobs/notify-next.
  NextJobExecutionChangedEvent next;
  next.timestamp = 1517016948;
  next.execution = JobExecution{"job1",
                                "thing1",
                                json{{"operation", "test"}},
                                JobExecutionStatus::queued,
                                {},
                                1517016947,
                                {},
                                1517016947,
                                1,
                                1,
                                {}};
  EXPECT_EQ(next.encode(), json::parse(R"({
    "timestamp": 1517016948,
    "execution": {"jobId": "job1", "thingName": "thing1", "status": "QUEUED",
                  "statusDetails": {}, "queuedAt": 1517016947, "lastUpdatedAt": 1517016947,
                  "versionNumber": 1, "executionNumber": 1,
                  "jobDocument": {"operation": "test"}}})"));
  // Nothing left to do: no execution.
  EXPECT_EQ((NextJobExecutionChangedEvent{{}, 1517016950}.encode()),
            json::parse(R"({"timestamp": 1517016950})"));
}

TEST(JobsReplies, JobExecutionCarriesWhatAwsOtaReads) {
  // ota_demo_core_mqtt reads execution.jobId, execution.jobDocument.afr_ota and
  // execution.statusDetails from $next/get/accepted and notify-next.
  JobExecution execution;
  execution.job_id = "AFR_OTA-job";
  execution.thing_name = "demo-thing";
  execution.job_document =
      json::parse(R"({"afr_ota":{"protocols":["MQTT"],"streamname":"s","files":[{"fileid":0}]}})");
  execution.status = JobExecutionStatus::in_progress;
  execution.status_details = {{"self_test", "ready"}, {"updatedBy", "0x00090002"}};
  execution.queued_at = 100;
  execution.started_at = 110;
  execution.last_updated_at = 120;
  execution.version_number = 3;
  execution.execution_number = 1;
  execution.approximate_seconds_before_timed_out = 590;
  DescribeJobExecutionResponse response{execution, 130, ":demo-thing"};
  auto document = json::parse(as_chars(encode_jobs_message(response)));
  EXPECT_EQ(document["clientToken"], ":demo-thing");
  EXPECT_EQ(document["timestamp"], 130);
  EXPECT_EQ(document["execution"], json::parse(R"({
    "jobId": "AFR_OTA-job", "thingName": "demo-thing",
    "jobDocument": {"afr_ota":{"protocols":["MQTT"],"streamname":"s","files":[{"fileid":0}]}},
    "status": "IN_PROGRESS", "statusDetails": {"self_test": "ready", "updatedBy": "0x00090002"},
    "queuedAt": 100, "startedAt": 110, "lastUpdatedAt": 120, "versionNumber": 3,
    "executionNumber": 1, "approximateSecondsBeforeTimedOut": 590})"));
  // $next/get with nothing pending, and start-next likewise: timestamp and clientToken only.
  EXPECT_EQ((DescribeJobExecutionResponse{{}, 1, "c"}.encode()),
            json::parse(R"({"timestamp": 1, "clientToken": "c"})"));
  EXPECT_EQ((StartNextJobExecutionResponse{{}, 1, {}}.encode()),
            json::parse(R"({"timestamp": 1})"));
  EXPECT_EQ((StartNextJobExecutionResponse{execution, 1, {}}.encode()["execution"]),
            execution.encode());
}

TEST(JobsReplies, UpdateAcceptedCarriesWhatWasAskedFor) {
  EXPECT_EQ((UpdateJobExecutionResponse{{}, {}, 1517016948, "c"}.encode()),
            json::parse(R"({"timestamp": 1517016948, "clientToken": "c"})"));
  UpdateJobExecutionResponse full{JobExecutionState{JobExecutionStatus::succeeded, {{"a", "b"}}, 4},
                                  json{{"action", "reboot"}},
                                  10,
                                  {}};
  EXPECT_EQ(full.encode(), json::parse(R"({
    "executionState": {"status": "SUCCEEDED", "statusDetails": {"a": "b"}, "versionNumber": 4},
    "jobDocument": {"action": "reboot"}, "timestamp": 10})"));
}

TEST(JobsReplies, RejectionsCarryTheExecutionStateWhenAwsDoes) {
  // jobs-api ErrorResponse: {"code", "message", "clientToken", "timestamp", "executionState"}.
  JobsErrorResponse mismatch{std::string(jobs_errors::kVersionMismatch),
                             "expectedVersion 2, the execution is at version 3", "c-9", 1517016948,
                             JobExecutionState{JobExecutionStatus::in_progress, {}, 3}};
  EXPECT_EQ(mismatch.encode(), json::parse(R"({
    "code": "VersionMismatch", "message": "expectedVersion 2, the execution is at version 3",
    "clientToken": "c-9", "timestamp": 1517016948,
    "executionState": {"status": "IN_PROGRESS", "statusDetails": {}, "versionNumber": 3}})"));
  JobsErrorResponse not_found{std::string(jobs_errors::kResourceNotFound), "no job j", {}, 2, {}};
  EXPECT_EQ(as_chars(encode_jobs_message(not_found)),
            R"({"code":"ResourceNotFound","message":"no job j","timestamp":2})");
}

TEST(JobsReplies, ErrorCodesAreAwsSpellings) {
  EXPECT_EQ(jobs_errors::kInvalidTopic, "InvalidTopic");
  EXPECT_EQ(jobs_errors::kInvalidJson, "InvalidJson");
  EXPECT_EQ(jobs_errors::kInvalidRequest, "InvalidRequest");
  EXPECT_EQ(jobs_errors::kInvalidStateTransition, "InvalidStateTransition");
  EXPECT_EQ(jobs_errors::kResourceNotFound, "ResourceNotFound");
  EXPECT_EQ(jobs_errors::kVersionMismatch, "VersionMismatch");
  EXPECT_EQ(jobs_errors::kInternalError, "InternalError");
  EXPECT_EQ(jobs_errors::kRequestThrottled, "RequestThrottled");
  EXPECT_EQ(jobs_errors::kTerminalStateReached, "TerminalStateReached");
}

}  // namespace
}  // namespace ironroot::protocol
