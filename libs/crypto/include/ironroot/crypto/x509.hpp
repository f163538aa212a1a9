// X.509 certificates, certificate signing requests (PKCS#10) and CRLs, as RAII values over
// OpenSSL 3. Everything ironroot signs in these formats is signed through a crypto::Signer, so a
// key inside a PKCS#11 token signs CSRs, certificates and CRLs exactly as a PEM key does.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ironroot/core/bytes.hpp"
#include "ironroot/core/result.hpp"
#include "ironroot/crypto/digest.hpp"
#include "ironroot/crypto/key.hpp"

struct x509_st;      // OpenSSL's X509
struct X509_req_st;  // OpenSSL's X509_REQ
struct X509_crl_st;  // OpenSSL's X509_CRL

namespace ironroot::crypto {

// X.509 times have a resolution of one second.
using Time = std::chrono::sys_seconds;

// UTC in RFC 3339 form: "2026-11-22T10:04:05Z".
std::string format_time(Time time);
// Reads "YYYY-MM-DDTHH:MM:SSZ" or "YYYY-MM-DD" (midnight UTC), years 1950 to 9999. Fails, saying
// which forms it takes.
Result<Time> parse_time(std::string_view text);

// The subject attributes ironroot reads and writes. An empty field is absent from the name.
struct DistinguishedName {
  std::string common_name;    // CN (2.5.4.3): for a device, its thing name
  std::string serial_number;  // serialNumber (2.5.4.5): for a device, its hardware serial
  std::string organization;   // O (2.5.4.10)

  friend bool operator==(const DistinguishedName&, const DistinguishedName&) = default;
};

struct BasicConstraints {
  bool critical = false;
  bool ca = false;
  std::optional<long> path_length;  // pathLenConstraint, when present
};

// What a certificate's extensions say, for checks and display. Key usages and extended key usages
// carry OpenSSL's names ("digitalSignature", "keyCertSign", "cRLSign"; "clientAuth").
struct CertificateExtensions {
  std::optional<BasicConstraints> basic_constraints;
  std::vector<std::string> key_usage;
  bool key_usage_critical = false;
  std::vector<std::string> extended_key_usage;
  Bytes subject_key_id;    // empty when absent
  Bytes authority_key_id;  // the keyIdentifier field; empty when absent
};

namespace detail {
struct X509Free {
  void operator()(x509_st* x) const;
};
struct X509ReqFree {
  void operator()(X509_req_st* req) const;
};
struct X509CrlFree {
  void operator()(X509_crl_st* crl) const;
};
}  // namespace detail

// A parsed certificate. Immutable; copies share the underlying OpenSSL object.
class Certificate {
 public:
  // The first certificate in PEM text ("BEGIN CERTIFICATE").
  static Result<Certificate> from_pem(ByteView pem);
  // Every certificate in PEM text, in order (a chain file). Fails when there is none.
  static Result<std::vector<Certificate>> all_from_pem(ByteView pem);
  // One DER certificate, with nothing after it.
  static Result<Certificate> from_der(ByteView der);
  // Takes ownership of `x509`. For other parts of libs/crypto.
  static Result<Certificate> adopt(x509_st* x509);

  const Bytes& der() const { return der_; }
  std::string pem() const;

  // The names as RFC 2253 text ("serialNumber=42,CN=thing-1"), and the fields ironroot uses.
  std::string subject() const;
  std::string issuer() const;
  Result<DistinguishedName> subject_name() const;
  // OpenSSL's hash of the subject name (X509_subject_name_hash): the file name stem under which a
  // hashed certificate directory (`openssl rehash`, CApath) holds this certificate.
  std::uint32_t subject_name_hash() const;

  // The serial number in lower-case hex, without leading zeros (OpenSSL prints it upper-case).
  std::string serial_hex() const;
  // The subject and issuer Names and the serial INTEGER, DER-encoded: what PKCS#11 keeps in a
  // certificate object's CKA_SUBJECT, CKA_ISSUER and CKA_SERIAL_NUMBER.
  Bytes subject_der() const;
  Bytes issuer_der() const;
  Bytes serial_der() const;
  Time not_before() const;
  Time not_after() const;
  // SHA-256 of der(), the fingerprint `openssl x509 -fingerprint -sha256` prints.
  Sha256Digest fingerprint() const { return sha256(der_); }
  // The subject public key; fails when it is neither ECDSA P-256 nor Ed25519.
  Result<PublicKey> public_key() const;
  CertificateExtensions extensions() const;
  bool is_self_signed() const;

  // Checks only that `issuer` signed this certificate (no names, dates or extensions).
  Status verify_signature(const PublicKey& issuer) const;

  // The underlying X509, for other parts of libs/crypto. Never null.
  x509_st* native() const { return x509_.get(); }

 private:
  Certificate(std::shared_ptr<x509_st> x509, Bytes der)
      : x509_(std::move(x509)), der_(std::move(der)) {}

