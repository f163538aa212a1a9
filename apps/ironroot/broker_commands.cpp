#include "broker_commands.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "ironroot/crypto/x509.hpp"
#include "ironroot/mosquitto/broker_folder.hpp"

namespace ironroot::cli {

namespace {

namespace fs = std::filesystem;
using mosquitto::BrokerOptions;
using mosquitto::kConfigFile;
using mosquitto::kCrlFile;
using mosquitto::kFleetCaFile;
using mosquitto::kFleetCertFile;
using mosquitto::kFleetKeyFile;
using mosquitto::kServerCertFile;

constexpr long kMaxDays = 36500;
constexpr long kDefaultServerDays = 365;
constexpr long kDefaultCrlHours = 7 * 24;
constexpr long kMaxCrlHours = 366 * 24;

struct InitArgs {
  std::string dir;
  std::string ca_dir;
  std::string ca_cert;
  std::string crl;
  std::string server_cert;
  std::string server_key;
  std::vector<std::string> server_names;
  long server_days = kDefaultServerDays;
  long crl_hours = kDefaultCrlHours;
  int port = 8883;
  int fleet_port = 8884;
  std::string bind = "127.0.0.1";
  std::string fleet_ca;
  std::string fleet_identity = "ironroot-fleet";
  std::string user = "mosquitto";
  std::string topic_prefix = "$aws";
};

BrokerOptions broker_options(const InitArgs& a) {
  BrokerOptions o;
  o.ca_dir = a.ca_dir;
  o.ca_cert = a.ca_cert;
  o.crl = a.crl;
  o.server_cert = a.server_cert;
  o.server_key = a.server_key;
  o.server_names = a.server_names;
  o.server_validity = std::chrono::days{a.server_days};
  o.crl_validity = std::chrono::hours{a.crl_hours};
  o.port = static_cast<std::uint16_t>(a.port);
  o.fleet_port = static_cast<std::uint16_t>(a.fleet_port);
  o.bind = a.bind;
  o.fleet_ca = a.fleet_ca;
  o.fleet_identity = a.fleet_identity;
  o.user = a.user;
  o.topic_prefix = a.topic_prefix;
  return o;
}

void add_init(CLI::App& broker, const Output& out, int& exit_code) {
  auto a = std::make_shared<InitArgs>();
  auto* cmd = broker.add_subcommand(
      "init", "Write a Mosquitto 2 configuration for devices with mutual TLS into a folder");
  cmd->add_option("--dir", a->dir, "Broker folder to create (new or empty)")->required();
  auto* ca = cmd->add_option("--ca", a->ca_dir,
                             "The devices' CA: an `ironroot ca` folder (its chain; it issues the "
                             "CRL and the server certificate unless given)");
  cmd->add_option("--ca-cert", a->ca_cert, "The devices' CA chain as a PEM file, instead of --ca")
      ->excludes(ca);
  cmd->add_option("--crl", a->crl, "The device CA's CRL (PEM); required with --ca-cert");
  cmd->add_option("--server-cert", a->server_cert,
                  "The broker's TLS certificate (PEM, with its chain); default: issued from --ca");
  cmd->add_option("--server-key", a->server_key, "Its unencrypted PEM key");
  cmd->add_option("--server-name", a->server_names,
                  "A DNS name or IP address devices reach the broker by, for the certificate "
                  "issued here (repeatable; default: localhost, 127.0.0.1, ::1 and --bind)");
  cmd->add_option("--server-days", a->server_days,
                  "Validity of the server and fleet certificates issued here, in days")
      ->check(CLI::Range(1L, kMaxDays))
      ->capture_default_str();
  cmd->add_option("--crl-hours", a->crl_hours, "nextUpdate of the CRL issued from --ca, in hours")
      ->check(CLI::Range(1L, kMaxCrlHours))
      ->capture_default_str();
  cmd->add_option("--port", a->port, "The devices' mTLS listener")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  cmd->add_option("--fleet-port", a->fleet_port, "The fleet service's mTLS listener")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  cmd->add_option("--bind", a->bind, "Address both listeners bind to (0.0.0.0: every interface)")
      ->capture_default_str();
  cmd->add_option("--fleet-ca", a->fleet_ca,
                  "CA certificate(s) of the fleet service's identity (PEM); default: a fleet CA "
                  "made here, which issues fleet.crt and fleet.key")
      ->check(CLI::ExistingFile);
  cmd->add_option("--fleet-identity", a->fleet_identity,
                  "CN of the fleet identity issued here (its MQTT username)")
      ->capture_default_str();
  cmd->add_option("--user", a->user,
                  "User Mosquitto switches to when started as root; the folder's secrets are "
                  "made readable to it")
      ->capture_default_str();
  cmd->add_option("--topic-prefix", a->topic_prefix,
                  "First topic level of device topics: devices may use only "
                  "<prefix>/things/<their CN>/#")
      ->capture_default_str();
  cmd->callback([a, &out, &exit_code] {
    const BrokerOptions options = broker_options(*a);
    if (auto ok = mosquitto::check_broker_options(options); !ok) {
      exit_code = out.usage_error(ok.error().message);
      return;
    }
    std::error_code ec;
    fs::path dir = fs::absolute(a->dir, ec);
    if (ec) {
      exit_code = out.failure("cannot resolve " + a->dir + ": " + ec.message());
      return;
    }
    dir = dir.lexically_normal();
    if (dir.has_filename() == false) dir = dir.parent_path();
    if (auto ok = mosquitto::check_broker_dir(dir); !ok) {
      exit_code = out.usage_error(ok.error().message);
      return;
    }
    auto folder = mosquitto::init_broker_folder(dir, options);
    if (!folder) {
      exit_code = out.failure(folder.error().message);
      return;
    }
    const crypto::Certificate& server = folder->server_certificate;
    if (folder->server_certificate_issued) {
      spdlog::info("issued server certificate {} serial {} until {}", server.subject(),
                   server.serial_hex(), crypto::format_time(server.not_after()));
    }
    spdlog::info("wrote broker configuration {} (devices on {}:{}, fleet on {}:{})",
                 (dir / kConfigFile).string(), a->bind, a->port, a->bind, a->fleet_port);
    nlohmann::json doc = {{"dir", dir.string()},
                          {"config", (dir / kConfigFile).string()},
                          {"bind", a->bind},
                          {"port", a->port},
                          {"fleet_port", a->fleet_port},
                          {"user", a->user},
                          {"server_certificate", (dir / kServerCertFile).string()},
                          {"server_subject", server.subject()},
                          {"server_not_after", crypto::format_time(server.not_after())},
                          {"crl", (dir / kCrlFile).string()},
                          {"fleet_ca", (dir / kFleetCaFile).string()}};
    std::string text_out = "wrote " + (dir / kConfigFile).string() + "\ndevices: mTLS on " +
                           a->bind + ":" + std::to_string(a->port) + " (CA " +
                           folder->device_ca.subject() + ", CRL " + kCrlFile +
                           ")\nfleet:   mTLS on " + a->bind + ":" + std::to_string(a->fleet_port);
    if (folder->fleet_identity_issued) {
      doc["fleet_certificate"] = (dir / kFleetCertFile).string();
      doc["fleet_key"] = (dir / kFleetKeyFile).string();
      text_out += " (identity " + (dir / kFleetCertFile).string() + ", key " +
                  (dir / kFleetKeyFile).string() + ")";
    }
    text_out += "\nrun it with: ironroot broker run --dir " + a->dir;
    out.result(text_out, doc);
    exit_code = kExitOk;
  });
}

// ---- run ------------------------------------------------------------------------------------

void add_run(CLI::App& broker, const Output& out, int& exit_code) {
  struct Args {
    std::string dir;
    std::string mosquitto;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = broker.add_subcommand(
      "run",
      "Run Mosquitto with a broker folder's configuration, in the foreground (SIGTERM stops "
      "it)");
  cmd->add_option("--dir", a->dir, "Broker folder (from `broker init`)")->required();
  cmd->add_option("--mosquitto", a->mosquitto, "The mosquitto executable (default: from PATH)");
  cmd->callback([a, &out, &exit_code] {
    std::error_code ec;
    fs::path dir = fs::absolute(a->dir, ec).lexically_normal();
    if (auto ok = mosquitto::check_broker_folder(dir); !ok) {
      exit_code = out.failure(ok.error().message);
      return;
    }
    auto executable = mosquitto::find_mosquitto(a->mosquitto);
    if (!executable) {
      exit_code = out.failure(executable.error().message);
      return;
    }
    const std::string config = (dir / kConfigFile).string();
    spdlog::info("running {} -c {}", *executable, config);
    std::cout.flush();
    std::cerr.flush();
    // exec: Mosquitto becomes this process, so that a supervisor's SIGTERM reaches it directly
    // and its exit status is the command's.
    std::vector<std::string> args{*executable, "-c", config};
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    exit_code = out.failure("cannot run " + *executable + ": " + std::strerror(errno));
  });
}

}  // namespace

void add_broker_commands(CLI::App& app, const Output& out, int& exit_code) {
  auto* broker = app.add_subcommand("broker", "MQTT broker (Mosquitto 2) for devices with mTLS");
  broker->require_subcommand(1);
  add_init(*broker, out, exit_code);
  add_run(*broker, out, exit_code);
}

}  // namespace ironroot::cli
