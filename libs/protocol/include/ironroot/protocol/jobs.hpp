// AWS IoT Jobs' device MQTT API (developer guide: "Jobs device MQTT API operations",
// jobs-mqtt-api; data types: jobs-mqtt-https-api; errors: jobs-api#jobs-mqtt-error-response),
// as pure codecs: topics, job execution states and their legal transitions, request decoders and
// encoders, reply and notification encoders and decoders. The API is JSON only. Under a TopicPrefix
// ("$aws" on AWS IoT) and for thing T:
//   <prefix>/things/T/jobs/get[/accepted|/rejected]              GetPendingJobExecutions
//   <prefix>/things/T/jobs/start-next[/accepted|/rejected]       StartNextPendingJobExecution
//   <prefix>/things/T/jobs/<jobId|$next>/get[/accepted|/rejected] DescribeJobExecution
//   <prefix>/things/T/jobs/<jobId>/update[/accepted|/rejected]   UpdateJobExecution
//   <prefix>/things/T/jobs/notify                                JobExecutionsChanged
//   <prefix>/things/T/jobs/notify-next                           NextJobExecutionChanged
//
// Members are the API's keys in snake_case. Timestamps are seconds since the epoch, as AWS
// documents them (and as AWS's device SDKs read them). Request decoders ignore keys they do not
// know and fail with a JobsRequestError that the fleet service turns into the documented reply on
// .../rejected: JobsErrorResponse::from(error, now).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <vector>

#include "ironroot/core/bytes.hpp"
#include "ironroot/core/result.hpp"
#include "ironroot/protocol/payload_format.hpp"
#include "ironroot/protocol/topics.hpp"

namespace ironroot::protocol {

// Bounds of the API (AWS IoT API reference, iot-jobs-data).
inline constexpr std::size_t kMaxJobIdSize = 64;  // jobId: 1 to 64 of [a-zA-Z0-9_-]
// clientToken: at most 64 characters (AWS's limit on the token it echoes).
inline constexpr std::size_t kMaxClientTokenLength = 64;
// statusDetails: keys 1 to 128 of [a-zA-Z0-9:_-]; values 1 to 1024 characters with no control
// or format character ([^\p{C}]+, JobExecutionState); at most 10 pairs (the count AWS states
// for CancelJobExecution's statusDetails; the data-plane pages give none).
inline constexpr std::size_t kMaxStatusDetailsKeyLength = 128;
inline constexpr std::size_t kMaxStatusDetailsValueLength = 1024;
inline constexpr std::size_t kMaxStatusDetails = 10;
// `text` as a statusDetails value a device may send: "-" for empty, and cut at a character
// boundary to kMaxStatusDetailsValueLength bytes (the reasons devices report can be long).
std::string bounded_status_details_value(std::string text);
// stepTimeoutInMinutes: 1 minute to 7 days.
inline constexpr std::int64_t kMinStepTimeoutInMinutes = 1;
inline constexpr std::int64_t kMaxStepTimeoutInMinutes = 10080;
// The job id that DescribeJobExecution accepts in place of a job id: the next pending execution.
inline constexpr std::string_view kNextJobId = "$next";

// A job id as AWS IoT allows it: 1 to 64 characters of [a-zA-Z0-9_-]. "$next" is not one.
bool is_valid_job_id(std::string_view id);

// ---------------------------------------------------------------------------------------------
// Topics

enum class JobsOperation {
  get_pending,  // GetPendingJobExecutions: .../jobs/get
  start_next,   // StartNextPendingJobExecution: .../jobs/start-next
  describe,     // DescribeJobExecution: .../jobs/<jobId or $next>/get
  update,       // UpdateJobExecution: .../jobs/<jobId>/update
  notify,       // JobExecutionsChanged, published by the service: .../jobs/notify
  notify_next,  // NextJobExecutionChanged, published by the service: .../jobs/notify-next
};

// One jobs topic, taken apart.
struct JobsTopic {
  std::string thing_name;  // is_valid_thing_name
  JobsOperation operation = JobsOperation::get_pending;
  // describe: a valid job id or kNextJobId; update: a valid job id; empty for the others.
  std::string job_id;
  // none for a request (and always for notify and notify-next); accepted or rejected for a reply.
  Reply reply = Reply::none;

