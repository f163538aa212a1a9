#include "broker_commands.hpp"

#include <arpa/inet.h>
#include <grp.h>
#include <pwd.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <optional>
#include <sstream>

#include "ca_commands.hpp"
#include "ironroot/core/file.hpp"
#include "ironroot/crypto/certificate_authority.hpp"
#include "ironroot/crypto/x509.hpp"

namespace ironroot::cli {

namespace {

namespace fs = std::filesystem;
using crypto::Time;

constexpr std::uintmax_t kMaxPemFileSize = 256 * 1024;
constexpr long kMaxDays = 36500;
constexpr long kDefaultServerDays = 365;
constexpr long kDefaultCrlHours = 7 * 24;
constexpr long kMaxCrlHours = 366 * 24;
constexpr std::size_t kMaxUserNameLength = 32;
constexpr std::size_t kMaxTopicPrefixLength = 32;

// The files of a broker folder (docs/mqtt.md).
constexpr const char* kConfigFile = "mosquitto.conf";
constexpr const char* kDeviceCaFile = "ca-chain.crt";
constexpr const char* kCrlFile = "crl.pem";
constexpr const char* kServerCertFile = "server.crt";
constexpr const char* kServerKeyFile = "server.key";
constexpr const char* kFleetCaFile = "fleet-ca.crt";
constexpr const char* kFleetCertFile = "fleet.crt";
constexpr const char* kFleetKeyFile = "fleet.key";
constexpr const char* kDeviceAclFile = "devices.acl";
constexpr const char* kDataDir = "data";

constexpr unsigned kPublicFileMode = 0644;
constexpr unsigned kBrokerSecretMode = 0640;  // read by Mosquitto's user through the group
constexpr unsigned kOwnerOnlyMode = 0600;

Time now() {
  return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
}

bool is_ip_address(const std::string& text) {
  unsigned char buffer[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, text.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, text.c_str(), buffer) == 1;
}

bool is_wildcard_address(const std::string& address) {
  return address == "0.0.0.0" || address == "::";
}

// ---- inputs ---------------------------------------------------------------------------------

Result<std::vector<crypto::Certificate>> read_certificates(const std::string& path,
                                                           const std::string& option) {
  auto data = read_file(path, kMaxPemFileSize);
  if (!data) return prefixed(data.error(), option);
  auto certs = crypto::Certificate::all_from_pem(*data);
  if (!certs) return prefixed(certs.error(), option + " " + path);
  return certs;
}

Result<crypto::RevocationList> read_crl(const std::string& path, const std::string& option) {
  auto data = read_file(path, kMaxPemFileSize);
  if (!data) return prefixed(data.error(), option);
  auto crl = crypto::RevocationList::from_pem(*data);
  if (!crl) return prefixed(crl.error(), option + " " + path + " (a PEM CRL)");
  return crl;
}

Result<crypto::PrivateKey> read_key(const std::string& path, const std::string& option) {
  auto data = read_file(path, kMaxPemFileSize);
  if (!data) return prefixed(data.error(), option);
  auto key = crypto::PrivateKey::from_pem(*data);
  if (!key) {
    return prefixed(key.error(), option + " " + path +
                                     " (Mosquitto reads it unattended: an unencrypted PEM key)");
  }
  return key;
}

std::string pem_of(std::span<const crypto::Certificate> certs) {
  std::string pem;
  for (const crypto::Certificate& cert : certs) pem += cert.pem();
  return pem;
}

// Who Mosquitto runs as. Mosquitto started as root switches to `user` before it reads any TLS
// file or writes its persistence, so those must be readable (writable) by that user; started as
// anyone else it keeps that identity and ignores `user`.
struct RunAs {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  bool switches = false;  // this process is root and `name` is not: files are handed over
};

Result<RunAs> resolve_user(const std::string& name) {
  if (name.empty() || name.size() > kMaxUserNameLength) {
    return fail("--user must be a user name of 1 to 32 characters");
  }
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') {
      return fail("--user '" + name + "' is not a user name");
    }
  }
  RunAs run_as{name};
  if (::geteuid() != 0 || name == "root") return run_as;
  errno = 0;
  const passwd* entry = ::getpwnam(name.c_str());
  if (entry == nullptr) {
    return fail("--user '" + name +
                "': no such user on this machine (Debian's mosquitto package creates "
                "'mosquitto'); create it or choose another");
  }
  run_as.uid = entry->pw_uid;
  run_as.gid = entry->pw_gid;
  run_as.switches = true;
  return run_as;
}

