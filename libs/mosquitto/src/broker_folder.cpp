// init_broker_folder: the inputs gathered and checked, then the folder written; and the checks
// before Mosquitto runs.
#include "ironroot/mosquitto/broker_folder.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <sstream>

#include "ironroot/ca/ca_folder.hpp"
#include "ironroot/core/file.hpp"
#include "ironroot/crypto/certificate_authority.hpp"
#include "run_as.hpp"

namespace ironroot::mosquitto {

namespace {

namespace fs = std::filesystem;
using crypto::Time;

constexpr std::uintmax_t kMaxPemFileSize = 256 * 1024;

constexpr unsigned kPublicFileMode = 0644;
constexpr unsigned kBrokerSecretMode = 0640;  // read by Mosquitto's user through the group
constexpr unsigned kOwnerOnlyMode = 0600;

Time now() {
  return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
}

bool is_wildcard_address(const std::string& address) {
  return address == "0.0.0.0" || address == "::";
}

// ---- inputs ---------------------------------------------------------------------------------

Result<std::vector<crypto::Certificate>> read_certificates(const fs::path& path,
                                                           const std::string& option) {
  auto data = read_file(path, kMaxPemFileSize);
  if (!data) return prefixed(data.error(), option);
  auto certs = crypto::Certificate::all_from_pem(*data);
  if (!certs) return prefixed(certs.error(), option + " " + path.string());
  return certs;
}

Result<crypto::RevocationList> read_crl(const fs::path& path, const std::string& option) {
  auto data = read_file(path, kMaxPemFileSize);
  if (!data) return prefixed(data.error(), option);
  auto crl = crypto::RevocationList::from_pem(*data);
  if (!crl) return prefixed(crl.error(), option + " " + path.string() + " (a PEM CRL)");
  return crl;
}

Result<crypto::PrivateKey> read_key(const fs::path& path, const std::string& option) {
  auto data = read_file(path, kMaxPemFileSize);
  if (!data) return prefixed(data.error(), option);
  auto key = crypto::PrivateKey::from_pem(*data);
  if (!key) {
    return prefixed(key.error(), option + " " + path.string() +
                                     " (Mosquitto reads it unattended: an unencrypted PEM key)");
  }
  return key;
}

std::string pem_of(std::span<const crypto::Certificate> certs) {
  std::string pem;
  for (const crypto::Certificate& cert : certs) pem += cert.pem();
  return pem;
}

struct Material {
  std::vector<crypto::Certificate> device_cas;    // the devices' CA chain (cafile)
  std::optional<crypto::RevocationList> crl;      // always set by gather()
  std::vector<crypto::Certificate> server_chain;  // the server certificate first
  std::string server_key_pem;
  bool server_issued = false;
  std::vector<crypto::Certificate> fleet_cas;
  std::optional<crypto::Certificate> fleet_certificate;  // issued here, with its key
  std::string fleet_key_pem;
};

// The CA folder of --ca with its device CA key, opened when first needed.
class IssuingCa {
 public:
  IssuingCa(const fs::path& dir, const keystore::TokenOptions& token) : dir_(dir), token_(token) {}

  Status open() {
    if (device_ca_) return {};
    auto folder = ca::CaFolder::open(dir_);
    if (!folder) return tl::unexpected(folder.error());
    auto device_ca = folder->device_ca(token_);
    if (!device_ca) return tl::unexpected(device_ca.error());
    folder_.emplace(std::move(*folder));
    device_ca_.emplace(std::move(*device_ca));
    return {};
  }

  Result<ca::IssuedCrl> issue_crl(std::chrono::hours next_update) {
    if (auto ok = open(); !ok) return tl::unexpected(ok.error());
    return folder_->issue_crl(*device_ca_, next_update);
  }

  Result<crypto::Certificate> issue_server_certificate(const crypto::PublicKey& key,
                                                       std::span<const std::string> names,
                                                       std::chrono::days validity) {
    if (auto ok = open(); !ok) return tl::unexpected(ok.error());
    return folder_->issue_server_certificate(*device_ca_, key, names,
                                             crypto::validity_from_now(validity, now()));
  }

