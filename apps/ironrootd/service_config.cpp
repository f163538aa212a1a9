#include "service_config.hpp"

#include <toml++/toml.h>

#include <set>

#include "ironroot/crypto/certificate_authority.hpp"

namespace ironroot::service {

namespace {

constexpr std::string_view kDefaultConfig =
    R"(# ironrootd configuration. Every key is optional; these are the defaults.

# The folder that holds all of ironrootd's state: the registry (SQLite), the CA, the broker's
# configuration and the operator API token.
data_dir = "ironroot-data"

[api]
# The REST API for operators (the `ironroot` CLI). Localhost only unless you put TLS in front.
bind = "127.0.0.1"
port = 8443

[broker]
# Run Mosquitto as part of ironrootd, with a configuration written into the data folder.
embedded = true
mosquitto = "/usr/sbin/mosquitto"
bind = "127.0.0.1"
# Devices connect here with mutual TLS; AWS's SDK demos hard-code 8883.
port = 8883
# ironrootd's own connection, with the fleet identity.
fleet_port = 8884
# Names in the broker's certificate, which devices check against their endpoint.
# Empty: localhost, 127.0.0.1, ::1 and bind.
server_names = []
# Mosquitto drops to this user when started as root.
user = "mosquitto"
# The ironroot broker plugin, which authorizes every device against the registry.
# Empty: the one built with ironrootd.
plugin = ""
topic_prefix = "$aws"

[ca]
# The CAs' organisation name.
name = "ironroot"
device_validity_days = 365

[streams]
# The MQTT file streams that serve firmware to devices (docs/ota-streams.md). Per MQTT client:
# GetStream and DescribeStream requests, a burst that refills at a rate...
requests_per_minute = 1200
request_burst = 60
# ...and block bytes, likewise (the burst is at least 131072, one GetStream's most).
# A request over either limit is dropped and logged; the device asks again later.
bytes_per_second = 1048576
burst_bytes = 2097152
# Firmware images kept open for streaming (each hashed once when opened).
open_streams = 16

[download]
# HTTPS downloads of firmware images for OTA jobs (docs/ota-download.md), the second data plane
# beside the MQTT file streams: mutual TLS with the broker's server certificate, admitting only
# device certificates of the broker's trusted CAs. Needs the embedded broker.
enabled = true
# Empty: broker.bind.
bind = ""
port = 8885
# The base URL devices reach this listener at, which OTA job documents name:
# update_data_url = <url>/ota/streams/<stream>. Empty: https://<first broker server name>:<port>.
url = ""
# Downloads served at once; more wait for a free worker.
workers = 16
# Per client certificate: requests, a burst that refills at a rate (over it: 429)...
requests_per_minute = 1200
request_burst = 60
# ...and bytes sent, likewise (over it, a download is slowed down, not refused).
bytes_per_second = 1048576
burst_bytes = 2097152
# Firmware images kept open for downloads (each hashed once when opened).
open_images = 16
)";

std::string where(const toml::node& node, std::string_view key, std::string_view origin) {
  return std::string(origin) + ": " + std::string(key) + " (line " +
         std::to_string(node.source().begin.line) + ")";
}

// Reads one table's keys into `fields`, refusing keys it does not know.
class TableReader {
 public:
  TableReader(const toml::table& table, std::string prefix, std::string_view origin)
      : table_(table), prefix_(std::move(prefix)), origin_(origin) {}

  Status string(std::string_view key, std::string& value) {
    return read(key, [&](const toml::node& n) -> Status {
      if (!n.is_string()) return fail(where(n, name(key), origin_) + " must be a string");
      value = *n.value<std::string>();
      return {};
    });
  }
  Status boolean(std::string_view key, bool& value) {
    return read(key, [&](const toml::node& n) -> Status {
      if (!n.is_boolean()) return fail(where(n, name(key), origin_) + " must be true or false");
      value = *n.value<bool>();
      return {};
    });
  }
  template <class Int>
  Status integer(std::string_view key, Int& value, std::int64_t min, std::int64_t max) {
    return read(key, [&](const toml::node& n) -> Status {
      if (!n.is_integer()) return fail(where(n, name(key), origin_) + " must be a whole number");
      const std::int64_t v = *n.value<std::int64_t>();
      if (v < min || v > max) {
        return fail(where(n, name(key), origin_) + " must be " + std::to_string(min) + " to " +
                    std::to_string(max) + ", not " + std::to_string(v));
      }
      value = static_cast<Int>(v);
      return {};
    });
  }
  Status strings(std::string_view key, std::vector<std::string>& value) {
    return read(key, [&](const toml::node& n) -> Status {
      const toml::array* array = n.as_array();
      if (array == nullptr) return fail(where(n, name(key), origin_) + " must be an array");
      value.clear();
      for (const toml::node& item : *array) {
        if (!item.is_string()) {
          return fail(where(item, name(key), origin_) + " must hold strings only");
        }
        value.push_back(*item.value<std::string>());
      }
      return {};
    });
  }
  // Fails on any key of the table that no call above asked for.
  Status no_unknown_keys() const {
    for (const auto& [key, node] : table_) {
      if (node.is_table()) continue;  // sections are checked by their own reader
      if (!known_.contains(std::string(key.str()))) {
        return fail(where(node, name(key.str()), origin_) +
                    " is not a known key; see `ironrootd --print-default-config`");
      }
    }
    return {};
  }

