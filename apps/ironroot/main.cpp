// ironroot: the operator command line. `ironroot <noun> <verb> [options]`.
#include <CLI/CLI.hpp>

#include "broker_commands.hpp"
#include "ca_commands.hpp"
#include "fleet_commands.hpp"
#include "image_commands.hpp"
#include "jobs_commands.hpp"
#include "logging.hpp"
#include "ota_commands.hpp"
#include "output.hpp"
#include "provision_commands.hpp"

int main(int argc, char** argv) {
  using namespace ironroot::cli;
  CLI::App app{"ironroot: secure boot, device identity and OTA updates for IoT fleets"};
  app.require_subcommand(1);
  app.fallthrough();  // global options may follow the verb: `ironroot image dumpinfo x --json`
  // As in imgtool, an option given twice takes its last value (build scripts append overrides).
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  Output out;
  app.add_flag("--json", out.json, "Print results as JSON, for scripts");
  add_logging_options(app, "ironroot");
  app.set_version_flag("--version", "ironroot 0.1.0");

  int exit_code = kExitOk;
  add_image_commands(app, out, exit_code);
  add_ca_commands(app, out, exit_code);
  add_broker_commands(app, out, exit_code);
  add_fleet_commands(app, out, exit_code);
  add_provision_commands(app, out, exit_code);
  add_jobs_commands(app, out, exit_code);
  add_ota_commands(app, out, exit_code);

  return run_command_line(app, argc, argv, exit_code);
}