// Mosquitto's user must be able to walk down to the folder.
Status check_reachable(const fs::path& dir, const RunAs& user) {
  if (!user.switches) return {};
  for (fs::path p = dir.parent_path(); !p.empty(); p = p.parent_path()) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) {
      return fail("cannot inspect " + p.string() + ": " + std::strerror(errno));
    }
    const bool reachable = (st.st_mode & S_IXOTH) != 0 ||
                           (st.st_uid == user.uid && (st.st_mode & S_IXUSR) != 0) ||
                           (st.st_gid == user.gid && (st.st_mode & S_IXGRP) != 0);
    if (!reachable) {
      char mode[8];
      std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
      return fail("Mosquitto will run as user '" + user.name + "', which cannot enter " +
                  p.string() + " (mode " + mode +
                  "); choose a --dir it can reach, or run it as another user with --user");
    }
    if (p == p.root_path()) break;
  }
  return {};
}

Status check_topic_prefix(const std::string& prefix) {
  if (prefix.empty() || prefix.size() > kMaxTopicPrefixLength) {
    return fail("--topic-prefix must be 1 to 32 characters");
  }
  for (char c : prefix) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '$' && c != '_' && c != '-') {
      return fail("--topic-prefix '" + prefix +
                  "' may contain only letters, digits, '$', '_' and '-' (it is one topic level)");
    }
  }
  return {};
}

// ---- what goes into the folder --------------------------------------------------------------

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

struct Material {
  std::vector<crypto::Certificate> device_cas;    // the devices' CA chain (cafile)
  std::optional<crypto::RevocationList> crl;      // always set by gather()
  std::vector<crypto::Certificate> server_chain;  // the server certificate first
  std::string server_key_pem;
  std::vector<crypto::Certificate> fleet_cas;
  std::optional<crypto::Certificate> fleet_certificate;  // issued here, with its key
  std::string fleet_key_pem;
};

std::vector<std::string> default_server_names(const std::string& bind) {
  std::vector<std::string> names{"localhost", "127.0.0.1", "::1"};
  if (!is_wildcard_address(bind) && std::find(names.begin(), names.end(), bind) == names.end()) {
    names.push_back(bind);
  }
  return names;
}

// Usage checks that need no file.
Status check_init_args(const InitArgs& a) {
  if (a.ca_dir.empty() == a.ca_cert.empty()) {
    return fail("give the devices' CA as --ca CA_DIR (an `ironroot ca` folder) or --ca-cert FILE");
  }
  if (!a.ca_cert.empty() && a.crl.empty()) {
    return fail("--ca-cert needs --crl FILE: the broker refuses revoked devices only with a CRL");
  }
  if (a.server_cert.empty() != a.server_key.empty()) {
    return fail("give --server-cert and --server-key together");
  }
  if (!a.ca_cert.empty() && a.server_cert.empty()) {
    return fail("--ca-cert needs --server-cert and --server-key (only --ca CA_DIR can issue them)");
  }
  if (!a.server_cert.empty() && !a.server_names.empty()) {
    return fail("--server-name is for a certificate issued here; it cannot change --server-cert");
  }
  if (a.port == a.fleet_port) {
    return fail("--port and --fleet-port must differ (both are " + std::to_string(a.port) + ")");
  }
  if (!is_ip_address(a.bind)) {
    return fail("--bind '" + a.bind +
                "' is not an IP address (127.0.0.1 serves this machine only, 0.0.0.0 every "
                "interface)");
  }
  for (const std::string& name : a.server_names) {
    if (auto ok = crypto::check_server_name(name); !ok) {
      return prefixed(ok.error(), "--server-name");
    }
  }
  if (auto ok = crypto::check_thing_name(a.fleet_identity); !ok) {
    return prefixed(ok.error(), "--fleet-identity");
  }
  return check_topic_prefix(a.topic_prefix);
}