  // Whether a device publishes this topic to ask something of the service.
  bool is_request() const {
    return reply == Reply::none && operation != JobsOperation::notify &&
           operation != JobsOperation::notify_next;
  }
  bool operator==(const JobsTopic&) const = default;
};

// The topic string. Fails, saying which, on an invalid thing name, a job id that the operation
// does not take or that is invalid for it, or a reply on notify or notify-next.
Result<std::string> jobs_topic(const TopicPrefix& prefix, const JobsTopic& topic);

// Takes a topic apart; nullopt for any topic that is not exactly one of the jobs topics under
// `prefix` (invalid thing name or job id, $next/update, extra or missing levels).
std::optional<JobsTopic> parse_jobs_topic(const TopicPrefix& prefix, std::string_view topic);

// The topic of a reply to `request`: the same thing, operation and job id, with `reply`.
// REQUIRES: request.is_request().
JobsTopic reply_topic(const JobsTopic& request, Reply reply);

// <prefix>/things/<thing>/jobs/notify and .../notify-next. Fail on an invalid thing name.
Result<std::string> jobs_notify_topic(const TopicPrefix& prefix, std::string_view thing_name);
Result<std::string> jobs_notify_next_topic(const TopicPrefix& prefix, std::string_view thing_name);

// The thing whose jobs namespace (<prefix>/things/<thing>/jobs/...) `topic` is in, when the
// thing name is valid; nullopt otherwise. The fleet service answers a request in the namespace
// that parse_jobs_topic refuses with jobs_errors::kInvalidTopic on "<topic>/rejected".
std::optional<std::string> jobs_namespace_thing(const TopicPrefix& prefix, std::string_view topic);

// The subscription filters that match every jobs request (and no reply) under `prefix`:
// <prefix>/things/+/jobs/get, .../jobs/start-next, .../jobs/+/get and .../jobs/+/update.
std::vector<std::string> jobs_request_filters(const TopicPrefix& prefix);

// ---------------------------------------------------------------------------------------------
// Job execution states (developer guide, iot-jobs-lifecycle "Job execution states")

enum class JobExecutionStatus {
  queued,       // QUEUED: set by the service when the execution is created
  in_progress,  // IN_PROGRESS: set by the device
  succeeded,    // SUCCEEDED: set by the device; terminal
  failed,       // FAILED: set by the device; terminal (may be retried as a new execution)
  timed_out,    // TIMED_OUT: set by the service when a timer expires; terminal (may be retried)
  rejected,     // REJECTED: set by the device; terminal
  removed,      // REMOVED: set by the service when the thing leaves the job's targets; terminal
  canceled,     // CANCELED: set by the service when the job or execution is canceled; terminal
};

// "QUEUED", "IN_PROGRESS", ... as AWS spells them.
std::string_view to_string(JobExecutionStatus status);
// The status named exactly (case-sensitive) by `name`; nullopt for anything else.
std::optional<JobExecutionStatus> parse_job_execution_status(std::string_view name);
// Every status but QUEUED and IN_PROGRESS is terminal: it never changes again.
bool is_terminal(JobExecutionStatus status);

// Whether a device may move an execution from `from` to `to` with UpdateJobExecution (or
// StartNextPendingJobExecution, which moves QUEUED to IN_PROGRESS). A device sets only
// IN_PROGRESS, SUCCEEDED, FAILED and REJECTED (UpdateJobExecution's `status`), and only while the
// execution is not terminal; IN_PROGRESS to IN_PROGRESS is a progress report. TIMED_OUT,
// CANCELED and REMOVED are the service's, QUEUED is where an execution starts. Anything else is
// answered with jobs_errors::kInvalidStateTransition and the execution's current state.
bool legal_transition(JobExecutionStatus from, JobExecutionStatus to);

// ---------------------------------------------------------------------------------------------
// Errors

// The error codes of ErrorResponse.code, spelled as AWS spells them (jobs-api, ErrorResponse;
// RejectedErrorCode in AWS's v2 device SDKs). The HTTPS data plane's ServiceUnavailable is not
// one of them: a service that cannot answer now says kInternalError.
namespace jobs_errors {
// The topic is in the jobs namespace but names no operation.
inline constexpr std::string_view kInvalidTopic = "InvalidTopic";
// The payload is not valid UTF-8 JSON.
inline constexpr std::string_view kInvalidJson = "InvalidJson";
// The payload is JSON, but not a valid request (a field is missing, of the wrong type or out of
// bounds; the message names it).
inline constexpr std::string_view kInvalidRequest = "InvalidRequest";
// The update is not a legal_transition from the execution's status; executionState is sent.
inline constexpr std::string_view kInvalidStateTransition = "InvalidStateTransition";
// No such job execution (or thing).
inline constexpr std::string_view kResourceNotFound = "ResourceNotFound";
// expectedVersion differs from the execution's versionNumber; executionState is sent.
inline constexpr std::string_view kVersionMismatch = "VersionMismatch";
// The service failed; the device may retry.
inline constexpr std::string_view kInternalError = "InternalError";
// The device sends requests faster than the service allows.
inline constexpr std::string_view kRequestThrottled = "RequestThrottled";
// DescribeJobExecution of an execution that is terminal.
inline constexpr std::string_view kTerminalStateReached = "TerminalStateReached";
}  // namespace jobs_errors

// Why a request payload was refused, with what is needed to answer it: `code` is kInvalidJson
// (not UTF-8 JSON) or kInvalidRequest (anything else); `client_token` is the request's
// clientToken when the payload was an object with a valid one.
struct JobsRequestError {
  std::string code;
  std::string message;
  std::optional<std::string> client_token;
};

template <class T>
using JobsResult = tl::expected<T, JobsRequestError>;

// statusDetails: see the bounds above.
using StatusDetails = std::map<std::string, std::string>;

// ---------------------------------------------------------------------------------------------
// Requests (devices publish them; the fleet service decodes them)

// .../jobs/get.
struct GetPendingJobExecutionsRequest {
  std::optional<std::string> client_token;  // clientToken

