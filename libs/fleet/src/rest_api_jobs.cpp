// /v1/jobs and /v1/things/{name}/jobs: the operator's jobs (AWS IoT's CreateJob, DescribeJob,
// ListJobs, CancelJob, DeleteJob, ListJobExecutionsForJob, ListJobExecutionsForThing,
// DescribeJobExecution, CancelJobExecution) and the approval of rollout groups' pause gates,
// over the jobs store (jobs.hpp) and the rollout policy (rollout.hpp).
#include <chrono>

#include "ironroot/fleet/rollout.hpp"
#include "rest_api_internal.hpp"

namespace ironroot::fleet::rest {

namespace {

using nlohmann::json;

Result<JobStore*, ApiError> jobs_of(const Call& call) {
  if (call.jobs == nullptr) return unavailable("jobs");
  return call.jobs;
}

// A stored JSON object text as a value (the store checked it on the way in).
json stored_object(const std::string& text) {
  json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
  return value.is_discarded() ? json(text) : value;
}

json counts_json(const JobExecutionCounts& c) {
  return {{"numberOfQueuedThings", c.queued},       {"numberOfInProgressThings", c.in_progress},
          {"numberOfSucceededThings", c.succeeded}, {"numberOfFailedThings", c.failed},
          {"numberOfRejectedThings", c.rejected},   {"numberOfTimedOutThings", c.timed_out},
          {"numberOfCanceledThings", c.canceled},   {"numberOfRemovedThings", c.removed},
          {"numberOfNotifiedThings", c.dispatched}, {"numberOfUndispatchedThings", c.undispatched},
          {"numberOfTargetedThings", c.things}};
}

// A job as ListJobs lists it (AWS's JobSummary, with the counts).
json job_summary_json(const Job& job) {
  json out = {{"jobId", job.job_id},
              {"status", std::string(job_status_name(job.status))},
              {"targetSelection", std::string(target_selection_name(job.target_selection))},
              {"createdAt", time_text(job.created_at)},
              {"lastUpdatedAt", time_text(job.updated_at)},
              {"jobProcessDetails", counts_json(job.counts)}};
  if (job.completed_at) out["completedAt"] = time_text(*job.completed_at);
  return out;
}

// A job as DescribeJob shows it (AWS's Job): the summary and everything CreateJob set.
json job_json(const Job& job) {
  json out = job_summary_json(job);
  out["document"] = stored_object(job.document);
  out["targets"] = {{"things", job.things}, {"groups", job.groups}};
  out["description"] = job.description;
  out["forceCanceled"] = job.force_canceled;
  out["version"] = job.version;
  if (job.in_progress_timeout_minutes) {
    out["timeoutConfig"] = {{"inProgressTimeoutInMinutes", *job.in_progress_timeout_minutes}};
  }
  if (!job.retry_criteria.empty()) {
    json criteria = json::array();
    for (const RetryCriterion& c : job.retry_criteria) {
      criteria.push_back({{"failureType", std::string(retry_failure_type_name(c.failure_type))},
                          {"numberOfRetries", c.number_of_retries}});
    }
    out["jobExecutionsRetryConfig"] = {{"criteriaList", std::move(criteria)}};
  }
  // rollout_config holds the whole RolloutPolicy (see create_job): its keys are CreateJob's.
  if (job.rollout_config) {
    json policy = stored_object(*job.rollout_config);
    if (policy.is_object()) {
      for (const auto& [key, value] : policy.items()) out[key] = value;
    }
  }
  if (job.reason_code) out["reasonCode"] = *job.reason_code;
  if (job.comment) out["comment"] = *job.comment;
  return out;
}

json approval_json(const RolloutApproval& approval) {
  return {{"jobId", approval.job_id},
          {"group", approval.group},
          {"approvedBy", approval.approved_by},
          {"approvedAt", time_text(approval.approved_at)}};
}

// A job execution (AWS's JobExecution; statusDetails as its detailsMap).
json execution_json(const JobExecutionRecord& e) {
  json details = json::object();
  for (const auto& [name, value] : e.status_details) details[name] = value;
  json out = {{"jobId", e.job_id},
              {"thingName", e.thing_name},
              {"executionNumber", e.execution_number},
              {"status", std::string(protocol::to_string(e.status))},
              {"statusDetails", {{"detailsMap", std::move(details)}}},
              {"versionNumber", e.version_number},
              {"queuedAt", time_text(e.queued_at)},
              {"lastUpdatedAt", time_text(e.last_updated_at)},
              {"retryAttempt", e.retry_attempt},
              {"forceCanceled", e.force_canceled}};
  if (e.started_at) out["startedAt"] = time_text(*e.started_at);
  if (e.dispatched_at) out["dispatchedAt"] = time_text(*e.dispatched_at);
  return out;
}

// targets: {"things": [...], "groups": [...]}, either list optional.
void read_targets(Fields& f, NewJob& job) {
  const json* targets = f.value("targets", true);
  if (targets == nullptr) return;
  Fields t(*targets, {"things", "groups"}, "targets");
  job.things = t.strings("things").value_or(std::vector<std::string>{});
  job.groups = t.strings("groups").value_or(std::vector<std::string>{});
  f.take_error(t);
}

// timeoutConfig: {"inProgressTimeoutInMinutes": n}.
void read_timeout(Fields& f, NewJob& job) {
  const json* timeout = f.value("timeoutConfig");
  if (timeout == nullptr) return;
  Fields t(*timeout, {"inProgressTimeoutInMinutes"}, "timeoutConfig");
  job.in_progress_timeout_minutes = t.integer("inProgressTimeoutInMinutes");
  f.take_error(t);
}

// jobExecutionsRetryConfig: {"criteriaList": [{"failureType": ..., "numberOfRetries": n}]}.
// The store checks the list's rules (how many, which types together, the retry bounds).
void read_retries(Fields& f, NewJob& job) {
  const json* retry = f.value("jobExecutionsRetryConfig");
  if (retry == nullptr) return;
  const std::string path = "jobExecutionsRetryConfig";
  Fields r(*retry, {"criteriaList"}, path);
  const json* list = r.value("criteriaList", true);
  if (list != nullptr && !list->is_array()) r.refuse("criteriaList", "must be an array");
  if (list != nullptr && list->is_array()) {
    if (list->size() > kMaxRetryCriteria) {
      r.refuse("criteriaList", "has at most " + std::to_string(kMaxRetryCriteria) + " entries");
    }
    for (std::size_t i = 0; i < list->size() && !r.error(); ++i) {
      Fields c((*list)[i], {"failureType", "numberOfRetries"},
               path + ".criteriaList[" + std::to_string(i) + "]");
      auto type = c.text("failureType", true);
      c.value("numberOfRetries", true);
      auto retries = c.integer("numberOfRetries");
      std::optional<RetryFailureType> parsed;
      if (type) {
        parsed = parse_retry_failure_type(*type);
        if (!parsed) c.refuse("failureType", "must be FAILED, TIMED_OUT or ALL");
      }
      r.take_error(c);
      if (!r.error()) job.retry_criteria.push_back(RetryCriterion{*parsed, *retries});
    }
  }
  f.take_error(r);
}

// The rollout part of a CreateJob body, checked (RolloutPolicy::from_json, and the schedule
// against the time now), into the job: rollout_config holds the whole policy's JSON (its four
// CreateJob keys), abort_config the abortConfig alone.
Result<void, ApiError> read_rollout(const json& body, NewJob& job) {
  auto policy = RolloutPolicy::from_json(body);
  if (!policy) return bad_request(policy.error().message);
  if (policy->scheduling) {
    const auto now =
        std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
    if (auto ok = check_schedule_at_creation(*policy->scheduling, now); !ok) {
      return bad_request("schedulingConfig: " + ok.error().message);
    }
  }
  const json stored = policy->to_json();
  if (stored.empty()) return {};
  job.rollout_config = stored.dump();
  if (job.rollout_config->size() > kMaxJobConfigLength) {
    return bad_request(
        "the rollout configuration (jobExecutionsRolloutConfig, abortConfig, "
        "schedulingConfig and rolloutGroups together) takes " +
        std::to_string(job.rollout_config->size()) + " bytes; at most " +
        std::to_string(kMaxJobConfigLength) +
        " are kept: use fewer rollout groups "
        "or maintenance windows");
  }
  if (policy->abort) job.abort_config = to_json(*policy->abort).dump();
  return {};
}

Answer create_job(Call& call) {
  auto store = jobs_of(call);
  if (!store) return tl::unexpected(store.error());
  Fields f(call.body, {"jobId", "document", "targets", "targetSelection", "description",
                       "timeoutConfig", "jobExecutionsRetryConfig", "jobExecutionsRolloutConfig",
                       "abortConfig", "schedulingConfig", "rolloutGroups"});
  NewJob job;
  job.job_id = f.text("jobId", true).value_or("");
  job.document = f.document("document", true).value_or("");
  read_targets(f, job);
  if (auto selection = f.text("targetSelection")) {
    auto parsed = parse_target_selection(*selection);
    if (!parsed) f.refuse("targetSelection", "must be SNAPSHOT or CONTINUOUS");
    job.target_selection = parsed.value_or(TargetSelection::snapshot);
  }
  job.description = f.text("description").value_or("");
  read_timeout(f, job);
  read_retries(f, job);
  if (f.error()) return tl::unexpected(*f.error());
  if (auto ok = read_rollout(call.body, job); !ok) return tl::unexpected(ok.error());
  return answer((*store)->create_job(call.actor, job), 201, job_json);
}

Answer list_jobs(Call& call) {
  auto store = jobs_of(call);
  if (!store) return tl::unexpected(store.error());
  auto page = page_of(call);
  if (!page) return tl::unexpected(page.error());
  JobFilter filter;
  if (auto status = query_value(call, "status")) {
    filter.status = parse_job_status(*status);
    if (!filter.status) {
      return bad_request("query parameter 'status' must be IN_PROGRESS, CANCELED or COMPLETED");
    }
  }
  return answer((*store)->list_jobs(filter, *page), 200,
                [](const Listing<Job>& l) { return listing_json(l, job_summary_json); });
}

// The job, with the approvals of its rollout groups.
Answer describe_job(Call& call) {
  auto store = jobs_of(call);
  if (!store) return tl::unexpected(store.error());
  auto job = (*store)->describe_job(call.segments[0]);
  if (!job) return refused(job.error());
  auto approvals = (*store)->rollout_approvals(call.segments[0]);
  if (!approvals) return refused(approvals.error());
  json out = job_json(*job);
  json list = json::array();
  for (const RolloutApproval& a : *approvals) list.push_back(approval_json(a));
  out["rolloutApprovals"] = std::move(list);
  return Reply{200, std::move(out)};
}

Answer cancel_job(Call& call) {
  auto store = jobs_of(call);
  if (!store) return tl::unexpected(store.error());
  Fields f(call.body, {"force", "reasonCode", "comment"});
  JobCancellation cancellation;
  cancellation.force = f.boolean("force").value_or(false);
  cancellation.reason_code = f.text("reasonCode");
  cancellation.comment = f.text("comment");
  if (f.error()) return tl::unexpected(*f.error());
  auto canceled = (*store)->cancel_job(call.actor, call.segments[0], cancellation);
  if (!canceled) return refused(canceled.error());
  call.notifications = std::move(canceled->notifications);
  return Reply{200, job_json(canceled->value)};
}

Answer delete_job(Call& call) {
  auto store = jobs_of(call);
  if (!store) return tl::unexpected(store.error());
  bool force = false;
  if (auto text = query_value(call, "force")) {
    if (*text != "true" && *text != "false") {
      return bad_request("query parameter 'force' must be true or false");
    }
    force = *text == "true";
  }
  auto deleted = (*store)->delete_job(call.actor, call.segments[0], force);
  if (!deleted) return refused(deleted.error());
  call.notifications = std::move(*deleted);
  return Reply{204, nullptr};
}

Answer executions_of_job(Call& call) {
  auto store = jobs_of(call);
  if (!store) return tl::unexpected(store.error());
  auto page = page_of(call);
  if (!page) return tl::unexpected(page.error());
  // The store lists nothing for an unknown job: tell the caller it does not exist.
  if (auto job = (*store)->describe_job(call.segments[0]); !job) return refused(job.error());
  return answer(
      (*store)->list_executions_of_job(call.segments[0], *page), 200,
      [](const Listing<JobExecutionRecord>& l) { return listing_json(l, execution_json); });
}

Answer executions_of_thing(Call& call) {
  auto store = jobs_of(call);
  if (!store) return tl::unexpected(store.error());
  auto page = page_of(call);
  if (!page) return tl::unexpected(page.error());
  // Executions outlive their thing (history), so an unknown thing simply has none.
  return answer(
      (*store)->list_executions_of_thing(call.segments[0], *page), 200,
      [](const Listing<JobExecutionRecord>& l) { return listing_json(l, execution_json); });
}

Answer describe_execution(Call& call) {
  auto store = jobs_of(call);
  if (!store) return tl::unexpected(store.error());
  auto number = integer_query(call, "executionNumber");
  if (!number) return tl::unexpected(number.error());
  if (*number && **number < 1) {
    return bad_request("query parameter 'executionNumber' must be 1 or more");
  }
  return answer((*store)->describe_execution(call.segments[0], call.segments[1], *number), 200,
                execution_json);
}

Answer cancel_execution(Call& call) {
  auto store = jobs_of(call);
  if (!store) return tl::unexpected(store.error());
  Fields f(call.body, {"force", "expectedVersion", "statusDetails"});
  ExecutionCancellation cancellation;
  cancellation.force = f.boolean("force").value_or(false);
  cancellation.expected_version = f.integer("expectedVersion");
  if (auto details = f.attributes("statusDetails")) {
    cancellation.status_details = protocol::StatusDetails(details->begin(), details->end());
  }
  if (f.error()) return tl::unexpected(*f.error());
  auto canceled =
      (*store)->cancel_execution(call.actor, call.segments[0], call.segments[1], cancellation);
  if (!canceled) return refused(canceled.error());
  call.notifications = std::move(canceled->notifications);
  return Reply{200, execution_json(canceled->value)};
}

Answer approve_group(Call& call) {
  auto store = jobs_of(call);
  if (!store) return tl::unexpected(store.error());
  Fields f(call.body, {"group"});
  auto group = f.text("group", true);
  if (f.error()) return tl::unexpected(*f.error());
  return answer((*store)->approve_rollout_group(call.actor, call.segments[0], *group), 200,
                approval_json);
}

}  // namespace

std::vector<Route> job_routes() {
  return {
      {"POST", "/v1/jobs", {}, kBody, create_job},
      {"GET", "/v1/jobs", {"status", "limit", "next"}, kNoBody, list_jobs},
      {"GET", "/v1/jobs/*", {}, kNoBody, describe_job},
      {"DELETE", "/v1/jobs/*", {"force"}, kNoBody, delete_job},
      {"PUT", "/v1/jobs/*/cancel", {}, kBody, cancel_job},
      {"POST", "/v1/jobs/*/approve", {}, kBody, approve_group},
      {"GET", "/v1/jobs/*/executions", {"limit", "next"}, kNoBody, executions_of_job},
      {"GET", "/v1/jobs/*/things/*", {"executionNumber"}, kNoBody, describe_execution},
      {"PUT", "/v1/jobs/*/things/*/cancel", {}, kBody, cancel_execution},
      {"GET", "/v1/things/*/jobs", {"limit", "next"}, kNoBody, executions_of_thing},
  };
}

}  // namespace ironroot::fleet::rest
