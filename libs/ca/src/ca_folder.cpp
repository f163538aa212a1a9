#include "ironroot/ca/ca_folder.hpp"

#include <memory>
#include <utility>

#include "ca_database.hpp"
#include "ironroot/core/file.hpp"

namespace ironroot::ca {

namespace {

namespace fs = std::filesystem;
using crypto::Time;

constexpr std::uintmax_t kMaxPemFileSize = 64 * 1024;

Time now() {
  return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
}

bool looks_like_pem(ByteView data) {
  return as_chars(data).find("-----BEGIN ") != std::string_view::npos;
}

Status write_text(const fs::path& path, const std::string& text) {
  return write_file_atomic(path, as_bytes(text));
}

// A CA key ready to sign, and how ca.json names where it lives.
struct CaKey {
  std::unique_ptr<crypto::Signer> signer;
  std::string reference;
};

// A new CA key: generated inside the token `uri` names, or a PEM file (mode 0600) in `dir`.
Result<CaKey> new_ca_key(const fs::path& dir, const std::optional<keystore::Pkcs11Uri>& uri,
                         const char* file, const keystore::TokenOptions& token) {
  if (uri) {
    auto key = keystore::TokenKey::generate(*uri, crypto::KeyType::ecdsa_p256, token);
    if (!key) return prefixed(key.error(), uri->to_string());
    return CaKey{std::move(*key), uri->to_string()};  // to_string() never holds the PIN
  }
  fs::path path = dir / file;
  std::error_code ec;
  if (fs::exists(path, ec)) {
    return fail(path.string() + " already exists; refusing to overwrite a key");
  }
  auto key = crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256);
  if (!key) return tl::unexpected(key.error());
  auto pem = key->pem();
  if (!pem) return tl::unexpected(pem.error());
  if (auto written = write_file_atomic(path, as_bytes(*pem), 0600); !written) {
    return tl::unexpected(written.error());
  }
  return CaKey{std::make_unique<crypto::PrivateKey>(std::move(*key)), file};
}

// An existing CA key named as ca.json names it: a file in `dir` or a pkcs11: URI.
Result<std::unique_ptr<crypto::Signer>> open_ca_key(const fs::path& dir,
                                                    const std::string& reference,
                                                    const keystore::TokenOptions& token,
                                                    const std::optional<std::string>& passphrase) {
  if (keystore::is_pkcs11_uri(reference)) {
    auto uri = keystore::Pkcs11Uri::parse(reference);
    if (!uri) return prefixed(uri.error(), "key " + reference);
    auto key = keystore::TokenKey::open(*uri, token);
    if (!key) return prefixed(key.error(), uri->to_string());
    return std::unique_ptr<crypto::Signer>(std::move(*key));
  }
  const std::string path = (dir / reference).string();
  auto pem = read_file(path, kMaxPemFileSize);
  if (!pem) return tl::unexpected(pem.error());
  auto key = crypto::PrivateKey::from_pem(*pem, passphrase);
  if (!key) return prefixed(key.error(), path);
  return std::unique_ptr<crypto::Signer>(std::make_unique<crypto::PrivateKey>(std::move(*key)));
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

IssuedCertificate record_of(const crypto::Certificate& cert) {
  return {cert.serial_hex(),
          cert.subject(),
          crypto::format_time(cert.not_before()),
          crypto::format_time(cert.not_after()),
          to_hex(cert.fingerprint()),
          crypto::format_time(now()),
          std::nullopt};
}

struct Created {
  crypto::Certificate root;
  crypto::Certificate device_ca;
  CaDatabase db;
};

// Everything init does once `dir` is known to be new or empty.
Result<Created> create(const fs::path& dir, const CaInitOptions& options) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return fail("cannot create " + dir.string() + ": " + ec.message());
  fs::permissions(dir, fs::perms::owner_all, ec);  // the keys are in here
  if (ec) return fail("cannot restrict " + dir.string() + " to its owner: " + ec.message());

  const std::string& name = options.name;
  auto validity = crypto::validity_from_now(options.validity, now());
  auto root_key = new_ca_key(dir, options.root_key, kRootKeyFile, options.token);
  if (!root_key) return prefixed(root_key.error(), "root CA key");
  auto root = crypto::CertificateAuthority::create_root({name + " Root CA", "", name},
                                                        std::move(root_key->signer), validity);
  if (!root) return prefixed(root.error(), "root CA");
  auto device_key = new_ca_key(dir, options.device_ca_key, kDeviceCaKeyFile, options.token);
  if (!device_key) return prefixed(device_key.error(), "device CA key");
  auto device_ca = root->issue_device_ca({name + " Device CA", "", name},
                                         device_key->signer->public_key(), validity);
  if (!device_ca) return prefixed(device_ca.error(), "device CA");

  CaDatabase db;
  db.name = name;
  db.root = {kRootCertificateFile, root_key->reference};
  db.device_ca = {kDeviceCaCertificateFile, device_key->reference};
  const std::pair<const char*, std::string> files[] = {
      {kRootCertificateFile, root->certificate().pem()},
      {kDeviceCaCertificateFile, device_ca->pem()},
      {kChainFile, device_ca->pem() + root->certificate().pem()},
      // Last: a folder with ca.json is a complete CA.
      {kDatabaseFile, database_text(db)}};
  for (const auto& [file, text] : files) {
    if (auto written = write_text(dir / file, text); !written) {
      return tl::unexpected(written.error());
    }
  }
  return Created{root->certificate(), *device_ca, std::move(db)};
}

}  // namespace

