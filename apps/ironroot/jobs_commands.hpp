// `ironroot jobs`: the operator's jobs and rollouts through ironrootd's REST API (/v1/jobs...,
// docs/rest-api.md; docs/jobs.md, "Command line"): create (with rollout rate, abort criteria,
// timeouts, retries and rollout groups), list, describe (with a live progress bar until the job
// ends), cancel, delete, executions, approve.
#pragma once

#include <CLI/CLI.hpp>

#include "output.hpp"

namespace ironroot::cli {

// REQUIRES: called after add_fleet_commands, whose global options (--server, --token,
// --token-file) it reads.
void add_jobs_commands(CLI::App& app, const Output& out, int& exit_code);

}  // namespace ironroot::cli
