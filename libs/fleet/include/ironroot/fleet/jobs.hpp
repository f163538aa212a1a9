// The durable jobs store: AWS IoT Jobs' jobs and job executions, kept in the registry's SQLite
// database (registry.hpp), with the operations of the operator (CreateJob, CancelJob,
// CancelJobExecution, DeleteJob, listings), of a rollout engine (which QUEUED executions a
// device may see yet) and of devices (the Jobs device MQTT API, ironroot/protocol/jobs.hpp).
// docs/jobs.md, "Jobs store", gives the rules and AWS's pages they come from.
//
// Every change runs in one write transaction together with its audit rows (the registry's audit
// log): it is durable (synchronous=FULL) before the call returns, so a caller that acknowledges a
// change only after the call returned never acknowledges a change that a crash can lose. A
// refused or failed call changes nothing. A JobStore is one connection: use it from one thread
// at a time; several connections (a Registry, other JobStores, other processes) may share the
// file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <vector>

#include "ironroot/fleet/database.hpp"
#include "ironroot/fleet/records.hpp"
#include "ironroot/fleet/registry.hpp"
#include "ironroot/protocol/jobs.hpp"

namespace ironroot::fleet {

// Bounds from AWS IoT's CreateJob, CancelJob and AssociateTargetsWithJob API reference.
inline constexpr std::size_t kMaxJobDocumentSize = 32768;  // document: 32 KiB
inline constexpr std::size_t kMaxJobTargets = 100;         // things and groups together
inline constexpr std::size_t kMaxJobDescriptionLength = 2028;
inline constexpr std::size_t kMaxJobCommentLength = 2028;
inline constexpr std::size_t kMaxJobReasonCodeLength = 128;  // [A-Z0-9_]+
inline constexpr std::size_t kMaxJobConfigLength = 4096;  // rollout and abort configs (JSON text)
inline constexpr std::int64_t kMinTimeoutInMinutes = 1;   // inProgressTimeoutInMinutes
inline constexpr std::int64_t kMaxTimeoutInMinutes = 10080;
inline constexpr std::int64_t kMaxNumberOfRetries = 10;  // RetryCriteria.numberOfRetries
inline constexpr std::size_t kMaxRetryCriteria = 2;      // JobExecutionsRetryConfig.criteriaList

// A job's status (JobSummary.status). A deletion is one transaction here, so no job is ever
// seen DELETION_IN_PROGRESS; ironroot has no scheduled jobs (SCHEDULED).
enum class JobStatus { in_progress, canceled, completed };
std::string_view job_status_name(JobStatus status);  // "IN_PROGRESS", "CANCELED", "COMPLETED"
std::optional<JobStatus> parse_job_status(std::string_view name);

// SNAPSHOT: the targets are resolved once, when the job is created. CONTINUOUS (groups only):
// things that join a target group later get the job too (JobStore::reconcile_targets).
enum class TargetSelection { snapshot, continuous };
std::string_view target_selection_name(TargetSelection selection);  // "SNAPSHOT", "CONTINUOUS"
std::optional<TargetSelection> parse_target_selection(std::string_view name);

// RetryCriteria.failureType.
enum class RetryFailureType { failed, timed_out, all };
std::string_view retry_failure_type_name(RetryFailureType type);  // "FAILED", "TIMED_OUT", "ALL"
std::optional<RetryFailureType> parse_retry_failure_type(std::string_view name);

struct RetryCriterion {
  RetryFailureType failure_type = RetryFailureType::all;
  std::int64_t number_of_retries = 0;  // 0 to kMaxNumberOfRetries

