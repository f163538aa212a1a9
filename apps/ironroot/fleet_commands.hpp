// The fleet nouns of `ironroot`, each a client of ironrootd's REST API (docs/rest-api.md):
// thing, group, cert, policy, template, audit, and the registry verbs of `ca` (register, list,
// describe, set-status, set-template). Adds the global options --server, --token and
// --token-file.
#pragma once

#include <CLI/CLI.hpp>

#include "output.hpp"

namespace ironroot::cli {

// REQUIRES: called after add_ca_commands, whose `ca` noun it extends.
void add_fleet_commands(CLI::App& app, const Output& out, int& exit_code);

}  // namespace ironroot::cli
