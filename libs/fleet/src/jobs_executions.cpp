// Rows of the jobs tables, the audit row, the pending-list watch, and what happens after an
// execution reaches a terminal state (retry or job completion).
#include <algorithm>

#include "jobs_internal.hpp"

namespace ironroot::fleet {

void JobNotifications::merge(const JobNotifications& other) {
  next_changed.insert(other.next_changed.begin(), other.next_changed.end());
  pending_changed.insert(other.pending_changed.begin(), other.pending_changed.end());
}

namespace jobs_detail {

namespace {

std::optional<Time> optional_time(const Statement& row, int column) {
  if (row.is_null(column)) return std::nullopt;
  return from_db(row.integer(column));
}

void bind_time(Statement& stmt, int index, const std::optional<Time>& time) {
  if (time) {
    stmt.bind(index, to_db(*time));
  } else {
    stmt.bind_null(index);
  }
}

RegistryResult<protocol::StatusDetails> parse_status_details(const std::string& text) {
  protocol::StatusDetails details;
  try {
    auto json = nlohmann::json::parse(text);
    if (!json.is_object()) throw std::runtime_error("not an object");
    for (const auto& [key, value] : json.items()) details[key] = value.get<std::string>();
  } catch (const std::exception& e) {
    return internal(Error{"stored statusDetails no longer parse: " + std::string(e.what())});
  }
  return details;
}

}  // namespace

std::string execution_name(std::string_view job_id, std::string_view thing) {
  return quoted("job", job_id) + " on " + quoted("thing", thing);
}

nlohmann::json status_details_json(const protocol::StatusDetails& details) {
  nlohmann::json json = nlohmann::json::object();
  for (const auto& [key, value] : details) json[key] = value;
  return json;
}

RegistryResult<JobExecutionRecord> read_execution(Statement& row) {
  JobExecutionRecord execution;
  execution.job_id = row.text(0);
  execution.thing_name = row.text(1);
  execution.execution_number = row.integer(2);
  auto status = protocol::parse_job_execution_status(row.text(3));
  if (!status) return internal(Error{"stored execution status '" + row.text(3) + "' is unknown"});
  execution.status = *status;
  auto details = parse_status_details(row.text(4));
  if (!details) return tl::unexpected(details.error());
  execution.status_details = std::move(*details);
  execution.version_number = row.integer(5);
  execution.queued_at = from_db(row.integer(6));
  execution.started_at = optional_time(row, 7);
  execution.last_updated_at = from_db(row.integer(8));
  execution.dispatched_at = optional_time(row, 9);
  execution.step_timeout_at = optional_time(row, 10);
  execution.in_progress_timeout_at = optional_time(row, 11);
  execution.retry_attempt = row.integer(12);
  execution.force_canceled = row.integer(13) != 0;
  return execution;
}

RegistryResult<std::vector<JobExecutionRecord>> read_executions(Statement& stmt) {
  std::vector<JobExecutionRecord> executions;
  for (;;) {
    auto row = stmt.step();
    if (!row) return internal(row.error());
    if (!*row) return executions;
    auto execution = read_execution(stmt);
    if (!execution) return tl::unexpected(execution.error());
    executions.push_back(std::move(*execution));
  }
}

RegistryResult<std::optional<JobExecutionRecord>> load_execution(
    Database& db, std::string_view job_id, std::string_view thing,
    std::optional<std::int64_t> execution_number) {
  auto stmt = db.prepare("SELECT " + std::string(kExecutionColumns) +
                         " FROM job_executions WHERE job_id = ?1 AND thing_name = ?2 AND "
                         "(?3 IS NULL OR execution_number = ?3) "
                         "ORDER BY execution_number DESC LIMIT 1");
  if (!stmt) return internal(stmt.error());
  stmt->bind(1, job_id).bind(2, thing);
  if (execution_number) {
    stmt->bind(3, *execution_number);
  } else {
    stmt->bind_null(3);
  }
  auto executions = read_executions(*stmt);
  if (!executions) return tl::unexpected(executions.error());
  if (executions->empty()) return std::optional<JobExecutionRecord>();
  return std::optional<JobExecutionRecord>(std::move(executions->front()));
}

namespace {

void bind_mutable(Statement& stmt, const JobExecutionRecord& execution) {
  stmt.bind(4, std::string(protocol::to_string(execution.status)))
      .bind(5, status_details_json(execution.status_details).dump())
      .bind(6, execution.version_number)
      .bind(7, to_db(execution.queued_at));
  bind_time(stmt, 8, execution.started_at);
  stmt.bind(9, to_db(execution.last_updated_at));
  bind_time(stmt, 10, execution.dispatched_at);
  bind_time(stmt, 11, execution.step_timeout_at);
  bind_time(stmt, 12, execution.in_progress_timeout_at);
  stmt.bind(13, execution.retry_attempt).bind(14, std::int64_t{execution.force_canceled ? 1 : 0});
}

}  // namespace

RegistryResult<void> store_execution(Database& db, const JobExecutionRecord& execution) {
  auto stmt = db.prepare(
      "UPDATE job_executions SET status = ?4, status_details = ?5, version_number = ?6, "
      "queued_at = ?7, started_at = ?8, last_updated_at = ?9, dispatched_at = ?10, "
      "step_timeout_at = ?11, in_progress_timeout_at = ?12, retry_attempt = ?13, "
      "force_canceled = ?14 WHERE job_id = ?1 AND thing_name = ?2 AND execution_number = ?3");
  if (!stmt) return internal(stmt.error());
  stmt->bind(1, execution.job_id).bind(2, execution.thing_name).bind(3, execution.execution_number);
  bind_mutable(*stmt, execution);
  if (auto ok = stmt->run(); !ok) return internal(ok.error());
  if (db.changes() != 1) {
    return internal(Error{"the execution of " +
                          execution_name(execution.job_id, execution.thing_name) +
                          " disappeared while it was being updated"});
  }
  return {};
}

RegistryResult<void> insert_execution(Database& db, const JobExecutionRecord& execution) {
  auto stmt = db.prepare("INSERT INTO job_executions (" + std::string(kExecutionColumns) +
                         ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)");
  if (!stmt) return internal(stmt.error());
  stmt->bind(1, execution.job_id).bind(2, execution.thing_name).bind(3, execution.execution_number);
  bind_mutable(*stmt, execution);
  if (auto ok = stmt->run(); !ok) return internal(ok.error());
  return {};
}

// ---- Jobs

namespace {

constexpr std::string_view kJobColumns =
    "id, document, status, target_selection, description, in_progress_timeout_minutes, "
    "retry_config, rollout_config, abort_config, force_canceled, reason_code, comment, version, "
    "created_at, updated_at, completed_at";

RegistryResult<std::vector<RetryCriterion>> parse_retry_config(const std::string& text) {
  std::vector<RetryCriterion> criteria;
  try {
    for (const auto& item : nlohmann::json::parse(text)) {
      auto type = parse_retry_failure_type(item.at("failureType").get<std::string>());
      if (!type) throw std::runtime_error("unknown failureType");
      criteria.push_back({*type, item.at("numberOfRetries").get<std::int64_t>()});
    }
  } catch (const std::exception& e) {
    return internal(Error{"stored retry config no longer parses: " + std::string(e.what())});
  }
  return criteria;
}

}  // namespace

RegistryResult<std::optional<Job>> load_job(Database& db, std::string_view job_id) {
  auto stmt = db.prepare("SELECT " + std::string(kJobColumns) + " FROM jobs WHERE id = ?1");
  if (!stmt) return internal(stmt.error());
  auto row = stmt->bind(1, job_id).step();
  if (!row) return internal(row.error());
  if (!*row) return std::optional<Job>();
  Job job;
  job.job_id = stmt->text(0);
  job.document = stmt->text(1);
  auto status = parse_job_status(stmt->text(2));
  auto selection = parse_target_selection(stmt->text(3));
  if (!status || !selection) {
    return internal(Error{"stored " + quoted("job", job_id) + " has an unknown status"});
  }
  job.status = *status;
  job.target_selection = *selection;
  job.description = stmt->text(4);
  if (!stmt->is_null(5)) job.in_progress_timeout_minutes = stmt->integer(5);
  auto retry = parse_retry_config(stmt->text(6));
  if (!retry) return tl::unexpected(retry.error());
  job.retry_criteria = std::move(*retry);
  job.rollout_config = stmt->optional_text(7);
  job.abort_config = stmt->optional_text(8);
  job.force_canceled = stmt->integer(9) != 0;
  job.reason_code = stmt->optional_text(10);
  job.comment = stmt->optional_text(11);
  job.version = stmt->integer(12);
  job.created_at = from_db(stmt->integer(13));
  job.updated_at = from_db(stmt->integer(14));
  job.completed_at = optional_time(*stmt, 15);

  auto targets = db.prepare("SELECT kind, name FROM job_targets WHERE job_id = ?1 ORDER BY name");
  if (!targets) return internal(targets.error());
  targets->bind(1, job_id);
  for (;;) {
    auto target = targets->step();
    if (!target) return internal(target.error());
    if (!*target) break;
    (targets->text(0) == "group" ? job.groups : job.things).push_back(targets->text(1));
  }
  return std::optional<Job>(std::move(job));
}

RegistryResult<void> require_job(Database& db, std::string_view job_id) {
  auto job = exists(db, "SELECT 1 FROM jobs WHERE id = ?1", job_id);
  if (!job) return tl::unexpected(job.error());
  if (!*job) return not_found("no " + quoted("job", job_id));
  return {};
}

RegistryResult<JobExecutionCounts> load_counts(Database& db, std::string_view job_id) {
  // Each thing by its latest execution.
  auto stmt = db.prepare(
      "SELECT status, COUNT(*), SUM(dispatched_at IS NOT NULL) FROM job_executions AS e "
      "WHERE job_id = ?1 AND execution_number = (SELECT MAX(execution_number) FROM "
      "job_executions WHERE job_id = e.job_id AND thing_name = e.thing_name) GROUP BY status");
  if (!stmt) return internal(stmt.error());
  stmt->bind(1, job_id);
  JobExecutionCounts counts;
  for (;;) {
    auto row = stmt->step();
    if (!row) return internal(row.error());
    if (!*row) return counts;
    auto status = protocol::parse_job_execution_status(stmt->text(0));
    if (!status) return internal(Error{"stored execution status '" + stmt->text(0) + "'"});
    const std::int64_t count = stmt->integer(1);
    const std::int64_t dispatched = stmt->integer(2);
    counts.things += count;
    counts.dispatched += dispatched;
    switch (*status) {
      case JobExecutionStatus::queued:
        counts.queued += count;
        counts.undispatched += count - dispatched;
        break;
      case JobExecutionStatus::in_progress:
        counts.in_progress += count;
        break;
      case JobExecutionStatus::succeeded:
        counts.succeeded += count;
        break;
      case JobExecutionStatus::failed:
        counts.failed += count;
        break;
      case JobExecutionStatus::timed_out:
        counts.timed_out += count;
        break;
      case JobExecutionStatus::rejected:
        counts.rejected += count;
        break;
      case JobExecutionStatus::removed:
        counts.removed += count;
        break;
      case JobExecutionStatus::canceled:
        counts.canceled += count;
        break;
    }
  }
}

RegistryResult<void> store_job_status(Database& db, const Job& job) {
  auto stmt = db.prepare(
      "UPDATE jobs SET status = ?2, force_canceled = ?3, reason_code = ?4, comment = ?5, "
      "version = ?6, updated_at = ?7, completed_at = ?8 WHERE id = ?1");
  if (!stmt) return internal(stmt.error());
  stmt->bind(1, job.job_id)
      .bind(2, std::string(job_status_name(job.status)))
      .bind(3, std::int64_t{job.force_canceled ? 1 : 0})
      .bind(4, job.reason_code)
      .bind(5, job.comment)
      .bind(6, job.version)
      .bind(7, to_db(job.updated_at));
  bind_time(*stmt, 8, job.completed_at);
  if (auto ok = stmt->run(); !ok) return internal(ok.error());
  return {};
}

// ---- Pending lists

RegistryResult<std::vector<PendingKey>> pending_keys(Database& db, std::string_view thing) {
  auto stmt = db.prepare("SELECT job_id, execution_number, status" + std::string(kPendingOfThing));
  if (!stmt) return internal(stmt.error());
  stmt->bind(1, thing);
  std::vector<PendingKey> keys;
  for (;;) {
    auto row = stmt->step();
    if (!row) return internal(row.error());
    if (!*row) return keys;
    auto status = protocol::parse_job_execution_status(stmt->text(2));
    if (!status) return internal(Error{"stored execution status '" + stmt->text(2) + "'"});
    keys.push_back({stmt->text(0), stmt->integer(1), *status});
  }
}

RegistryResult<void> PendingWatch::watch(std::string_view thing) {
  if (before_.find(thing) != before_.end()) return {};
  auto keys = pending_keys(db_, thing);
  if (!keys) return tl::unexpected(keys.error());
  before_.emplace(std::string(thing), std::move(*keys));
  return {};
}

RegistryResult<JobNotifications> PendingWatch::changes() {
  JobNotifications notifications;
  for (const auto& [thing, before] : before_) {
    auto after = pending_keys(db_, thing);
    if (!after) return tl::unexpected(after.error());
    if (*after == before) continue;
    notifications.pending_changed.insert(thing);
    const bool had = !before.empty();
    const bool has = !after->empty();
    if (had != has ||
        (had && (before.front().job_id != after->front().job_id ||
                 before.front().execution_number != after->front().execution_number))) {
      notifications.next_changed.insert(thing);
    }
  }
  return notifications;
}

// ---- After a terminal state

void finish(JobExecutionRecord& execution, JobExecutionStatus status, Time now) {
  execution.status = status;
  execution.step_timeout_at.reset();
  execution.in_progress_timeout_at.reset();
  execution.version_number += 1;
  execution.last_updated_at = now;
}

namespace {

bool covers(RetryFailureType type, JobExecutionStatus status) {
  switch (type) {
    case RetryFailureType::all:
      return status == JobExecutionStatus::failed || status == JobExecutionStatus::timed_out;
    case RetryFailureType::failed:
      return status == JobExecutionStatus::failed;
    case RetryFailureType::timed_out:
      return status == JobExecutionStatus::timed_out;
  }
  return false;
}

// The criterion that retries an execution that ended as `status`, if any.
std::optional<RetryCriterion> retry_criterion(const Job& job, JobExecutionStatus status) {
  for (const RetryCriterion& criterion : job.retry_criteria) {
    if (covers(criterion.failure_type, status)) return criterion;
  }
  return std::nullopt;
}

// How many retries of this failure type the thing has had: its earlier executions of the job
// that ended with a status the criterion covers (each was followed by its retry).
RegistryResult<std::int64_t> retries_used(Database& db, const JobExecutionRecord& execution,
                                          const RetryCriterion& criterion) {
  std::string statuses = criterion.failure_type == RetryFailureType::all ? "'FAILED', 'TIMED_OUT'"
                         : criterion.failure_type == RetryFailureType::failed ? "'FAILED'"
                                                                              : "'TIMED_OUT'";
  auto stmt = db.prepare(
      "SELECT COUNT(*) FROM job_executions WHERE job_id = ?1 AND thing_name = ?2 AND "
      "execution_number < ?3 AND status IN (" +
      statuses + ")");
  if (!stmt) return internal(stmt.error());
  auto row = stmt->bind(1, execution.job_id)
                 .bind(2, execution.thing_name)
                 .bind(3, execution.execution_number)
                 .step();
  if (!row) return internal(row.error());
  return stmt->integer(0);
}

}  // namespace

RegistryResult<std::optional<JobExecutionRecord>> settle_terminal(
    Database& db, Job& job, const JobExecutionRecord& execution, Time now) {
  if (job.status != JobStatus::in_progress) return std::optional<JobExecutionRecord>();
  if (auto criterion = retry_criterion(job, execution.status)) {
    auto used = retries_used(db, execution, *criterion);
    if (!used) return tl::unexpected(used.error());
    if (*used < criterion->number_of_retries) {
      JobExecutionRecord retry;
      retry.job_id = execution.job_id;
      retry.thing_name = execution.thing_name;
      retry.execution_number = execution.execution_number + 1;
      retry.status = JobExecutionStatus::queued;
      retry.version_number = 1;
      retry.queued_at = now;
      retry.last_updated_at = now;
      retry.dispatched_at = now;  // the thing was dispatched already: its retry is visible at once
      retry.retry_attempt = execution.retry_attempt + 1;
      if (auto ok = insert_execution(db, retry); !ok) return tl::unexpected(ok.error());
      return std::optional<JobExecutionRecord>(std::move(retry));
    }
  }
  if (job.target_selection == TargetSelection::continuous) {
    return std::optional<JobExecutionRecord>();
  }
  auto pending = exists(db,
                        "SELECT 1 FROM job_executions WHERE job_id = ?1 AND "
                        "status IN ('QUEUED', 'IN_PROGRESS') LIMIT 1",
                        job.job_id);
  if (!pending) return tl::unexpected(pending.error());
  if (!*pending) {
    job.status = JobStatus::completed;
    job.completed_at = now;
    job.updated_at = now;
    job.version += 1;
    if (auto ok = store_job_status(db, job); !ok) return tl::unexpected(ok.error());
  }
  return std::optional<JobExecutionRecord>();
}

}  // namespace jobs_detail
}  // namespace ironroot::fleet
