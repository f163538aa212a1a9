// The jobs store's operator side: CreateJob, DescribeJob, ListJobs, the execution listings,
// CancelJob, CancelJobExecution and DeleteJob.
#include <algorithm>
#include <charconv>
#include <set>

#include "ironroot/crypto/certificate_authority.hpp"
#include "ironroot/fleet/thing_query.hpp"
#include "jobs_internal.hpp"

namespace ironroot::fleet {

using namespace jobs_detail;

std::string_view job_status_name(JobStatus status) {
  switch (status) {
    case JobStatus::in_progress:
      return "IN_PROGRESS";
    case JobStatus::canceled:
      return "CANCELED";
    case JobStatus::completed:
      return "COMPLETED";
  }
  return "IN_PROGRESS";
}

std::optional<JobStatus> parse_job_status(std::string_view name) {
  for (JobStatus status : {JobStatus::in_progress, JobStatus::canceled, JobStatus::completed}) {
    if (job_status_name(status) == name) return status;
  }
  return std::nullopt;
}

std::string_view target_selection_name(TargetSelection selection) {
  return selection == TargetSelection::continuous ? "CONTINUOUS" : "SNAPSHOT";
}

std::optional<TargetSelection> parse_target_selection(std::string_view name) {
  if (name == "SNAPSHOT") return TargetSelection::snapshot;
  if (name == "CONTINUOUS") return TargetSelection::continuous;
  return std::nullopt;
}

std::string_view retry_failure_type_name(RetryFailureType type) {
  switch (type) {
    case RetryFailureType::failed:
      return "FAILED";
    case RetryFailureType::timed_out:
      return "TIMED_OUT";
    case RetryFailureType::all:
      return "ALL";
  }
  return "ALL";
}

std::optional<RetryFailureType> parse_retry_failure_type(std::string_view name) {
  for (RetryFailureType type :
       {RetryFailureType::failed, RetryFailureType::timed_out, RetryFailureType::all}) {
    if (retry_failure_type_name(type) == name) return type;
  }
  return std::nullopt;
}

namespace jobs_detail {

Status check_status_details(const protocol::StatusDetails& details) {
  nlohmann::json request = {{"statusDetails", status_details_json(details)}};
  auto checked = protocol::StartNextPendingJobExecutionRequest::decode(request);
  if (!checked) return fail(checked.error().message);
  return {};
}

// The things a group has now (a dynamic group: those its query matches); nullopt when there is
// no such group.
RegistryResult<std::optional<std::set<std::string>>> group_things(Database& db,
                                                                  std::string_view group) {
  auto stmt = db.prepare("SELECT query FROM thing_groups WHERE name = ?1");
  if (!stmt) return internal(stmt.error());
  auto row = stmt->bind(1, group).step();
  if (!row) return internal(row.error());
  if (!*row) return std::optional<std::set<std::string>>();
  std::optional<std::string> query_text = stmt->optional_text(0);
  std::set<std::string> things;
  if (!query_text) {
    auto names = strings(db, "SELECT thing_name FROM group_members WHERE group_name = ?1", group);
    if (!names) return tl::unexpected(names.error());
    things.insert(names->begin(), names->end());
    return std::optional<std::set<std::string>>(std::move(things));
  }
  auto query = ThingQuery::parse(*query_text);
  if (!query) {
    return internal(Error{"stored query of " + quoted("thing group", group) +
                          " no longer parses: " + query.error().message});
  }
  auto all = db.prepare("SELECT name FROM things ORDER BY name");
  if (!all) return internal(all.error());
  std::vector<std::string> names;
  for (;;) {
    auto next = all->step();
    if (!next) return internal(next.error());
    if (!*next) break;
    names.push_back(all->text(0));
  }
  for (const std::string& name : names) {
    auto thing = load_thing(db, name);
    if (!thing) return tl::unexpected(thing.error());
    if (*thing && query->matches(**thing)) things.insert(name);
  }
  return std::optional<std::set<std::string>>(std::move(things));
}

}  // namespace jobs_detail

RegistryResult<JobStore> JobStore::open(const std::filesystem::path& path, Clock clock,
                                        const DatabaseOptions& options) {
  auto db = Database::open(path, registry_migrations(), options);
  if (!db) return internal(db.error());
  if (!clock) clock = system_time_now;
  return JobStore(std::move(*db), std::move(clock));
}

namespace {

RegistryResult<void> check_new_job(const NewJob& job) {
  if (!protocol::is_valid_job_id(job.job_id)) {
    return invalid("job id '" + job.job_id.substr(0, 80) + "' must be 1 to " +
                   std::to_string(protocol::kMaxJobIdSize) + " of [a-zA-Z0-9_-]");
  }
  if (auto ok = check_json_object("job document", job.document, kMaxJobDocumentSize); !ok) {
    return invalid(ok.error());
  }
  const std::size_t targets = job.things.size() + job.groups.size();
  if (targets == 0) return invalid("a job needs at least one target (a thing or a thing group)");
  if (targets > kMaxJobTargets) {
    return invalid("a job has at most " + std::to_string(kMaxJobTargets) + " targets, not " +
                   std::to_string(targets));
  }
  for (const std::string& thing : job.things) {
    if (auto ok = crypto::check_thing_name(thing); !ok) return invalid(ok.error());
  }
  for (const std::string& group : job.groups) {
    if (auto ok = check_group_name(group); !ok) return invalid(ok.error());
  }
  if (job.target_selection == TargetSelection::continuous && !job.things.empty()) {
    return invalid(
        "a CONTINUOUS job targets thing groups only: things that join them later get "
        "it too; target the things' group, or make the job SNAPSHOT");
  }
  if (auto ok = check_text("job description", job.description, kMaxJobDescriptionLength); !ok) {
    return invalid(ok.error());
  }
  if (job.in_progress_timeout_minutes &&
      (*job.in_progress_timeout_minutes < kMinTimeoutInMinutes ||
       *job.in_progress_timeout_minutes > kMaxTimeoutInMinutes)) {
    return invalid("inProgressTimeoutInMinutes must be " + std::to_string(kMinTimeoutInMinutes) +
                   " to " + std::to_string(kMaxTimeoutInMinutes) + " (7 days), not " +
                   std::to_string(*job.in_progress_timeout_minutes));
  }
  if (job.retry_criteria.size() > kMaxRetryCriteria) {
    return invalid("a retry config has at most " + std::to_string(kMaxRetryCriteria) + " criteria");
  }
  std::set<RetryFailureType> types;
  for (const RetryCriterion& criterion : job.retry_criteria) {
    const std::string type(retry_failure_type_name(criterion.failure_type));
    if (criterion.number_of_retries < 0 || criterion.number_of_retries > kMaxNumberOfRetries) {
      return invalid("numberOfRetries for " + type + " must be 0 to " +
                     std::to_string(kMaxNumberOfRetries) + ", not " +
                     std::to_string(criterion.number_of_retries));
    }
    if (!types.insert(criterion.failure_type).second) {
      return invalid("the retry config names " + type + " twice");
    }
  }
  if (types.count(RetryFailureType::all) != 0 && types.size() > 1) {
    return invalid(
        "a retry criterion for ALL failures cannot be combined with one for FAILED or "
        "TIMED_OUT");
  }
  if (job.rollout_config) {
    if (auto ok = check_json_object("jobExecutionsRolloutConfig", *job.rollout_config,
                                    kMaxJobConfigLength);
        !ok) {
      return invalid(ok.error());
    }
  }
  if (job.abort_config) {
    if (auto ok = check_json_object("abortConfig", *job.abort_config, kMaxJobConfigLength); !ok) {
      return invalid(ok.error());
    }
  }
  return {};
}

nlohmann::json retry_config_json(const std::vector<RetryCriterion>& criteria) {
  nlohmann::json json = nlohmann::json::array();
  for (const RetryCriterion& criterion : criteria) {
    json.push_back({{"failureType", retry_failure_type_name(criterion.failure_type)},
                    {"numberOfRetries", criterion.number_of_retries}});
  }
  return json;
}

// "thing/3" and back: a position in a listing of executions, after `key`'s execution `number`.
std::string execution_token(std::string_view key, std::int64_t number) {
  return std::string(key) + "/" + std::to_string(number);
}

RegistryResult<std::pair<std::string, std::int64_t>> parse_execution_token(
    const std::string& token) {
  if (token.empty()) return std::pair<std::string, std::int64_t>{"", 0};
  const auto slash = token.rfind('/');
  std::int64_t number = 0;
  if (slash != std::string::npos) {
    const char* begin = token.data() + slash + 1;
    const char* end = token.data() + token.size();
    auto [last, ec] = std::from_chars(begin, end, number);
    if (ec == std::errc() && last == end && number >= 1) {
      return std::pair<std::string, std::int64_t>{token.substr(0, slash), number};
    }
  }
  return invalid("next token '" + token.substr(0, 80) + "' is not one this listing gave");
}

RegistryResult<Listing<JobExecutionRecord>> list_executions(Database& db, std::string_view where,
                                                            std::string_view key_column,
                                                            std::string_view value,
                                                            const Page& page, bool by_thing) {
  auto limit = page_limit(page);
  if (!limit) return tl::unexpected(limit.error());
  auto after = parse_execution_token(page.next_token);
  if (!after) return tl::unexpected(after.error());
  auto stmt = db.prepare("SELECT " + std::string(kExecutionColumns) + " FROM job_executions " +
                         std::string(where) + " AND (" + std::string(key_column) + " > ?2 OR (" +
                         std::string(key_column) + " = ?2 AND execution_number > ?3)) ORDER BY " +
                         std::string(key_column) + ", execution_number LIMIT ?4");
  if (!stmt) return internal(stmt.error());
  stmt->bind(1, value).bind(2, after->first).bind(3, after->second);
  stmt->bind(4, static_cast<std::int64_t>(*limit + 1));
  auto key = [by_thing](const JobExecutionRecord& execution) {
    return execution_token(by_thing ? execution.job_id : execution.thing_name,
                           execution.execution_number);
  };
  return collect<JobExecutionRecord>(*stmt, *limit, read_execution, key);
}

RegistryResult<void> check_reason_code(const std::string& code) {
  const bool ok = !code.empty() && code.size() <= kMaxJobReasonCodeLength &&
                  std::all_of(code.begin(), code.end(), [](char c) {
                    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
                  });
  if (!ok) {
    return invalid("reason code '" + code.substr(0, 80) + "' must be 1 to " +
                   std::to_string(kMaxJobReasonCodeLength) + " of [A-Z0-9_]");
  }
  return {};
}

}  // namespace

RegistryResult<Job> JobStore::create_job(std::string_view actor, const NewJob& spec) {
  if (auto ok = check_actor(actor); !ok) return invalid(ok.error());
  if (auto ok = check_new_job(spec); !ok) return tl::unexpected(ok.error());
  const std::set<std::string> thing_targets(spec.things.begin(), spec.things.end());
  const std::set<std::string> group_targets(spec.groups.begin(), spec.groups.end());
  return in_write<Job>(db_, [&]() -> RegistryResult<Job> {
    auto existing = exists(db_, "SELECT 1 FROM jobs WHERE id = ?1", spec.job_id);
    if (!existing) return tl::unexpected(existing.error());
    if (*existing) return already_exists(quoted("job", spec.job_id) + " already exists");
    // Under the write lock: the image the document names cannot be deleted in between.
    if (auto ok = check_ota_job(db_, spec.document); !ok) return tl::unexpected(ok.error());
    std::set<std::string> things;
    for (const std::string& name : thing_targets) {
      auto thing = exists(db_, "SELECT 1 FROM things WHERE name = ?1", name);
      if (!thing) return tl::unexpected(thing.error());
      if (!*thing) return not_found("job target " + quoted("thing", name) + " does not exist");
      things.insert(name);
    }
    for (const std::string& name : group_targets) {
      auto members = group_things(db_, name);
      if (!members) return tl::unexpected(members.error());
      if (!*members) {
        return not_found("job target " + quoted("thing group", name) + " does not exist");
      }
      things.insert((*members)->begin(), (*members)->end());
    }
    const Time now = clock_();
    auto stmt = db_.prepare(
        "INSERT INTO jobs (id, document, status, target_selection, description, "
        "in_progress_timeout_minutes, retry_config, rollout_config, abort_config, "
        "force_canceled, version, created_at, updated_at) "
        "VALUES (?1, ?2, 'IN_PROGRESS', ?3, ?4, ?5, ?6, ?7, ?8, 0, 1, ?9, ?9)");
    if (!stmt) return internal(stmt.error());
    stmt->bind(1, spec.job_id)
        .bind(2, spec.document)
        .bind(3, std::string(target_selection_name(spec.target_selection)))
        .bind(4, spec.description);
    if (spec.in_progress_timeout_minutes) {
      stmt->bind(5, *spec.in_progress_timeout_minutes);
    } else {
      stmt->bind_null(5);
    }
    stmt->bind(6, retry_config_json(spec.retry_criteria).dump())
        .bind(7, spec.rollout_config)
        .bind(8, spec.abort_config)
        .bind(9, to_db(now));
    if (auto ok = stmt->run(); !ok) return internal(ok.error());
    auto target = db_.prepare("INSERT INTO job_targets (job_id, kind, name) VALUES (?1, ?2, ?3)");
    if (!target) return internal(target.error());
    for (const auto& [kind, names] :
         {std::pair{"thing", &thing_targets}, std::pair{"group", &group_targets}}) {
      for (const std::string& name : *names) {
        target->reset();
        if (auto ok = target->bind(1, spec.job_id).bind(2, kind).bind(3, name).run(); !ok) {
          return internal(ok.error());
        }
      }
    }
    for (const std::string& thing : things) {
      JobExecutionRecord execution;
      execution.job_id = spec.job_id;
      execution.thing_name = thing;
      execution.queued_at = now;
      execution.last_updated_at = now;
      if (auto ok = insert_execution(db_, execution); !ok) return tl::unexpected(ok.error());
    }
    auto job = load_job(db_, spec.job_id);
    if (!job) return tl::unexpected(job.error());
    if (things.empty() && spec.target_selection == TargetSelection::snapshot) {
      // Nothing to run: a snapshot job with no thing is complete at once.
      (*job)->status = JobStatus::completed;
      (*job)->completed_at = now;
      if (auto ok = store_job_status(db_, **job); !ok) return tl::unexpected(ok.error());
    }
    Change change{"job.create",
                  "job",
                  spec.job_id,
                  {{"targetSelection", target_selection_name(spec.target_selection)},
                   {"things", spec.things},
                   {"groups", spec.groups},
                   {"executions", things.size()},
                   {"status", job_status_name((*job)->status)}}};
    if (auto ok = record(db_, now, actor, change); !ok) return tl::unexpected(ok.error());
    auto counts = load_counts(db_, spec.job_id);
    if (!counts) return tl::unexpected(counts.error());
    (*job)->counts = *counts;
    return std::move(**job);
  });
}

RegistryResult<Job> JobStore::describe_job(std::string_view job_id) {
  auto txn = db_.begin_read();
  if (!txn) return internal(txn.error());
  auto job = load_job(db_, job_id);
  if (!job) return tl::unexpected(job.error());
  if (!*job) return not_found("no " + quoted("job", job_id));
  auto counts = load_counts(db_, job_id);
  if (!counts) return tl::unexpected(counts.error());
  (*job)->counts = *counts;
  return std::move(**job);
}

RegistryResult<Listing<Job>> JobStore::list_jobs(const JobFilter& filter, const Page& page) {
  auto limit = page_limit(page);
  if (!limit) return tl::unexpected(limit.error());
  auto txn = db_.begin_read();
  if (!txn) return internal(txn.error());
  auto stmt = db_.prepare(
      "SELECT id FROM jobs WHERE id > ?1 AND (?2 IS NULL OR status = ?2) ORDER BY id LIMIT ?3");
  if (!stmt) return internal(stmt.error());
  stmt->bind(1, page.next_token);
  if (filter.status) {
    stmt->bind(2, std::string(job_status_name(*filter.status)));
  } else {
    stmt->bind_null(2);
  }
  stmt->bind(3, static_cast<std::int64_t>(*limit + 1));
  auto read = [](Statement& row) -> RegistryResult<std::string> { return row.text(0); };
  auto ids = collect<std::string>(*stmt, *limit, read, [](const std::string& id) { return id; });
  if (!ids) return tl::unexpected(ids.error());
  Listing<Job> listing;
  listing.next_token = ids->next_token;
  for (const std::string& id : ids->items) {
    auto job = load_job(db_, id);
    if (!job) return tl::unexpected(job.error());
    if (!*job) return internal(Error{quoted("job", id) + " vanished while being listed"});
    auto counts = load_counts(db_, id);
    if (!counts) return tl::unexpected(counts.error());
    (*job)->counts = *counts;
    listing.items.push_back(std::move(**job));
  }
  return listing;
}

RegistryResult<Listing<JobExecutionRecord>> JobStore::list_executions_of_job(
    std::string_view job_id, const Page& page) {
  auto txn = db_.begin_read();
  if (!txn) return internal(txn.error());
  if (auto job = require_job(db_, job_id); !job) return tl::unexpected(job.error());
  return list_executions(db_, "WHERE job_id = ?1", "thing_name", job_id, page, false);
}

RegistryResult<Listing<JobExecutionRecord>> JobStore::list_executions_of_thing(
    std::string_view thing, const Page& page) {
  return list_executions(db_, "WHERE thing_name = ?1", "job_id", thing, page, true);
}

RegistryResult<JobExecutionRecord> JobStore::describe_execution(
    std::string_view job_id, std::string_view thing, std::optional<std::int64_t> number) {
  auto execution = load_execution(db_, job_id, thing, number);
  if (!execution) return tl::unexpected(execution.error());
  if (!*execution) {
    return not_found("no execution" +
                     (number ? " number " + std::to_string(*number) : std::string()) + " of " +
                     execution_name(job_id, thing));
  }
  return std::move(**execution);
}

RegistryResult<Notified<Job>> JobStore::cancel_job(std::string_view actor, std::string_view job_id,
                                                   const JobCancellation& cancellation) {
  if (auto ok = check_actor(actor); !ok) return invalid(ok.error());
  if (cancellation.reason_code) {
    if (auto ok = check_reason_code(*cancellation.reason_code); !ok) {
      return tl::unexpected(ok.error());
    }
  }
  if (cancellation.comment) {
    if (auto ok = check_text("comment", *cancellation.comment, kMaxJobCommentLength); !ok) {
      return invalid(ok.error());
    }
  }
  return in_write<Notified<Job>>(db_, [&]() -> RegistryResult<Notified<Job>> {
    auto job = load_job(db_, job_id);
    if (!job) return tl::unexpected(job.error());
    if (!*job) return not_found("no " + quoted("job", job_id));
    if ((*job)->status == JobStatus::completed) {
      return conflict(quoted("job", job_id) + " is COMPLETED: there is nothing left to cancel");
    }
    if ((*job)->status == JobStatus::canceled && (!cancellation.force || (*job)->force_canceled)) {
      return conflict(quoted("job", job_id) + " is already CANCELED" +
                      ((*job)->force_canceled ? std::string(" (forced)")
                                              : "; cancel with force to cancel its IN_PROGRESS "
                                                "executions too"));
    }
    auto stmt = db_.prepare("SELECT " + std::string(kExecutionColumns) +
                            " FROM job_executions WHERE job_id = ?1 AND (status = 'QUEUED' OR "
                            "(?2 = 1 AND status = 'IN_PROGRESS')) ORDER BY thing_name");
    if (!stmt) return internal(stmt.error());
    stmt->bind(1, job_id).bind(2, std::int64_t{cancellation.force ? 1 : 0});
    auto executions = read_executions(*stmt);
    if (!executions) return tl::unexpected(executions.error());
    PendingWatch watch(db_);
    const Time now = clock_();
    for (JobExecutionRecord& execution : *executions) {
      if (auto ok = watch.watch(execution.thing_name); !ok) return tl::unexpected(ok.error());
      finish(execution, JobExecutionStatus::canceled, now);
      execution.force_canceled = cancellation.force;
      if (auto ok = store_execution(db_, execution); !ok) return tl::unexpected(ok.error());
    }
    Job& canceled = **job;
    canceled.status = JobStatus::canceled;
    canceled.force_canceled = canceled.force_canceled || cancellation.force;
    if (cancellation.reason_code) canceled.reason_code = cancellation.reason_code;
    if (cancellation.comment) canceled.comment = cancellation.comment;
    canceled.version += 1;
    canceled.updated_at = now;
    if (auto ok = store_job_status(db_, canceled); !ok) return tl::unexpected(ok.error());
    Change change{"job.cancel",
                  "job",
                  std::string(job_id),
                  {{"force", cancellation.force},
                   {"reasonCode", cancellation.reason_code.value_or("")},
                   {"comment", cancellation.comment.value_or("")},
                   {"canceledExecutions", executions->size()}}};
    if (auto ok = record(db_, now, actor, change); !ok) return tl::unexpected(ok.error());
    auto notifications = watch.changes();
    if (!notifications) return tl::unexpected(notifications.error());
    auto counts = load_counts(db_, job_id);
    if (!counts) return tl::unexpected(counts.error());
    canceled.counts = *counts;
    return Notified<Job>{std::move(canceled), std::move(*notifications)};
  });
}

RegistryResult<Notified<JobExecutionRecord>> JobStore::cancel_execution(
    std::string_view actor, std::string_view job_id, std::string_view thing,
    const ExecutionCancellation& cancellation) {
  if (auto ok = check_actor(actor); !ok) return invalid(ok.error());
  if (cancellation.status_details) {
    if (auto ok = check_status_details(*cancellation.status_details); !ok) {
      return invalid(ok.error());
    }
  }
  using Result = Notified<JobExecutionRecord>;
  return in_write<Result>(db_, [&]() -> RegistryResult<Result> {
    auto job = load_job(db_, job_id);
    if (!job) return tl::unexpected(job.error());
    if (!*job) return not_found("no " + quoted("job", job_id));
    auto execution = load_execution(db_, job_id, thing, std::nullopt);
    if (!execution) return tl::unexpected(execution.error());
    if (!*execution) return not_found("no execution of " + execution_name(job_id, thing));
    JobExecutionRecord& canceled = **execution;
    if (protocol::is_terminal(canceled.status)) {
      return conflict("the execution of " + execution_name(job_id, thing) + " is already " +
                      std::string(protocol::to_string(canceled.status)));
    }
    if (cancellation.expected_version &&
        *cancellation.expected_version != canceled.version_number) {
      return conflict("the execution of " + execution_name(job_id, thing) + " is at version " +
                      std::to_string(canceled.version_number) + ", not " +
                      std::to_string(*cancellation.expected_version));
    }
    if (canceled.status == JobExecutionStatus::in_progress && !cancellation.force) {
      return conflict("the execution of " + execution_name(job_id, thing) +
                      " is IN_PROGRESS: cancel it with force");
    }
    PendingWatch watch(db_);
    if (auto ok = watch.watch(thing); !ok) return tl::unexpected(ok.error());
    const Time now = clock_();
    finish(canceled, JobExecutionStatus::canceled, now);
    canceled.force_canceled = cancellation.force;
    if (cancellation.status_details) canceled.status_details = *cancellation.status_details;
    if (auto ok = store_execution(db_, canceled); !ok) return tl::unexpected(ok.error());
    if (auto ok = settle_terminal(db_, **job, canceled, now); !ok) {
      return tl::unexpected(ok.error());
    }
    Change change{"job.cancel-execution",
                  "job",
                  std::string(job_id),
                  {{"thing", thing},
                   {"executionNumber", canceled.execution_number},
                   {"force", cancellation.force}}};
    if (auto ok = record(db_, now, actor, change); !ok) return tl::unexpected(ok.error());
    auto notifications = watch.changes();
    if (!notifications) return tl::unexpected(notifications.error());
    return Result{std::move(canceled), std::move(*notifications)};
  });
}

RegistryResult<JobNotifications> JobStore::delete_job(std::string_view actor,
                                                      std::string_view job_id, bool force) {
  if (auto ok = check_actor(actor); !ok) return invalid(ok.error());
  return in_write<JobNotifications>(db_, [&]() -> RegistryResult<JobNotifications> {
    auto job = load_job(db_, job_id);
    if (!job) return tl::unexpected(job.error());
    if (!*job) return not_found("no " + quoted("job", job_id));
    if ((*job)->status == JobStatus::in_progress && !force) {
      return conflict(quoted("job", job_id) +
                      " is IN_PROGRESS: cancel it first, or delete it with force");
    }
    auto things = strings(db_,
                          "SELECT DISTINCT thing_name FROM job_executions WHERE job_id = ?1 AND "
                          "status IN ('QUEUED', 'IN_PROGRESS')",
                          job_id);
    if (!things) return tl::unexpected(things.error());
    PendingWatch watch(db_);
    for (const std::string& thing : *things) {
      if (auto ok = watch.watch(thing); !ok) return tl::unexpected(ok.error());
    }
    auto counts = load_counts(db_, job_id);
    if (!counts) return tl::unexpected(counts.error());
    auto stmt = db_.prepare("DELETE FROM jobs WHERE id = ?1");
    if (!stmt) return internal(stmt.error());
    if (auto ok = stmt->bind(1, job_id).run(); !ok) return internal(ok.error());
    Change change{"job.delete",
                  "job",
                  std::string(job_id),
                  {{"force", force},
                   {"status", job_status_name((*job)->status)},
                   {"things", counts->things},
                   {"pendingExecutions", counts->queued + counts->in_progress}}};
    if (auto ok = record(db_, clock_(), actor, change); !ok) return tl::unexpected(ok.error());
    return watch.changes();
  });
}

}  // namespace ironroot::fleet
