#include "ca_commands.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <optional>

#include "ironroot/core/file.hpp"
#include "ironroot/crypto/certificate_authority.hpp"
#include "ironroot/crypto/x509.hpp"
#include "ironroot/keystore/pkcs11_uri.hpp"
#include "key_source.hpp"

namespace ironroot::cli {

namespace {

namespace fs = std::filesystem;
using crypto::Time;

constexpr std::uintmax_t kMaxPemFileSize = 64 * 1024;
constexpr std::uintmax_t kMaxDatabaseSize = 256ull * 1024 * 1024;
constexpr int kDatabaseFormat = 1;
constexpr long kMaxDays = 36500;  // a century
constexpr long kDefaultCrlHours = 7 * 24;
constexpr long kMaxCrlHours = 366 * 24;
constexpr std::size_t kMaxCaNameLength = 48;  // CN "<name> Device CA" stays within 64

// The files of a CA folder (docs/ca.md).
constexpr const char* kDatabaseFile = "ca.json";
constexpr const char* kLockFile = ".lock";
constexpr const char* kRootCertFile = kCaRootCertFile;
constexpr const char* kRootKeyFile = "root-ca.key";
constexpr const char* kDeviceCaCertFile = "device-ca.crt";
constexpr const char* kDeviceCaKeyFile = "device-ca.key";
constexpr const char* kChainFile = kCaChainFile;

Time now() {
  return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
}

// ---- the CA database (ca.json) --------------------------------------------------------------

struct CaKeyPair {
  std::string certificate;  // a file in the CA folder
  std::string key;          // a file in the CA folder, or a pkcs11: URI (never with its PIN)
};

struct IssuedRecord {
  std::string serial;  // crypto::Certificate::serial_hex()
  std::string subject;
  std::string not_before;
  std::string not_after;
  std::string sha256;
  std::string issued_at;
  std::optional<crypto::RevokedCertificate> revocation;
};

struct CaDatabase {
  std::string name;
  CaKeyPair root;
  CaKeyPair device_ca;
  std::uint64_t crl_number = 0;  // of the last CRL issued
  std::vector<IssuedRecord> certificates;