Result<crypto::Certificate> read_certificate_file(const fs::path& path) {
  auto data = read_file(path, kMaxPemFileSize);
  if (!data) return tl::unexpected(data.error());
  auto cert = looks_like_pem(*data) ? crypto::Certificate::from_pem(*data)
                                    : crypto::Certificate::from_der(*data);
  if (!cert) return prefixed(cert.error(), path.string());
  return cert;
}

Status check_ca_name(const std::string& name) {
  if (name.empty() || name.size() > kMaxNameLength) {
    return fail("--name must be 1 to " + std::to_string(kMaxNameLength) + " characters");
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

Result<CaFolder> CaFolder::init(const fs::path& dir, const CaInitOptions& options) {
  if (auto ok = check_ca_name(options.name); !ok) return tl::unexpected(ok.error());
  if (options.validity.count() <= 0) return fail("the CA validity must be at least one day");
  if (auto ok = refuse_existing(dir); !ok) return tl::unexpected(ok.error());
  auto created = create(dir, options);
  if (!created) {
    return fail(created.error().message + " (the folder " + dir.string() +
                " is incomplete: remove it before trying again)");
  }
  CaDatabase& db = created->db;
  return CaFolder(dir, db.name, db.root.key, db.device_ca.key, std::move(created->root),
                  std::move(created->device_ca));
}

Result<CaFolder> CaFolder::open(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir / kDatabaseFile, ec)) {
    return fail(dir.string() + " is not an ironroot CA folder (it has no " + kDatabaseFile +
                "); create one with `ironroot ca init --dir " + dir.string() + "`");
  }
  auto db = [&]() -> Result<CaDatabase> {
    auto lock = FolderLock::acquire(dir);
    if (!lock) return tl::unexpected(lock.error());
    return read_database(dir);
  }();
  if (!db) return tl::unexpected(db.error());
  auto root = read_certificate_file(dir / db->root.certificate);
  if (!root) return tl::unexpected(root.error());
  auto device_ca = read_certificate_file(dir / db->device_ca.certificate);
  if (!device_ca) return tl::unexpected(device_ca.error());
  return CaFolder(dir, db->name, db->root.key, db->device_ca.key, std::move(*root),
                  std::move(*device_ca));
}

Result<crypto::CertificateAuthority> CaFolder::device_ca(
    const keystore::TokenOptions& token, const std::optional<std::string>& key_passphrase) const {
  auto key = open_ca_key(dir_, device_ca_key_, token, key_passphrase);
  if (!key) return prefixed(key.error(), "device CA key");
  return crypto::CertificateAuthority::open(device_ca_, std::move(*key));
}

