// The jobs store's rollout side: which QUEUED executions devices may see, and the counts a
// rollout's abort criteria read.
#include <set>

#include "jobs_internal.hpp"

namespace ironroot::fleet {

using namespace jobs_detail;

RegistryResult<std::vector<std::string>> JobStore::undispatched(std::string_view job_id,
                                                                std::size_t limit) {
  if (auto ok = page_limit(Page{limit, ""}); !ok) return tl::unexpected(ok.error());
  auto txn = db_.begin_read();
  if (!txn) return internal(txn.error());
  if (auto job = require_job(db_, job_id); !job) return tl::unexpected(job.error());
  auto stmt = db_.prepare(
      "SELECT thing_name FROM job_executions WHERE job_id = ?1 AND status = 'QUEUED' AND "
      "dispatched_at IS NULL ORDER BY thing_name LIMIT ?2");
  if (!stmt) return internal(stmt.error());
  stmt->bind(1, job_id).bind(2, static_cast<std::int64_t>(limit));
  std::vector<std::string> things;
  for (;;) {
    auto row = stmt->step();
    if (!row) return internal(row.error());
    if (!*row) return things;
    things.push_back(stmt->text(0));
  }
}

RegistryResult<Notified<std::size_t>> JobStore::dispatch(std::string_view actor,
                                                         std::string_view job_id,
                                                         std::span<const std::string> things) {
  if (auto ok = check_actor(actor); !ok) return invalid(ok.error());
  if (things.size() > kMaxPageLimit) {
    return invalid("dispatch at most " + std::to_string(kMaxPageLimit) + " things at a time, not " +
                   std::to_string(things.size()));
  }
  const std::set<std::string> distinct(things.begin(), things.end());
  using Result = Notified<std::size_t>;
  return in_write<Result>(db_, [&]() -> RegistryResult<Result> {
    auto job = load_job(db_, job_id);
    if (!job) return tl::unexpected(job.error());
    if (!*job) return not_found("no " + quoted("job", job_id));
    if ((*job)->status != JobStatus::in_progress) {
      return conflict(quoted("job", job_id) + " is " +
                      std::string(job_status_name((*job)->status)) + ": nothing to dispatch");
    }
    PendingWatch watch(db_);
    const Time now = clock_();
    auto stmt = db_.prepare(
        "UPDATE job_executions SET dispatched_at = ?3 WHERE job_id = ?1 AND thing_name = ?2 AND "
        "status = 'QUEUED' AND dispatched_at IS NULL");
    if (!stmt) return internal(stmt.error());
    nlohmann::json dispatched = nlohmann::json::array();
    for (const std::string& thing : distinct) {
      if (auto ok = watch.watch(thing); !ok) return tl::unexpected(ok.error());
      stmt->reset();
      if (auto ok = stmt->bind(1, job_id).bind(2, thing).bind(3, to_db(now)).run(); !ok) {
        return internal(ok.error());
      }
      if (db_.changes() == 1) dispatched.push_back(thing);
    }
    const std::size_t count = dispatched.size();
    if (count > 0) {
      Change change{"job.dispatch", "job", std::string(job_id), {{"things", dispatched}}};
      if (auto ok = record(db_, now, actor, change); !ok) return tl::unexpected(ok.error());
    }
    auto notifications = watch.changes();
    if (!notifications) return tl::unexpected(notifications.error());
    return Result{count, std::move(*notifications)};
  });
}

RegistryResult<JobExecutionCounts> JobStore::counts(std::string_view job_id) {
  auto txn = db_.begin_read();
  if (!txn) return internal(txn.error());
  if (auto job = require_job(db_, job_id); !job) return tl::unexpected(job.error());
  return load_counts(db_, job_id);
}

RegistryResult<std::vector<DispatchedThing>> JobStore::dispatched_things(std::string_view job_id) {
  auto txn = db_.begin_read();
  if (!txn) return internal(txn.error());
  if (auto job = require_job(db_, job_id); !job) return tl::unexpected(job.error());
  // Per thing: the first dispatch over all its executions, and its latest execution's status.
  auto stmt = db_.prepare(
      "SELECT e.thing_name, t.first_dispatch, e.status FROM "
      "(SELECT thing_name, MIN(dispatched_at) AS first_dispatch, "
      "MAX(execution_number) AS latest FROM job_executions WHERE job_id = ?1 "
      "GROUP BY thing_name) AS t "
      "JOIN job_executions AS e ON e.job_id = ?1 AND e.thing_name = t.thing_name AND "
      "e.execution_number = t.latest "
      "WHERE t.first_dispatch IS NOT NULL ORDER BY t.first_dispatch, e.thing_name");
  if (!stmt) return internal(stmt.error());
  stmt->bind(1, job_id);
  std::vector<DispatchedThing> things;
  for (;;) {
    auto row = stmt->step();
    if (!row) return internal(row.error());
    if (!*row) return things;
    auto status = protocol::parse_job_execution_status(stmt->text(2));
    if (!status) {
      return internal(Error{"stored execution status '" + stmt->text(2) + "' is unknown"});
    }
    things.push_back({stmt->text(0), from_db(stmt->integer(1)), *status});
  }
}

}  // namespace ironroot::fleet