  IssuedRecord* find(const std::string& serial) {
    for (IssuedRecord& r : certificates) {
      if (r.serial == serial) return &r;
    }
    return nullptr;
  }
};

nlohmann::json key_pair_json(const CaKeyPair& pair) {
  return {{"certificate", pair.certificate}, {"key", pair.key}};
}

nlohmann::json database_json(const CaDatabase& db) {
  nlohmann::json certificates = nlohmann::json::array();
  for (const IssuedRecord& r : db.certificates) {
    nlohmann::json entry = {{"serial", r.serial},         {"subject", r.subject},
                            {"not_before", r.not_before}, {"not_after", r.not_after},
                            {"sha256", r.sha256},         {"issued_at", r.issued_at}};
    if (r.revocation) {
      entry["revoked"] = {
          {"at", crypto::format_time(r.revocation->revoked_at)},
          {"reason", std::string(crypto::revocation_reason_name(r.revocation->reason))}};
    }
    certificates.push_back(std::move(entry));
  }
  return {{"format", kDatabaseFormat},         {"name", db.name},
          {"root_ca", key_pair_json(db.root)}, {"device_ca", key_pair_json(db.device_ca)},
          {"crl_number", db.crl_number},       {"certificates", std::move(certificates)}};
}

// Reads ca.json, checking every field, so that a damaged file is reported rather than half used.
Result<CaDatabase> parse_database(const nlohmann::json& j) {
  try {
    if (j.at("format").get<int>() != kDatabaseFormat) {
      return fail("format " + j.at("format").dump() + " is not supported (this ironroot reads " +
                  std::to_string(kDatabaseFormat) + ")");
    }
    CaDatabase db;
    db.name = j.at("name").get<std::string>();
    for (auto [field, pair] : {std::pair{"root_ca", &db.root}, {"device_ca", &db.device_ca}}) {
      pair->certificate = j.at(field).at("certificate").get<std::string>();
      pair->key = j.at(field).at("key").get<std::string>();
    }
    db.crl_number = j.at("crl_number").get<std::uint64_t>();
    for (const nlohmann::json& e : j.at("certificates")) {
      IssuedRecord r;
      r.serial = e.at("serial").get<std::string>();
      if (crypto::normalize_serial_hex(r.serial) != r.serial) {
        return fail("certificate serial '" + r.serial + "' is not lower-case hex");
      }
      r.subject = e.at("subject").get<std::string>();
      r.not_before = e.at("not_before").get<std::string>();
      r.not_after = e.at("not_after").get<std::string>();
      r.sha256 = e.at("sha256").get<std::string>();
      r.issued_at = e.at("issued_at").get<std::string>();
      if (e.contains("revoked")) {
        const nlohmann::json& rev = e.at("revoked");
        auto at = crypto::parse_time(rev.at("at").get<std::string>());
        if (!at) return prefixed(at.error(), "certificate " + r.serial + ": revoked.at");
        auto reason = crypto::parse_revocation_reason(rev.at("reason").get<std::string>());
        if (!reason) {
          return fail("certificate " + r.serial + ": unknown revocation reason " +
                      rev.at("reason").dump());
        }
        r.revocation = crypto::RevokedCertificate{r.serial, *at, *reason};
      }
      db.certificates.push_back(std::move(r));
    }
    return db;
  } catch (const nlohmann::json::exception& e) {
    return fail(e.what());
  }
}

// An exclusive lock on a CA folder for one read-modify-write of ca.json: two `ca issue` at once
// must not lose a record. Released when destroyed (the process ending releases it too).
class FolderLock {
 public:
  static Result<FolderLock> acquire(const fs::path& dir) {
    fs::path path = dir / kLockFile;
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return fail("cannot open " + path.string() + ": " + std::strerror(errno));
    FolderLock lock(fd);
    while (::flock(fd, LOCK_EX) != 0) {
      if (errno != EINTR) return fail("cannot lock " + path.string() + ": " + std::strerror(errno));
    }
    return lock;
  }
  FolderLock(FolderLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  FolderLock& operator=(FolderLock&&) = delete;
  ~FolderLock() {
    if (fd_ >= 0) ::close(fd_);
  }

 private:
  explicit FolderLock(int fd) : fd_(fd) {}
  int fd_;
};

bool looks_like_pem(ByteView data) {
  return as_chars(data).find("-----BEGIN ") != std::string_view::npos;
}

Result<crypto::Certificate> read_certificate(const fs::path& path) {
  auto data = read_file(path, kMaxPemFileSize);
  if (!data) return tl::unexpected(data.error());
  auto cert = looks_like_pem(*data) ? crypto::Certificate::from_pem(*data)
                                    : crypto::Certificate::from_der(*data);
  if (!cert) return prefixed(cert.error(), path.string());
  return cert;
}

Status write_text(const fs::path& path, const std::string& text) {
  return write_file_atomic(path, as_bytes(text));
}

// A CA folder opened for one command: locked, with its database read.
class CaFolder {
 public:
  static Result<CaFolder> open(const fs::path& dir) {
    std::error_code ec;
    if (!fs::exists(dir / kDatabaseFile, ec)) {
      return fail(dir.string() + " is not an ironroot CA folder (it has no " + kDatabaseFile +
                  "); create one with `ironroot ca init --dir " + dir.string() + "`");
    }
    auto lock = FolderLock::acquire(dir);
    if (!lock) return tl::unexpected(lock.error());
    fs::path path = dir / kDatabaseFile;
    auto data = read_file(path, kMaxDatabaseSize);
    if (!data) return tl::unexpected(data.error());
    nlohmann::json j = nlohmann::json::parse(as_chars(*data), nullptr, false);
    if (j.is_discarded()) return fail(path.string() + " is not valid JSON");
    auto db = parse_database(j);
    if (!db) return prefixed(db.error(), path.string() + " is damaged");
    return CaFolder(std::move(*lock), dir, std::move(*db));
  }

