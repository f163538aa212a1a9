// A broker folder (docs/mqtt.md): everything Eclipse Mosquitto 2 needs to serve devices with
// mutual TLS, in one folder. Two listeners: devices (certificates of the device CA, checked
// against its CRL; CN = MQTT username; each confined to its own topics) and the fleet service
// (certificates of a fleet CA of its own). Shared by `ironroot broker init|run` and ironrootd,
// which runs Mosquitto itself.
//
// Error messages name the `ironroot broker init` option that an input came from (`--ca`,
// `--server-cert`, ...), so that the command can show them as they are.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "ironroot/core/result.hpp"
#include "ironroot/crypto/x509.hpp"
#include "ironroot/keystore/token_key.hpp"

namespace ironroot::mosquitto {

// The files of a broker folder. A folder is complete once mosquitto.conf exists (written last).
inline constexpr const char* kConfigFile = "mosquitto.conf";
inline constexpr const char* kDeviceCaFile = "ca-chain.crt";  // the devices' CA chain
inline constexpr const char* kCrlFile = "crl.pem";            // the device CA's CRL
inline constexpr const char* kServerCertFile = "server.crt";  // the broker's, with its chain
inline constexpr const char* kServerKeyFile = "server.key";   // mode 0640, group of `user`
inline constexpr const char* kFleetCaFile = "fleet-ca.crt";   // trusted on the fleet listener
inline constexpr const char* kFleetCertFile = "fleet.crt";    // the fleet identity, when issued
inline constexpr const char* kFleetKeyFile = "fleet.key";     // its key, mode 0600
inline constexpr const char* kDeviceAclFile = "devices.acl";  // absent with a plugin
inline constexpr const char* kDataDir = "data";               // Mosquitto's persistence
// With a plugin: the device listener's capath, a hashed certificate folder (`openssl rehash`
// layout) that OpenSSL reads at each handshake, so CAs written there are trusted at once.
inline constexpr const char* kTrustedCasDir = "trusted-cas";

// A Mosquitto plugin (mosquitto_plugin.h, version 5) loaded on both listeners, each with its own
// options: `plugin <library>` and one `plugin_opt_<key> <value>` line per option in each listener
// block. With a plugin, the device listener has no acl_file: the plugin decides what a device
// may do (and devices.acl is not written). It has no crlfile either (the registry's certificate
// status replaces it), and it also trusts the CAs in trusted-cas/ (write_trusted_cas).
struct BrokerPlugin {
  std::filesystem::path library;  // an existing file, absolute path
  // Keys: 1 to 64 of A-Za-z0-9_-. ; values: 1 to 1024 characters, no line break, no leading or
  // trailing space (Mosquitto's configuration syntax could not carry them).
  std::vector<std::pair<std::string, std::string>> device_options;
  std::vector<std::pair<std::string, std::string>> fleet_options;
};

// What `ironroot broker init` takes. The devices' CA is either `ca_dir`, an ironroot CA folder
// (its chain; it issues the CRL and the server certificate unless they are given, and records the
// server certificate), or `ca_cert` + `crl` + `server_cert` + `server_key`.
struct BrokerOptions {
  std::filesystem::path ca_dir;             // --ca
  std::filesystem::path ca_cert;            // --ca-cert: PEM chain
  std::filesystem::path crl;                // --crl: PEM, signed by a CA of the chain, not expired
  std::filesystem::path server_cert;        // --server-cert: PEM, the certificate first
  std::filesystem::path server_key;         // --server-key: unencrypted PEM
  std::vector<std::string> server_names;    // for a server certificate issued from ca_dir
  std::chrono::days server_validity{365};   // of the server and fleet certificates issued here
  std::chrono::hours crl_validity{7 * 24};  // nextUpdate of a CRL issued from ca_dir
  std::uint16_t port = 8883;                // the devices' listener
  std::uint16_t fleet_port = 8884;          // the fleet service's listener
  std::string bind = "127.0.0.1";           // an IP address, for both listeners
  // CA certificates trusted on the fleet listener (PEM). Empty: a fleet CA is made here, issues
  // the identity `fleet_identity` (fleet.crt, fleet.key) and its key is thrown away.
  std::filesystem::path fleet_ca;
  std::string fleet_identity = "ironroot-fleet";  // a thing name: the fleet's MQTT username
  std::string user = "mosquitto";                 // who Mosquitto switches to when started as root
  std::string topic_prefix = "$aws";              // devices may use <prefix>/things/<their CN>/#
  std::optional<BrokerPlugin> plugin;
  keystore::TokenOptions ca_token;  // how to reach the device CA key of ca_dir when in a token
};

// Checks `options` without reading any file: the combination of CA inputs, ports, bind address,
// server names, fleet identity, topic prefix, plugin, and the user (which must exist when this
// process is root). What it refuses is a usage error.
Status check_broker_options(const BrokerOptions& options);

// Refuses a broker folder path that mosquitto.conf could not hold (line breaks, trailing space).
Status check_broker_dir(const std::filesystem::path& dir);

// What init_broker_folder wrote.
struct BrokerFolder {
  std::filesystem::path dir;
  crypto::Certificate server_certificate;
  bool server_certificate_issued = false;  // from ca_dir, recorded in its ca.json
  crypto::Certificate device_ca;           // the first certificate of the devices' chain
  bool fleet_identity_issued = false;      // fleet.crt and fleet.key were written

