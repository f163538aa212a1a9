// ironroot: the operator command line. `ironroot <noun> <verb> [options]`.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "image_commands.hpp"
#include "output.hpp"

int main(int argc, char** argv) {
  using namespace ironroot::cli;
  CLI::App app{"ironroot: secure boot, device identity and OTA updates for IoT fleets"};
  app.require_subcommand(1);
  app.fallthrough();  // global options may follow the verb: `ironroot image dumpinfo x --json`
  // As in imgtool, an option given twice takes its last value (build scripts append overrides).
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  Output out;
  std::string log_level = "warn";
  std::string log_format = "text";
  app.add_flag("--json", out.json, "Print results as JSON, for scripts");
  app.add_option("--log-level", log_level, "Log verbosity")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str();
  app.add_option("--log-format", log_format, "Log line format")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app.set_version_flag("--version", "ironroot 0.1.0");

  int exit_code = kExitOk;
  add_image_commands(app, out, exit_code);

  // Logs go to stderr, so that stdout carries only results.
  app.parse_complete_callback([&] {
    auto logger = spdlog::stderr_color_st("ironroot");
    logger->set_level(spdlog::level::from_str(log_level));
    if (log_format == "json") {
      logger->set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","message":"%v"})");
    } else {
      logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %l: %v");
    }
    spdlog::set_default_logger(logger);
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);  // --help, --version
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }
  return exit_code;
}
