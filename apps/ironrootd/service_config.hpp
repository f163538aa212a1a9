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

// What one client may ask of a firmware download service: requests, a bucket of
// `request_burst` that refills at `requests_per_minute`; and bytes sent, a bucket of
// `burst_bytes` that refills at `bytes_per_second` (StreamThrottle).
struct ClientLimits {
  std::uint32_t requests_per_minute = 1200;
  std::uint32_t request_burst = 60;
  std::uint64_t bytes_per_second = 1024 * 1024;
  std::uint64_t burst_bytes = 2 * 1024 * 1024;
};

// The MQTT file streams that serve firmware images to devices (docs/ota-streams.md): what one
// client (MQTT client id) may ask of them, and how many images stay open. A request over a limit
// is dropped (logged, no reply): the device asks again when its block timer fires.
// The smallest streams.burst_bytes: the most block bytes one GetStream is answered with
// (protocol::kMaxBytesPerGetStream, which streams_api.cpp checks it against).
inline constexpr std::uint64_t kMinStreamBurstBytes = 131072;

// Requests are GetStream and DescribeStream; bytes are block bytes (burst_bytes at least
// kMinStreamBurstBytes).
struct StreamsConfig : ClientLimits {
  // Firmware images kept open (each checked once against its SHA-256 when opened), the least
  // recently used closed first.
  std::uint32_t open_streams = 16;
};

// The HTTPS firmware downloads (docs/ota-download.md): a listener with the broker's server
// certificate that admits only clients whose certificate chains to the devices' CAs, and serves
// /ota/... byte ranges of the firmware images to devices with a pending OTA job for them.
// Requests over a client's (certificate's) request limit are answered 429; bytes over its byte
// limit are paced, not refused. The smallest download.burst_bytes: one chunk of a download.
inline constexpr std::uint64_t kMinDownloadBurstBytes = 4096;

struct DownloadConfig : ClientLimits {
  // Needs the embedded broker (its TLS files and trusted CAs); off without it.
  bool enabled = true;
  std::string bind;  // an IP address; empty: broker.bind
  std::uint16_t port = 8885;
  // The public base URL that OTA job documents name (their update_data_url is
  // <url>/ota/streams/<stream>); empty: https://<first broker server name>:<port>.
  std::string url;
  std::uint32_t workers = 16;      // downloads served at once; more wait for a worker
  std::uint32_t open_images = 16;  // as streams.open_streams
};

struct ServiceConfig {
  std::filesystem::path data_dir = "ironroot-data";
  ApiConfig api;
  BrokerConfig broker;
  CaConfig ca;
  StreamsConfig streams;
  DownloadConfig download;
};

// Where the download listener binds: download.bind, or broker.bind when that is empty.
std::string download_bind(const ServiceConfig& config);
// download.url, or https://<first of broker.server_names, else localhost>:<download.port>; an
// IPv6 address in brackets. No trailing slash.
std::string download_base_url(const ServiceConfig& config);

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