 private:
  std::string name(std::string_view key) const {
    return prefix_.empty() ? std::string(key) : prefix_ + "." + std::string(key);
  }
  template <class F>
  Status read(std::string_view key, F&& f) {
    known_.insert(std::string(key));
    const toml::node* node = table_.get(key);
    return node == nullptr ? Status{} : f(*node);
  }

  const toml::table& table_;
  std::string prefix_;
  std::string_view origin_;
  std::set<std::string> known_;
};

constexpr std::int64_t kMaxPort = 65535;

Status read_api(const toml::table& t, std::string_view origin, ApiConfig& api) {
  TableReader r(t, "api", origin);
  for (Status s : {r.string("bind", api.bind), r.integer("port", api.port, 1, kMaxPort)}) {
    if (!s) return s;
  }
  return r.no_unknown_keys();
}

Status read_broker(const toml::table& t, std::string_view origin, BrokerConfig& b) {
  TableReader r(t, "broker", origin);
  for (Status s : {r.boolean("embedded", b.embedded), r.string("mosquitto", b.mosquitto),
                   r.string("bind", b.bind), r.integer("port", b.port, 1, kMaxPort),
                   r.integer("fleet_port", b.fleet_port, 1, kMaxPort),
                   r.strings("server_names", b.server_names), r.string("user", b.user),
                   r.string("topic_prefix", b.topic_prefix), r.string("plugin", b.plugin)}) {
    if (!s) return s;
  }
  return r.no_unknown_keys();
}

Status read_ca(const toml::table& t, std::string_view origin, CaConfig& ca) {
  TableReader r(t, "ca", origin);
  for (Status s : {r.string("name", ca.name),
                   r.integer("device_validity_days", ca.device_validity_days, 1, 36500)}) {
    if (!s) return s;
  }
  return r.no_unknown_keys();
}

Status read_streams(const toml::table& t, std::string_view origin, StreamsConfig& st) {
  constexpr std::int64_t kMaxRate = 1'000'000'000;
  TableReader r(t, "streams", origin);
  for (Status s :
       {r.integer("requests_per_minute", st.requests_per_minute, 1, kMaxRate),
        r.integer("request_burst", st.request_burst, 1, kMaxRate),
        r.integer("bytes_per_second", st.bytes_per_second, 1, std::int64_t{1} << 40),
        r.integer("burst_bytes", st.burst_bytes, kMinStreamBurstBytes, std::int64_t{1} << 40),
        r.integer("open_streams", st.open_streams, 1, 1024)}) {
    if (!s) return s;
  }
  return r.no_unknown_keys();
}

Status read_download(const toml::table& t, std::string_view origin, DownloadConfig& d) {
  constexpr std::int64_t kMaxRate = 1'000'000'000;
  TableReader r(t, "download", origin);
  for (Status s :
       {r.boolean("enabled", d.enabled), r.string("bind", d.bind),
        r.integer("port", d.port, 1, kMaxPort), r.string("url", d.url),
        r.integer("workers", d.workers, 1, 1024),
        r.integer("requests_per_minute", d.requests_per_minute, 1, kMaxRate),
        r.integer("request_burst", d.request_burst, 1, kMaxRate),
        r.integer("bytes_per_second", d.bytes_per_second, 1, std::int64_t{1} << 40),
        r.integer("burst_bytes", d.burst_bytes, kMinDownloadBurstBytes, std::int64_t{1} << 40),
        r.integer("open_images", d.open_images, 1, 1024)}) {
    if (!s) return s;
  }
  return r.no_unknown_keys();
}

// The longest download.url: room for "/ota/streams/<43 characters>" within the 1500 bytes of
// update_data_url that AWS's OTA agent holds (OTA_REQUEST_URL_MAX_SIZE).
constexpr std::size_t kMaxDownloadUrlSize = 1400;

Status check_download_url(std::string_view url) {
  if (!url.starts_with("https://") || url.size() == std::string_view("https://").size()) {
    return fail("download.url must be an https:// URL, not '" + std::string(url) + "'");
  }
  if (url.size() > kMaxDownloadUrlSize) {
    return fail("download.url is " + std::to_string(url.size()) + " bytes; at most " +
                std::to_string(kMaxDownloadUrlSize));
  }
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f || c == '?' || c == '#') {
      return fail("download.url must not hold spaces, control characters, '?' or '#'");
    }
  }
  return {};
}

}  // namespace