  static JobsResult<GetPendingJobExecutionsRequest> decode(const nlohmann::json& document);
  nlohmann::json encode() const;
  bool operator==(const GetPendingJobExecutionsRequest&) const = default;
};

// .../jobs/start-next.
struct StartNextPendingJobExecutionRequest {
  // statusDetails: set on the execution if it moves from QUEUED; absent leaves them unchanged.
  std::optional<StatusDetails> status_details;
  std::optional<std::int64_t> step_timeout_in_minutes;  // stepTimeoutInMinutes: 1 to 10080
  std::optional<std::string> client_token;              // clientToken

  static JobsResult<StartNextPendingJobExecutionRequest> decode(const nlohmann::json& document);
  nlohmann::json encode() const;
  bool operator==(const StartNextPendingJobExecutionRequest&) const = default;
};

// .../jobs/<jobId or $next>/get.
struct DescribeJobExecutionRequest {
  std::optional<std::int64_t> execution_number;  // executionNumber: >= 1; absent: the latest
  bool include_job_document = true;              // includeJobDocument (AWS's default: true)
  std::optional<std::string> client_token;       // clientToken

  static JobsResult<DescribeJobExecutionRequest> decode(const nlohmann::json& document);
  nlohmann::json encode() const;
  bool operator==(const DescribeJobExecutionRequest&) const = default;
};

// .../jobs/<jobId>/update.
struct UpdateJobExecutionRequest {
  // status: required. Any status AWS names decodes; whether the device may set it is
  // legal_transition's question (InvalidStateTransition), not the decoder's.
  JobExecutionStatus status = JobExecutionStatus::in_progress;
  std::optional<StatusDetails> status_details;   // statusDetails: absent leaves them unchanged
  std::optional<std::int64_t> expected_version;  // expectedVersion: >= 0
  std::optional<std::int64_t> execution_number;  // executionNumber: >= 1; absent: the latest
  bool include_job_execution_state = false;      // includeJobExecutionState
  bool include_job_document = false;             // includeJobDocument
  std::optional<std::int64_t> step_timeout_in_minutes;  // stepTimeoutInMinutes: 1 to 10080
  std::optional<std::string> client_token;              // clientToken

