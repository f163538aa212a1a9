#include "jobs_commands.hpp"

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <thread>

#include "fleet_command_support.hpp"

namespace ironroot::cli {

namespace {

using nlohmann::json;

constexpr const char* kCreateExample =
    R"(Example:
  ironroot jobs create --job-id ota-2-0 --document ota.json --targets group:lamps \
      --max-per-minute 100 --abort FAILED:10%:20 --retry FAILED:2 --wait
)";

std::string job_path(const std::string& id) {
  return "/v1/jobs/" + path_segment(id);
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    std::size_t end = text.find(separator, start);
    parts.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) return parts;
    start = end + 1;
  }
}

// A JSON number written on the command line ("10", "2.5").
Result<json> number_of(const std::string& text, const std::string& what) {
  json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded() || !value.is_number()) {
    return fail(what + " '" + text + "' is not a number");
  }
  return value;
}

Result<json> whole_number_of(const std::string& text, const std::string& what) {
  auto value = number_of(text, what);
  if (!value) return value;
  if (!value->is_number_integer()) return fail(what + " '" + text + "' is not a whole number");
  return value;
}

// --targets thing:a,group:b (repeatable) as {"things": [...], "groups": [...]}.
Result<json> targets_of(const std::vector<std::string>& options) {
  json things = json::array();
  json groups = json::array();
  for (const std::string& option : options) {
    for (const std::string& target : split(option, ',')) {
      if (target.rfind("thing:", 0) == 0 && target.size() > 6) {
        things.push_back(target.substr(6));
      } else if (target.rfind("group:", 0) == 0 && target.size() > 6) {
        groups.push_back(target.substr(6));
      } else {
        return fail("--targets: '" + target +
                    "' must be thing:NAME or group:NAME (several separated by commas)");
      }
    }
  }
  json targets = json::object();
  if (!things.empty()) targets["things"] = std::move(things);
  if (!groups.empty()) targets["groups"] = std::move(groups);
  return targets;
}

// --exponential BASE,FACTOR,notified:N[,succeeded:N].
Result<json> exponential_of(const std::string& text) {
  const std::string usage =
      "--exponential '" + text + "' must be BASE,FACTOR,notified:N and/or succeeded:N";
  std::vector<std::string> parts = split(text, ',');
  if (parts.size() < 3 || parts.size() > 4) return fail(usage);
  auto base = whole_number_of(parts[0], "--exponential base rate");
  if (!base) return tl::unexpected(base.error());
  auto factor = number_of(parts[1], "--exponential factor");
  if (!factor) return tl::unexpected(factor.error());
  json criteria = json::object();
  for (std::size_t i = 2; i < parts.size(); ++i) {
    std::vector<std::string> criterion = split(parts[i], ':');
    if (criterion.size() != 2) return fail(usage);
    const std::string key = criterion[0] == "notified"    ? "numberOfNotifiedThings"
                            : criterion[0] == "succeeded" ? "numberOfSucceededThings"
                                                          : "";
    if (key.empty() || criteria.contains(key)) return fail(usage);
    auto count = whole_number_of(criterion[1], "--exponential " + criterion[0] + " count");
    if (!count) return tl::unexpected(count.error());
    criteria[key] = *count;
  }
  return json{{"exponentialRate",
               {{"baseRatePerMinute", *base},
                {"incrementFactor", *factor},
                {"rateIncreaseCriteria", std::move(criteria)}}}};
}

// --abort TYPE:PERCENT%:MIN.
Result<json> abort_criterion_of(const std::string& text) {
  std::vector<std::string> parts = split(text, ':');
  if (parts.size() != 3 || parts[0].empty()) {
    return fail("--abort '" + text + "' must be TYPE:PERCENT%:MIN, e.g. FAILED:10%:20");
  }
  std::string percent = parts[1];
  if (!percent.empty() && percent.back() == '%') percent.pop_back();
  auto threshold = number_of(percent, "--abort percentage");
  if (!threshold) return tl::unexpected(threshold.error());
  auto minimum = whole_number_of(parts[2], "--abort minimum number of things");
  if (!minimum) return tl::unexpected(minimum.error());
  return json{{"failureType", parts[0]},
              {"action", "CANCEL"},
              {"thresholdPercentage", *threshold},
              {"minNumberOfExecutedThings", *minimum}};
}

