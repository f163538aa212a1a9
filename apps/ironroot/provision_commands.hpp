// `ironroot provision bulk`: operator bulk provisioning from a CSV device list, through
// ironrootd's POST /v1/templates/{name}/provision (docs/fleet-service.md, docs/rest-api.md).
#pragma once

#include <CLI/CLI.hpp>

#include "output.hpp"

namespace ironroot::cli {

// REQUIRES: called after add_fleet_commands, whose global options (--server, --token,
// --token-file) it reads.
void add_provision_commands(CLI::App& app, const Output& out, int& exit_code);

}  // namespace ironroot::cli
