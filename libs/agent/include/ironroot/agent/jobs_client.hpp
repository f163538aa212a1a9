// The device's side of AWS IoT Jobs (developer guide: "Jobs device MQTT API operations",
// jobs-mqtt-api): a client that takes the device's jobs one at a time, hands each to the handler
// registered for its job type, and reports the outcome, remembering the current job across
// restarts so that a job that spans a reboot (an OTA update) is resumed, not started again.
//
// On the wire it does what AWS's Jobs and OTA libraries do: it subscribes to notify-next and
// publishes $aws/things/T/jobs/$next/get without subscribing to its replies (AWS IoT and
// ironroot's broker plugin deliver replies to the requesting client; `subscribe_to_replies` is
// for brokers that do not). Unlike AWS's demos, every request it sends carries a fresh
// clientToken that its reply must echo, every UpdateJobExecution carries expectedVersion, and a
// request without a reply is sent again (a bounded number of times).
//
// The outside world is injected (STYLE.md): the MQTT connection is a JobsConnection
// (MqttJobsConnection adapts mqtt::Client) and the current job lives in a CurrentJobStore
// (CurrentJobFile: one small file written atomically).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ironroot/core/bytes.hpp"
#include "ironroot/core/result.hpp"
#include "ironroot/agent/stream_transport.hpp"
#include "ironroot/mqtt/client.hpp"
#include "ironroot/protocol/jobs.hpp"
#include "ironroot/protocol/topics.hpp"

namespace ironroot::agent {

// ---------------------------------------------------------------------------------------------
// The MQTT connection

// What the jobs client needs of an MQTT connection; the client never opens one itself.
class JobsConnection {
 public:
  using MessageSink = std::function<void(const mqtt::Message&)>;

  virtual ~JobsConnection() = default;
  // Queues `payload` for `topic` at QoS 1. Fails, saying why, when the connection refuses it.
  virtual Status publish(std::string_view topic, ByteView payload) = 0;
  // Subscribes to `filter` at QoS 1 and waits until the broker acknowledged it. Fails when the
  // broker refused it or did not answer within `timeout`.
  virtual Status subscribe(std::string_view filter, std::chrono::milliseconds timeout) = 0;
  // Where the messages the connection receives go from now on (subscriptions, and replies the
  // broker delivers unasked), called on any thread, one message at a time; an empty function
  // drops them. Once it returns, the previous sink is not running and is never called again.
  virtual void set_message_sink(MessageSink sink) = 0;
};

// mqtt::Client as a JobsConnection, and as the OTA agent's StreamTransport: it owns the client,
// which it creates from `options` (and starts). options.on_message, if set, still receives every
// message, before the sink, so the other agents of the device can share the connection.
class MqttJobsConnection final : public JobsConnection, public StreamTransport {
 public:
  static Result<std::unique_ptr<MqttJobsConnection>> create(mqtt::ClientOptions options);
  ~MqttJobsConnection() override;  // stops the client

  Status publish(std::string_view topic, ByteView payload) override;
  Status subscribe(std::string_view filter, std::chrono::milliseconds timeout) override;
  void set_message_sink(MessageSink sink) override;
  Status publish(std::string_view topic, ByteView payload, int qos) override;
  Status subscribe(std::string_view filter, int qos, std::chrono::milliseconds timeout) override;

  mqtt::Client& client() { return *client_; }

 private:
  struct Sink;
  MqttJobsConnection(std::shared_ptr<Sink> sink, std::unique_ptr<mqtt::Client> client);
  std::shared_ptr<Sink> sink_;
  std::unique_ptr<mqtt::Client> client_;
};

// ---------------------------------------------------------------------------------------------
// Handlers

// How a job ended for the device, or that it goes on after a restart.
struct JobOutcome {
  enum class Kind {
    succeeded,  // UpdateJobExecution SUCCEEDED
    failed,     // FAILED
    rejected,   // REJECTED: the device will not run this job
    // Nothing is reported now: the device restarts (an OTA update boots the new image) and the
    // client hands the same job to the handler's resume() after the restart.
    continue_after_restart,
  };
  Kind kind = Kind::failed;
  // Sent with the final status (bounds: protocol::kMaxStatusDetails...; details that break them
  // turn the outcome into FAILED with a "reason" saying so).
  protocol::StatusDetails status_details;

