#include "ironroot/crypto/certificate_authority.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/objects.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>

#include "ironroot/crypto/random.hpp"
#include "x509_internal.hpp"

namespace ironroot::crypto {

namespace {

constexpr std::size_t kSerialBytes = 16;
constexpr std::size_t kMaxNameLength = 64;  // X.520 ub-common-name, ub-serial-number
constexpr std::size_t kMaxHostNameLength = 253;
constexpr std::size_t kMaxHostLabelLength = 63;

Status require_p256(const PublicKey& key, const std::string& what) {
  if (key.type() != KeyType::ecdsa_p256) {
    return fail(what + " must be an ECDSA P-256 key, not " +
                std::string(key_type_name(key.type())));
  }
  return {};
}

Status check_validity(const Validity& validity) {
  if (validity.not_after <= validity.not_before) {
    return fail("the validity period ends (" + format_time(validity.not_after) +
                ") before it starts (" + format_time(validity.not_before) + ")");
  }
  return {};
}

// A v3 certificate with a fresh random serial, names, validity and public key; no extensions.
// `issuer` null: self-issued.
Result<UniqueX509> new_certificate(const DistinguishedName& subject, const PublicKey& key,
                                   const Certificate* issuer, const Validity& validity) {
  if (auto ok = check_validity(validity); !ok) return tl::unexpected(ok.error());
  auto serial_hex = random_serial_hex();
  if (!serial_hex) return tl::unexpected(serial_hex.error());
  auto serial = serial_integer(*serial_hex);
  if (!serial) return tl::unexpected(serial.error());
  auto name = make_name(subject);
  if (!name) return tl::unexpected(name.error());
  auto not_before = make_asn1_time(validity.not_before);
  if (!not_before) return tl::unexpected(not_before.error());
  auto not_after = make_asn1_time(validity.not_after);
  if (!not_after) return tl::unexpected(not_after.error());
  UniqueX509 cert(X509_new());
  if (!cert) return openssl_fail("cannot allocate a certificate");
  const X509_NAME* issuer_name =
      issuer != nullptr ? X509_get_subject_name(issuer->native()) : name->get();
  if (X509_set_version(cert.get(), X509_VERSION_3) != 1 ||
      X509_set_serialNumber(cert.get(), serial->get()) != 1 ||
      X509_set_subject_name(cert.get(), name->get()) != 1 ||
      X509_set_issuer_name(cert.get(), issuer_name) != 1 ||
      X509_set1_notBefore(cert.get(), not_before->get()) != 1 ||
      X509_set1_notAfter(cert.get(), not_after->get()) != 1 ||
      X509_set_pubkey(cert.get(), key.native()) != 1) {
    return openssl_fail("cannot fill in the certificate");
  }
  return cert;
}

struct Extension {
  int nid;
  const char* value;  // OpenSSL's configuration syntax (x509v3_config(5))
};

// Adds extensions; `issuer` null: the certificate is its own issuer.
Status add_extensions(X509* cert, const Certificate* issuer,
                      std::initializer_list<Extension> extensions) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer != nullptr ? issuer->native() : cert, cert, nullptr, nullptr, 0);
  X509V3_set_ctx_nodb(&ctx);
  for (const Extension& e : extensions) {
    UniqueX509Ext ext(X509V3_EXT_conf_nid(nullptr, &ctx, e.nid, e.value));
    if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
      return openssl_fail(std::string("cannot add the ") + OBJ_nid2ln(e.nid) + " extension");
    }
  }
  return {};
}

// OpenSSL 3.0 has no public setter for the signature algorithm inside a TBSCertificate or
// TBSCertList, and signs only with an EVP_PKEY. So the structure is first signed with a throwaway
// P-256 key, which sets both algorithm fields to ecdsa-with-SHA256; its to-be-signed part is then
// re-encoded, signed through the Signer, and reassembled (see sign_tbs). The result is parsed
// back and checked against the signer's public key.
UniquePkey placeholder_key() {
  return UniquePkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
}

Result<Certificate> sign_certificate(X509* cert, Signer& signer) {
  UniquePkey placeholder = placeholder_key();
  if (!placeholder || X509_sign(cert, placeholder.get(), EVP_sha256()) <= 0) {
    return openssl_fail("cannot prepare the certificate for signing");
  }
  unsigned char* tbs = nullptr;
  int len = i2d_re_X509_tbs(cert, &tbs);
  if (len <= 0) return openssl_fail("cannot encode the certificate");
  auto der = sign_tbs(take_openssl_buffer(tbs, len), signer);
  if (!der) return tl::unexpected(der.error());
  auto signed_cert = Certificate::from_der(*der);
  if (!signed_cert) return tl::unexpected(signed_cert.error());
  if (auto ok = signed_cert->verify_signature(signer.public_key()); !ok) {
    return fail("the CA key produced a certificate signature that does not verify: " +
                ok.error().message);
  }
  return signed_cert;
}

