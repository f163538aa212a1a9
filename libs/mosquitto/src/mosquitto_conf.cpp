// mosquitto.conf and devices.acl.
#include <sstream>

#include "ironroot/mosquitto/broker_folder.hpp"

namespace ironroot::mosquitto {

namespace {

namespace fs = std::filesystem;

using PluginOptions = std::vector<std::pair<std::string, std::string>>;

struct Listener {
  const char* comment;
  std::uint16_t port;
  const char* cafile;
  bool with_crl;
  bool with_acl;
  bool with_trusted_cas;                // capath: the registered CAs the fleet service keeps there
  const PluginOptions* plugin_options;  // with a plugin
};

std::string listener_block(const Listener& l, const BrokerOptions& a, const fs::path& dir) {
  std::ostringstream out;
  out << "\n# " << l.comment << "\n"
      << "listener " << l.port << " " << a.bind << "\n"
      << "protocol mqtt\n"
      << "cafile " << (dir / l.cafile).string() << "\n";
  if (l.with_trusted_cas) out << "capath " << (dir / kTrustedCasDir).string() << "\n";
  if (l.with_crl) out << "crlfile " << (dir / kCrlFile).string() << "\n";
  out << "certfile " << (dir / kServerCertFile).string() << "\n"
      << "keyfile " << (dir / kServerKeyFile).string() << "\n"
      << "tls_version tlsv1.2\n"
      << "require_certificate true\n";
  if (a.plugin && l.with_acl) {
    // The plugin identifies a device by its certificate and checks iot:Connect at CONNECT
    // (MOSQ_EVT_BASIC_AUTH, which use_identity_as_username would skip): docs/broker-plugin.md.
  } else {
    out << "use_identity_as_username true\n"
        << "allow_anonymous false\n";
  }
  if (a.plugin) {
    // per_listener_settings true: the plugin and its options belong to the listener above.
    out << "plugin " << a.plugin->library.string() << "\n";
    for (const auto& [key, value] : *l.plugin_options) {
      out << "plugin_opt_" << key << " " << value << "\n";
    }
  } else if (l.with_acl) {
    out << "acl_file " << (dir / kDeviceAclFile).string() << "\n";
  }
  return out.str();
}

}  // namespace

std::string render_mosquitto_conf(const fs::path& dir, const BrokerOptions& a, crypto::Time now) {
  const PluginOptions none;
  // With the plugin, the registry decides: a certificate must be registered and ACTIVE (so a
  // revoked one is refused without a CRL), and devices of the other CAs registered with the fleet
  // service (kept in trusted-cas/) connect too. A CRL would refuse all of those: OpenSSL's CRL
  // check wants a CRL from every issuer.
  const Listener devices{
      a.plugin ? "Devices: mutual TLS with certificates of the device CA or of a CA registered\n"
                 "# with the fleet service (trusted-cas/, read at each handshake); the plugin\n"
                 "# admits only certificates the registry holds ACTIVE."
               : "Devices: mutual TLS with the device CA's certificates, checked against the CRL;\n"
                 "# the certificate's CN (the thing name) is the MQTT username.",
      a.port,
      kDeviceCaFile,
      !a.plugin,
      true,
      a.plugin.has_value(),
      a.plugin ? &a.plugin->device_options : &none};
  const Listener fleet{
      "The fleet service: mutual TLS with certificates of the fleet CA only; no topic\n"
      "# restrictions.",
      a.fleet_port,
      kFleetCaFile,
      false,
      false,
      false,
      a.plugin ? &a.plugin->fleet_options : &none};
  std::ostringstream out;
  out << "# Mosquitto 2 configuration written by `ironroot broker init` on "
      << crypto::format_time(now) << ".\n"
      << "# Regenerate it with `ironroot broker init` rather than editing it (docs/mqtt.md).\n"
      << "per_listener_settings true\n"
      << "# Started as root, Mosquitto switches to this user before it reads the files below.\n"
      << "user " << a.user << "\n"
      << "\npersistence true\n"
      << "persistence_location " << (dir / kDataDir).string() << "/\n"
      << "autosave_interval 60\n"
      << "persistent_client_expiration 14d\n"
      << "\nlog_dest stderr\n"
      << "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
      << "connection_messages true\n"
      << "log_timestamp true\n"
      << "log_timestamp_format %Y-%m-%dT%H:%M:%S\n"
      << "\n# Nagle's algorithm against delayed ACKs adds ~45 ms to every TLS handshake.\n"
      << "set_tcp_nodelay true\n"
      << listener_block(devices, a, dir) << listener_block(fleet, a, dir);
  return out.str();
}

std::string render_device_acl(const BrokerOptions& a) {
  return "# Written by `ironroot broker init`. Each device (the CN of its certificate, its MQTT\n"
         "# username) may publish and subscribe only under its own topics: the device API's\n"
         "# and its application's (things/<thing>/...).\n"
         "pattern readwrite " +
         a.topic_prefix + "/things/%u/#\npattern readwrite things/%u/#\n";
}

}  // namespace ironroot::mosquitto
