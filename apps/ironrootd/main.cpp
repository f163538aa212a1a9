// ironrootd: the fleet service. It keeps the registry and the CA in its data folder, runs the
// embedded Mosquitto, connects to it as the fleet's own identity, and serves the REST API that
// the `ironroot` CLI uses. SIGTERM or SIGINT stop it cleanly; every acknowledged change is in the
// registry (SQLite, synchronous=FULL) before it is acknowledged, so kill -9 loses nothing.
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "fleet_service.hpp"
#include "ironroot/core/file.hpp"
#include "logging.hpp"
#include "service_config.hpp"

namespace {

using namespace ironroot;

constexpr std::uintmax_t kMaxConfigSize = 1024 * 1024;

struct Overrides {
  std::string config_file;
  std::string data_dir;
  std::optional<std::uint16_t> api_port;
  std::optional<std::uint16_t> broker_port;
  std::optional<std::uint16_t> fleet_port;
  std::optional<std::uint16_t> download_port;
  bool no_broker = false;
};

Result<service::ServiceConfig> load_config(const Overrides& o) {
  std::string text(service::default_config_text());
  std::string origin = "the default configuration";
  if (!o.config_file.empty()) {
    auto data = read_file(o.config_file, kMaxConfigSize);
    if (!data) return prefixed(data.error(), "--config " + o.config_file);
    text = std::string(as_chars(*data));
    origin = o.config_file;
  }
  auto config = service::parse_service_config(text, origin);
  if (!config) return config;
  if (!o.data_dir.empty()) config->data_dir = o.data_dir;
  if (o.api_port) config->api.port = *o.api_port;
  if (o.broker_port) config->broker.port = *o.broker_port;
  if (o.fleet_port) config->broker.fleet_port = *o.fleet_port;
  if (o.download_port) config->download.port = *o.download_port;
  if (o.no_broker) config->broker.embedded = false;
  if (auto ok = service::check_service_config(*config); !ok) return tl::unexpected(ok.error());
  return config;
}

// Every device connection is an open file of the embedded broker, which inherits this process's
// limits: the usual soft limit of 1024 would cap the fleet at about a thousand devices. Raises it
// to the hard limit (the administrator's ceiling; systemd's LimitNOFILE sets both).
void raise_open_file_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  const rlim_t before = limit.rlim_cur;
  limit.rlim_cur = limit.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    spdlog::warn("cannot raise the open-file limit from {}: the broker serves fewer devices",
                 before);
    return;
  }
  spdlog::info("open-file limit raised from {} to {} (device connections)", before, limit.rlim_cur);
}

int serve(const Overrides& overrides) {
  auto config = load_config(overrides);
  if (!config) {
    std::cerr << "error: " << config.error().message << "\n";
    return 2;
  }
  // Signals are taken by this thread alone, with sigwait, so every thread started below
  // inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  raise_open_file_limit();

  auto service = service::FleetService::start(*config);
  if (!service) {
    spdlog::error("cannot start: {}", service.error().message);
    std::cerr << "error: " << service.error().message << "\n";
    return 1;
  }
  spdlog::info("ironrootd is running");
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  spdlog::info("{}: stopping", signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
  (*service)->stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ironrootd: the ironroot fleet service (registry, CA, embedded broker, REST API)"};
  app.footer("Exit codes: 0 stopped by SIGTERM/SIGINT, 1 could not start, 2 bad configuration.");
  Overrides o;
  bool print_default = false;
  app.add_flag("--print-default-config", print_default,
               "Print the embedded default configuration (TOML) and exit");
  app.add_option("-c,--config", o.config_file,
                 "Configuration file (TOML); default: the embedded one");
  app.add_option("--data-dir", o.data_dir, "Data folder (overrides data_dir)");
  app.add_option("--api-port", o.api_port, "REST API port (overrides api.port)");
  app.add_option("--broker-port", o.broker_port, "Device MQTT port (overrides broker.port)");
  app.add_option("--fleet-port", o.fleet_port, "Fleet MQTT port (overrides broker.fleet_port)");
  app.add_option("--download-port", o.download_port,
                 "HTTPS firmware download port (overrides download.port)");
  app.add_flag("--no-broker", o.no_broker,
               "Do not run the embedded broker (broker.embedded false)");
  cli::add_logging_options(app, "ironrootd", "info");  // a service says what it does
  app.set_version_flag("--version", "ironrootd 0.1.0");
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
  if (print_default) {
    std::cout << service::default_config_text();
    return 0;
  }
  return serve(o);
}
