// How the operator CLI reports results: text for people, or one JSON document with --json.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>

namespace ironroot::cli {

// Exit codes shared by every command (ARCHITECTURE.md: 0 success, 1 failure, 2 usage error).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

struct Output {
  bool json = false;

  // Prints `text` to stdout, or `document` as JSON when --json is set.
  void result(const std::string& text, const nlohmann::json& document) const;
  // Reports a failure: one line "error: ..." on stderr, and {"error": ...} on stdout with --json.
  // Returns kExitFailure, so that commands can `return out.failure(...)`.
  int failure(const std::string& message) const;
  // The same for a bad argument value the parser could not catch; returns kExitUsage.
  int usage_error(const std::string& message) const;
};

// Parses the command line, which runs the chosen command's callback, and returns the process's
// exit code: 0 after --help or --version, kExitUsage on a parse error (printed by CLI11), and
// otherwise the `exit_code` the command set.
int run_command_line(CLI::App& app, int argc, char** argv, const int& exit_code);

}  // namespace ironroot::cli