// --retry TYPE:N.
Result<json> retry_criterion_of(const std::string& text) {
  std::vector<std::string> parts = split(text, ':');
  if (parts.size() != 2 || parts[0].empty()) {
    return fail("--retry '" + text + "' must be TYPE:N, e.g. FAILED:3");
  }
  auto retries = whole_number_of(parts[1], "--retry number of retries");
  if (!retries) return tl::unexpected(retries.error());
  return json{{"failureType", parts[0]}, {"numberOfRetries", *retries}};
}

// A JSON file given on the command line, which must hold a value of `kind`.
Result<json> json_file(const std::string& path, const std::string& option, json::value_t kind,
                       const std::string& kind_name) {
  auto text = read_text_file(path, option);
  if (!text) return tl::unexpected(text.error());
  json value = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return fail(option + " " + path + " is not valid JSON");
  if (value.type() != kind) return fail(option + " " + path + " must hold " + kind_name);
  return value;
}

// ---- output -----------------------------------------------------------------------------------

std::int64_t finished_things(const json& job) {
  return job_count(job, "numberOfSucceededThings") + job_count(job, "numberOfFailedThings") +
         job_count(job, "numberOfRejectedThings") + job_count(job, "numberOfTimedOutThings") +
         job_count(job, "numberOfCanceledThings") + job_count(job, "numberOfRemovedThings");
}

std::string targets_text(const json& job) {
  const json targets = job.value("targets", json::object());
  std::string text;
  for (const char* kind : {"things", "groups"}) {
    const json names = targets.value(kind, json::array());
    if (names.empty()) continue;
    text += (text.empty() ? "" : "; ") + std::string(kind) + " " + joined(names);
  }
  return text.empty() ? "-" : text;
}

// "canary 10% (success 100%), rest 90% (pause before: approved by alice)".
std::string rollout_groups_text(const json& job) {
  const json groups = job.value("rolloutGroups", json::array());
  const json approvals = job.value("rolloutApprovals", json::array());
  std::string text;
  for (const json& g : groups) {
    std::string line = field(g, "name") + " " + field(g, "targetPercentage") + "% (success " +
                       field(g, "successThresholdPercentage") + "%";
    if (g.contains("errorThresholdPercentage")) {
      line += ", error > " + field(g, "errorThresholdPercentage") + "%";
    }
    if (g.value("pauseBefore", false)) {
      std::string approver;
      for (const json& a : approvals) {
        if (a.value("group", json()) == g.value("name", json())) approver = field(a, "approvedBy");
      }
      line += approver.empty() ? ", waits for approval" : ", approved by " + approver;
    }
    text += (text.empty() ? "" : ", ") + line + ")";
  }
  return text.empty() ? "-" : text;
}

std::string compact(const json& job, const char* key) {
  return job.contains(key) ? job[key].dump() : "-";
}

std::string job_text(const json& job) {
  std::string canceled = "-";
  if (job.value("status", json()) == "CANCELED") {
    canceled = std::string(job.value("forceCanceled", false) ? "forced" : "not forced") +
               ", reason " + field(job, "reasonCode") + ", comment " + field(job, "comment");
  }
  return summary({{"job", field(job, "jobId")},
                  {"status", field(job, "status")},
                  {"selection", field(job, "targetSelection")},
                  {"targets", targets_text(job)},
                  {"description", field(job, "description")},
                  {"progress", job_progress_text(job)},
                  {"rate", compact(job, "jobExecutionsRolloutConfig")},
                  {"abort", compact(job, "abortConfig")},
                  {"schedule", compact(job, "schedulingConfig")},
                  {"rollout groups", rollout_groups_text(job)},
                  {"timeout", compact(job, "timeoutConfig")},
                  {"retries", compact(job, "jobExecutionsRetryConfig")},
                  {"canceled", canceled},
                  {"created", field(job, "createdAt")},
                  {"updated", field(job, "lastUpdatedAt")},
                  {"completed", field(job, "completedAt")}});
}

