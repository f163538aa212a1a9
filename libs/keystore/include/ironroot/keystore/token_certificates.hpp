// Certificates kept in a PKCS#11 token next to the key they belong to, as X.509 certificate
// objects under corePKCS11's labels, so that a device's whole TLS identity (its key, its
// certificate and the CA it trusts for its broker) lives in its secure element.
#pragma once

#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "ironroot/core/bytes.hpp"
#include "ironroot/core/result.hpp"
#include "ironroot/crypto/x509.hpp"
#include "ironroot/keystore/pkcs11_uri.hpp"
#include "ironroot/keystore/token_key.hpp"

namespace ironroot::keystore {

// corePKCS11's object labels (FreeRTOS core_pkcs11_config.h), used by ironroot for the same
// objects so that a token provisioned for one works with the other.
inline constexpr std::string_view kDeviceKeyLabel = "Device Priv TLS Key";
inline constexpr std::string_view kDeviceCertificateLabel = "Device Cert";
inline constexpr std::string_view kRootCertificateLabel = "Root Cert";
inline constexpr std::string_view kCodeVerifyKeyLabel = "Code Verify Key";
inline constexpr std::string_view kClaimCertificateLabel = "Claim Cert";
inline constexpr std::string_view kClaimKeyLabel = "Claim Key";

// CKA_CERTIFICATE_CATEGORY (PKCS#11 2.40 4.6.2).
enum class CertificateCategory : unsigned long {
  unspecified = 0,
  token_user = 1,    // the token's own certificate (the device certificate)
  authority = 2,     // a CA certificate
  other_entity = 3,  // someone else's certificate
};

// The token `uri` selects: its token attributes (token, manufacturer, model, serial, slot-id) and
// query attributes (PIN, module), without object, id or type.
Pkcs11Uri token_part(const Pkcs11Uri& uri);

// Stores `certificates` (at least one) in the token that `token` selects, each as a persistent,
// public CKO_CERTIFICATE object of type CKC_X_509 labelled `label`, with CKA_VALUE (the DER),
// CKA_SUBJECT, CKA_ISSUER, CKA_SERIAL_NUMBER, `category` and, when given, CKA_ID `id` (the id of
// the key a certificate belongs to pairs them for PKCS#11 tools and libp11). The certificates that
// had `label` before are destroyed once the new ones exist; when a step fails, the new objects are
// destroyed and the old ones kept. The object, id and type of `token` are ignored.
Status store_certificates(const Pkcs11Uri& token, std::string_view label,
                          std::span<const crypto::Certificate> certificates,
                          CertificateCategory category, const std::optional<Bytes>& id = {},
                          const TokenOptions& options = {});

// Destroys every object labelled `label` in the token that `token` selects (keys and
// certificates alike), and returns how many there were: for taking back what a step of a device's
// set-up stored when a later step fails. Refuses an empty label. The object, id and type of
// `token` are ignored.
Result<std::size_t> destroy_objects(const Pkcs11Uri& token, std::string_view label,
                                    const TokenOptions& options = {});

// The certificates labelled `label` in the token that `token` selects. A chain comes back leaf
// first, each certificate followed by its issuer; unrelated certificates in DER order. Fails,
// naming the token and the label, when there is none or one is not an X.509 certificate.
Result<std::vector<crypto::Certificate>> read_certificates(const Pkcs11Uri& token,
                                                           std::string_view label,
                                                           const TokenOptions& options = {});

// A device's TLS identity as its token holds it.
struct DeviceIdentity {
  Pkcs11Uri key;                             // the private key labelled kDeviceKeyLabel (no PIN)
  crypto::Certificate certificate;           // labelled kDeviceCertificateLabel
  std::vector<crypto::Certificate> trusted;  // labelled kRootCertificateLabel: the broker's CA(s)
};

// Stores a device's certificate (kDeviceCertificateLabel, with the CKA_ID of the device key) and
// the CA certificates it trusts for its broker (kRootCertificateLabel, at least one). Refuses,
// before changing anything, a certificate that is not for the token's device key: the key
// labelled kDeviceKeyLabel must have the certificate's public key and must sign a test digest
// that verifies with it.
Status store_device_identity(const Pkcs11Uri& token, const crypto::Certificate& certificate,
                             std::span<const crypto::Certificate> trusted,
                             const TokenOptions& options = {});

// Reads what store_device_identity stored. Fails, saying what is missing, when the token has no
// device key, no device certificate (or several) or no trusted CA, and when the certificate's
// public key is not the device key's.
Result<DeviceIdentity> read_device_identity(const Pkcs11Uri& token,
                                            const TokenOptions& options = {});

}  // namespace ironroot::keystore
