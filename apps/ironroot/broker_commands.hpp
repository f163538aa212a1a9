// `ironroot broker ...`: a Mosquitto 2 broker for devices with mutual TLS. `init` writes its
// configuration and TLS files into one folder; `run` runs Mosquitto with it in the foreground.
#pragma once

#include <CLI/CLI.hpp>

#include "output.hpp"

namespace ironroot::cli {

// Registers the `broker` noun and its verbs on `app`. A verb's exit code goes to `exit_code`.
void add_broker_commands(CLI::App& app, const Output& out, int& exit_code);

}  // namespace ironroot::cli