  friend bool operator==(const RetryCriterion&, const RetryCriterion&) = default;
};

// CreateJob's request, for what this store keeps.
struct NewJob {
  std::string job_id;    // protocol::is_valid_job_id
  std::string document;  // a JSON object, at most kMaxJobDocumentSize bytes
  // Targets by name; each must exist. At least one target, at most kMaxJobTargets in all.
  std::vector<std::string> things;
  std::vector<std::string> groups;                               // static or dynamic
  TargetSelection target_selection = TargetSelection::snapshot;  // CONTINUOUS: groups only
  std::string description;                                       // check_text, 2028 bytes
  std::optional<std::int64_t> in_progress_timeout_minutes;       // timeoutConfig: 1 to 10080
  // jobExecutionsRetryConfig.criteriaList: at most two, no failure type twice, ALL alone.
  std::vector<RetryCriterion> retry_criteria;
  // jobExecutionsRolloutConfig and abortConfig, as JSON object text: kept for the rollout
  // engine, which owns their meaning. At most kMaxJobConfigLength bytes each.
  std::optional<std::string> rollout_config;
  std::optional<std::string> abort_config;
};

// How many of a job's targeted things are in each state: each thing counts once, by its latest
// execution (a retried thing counts by its retry). JobProcessDetails' numberOf...Things.
struct JobExecutionCounts {
  std::int64_t queued = 0;
  std::int64_t in_progress = 0;
  std::int64_t succeeded = 0;
  std::int64_t failed = 0;
  std::int64_t rejected = 0;
  std::int64_t timed_out = 0;
  std::int64_t canceled = 0;
  std::int64_t removed = 0;
  // Things whose latest execution a rollout has dispatched (AWS: "notified"), whatever its
  // status; queued - (QUEUED ones among them) are still waiting for the rollout.
  std::int64_t dispatched = 0;
  std::int64_t undispatched = 0;  // QUEUED and not dispatched
  std::int64_t things = 0;        // every targeted thing

  friend bool operator==(const JobExecutionCounts&, const JobExecutionCounts&) = default;
};

struct Job {
  std::string job_id;
  std::string document;
  JobStatus status = JobStatus::in_progress;
  TargetSelection target_selection = TargetSelection::snapshot;
  std::vector<std::string> things;  // targets, sorted
  std::vector<std::string> groups;  // targets, sorted
  std::string description;
  std::optional<std::int64_t> in_progress_timeout_minutes;
  std::vector<RetryCriterion> retry_criteria;
  std::optional<std::string> rollout_config;
  std::optional<std::string> abort_config;
  bool force_canceled = false;
  std::optional<std::string> reason_code;  // CancelJob's
  std::optional<std::string> comment;      // CancelJob's
  std::int64_t version = 1;                // +1 on every change of the job itself
  Time created_at{};
  Time updated_at{};
  std::optional<Time> completed_at;
  JobExecutionCounts counts;

  friend bool operator==(const Job&, const Job&) = default;
};

// One execution of a job on one thing. (job_id, thing_name, execution_number) names it; a retry
// is a new execution with the next number, the earlier one staying as it ended.
struct JobExecutionRecord {
  std::string job_id;
  std::string thing_name;
  std::int64_t execution_number = 1;  // 1, then +1 for each retry or re-targeting
  protocol::JobExecutionStatus status = protocol::JobExecutionStatus::queued;
  protocol::StatusDetails status_details;
  std::int64_t version_number = 1;  // 1 on creation, +1 on every change
  Time queued_at{};
  std::optional<Time> started_at;  // when it first went IN_PROGRESS
  Time last_updated_at{};
  // When a rollout made it visible to the device. A QUEUED execution that is not dispatched
  // exists for the operator and the rollout only: to the device it is ResourceNotFound.
  std::optional<Time> dispatched_at;
  std::optional<Time> step_timeout_at;         // stepTimeoutInMinutes' deadline, while running
  std::optional<Time> in_progress_timeout_at;  // the job's timeoutConfig deadline, while running
  std::int64_t retry_attempt = 0;              // how many retries came before this execution
  bool force_canceled = false;

  friend bool operator==(const JobExecutionRecord&, const JobExecutionRecord&) = default;
};

// Whom the fleet service must tell what after a change (docs: "Jobs notifications"): things
// whose next pending execution (the one DescribeJobExecution $next returns) is another one now,
// or none: publish .../jobs/notify-next; things whose list of pending executions (what
// GetPendingJobExecutions returns) changed: publish .../jobs/notify.
struct JobNotifications {
  std::set<std::string> next_changed;
  std::set<std::string> pending_changed;