Result<RevocationList> sign_crl(X509_CRL* crl, Signer& signer) {
  UniquePkey placeholder = placeholder_key();
  if (!placeholder || X509_CRL_sign(crl, placeholder.get(), EVP_sha256()) <= 0) {
    return openssl_fail("cannot prepare the CRL for signing");
  }
  unsigned char* tbs = nullptr;
  int len = i2d_re_X509_CRL_tbs(crl, &tbs);
  if (len <= 0) return openssl_fail("cannot encode the CRL");
  auto der = sign_tbs(take_openssl_buffer(tbs, len), signer);
  if (!der) return tl::unexpected(der.error());
  auto signed_crl = RevocationList::from_der(*der);
  if (!signed_crl) return tl::unexpected(signed_crl.error());
  if (auto ok = signed_crl->verify_signature(signer.public_key()); !ok) {
    return fail("the CA key produced a CRL signature that does not verify: " + ok.error().message);
  }
  return signed_crl;
}

Status check_name(std::string_view value, std::string_view what, std::string_view extra,
                  std::string_view allowed) {
  if (value.empty() || value.size() > kMaxNameLength) {
    return fail(std::string(what) + " '" + std::string(value) + "' must be 1 to 64 characters");
  }
  for (char c : value) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && extra.find(c) == std::string_view::npos) {
      return fail(std::string(what) + " '" + std::string(value) + "' may contain only " +
                  std::string(allowed));
    }
  }
  return {};
}

bool is_ip_address(std::string_view name) {
  std::string text(name);
  unsigned char buffer[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, text.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, text.c_str(), buffer) == 1;
}

Status check_validity_within(const Validity& validity, const Certificate& ca) {
  if (validity.not_after > ca.not_after()) {
    return fail("the certificate would end on " + format_time(validity.not_after) +
                ", after the CA certificate (" + format_time(ca.not_after()) +
                "); issue it for a shorter time");
  }
  return {};
}

}  // namespace

Validity validity_from_now(std::chrono::days days, Time now) {
  return {now - kClockSkewAllowance, now + days};
}

Status check_thing_name(std::string_view name) {
  return check_name(name, "thing name",
                    "_-:", "letters, digits, '_', '-' and ':' (it becomes a level of MQTT topics)");
}

Status check_device_serial(std::string_view serial) {
  return check_name(serial, "device serial", ".-:", "letters, digits, '.', '-' and ':'");
}

Status check_server_name(std::string_view name) {
  if (is_ip_address(name)) return {};
  const std::string quoted = "server name '" + std::string(name) + "'";
  if (name.empty() || name.size() > kMaxHostNameLength) {
    return fail(quoted + " must be an IP address or a DNS name of 1 to 253 characters");
  }
  std::size_t label_start = 0;
  for (std::size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '.') {
      std::string_view label = name.substr(label_start, i - label_start);
      if (label.empty() || label.size() > kMaxHostLabelLength || label.front() == '-' ||
          label.back() == '-') {
        return fail(quoted +
                    " is not a valid DNS name: each dot-separated label must be 1 to 63 "
                    "characters and must not start or end with '-'");
      }
      label_start = i + 1;
      continue;
    }
    char c = name[i];
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') {
      return fail(quoted +
                  " must be an IP address or a DNS name of letters, digits, '-' and '.' "
                  "(wildcards are not issued)");
    }
  }
  return {};
}

Result<std::string> random_serial_hex() {
  auto bytes = random_bytes(kSerialBytes);
  if (!bytes) return tl::unexpected(bytes.error());
  (*bytes)[0] |= std::byte{0x80};  // exactly 128 bits long
  return to_hex(*bytes);
}

Result<CertificateAuthority> CertificateAuthority::create_root(const DistinguishedName& subject,
                                                               std::unique_ptr<Signer> key,
                                                               const Validity& validity) {
  if (subject.common_name.empty()) return fail("the root CA needs a CN");
  if (auto ok = require_p256(key->public_key(), "the root CA key"); !ok) {
    return tl::unexpected(ok.error());
  }
  auto cert = new_certificate(subject, key->public_key(), nullptr, validity);
  if (!cert) return tl::unexpected(cert.error());
  if (auto ok = add_extensions(cert->get(), nullptr,
                               {{NID_basic_constraints, "critical,CA:TRUE"},
                                {NID_key_usage, "critical,keyCertSign,cRLSign"},
                                {NID_subject_key_identifier, "hash"}});
      !ok) {
    return tl::unexpected(ok.error());
  }
  auto signed_cert = sign_certificate(cert->get(), *key);
  if (!signed_cert) return tl::unexpected(signed_cert.error());
  return CertificateAuthority(std::move(*signed_cert), std::move(key));
}