Status check_crl(const crypto::RevocationList& crl, std::span<const crypto::Certificate> cas,
                 const std::string& source) {
  bool signed_by_ca = false;
  for (const crypto::Certificate& ca : cas) {
    auto key = ca.public_key();
    if (key && crl.verify_signature(*key)) signed_by_ca = true;
  }
  if (!signed_by_ca) {
    return fail("the CRL " + source + " (issuer " + crl.issuer() +
                ") is not signed by any CA of the devices' chain; give the device CA's CRL");
  }
  if (auto next = crl.next_update(); next && *next <= now()) {
    return fail("the CRL " + source + " expired on " + crypto::format_time(*next) +
                "; OpenSSL would refuse every device with it: issue a fresh one "
                "(`ironroot ca crl`)");
  }
  return {};
}

Status check_server_certificate(const crypto::Certificate& cert, const crypto::PrivateKey& key) {
  auto cert_key = cert.public_key();
  if (!cert_key) return prefixed(cert_key.error(), "--server-cert");
  if (cert_key->der() != key.public_key().der()) {
    return fail("--server-key (key hash " + to_hex(key.public_key().key_hash()) +
                ") is not the key of --server-cert " + cert.subject() + " (key hash " +
                to_hex(cert_key->key_hash()) + ")");
  }
  const auto eku = cert.extensions().extended_key_usage;
  if (!eku.empty() && std::find(eku.begin(), eku.end(), "serverAuth") == eku.end()) {
    return fail("--server-cert " + cert.subject() +
                " is not a TLS server certificate (no serverAuth extended key usage)");
  }
  if (cert.not_after() <= now()) {
    return fail("--server-cert " + cert.subject() + " expired on " +
                crypto::format_time(cert.not_after()));
  }
  return {};
}

// The fleet service's identity: a CA of its own, so that no device certificate (however its chain
// is presented) is ever accepted on the fleet listener, and one client certificate from it. The
// CA's key is used once, here, and not kept: run `broker init` again to rotate the identity.
Status issue_fleet_identity(const InitArgs& a, Material& m) {
  auto validity = crypto::validity_from_now(std::chrono::days{a.server_days}, now());
  auto ca_key = crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256);
  if (!ca_key) return tl::unexpected(ca_key.error());
  auto fleet_ca = crypto::CertificateAuthority::create_root(
      {"ironroot Fleet CA", "", "ironroot"},
      std::make_unique<crypto::PrivateKey>(std::move(*ca_key)), validity);
  if (!fleet_ca) return prefixed(fleet_ca.error(), "fleet CA");
  auto key = crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256);
  if (!key) return tl::unexpected(key.error());
  auto csr = crypto::CertificateRequest::create({a.fleet_identity, "", ""}, *key);
  if (!csr) return tl::unexpected(csr.error());
  auto cert = fleet_ca->issue_device_certificate(*csr, validity);
  if (!cert) return prefixed(cert.error(), "fleet identity");
  auto key_pem = key->pem();
  if (!key_pem) return tl::unexpected(key_pem.error());
  m.fleet_cas = {fleet_ca->certificate()};
  m.fleet_certificate = *cert;
  m.fleet_key_pem = *key_pem;
  return {};
}

