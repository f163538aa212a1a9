// The jobs store's device side: what the Jobs device MQTT API (ironroot/protocol/jobs.hpp) reads
// and changes. Every query names the caller's thing, so a device only ever reaches its own
// executions; an execution that is not dispatched yet does not exist for it.
#include <algorithm>

#include "jobs_internal.hpp"

namespace ironroot::fleet {

using namespace jobs_detail;
namespace jobs_errors = protocol::jobs_errors;

namespace {

tl::unexpected<JobsRefusal> refuse_device(std::string_view code, std::string message,
                                          std::optional<protocol::JobExecutionState> state = {}) {
  return tl::unexpected(JobsRefusal{std::string(code), std::move(message), std::move(state)});
}

tl::unexpected<JobsRefusal> internal_refusal(const RegistryError& error) {
  return refuse_device(jobs_errors::kInternalError, error.message);
}

protocol::JobExecutionState state_of(const JobExecutionRecord& execution) {
  return {execution.status, execution.status_details, execution.version_number};
}

protocol::JobExecutionSummary summary_of(const JobExecutionRecord& execution) {
  protocol::JobExecutionSummary summary;
  summary.job_id = execution.job_id;
  summary.queued_at = to_db(execution.queued_at);
  if (execution.started_at) summary.started_at = to_db(*execution.started_at);
  summary.last_updated_at = to_db(execution.last_updated_at);
  summary.version_number = execution.version_number;
  summary.execution_number = execution.execution_number;
  return summary;
}

// The job document as a JSON object; it was checked when the job was created.
RegistryResult<nlohmann::json> document_of(Database& db, std::string_view job_id) {
  auto stmt = db.prepare("SELECT document FROM jobs WHERE id = ?1");
  if (!stmt) return internal(stmt.error());
  auto row = stmt->bind(1, job_id).step();
  if (!row) return internal(row.error());
  if (!*row) return internal(Error{quoted("job", job_id) + " vanished while in use"});
  auto document = nlohmann::json::parse(stmt->text(0), nullptr, false);
  if (document.is_discarded() || !document.is_object()) {
    return internal(Error{"stored document of " + quoted("job", job_id) + " no longer parses"});
  }
  return document;
}

RegistryResult<protocol::JobExecution> execution_of(Database& db,
                                                    const JobExecutionRecord& execution,
                                                    bool include_document, Time now) {
  protocol::JobExecution out;
  out.job_id = execution.job_id;
  out.thing_name = execution.thing_name;
  if (include_document) {
    auto document = document_of(db, execution.job_id);
    if (!document) return tl::unexpected(document.error());
    out.job_document = std::move(*document);
  }
  out.status = execution.status;
  out.status_details = execution.status_details;
  out.queued_at = to_db(execution.queued_at);
  if (execution.started_at) out.started_at = to_db(*execution.started_at);
  out.last_updated_at = to_db(execution.last_updated_at);
  out.version_number = execution.version_number;
  out.execution_number = execution.execution_number;
  std::optional<Time> deadline = execution.step_timeout_at;
  if (execution.in_progress_timeout_at &&
      (!deadline || *execution.in_progress_timeout_at < *deadline)) {
    deadline = execution.in_progress_timeout_at;
  }
  if (deadline) {
    out.approximate_seconds_before_timed_out =
        std::max<std::int64_t>(0, to_db(*deadline) - to_db(now));
  }
  return out;
}

RegistryResult<std::vector<JobExecutionRecord>> pending_of(Database& db, std::string_view thing) {
  auto stmt = db.prepare("SELECT " + std::string(kExecutionColumns) + std::string(kPendingOfThing));
  if (!stmt) return internal(stmt.error());
  stmt->bind(1, thing);
  return read_executions(*stmt);
}

// Runs `body` (returning JobsOutcome<T>) in a write transaction and commits.
template <class T, class Body>
JobsOutcome<T> device_write(Database& db, Body&& body) {
  auto txn = db.begin_write();
  if (!txn) return refuse_device(jobs_errors::kInternalError, txn.error().message);
  JobsOutcome<T> result = body();
  if (!result) return result;
  if (auto ok = txn->commit(); !ok)
    return refuse_device(jobs_errors::kInternalError, ok.error().message);
  return result;
}

// Starts the step timer and, the first time it goes IN_PROGRESS, the job's in-progress timer.
void run(JobExecutionRecord& execution, const Job& job,
         std::optional<std::int64_t> step_timeout_in_minutes, Time now) {
  execution.status = protocol::JobExecutionStatus::in_progress;
  if (!execution.started_at) execution.started_at = now;
  if (job.in_progress_timeout_minutes && !execution.in_progress_timeout_at) {
    execution.in_progress_timeout_at =
        *execution.started_at + std::chrono::minutes(*job.in_progress_timeout_minutes);
  }
  if (step_timeout_in_minutes) {
    execution.step_timeout_at = now + std::chrono::minutes(*step_timeout_in_minutes);
  }
}

}  // namespace

RegistryResult<PendingExecutions> JobStore::pending_executions(std::string_view thing) {
  auto txn = db_.begin_read();
  if (!txn) return internal(txn.error());
  auto pending = pending_of(db_, thing);
  if (!pending) return tl::unexpected(pending.error());
  PendingExecutions out;
  for (const JobExecutionRecord& execution : *pending) {
    (execution.status == protocol::JobExecutionStatus::in_progress ? out.in_progress : out.queued)
        .push_back(summary_of(execution));
  }
  return out;
}

RegistryResult<std::optional<JobExecutionRecord>> JobStore::next_pending(std::string_view thing) {
  auto pending = pending_of(db_, thing);
  if (!pending) return tl::unexpected(pending.error());
  if (pending->empty()) return std::optional<JobExecutionRecord>();
  return std::optional<JobExecutionRecord>(std::move(pending->front()));
}

RegistryResult<std::optional<protocol::JobExecution>> JobStore::next_pending_execution(
    std::string_view thing) {
  auto txn = db_.begin_read();
  if (!txn) return internal(txn.error());
  auto next = next_pending(thing);
  if (!next) return tl::unexpected(next.error());
  if (!*next) return std::optional<protocol::JobExecution>();
  auto execution = execution_of(db_, **next, true, clock_());
  if (!execution) return tl::unexpected(execution.error());
  return std::optional<protocol::JobExecution>(std::move(*execution));
}

JobsOutcome<Notified<std::optional<protocol::JobExecution>>> JobStore::start_next(
    std::string_view thing, const protocol::StartNextPendingJobExecutionRequest& request) {
  if (auto checked = protocol::StartNextPendingJobExecutionRequest::decode(request.encode());
      !checked) {
    return refuse_device(jobs_errors::kInvalidRequest, checked.error().message);
  }
  using Result = Notified<std::optional<protocol::JobExecution>>;
  return device_write<Result>(db_, [&]() -> JobsOutcome<Result> {
    auto next = next_pending(thing);
    if (!next) return internal_refusal(next.error());
    if (!*next) return Result{};
    JobExecutionRecord& execution = **next;
    const Time now = clock_();
    PendingWatch watch(db_);
    if (auto ok = watch.watch(thing); !ok) return internal_refusal(ok.error());
    if (execution.status == protocol::JobExecutionStatus::queued) {
      auto job = load_job(db_, execution.job_id);
      if (!job) return internal_refusal(job.error());
      if (!*job) return internal_refusal({RegistryErrorCode::internal, "job vanished"});
      run(execution, **job, request.step_timeout_in_minutes, now);
      if (request.status_details) execution.status_details = *request.status_details;
      execution.version_number += 1;
      execution.last_updated_at = now;
      if (auto ok = store_execution(db_, execution); !ok) return internal_refusal(ok.error());
      Change change{"job.start-execution",
                    "job",
                    execution.job_id,
                    {{"thing", thing},
                     {"executionNumber", execution.execution_number},
                     {"versionNumber", execution.version_number}}};
      if (auto ok = record(db_, now, thing, change); !ok) return internal_refusal(ok.error());
    }
    auto reply = execution_of(db_, execution, true, now);
    if (!reply) return internal_refusal(reply.error());
    auto notifications = watch.changes();
    if (!notifications) return internal_refusal(notifications.error());
    return Result{std::move(*reply), std::move(*notifications)};
  });
}

JobsOutcome<std::optional<protocol::JobExecution>> JobStore::describe(
    std::string_view thing, std::string_view job_id,
    const protocol::DescribeJobExecutionRequest& request) {
  const Time now = clock_();
  auto txn = db_.begin_read();
  if (!txn) return refuse_device(jobs_errors::kInternalError, txn.error().message);
  std::optional<JobExecutionRecord> found;
  if (job_id == protocol::kNextJobId) {
    auto next = next_pending(thing);
    if (!next) return internal_refusal(next.error());
    if (!*next) return std::optional<protocol::JobExecution>();
    found = std::move(*next);
  } else {
    if (!protocol::is_valid_job_id(job_id)) {
      return refuse_device(jobs_errors::kInvalidRequest,
                           "job id must be 1 to 64 of [a-zA-Z0-9_-] or $next");
    }
    auto execution = load_execution(db_, job_id, thing, request.execution_number);
    if (!execution) return internal_refusal(execution.error());
    if (!*execution || ((*execution)->status == protocol::JobExecutionStatus::queued &&
                        !(*execution)->dispatched_at)) {
      return refuse_device(
          jobs_errors::kResourceNotFound,
          "no job execution of job " + std::string(job_id) + " on " + std::string(thing));
    }
    if (protocol::is_terminal((*execution)->status)) {
      return refuse_device(
          jobs_errors::kTerminalStateReached,
          "the job execution is " + std::string(protocol::to_string((*execution)->status)));
    }
    found = std::move(*execution);
  }
  auto reply = execution_of(db_, *found, request.include_job_document, now);
  if (!reply) return internal_refusal(reply.error());
  return std::optional<protocol::JobExecution>(std::move(*reply));
}

JobsOutcome<Notified<ExecutionUpdate>> JobStore::update(
    std::string_view thing, std::string_view job_id,
    const protocol::UpdateJobExecutionRequest& request) {
  if (auto checked = protocol::UpdateJobExecutionRequest::decode(request.encode()); !checked) {
    return refuse_device(jobs_errors::kInvalidRequest, checked.error().message);
  }
  if (!protocol::is_valid_job_id(job_id)) {
    return refuse_device(jobs_errors::kInvalidRequest, "job id must be 1 to 64 of [a-zA-Z0-9_-]");
  }
  using Result = Notified<ExecutionUpdate>;
  return device_write<Result>(db_, [&]() -> JobsOutcome<Result> {
    auto loaded = load_execution(db_, job_id, thing, request.execution_number);
    if (!loaded) return internal_refusal(loaded.error());
    if (!*loaded ||
        ((*loaded)->status == protocol::JobExecutionStatus::queued && !(*loaded)->dispatched_at)) {
      return refuse_device(
          jobs_errors::kResourceNotFound,
          "no job execution" +
              (request.execution_number ? " number " + std::to_string(*request.execution_number)
                                        : std::string()) +
              " of job " + std::string(job_id) + " on " + std::string(thing));
    }
    JobExecutionRecord& execution = **loaded;
    if (request.expected_version && *request.expected_version != execution.version_number) {
      return refuse_device(jobs_errors::kVersionMismatch,
                           "the job execution is at version " +
                               std::to_string(execution.version_number) + ", not " +
                               std::to_string(*request.expected_version),
                           state_of(execution));
    }
    if (!protocol::legal_transition(execution.status, request.status)) {
      return refuse_device(jobs_errors::kInvalidStateTransition,
                           "a job execution that is " +
                               std::string(protocol::to_string(execution.status)) +
                               " cannot become " + std::string(protocol::to_string(request.status)),
                           state_of(execution));
    }
    auto job = load_job(db_, job_id);
    if (!job) return internal_refusal(job.error());
    if (!*job) return internal_refusal({RegistryErrorCode::internal, "job vanished"});
    PendingWatch watch(db_);
    if (auto ok = watch.watch(thing); !ok) return internal_refusal(ok.error());
    const Time now = clock_();
    if (request.status_details) execution.status_details = *request.status_details;
    std::optional<JobExecutionRecord> retry;
    if (protocol::is_terminal(request.status)) {
      finish(execution, request.status, now);
      if (auto ok = store_execution(db_, execution); !ok) return internal_refusal(ok.error());
      auto settled = settle_terminal(db_, **job, execution, now);
      if (!settled) return internal_refusal(settled.error());
      retry = std::move(*settled);
    } else {
      run(execution, **job, request.step_timeout_in_minutes, now);
      execution.version_number += 1;
      execution.last_updated_at = now;
      if (auto ok = store_execution(db_, execution); !ok) return internal_refusal(ok.error());
    }
    Change change{"job.update-execution",
                  "job",
                  execution.job_id,
                  {{"thing", thing},
                   {"executionNumber", execution.execution_number},
                   {"status", protocol::to_string(execution.status)},
                   {"versionNumber", execution.version_number},
                   {"retried", retry.has_value()}}};
    if (auto ok = record(db_, now, thing, change); !ok) return internal_refusal(ok.error());
    ExecutionUpdate update{execution, state_of(execution), std::nullopt};
    if (request.include_job_document) {
      auto document = document_of(db_, job_id);
      if (!document) return internal_refusal(document.error());
      update.document = std::move(*document);
    }
    auto notifications = watch.changes();
    if (!notifications) return internal_refusal(notifications.error());
    return Result{std::move(update), std::move(*notifications)};
  });
}

}  // namespace ironroot::fleet
