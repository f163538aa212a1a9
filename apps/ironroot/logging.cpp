#include "logging.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <memory>

namespace ironroot::cli {

void add_logging_options(CLI::App& app, const std::string& name, const std::string& default_level) {
  struct Options {
    std::string level;
    std::string format = "text";
  };
  auto options = std::make_shared<Options>();
  options->level = default_level;
  app.add_option("--log-level", options->level, "Log verbosity")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str();
  app.add_option("--log-format", options->format, "Log line format")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app.parse_complete_callback([options, name] {
    auto logger = spdlog::stderr_color_mt(name);
    logger->set_level(spdlog::level::from_str(options->level));
    if (options->format == "json") {
      logger->set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","message":"%v"})");
    } else {
      logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %l: %v");
    }
    spdlog::set_default_logger(logger);
  });
}

}  // namespace ironroot::cli