Result<Material> gather(const InitArgs& a) {
  Material m;
  if (!a.ca_dir.empty()) {
    std::error_code ec;
    if (!fs::exists(fs::path(a.ca_dir) / "ca.json", ec)) {
      return fail("--ca " + a.ca_dir +
                  " is not an ironroot CA folder (it has no ca.json); make one with `ironroot ca "
                  "init`, or give the chain with --ca-cert");
    }
    auto chain = read_certificates((fs::path(a.ca_dir) / kCaChainFile).string(), "--ca");
    if (!chain) return tl::unexpected(chain.error());
    m.device_cas = std::move(*chain);
  } else {
    auto chain = read_certificates(a.ca_cert, "--ca-cert");
    if (!chain) return tl::unexpected(chain.error());
    m.device_cas = std::move(*chain);
  }
  for (const crypto::Certificate& ca : m.device_cas) {
    auto bc = ca.extensions().basic_constraints;
    if (!bc || !bc->ca) {
      return fail("the devices' CA file holds " + ca.subject() +
                  ", which is not a CA certificate (basicConstraints CA:TRUE)");
    }
  }

  if (!a.crl.empty()) {
    auto crl = read_crl(a.crl, "--crl");
    if (!crl) return tl::unexpected(crl.error());
    m.crl = std::move(*crl);
  } else {
    auto issued = issue_crl_from_ca(a.ca_dir, std::chrono::hours{a.crl_hours});
    if (!issued) return prefixed(issued.error(), "issuing the CRL from " + a.ca_dir);
    m.crl = std::move(issued->crl);
  }
  if (auto ok = check_crl(*m.crl, m.device_cas, a.crl.empty() ? "issued from --ca" : a.crl); !ok) {
    return tl::unexpected(ok.error());
  }

  if (!a.server_cert.empty()) {
    auto chain = read_certificates(a.server_cert, "--server-cert");
    if (!chain) return tl::unexpected(chain.error());
    auto key = read_key(a.server_key, "--server-key");
    if (!key) return tl::unexpected(key.error());
    if (auto ok = check_server_certificate(chain->front(), *key); !ok) {
      return tl::unexpected(ok.error());
    }
    auto pem = key->pem();
    if (!pem) return tl::unexpected(pem.error());
    m.server_chain = std::move(*chain);
    m.server_key_pem = *pem;
  } else {
    auto key = crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256);
    if (!key) return tl::unexpected(key.error());
    std::vector<std::string> names =
        a.server_names.empty() ? default_server_names(a.bind) : a.server_names;
    auto cert = issue_server_certificate_from_ca(a.ca_dir, key->public_key(), names,
                                                 std::chrono::days{a.server_days});
    if (!cert) return prefixed(cert.error(), "issuing the server certificate from " + a.ca_dir);
    auto pem = key->pem();
    if (!pem) return tl::unexpected(pem.error());
    m.server_chain = {*cert};
    // The issuing CA goes with it, so that devices that trust only the root can build the chain.
    for (const crypto::Certificate& ca : m.device_cas) {
      if (!ca.is_self_signed()) m.server_chain.push_back(ca);
    }
    m.server_key_pem = *pem;
  }

  if (!a.fleet_ca.empty()) {
    auto cas = read_certificates(a.fleet_ca, "--fleet-ca");
    if (!cas) return tl::unexpected(cas.error());
    m.fleet_cas = std::move(*cas);
  } else if (auto ok = issue_fleet_identity(a, m); !ok) {
    return tl::unexpected(ok.error());
  }
  return m;
}

std::string listener_block(const std::string& comment, int port, const std::string& bind,
                           const fs::path& dir, const char* cafile, bool with_crl, bool with_acl) {
  std::ostringstream out;
  out << "\n# " << comment << "\n"
      << "listener " << port << " " << bind << "\n"
      << "protocol mqtt\n"
      << "cafile " << (dir / cafile).string() << "\n";
  if (with_crl) out << "crlfile " << (dir / kCrlFile).string() << "\n";
  out << "certfile " << (dir / kServerCertFile).string() << "\n"
      << "keyfile " << (dir / kServerKeyFile).string() << "\n"
      << "tls_version tlsv1.2\n"
      << "require_certificate true\n"
      << "use_identity_as_username true\n"
      << "allow_anonymous false\n";
  if (with_acl) out << "acl_file " << (dir / kDeviceAclFile).string() << "\n";
  return out.str();
}

std::string render_config(const InitArgs& a, const fs::path& dir) {
  std::ostringstream out;
  out << "# Mosquitto 2 configuration written by `ironroot broker init` on "
      << crypto::format_time(now()) << ".\n"
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
      << listener_block(
             "Devices: mutual TLS with the device CA's certificates, checked against the CRL;\n"
             "# the certificate's CN (the thing name) is the MQTT username.",
             a.port, a.bind, dir, kDeviceCaFile, true, true)
      << listener_block(
             "The fleet service: mutual TLS with certificates of the fleet CA only; no topic\n"
             "# restrictions.",
             a.fleet_port, a.bind, dir, kFleetCaFile, false, false);
  return out.str();
}