  std::filesystem::path config_file() const { return dir / kConfigFile; }
  std::filesystem::path crl_file() const { return dir / kCrlFile; }
  std::filesystem::path server_certificate_file() const { return dir / kServerCertFile; }
  std::filesystem::path fleet_ca_file() const { return dir / kFleetCaFile; }
  std::filesystem::path fleet_certificate_file() const { return dir / kFleetCertFile; }
  std::filesystem::path fleet_key_file() const { return dir / kFleetKeyFile; }
};

// Writes a broker folder in `dir` (absolute; new or empty): mosquitto.conf, the TLS files, the
// devices' ACL, the data folder. Checks `options` first (check_broker_options), then every input
// (a CA chain of CA certificates; a CRL signed by it and not expired; a server certificate with
// serverAuth, not expired, matching its key), so that Mosquitto never starts with a configuration
// that would refuse every device. When this process is root and `user` is not, the data folder
// and the server key are handed to `user`, and the folder's parents must let it in. Fails
// changing nothing before the folder is created; a failure after that says the folder is
// incomplete and must be removed.
Result<BrokerFolder> init_broker_folder(const std::filesystem::path& dir,
                                        const BrokerOptions& options);

// mosquitto.conf for a folder at `dir` (absolute), written at `now`. Exposed for tests.
std::string render_mosquitto_conf(const std::filesystem::path& dir, const BrokerOptions& options,
                                  crypto::Time now);

// devices.acl: each device may use only <topic_prefix>/things/<its username>/# and
// things/<its username>/#.
std::string render_device_acl(const BrokerOptions& options);

// Makes trusted-cas/ of the broker folder `dir` hold exactly `cas`, as `<subject hash>.<n>` files
// (readable by all: certificates are public), so the device listener trusts them from its next
// handshake on. Files that already hold the right certificate are left alone; others are written
// atomically or removed. REQUIRES: a folder written with a plugin. Fails, saying which file, when
// one cannot be written or removed.
Status write_trusted_cas(const std::filesystem::path& dir,
                         std::span<const crypto::Certificate> cas);

// What would make Mosquitto start but refuse every device, checked before it starts: `dir` must
// hold mosquitto.conf, a CRL that has not passed its nextUpdate (when the configuration uses one),
// and a server certificate that has not expired.
Status check_broker_folder(const std::filesystem::path& dir);

// The mosquitto executable: `given` when not empty (it must be executable), else the first
// `mosquitto` on $PATH, else /usr/sbin/mosquitto (Debian's).
Result<std::string> find_mosquitto(const std::string& given);

}  // namespace ironroot::mosquitto
