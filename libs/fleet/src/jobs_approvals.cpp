// The jobs store's rollout approvals: an operator opening the pause gate of a job's rollout group
// (rollout.hpp, RolloutGroup::pause_before), kept durably in job_rollout_approvals.
#include <nlohmann/json.hpp>

#include "ironroot/fleet/rollout.hpp"
#include "jobs_internal.hpp"

namespace ironroot::fleet {

using namespace jobs_detail;

namespace {

RegistryResult<std::optional<RolloutApproval>> load_approval(Database& db, std::string_view job_id,
                                                             std::string_view group) {
  auto stmt = db.prepare(
      "SELECT approved_by, approved_at FROM job_rollout_approvals WHERE job_id = ?1 AND "
      "group_name = ?2");
  if (!stmt) return internal(stmt.error());
  stmt->bind(1, job_id).bind(2, group);
  auto row = stmt->step();
  if (!row) return internal(row.error());
  if (!*row) return std::optional<RolloutApproval>{};
  return RolloutApproval{std::string(job_id), std::string(group), stmt->text(0),
                         from_db(stmt->integer(1))};
}

// Whether the job's rollout has a group named `group` with a pause gate; the refusal otherwise.
RegistryResult<void> check_gate(const Job& job, std::string_view group) {
  const std::string job_name = quoted("job", job.job_id);
  if (!job.rollout_config) {
    return invalid(job_name + " has no rolloutGroups: there is no pause gate to approve");
  }
  const nlohmann::json config = nlohmann::json::parse(*job.rollout_config, nullptr, false);
  auto policy = RolloutPolicy::from_json(config);
  if (!policy) {
    return internal(Error{job_name + "'s stored rollout configuration: " + policy.error().message});
  }
  for (const RolloutGroup& g : policy->groups) {
    if (g.name != group) continue;
    if (!g.pause_before) {
      return invalid("rollout group '" + std::string(group) + "' of " + job_name +
                     " has no pause gate (pauseBefore is false): it starts without approval");
    }
    return {};
  }
  std::string names;
  for (const RolloutGroup& g : policy->groups) names += (names.empty() ? "" : ", ") + g.name;
  return invalid(
      job_name + " has no rollout group '" + std::string(group) + "'" +
      (names.empty() ? std::string(" (it has no rolloutGroups)") : " (its groups: " + names + ")"));
}

}  // namespace

RegistryResult<RolloutApproval> JobStore::approve_rollout_group(std::string_view actor,
                                                                std::string_view job_id,
                                                                std::string_view group) {
  if (auto ok = check_actor(actor); !ok) return invalid(ok.error());
  if (group.empty() || group.size() > kMaxRolloutGroupNameLength) {
    return invalid("a rollout group name is 1 to " + std::to_string(kMaxRolloutGroupNameLength) +
                   " characters");
  }
  return in_write<RolloutApproval>(db_, [&]() -> RegistryResult<RolloutApproval> {
    auto job = load_job(db_, job_id);
    if (!job) return tl::unexpected(job.error());
    if (!*job) return not_found("no " + quoted("job", job_id));
    if ((*job)->status != JobStatus::in_progress) {
      return conflict(quoted("job", job_id) + " is " +
                      std::string(job_status_name((*job)->status)) +
                      ": its rollout no longer runs, so there is nothing to approve");
    }
    if (auto ok = check_gate(**job, group); !ok) return tl::unexpected(ok.error());
    auto existing = load_approval(db_, job_id, group);
    if (!existing) return tl::unexpected(existing.error());
    if (*existing) return std::move(**existing);
    const RolloutApproval approval{std::string(job_id), std::string(group), std::string(actor),
                                   clock_()};
    auto stmt = db_.prepare(
        "INSERT INTO job_rollout_approvals (job_id, group_name, approved_by, approved_at) "
        "VALUES (?1, ?2, ?3, ?4)");
    if (!stmt) return internal(stmt.error());
    stmt->bind(1, job_id).bind(2, group).bind(3, actor).bind(4, to_db(approval.approved_at));
    if (auto ok = stmt->run(); !ok) return internal(ok.error());
    Change change{"job.approve-rollout-group", "job", std::string(job_id), {{"group", group}}};
    if (auto ok = record(db_, approval.approved_at, actor, change); !ok) {
      return tl::unexpected(ok.error());
    }
    return approval;
  });
}

RegistryResult<std::vector<RolloutApproval>> JobStore::rollout_approvals(std::string_view job_id) {
  auto txn = db_.begin_read();
  if (!txn) return internal(txn.error());
  if (auto job = require_job(db_, job_id); !job) return tl::unexpected(job.error());
  auto stmt = db_.prepare(
      "SELECT group_name, approved_by, approved_at FROM job_rollout_approvals WHERE job_id = ?1 "
      "ORDER BY group_name");
  if (!stmt) return internal(stmt.error());
  stmt->bind(1, job_id);
  std::vector<RolloutApproval> approvals;
  for (;;) {
    auto row = stmt->step();
    if (!row) return internal(row.error());
    if (!*row) break;
    approvals.push_back(RolloutApproval{std::string(job_id), stmt->text(0), stmt->text(1),
                                        from_db(stmt->integer(2))});
  }
  return approvals;
}

}  // namespace ironroot::fleet
