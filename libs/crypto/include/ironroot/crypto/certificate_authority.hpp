// The certificate authority behind device identity: a self-signed root, an intermediate device
// CA (pathlen:0), device certificates for mutual TLS issued from CSRs, and CRLs. The CA's key is
// a crypto::Signer (a PEM key now, a PKCS#11 token key in production); where the CA keeps its
// state (files, a database) is the caller's business.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "ironroot/core/result.hpp"
#include "ironroot/crypto/key.hpp"
#include "ironroot/crypto/x509.hpp"

namespace ironroot::crypto {

struct Validity {
  Time not_before;
  Time not_after;
};

// notBefore is set this far back, so that a device whose clock runs a little behind accepts a
// certificate issued a moment ago.
inline constexpr std::chrono::hours kClockSkewAllowance{1};
inline constexpr std::chrono::days kDefaultDeviceValidity{365};
inline constexpr std::chrono::days kDefaultCaValidity{3650};

// [now - kClockSkewAllowance, now + days]. REQUIRES: days > 0.
Validity validity_from_now(std::chrono::days days, Time now);

// A thing name becomes the CN of its certificate and a level of its MQTT topics
// ($aws/things/<thing>/...), so it is 1 to 64 characters (X.520's bound for CN) of letters,
// digits, '_', '-' and ':' (AWS IoT's thing-name alphabet): never '/', '+', '#' or a space.
Status check_thing_name(std::string_view name);
// A device serial (the subject's serialNumber): 1 to 64 characters of letters, digits, '.', '_',
// '-' and ':'.
Status check_device_serial(std::string_view serial);

// A name a TLS server answers to, for its subjectAltName: an IPv4 or IPv6 address ("127.0.0.1",
// "::1"), or a DNS host name of letters, digits, '-' and '.' ("broker.example.com", "localhost"),
// at most 253 characters with labels of 1 to 63. Wildcards are refused.
Status check_server_name(std::string_view name);

// A fresh certificate serial number from the operating system's CSPRNG (getrandom): a positive
// 128-bit number with its top bit set, so it always has 32 hex digits (and 127 random bits); its
// DER encoding is 17 octets, within RFC 5280's 20.
Result<std::string> random_serial_hex();

struct CrlOptions {
  Time this_update;
  Time next_update;  // REQUIRES: after this_update
  std::uint64_t crl_number = 1;
};

// A CA: its certificate and the key that signs for it. Certificates and CRLs are built with
// OpenSSL, then their to-be-signed part is hashed with SHA-256 and signed through
// Signer::sign_digest (ecdsa-with-SHA256), and every result is checked against the CA's public key
// before it is returned. Not thread-safe (the Signer may not be).
class CertificateAuthority {
 public:
  // A self-signed root CA certificate for `key`: basicConstraints critical CA:TRUE, keyUsage
  // critical keyCertSign and cRLSign, subjectKeyIdentifier, a random serial. The key must be
  // ECDSA P-256.
  static Result<CertificateAuthority> create_root(const DistinguishedName& subject,
                                                  std::unique_ptr<Signer> key,
                                                  const Validity& validity);
  // A CA from its certificate and key. Fails when the key is not the certificate's key, is not
  // ECDSA P-256, or the certificate is not a CA (basicConstraints CA:TRUE, keyCertSign).
  static Result<CertificateAuthority> open(Certificate certificate, std::unique_ptr<Signer> key);

  const Certificate& certificate() const { return certificate_; }

  // An intermediate CA certificate for device certificates: basicConstraints critical CA:TRUE
  // pathlen:0, keyUsage critical keyCertSign and cRLSign, subject and authority key identifiers.
  // `key` must be ECDSA P-256 (it will sign through a Signer too).
  Result<Certificate> issue_device_ca(const DistinguishedName& subject, const PublicKey& key,
                                      const Validity& validity);

  // A device certificate for a CSR. Checks the CSR first and refuses, saying why: a self-signature
  // that does not verify, a key that is not ECDSA P-256, a missing or invalid CN (see
  // check_thing_name), an invalid serialNumber, or a validity that ends after this CA's own.
  // The subject is the CSR's CN and serialNumber only (anything else it asks for is ignored);
  // extensions: basicConstraints critical CA:FALSE, keyUsage critical digitalSignature,
  // extendedKeyUsage clientAuth, subject and authority key identifiers. Random 128-bit serial.
  Result<Certificate> issue_device_certificate(const CertificateRequest& csr,
                                               const Validity& validity);

  // A TLS server certificate (an MQTT broker's) for `key`, which devices holding this CA's root
  // accept for any of `names` (see check_server_name; at least one): basicConstraints critical
  // CA:FALSE, keyUsage critical digitalSignature, extendedKeyUsage serverAuth, subjectAltName with
  // each name as an IP or DNS entry, subject and authority key identifiers, a random serial. The
  // subject is `subject` (CN required). Refuses a key that is not ECDSA P-256 and a validity that
  // ends after this CA's own.
  Result<Certificate> issue_server_certificate(const DistinguishedName& subject,
                                               const PublicKey& key,
                                               std::span<const std::string> names,
                                               const Validity& validity);

  // A v2 CRL listing `revoked` (with a reasonCode unless unspecified), with cRLNumber and
  // authorityKeyIdentifier.
  Result<RevocationList> issue_crl(std::span<const RevokedCertificate> revoked,
                                   const CrlOptions& options);

 private:
  CertificateAuthority(Certificate certificate, std::unique_ptr<Signer> key)
      : certificate_(std::move(certificate)), key_(std::move(key)) {}

  Certificate certificate_;
  std::unique_ptr<Signer> key_;
};

}  // namespace ironroot::crypto