  CaDatabase& db() { return db_; }
  const fs::path& dir() const { return dir_; }

  Status save() const {
    std::string text = database_json(db_).dump(2) + "\n";
    return write_text(dir_ / kDatabaseFile, text);
  }

  Result<crypto::Certificate> device_ca_certificate() const {
    return read_certificate(dir_ / db_.device_ca.certificate);
  }

  // The device CA with its key, ready to sign.
  Result<crypto::CertificateAuthority> device_ca() const {
    auto cert = device_ca_certificate();
    if (!cert) return tl::unexpected(cert.error());
    const std::string& key = db_.device_ca.key;
    auto signer = open_signer(keystore::is_pkcs11_uri(key) ? key : (dir_ / key).string());
    if (!signer) return prefixed(signer.error(), "device CA key");
    return crypto::CertificateAuthority::open(std::move(*cert), std::move(*signer));
  }

 private:
  CaFolder(FolderLock lock, fs::path dir, CaDatabase db)
      : lock_(std::move(lock)), dir_(std::move(dir)), db_(std::move(db)) {}

  FolderLock lock_;
  fs::path dir_;
  CaDatabase db_;
};

nlohmann::json certificate_json(const crypto::Certificate& cert) {
  return {{"subject", cert.subject()},
          {"issuer", cert.issuer()},
          {"serial", cert.serial_hex()},
          {"not_before", crypto::format_time(cert.not_before())},
          {"not_after", crypto::format_time(cert.not_after())},
          {"sha256", to_hex(cert.fingerprint())}};
}

// ---- init -----------------------------------------------------------------------------------

// A new CA key: a PEM file (mode 0600) in the folder, or a key pair generated inside a token.
// Returns the key's signer and how ca.json names it.
Result<std::pair<std::unique_ptr<crypto::Signer>, std::string>> new_ca_key(
    const fs::path& dir, const std::string& uri, const std::string& file) {
  std::string location = uri.empty() ? (dir / file).string() : uri;
  std::string reference = file;
  if (!uri.empty()) {
    auto parsed = keystore::Pkcs11Uri::parse(uri);
    if (!parsed) return prefixed(parsed.error(), uri);
    reference = parsed->to_string();  // without the PIN
  }
  auto generated = generate_key(location, KeygenOptions{crypto::KeyType::ecdsa_p256});
  if (!generated) return tl::unexpected(generated.error());
  auto signer = open_signer(location);
  if (!signer) return tl::unexpected(signer.error());
  return std::pair{std::move(*signer), reference};
}

Status check_ca_name(const std::string& name) {
  if (name.empty() || name.size() > kMaxCaNameLength) {
    return fail("--name must be 1 to " + std::to_string(kMaxCaNameLength) + " characters");
  }
  for (char c : name) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return fail("--name must not contain control characters");
    }
  }
  if (name.front() == ' ' || name.back() == ' ') {
    return fail("--name must not start or end with a space");
  }
  return {};
}

Status refuse_existing(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return {};
  if (!fs::is_directory(dir, ec)) return fail(dir.string() + " exists and is not a folder");
  if (fs::exists(dir / kDatabaseFile, ec)) {
    return fail(dir.string() + " already holds a CA (" + kDatabaseFile +
                "); refusing to overwrite it");
  }
  if (!fs::is_empty(dir, ec)) {
    return fail(dir.string() + " is not empty; ca init needs a new or empty folder");
  }
  return {};
}

struct InitResult {
  crypto::Certificate root;
  crypto::Certificate device_ca;
  CaDatabase db;
};

Result<InitResult> create_ca(const fs::path& dir, const std::string& name, long validity_days,
                             const std::string& root_key_uri,
                             const std::string& device_ca_key_uri) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return fail("cannot create " + dir.string() + ": " + ec.message());
  fs::permissions(dir, fs::perms::owner_all, ec);  // the keys are in here
  if (ec) return fail("cannot restrict " + dir.string() + " to its owner: " + ec.message());

