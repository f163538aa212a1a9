// `ironroot-device <verb>`: the verbs of the device simulator. Each registers itself on the app
// and reports its exit code through `exit_code`.
#pragma once

#include <CLI/CLI.hpp>

#include "output.hpp"

namespace ironroot::cli {

// Exit codes beyond Output's 0 (success), 1 (failure) and 2 (usage error):
inline constexpr int kExitPowerCut = 3;   // a simulated power cut (--power-cut-after) happened
inline constexpr int kExitBootLimit = 4;  // `run` reached --max-boots and the firmware never
                                          // powered off

void add_init_command(CLI::App& app, const Output& out, int& exit_code);
void add_run_command(CLI::App& app, const Output& out, int& exit_code);
void add_status_command(CLI::App& app, const Output& out, int& exit_code);
void add_stage_command(CLI::App& app, const Output& out, int& exit_code);
void add_revoke_key_command(CLI::App& app, const Output& out, int& exit_code);
void add_identity_command(CLI::App& app, const Output& out, int& exit_code);

}  // namespace ironroot::cli
