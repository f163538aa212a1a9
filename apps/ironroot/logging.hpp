// The log options every ironroot program takes (--log-level, --log-format), and spdlog set up to
// write to stderr so that stdout carries only results.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace ironroot::cli {

// Adds --log-level and --log-format to `app`; once the command line is parsed, makes a stderr
// logger named `name` spdlog's default.
void add_logging_options(CLI::App& app, const std::string& name);

}  // namespace ironroot::cli