  void merge(const JobNotifications& other);
  bool empty() const { return next_changed.empty() && pending_changed.empty(); }
  friend bool operator==(const JobNotifications&, const JobNotifications&) = default;
};

template <class T>
struct Notified {
  T value;
  JobNotifications notifications;
};

// CancelJob.
struct JobCancellation {
  bool force = false;                      // cancel IN_PROGRESS executions too
  std::optional<std::string> reason_code;  // 1 to 128 of [A-Z0-9_]
  std::optional<std::string> comment;      // check_text, 2028 bytes
};

// CancelJobExecution.
struct ExecutionCancellation {
  bool force = false;                            // an IN_PROGRESS execution too
  std::optional<std::int64_t> expected_version;  // refused (conflict) unless it is at this one
  std::optional<protocol::StatusDetails> status_details;  // replaces them when present
};

struct JobFilter {
  std::optional<JobStatus> status;
};

// What reconcile_targets did.
struct TargetReconciliation {
  std::vector<JobExecutionRecord> added;    // new QUEUED executions (not dispatched)
  std::vector<JobExecutionRecord> removed;  // QUEUED executions that became REMOVED
};

// What expire did: executions that became TIMED_OUT, and the retries queued for them.
struct Expiry {
  std::vector<JobExecutionRecord> timed_out;
  std::vector<JobExecutionRecord> retries;
};

// A device request the store refuses: `code` is a protocol::jobs_errors constant;
// `execution_state` is the execution's current state with kVersionMismatch and
// kInvalidStateTransition. The fleet service answers with a protocol::JobsErrorResponse.
struct JobsRefusal {
  std::string code;
  std::string message;
  std::optional<protocol::JobExecutionState> execution_state;
};

template <class T>
using JobsOutcome = tl::expected<T, JobsRefusal>;

// GetPendingJobExecutions' lists, in the order StartNextPendingJobExecution takes them.
struct PendingExecutions {
  std::vector<protocol::JobExecutionSummary> in_progress;
  std::vector<protocol::JobExecutionSummary> queued;
};

// UpdateJobExecution's reply, with the execution as it is now.
struct ExecutionUpdate {
  JobExecutionRecord execution;
  protocol::JobExecutionState state;       // for executionState
  std::optional<nlohmann::json> document;  // present when the request asked for it
};

// A thing the rollout has notified of a job: when it first was (a retry keeps its thing's place
// in the rollout), and the status of its latest execution.
struct DispatchedThing {
  std::string thing_name;
  Time first_dispatched_at{};
  protocol::JobExecutionStatus status = protocol::JobExecutionStatus::queued;

  friend bool operator==(const DispatchedThing&, const DispatchedThing&) = default;
};

// An operator's approval of a rollout group's pause gate (rollout.hpp, RolloutGroup::pause_before,
// docs/rollouts.md): the rollout may start the group once it is approved.
struct RolloutApproval {
  std::string job_id;
  std::string group;        // the rolloutGroups entry's name
  std::string approved_by;  // the actor
  Time approved_at{};

  friend bool operator==(const RolloutApproval&, const RolloutApproval&) = default;
};

class JobStore {
 public:
  using Clock = Registry::Clock;

  // Opens (or creates) the registry database at `path`, bringing its schema up to date, on a
  // connection of its own. Default clock: the system clock.
  static RegistryResult<JobStore> open(const std::filesystem::path& path, Clock clock = nullptr,
                                       const DatabaseOptions& options = {});

  // --- Operator (actor: who, as the audit log shows it; check_actor) ---

