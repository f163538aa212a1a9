// What the fleet commands share: running one API command with its output and exit code, and
// the pieces of text output (tables, fields).
#pragma once

#include <CLI/CLI.hpp>
#include <cstddef>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "fleet_client.hpp"
#include "ironroot/core/result.hpp"
#include "output.hpp"

namespace ironroot::cli {

// What a command prints: `text` for people, `document` with --json.
struct Printed {
  std::string text;
  nlohmann::json document;
};

// Everything a fleet verb needs: the output, where its exit code goes, the global options.
struct FleetContext {
  const Output& out;
  int& exit_code;
  std::shared_ptr<const FleetOptions> options;

  // Connects (resolving the server and token), runs `command` and prints its result, or the
  // failure as one line; sets exit_code (kExitOk or kExitFailure).
  void run(const std::function<Result<Printed>(FleetClient&)>& command) const;
  // The same for a command that shows its result and may fail all the same (a followed job that
  // was canceled): when `command` sets `failure`, that line follows the result on stderr and
  // exit_code is kExitFailure.
  void run_and_check(
      const std::function<Result<Printed>(FleetClient&, std::string& failure)>& command) const;
  // Reports a bad argument value (kExitUsage).
  void usage_error(const std::string& message) const;
};

// The global options of the fleet commands (--server, --token, --token-file) of `app`, the root
// command, as given; read when a verb runs.
FleetOptions fleet_options(CLI::App& app);

// Adds --limit: 0 (the default) fetches every item, following the API's `next` tokens.
void add_limit_option(CLI::App& cmd, std::size_t& limit);
std::optional<std::size_t> limit_of(std::size_t limit);

// A JSON value as table text: strings as they are, numbers and booleans printed, "-" when absent.
std::string field(const nlohmann::json& object, const std::string& key);
// Left-aligned columns, two spaces apart, with a header row; "(none)" for no rows.
std::string table(const std::vector<std::string>& header,
                  const std::vector<std::vector<std::string>>& rows);
// "name:  value" lines with the values aligned.
std::string summary(const std::vector<std::pair<std::string, std::string>>& lines);
// "a, b, c" from a JSON array of strings ("-" when empty).
std::string joined(const nlohmann::json& strings);

// A text file given on the command line (a PEM, a JSON document), at most 1 MiB.
Result<std::string> read_text_file(const std::string& path, const std::string& option);

// The verbs of cert, ca (registry), policy and template (fleet_credential_commands.cpp).
void add_cert_commands(CLI::App& app, const FleetContext& context);
void add_ca_registry_commands(CLI::App& ca, const FleetContext& context);
void add_policy_commands(CLI::App& app, const FleetContext& context);
void add_template_commands(CLI::App& app, const FleetContext& context);

}  // namespace ironroot::cli
