// `ironroot image ...`: keys, signing, verification and inspection of MCUboot images.
#pragma once

#include <CLI/CLI.hpp>

#include "output.hpp"

namespace ironroot::cli {

// Registers the `image` noun and its verbs on `app`. A verb's exit code goes to `exit_code`.
void add_image_commands(CLI::App& app, const Output& out, int& exit_code);

}  // namespace ironroot::cli