std::string download_bind(const ServiceConfig& config) {
  return config.download.bind.empty() ? config.broker.bind : config.download.bind;
}

std::string download_base_url(const ServiceConfig& config) {
  std::string url = config.download.url;
  if (url.empty()) {
    std::string host =
        config.broker.server_names.empty() ? "localhost" : config.broker.server_names.front();
    if (host.find(':') != std::string::npos) host = "[" + host + "]";  // an IPv6 address
    url = "https://" + host + ":" + std::to_string(config.download.port);
  }
  while (url.ends_with('/')) url.pop_back();
  return url;
}

std::string_view default_config_text() {
  return kDefaultConfig;
}

Result<ServiceConfig> parse_service_config(std::string_view text, std::string_view origin) {
  toml::table root;
  try {
    root = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    return fail(std::string(origin) + " (line " + std::to_string(e.source().begin.line) +
                "): " + std::string(e.description()));
  }
  ServiceConfig config;
  std::string data_dir = config.data_dir.string();
  TableReader top(root, "", origin);
  if (auto ok = top.string("data_dir", data_dir); !ok) return tl::unexpected(ok.error());
  config.data_dir = data_dir;
  for (const auto& [key, node] : root) {
    const std::string name(key.str());
    if (!node.is_table()) continue;
    const toml::table& table = *node.as_table();
    Status read = name == "api"        ? read_api(table, origin, config.api)
                  : name == "broker"   ? read_broker(table, origin, config.broker)
                  : name == "ca"       ? read_ca(table, origin, config.ca)
                  : name == "streams"  ? read_streams(table, origin, config.streams)
                  : name == "download" ? read_download(table, origin, config.download)
                                       : fail(where(node, "[" + name + "]", origin) +
                                              " is not a known section (api, broker, ca, streams, "
                                              "download)");
    if (!read) return tl::unexpected(read.error());
  }
  if (auto ok = top.no_unknown_keys(); !ok) return tl::unexpected(ok.error());
  return config;
}

Status check_service_config(const ServiceConfig& c) {
  if (c.data_dir.empty()) return fail("data_dir is empty");
  for (auto [key, value] : {std::pair{"api.bind", &c.api.bind}, {"broker.bind", &c.broker.bind}}) {
    if (auto ok = crypto::check_server_name(*value); !ok) {
      return prefixed(ok.error(), key);
    }
  }
  for (const std::string& name : c.broker.server_names) {
    if (auto ok = crypto::check_server_name(name); !ok) {
      return prefixed(ok.error(), "broker.server_names");
    }
  }
  if (c.broker.embedded && c.broker.port == c.broker.fleet_port) {
    return fail("broker.port and broker.fleet_port are both " + std::to_string(c.broker.port));
  }
  if (c.broker.embedded && c.api.bind == c.broker.bind &&
      (c.api.port == c.broker.port || c.api.port == c.broker.fleet_port)) {
    return fail("api.port " + std::to_string(c.api.port) + " is also a broker port");
  }
  if (c.ca.name.empty()) return fail("ca.name is empty");
  if (c.download.enabled) {
    if (!c.download.bind.empty()) {
      if (auto ok = crypto::check_server_name(c.download.bind); !ok) {
        return prefixed(ok.error(), "download.bind");
      }
    }
    if (!c.download.url.empty()) {
      if (auto ok = check_download_url(c.download.url); !ok) return ok;
    }
    const std::string bind = download_bind(c);
    const std::uint16_t port = c.download.port;
    if (bind == c.api.bind && port == c.api.port) {
      return fail("download.port " + std::to_string(port) + " is also api.port");
    }
    if (c.broker.embedded && bind == c.broker.bind &&
        (port == c.broker.port || port == c.broker.fleet_port)) {
      return fail("download.port " + std::to_string(port) + " is also a broker port");
    }
  }
  return {};
}

}  // namespace ironroot::service