  static JobOutcome succeeded(protocol::StatusDetails details = {});
  static JobOutcome failed(protocol::StatusDetails details = {});
  static JobOutcome rejected(protocol::StatusDetails details = {});
  static JobOutcome continue_after_restart();
  bool operator==(const JobOutcome&) const = default;
};

// The status an outcome reports: SUCCEEDED, FAILED or REJECTED; nullopt for
// continue_after_restart.
std::optional<protocol::JobExecutionStatus> final_status(JobOutcome::Kind kind);

// Lets a handler report progress while it runs.
class JobProgress {
 public:
  virtual ~JobProgress() = default;
  // Reports IN_PROGRESS with `details` (UpdateJobExecution with expectedVersion, replacing the
  // execution's statusDetails), waiting for the service to accept it. Fails when the service
  // refused it (the job was canceled or timed out; the message says so) or did not answer; the
  // handler should then stop and return FAILED.
  virtual Status report(const protocol::StatusDetails& details) = 0;
};

// Runs the jobs of one kind. Called on the thread that calls JobsClient::run_next_job.
class JobHandler {
 public:
  virtual ~JobHandler() = default;
  // Runs `job` (IN_PROGRESS at the service by now) to its outcome.
  virtual JobOutcome handle(const protocol::JobExecution& job, JobProgress& progress) = 0;
  // `job` was started on this device before a restart (this handler asked to continue after
  // one, or the device restarted while the job ran): find out how far it got and finish it.
  // `job` is as the service describes it now (statusDetails as last reported). The job may have
  // got nowhere: a restart can come before the handler was called. By default: FAILED with
  // reason "interrupted by a restart".
  virtual JobOutcome resume(const protocol::JobExecution& job, JobProgress& progress);
};

// Whether a handler takes a job, from its job document ({} when the execution has none).
using JobMatcher = std::function<bool(const nlohmann::json& job_document)>;

// ---------------------------------------------------------------------------------------------
// The current job, remembered across restarts

struct CurrentJob {
  std::string job_id;                 // protocol::is_valid_job_id
  std::int64_t execution_number = 0;  // >= 0
  // Set once the handler returned a final outcome (not continue_after_restart): after a restart
  // the client reports it again instead of running the handler.
  std::optional<JobOutcome> outcome;
  bool operator==(const CurrentJob&) const = default;
};

// Durable storage for the current job.
class CurrentJobStore {
 public:
  virtual ~CurrentJobStore() = default;
  // The job remembered, nullopt when none. Fails when the record cannot be read or is not
  // valid; the client then goes on as if none was remembered and clears it.
  virtual Result<std::optional<CurrentJob>> load() = 0;
  // Remembers `job` (replacing any other); durable when it returns.
  virtual Status save(const CurrentJob& job) = 0;
  // Forgets the job; durable when it returns.
  virtual Status clear() = 0;
};

// The current job in one file (for a simulated device, in its folder): a JSON object
// {"format":1,"job":{"jobId","executionNumber","outcome":{"status","statusDetails"}}}, without
// "job" when none is remembered, at most kMaxCurrentJobFileSize bytes, replaced atomically
// (write_file_atomic: temporary file, fsync, rename, fsync of the folder), so that a power cut
// leaves the old record or the new one. A missing file remembers nothing; a file of another
// format, or that is not a valid record, fails to load and is never half-read.
class CurrentJobFile final : public CurrentJobStore {
 public:
  static constexpr int kFormat = 1;
  static constexpr std::size_t kMaxCurrentJobFileSize = 64 * 1024;

