// How the operator CLI reports results: text for people, or one JSON document with --json.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
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

// A one-line progress bar on stderr, redrawn in place, for long work in a terminal:
// "<label> [#####-----] done/total  <details>". Disabled (drawing nothing) unless stderr is a
// terminal and --json is off (see enabled_for).
class ProgressLine {
 public:
  explicit ProgressLine(bool enabled) : enabled_(enabled) {}
  ~ProgressLine() { clear(); }
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  // Whether a bar belongs on this output: stderr is a terminal and --json is off.
  static bool enabled_for(const Output& out);

  void draw(const std::string& label, std::int64_t done, std::int64_t total,
            const std::string& details);
  // Removes the bar, so that a line can be printed in its place.
  void clear();

 private:
  bool enabled_;
  bool shown_ = false;
};

// A block of lines on stderr, redrawn in place (cursor moved back up over the previous drawing),
// for a live view of many things at once in a terminal. Lines are cut to the terminal's width, so
// that the block takes exactly as many rows as it has lines. Disabled like ProgressLine.
class LiveText {
 public:
  explicit LiveText(bool enabled) : enabled_(enabled) {}
  ~LiveText() { clear(); }
  LiveText(const LiveText&) = delete;
  LiveText& operator=(const LiveText&) = delete;

  // Replaces what was drawn with `text` (lines separated by '\n').
  void draw(const std::string& text);
  // Removes the block, so that output can follow in its place.
  void clear();

 private:
  bool enabled_;
  int rows_ = 0;  // lines drawn last time
};

// Parses the command line, which runs the chosen command's callback, and returns the process's
// exit code: 0 after --help or --version, kExitUsage on a parse error (printed by CLI11), and
// otherwise the `exit_code` the command set.
int run_command_line(CLI::App& app, int argc, char** argv, const int& exit_code);

}  // namespace ironroot::cli