  // Creates the job IN_PROGRESS and one QUEUED, undispatched execution for each distinct thing
  // its targets name now (a dynamic group's: the things its query matches). Refused: any
  // invalid field (invalid), a job of that id (already_exists), a target that does not exist
  // (not_found). A document with "afr_ota" (an OTA job) is refused (invalid) unless
  // protocol::OtaJobDocument::decode takes it and, when its streamname is a firmware stream
  // (firmware.hpp, firmware_stream_id), the firmware repository in the same database has that
  // image and files[0] is file id 0 of the image's size.
  RegistryResult<Job> create_job(std::string_view actor, const NewJob& job);
  RegistryResult<Job> describe_job(std::string_view job_id);
  // In job id order, with their counts.
  RegistryResult<Listing<Job>> list_jobs(const JobFilter& filter, const Page& page);
  // Every execution of the job (retried ones too), by thing name then execution number.
  RegistryResult<Listing<JobExecutionRecord>> list_executions_of_job(std::string_view job_id,
                                                                     const Page& page);
  // Every execution on the thing, by job id then execution number.
  RegistryResult<Listing<JobExecutionRecord>> list_executions_of_thing(std::string_view thing,
                                                                       const Page& page);
  // The execution `execution_number` of the job on the thing (absent: the latest).
  RegistryResult<JobExecutionRecord> describe_execution(
      std::string_view job_id, std::string_view thing,
      std::optional<std::int64_t> execution_number = std::nullopt);

  // CancelJob: the job becomes CANCELED; its QUEUED executions CANCELED, and with `force` its
  // IN_PROGRESS ones too (which devices can no longer update). Without force, IN_PROGRESS
  // executions run on and may still end as the device says. Refused (conflict): a COMPLETED
  // job; a CANCELED one unless this is a force cancel of one canceled without.
  RegistryResult<Notified<Job>> cancel_job(std::string_view actor, std::string_view job_id,
                                           const JobCancellation& cancellation);
  // CancelJobExecution: the thing's pending execution of the job becomes CANCELED. Refused: none
  // pending (conflict when the latest is terminal, not_found when there is none), IN_PROGRESS
  // without force (conflict), another version than expected (conflict).
  RegistryResult<Notified<JobExecutionRecord>> cancel_execution(
      std::string_view actor, std::string_view job_id, std::string_view thing,
      const ExecutionCancellation& cancellation);
  // DeleteJob: the job and all its executions. Refused (conflict) while the job is IN_PROGRESS,
  // unless `force`.
  RegistryResult<JobNotifications> delete_job(std::string_view actor, std::string_view job_id,
                                              bool force);

  // Brings the executions of IN_PROGRESS jobs in line with their targets now: a CONTINUOUS job
  // gets a QUEUED, undispatched execution for each thing in a target group that has none
  // pending and whose latest was not completed (never had one, or it was REMOVED); a QUEUED
  // execution whose thing no longer exists, or (CONTINUOUS) is in no target any more, becomes
  // REMOVED. IN_PROGRESS executions are left to finish. Run it after group or thing changes.
  RegistryResult<Notified<TargetReconciliation>> reconcile_targets(std::string_view actor);

  // --- Rollout ---

  // Up to `limit` (1 to kMaxPageLimit) things whose execution of the job is QUEUED and not
  // dispatched, in name order.
  RegistryResult<std::vector<std::string>> undispatched(std::string_view job_id, std::size_t limit);
  // Makes the job's QUEUED executions on these things visible to their devices; returns how
  // many it dispatched (a thing with nothing to dispatch is skipped). Refused: an unknown job
  // (not_found), one that is not IN_PROGRESS (conflict), more than kMaxPageLimit things.
  RegistryResult<Notified<std::size_t>> dispatch(std::string_view actor, std::string_view job_id,
                                                 std::span<const std::string> things);
  RegistryResult<JobExecutionCounts> counts(std::string_view job_id);
  // Every thing the job has been dispatched to, in dispatch order (first dispatch time, then
  // thing name): what a rollout's rate, abort criteria and groups are decided from. One query,
  // whatever the number of retries. Refused: an unknown job (not_found).
  RegistryResult<std::vector<DispatchedThing>> dispatched_things(std::string_view job_id);

