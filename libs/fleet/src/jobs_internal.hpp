// What the jobs store's source files share: rows, the audit row, the pending-list watch that
// tells whom to notify, and the rules that run after an execution changes (retry, completion).
// Everything here runs inside the caller's transaction.
#pragma once

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "ironroot/fleet/jobs.hpp"
#include "registry_internal.hpp"

namespace ironroot::fleet::jobs_detail {

using protocol::JobExecutionStatus;

// Columns of job_executions, in the order read_execution reads them.
inline constexpr std::string_view kExecutionColumns =
    "job_id, thing_name, execution_number, status, status_details, version_number, queued_at, "
    "started_at, last_updated_at, dispatched_at, step_timeout_at, in_progress_timeout_at, "
    "retry_attempt, force_canceled";

// The FROM/WHERE/ORDER BY of a thing's (?1) visible pending executions, in the order a device
// takes them: IN_PROGRESS first, then dispatched QUEUED ones, each oldest first (AWS: "returned
// in the order in which they were created").
inline constexpr std::string_view kPendingOfThing =
    " FROM job_executions WHERE thing_name = ?1 AND (status = 'IN_PROGRESS' OR "
    "(status = 'QUEUED' AND dispatched_at IS NOT NULL)) ORDER BY status = 'QUEUED', queued_at, "
    "job_id";

RegistryResult<JobExecutionRecord> read_execution(Statement& row);

// Runs `stmt` (selecting kExecutionColumns) to its end.
RegistryResult<std::vector<JobExecutionRecord>> read_executions(Statement& stmt);

// The execution of (job, thing): number `execution_number`, or the latest when absent.
RegistryResult<std::optional<JobExecutionRecord>> load_execution(
    Database& db, std::string_view job_id, std::string_view thing,
    std::optional<std::int64_t> execution_number);

// Writes every mutable column of `execution` (found by its key).
RegistryResult<void> store_execution(Database& db, const JobExecutionRecord& execution);
RegistryResult<void> insert_execution(Database& db, const JobExecutionRecord& execution);

nlohmann::json status_details_json(const protocol::StatusDetails& details);

// The job without its counts; nullopt when there is none.
RegistryResult<std::optional<Job>> load_job(Database& db, std::string_view job_id);
RegistryResult<JobExecutionCounts> load_counts(Database& db, std::string_view job_id);
// Refused (not_found, "no job 'x'") unless the job exists.
RegistryResult<void> require_job(Database& db, std::string_view job_id);
RegistryResult<void> store_job_status(Database& db, const Job& job);

// A thing's visible pending executions (IN_PROGRESS first, then dispatched QUEUED ones, each
// oldest first), as (job id, execution number, status).
struct PendingKey {
  std::string job_id;
  std::int64_t execution_number = 0;
  JobExecutionStatus status = JobExecutionStatus::queued;
  friend bool operator==(const PendingKey&, const PendingKey&) = default;
};
RegistryResult<std::vector<PendingKey>> pending_keys(Database& db, std::string_view thing);

// Remembers the pending lists of the things a change may touch, before the change; changes()
// compares them with the lists after it.
class PendingWatch {
 public:
  explicit PendingWatch(Database& db) : db_(db) {}
  RegistryResult<void> watch(std::string_view thing);
  RegistryResult<JobNotifications> changes();

 private:
  Database& db_;
  std::map<std::string, std::vector<PendingKey>, std::less<>> before_;
};

// After `execution` became terminal (and was stored): queues its retry when the job's retry
// criteria allow one (returned, dispatched at `now`), otherwise completes a SNAPSHOT job whose
// executions are all terminal. `job` is updated when it changes.
RegistryResult<std::optional<JobExecutionRecord>> settle_terminal(
    Database& db, Job& job, const JobExecutionRecord& execution, Time now);

// Sets `execution` to a terminal `status` at `now`: timers stop, the version goes up.
void finish(JobExecutionRecord& execution, JobExecutionStatus status, Time now);

// Runs `body` (returning RegistryResult<T>, writing its own audit rows) in a write transaction and
// commits; on any failure, rolls everything back.
template <class T, class Body>
RegistryResult<T> in_write(Database& db, Body&& body) {
  auto txn = db.begin_write();
  if (!txn) return internal(txn.error());
  RegistryResult<T> result = body();
  if (!result) return result;
  if (auto ok = txn->commit(); !ok) return internal(ok.error());
  return result;
}

// The things a group has now (a dynamic group: those its query matches); nullopt when there is
// no such group.
RegistryResult<std::optional<std::set<std::string>>> group_things(Database& db,
                                                                  std::string_view group);

// Status details as AWS bounds them (protocol/jobs.hpp), checked by the protocol's own decoder.
Status check_status_details(const protocol::StatusDetails& details);

// A new job's document, when it holds "afr_ota": it must decode (protocol::OtaJobDocument), and
// when its streamname is a firmware stream (firmware_stream_id), name an image of the
// repository, as file id 0, of the size files[0].filesize says. Refused (invalid) otherwise.
RegistryResult<void> check_ota_job(Database& db, std::string_view document);

// "job 'ota-1' on thing 'lamp-1'".
std::string execution_name(std::string_view job_id, std::string_view thing);

}  // namespace ironroot::fleet::jobs_detail