// A job's progress on a ProgressLine.
void draw(ProgressLine& bar, const json& job) {
  bar.draw(field(job, "jobId"), finished_things(job), job_count(job, "numberOfTargetedThings"),
           "succeeded " + std::to_string(job_count(job, "numberOfSucceededThings")) + "  failed " +
               std::to_string(job_count(job, "numberOfFailedThings") +
                              job_count(job, "numberOfRejectedThings") +
                              job_count(job, "numberOfTimedOutThings")) +
               "  in progress " + std::to_string(job_count(job, "numberOfInProgressThings")) +
               "  queued " + std::to_string(job_count(job, "numberOfQueuedThings")));
}

// Everything a jobs verb needs; the global options are read when the verb runs.
struct JobsCommands {
  CLI::App* root;
  const Output& out;
  int& exit_code;

  FleetContext context() const {
    return FleetContext{out, exit_code, std::make_shared<const FleetOptions>(fleet_options(*root))};
  }

  // Follows the job `id` (after `start`, which may create it) with a progress bar, then prints
  // it; a canceled job or a timeout fails after the job is shown.
  void run_watch(const std::string& id, const JobWaitOptions& options,
                 const std::function<Status(FleetClient&)>& start = nullptr) const {
    const bool bar_enabled = ProgressLine::enabled_for(out);
    context().run_and_check([&](FleetClient& client, std::string& failure) -> Result<Printed> {
      if (start) {
        if (auto started = start(client); !started) return tl::unexpected(started.error());
      }
      ProgressLine bar(bar_enabled);
      auto watched = watch_job(client, id, options, [&](const json& job) -> Status {
        draw(bar, job);
        return {};
      });
      if (!watched) return tl::unexpected(watched.error());
      failure = watched->failure;
      return Printed{job_text(watched->job), watched->job};
    });
  }
};

// ---- verbs ------------------------------------------------------------------------------------