  explicit CurrentJobFile(std::filesystem::path path) : path_(std::move(path)) {}
  Result<std::optional<CurrentJob>> load() override;
  Status save(const CurrentJob& job) override;
  Status clear() override;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// ---------------------------------------------------------------------------------------------
// The client

struct JobsClientSettings {
  std::string thing_name;              // protocol::is_valid_thing_name
  protocol::TopicPrefix topic_prefix;  // "$aws"
  // Also subscribe to the replies ($aws/things/T/jobs/+/get/+ and .../+/update/+) before the
  // first request. AWS IoT and ironroot's broker plugin deliver replies to the requester without
  // a subscription (and AWS's libraries rely on it); a plain broker does not.
  bool subscribe_to_replies = false;
  // The member of the job document whose string value is the job type (register_handler by
  // type). "operation", as AWS IoT Device Client's job documents name it.
  std::string job_type_key = "operation";
  // How long one request waits for its reply; 100 ms to 10 min.
  std::chrono::milliseconds reply_timeout{std::chrono::seconds(10)};
  // How many times one request is sent (a fresh clientToken each time) before it fails for want
  // of a reply; also how many times RequestThrottled and InternalError are tried. 1 to 10.
  int attempts = 3;
  // stepTimeoutInMinutes sent when a job starts (1 to 10080); none: the job's own timeouts.
  std::optional<std::int64_t> step_timeout_in_minutes;
  // Messages kept while nobody reads them (between run_next_job calls, or while a handler
  // runs); more are dropped and counted. 1 to 10000.
  std::size_t max_pending_messages = 64;
};

// The steps of the client's work, for failures.
enum class JobsStep {
  check_settings,   // the settings
  subscribe,        // notify-next (and the replies, with subscribe_to_replies)
  request_next,     // $next/get
  start_job,        // UpdateJobExecution IN_PROGRESS
  report_progress,  // UpdateJobExecution IN_PROGRESS with a handler's statusDetails
  finish_job,       // UpdateJobExecution SUCCEEDED, FAILED or REJECTED
  describe_job,     // DescribeJobExecution of the remembered job (or after VersionMismatch)
  store,            // saving the current job
};

// "check settings", "subscribe", "request next job", "start job", "report progress",
// "finish job", "describe job", "store current job".
std::string_view step_name(JobsStep step);

struct JobsFailure {
  JobsStep step;
  std::string message;  // "<step name>: <why>"
  // The service's rejection, when it rejected a request (its code: VersionMismatch,
  // InvalidStateTransition, ResourceNotFound, ...).
  std::optional<protocol::JobsErrorResponse> rejection;
  bool timed_out = false;  // no reply after every attempt
};

// What happened to one job.
struct JobReport {
  std::string job_id;
  std::int64_t execution_number = 0;
  // Handed to resume() (or its remembered outcome reported again) after a restart.
  bool resumed = false;
  // The handler's outcome (REJECTED with a reason when no handler took the job); nullopt when
  // no handler ran because the service had ended the job first.
  std::optional<JobOutcome> outcome;
  // The status the execution ended with: the outcome's once the service accepted it, or the one
  // the service had set first (CANCELED, TIMED_OUT, REMOVED). nullopt for
  // continue_after_restart, and when the service only said that the job is over
  // (TerminalStateReached, ResourceNotFound).
  std::optional<protocol::JobExecutionStatus> final_status;
  // The service ended the execution before the device reported its outcome.
  bool ended_by_service = false;
};

struct JobsClientStats {
  std::uint64_t jobs = 0;              // reports returned by run_next_job
  std::uint64_t requests = 0;          // requests published (retries included)
  std::uint64_t retries = 0;           // requests sent again after silence or throttling
  std::uint64_t dropped_messages = 0;  // received while max_pending_messages waited
  std::uint64_t ignored_messages = 0;  // undecodable, or replies to no request of ours
  // Why the remembered job could not be read or forgotten, if it could not (the client went on
  // as if none was remembered).
  std::string store_error;
};

class JobsClient {
 public:
  // Checks the settings. `connection` and `store` must outlive the client. Nothing is sent
  // before the first run_next_job.
  static Result<std::unique_ptr<JobsClient>, JobsFailure> create(JobsClientSettings settings,
                                                                 JobsConnection& connection,
                                                                 CurrentJobStore& store);
  // Detaches from the connection (set_message_sink({})).
  ~JobsClient();
  JobsClient(const JobsClient&) = delete;
  JobsClient& operator=(const JobsClient&) = delete;

  // Handlers are tried in the order they were registered; the first that takes a job runs it.
  // By type: the job document's `job_type_key` member equals `job_type`.
  void register_handler(std::string job_type, std::shared_ptr<JobHandler> handler);
  void register_handler(JobMatcher matcher, std::shared_ptr<JobHandler> handler);

  // Runs at most one job to its end and reports it:
  //   1. the first time: subscribes to notify-next (and the replies, with subscribe_to_replies)
  //      and loads the remembered job;
  //   2. a remembered job: DescribeJobExecution of it, then its remembered outcome is reported
  //      again or it goes to its handler's resume(); a job the service ended meanwhile is
  //      forgotten and reported as such;
  //   3. otherwise: publishes $next/get (the first time, and after each job), and takes the first
  //      pending job that its reply or a notify-next names within `wait`.
  // A job is started with UpdateJobExecution IN_PROGRESS and remembered before its handler runs
  // (a job already IN_PROGRESS goes to resume()); the outcome is remembered, then reported; the
  // job is forgotten once the service accepted it. A job no handler takes is REJECTED with
  // statusDetails {"reason": "no handler for job type ..."}. On VersionMismatch the job is
  // described again and the update sent once more with the version the service holds.
  // Returns nullopt when no job came within `wait`. After a failure the next call carries on
  // (the remembered job first).
  //
  // Thread-safety: one thread calls run_next_job (and register_handler) at a time; handlers run
  // on it.
  Result<std::optional<JobReport>, JobsFailure> run_next_job(std::chrono::milliseconds wait);

  // REQUIRES: called on the thread that calls run_next_job (or between its calls).
  JobsClientStats stats() const;

 private:
  struct State;
  explicit JobsClient(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace ironroot::agent