  // --- Rollout approvals (jobs_approvals.cpp). A job's rollout_config is the RolloutPolicy's
  // JSON (RolloutPolicy::to_json: the CreateJob keys jobExecutionsRolloutConfig, abortConfig,
  // schedulingConfig, rolloutGroups) ---

  // Opens the pause gate of the job's rollout group `group`. Approving an approved group again
  // changes nothing and returns the first approval. Refused: an unknown job (not_found); a job
  // that is not IN_PROGRESS (conflict); a job without that rollout group, or whose group has no
  // pause gate (invalid).
  RegistryResult<RolloutApproval> approve_rollout_group(std::string_view actor,
                                                        std::string_view job_id,
                                                        std::string_view group);
  // The job's approvals, in group name order (RolloutSnapshot::approved_groups takes their
  // names). Refused: an unknown job (not_found).
  RegistryResult<std::vector<RolloutApproval>> rollout_approvals(std::string_view job_id);

  // --- Time ---

  // Every IN_PROGRESS execution past its step timeout or the job's in-progress timeout becomes
  // TIMED_OUT (and is retried if the job allows: see update). Run it periodically.
  RegistryResult<Notified<Expiry>> expire(std::string_view actor);

  // --- Devices: `thing` is the caller's own thing (from its topic, which the broker authorized);
  // an execution on another thing is ResourceNotFound, as is one not dispatched yet.

  RegistryResult<PendingExecutions> pending_executions(std::string_view thing);
  // The next pending execution (IN_PROGRESS first, then QUEUED, oldest first; absent: none).
  RegistryResult<std::optional<JobExecutionRecord>> next_pending(std::string_view thing);
  // The reply's execution for notify-next and DescribeJobExecution, with the job document.
  RegistryResult<std::optional<protocol::JobExecution>> next_pending_execution(
      std::string_view thing);

  // Whether the thing has a pending execution it can see (IN_PROGRESS, or QUEUED and
  // dispatched) of a job whose document's afr_ota.streamname is `stream_id`: the MQTT file
  // stream service lets a device read a stream only then (docs/ota-streams.md). One query.
  RegistryResult<bool> has_pending_ota_execution(std::string_view thing,
                                                 std::string_view stream_id);

  // StartNextPendingJobExecution: moves the next pending execution from QUEUED to IN_PROGRESS
  // with the request's statusDetails and step timeout; an IN_PROGRESS one is returned unchanged.
  // No execution when nothing is pending.
  JobsOutcome<Notified<std::optional<protocol::JobExecution>>> start_next(
      std::string_view thing, const protocol::StartNextPendingJobExecutionRequest& request);
  // DescribeJobExecution of `job_id` or protocol::kNextJobId. Refused: no such (dispatched)
  // execution (kResourceNotFound); an execution in a terminal state (kTerminalStateReached).
  // $next with nothing pending: no execution.
  JobsOutcome<std::optional<protocol::JobExecution>> describe(
      std::string_view thing, std::string_view job_id,
      const protocol::DescribeJobExecutionRequest& request);
  // UpdateJobExecution. Refused: no such (dispatched) execution or execution number
  // (kResourceNotFound); expectedVersion other than versionNumber (kVersionMismatch); not a
  // protocol::legal_transition, including any update of a terminal execution
  // (kInvalidStateTransition). statusDetails replace the execution's when present. A step timeout
  // restarts the step timer. FAILED is retried at once (a new QUEUED execution, dispatched) when
  // the job's retry criteria allow; otherwise, when every execution of a SNAPSHOT job is
  // terminal, the job is COMPLETED.
  JobsOutcome<Notified<ExecutionUpdate>> update(std::string_view thing, std::string_view job_id,
                                                const protocol::UpdateJobExecutionRequest& request);

 private:
  JobStore(Database db, Clock clock) : db_(std::move(db)), clock_(std::move(clock)) {}

  Database db_;
  Clock clock_;
};

}  // namespace ironroot::fleet