  static JobsResult<UpdateJobExecutionRequest> decode(const nlohmann::json& document);
  nlohmann::json encode() const;
  bool operator==(const UpdateJobExecutionRequest&) const = default;
};

// Decodes a request payload of at most `max_size` bytes. An empty payload is an empty object:
// devices built on AWS's Jobs library publish .../$next/get with no payload at all. Errors:
// kInvalidRequest for a payload that is too large, valid JSON that is not an object, or nests
// deeper than kMaxNestingDepth; kInvalidJson for anything that is not UTF-8 JSON; then whatever
// Request::decode says. Never throws.
template <class Request>
JobsResult<Request> decode_jobs_request(ByteView payload, std::size_t max_size = kMaxPayloadSize);

extern template JobsResult<GetPendingJobExecutionsRequest> decode_jobs_request(ByteView,
                                                                               std::size_t);
extern template JobsResult<StartNextPendingJobExecutionRequest> decode_jobs_request(ByteView,
                                                                                    std::size_t);
extern template JobsResult<DescribeJobExecutionRequest> decode_jobs_request(ByteView, std::size_t);
extern template JobsResult<UpdateJobExecutionRequest> decode_jobs_request(ByteView, std::size_t);

// ---------------------------------------------------------------------------------------------
// Replies and notifications (the fleet service encodes them, devices decode them). Optional
// members are left out of the document when absent, as AWS does.
//
// decode() reads what a device receives, as tolerantly as AWS's device libraries: keys it does
// not know are ignored, and so is a statusDetails or a pending list that is absent (AWS's own
// examples leave statusDetails out). Every field it reads is type-checked and bounded as the
// request decoders check it: job ids and thing names as AWS allows them, statuses by their exact
// names, statusDetails within the bounds above, clientToken at most 64 characters, integers as
// integers >= 0 (no 1.0, no strings, no null), jobDocument a JSON object. The error names the
// field ("execution.statusDetails.x: must be a string, not an integer"). For any decoded m,
// decode(m.encode()) == m.

// JobExecutionState.
struct JobExecutionState {
  JobExecutionStatus status = JobExecutionStatus::queued;  // status
  StatusDetails status_details;                            // statusDetails (always sent)
  std::int64_t version_number = 0;                         // versionNumber

  nlohmann::json encode() const;
  static Result<JobExecutionState> decode(const nlohmann::json& document);
  bool operator==(const JobExecutionState&) const = default;
};

// JobExecution, as DescribeJobExecution, StartNextPendingJobExecution and notify-next send it.
struct JobExecution {
  std::string job_id;                          // jobId
  std::string thing_name;                      // thingName
  std::optional<nlohmann::json> job_document;  // jobDocument: the job document (a JSON object)
  JobExecutionStatus status = JobExecutionStatus::queued;  // status
  StatusDetails status_details;                            // statusDetails (always sent)
  std::int64_t queued_at = 0;                              // queuedAt
  std::optional<std::int64_t> started_at;                  // startedAt: once IN_PROGRESS
  std::int64_t last_updated_at = 0;                        // lastUpdatedAt
  std::int64_t version_number = 0;                         // versionNumber
  std::int64_t execution_number = 0;                       // executionNumber
  // approximateSecondsBeforeTimedOut: while a timer runs.
  std::optional<std::int64_t> approximate_seconds_before_timed_out;

  nlohmann::json encode() const;
  static Result<JobExecution> decode(const nlohmann::json& document);
  bool operator==(const JobExecution&) const = default;
};

// JobExecutionSummary, as GetPendingJobExecutions and notify list them.
struct JobExecutionSummary {
  std::string job_id;                      // jobId
  std::int64_t queued_at = 0;              // queuedAt
  std::optional<std::int64_t> started_at;  // startedAt
  std::int64_t last_updated_at = 0;        // lastUpdatedAt
  std::int64_t version_number = 0;         // versionNumber
  std::int64_t execution_number = 0;       // executionNumber

  nlohmann::json encode() const;
  static Result<JobExecutionSummary> decode(const nlohmann::json& document);
  bool operator==(const JobExecutionSummary&) const = default;
};

// .../jobs/get/accepted.
struct GetPendingJobExecutionsResponse {
  std::vector<JobExecutionSummary> in_progress_jobs;  // inProgressJobs (always sent)
  std::vector<JobExecutionSummary> queued_jobs;       // queuedJobs (always sent)
  std::int64_t timestamp = 0;                         // timestamp
  std::optional<std::string> client_token;            // clientToken: the request's

  nlohmann::json encode() const;
  static Result<GetPendingJobExecutionsResponse> decode(const nlohmann::json& document);
  bool operator==(const GetPendingJobExecutionsResponse&) const = default;
};

// .../jobs/start-next/accepted. No execution when none is pending.
struct StartNextJobExecutionResponse {
  std::optional<JobExecution> execution;    // execution
  std::int64_t timestamp = 0;               // timestamp
  std::optional<std::string> client_token;  // clientToken