Result<CertificateAuthority> CertificateAuthority::open(Certificate certificate,
                                                        std::unique_ptr<Signer> key) {
  auto cert_key = certificate.public_key();
  if (!cert_key) return prefixed(cert_key.error(), "CA certificate " + certificate.subject());
  if (cert_key->der() != key->public_key().der()) {
    return fail("the CA key (key hash " + to_hex(key->public_key().key_hash()) +
                ") is not the key of CA certificate " + certificate.subject() + " (key hash " +
                to_hex(cert_key->key_hash()) + ")");
  }
  if (auto ok = require_p256(*cert_key, "the CA key"); !ok) return tl::unexpected(ok.error());
  CertificateExtensions ext = certificate.extensions();
  bool can_sign_certs =
      std::find(ext.key_usage.begin(), ext.key_usage.end(), "keyCertSign") != ext.key_usage.end();
  if (!ext.basic_constraints || !ext.basic_constraints->ca || !can_sign_certs) {
    return fail("certificate " + certificate.subject() +
                " is not a CA certificate (it needs basicConstraints CA:TRUE and keyCertSign)");
  }
  return CertificateAuthority(std::move(certificate), std::move(key));
}

Result<Certificate> CertificateAuthority::issue_device_ca(const DistinguishedName& subject,
                                                          const PublicKey& key,
                                                          const Validity& validity) {
  if (subject.common_name.empty()) return fail("the device CA needs a CN");
  if (auto ok = require_p256(key, "the device CA key"); !ok) return tl::unexpected(ok.error());
  auto cert = new_certificate(subject, key, &certificate_, validity);
  if (!cert) return tl::unexpected(cert.error());
  if (auto ok = add_extensions(cert->get(), &certificate_,
                               {{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
                                {NID_key_usage, "critical,keyCertSign,cRLSign"},
                                {NID_subject_key_identifier, "hash"},
                                {NID_authority_key_identifier, "keyid:always"}});
      !ok) {
    return tl::unexpected(ok.error());
  }
  return sign_certificate(cert->get(), *key_);
}

Result<Certificate> CertificateAuthority::issue_device_certificate(const CertificateRequest& csr,
                                                                   const Validity& validity) {
  auto refused = [](const std::string& why) { return fail("CSR refused: " + why); };
  if (auto ok = csr.verify_signature(); !ok) return refused(ok.error().message);
  auto key = csr.public_key();
  if (!key) return refused(key.error().message + "; device keys must be ECDSA P-256");
  if (key->type() != KeyType::ecdsa_p256) {
    return refused("its key is " + std::string(key_type_name(key->type())) +
                   "; device keys must be ECDSA P-256 (prime256v1)");
  }
  auto name = csr.subject_name();
  if (!name) return refused(name.error().message);
  if (name->common_name.empty()) {
    return refused("its subject (" + csr.subject() +
                   ") has no CN; the CN must be the device's thing name");
  }
  if (auto ok = check_thing_name(name->common_name); !ok) return refused(ok.error().message);
  if (!name->serial_number.empty()) {
    if (auto ok = check_device_serial(name->serial_number); !ok) {
      return refused(ok.error().message);
    }
  }
  if (auto ok = check_validity_within(validity, certificate_); !ok) {
    return tl::unexpected(ok.error());
  }
  DistinguishedName subject{name->common_name, name->serial_number, ""};
  auto cert = new_certificate(subject, *key, &certificate_, validity);
  if (!cert) return tl::unexpected(cert.error());
  if (auto ok = add_extensions(cert->get(), &certificate_,
                               {{NID_basic_constraints, "critical,CA:FALSE"},
                                {NID_key_usage, "critical,digitalSignature"},
                                {NID_ext_key_usage, "clientAuth"},
                                {NID_subject_key_identifier, "hash"},
                                {NID_authority_key_identifier, "keyid:always"}});
      !ok) {
    return tl::unexpected(ok.error());
  }
  return sign_certificate(cert->get(), *key_);
}

Result<Certificate> CertificateAuthority::issue_server_certificate(
    const DistinguishedName& subject, const PublicKey& key, std::span<const std::string> names,
    const Validity& validity) {
  if (subject.common_name.empty()) return fail("a server certificate needs a CN");
  if (names.empty()) {
    return fail("a server certificate needs at least one name (IP address or DNS name)");
  }
  if (auto ok = require_p256(key, "the server key"); !ok) return tl::unexpected(ok.error());
  std::string alt_names;
  for (const std::string& name : names) {
    if (auto ok = check_server_name(name); !ok) return tl::unexpected(ok.error());
    alt_names +=
        (alt_names.empty() ? "" : ",") + std::string(is_ip_address(name) ? "IP:" : "DNS:") + name;
  }
  if (auto ok = check_validity_within(validity, certificate_); !ok) {
    return tl::unexpected(ok.error());
  }
  auto cert = new_certificate(subject, key, &certificate_, validity);
  if (!cert) return tl::unexpected(cert.error());
  if (auto ok = add_extensions(cert->get(), &certificate_,
                               {{NID_basic_constraints, "critical,CA:FALSE"},
                                {NID_key_usage, "critical,digitalSignature"},
                                {NID_ext_key_usage, "serverAuth"},
                                {NID_subject_alt_name, alt_names.c_str()},
                                {NID_subject_key_identifier, "hash"},
                                {NID_authority_key_identifier, "keyid:always"}});
      !ok) {
    return tl::unexpected(ok.error());
  }
  return sign_certificate(cert->get(), *key_);
}

Result<RevocationList> CertificateAuthority::issue_crl(std::span<const RevokedCertificate> revoked,
                                                       const CrlOptions& options) {
  if (options.next_update <= options.this_update) {
    return fail("the CRL's next update (" + format_time(options.next_update) +
                ") must come after its this update (" + format_time(options.this_update) + ")");
  }
  UniqueX509Crl crl(X509_CRL_new());
  auto this_update = make_asn1_time(options.this_update);
  if (!this_update) return tl::unexpected(this_update.error());
  auto next_update = make_asn1_time(options.next_update);
  if (!next_update) return tl::unexpected(next_update.error());
  UniqueAsn1Integer number(ASN1_INTEGER_new());
  if (!crl || !number || X509_CRL_set_version(crl.get(), X509_CRL_VERSION_2) != 1 ||
      X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(certificate_.native())) != 1 ||
      X509_CRL_set1_lastUpdate(crl.get(), this_update->get()) != 1 ||
      X509_CRL_set1_nextUpdate(crl.get(), next_update->get()) != 1 ||
      ASN1_INTEGER_set_uint64(number.get(), options.crl_number) != 1 ||
      X509_CRL_add1_ext_i2d(crl.get(), NID_crl_number, number.get(), 0, 0) != 1) {
    return openssl_fail("cannot fill in the CRL");
  }
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, certificate_.native(), nullptr, nullptr, crl.get(), 0);
  X509V3_set_ctx_nodb(&ctx);
  UniqueX509Ext aki(
      X509V3_EXT_conf_nid(nullptr, &ctx, NID_authority_key_identifier, "keyid:always"));
  if (!aki || X509_CRL_add_ext(crl.get(), aki.get(), -1) != 1) {
    return openssl_fail("cannot add the CRL's authority key identifier");
  }
  for (const RevokedCertificate& entry : revoked) {
    auto serial = serial_integer(entry.serial_hex);
    if (!serial) return tl::unexpected(serial.error());
    auto date = make_asn1_time(entry.revoked_at);
    if (!date) return tl::unexpected(date.error());
    UniqueX509Revoked item(X509_REVOKED_new());
    if (!item || X509_REVOKED_set_serialNumber(item.get(), serial->get()) != 1 ||
        X509_REVOKED_set_revocationDate(item.get(), date->get()) != 1) {
      return openssl_fail("cannot list serial " + entry.serial_hex + " in the CRL");
    }
    // RFC 5280 5.3.1: the reasonCode is left out rather than given as unspecified.
    if (entry.reason != RevocationReason::unspecified) {
      std::unique_ptr<ASN1_ENUMERATED, OpensslFree<ASN1_ENUMERATED_free>> code(
          ASN1_ENUMERATED_new());
      if (!code || ASN1_ENUMERATED_set(code.get(), static_cast<long>(entry.reason)) != 1 ||
          X509_REVOKED_add1_ext_i2d(item.get(), NID_crl_reason, code.get(), 0, 0) != 1) {
        return openssl_fail("cannot give the revocation reason of serial " + entry.serial_hex);
      }
    }
    if (X509_CRL_add0_revoked(crl.get(), item.get()) != 1) {
      return openssl_fail("cannot list serial " + entry.serial_hex + " in the CRL");
    }
    (void)item.release();  // owned by the CRL now
  }
  if (X509_CRL_sort(crl.get()) != 1) return openssl_fail("cannot sort the CRL");
  return sign_crl(crl.get(), *key_);
}

}  // namespace ironroot::crypto