std::string render_device_acl(const InitArgs& a) {
  return "# Written by `ironroot broker init`. Each device (the CN of its certificate, its MQTT\n"
         "# username) may publish and subscribe only under its own topics: the device API's\n"
         "# and its application's (things/<thing>/...).\n"
         "pattern readwrite " +
         a.topic_prefix + "/things/%u/#\npattern readwrite things/%u/#\n";
}

Status refuse_existing(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return {};
  if (!fs::is_directory(dir, ec)) return fail(dir.string() + " exists and is not a folder");
  if (fs::exists(dir / kConfigFile, ec)) {
    return fail(dir.string() + " already holds a broker configuration (" + kConfigFile +
                "); refusing to overwrite it");
  }
  if (!fs::is_empty(dir, ec)) {
    return fail(dir.string() + " is not empty; broker init needs a new or empty folder");
  }
  return {};
}

Status hand_over(const fs::path& path, const RunAs& user, bool owner_too) {
  if (!user.switches) return {};
  const uid_t owner = owner_too ? user.uid : static_cast<uid_t>(-1);
  if (::chown(path.c_str(), owner, user.gid) != 0) {
    return fail("cannot give " + path.string() + " to user '" + user.name +
                "': " + std::strerror(errno));
  }
  return {};
}

Status write_folder(const InitArgs& a, const fs::path& dir, const Material& m, const RunAs& user) {
  std::error_code ec;
  fs::create_directories(dir / kDataDir, ec);
  if (ec) return fail("cannot create " + (dir / kDataDir).string() + ": " + ec.message());
  fs::permissions(dir, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec, ec);
  if (!ec) fs::permissions(dir / kDataDir, fs::perms::owner_all, ec);
  if (ec) return fail("cannot set the permissions of " + dir.string() + ": " + ec.message());
  if (auto ok = hand_over(dir, user, false); !ok) return ok;
  if (auto ok = hand_over(dir / kDataDir, user, true); !ok) return ok;

  struct File {
    const char* name;
    std::string text;
    unsigned mode;
    bool for_broker;  // read by Mosquitto's user
  };
  std::vector<File> files{
      {kDeviceCaFile, pem_of(m.device_cas), kPublicFileMode, false},
      {kCrlFile, m.crl->pem(), kPublicFileMode, false},
      {kServerCertFile, pem_of(m.server_chain), kPublicFileMode, false},
      {kServerKeyFile, m.server_key_pem, kBrokerSecretMode, true},
      {kFleetCaFile, pem_of(m.fleet_cas), kPublicFileMode, false},
      {kDeviceAclFile, render_device_acl(a), kPublicFileMode, false},
  };
  if (m.fleet_certificate) {
    files.push_back({kFleetCertFile, m.fleet_certificate->pem(), kPublicFileMode, false});
    files.push_back({kFleetKeyFile, m.fleet_key_pem, kOwnerOnlyMode, false});
  }
  // Last: a folder with mosquitto.conf is complete.
  files.push_back({kConfigFile, render_config(a, dir), kPublicFileMode, false});
  for (const File& f : files) {
    if (auto ok = write_file_atomic(dir / f.name, as_bytes(f.text), f.mode); !ok) return ok;
    // write_file_atomic applies the umask; the key's group bit must survive it.
    fs::permissions(dir / f.name, static_cast<fs::perms>(f.mode), ec);
    if (ec) return fail("cannot set the permissions of " + (dir / f.name).string());
    if (f.for_broker) {
      if (auto ok = hand_over(dir / f.name, user, false); !ok) return ok;
    }
  }
  return {};
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
    if (auto ok = check_init_args(*a); !ok) {
      exit_code = out.usage_error(ok.error().message);
      return;
    }
    auto user = resolve_user(a->user);
    if (!user) {
      exit_code = out.usage_error(user.error().message);
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
    // Mosquitto's configuration syntax ends a value at the line's end; a path with a newline or
    // leading/trailing space cannot be written into it.
    const std::string text = dir.string();
    if (text.find_first_of("\r\n") != std::string::npos || text.back() == ' ') {
      exit_code = out.usage_error("--dir must not contain line breaks or end with a space");
      return;
    }
    if (auto ok = refuse_existing(dir); !ok) {
      exit_code = out.failure(ok.error().message);
      return;
    }
    auto material = gather(*a);
    if (!material) {
      exit_code = out.failure(material.error().message);
      return;
    }
    if (auto ok = write_folder(*a, dir, *material, *user); !ok) {
      exit_code = out.failure(ok.error().message + " (the folder " + dir.string() +
                              " is incomplete: remove it before trying again)");
      return;
    }
    if (auto ok = check_reachable(dir, *user); !ok) {
      exit_code = out.failure(ok.error().message);
      return;
    }
    const crypto::Certificate& server = material->server_chain.front();
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
                           material->device_cas.front().subject() + ", CRL " + kCrlFile +
                           ")\nfleet:   mTLS on " + a->bind + ":" + std::to_string(a->fleet_port);
    if (material->fleet_certificate) {
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

Result<std::string> find_mosquitto(const std::string& given) {
  auto executable = [](const fs::path& p) { return ::access(p.c_str(), X_OK) == 0; };
  if (!given.empty()) {
    if (!executable(given)) return fail("--mosquitto " + given + " is not an executable");
    return given;
  }
  if (const char* path = std::getenv("PATH")) {
    std::stringstream folders(path);
    std::string folder;
    while (std::getline(folders, folder, ':')) {
      if (!folder.empty() && executable(fs::path(folder) / "mosquitto")) {
        return (fs::path(folder) / "mosquitto").string();
      }
    }
  }
  if (executable("/usr/sbin/mosquitto")) return std::string("/usr/sbin/mosquitto");
  return fail(
      "Mosquitto is not installed (Debian: apt-get install mosquitto), or give its path "
      "with --mosquitto");
}

// What would make Mosquitto start but refuse every device, reported before it starts.
Status check_folder(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir / kConfigFile, ec)) {
    return fail(dir.string() + " is not a broker folder (it has no " + kConfigFile +
                "); create one with `ironroot broker init --dir " + dir.string() + " --ca CA`");
  }
  auto crl = read_crl((dir / kCrlFile).string(), "the broker's CRL");
  if (!crl) return tl::unexpected(crl.error());
  if (auto next = crl->next_update(); next && *next <= now()) {
    return fail("the broker's CRL " + (dir / kCrlFile).string() + " expired on " +
                crypto::format_time(*next) +
                ", so every device would be refused; publish a fresh one with `ironroot ca crl "
                "--dir CA -o " +
                (dir / kCrlFile).string() + "`");
  }
  auto server = read_certificates((dir / kServerCertFile).string(), "the server certificate");
  if (!server) return tl::unexpected(server.error());
  if (server->front().not_after() <= now()) {
    return fail("the broker's certificate " + server->front().subject() + " expired on " +
                crypto::format_time(server->front().not_after()) +
                "; make a new broker folder with `ironroot broker init`");
  }
  return {};
}

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
    if (auto ok = check_folder(dir); !ok) {
      exit_code = out.failure(ok.error().message);
      return;
    }
    auto mosquitto = find_mosquitto(a->mosquitto);
    if (!mosquitto) {
      exit_code = out.failure(mosquitto.error().message);
      return;
    }
    const std::string config = (dir / kConfigFile).string();
    spdlog::info("running {} -c {}", *mosquitto, config);
    std::cout.flush();
    std::cerr.flush();
    // exec: Mosquitto becomes this process, so that a supervisor's SIGTERM reaches it directly
    // and its exit status is the command's.
    std::vector<std::string> args{*mosquitto, "-c", config};
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    exit_code = out.failure("cannot run " + *mosquitto + ": " + std::strerror(errno));
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