  nlohmann::json encode() const;
  static Result<StartNextJobExecutionResponse> decode(const nlohmann::json& document);
  bool operator==(const StartNextJobExecutionResponse&) const = default;
};

// .../jobs/<jobId or $next>/get/accepted. For $next with nothing pending, no execution.
struct DescribeJobExecutionResponse {
  std::optional<JobExecution> execution;    // execution
  std::int64_t timestamp = 0;               // timestamp
  std::optional<std::string> client_token;  // clientToken

  nlohmann::json encode() const;
  static Result<DescribeJobExecutionResponse> decode(const nlohmann::json& document);
  bool operator==(const DescribeJobExecutionResponse&) const = default;
};

// .../jobs/<jobId>/update/accepted.
struct UpdateJobExecutionResponse {
  std::optional<JobExecutionState> execution_state;  // executionState: if includeJobExecutionState
  std::optional<nlohmann::json> job_document;        // jobDocument: if includeJobDocument
  std::int64_t timestamp = 0;                        // timestamp
  std::optional<std::string> client_token;           // clientToken

  nlohmann::json encode() const;
  static Result<UpdateJobExecutionResponse> decode(const nlohmann::json& document);
  bool operator==(const UpdateJobExecutionResponse&) const = default;
};

// .../jobs/notify: the pending executions (at most 10 in AWS, IN_PROGRESS ones first), grouped
// by status. {"timestamp": t, "jobs": {}} when none is pending.
struct JobExecutionsChangedEvent {
  std::map<JobExecutionStatus, std::vector<JobExecutionSummary>> jobs;  // jobs
  std::int64_t timestamp = 0;                                           // timestamp

  nlohmann::json encode() const;
  static Result<JobExecutionsChangedEvent> decode(const nlohmann::json& document);
  bool operator==(const JobExecutionsChangedEvent&) const = default;
};

// .../jobs/notify-next: the next pending execution, or no execution when none is left.
struct NextJobExecutionChangedEvent {
  std::optional<JobExecution> execution;  // execution
  std::int64_t timestamp = 0;             // timestamp

  nlohmann::json encode() const;
  static Result<NextJobExecutionChangedEvent> decode(const nlohmann::json& document);
  bool operator==(const NextJobExecutionChangedEvent&) const = default;
};

// .../rejected of every request (ErrorResponse).
struct JobsErrorResponse {
  std::string code;                                  // code: a jobs_errors constant
  std::string message;                               // message
  std::optional<std::string> client_token;           // clientToken: the request's, if read
  std::int64_t timestamp = 0;                        // timestamp
  std::optional<JobExecutionState> execution_state;  // executionState: VersionMismatch and
                                                     // InvalidStateTransition only

  // The reply to a request that did not decode.
  static JobsErrorResponse from(const JobsRequestError& error, std::int64_t timestamp);
  nlohmann::json encode() const;
  static Result<JobsErrorResponse> decode(const nlohmann::json& document);
  bool operator==(const JobsErrorResponse&) const = default;
};

// The payload of any of the messages above: compact UTF-8 JSON.
template <class Message>
Bytes encode_jobs_message(const Message& message) {
  return encode_payload(message.encode(), PayloadFormat::json);
}

// The longest ErrorResponse.code and .message a device reads (AWS's codes are at most 22
// characters; the messages are one sentence).
inline constexpr std::size_t kMaxErrorCodeSize = 128;
inline constexpr std::size_t kMaxErrorMessageSize = 4096;

// Decodes a reply or notification payload of at most `max_size` bytes (decode_payload: one JSON
// object, nesting at most kMaxNestingDepth) and then the message. The error starts with the
// message's name ("NextJobExecutionChanged: execution.jobId: missing"). Never throws.
template <class Message>
Result<Message> decode_jobs_reply(ByteView payload, std::size_t max_size = kMaxPayloadSize);

extern template Result<GetPendingJobExecutionsResponse> decode_jobs_reply(ByteView, std::size_t);
extern template Result<StartNextJobExecutionResponse> decode_jobs_reply(ByteView, std::size_t);
extern template Result<DescribeJobExecutionResponse> decode_jobs_reply(ByteView, std::size_t);
extern template Result<UpdateJobExecutionResponse> decode_jobs_reply(ByteView, std::size_t);
extern template Result<JobExecutionsChangedEvent> decode_jobs_reply(ByteView, std::size_t);
extern template Result<NextJobExecutionChangedEvent> decode_jobs_reply(ByteView, std::size_t);
extern template Result<JobsErrorResponse> decode_jobs_reply(ByteView, std::size_t);

}  // namespace ironroot::protocol
