// The jobs store's service-side changes over time: timeouts (expire) and continuous jobs'
// targets (reconcile_targets).
#include <map>
#include <set>

#include "jobs_internal.hpp"

namespace ironroot::fleet {

using namespace jobs_detail;

namespace {

// Jobs loaded once per call, by id.
class JobCache {
 public:
  explicit JobCache(Database& db) : db_(db) {}
  RegistryResult<Job*> get(const std::string& job_id) {
    auto found = jobs_.find(job_id);
    if (found != jobs_.end()) return &found->second;
    auto job = load_job(db_, job_id);
    if (!job) return tl::unexpected(job.error());
    if (!*job) return internal(Error{quoted("job", job_id) + " vanished while in use"});
    return &jobs_.emplace(job_id, std::move(**job)).first->second;
  }

 private:
  Database& db_;
  std::map<std::string, Job> jobs_;
};

}  // namespace

RegistryResult<Notified<Expiry>> JobStore::expire(std::string_view actor) {
  if (auto ok = check_actor(actor); !ok) return invalid(ok.error());
  using Result = Notified<Expiry>;
  return in_write<Result>(db_, [&]() -> RegistryResult<Result> {
    const Time now = clock_();
    auto stmt = db_.prepare("SELECT " + std::string(kExecutionColumns) +
                            " FROM job_executions WHERE status = 'IN_PROGRESS' AND "
                            "(step_timeout_at <= ?1 OR in_progress_timeout_at <= ?1) "
                            "ORDER BY job_id, thing_name");
    if (!stmt) return internal(stmt.error());
    stmt->bind(1, to_db(now));
    auto expired = read_executions(*stmt);
    if (!expired) return tl::unexpected(expired.error());
    PendingWatch watch(db_);
    JobCache jobs(db_);
    Expiry expiry;
    for (JobExecutionRecord& execution : *expired) {
      if (auto ok = watch.watch(execution.thing_name); !ok) return tl::unexpected(ok.error());
      auto job = jobs.get(execution.job_id);
      if (!job) return tl::unexpected(job.error());
      const bool step = execution.step_timeout_at && *execution.step_timeout_at <= now;
      finish(execution, JobExecutionStatus::timed_out, now);
      if (auto ok = store_execution(db_, execution); !ok) return tl::unexpected(ok.error());
      auto retry = settle_terminal(db_, **job, execution, now);
      if (!retry) return tl::unexpected(retry.error());
      Change change{"job.time-out",
                    "job",
                    execution.job_id,
                    {{"thing", execution.thing_name},
                     {"executionNumber", execution.execution_number},
                     {"timer", step ? "step" : "in-progress"},
                     {"retried", retry->has_value()}}};
      if (auto ok = record(db_, now, actor, change); !ok) return tl::unexpected(ok.error());
      expiry.timed_out.push_back(std::move(execution));
      if (*retry) expiry.retries.push_back(std::move(**retry));
    }
    auto notifications = watch.changes();
    if (!notifications) return tl::unexpected(notifications.error());
    return Result{std::move(expiry), std::move(*notifications)};
  });
}

RegistryResult<Notified<TargetReconciliation>> JobStore::reconcile_targets(std::string_view actor) {
  if (auto ok = check_actor(actor); !ok) return invalid(ok.error());
  using Result = Notified<TargetReconciliation>;
  return in_write<Result>(db_, [&]() -> RegistryResult<Result> {
    const Time now = clock_();
    auto ids = db_.prepare("SELECT id FROM jobs WHERE status = 'IN_PROGRESS' ORDER BY id");
    if (!ids) return internal(ids.error());
    std::vector<std::string> job_ids;
    for (;;) {
      auto row = ids->step();
      if (!row) return internal(row.error());
      if (!*row) break;
      job_ids.push_back(ids->text(0));
    }
    std::map<std::string, std::set<std::string>> groups;  // members, resolved once per call
    PendingWatch watch(db_);
    TargetReconciliation reconciliation;
    for (const std::string& job_id : job_ids) {
      auto loaded = load_job(db_, job_id);
      if (!loaded) return tl::unexpected(loaded.error());
      if (!*loaded) return internal(Error{quoted("job", job_id) + " vanished while in use"});
      Job& job = **loaded;
      const bool continuous = job.target_selection == TargetSelection::continuous;
      std::set<std::string> members;
      if (continuous) {
        for (const std::string& group : job.groups) {
          auto cached = groups.find(group);
          if (cached == groups.end()) {
            auto things = group_things(db_, group);
            if (!things) return tl::unexpected(things.error());
            // A deleted target group has no members any more.
            cached = groups.emplace(group, things->value_or(std::set<std::string>{})).first;
          }
          members.insert(cached->second.begin(), cached->second.end());
        }
      }
      // QUEUED executions whose thing is gone, or (continuous) left every target group.
      auto queued_stmt =
          db_.prepare("SELECT " + std::string(kExecutionColumns) +
                      ", (SELECT COUNT(*) FROM things WHERE name = thing_name) FROM job_executions "
                      "WHERE job_id = ?1 AND status = 'QUEUED' ORDER BY thing_name");
      if (!queued_stmt) return internal(queued_stmt.error());
      queued_stmt->bind(1, job_id);
      std::vector<JobExecutionRecord> leaving;
      for (;;) {
        auto row = queued_stmt->step();
        if (!row) return internal(row.error());
        if (!*row) break;
        auto execution = read_execution(*queued_stmt);
        if (!execution) return tl::unexpected(execution.error());
        const bool thing_exists = queued_stmt->integer(14) != 0;
        if (!thing_exists || (continuous && members.count(execution->thing_name) == 0)) {
          leaving.push_back(std::move(*execution));
        }
      }
      nlohmann::json removed_names = nlohmann::json::array();
      for (JobExecutionRecord& execution : leaving) {
        if (auto ok = watch.watch(execution.thing_name); !ok) return tl::unexpected(ok.error());
        finish(execution, JobExecutionStatus::removed, now);
        if (auto ok = store_execution(db_, execution); !ok) return tl::unexpected(ok.error());
        removed_names.push_back(execution.thing_name);
        reconciliation.removed.push_back(std::move(execution));
      }
      // Things in a target group with no execution yet, or whose latest one was REMOVED.
      nlohmann::json added_names = nlohmann::json::array();
      for (const std::string& thing : members) {
        auto latest = load_execution(db_, job_id, thing, std::nullopt);
        if (!latest) return tl::unexpected(latest.error());
        if (*latest && (*latest)->status != JobExecutionStatus::removed) continue;
        JobExecutionRecord execution;
        execution.job_id = job_id;
        execution.thing_name = thing;
        execution.execution_number = *latest ? (*latest)->execution_number + 1 : 1;
        execution.queued_at = now;
        execution.last_updated_at = now;
        if (auto ok = insert_execution(db_, execution); !ok) return tl::unexpected(ok.error());
        added_names.push_back(thing);
        reconciliation.added.push_back(std::move(execution));
      }
      if (!leaving.empty()) {
        // A snapshot job whose last pending executions were removed is complete.
        if (auto ok = settle_terminal(db_, job, reconciliation.removed.back(), now); !ok) {
          return tl::unexpected(ok.error());
        }
      }
      if (!added_names.empty() || !removed_names.empty()) {
        Change change{"job.reconcile-targets",
                      "job",
                      job_id,
                      {{"added", added_names}, {"removed", removed_names}}};
        if (auto ok = record(db_, now, actor, change); !ok) return tl::unexpected(ok.error());
      }
    }
    auto notifications = watch.changes();
    if (!notifications) return tl::unexpected(notifications.error());
    return Result{std::move(reconciliation), std::move(*notifications)};
  });
}

}  // namespace ironroot::fleet
