// A certificate authority for device identity kept in one folder (docs/ca.md): a root CA, an
// intermediate device CA under it, and ca.json, the database of every certificate the device CA
// issued, with revocations and the last CRL number. Shared by `ironroot ca`, `ironroot broker
// init` and the fleet service, which may all use one folder at the same time: every change to
// ca.json is a read-modify-write under an exclusive lock on the folder (flock on `.lock`).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ironroot/core/result.hpp"
#include "ironroot/crypto/certificate_authority.hpp"
#include "ironroot/crypto/x509.hpp"
#include "ironroot/keystore/pkcs11_uri.hpp"
#include "ironroot/keystore/token_key.hpp"

namespace ironroot::ca {

// The files of a CA folder. A folder is complete once ca.json exists (it is written last).
inline constexpr const char* kDatabaseFile = "ca.json";
inline constexpr const char* kRootCertificateFile = "root-ca.crt";
inline constexpr const char* kRootKeyFile = "root-ca.key";  // absent when the key is in a token
inline constexpr const char* kDeviceCaCertificateFile = "device-ca.crt";
inline constexpr const char* kDeviceCaKeyFile = "device-ca.key";  // absent when in a token
inline constexpr const char* kChainFile = "ca-chain.crt";         // device CA, then root (PEM)

// The CA's name becomes the O of both CA certificates and the start of their CNs
// ("<name> Root CA", "<name> Device CA"), so it is 1 to 48 characters (the CN stays within 64),
// without control characters or a leading or trailing space. Messages name the option `--name`.
inline constexpr std::size_t kMaxNameLength = 48;
Status check_ca_name(const std::string& name);

// A certificate file, PEM or DER (at most 64 KiB); the error names the file.
Result<crypto::Certificate> read_certificate_file(const std::filesystem::path& path);

struct CaInitOptions {
  std::string name = "ironroot";
  // Of the root and device CA certificates, from now (less the clock-skew allowance). > 0.
  std::chrono::days validity = crypto::kDefaultCaValidity;
  // Where to generate each CA key: inside the token this URI names (its object label required),
  // or, when absent, in a PEM file in the folder (mode 0600). ca.json records the URI without its
  // PIN: the PIN is given again whenever the key is used (TokenOptions, or pin-source= in the URI).
  std::optional<keystore::Pkcs11Uri> root_key;
  std::optional<keystore::Pkcs11Uri> device_ca_key;
  keystore::TokenOptions token;  // how to reach those tokens
};

// One certificate the device CA issued, as ca.json records it. Times are written as
// crypto::format_time writes them (YYYY-MM-DDTHH:MM:SSZ).
struct IssuedCertificate {
  std::string serial;  // crypto::Certificate::serial_hex(): lower-case hex
  std::string subject;
  std::string not_before;
  std::string not_after;
  std::string sha256;  // fingerprint of the DER certificate, hex
  std::string issued_at;
  std::optional<crypto::RevokedCertificate> revocation;
};

// Why issuing a device certificate failed: the device CA refused or could not sign the request
// (`signing`: a CSR that fails the checks, a validity beyond the CA's, a token error), or the
// certificate was signed but could not be recorded in ca.json, and was thrown away.
struct IssueError {
  std::string message;
  bool signing = false;
};

struct IssuedCrl {
  crypto::RevocationList crl;
  std::uint64_t number;  // its cRLNumber, now recorded in ca.json
};

// An open CA folder. Holds no lock and no key between calls: each call that changes ca.json
// locks the folder, reads ca.json again, changes it and writes it atomically, so that several
// processes (and several CaFolder objects) may use one folder at once without losing a record.
// The CA keys are opened only by device_ca(). Not thread-safe: use one CaFolder per thread.
class CaFolder {
 public:
  // Creates a CA in `dir`, which must not exist or be an empty folder: the folder (mode 0700), a
  // root CA and a device CA (ECDSA P-256 keys, profiles in docs/ca.md), their certificates, the
  // chain and ca.json. Fails, changing nothing, on a bad name or a non-empty `dir`; a failure after
  // the folder was created says that it is incomplete and must be removed.
  static Result<CaFolder> init(const std::filesystem::path& dir, const CaInitOptions& options);