 private:
  fs::path dir_;
  keystore::TokenOptions token_;
  std::optional<ca::CaFolder> folder_;
  std::optional<crypto::CertificateAuthority> device_ca_;
};

std::vector<std::string> default_server_names(const std::string& bind) {
  std::vector<std::string> names{"localhost", "127.0.0.1", "::1"};
  if (!is_wildcard_address(bind) && std::find(names.begin(), names.end(), bind) == names.end()) {
    names.push_back(bind);
  }
  return names;
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
Status issue_fleet_identity(const BrokerOptions& a, Material& m) {
  auto validity = crypto::validity_from_now(a.server_validity, now());
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

Result<Material> gather(const BrokerOptions& a) {
  Material m;
  const std::string ca_dir = a.ca_dir.string();
  if (!a.ca_dir.empty()) {
    std::error_code ec;
    if (!fs::exists(a.ca_dir / ca::kDatabaseFile, ec)) {
      return fail("--ca " + ca_dir +
                  " is not an ironroot CA folder (it has no ca.json); make one with `ironroot ca "
                  "init`, or give the chain with --ca-cert");
    }
    auto chain = read_certificates(a.ca_dir / ca::kChainFile, "--ca");
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

  IssuingCa issuing_ca(a.ca_dir, a.ca_token);
  if (!a.crl.empty()) {
    auto crl = read_crl(a.crl, "--crl");
    if (!crl) return tl::unexpected(crl.error());
    m.crl = std::move(*crl);
  } else {
    auto issued = issuing_ca.issue_crl(a.crl_validity);
    if (!issued) return prefixed(issued.error(), "issuing the CRL from " + ca_dir);
    m.crl = std::move(issued->crl);
  }
  if (auto ok = check_crl(*m.crl, m.device_cas,
                          a.crl.empty() ? std::string("issued from --ca") : a.crl.string());
      !ok) {
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
    auto cert = issuing_ca.issue_server_certificate(key->public_key(), names, a.server_validity);
    if (!cert) return prefixed(cert.error(), "issuing the server certificate from " + ca_dir);
    auto pem = key->pem();
    if (!pem) return tl::unexpected(pem.error());
    m.server_chain = {*cert};
    // The issuing CA goes with it, so that devices that trust only the root can build the chain.
    for (const crypto::Certificate& ca : m.device_cas) {
      if (!ca.is_self_signed()) m.server_chain.push_back(ca);
    }
    m.server_key_pem = *pem;
    m.server_issued = true;
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

// ---- the folder -----------------------------------------------------------------------------

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

Status write_folder(const BrokerOptions& a, const fs::path& dir, const Material& m,
                    const RunAs& user) {
  std::error_code ec;
  fs::create_directories(dir / kDataDir, ec);
  if (ec) return fail("cannot create " + (dir / kDataDir).string() + ": " + ec.message());
  fs::permissions(dir, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec, ec);
  if (!ec) fs::permissions(dir / kDataDir, fs::perms::owner_all, ec);
  if (ec) return fail("cannot set the permissions of " + dir.string() + ": " + ec.message());
  if (auto ok = hand_over(dir, user, false); !ok) return ok;
  if (auto ok = hand_over(dir / kDataDir, user, true); !ok) return ok;
  if (a.plugin) {
    fs::create_directory(dir / kTrustedCasDir, ec);
    if (!ec)
      fs::permissions(dir / kTrustedCasDir,
                      fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                          fs::perms::others_read | fs::perms::others_exec,
                      ec);
    if (ec) return fail("cannot create " + (dir / kTrustedCasDir).string() + ": " + ec.message());
  }

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
  };
  if (!a.plugin) {  // with a plugin, the plugin decides what a device may do
    files.push_back({kDeviceAclFile, render_device_acl(a), kPublicFileMode, false});
  }
  if (m.fleet_certificate) {
    files.push_back({kFleetCertFile, m.fleet_certificate->pem(), kPublicFileMode, false});
    files.push_back({kFleetKeyFile, m.fleet_key_pem, kOwnerOnlyMode, false});
  }
  // Last: a folder with mosquitto.conf is complete.
  files.push_back({kConfigFile, render_mosquitto_conf(dir, a, now()), kPublicFileMode, false});
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

}  // namespace

Result<BrokerFolder> init_broker_folder(const fs::path& dir, const BrokerOptions& options) {
  if (auto ok = check_broker_options(options); !ok) return tl::unexpected(ok.error());
  auto user = resolve_user(options.user);
  if (!user) return tl::unexpected(user.error());
  if (!dir.is_absolute()) {
    return fail("the broker folder " + dir.string() +
                " must be given as an absolute path (mosquitto.conf names its files by it)");
  }
  if (auto ok = check_broker_dir(dir); !ok) return tl::unexpected(ok.error());
  if (auto ok = refuse_existing(dir); !ok) return tl::unexpected(ok.error());
  auto material = gather(options);
  if (!material) return tl::unexpected(material.error());
  if (auto ok = write_folder(options, dir, *material, *user); !ok) {
    return fail(ok.error().message + " (the folder " + dir.string() +
                " is incomplete: remove it before trying again)");
  }
  if (auto ok = check_reachable(dir, *user); !ok) return tl::unexpected(ok.error());
  return BrokerFolder{dir, material->server_chain.front(), material->server_issued,
                      material->device_cas.front(), material->fleet_certificate.has_value()};
}

Status check_broker_folder(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir / kConfigFile, ec)) {
    return fail(dir.string() + " is not a broker folder (it has no " + kConfigFile +
                "); create one with `ironroot broker init --dir " + dir.string() + " --ca CA`");
  }
  auto config = read_file(dir / kConfigFile, kMaxPemFileSize);
  if (!config) return prefixed(config.error(), "the broker configuration");
  const std::string_view text(reinterpret_cast<const char*>(config->data()), config->size());
  if (text.find("\ncrlfile ") != std::string_view::npos) {
    auto crl = read_crl(dir / kCrlFile, "the broker's CRL");
    if (!crl) return tl::unexpected(crl.error());
    if (auto next = crl->next_update(); next && *next <= now()) {
      return fail("the broker's CRL " + (dir / kCrlFile).string() + " expired on " +
                  crypto::format_time(*next) +
                  ", so every device would be refused; publish a fresh one with `ironroot ca crl "
                  "--dir CA -o " +
                  (dir / kCrlFile).string() + "`");
    }
  }
  auto server = read_certificates(dir / kServerCertFile, "the server certificate");
  if (!server) return tl::unexpected(server.error());
  if (server->front().not_after() <= now()) {
    return fail("the broker's certificate " + server->front().subject() + " expired on " +
                crypto::format_time(server->front().not_after()) +
                "; make a new broker folder with `ironroot broker init`");
  }
  return {};
}

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

}  // namespace ironroot::mosquitto
