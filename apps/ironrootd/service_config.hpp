// ironrootd's configuration: a TOML file (ARCHITECTURE.md, "Conventions") with an embedded
// default, every value of which the command line can override.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "ironroot/core/result.hpp"

namespace ironroot::service {

struct ApiConfig {
  std::string bind = "127.0.0.1";  // the REST API listens on localhost by default
  std::uint16_t port = 8443;
};

struct BrokerConfig {
  // true: ironrootd writes the Mosquitto configuration into the data folder and runs Mosquitto
  // itself, restarting it when it dies.
  bool embedded = true;
  std::string mosquitto = "/usr/sbin/mosquitto";
  std::string bind = "127.0.0.1";
  std::uint16_t port = 8883;        // devices (mutual TLS); AWS's SDK demos hard-code 8883
  std::uint16_t fleet_port = 8884;  // the fleet service's own identity
  // Names the broker's certificate carries (devices check it against their endpoint); empty:
  // localhost, 127.0.0.1, ::1 and `bind`.
  std::vector<std::string> server_names;
  std::string user = "mosquitto";  // Mosquitto drops to this user when started as root
  // The ironroot broker plugin (ironroot-broker-plugin.so); empty: the one built with ironrootd.
  std::string plugin;
  std::string topic_prefix = "$aws";
};

struct CaConfig {
  std::string name = "ironroot";  // the CAs' organisation and the start of their CN
  unsigned device_validity_days = 365;
};

struct ServiceConfig {
  std::filesystem::path data_dir = "ironroot-data";
  ApiConfig api;
  BrokerConfig broker;
  CaConfig ca;
};

// The embedded default, as `ironrootd --print-default-config` prints it.
std::string_view default_config_text();

// Parses a configuration. Keys absent from `text` keep their defaults; unknown keys, wrong types
// and values out of range are refused, naming the key and its line ("broker.port (line 12): ...").
// `origin` names the text in messages (a file name).
Result<ServiceConfig> parse_service_config(std::string_view text, std::string_view origin);

// Checks a configuration after command-line overrides: ports 1 to 65535 and distinct, names and
// addresses well formed, a non-empty data folder path.
Status check_service_config(const ServiceConfig& config);

}  // namespace ironroot::service