Status CaFolder::record(const crypto::Certificate& cert) {
  auto lock = FolderLock::acquire(dir_);
  if (!lock) return tl::unexpected(lock.error());
  auto db = read_database(dir_);
  if (!db) return tl::unexpected(db.error());
  if (db->find(cert.serial_hex()) != nullptr) {  // 2^-127 per pair; never seen, still checked
    return fail("serial " + cert.serial_hex() + " was issued before; try again");
  }
  db->certificates.push_back(record_of(cert));
  return write_database(dir_, *db);
}

Result<crypto::Certificate, IssueError> CaFolder::issue_device_certificate(
    crypto::CertificateAuthority& device_ca, const crypto::CertificateRequest& csr,
    const crypto::Validity& validity) {
  auto cert = device_ca.issue_device_certificate(csr, validity);
  if (!cert) return tl::unexpected(IssueError{cert.error().message, true});
  // Recorded before it is handed out: every certificate that exists can be revoked.
  if (auto ok = record(*cert); !ok) return tl::unexpected(IssueError{ok.error().message, false});
  return std::move(*cert);
}

Result<crypto::Certificate> CaFolder::issue_server_certificate(
    crypto::CertificateAuthority& device_ca, const crypto::PublicKey& key,
    std::span<const std::string> names, const crypto::Validity& validity) {
  auto cert =
      device_ca.issue_server_certificate({name_ + " MQTT broker", "", name_}, key, names, validity);
  if (!cert) return tl::unexpected(cert.error());
  if (auto ok = record(*cert); !ok) return tl::unexpected(ok.error());
  return cert;
}

Result<IssuedCertificate> CaFolder::revoke(const std::string& serial,
                                           crypto::RevocationReason reason) {
  auto lock = FolderLock::acquire(dir_);
  if (!lock) return tl::unexpected(lock.error());
  auto db = read_database(dir_);
  if (!db) return tl::unexpected(db.error());
  IssuedCertificate* record = db->find(serial);
  if (record == nullptr) {
    return fail("serial " + serial + " was not issued by the CA in " + dir_.string() +
                " (it is not in " + kDatabaseFile + ")");
  }
  if (record->revocation) {
    return fail("serial " + serial + " (" + record->subject + ") is already revoked, since " +
                crypto::format_time(record->revocation->revoked_at) + " (" +
                std::string(crypto::revocation_reason_name(record->revocation->reason)) + ")");
  }
  record->revocation = crypto::RevokedCertificate{serial, now(), reason};
  IssuedCertificate revoked = *record;
  if (auto saved = write_database(dir_, *db); !saved) return tl::unexpected(saved.error());
  return revoked;
}

Result<IssuedCrl> CaFolder::issue_crl(crypto::CertificateAuthority& device_ca,
                                      std::chrono::hours next_update) {
  if (next_update.count() <= 0) return fail("the CRL's next update must be in the future");
  auto lock = FolderLock::acquire(dir_);
  if (!lock) return tl::unexpected(lock.error());
  auto db = read_database(dir_);
  if (!db) return tl::unexpected(db.error());
  std::vector<crypto::RevokedCertificate> revoked;
  for (const IssuedCertificate& r : db->certificates) {
    if (r.revocation) revoked.push_back(*r.revocation);
  }
  Time this_update = now();
  crypto::CrlOptions options{this_update, this_update + next_update, db->crl_number + 1};
  auto crl = device_ca.issue_crl(revoked, options);
  if (!crl) return tl::unexpected(crl.error());
  db->crl_number = options.crl_number;
  if (auto saved = write_database(dir_, *db); !saved) return tl::unexpected(saved.error());
  return IssuedCrl{std::move(*crl), options.crl_number};
}

Result<std::vector<IssuedCertificate>> CaFolder::certificates() const {
  auto db = read_database(dir_);
  if (!db) return tl::unexpected(db.error());
  return std::move(db->certificates);
}

}  // namespace ironroot::ca