  auto validity = crypto::validity_from_now(std::chrono::days{validity_days}, now());
  auto root_key = new_ca_key(dir, root_key_uri, kRootKeyFile);
  if (!root_key) return prefixed(root_key.error(), "root CA key");
  auto root = crypto::CertificateAuthority::create_root({name + " Root CA", "", name},
                                                        std::move(root_key->first), validity);
  if (!root) return prefixed(root.error(), "root CA");
  auto device_key = new_ca_key(dir, device_ca_key_uri, kDeviceCaKeyFile);
  if (!device_key) return prefixed(device_key.error(), "device CA key");
  auto device_ca = root->issue_device_ca({name + " Device CA", "", name},
                                         device_key->first->public_key(), validity);
  if (!device_ca) return prefixed(device_ca.error(), "device CA");

  CaDatabase db;
  db.name = name;
  db.root = {kRootCertFile, root_key->second};
  db.device_ca = {kDeviceCaCertFile, device_key->second};
  const std::pair<const char*, std::string> files[] = {
      {kRootCertFile, root->certificate().pem()},
      {kDeviceCaCertFile, device_ca->pem()},
      {kChainFile, device_ca->pem() + root->certificate().pem()},
      // Last: a folder with ca.json is a complete CA.
      {kDatabaseFile, database_json(db).dump(2) + "\n"}};
  for (const auto& [file, text] : files) {
    if (auto written = write_text(dir / file, text); !written) {
      return tl::unexpected(written.error());
    }
  }
  return InitResult{root->certificate(), *device_ca, std::move(db)};
}