  // Opens the CA in `dir`: reads and checks ca.json (under the lock) and both CA certificates.
  // Fails, saying which file, when `dir` has no ca.json, or it or a certificate is damaged.
  static Result<CaFolder> open(const std::filesystem::path& dir);

  const std::filesystem::path& dir() const { return dir_; }
  const std::string& name() const { return name_; }
  const crypto::Certificate& root_certificate() const { return root_; }
  const crypto::Certificate& device_ca_certificate() const { return device_ca_; }
  std::filesystem::path root_certificate_file() const { return dir_ / kRootCertificateFile; }
  std::filesystem::path device_ca_certificate_file() const {
    return dir_ / kDeviceCaCertificateFile;
  }
  // The device CA then the root (PEM): a broker's `cafile`, or `openssl verify -CAfile`.
  std::filesystem::path chain_file() const { return dir_ / kChainFile; }
  // Where each CA key lives, as ca.json names it: a file name in the folder, or a pkcs11: URI
  // without its PIN.
  const std::string& root_key() const { return root_key_; }
  const std::string& device_ca_key() const { return device_ca_key_; }

  // The device CA with its key opened, ready to sign: for the issue_* and issue_crl calls below,
  // and for a long-running service to keep. A PEM key encrypted with a passphrase needs
  // `key_passphrase`; a token key is reached with `token` (PIN from it, the URI or
  // $IRONROOT_PKCS11_PIN). Fails, prefixed "device CA key", when the key cannot be opened or is not
  // the device CA certificate's key.
  Result<crypto::CertificateAuthority> device_ca(
      const keystore::TokenOptions& token = {},
      const std::optional<std::string>& key_passphrase = std::nullopt) const;

  // A device certificate (mutual TLS client) for `csr` (checked as
  // CertificateAuthority::issue_device_certificate checks it), recorded in ca.json, under the lock,
  // before it is returned: every certificate that exists can be revoked.
  // REQUIRES: `device_ca` is this folder's device_ca().
  Result<crypto::Certificate, IssueError> issue_device_certificate(
      crypto::CertificateAuthority& device_ca, const crypto::CertificateRequest& csr,
      const crypto::Validity& validity);

  // A TLS server certificate for an MQTT broker's `key`, valid for `names` (at least one; see
  // crypto::check_server_name), subject "O=<name>, CN=<name> MQTT broker"; recorded like a device
  // certificate. REQUIRES: `device_ca` is this folder's device_ca().
  Result<crypto::Certificate> issue_server_certificate(crypto::CertificateAuthority& device_ca,
                                                       const crypto::PublicKey& key,
                                                       std::span<const std::string> names,
                                                       const crypto::Validity& validity);

  // Records the revocation of the certificate with `serial` (lower-case hex, as
  // crypto::normalize_serial_hex gives it), revoked now, and returns its updated record. Needs no
  // key. Fails when this CA never issued `serial` or it is already revoked. Takes effect for
  // relying parties with the next CRL.
  Result<IssuedCertificate> revoke(const std::string& serial, crypto::RevocationReason reason);

  // A CRL listing every revocation recorded, with the next cRLNumber (recorded in ca.json) and
  // nextUpdate `next_update` from now. REQUIRES: `device_ca` is this folder's device_ca();
  // next_update > 0.
  Result<IssuedCrl> issue_crl(crypto::CertificateAuthority& device_ca,
                              std::chrono::hours next_update);

  // Every certificate issued so far, in issue order, as ca.json holds it now.
  Result<std::vector<IssuedCertificate>> certificates() const;

 private:
  CaFolder(std::filesystem::path dir, std::string name, std::string root_key,
           std::string device_ca_key, crypto::Certificate root, crypto::Certificate device_ca)
      : dir_(std::move(dir)),
        name_(std::move(name)),
        root_key_(std::move(root_key)),
        device_ca_key_(std::move(device_ca_key)),
        root_(std::move(root)),
        device_ca_(std::move(device_ca)) {}

  // Records `cert` (issued just now) in ca.json under the lock.
  Status record(const crypto::Certificate& cert);

  std::filesystem::path dir_;
  std::string name_;
  std::string root_key_;
  std::string device_ca_key_;
  crypto::Certificate root_;
  crypto::Certificate device_ca_;
};

}  // namespace ironroot::ca
