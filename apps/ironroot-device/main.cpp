// ironroot-device: the device simulator. A device is a folder (flash.bin, otp.bin, device.json);
// `run` is its power switch.
#include <CLI/CLI.hpp>

#include "commands.hpp"
#include "logging.hpp"
#include "output.hpp"

int main(int argc, char** argv) {
  using namespace ironroot::cli;
  CLI::App app{
      "ironroot-device: a simulated device with two-stage secure boot on NOR flash and OTP fuses"};
  app.footer(
      "Exit codes: 0 success (run: the firmware powered off), 1 failure (run: the device halted), "
      "2 usage error, 3 simulated power cut, 4 run reached --max-boots.");
  app.require_subcommand(1);
  app.fallthrough();  // global options may follow the verb: `ironroot-device status --json`
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  Output out;
  app.add_flag("--json", out.json, "Print results as JSON, for scripts");
  add_logging_options(app, "ironroot-device");
  app.set_version_flag("--version", "ironroot-device 0.1.0");

  int exit_code = kExitOk;
  add_init_command(app, out, exit_code);
  add_run_command(app, out, exit_code);
  add_status_command(app, out, exit_code);
  add_stage_command(app, out, exit_code);
  add_revoke_key_command(app, out, exit_code);
  add_identity_command(app, out, exit_code);

  return run_command_line(app, argc, argv, exit_code);
}