void add_init(CLI::App& ca, const Output& out, int& exit_code) {
  struct Args {
    std::string dir;
    std::string name = "ironroot";
    long validity_days = crypto::kDefaultCaValidity.count();
    std::string root_key;
    std::string device_ca_key;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = ca.add_subcommand(
      "init", "Create a CA folder: a root CA and an intermediate device CA (ECDSA P-256)");
  cmd->add_option("--dir", a->dir, "CA folder to create (new or empty)")->required();
  cmd->add_option("--name", a->name, "Organisation: the CAs' O and the start of their CN")
      ->capture_default_str();
  cmd->add_option("--validity-days", a->validity_days,
                  "Validity of the root and device CA certificates, in days")
      ->check(CLI::Range(1L, kMaxDays))
      ->capture_default_str();
  cmd->add_option("--root-key", a->root_key,
                  "Generate the root CA key in a PKCS#11 token (pkcs11: URI) instead of a file");
  cmd->add_option("--device-ca-key", a->device_ca_key,
                  "Generate the device CA key in a PKCS#11 token (pkcs11: URI) instead of a file");
  cmd->callback([a, &out, &exit_code] {
    if (auto ok = check_ca_name(a->name); !ok) {
      exit_code = out.usage_error(ok.error().message);
      return;
    }
    for (const std::string* uri : {&a->root_key, &a->device_ca_key}) {
      if (!uri->empty() && !keystore::is_pkcs11_uri(*uri)) {
        exit_code = out.usage_error("--root-key and --device-ca-key take a pkcs11: URI, not '" +
                                    *uri + "' (without them the keys are files in the folder)");
        return;
      }
    }
    fs::path dir = a->dir;
    if (auto ok = refuse_existing(dir); !ok) {
      exit_code = out.failure(ok.error().message);
      return;
    }
    auto created = create_ca(dir, a->name, a->validity_days, a->root_key, a->device_ca_key);
    if (!created) {
      exit_code = out.failure(created.error().message + " (the folder " + dir.string() +
                              " is incomplete: remove it before trying again)");
      return;
    }
    spdlog::info("created CA {} in {}: root {}, device CA {}", a->name, dir.string(),
                 created->root.serial_hex(), created->device_ca.serial_hex());
    nlohmann::json root = certificate_json(created->root);
    root["certificate"] = (dir / kRootCertFile).string();
    root["key"] = created->db.root.key;
    nlohmann::json device_ca = certificate_json(created->device_ca);
    device_ca["certificate"] = (dir / kDeviceCaCertFile).string();
    device_ca["key"] = created->db.device_ca.key;
    out.result("created CA " + a->name + " in " + dir.string() +
                   "\nroot CA:   " + created->root.subject() + ", serial " +
                   created->root.serial_hex() + "\ndevice CA: " + created->device_ca.subject() +
                   ", serial " + created->device_ca.serial_hex() + "\nvalid until " +
                   crypto::format_time(created->root.not_after()) +
                   "\nchain:     " + (dir / kChainFile).string(),
               {{"dir", dir.string()},
                {"name", a->name},
                {"root_ca", root},
                {"device_ca", device_ca},
                {"chain", (dir / kChainFile).string()}});
    exit_code = kExitOk;
  });
}

// ---- csr ------------------------------------------------------------------------------------

void add_csr(CLI::App& ca, const Output& out, int& exit_code) {
  struct Args {
    std::string key;
    std::string cn;
    std::string serial;
    std::string output;
  };
  auto a = std::make_shared<Args>();
  auto* cmd =
      ca.add_subcommand("csr", "Make a certificate signing request for a device key (ECDSA P-256)");
  cmd->add_option("-k,--key", a->key, "Device key: PEM file or pkcs11: URI")->required();
  cmd->add_option("--cn", a->cn, "Thing name, the certificate's CN")->required();
  cmd->add_option("--serial", a->serial, "Device serial number, the subject's serialNumber");
  cmd->add_option("-o,--output", a->output, "CSR file to write (PEM)")->required();
  cmd->callback([a, &out, &exit_code] {
    if (auto ok = crypto::check_thing_name(a->cn); !ok) {
      exit_code = out.usage_error("--cn: " + ok.error().message);
      return;
    }
    if (!a->serial.empty()) {
      if (auto ok = crypto::check_device_serial(a->serial); !ok) {
        exit_code = out.usage_error("--serial: " + ok.error().message);
        return;
      }
    }
    auto signer = open_signer(a->key);
    if (!signer) {
      exit_code = out.failure(signer.error().message);
      return;
    }
    auto csr = crypto::CertificateRequest::create({a->cn, a->serial, ""}, **signer);
    if (!csr) {
      exit_code = out.failure(a->key + ": " + csr.error().message);
      return;
    }
    if (auto written = write_text(a->output, csr->pem()); !written) {
      exit_code = out.failure(written.error().message);
      return;
    }
    std::string key_hash = to_hex((*signer)->public_key().key_hash());
    out.result("wrote CSR " + a->output + " for " + csr->subject() + " (key hash " + key_hash + ")",
               {{"csr", a->output}, {"subject", csr->subject()}, {"key_hash", key_hash}});
    exit_code = kExitOk;
  });
}

// ---- issue ----------------------------------------------------------------------------------

struct IssueArgs {
  std::string dir;
  std::string csr;
  std::string output;
  long days = crypto::kDefaultDeviceValidity.count();
  std::string not_before;
  std::string not_after;
  bool chain = false;
};

// --not-before defaults to now less the clock-skew allowance; --not-after to --days after
// --not-before (when given) or after now.
Result<crypto::Validity> issue_validity(const IssueArgs& a) {
  Time start = now();
  crypto::Validity validity = crypto::validity_from_now(std::chrono::days{a.days}, start);
  if (!a.not_before.empty()) {
    auto t = crypto::parse_time(a.not_before);
    if (!t) return prefixed(t.error(), "--not-before");
    validity.not_before = *t;
    validity.not_after = *t + std::chrono::days{a.days};
  }
  if (!a.not_after.empty()) {
    auto t = crypto::parse_time(a.not_after);
    if (!t) return prefixed(t.error(), "--not-after");
    validity.not_after = *t;
  }
  if (validity.not_after <= validity.not_before) {
    return fail("--not-after (" + crypto::format_time(validity.not_after) +
                ") must come after --not-before (" + crypto::format_time(validity.not_before) +
                ")");
  }
  return validity;
}

Result<crypto::CertificateRequest> read_csr(const std::string& path) {
  auto data = read_file(path, kMaxPemFileSize);
  if (!data) return tl::unexpected(data.error());
  if (looks_like_pem(*data)) {
    auto csr = crypto::CertificateRequest::from_pem(*data);
    if (!csr) return prefixed(csr.error(), path);
    return csr;
  }
  auto csr = crypto::CertificateRequest::from_der(*data);
  if (!csr) return fail(path + " is not a certificate request (CSR), in PEM or DER");
  return csr;
}

void add_issue(CLI::App& ca, const Output& out, int& exit_code) {
  auto a = std::make_shared<IssueArgs>();
  auto* cmd = ca.add_subcommand(
      "issue", "Issue a device certificate (mutual TLS client) from a CSR, with the device CA");
  cmd->add_option("--dir", a->dir, "CA folder")->required();
  cmd->add_option("--csr", a->csr, "The device's CSR (PEM or DER)")->required();
  cmd->add_option("-o,--output", a->output, "Certificate file to write (PEM)")->required();
  auto* days = cmd->add_option("--days", a->days, "Validity in days")
                   ->check(CLI::Range(1L, kMaxDays))
                   ->capture_default_str();
  cmd->add_option("--not-before", a->not_before,
                  "Start of validity, YYYY-MM-DD[THH:MM:SSZ] (default: now less 1 hour)");
  cmd->add_option("--not-after", a->not_after,
                  "End of validity, YYYY-MM-DD[THH:MM:SSZ]; a date in the past makes an expired "
                  "certificate, for tests")
      ->excludes(days);
  cmd->add_flag("--chain", a->chain, "Append the device CA certificate to the output");
  cmd->callback([a, &out, &exit_code] {
    auto validity = issue_validity(*a);
    if (!validity) {
      exit_code = out.usage_error(validity.error().message);
      return;
    }
    auto csr = read_csr(a->csr);
    if (!csr) {
      exit_code = out.failure(csr.error().message);
      return;
    }
    auto folder = CaFolder::open(a->dir);
    if (!folder) {
      exit_code = out.failure(folder.error().message);
      return;
    }
    auto device_ca = folder->device_ca();
    if (!device_ca) {
      exit_code = out.failure(device_ca.error().message);
      return;
    }
    auto cert = device_ca->issue_device_certificate(*csr, *validity);
    if (!cert) {
      exit_code = out.failure(a->csr + ": " + cert.error().message);
      return;
    }
    CaDatabase& db = folder->db();
    if (db.find(cert->serial_hex()) != nullptr) {  // 2^-127 per pair; never seen, still checked
      exit_code = out.failure("serial " + cert->serial_hex() + " was issued before; try again");
      return;
    }
    // Recorded before it is handed out: every certificate that exists can be revoked.
    db.certificates.push_back({cert->serial_hex(), cert->subject(),
                               crypto::format_time(cert->not_before()),
                               crypto::format_time(cert->not_after()), to_hex(cert->fingerprint()),
                               crypto::format_time(now()), std::nullopt});
    if (auto saved = folder->save(); !saved) {
      exit_code = out.failure(saved.error().message);
      return;
    }
    std::string pem = cert->pem();
    if (a->chain) pem += device_ca->certificate().pem();
    if (auto written = write_text(a->output, pem); !written) {
      exit_code = out.failure(written.error().message);
      return;
    }
    spdlog::info("issued {} serial {} until {}", cert->subject(), cert->serial_hex(),
                 crypto::format_time(cert->not_after()));
    nlohmann::json doc = certificate_json(*cert);
    doc["certificate"] = a->output;
    out.result("issued " + a->output + ": " + cert->subject() + ", serial " + cert->serial_hex() +
                   ", valid " + crypto::format_time(cert->not_before()) + " to " +
                   crypto::format_time(cert->not_after()),
               doc);
    exit_code = kExitOk;
  });
}

// ---- revoke ---------------------------------------------------------------------------------

void add_revoke(CLI::App& ca, const Output& out, int& exit_code) {
  struct Args {
    std::string dir;
    std::string serial;
    std::string cert;
    std::string reason = "unspecified";
  };
  auto a = std::make_shared<Args>();
  auto* cmd = ca.add_subcommand("revoke",
                                "Revoke a device certificate (publish it with `ironroot ca crl`)");
  cmd->add_option("--dir", a->dir, "CA folder")->required();
  auto* serial_option =
      cmd->add_option("--serial", a->serial, "Serial number of the certificate (hex)");
  cmd->add_option("--cert", a->cert, "The certificate itself (PEM or DER)")
      ->excludes(serial_option);
  cmd->add_option("--reason", a->reason, "CRL reason code")
      ->check(CLI::IsMember(crypto::revocation_reason_names()))
      ->capture_default_str();
  cmd->callback([a, &out, &exit_code] {
    if (a->serial.empty() == a->cert.empty()) {
      exit_code = out.usage_error("give --serial HEX or --cert FILE");
      return;
    }
    std::string serial;
    if (!a->serial.empty()) {
      auto normal = crypto::normalize_serial_hex(a->serial);
      if (!normal) {
        exit_code = out.usage_error("--serial '" + a->serial +
                                    "' is not a serial number in hex (as `ca issue` prints it)");
        return;
      }
      serial = *normal;
    }
    auto folder = CaFolder::open(a->dir);
    if (!folder) {
      exit_code = out.failure(folder.error().message);
      return;
    }
    if (!a->cert.empty()) {
      auto cert = read_certificate(a->cert);
      auto ca_cert = folder->device_ca_certificate();
      if (!cert || !ca_cert) {
        exit_code = out.failure(!cert ? cert.error().message : ca_cert.error().message);
        return;
      }
      auto ca_key = ca_cert->public_key();
      if (!ca_key || !cert->verify_signature(*ca_key)) {
        exit_code = out.failure(a->cert + " (" + cert->subject() + ", issuer " + cert->issuer() +
                                ") was not issued by this CA's device CA");
        return;
      }
      serial = cert->serial_hex();
    }
    IssuedRecord* record = folder->db().find(serial);
    if (record == nullptr) {
      exit_code = out.failure("serial " + serial + " was not issued by the CA in " + a->dir +
                              " (it is not in " + kDatabaseFile + ")");
      return;
    }
    if (record->revocation) {
      exit_code = out.failure(
          "serial " + serial + " (" + record->subject + ") is already revoked, since " +
          crypto::format_time(record->revocation->revoked_at) + " (" +
          std::string(crypto::revocation_reason_name(record->revocation->reason)) + ")");
      return;
    }
    record->revocation =
        crypto::RevokedCertificate{serial, now(), *crypto::parse_revocation_reason(a->reason)};
    if (auto saved = folder->save(); !saved) {
      exit_code = out.failure(saved.error().message);
      return;
    }
    std::string at = crypto::format_time(record->revocation->revoked_at);
    spdlog::info("revoked {} serial {} ({})", record->subject, serial, a->reason);
    out.result("revoked " + record->subject + ", serial " + serial + " (" + a->reason +
                   "); publish a new CRL with `ironroot ca crl`",
               {{"serial", serial},
                {"subject", record->subject},
                {"revoked_at", at},
                {"reason", a->reason}});
    exit_code = kExitOk;
  });
}

// ---- crl ------------------------------------------------------------------------------------

void add_crl(CLI::App& ca, const Output& out, int& exit_code) {
  struct Args {
    std::string dir;
    std::string output;
    long next_update_hours = kDefaultCrlHours;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = ca.add_subcommand(
      "crl", "Issue a CRL of the device CA listing every revoked device certificate");
  cmd->add_option("--dir", a->dir, "CA folder")->required();
  cmd->add_option("-o,--output", a->output, "CRL file to write (PEM)")->required();
  cmd->add_option("--next-update-hours", a->next_update_hours,
                  "Hours until the CRL's nextUpdate (relying parties refuse it after that)")
      ->check(CLI::Range(1L, kMaxCrlHours))
      ->capture_default_str();
  cmd->callback([a, &out, &exit_code] {
    auto issued = issue_crl_from_ca(a->dir, std::chrono::hours{a->next_update_hours});
    if (!issued) {
      exit_code = out.failure(issued.error().message);
      return;
    }
    const crypto::RevocationList& crl = issued->crl;
    if (auto written = write_text(a->output, crl.pem()); !written) {
      exit_code = out.failure(written.error().message);
      return;
    }
    const std::uint64_t crl_number = issued->number;
    const std::size_t revoked = crl.revoked().size();
    const std::string this_update = crypto::format_time(crl.this_update());
    const std::string next = crypto::format_time(crl.next_update().value_or(crl.this_update()));
    spdlog::info("issued CRL {} with {} revoked certificates", crl_number, revoked);
    out.result("wrote CRL " + std::to_string(crl_number) + " to " + a->output + ": " +
                   std::to_string(revoked) + " revoked, next update " + next,
               {{"crl", a->output},
                {"crl_number", crl_number},
                {"issuer", crl.issuer()},
                {"this_update", this_update},
                {"next_update", next},
                {"revoked", revoked}});
    exit_code = kExitOk;
  });
}

}  // namespace

Result<crypto::Certificate> issue_server_certificate_from_ca(const fs::path& dir,
                                                             const crypto::PublicKey& key,
                                                             std::span<const std::string> names,
                                                             std::chrono::days validity) {
  auto folder = CaFolder::open(dir);
  if (!folder) return tl::unexpected(folder.error());
  auto device_ca = folder->device_ca();
  if (!device_ca) return tl::unexpected(device_ca.error());
  CaDatabase& db = folder->db();
  auto cert =
      device_ca->issue_server_certificate({db.name + " MQTT broker", "", db.name}, key, names,
                                          crypto::validity_from_now(validity, now()));
  if (!cert) return tl::unexpected(cert.error());
  if (db.find(cert->serial_hex()) != nullptr) {
    return fail("serial " + cert->serial_hex() + " was issued before; try again");
  }
  db.certificates.push_back({cert->serial_hex(), cert->subject(),
                             crypto::format_time(cert->not_before()),
                             crypto::format_time(cert->not_after()), to_hex(cert->fingerprint()),
                             crypto::format_time(now()), std::nullopt});
  if (auto saved = folder->save(); !saved) return tl::unexpected(saved.error());
  spdlog::info("issued server certificate {} serial {} until {}", cert->subject(),
               cert->serial_hex(), crypto::format_time(cert->not_after()));
  return cert;
}

Result<IssuedCrl> issue_crl_from_ca(const fs::path& dir, std::chrono::hours next_update) {
  auto folder = CaFolder::open(dir);
  if (!folder) return tl::unexpected(folder.error());
  auto device_ca = folder->device_ca();
  if (!device_ca) return tl::unexpected(device_ca.error());
  CaDatabase& db = folder->db();
  std::vector<crypto::RevokedCertificate> revoked;
  for (const IssuedRecord& r : db.certificates) {
    if (r.revocation) revoked.push_back(*r.revocation);
  }
  Time this_update = now();
  crypto::CrlOptions options{this_update, this_update + next_update, db.crl_number + 1};
  auto crl = device_ca->issue_crl(revoked, options);
  if (!crl) return tl::unexpected(crl.error());
  db.crl_number = options.crl_number;
  if (auto saved = folder->save(); !saved) return tl::unexpected(saved.error());
  return IssuedCrl{std::move(*crl), options.crl_number};
}

void add_ca_commands(CLI::App& app, const Output& out, int& exit_code) {
  auto* ca = app.add_subcommand("ca", "Certificate authority for device identity (mutual TLS)");
  ca->require_subcommand(1);
  add_init(*ca, out, exit_code);
  add_csr(*ca, out, exit_code);
  add_issue(*ca, out, exit_code);
  add_revoke(*ca, out, exit_code);
  add_crl(*ca, out, exit_code);
}

}  // namespace ironroot::cli
