// The log options every ironroot program takes (--log-level, --log-format), and spdlog set up to
// write to stderr so that stdout carries only results.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace ironroot::cli {

// Adds --log-level (default `default_level`) and --log-format to `app`; once the command line is
// parsed, makes a thread-safe stderr logger named `name` spdlog's default.
void add_logging_options(CLI::App& app, const std::string& name,
                         const std::string& default_level = "warn");

}  // namespace ironroot::cli
