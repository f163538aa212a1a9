// `ironroot jobs`: the operator's jobs and rollouts through ironrootd's REST API (/v1/jobs...,
// docs/rest-api.md; docs/jobs.md, "Command line"): create (with rollout rate, abort criteria,
// timeouts, retries and rollout groups), list, describe (with a live progress bar until the job
// ends), cancel, delete, executions, approve.
//
// The options that say whom a job goes to and how it rolls out, and the loop that follows a job
// until it ends, are shared with the commands that create jobs of their own kind (`ironroot ota
// create`, `ironroot ota status --watch`).
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fleet_client.hpp"
#include "ironroot/core/result.hpp"
#include "output.hpp"

namespace ironroot::cli {

// REQUIRES: called after add_fleet_commands, whose global options (--server, --token,
// --token-file) it reads.
void add_jobs_commands(CLI::App& app, const Output& out, int& exit_code);

// Everything POST /v1/jobs takes but the job id and the document, as given on the command line.
struct JobRolloutArgs {
  std::vector<std::string> targets, aborts, retries;
  std::string description, max_per_minute, exponential, rollout_groups, scheduling;
  bool continuous = false;
  std::int64_t in_progress_timeout = 0;
};

// Adds --targets (required), --description, --continuous, --max-per-minute, --exponential,
// --abort, --in-progress-timeout, --retry, --rollout-groups and --scheduling to `cmd`.
void add_job_rollout_options(CLI::App& cmd, JobRolloutArgs& args);
// What those options mean, for the command's footer.
extern const char* const kJobRolloutHelp;
// The fields of a POST /v1/jobs body those options set ("targets", "targetSelection",
// "description", "jobExecutionsRolloutConfig", "abortConfig", "timeoutConfig",
// "jobExecutionsRetryConfig", "rolloutGroups", "schedulingConfig"), reading the JSON files they
// name. Fails, naming the option, on a value that cannot be right whatever the server says (a
// usage error); ironrootd checks the rest.
Result<nlohmann::json> job_rollout_fields(const JobRolloutArgs& args);

// --wait/--watch, --interval, --timeout.
struct JobWaitOptions {
  bool wait = false;
  double interval_seconds = 2;
  double timeout_seconds = 0;  // 0: no limit
};
void add_job_wait_options(CLI::App& cmd, JobWaitOptions& options, const char* what);
// What --wait does and how the command exits, for the command's footer.
extern const char* const kJobWaitHelp;

// How a followed job ended.
struct WatchedJob {
  nlohmann::json job;   // GET /v1/jobs/{id}, the last look
  std::string failure;  // why the command fails although it shows the job; empty: COMPLETED
};

// Looks at the job (GET /v1/jobs/{id}) every options.interval_seconds, calling `on_look` with
// each answer, until it is COMPLETED or CANCELED or options.timeout_seconds passed. Fails when
// a request or `on_look` fails.
Result<WatchedJob> watch_job(FleetClient& client, const std::string& id,
                             const JobWaitOptions& options,
                             const std::function<Status(const nlohmann::json& job)>& on_look);

// "3 of 10 things done: 2 succeeded, 1 failed, ...; 4 in progress, 3 queued (1 not yet
// notified)", from a job's jobProcessDetails.
std::string job_progress_text(const nlohmann::json& job);
// One of a job's jobProcessDetails counts (0 when absent).
std::int64_t job_count(const nlohmann::json& job, const char* key);

}  // namespace ironroot::cli