void add_create(CLI::App& jobs, const JobsCommands& c) {
  struct Args {
    std::string job_id, document;
    JobRolloutArgs rollout;
    JobWaitOptions wait;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = jobs.add_subcommand("create", "Create a job: send a job document to things");
  cmd->add_option("--job-id", a->job_id, "Job id: 1 to 64 of [a-zA-Z0-9_-]")->required();
  cmd->add_option("--document", a->document, "The job document: a file holding a JSON object")
      ->required();
  add_job_rollout_options(*cmd, a->rollout);
  add_job_wait_options(*cmd, a->wait, "Then follow the job until it ends, with a progress bar");
  cmd->footer(std::string(kJobRolloutHelp) + "\n" + kCreateExample + "\n" + kJobWaitHelp);
  cmd->callback([a, c] {
    auto fields = job_rollout_fields(a->rollout);
    if (!fields) return c.context().usage_error(fields.error().message);
    json body = {{"jobId", a->job_id}};
    auto document = json_file(a->document, "--document", json::value_t::object, "a JSON object");
    if (!document) return c.context().usage_error(document.error().message);
    body["document"] = *document;
    body.update(*fields);
    if (!a->wait.wait) {
      c.context().run([&](FleetClient& client) -> Result<Printed> {
        auto created = client.post("/v1/jobs", body);
        if (!created) return tl::unexpected(created.error());
        return Printed{"created job " + field(*created, "jobId") + ": " +
                           std::to_string(job_count(*created, "numberOfTargetedThings")) +
                           " things",
                       *created};
      });
      return;
    }
    c.run_watch(a->job_id, a->wait, [&](FleetClient& client) -> Status {
      auto created = client.post("/v1/jobs", body);
      if (!created) return tl::unexpected(created.error());
      return {};
    });
  });
}

void add_list(CLI::App& jobs, const JobsCommands& c) {
  struct Args {
    std::string status;
    std::size_t limit = 0;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = jobs.add_subcommand("list", "List jobs in id order, with their progress");
  cmd->add_option("--status", a->status, "Only jobs in this state")
      ->check(CLI::IsMember({"IN_PROGRESS", "CANCELED", "COMPLETED"}));
  add_limit_option(*cmd, a->limit);
  cmd->callback([a, c] {
    c.context().run([&](FleetClient& client) -> Result<Printed> {
      Query query;
      if (!a->status.empty()) query.emplace_back("status", a->status);
      auto listed = client.list("/v1/jobs", query, limit_of(a->limit));
      if (!listed) return tl::unexpected(listed.error());
      std::vector<std::vector<std::string>> rows;
      for (const json& j : (*listed)["items"]) {
        auto n = [&](const char* key) { return std::to_string(job_count(j, key)); };
        rows.push_back({field(j, "jobId"), field(j, "status"), field(j, "targetSelection"),
                        std::to_string(finished_things(j)) + "/" + n("numberOfTargetedThings"),
                        n("numberOfSucceededThings"),
                        std::to_string(job_count(j, "numberOfFailedThings") +
                                       job_count(j, "numberOfRejectedThings") +
                                       job_count(j, "numberOfTimedOutThings")),
                        n("numberOfInProgressThings"), n("numberOfQueuedThings"),
                        field(j, "createdAt")});
      }
      return Printed{table({"JOB", "STATUS", "SELECTION", "DONE", "SUCCEEDED", "FAILED",
                            "IN PROGRESS", "QUEUED", "CREATED"},
                           rows),
                     *listed};
    });
  });
}

void add_describe(CLI::App& jobs, const JobsCommands& c) {
  struct Args {
    std::string job_id;
    JobWaitOptions wait;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = jobs.add_subcommand(
      "describe", "Show a job: targets, rollout, and how many things are in each state");
  cmd->add_option("job", a->job_id, "Job id")->required();
  add_job_wait_options(*cmd, a->wait, "Follow the job until it ends, with a progress bar");
  cmd->footer(kJobWaitHelp);
  cmd->callback([a, c] {
    if (!a->wait.wait) {
      c.context().run([&](FleetClient& client) -> Result<Printed> {
        auto job = client.get(job_path(a->job_id));
        if (!job) return tl::unexpected(job.error());
        return Printed{job_text(*job), *job};
      });
      return;
    }
    c.run_watch(a->job_id, a->wait);
  });
}

void add_cancel(CLI::App& jobs, const JobsCommands& c) {
  struct Args {
    std::string job_id, thing, reason, comment;
    bool force = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = jobs.add_subcommand(
      "cancel", "Cancel a job (its queued executions; with --force running ones too)");
  cmd->add_option("job", a->job_id, "Job id")->required();
  auto* thing = cmd->add_option("--thing", a->thing,
                                "Cancel only this thing's execution of the job (a running "
                                "one needs --force)");
  cmd->add_flag("--force", a->force,
                "Cancel IN_PROGRESS executions too: their devices can no longer report");
  cmd->add_option("--reason", a->reason, "Reason code: 1 to 128 of [A-Z0-9_]")->excludes(thing);
  cmd->add_option("--comment", a->comment, "Why the job was canceled")->excludes(thing);
  cmd->callback([a, c] {
    c.context().run([&](FleetClient& client) -> Result<Printed> {
      if (!a->thing.empty()) {
        auto canceled =
            client.put(job_path(a->job_id) + "/things/" + path_segment(a->thing) + "/cancel",
                       {{"force", a->force}});
        if (!canceled) return tl::unexpected(canceled.error());
        return Printed{"canceled job " + a->job_id + " on thing " + a->thing, *canceled};
      }
      json body = {{"force", a->force}};
      if (!a->reason.empty()) body["reasonCode"] = a->reason;
      if (!a->comment.empty()) body["comment"] = a->comment;
      auto canceled = client.put(job_path(a->job_id) + "/cancel", body);
      if (!canceled) return tl::unexpected(canceled.error());
      return Printed{"canceled job " + a->job_id + ": " + job_progress_text(*canceled), *canceled};
    });
  });
}

void add_delete(CLI::App& jobs, const JobsCommands& c) {
  struct Args {
    std::string job_id;
    bool force = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = jobs.add_subcommand("delete", "Delete a job and its executions");
  cmd->add_option("job", a->job_id, "Job id")->required();
  cmd->add_flag("--force", a->force,
                "Delete an IN_PROGRESS job too (otherwise cancel it first, or let it complete)");
  cmd->callback([a, c] {
    c.context().run([&](FleetClient& client) -> Result<Printed> {
      auto deleted = client.remove(job_path(a->job_id), {{"force", a->force ? "true" : "false"}});
      if (!deleted) return tl::unexpected(deleted.error());
      return Printed{"deleted job " + a->job_id, {{"jobId", a->job_id}, {"deleted", true}}};
    });
  });
}

void add_executions(CLI::App& jobs, const JobsCommands& c) {
  struct Args {
    std::string job_id, thing;
    std::size_t limit = 0;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = jobs.add_subcommand(
      "executions", "List a job's executions (one per thing and retry), or a thing's");
  auto* job = cmd->add_option("job", a->job_id, "Job id");
  cmd->add_option("--thing", a->thing, "List this thing's executions of every job instead")
      ->excludes(job);
  add_limit_option(*cmd, a->limit);
  cmd->callback([a, c] {
    if (a->job_id.empty() == a->thing.empty()) {
      return c.context().usage_error("give a job id, or --thing NAME");
    }
    c.context().run([&](FleetClient& client) -> Result<Printed> {
      const bool of_job = !a->job_id.empty();
      const std::string path = of_job ? job_path(a->job_id) + "/executions"
                                      : "/v1/things/" + path_segment(a->thing) + "/jobs";
      auto listed = client.list(path, {}, limit_of(a->limit));
      if (!listed) return tl::unexpected(listed.error());
      std::vector<std::vector<std::string>> rows;
      for (const json& e : (*listed)["items"]) {
        std::string details;
        const json map = e.value("statusDetails", json::object()).value("detailsMap", json());
        if (map.is_object()) {
          for (const auto& [name, value] : map.items()) {
            details += (details.empty() ? "" : ", ") + name + "=" +
                       (value.is_string() ? value.get<std::string>() : value.dump());
          }
        }
        rows.push_back({field(e, of_job ? "thingName" : "jobId"), field(e, "executionNumber"),
                        field(e, "status"), field(e, "versionNumber"), field(e, "retryAttempt"),
                        field(e, "lastUpdatedAt"), details.empty() ? "-" : details});
      }
      return Printed{table({of_job ? "THING" : "JOB", "EXECUTION", "STATUS", "VERSION", "RETRY",
                            "UPDATED", "DETAILS"},
                           rows),
                     *listed};
    });
  });
}

void add_approve(CLI::App& jobs, const JobsCommands& c) {
  struct Args {
    std::string job_id, group;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = jobs.add_subcommand(
      "approve", "Open the pause gate of a rollout group (\"pauseBefore\": true) so it starts");
  cmd->add_option("job", a->job_id, "Job id")->required();
  cmd->add_option("--group", a->group, "The rollout group's name")->required();
  cmd->callback([a, c] {
    c.context().run([&](FleetClient& client) -> Result<Printed> {
      auto approved = client.post(job_path(a->job_id) + "/approve", {{"group", a->group}});
      if (!approved) return tl::unexpected(approved.error());
      return Printed{"approved rollout group " + a->group + " of job " + a->job_id + " (by " +
                         field(*approved, "approvedBy") + " at " + field(*approved, "approvedAt") +
                         ")",
                     *approved};
    });
  });
}

}  // namespace

// ---- shared with other commands that create and follow jobs -------------------------------------

const char* const kJobRolloutHelp =
    R"(Targets: --targets thing:NAME,group:NAME,... (repeatable); a thing group may be static or
dynamic. With --continuous (thing groups only) things that join a target group later get the
job too.

Rollout rate (AWS IoT's jobExecutionsRolloutConfig; default 1000 things a minute):
  --max-per-minute N                      at most N things notified a minute (1..1000)
  --exponential BASE,FACTOR,CRITERION...  start at BASE a minute and multiply by FACTOR (1.1..5)
                                          each time a criterion is reached: notified:N,
                                          succeeded:N or both, e.g. 50,2,notified:1000
Abort (abortConfig): --abort TYPE:PERCENT%:MIN (repeatable) cancels the job once at least MIN
  things were notified and at least PERCENT of them ended TYPE (FAILED, REJECTED, TIMED_OUT or
  ALL), e.g. --abort FAILED:10%:20.
Retries (jobExecutionsRetryConfig): --retry TYPE:N (FAILED, TIMED_OUT or ALL; N 0..10).
Rollout groups: --rollout-groups FILE, a JSON array of
  {"name", "targetPercentage", "successThresholdPercentage", "errorThresholdPercentage",
   "pauseBefore"} (docs/rollouts.md); a group with "pauseBefore": true waits for
  `ironroot jobs approve JOB --group NAME`.
Schedule: --scheduling FILE, a JSON schedulingConfig object (startTime, endTime, endBehavior,
  maintenanceWindows).
)";

const char* const kJobWaitHelp =
    R"(With --wait (or --watch) the command polls the job until it is COMPLETED or CANCELED (an
aborted rollout cancels its job), drawing a progress bar on stderr when stderr is a terminal,
then prints the job once (one JSON document with --json). It exits 0 when the job COMPLETED and
1 when it was canceled or aborted, or when --timeout passed first.
)";

void add_job_rollout_options(CLI::App& cmd, JobRolloutArgs& args) {
  cmd.add_option("--targets", args.targets, "thing:NAME,group:NAME,... (repeatable)")
      ->required()
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd.add_option("--description", args.description, "What the job is for");
  cmd.add_flag("--continuous", args.continuous,
               "Things that join a target group later get the job too (groups only)");
  auto* rate = cmd.add_option("--max-per-minute", args.max_per_minute,
                              "Notify at most N things a minute (1..1000)");
  cmd.add_option("--exponential", args.exponential,
                 "Exponential rate BASE,FACTOR,notified:N|succeeded:N (see below)")
      ->excludes(rate);
  cmd.add_option("--abort", args.aborts, "Abort criterion TYPE:PERCENT%:MIN (repeatable)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd.add_option("--in-progress-timeout", args.in_progress_timeout,
                 "Minutes a device may run the job before it is TIMED_OUT (1..10080)");
  cmd.add_option("--retry", args.retries, "Retry criterion TYPE:N (repeatable, at most 2)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd.add_option("--rollout-groups", args.rollout_groups,
                 "A JSON file with the rollout groups (an array, see below)");
  cmd.add_option("--scheduling", args.scheduling, "A JSON file with a schedulingConfig object");
}

Result<json> job_rollout_fields(const JobRolloutArgs& a) {
  json body = json::object();
  auto targets = targets_of(a.targets);
  if (!targets) return targets;
  body["targets"] = *targets;
  if (a.continuous) body["targetSelection"] = "CONTINUOUS";
  if (!a.description.empty()) body["description"] = a.description;
  if (!a.max_per_minute.empty()) {
    auto n = whole_number_of(a.max_per_minute, "--max-per-minute");
    if (!n) return n;
    body["jobExecutionsRolloutConfig"] = {{"maximumPerMinute", *n}};
  }
  if (!a.exponential.empty()) {
    auto exponential = exponential_of(a.exponential);
    if (!exponential) return exponential;
    body["jobExecutionsRolloutConfig"] = *exponential;
  }
  if (!a.aborts.empty()) {
    json criteria = json::array();
    for (const std::string& text : a.aborts) {
      auto criterion = abort_criterion_of(text);
      if (!criterion) return criterion;
      criteria.push_back(*criterion);
    }
    body["abortConfig"] = {{"criteriaList", std::move(criteria)}};
  }
  if (a.in_progress_timeout != 0) {
    body["timeoutConfig"] = {{"inProgressTimeoutInMinutes", a.in_progress_timeout}};
  }
  if (!a.retries.empty()) {
    json criteria = json::array();
    for (const std::string& text : a.retries) {
      auto criterion = retry_criterion_of(text);
      if (!criterion) return criterion;
      criteria.push_back(*criterion);
    }
    body["jobExecutionsRetryConfig"] = {{"criteriaList", std::move(criteria)}};
  }
  if (!a.rollout_groups.empty()) {
    auto groups =
        json_file(a.rollout_groups, "--rollout-groups", json::value_t::array, "a JSON array");
    if (!groups) return groups;
    body["rolloutGroups"] = *groups;
  }
  if (!a.scheduling.empty()) {
    auto scheduling =
        json_file(a.scheduling, "--scheduling", json::value_t::object, "a JSON object");
    if (!scheduling) return scheduling;
    body["schedulingConfig"] = *scheduling;
  }
  return body;
}

void add_job_wait_options(CLI::App& cmd, JobWaitOptions& options, const char* what) {
  cmd.add_flag("--wait,--watch", options.wait, what);
  cmd.add_option("--interval", options.interval_seconds,
                 "With --wait: seconds between two looks at the job")
      ->check(CLI::Range(0.05, 3600.0))
      ->capture_default_str();
  cmd.add_option("--timeout", options.timeout_seconds,
                 "With --wait: give up after this many seconds (exit 1; default: no limit)")
      ->check(CLI::Range(0.0, 31622400.0));
}

Result<WatchedJob> watch_job(FleetClient& client, const std::string& id,
                             const JobWaitOptions& options,
                             const std::function<Status(const json& job)>& on_look) {
  using Clock = std::chrono::steady_clock;
  const auto started = Clock::now();
  const auto interval = std::chrono::duration<double>(options.interval_seconds);
  for (;;) {
    auto job = client.get(job_path(id));
    if (!job) return tl::unexpected(job.error());
    if (auto looked = on_look(*job); !looked) return tl::unexpected(looked.error());
    const json status = job->value("status", json());
    if (status == "COMPLETED") return WatchedJob{std::move(*job), ""};
    if (status == "CANCELED") {
      std::string reason = field(*job, "reasonCode");
      return WatchedJob{*job, "job " + id + " was canceled" +
                                  (reason == "-" ? std::string() : " (reason " + reason + ")") +
                                  ": " + job_progress_text(*job)};
    }
    const std::chrono::duration<double> waited = Clock::now() - started;
    if (options.timeout_seconds > 0 && waited.count() >= options.timeout_seconds) {
      return WatchedJob{*job, "job " + id + " is still " + field(*job, "status") + " after " +
                                  std::to_string(static_cast<long long>(options.timeout_seconds)) +
                                  " s: " + job_progress_text(*job)};
    }
    std::this_thread::sleep_for(interval);
  }
}

std::int64_t job_count(const json& job, const char* key) {
  const json details = job.value("jobProcessDetails", json::object());
  const json value = details.value(key, json());
  return value.is_number_integer() ? value.get<std::int64_t>() : 0;
}

std::string job_progress_text(const json& job) {
  auto n = [&](const char* key) { return std::to_string(job_count(job, key)); };
  return std::to_string(finished_things(job)) + " of " + n("numberOfTargetedThings") +
         " things done: " + n("numberOfSucceededThings") + " succeeded, " +
         n("numberOfFailedThings") + " failed, " + n("numberOfRejectedThings") + " rejected, " +
         n("numberOfTimedOutThings") + " timed out, " + n("numberOfCanceledThings") +
         " canceled, " + n("numberOfRemovedThings") + " removed; " + n("numberOfInProgressThings") +
         " in progress, " + n("numberOfQueuedThings") + " queued (" +
         n("numberOfUndispatchedThings") + " not yet notified)";
}

void add_jobs_commands(CLI::App& app, const Output& out, int& exit_code) {
  auto* jobs = app.add_subcommand(
      "jobs", "Jobs: send a document to things, roll it out, follow and cancel it");
  jobs->require_subcommand(1);
  const JobsCommands commands{&app, out, exit_code};
  add_create(*jobs, commands);
  add_list(*jobs, commands);
  add_describe(*jobs, commands);
  add_cancel(*jobs, commands);
  add_delete(*jobs, commands);
  add_executions(*jobs, commands);
  add_approve(*jobs, commands);
}

}  // namespace ironroot::cli
