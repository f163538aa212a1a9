#include "ironroot/keystore/token_certificates.hpp"

#include <algorithm>
#include <set>

#include "connection.hpp"
#include "session.hpp"

namespace ironroot::keystore {

namespace {

// A certificate is at most a few kilobytes; a bigger CKA_VALUE is not one ironroot stored.
constexpr std::size_t kMaxCertificateSize = 64 * 1024;

std::string where(const Session& session, std::string_view label) {
  return "'" + std::string(label) + "' in token '" + session.token().label + "'";
}

// Destroys objects created so far unless dismissed: a failed store leaves the token unchanged.
class CreatedObjects {
 public:
  explicit CreatedObjects(Session& session) : session_(session) {}
  CreatedObjects(const CreatedObjects&) = delete;
  CreatedObjects& operator=(const CreatedObjects&) = delete;
  ~CreatedObjects() {
    if (keep_) return;
    for (CK_OBJECT_HANDLE handle : handles_) {
      session_.api().C_DestroyObject(session_.handle(), handle);
    }
  }
  void add(CK_OBJECT_HANDLE handle) { handles_.push_back(handle); }
  void keep() { keep_ = true; }

 private:
  Session& session_;
  std::vector<CK_OBJECT_HANDLE> handles_;
  bool keep_ = false;
};

Result<std::vector<CK_OBJECT_HANDLE>> find_certificates(Session& session, std::string_view label) {
  return session.find(
      AttributeTemplate().add_ulong(CKA_CLASS, CKO_CERTIFICATE).add(CKA_LABEL, as_bytes(label)));
}

// Leaf first, each certificate followed by its issuer when that is in the set; the rest (and ties)
// in DER order, so that the result does not depend on the order the token returns objects in.
std::vector<crypto::Certificate> chain_order(std::vector<crypto::Certificate> certificates) {
  std::sort(
      certificates.begin(), certificates.end(),
      [](const crypto::Certificate& a, const crypto::Certificate& b) { return a.der() < b.der(); });
  auto issued_by = [](const crypto::Certificate& cert, const crypto::Certificate& issuer) {
    if (cert.der() == issuer.der() || cert.issuer_der() != issuer.subject_der()) return false;
    auto key = issuer.public_key();
    return key && cert.verify_signature(*key);
  };
  std::vector<crypto::Certificate> ordered;
  std::vector<bool> taken(certificates.size(), false);
  // Start from the certificates that issued none of the others: the leaves.
  for (std::size_t i = 0; i < certificates.size(); ++i) {
    bool issues_another = false;
    for (std::size_t j = 0; j < certificates.size(); ++j) {
      if (i != j && issued_by(certificates[j], certificates[i])) issues_another = true;
    }
    if (issues_another || taken[i]) continue;
    std::size_t current = i;
    taken[current] = true;
    ordered.push_back(certificates[current]);
    for (bool found = true; found;) {
      found = false;
      for (std::size_t j = 0; j < certificates.size(); ++j) {
        if (!taken[j] && issued_by(certificates[current], certificates[j])) {
          taken[j] = true;
          ordered.push_back(certificates[j]);
          current = j;
          found = true;
          break;
        }
      }
    }
  }
  for (std::size_t i = 0; i < certificates.size(); ++i) {
    if (!taken[i]) ordered.push_back(certificates[i]);  // a cycle: not a chain, kept as stored
  }
  return ordered;
}

Pkcs11Uri device_key_uri(const Pkcs11Uri& token) {
  Pkcs11Uri uri = token_part(token);
  uri.object = std::string(kDeviceKeyLabel);
  uri.type = "private";
  return uri;
}

// The device key, checked to be the key of `certificate`: same public key, and a signature made
// in the token verifies with the certificate's key.
Result<std::unique_ptr<TokenKey>> device_key_for(const Pkcs11Uri& token,
                                                 const crypto::Certificate& certificate,
                                                 const TokenOptions& options) {
  auto key = TokenKey::open(device_key_uri(token), options);
  if (!key) return prefixed(key.error(), "the device key");
  auto cert_key = certificate.public_key();
  if (!cert_key) return prefixed(cert_key.error(), "certificate " + certificate.subject());
  const std::string token_label = (*key)->uri().token.value_or("");
  if (cert_key->der() != (*key)->public_key().der()) {
    return fail("certificate " + certificate.subject() + " is for key hash " +
                to_hex(cert_key->key_hash()) + ", but the device key '" +
                std::string(kDeviceKeyLabel) + "' in token '" + token_label + "' has key hash " +
                to_hex((*key)->public_key().key_hash()) +
                "; issue the certificate from a CSR made with this token's key");
  }
  const crypto::Sha256Digest challenge = crypto::sha256(as_bytes(certificate.serial_hex()));
  auto signature = (*key)->sign_digest(challenge);
  if (!signature) return prefixed(signature.error(), "proving the device key");
  if (auto ok = cert_key->verify_digest(challenge, *signature); !ok) {
    return fail("the device key in token '" + token_label +
                "' signs, but not as the key of certificate " + certificate.subject());
  }
  return std::move(*key);
}

}  // namespace

Pkcs11Uri token_part(const Pkcs11Uri& uri) {
  Pkcs11Uri token = uri;
  token.object.reset();
  token.id.reset();
  token.type.reset();
  return token;
}

Status store_certificates(const Pkcs11Uri& token, std::string_view label,
                          std::span<const crypto::Certificate> certificates,
                          CertificateCategory category, const std::optional<Bytes>& id,
                          const TokenOptions& options) {
  if (label.empty()) return fail("a certificate object needs a label");
  if (certificates.empty()) {
    return fail("no certificate to store as '" + std::string(label) + "'");
  }
  auto connection = connect(token_part(token), options, /*read_write=*/true);
  if (!connection) return tl::unexpected(connection.error());
  Session& session = connection->session;
  auto old = find_certificates(session, label);
  if (!old) return tl::unexpected(old.error());

  CreatedObjects created(session);
  for (const crypto::Certificate& cert : certificates) {
    AttributeTemplate object;
    object.add_ulong(CKA_CLASS, CKO_CERTIFICATE)
        .add_ulong(CKA_CERTIFICATE_TYPE, CKC_X_509)
        .add_bool(CKA_TOKEN, true)
        .add_bool(CKA_PRIVATE, false)
        .add(CKA_LABEL, as_bytes(label))
        .add(CKA_VALUE, cert.der())
        .add(CKA_SUBJECT, cert.subject_der())
        .add(CKA_ISSUER, cert.issuer_der())
        .add(CKA_SERIAL_NUMBER, cert.serial_der())
        .add_ulong(CKA_CERTIFICATE_CATEGORY, static_cast<CK_ULONG>(category));
    if (id) object.add(CKA_ID, *id);
    CK_OBJECT_HANDLE handle = CK_INVALID_HANDLE;
    CK_RV rv =
        session.api().C_CreateObject(session.handle(), object.data(), object.size(), &handle);
    if (rv != CKR_OK) {
      return rv_fail("cannot store certificate " + cert.subject() + " as " + where(session, label),
                     rv);
    }
    created.add(handle);
  }
  for (CK_OBJECT_HANDLE handle : *old) {
    CK_RV rv = session.api().C_DestroyObject(session.handle(), handle);
    if (rv != CKR_OK) {
      return rv_fail("cannot replace the certificate already stored as " + where(session, label),
                     rv);
    }
  }
  created.keep();
  return {};
}

Result<std::size_t> destroy_objects(const Pkcs11Uri& token, std::string_view label,
                                    const TokenOptions& options) {
  if (label.empty()) return fail("no label given for the objects to destroy");
  auto connection = connect(token_part(token), options, /*read_write=*/true);
  if (!connection) return tl::unexpected(connection.error());
  Session& session = connection->session;
  auto found = session.find(AttributeTemplate().add(CKA_LABEL, as_bytes(label)));
  if (!found) return tl::unexpected(found.error());
  for (CK_OBJECT_HANDLE handle : *found) {
    CK_RV rv = session.api().C_DestroyObject(session.handle(), handle);
    if (rv != CKR_OK) return rv_fail("cannot destroy an object " + where(session, label), rv);
  }
  return found->size();
}

Result<std::vector<crypto::Certificate>> read_certificates(const Pkcs11Uri& token,
                                                           std::string_view label,
                                                           const TokenOptions& options) {
  auto connection = connect(token_part(token), options, /*read_write=*/false);
  if (!connection) return tl::unexpected(connection.error());
  Session& session = connection->session;
  auto found = find_certificates(session, label);
  if (!found) return tl::unexpected(found.error());
  if (found->empty()) {
    return fail("there is no certificate " + where(session, label) +
                "; provision the device (its certificate and its CA) first");
  }
  std::vector<crypto::Certificate> certificates;
  for (CK_OBJECT_HANDLE handle : *found) {
    auto value = session.attribute(handle, CKA_VALUE);
    if (!value) return tl::unexpected(value.error());
    if (!*value || (*value)->empty() || (*value)->size() > kMaxCertificateSize) {
      return fail("a certificate object " + where(session, label) + " has no usable CKA_VALUE");
    }
    auto cert = crypto::Certificate::from_der(**value);
    if (!cert) return prefixed(cert.error(), "certificate object " + where(session, label));
    certificates.push_back(std::move(*cert));
  }
  return chain_order(std::move(certificates));
}

Status store_device_identity(const Pkcs11Uri& token, const crypto::Certificate& certificate,
                             std::span<const crypto::Certificate> trusted,
                             const TokenOptions& options) {
  if (trusted.empty()) {
    return fail("the device needs at least one trusted CA certificate to check its broker");
  }
  for (const crypto::Certificate& ca : trusted) {
    crypto::CertificateExtensions ext = ca.extensions();
    if (!ext.basic_constraints || !ext.basic_constraints->ca) {
      return fail("trusted certificate " + ca.subject() +
                  " is not a CA certificate (basicConstraints CA:TRUE)");
    }
  }
  auto key = device_key_for(token, certificate, options);
  if (!key) return tl::unexpected(key.error());
  const std::optional<Bytes> key_id = (*key)->uri().id;
  key->reset();  // its session is not needed any more
  if (auto ok = store_certificates(token, kRootCertificateLabel, trusted,
                                   CertificateCategory::authority, std::nullopt, options);
      !ok) {
    return tl::unexpected(ok.error());
  }
  return store_certificates(token, kDeviceCertificateLabel, std::span(&certificate, 1),
                            CertificateCategory::token_user, key_id, options);
}

Result<DeviceIdentity> read_device_identity(const Pkcs11Uri& token, const TokenOptions& options) {
  auto certificates = read_certificates(token, kDeviceCertificateLabel, options);
  if (!certificates) return tl::unexpected(certificates.error());
  if (certificates->size() != 1) {
    return fail(std::to_string(certificates->size()) + " certificates are labelled '" +
                std::string(kDeviceCertificateLabel) +
                "'; a device has one: store it again with store_device_identity");
  }
  auto trusted = read_certificates(token, kRootCertificateLabel, options);
  if (!trusted) return tl::unexpected(trusted.error());
  auto key = TokenKey::open(device_key_uri(token), options);
  if (!key) return prefixed(key.error(), "the device key");
  const crypto::Certificate& cert = certificates->front();
  auto cert_key = cert.public_key();
  if (!cert_key) return prefixed(cert_key.error(), "device certificate " + cert.subject());
  if (cert_key->der() != (*key)->public_key().der()) {
    return fail("the device certificate " + cert.subject() + " (key hash " +
                to_hex(cert_key->key_hash()) + ") is not for the device key in token '" +
                (*key)->uri().token.value_or("") + "' (key hash " +
                to_hex((*key)->public_key().key_hash()) + ")");
  }
  return DeviceIdentity{(*key)->uri(), cert, std::move(*trusted)};
}

}  // namespace ironroot::keystore
