// `ironroot ota`: firmware updates over the air, through ironrootd's REST API (docs/ota-cli.md):
// the code-signing keys the firmware repository trusts (key register, list, revoke), the signed
// MCUboot images it holds (upload, list, describe, delete), OTA jobs (create: an AWS IoT
// "afr_ota" job document whose file signature the OEM key makes, rolled out like any job) and
// their progress on each device (status).
#pragma once

#include <CLI/CLI.hpp>

#include "output.hpp"

namespace ironroot::cli {

// REQUIRES: called after add_fleet_commands, whose global options (--server, --token,
// --token-file) it reads.
void add_ota_commands(CLI::App& app, const Output& out, int& exit_code);

}  // namespace ironroot::cli