  std::shared_ptr<x509_st> x509_;
  Bytes der_;
};

// A PKCS#10 certificate signing request. Immutable; copies share the underlying object.
class CertificateRequest {
 public:
  // Parsing checks the structure only; call verify_signature() before trusting the contents.
  static Result<CertificateRequest> from_pem(ByteView pem);
  static Result<CertificateRequest> from_der(ByteView der);
  // Takes ownership of `req`. For other parts of libs/crypto.
  static Result<CertificateRequest> adopt(X509_req_st* req);

  // Builds a CSR for `subject` and the signer's public key, signed with ecdsa-with-SHA256 through
  // Signer::sign_digest (so a token key can sign it). REQUIRES: subject.common_name not empty.
  // Fails for an Ed25519 signer: an X.509 Ed25519 signature covers the whole message, and a Signer
  // signs digests.
  static Result<CertificateRequest> create(const DistinguishedName& subject, Signer& signer);

  const Bytes& der() const { return der_; }
  std::string pem() const;

  std::string subject() const;  // RFC 2253 text
  // The subject's CN, serialNumber and O. Fails when one of them appears more than once or is not
  // valid text.
  Result<DistinguishedName> subject_name() const;
  // Fails when the key is neither ECDSA P-256 nor Ed25519 (an RSA CSR, another curve).
  Result<PublicKey> public_key() const;
  // Checks the request's self-signature with the public key it carries: proof that whoever made it
  // holds the private key.
  Status verify_signature() const;

 private:
  CertificateRequest(std::shared_ptr<X509_req_st> req, Bytes der)
      : req_(std::move(req)), der_(std::move(der)) {}

  std::shared_ptr<X509_req_st> req_;
  Bytes der_;
};

// CRLReason (RFC 5280 5.3.1).
enum class RevocationReason {
  unspecified = 0,
  key_compromise = 1,
  ca_compromise = 2,
  affiliation_changed = 3,
  superseded = 4,
  cessation_of_operation = 5,
  certificate_hold = 6,
  remove_from_crl = 8,
  privilege_withdrawn = 9,
  aa_compromise = 10,
};

// RFC 5280's names: "keyCompromise", "cessationOfOperation", ...
std::string_view revocation_reason_name(RevocationReason reason);
// The reasons an ironroot revocation may state, by name. certificateHold (reversible) and
// removeFromCRL (delta CRLs only) are refused: an ironroot revocation is permanent.
std::optional<RevocationReason> parse_revocation_reason(std::string_view name);
// Every name parse_revocation_reason accepts, for help texts and option checks.
std::vector<std::string> revocation_reason_names();

struct RevokedCertificate {
  std::string serial_hex;  // as Certificate::serial_hex() gives it
  Time revoked_at;
  RevocationReason reason = RevocationReason::unspecified;

  friend bool operator==(const RevokedCertificate&, const RevokedCertificate&) = default;
};

// A parsed X.509 v2 CRL. Immutable; copies share the underlying object. Built by
// CertificateAuthority::issue_crl.
class RevocationList {
 public:
  static Result<RevocationList> from_pem(ByteView pem);
  static Result<RevocationList> from_der(ByteView der);
  // Takes ownership of `crl`. For other parts of libs/crypto.
  static Result<RevocationList> adopt(X509_crl_st* crl);

  const Bytes& der() const { return der_; }
  std::string pem() const;

  std::string issuer() const;  // RFC 2253 text
  Time this_update() const;
  std::optional<Time> next_update() const;
  // The cRLNumber extension in lower-case hex, when present.
  std::optional<std::string> crl_number_hex() const;
  // The authorityKeyIdentifier's keyIdentifier; empty when absent.
  Bytes authority_key_id() const;
  std::vector<RevokedCertificate> revoked() const;
  bool is_revoked(std::string_view serial_hex) const;

  Status verify_signature(const PublicKey& issuer) const;

  X509_crl_st* native() const { return crl_.get(); }

 private:
  RevocationList(std::shared_ptr<X509_crl_st> crl, Bytes der)
      : crl_(std::move(crl)), der_(std::move(der)) {}

  std::shared_ptr<X509_crl_st> crl_;
  Bytes der_;
};

// What verify_chain checks besides signatures, names and validity periods.
struct ChainPolicy {
  // Certificates that may complete the chain but are not trusted themselves (intermediates).
  std::span<const Certificate> untrusted;
  // CRLs to consult; with any given, the leaf must be covered by one of them (`-crl_check`).
  std::span<const RevocationList> crls;
  // The time to check validity periods at; now when absent.
  std::optional<Time> at;
  // Also require the leaf to be fit for a TLS client (extendedKeyUsage clientAuth).
  bool tls_client = false;
};

// Builds and checks a chain from `leaf` to one of `trusted` with OpenSSL's verifier, as
// `openssl verify -CAfile ... -untrusted ...` would. The error names the certificate and the
// reason ("CN=thing-1: certificate revoked").
Status verify_chain(const Certificate& leaf, std::span<const Certificate> trusted,
                    const ChainPolicy& policy = {});

// Normalises a serial number written by a person: optional "0x" prefix, ':' separators (as OpenSSL
// prints them), either case, leading zeros. Returns the Certificate::serial_hex() form, or nullopt
// when it is not a hex number or is longer than RFC 5280's 20 octets.
std::optional<std::string> normalize_serial_hex(std::string_view text);

}  // namespace ironroot::crypto
