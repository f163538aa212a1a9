// Signing keys that live inside a PKCS#11 token (an HSM, a secure element, SoftHSM2): generated
// there, used there, never read out.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "ironroot/core/bytes.hpp"
#include "ironroot/core/result.hpp"
#include "ironroot/crypto/key.hpp"
#include "ironroot/keystore/pkcs11_uri.hpp"

namespace ironroot::keystore {

// The PKCS#11 module used when nothing else names one.
inline constexpr std::string_view kDefaultModulePath = "/usr/lib/softhsm/libsofthsm2.so";

// How to reach a token. For each setting the first source that has it wins:
//   module: module_path when not empty; the URI's module-path, then its module-name (looked up in
//   p11-kit's
//           module folder and the default module's folder); $IRONROOT_PKCS11_MODULE;
//           kDefaultModulePath.
//   PIN:    this pin; the URI's pin-value or pin-source (a file holding the PIN; one trailing
//           newline is ignored); $IRONROOT_PKCS11_PIN. With none, a token without a PIN pad is
//           refused with a message saying how to give one.
struct TokenOptions {
  std::filesystem::path module_path;
  std::optional<std::string> pin;
};

// The module and PIN that `uri` and `options` resolve to, in the order above: for handing the same
// token to another PKCS#11 consumer (OpenSSL's PKCS#11 engine, for TLS). Fails as open() would
// when a pin-source file cannot be read or a module-name names no module.
struct TokenAccess {
  std::filesystem::path module_path;
  std::optional<std::string> pin;
};
Result<TokenAccess> resolve_token_access(const Pkcs11Uri& uri, const TokenOptions& options = {});

// An ECDSA P-256 or Ed25519 private key inside a token, logged in and ready to sign.
//
// Owns its session; the module is loaded and C_Initialize'd once per process and shared by every
// TokenKey that uses it, and finalised (only if this process initialised it) and unloaded when the
// last one is destroyed. The login lasts as long as the session: PKCS#11 logs a token out when its
// application's last session closes, so a TokenKey never logs out another one's session.
// Not thread-safe: sign from one thread at a time (distinct TokenKeys may be used in parallel).
class TokenKey final : public crypto::Signer {
 public:
  // Finds the token (every token attribute of `uri` must match; with none, the only initialised
  // token) and in it the one private key with the URI's object label and/or id, then its public
  // half (the public-key object with the same id). Fails with what was searched and what exists
  // when the module, token or key is not found, when the PIN is wrong or missing, when several keys
  // match, or when the key is neither P-256 nor Ed25519.
  static Result<std::unique_ptr<TokenKey>> open(const Pkcs11Uri& uri,
                                                const TokenOptions& options = {});

  // Generates a key pair of `type` inside the token with C_GenerateKeyPair: a persistent, private,
  // sensitive, non-extractable signing key labelled with the URI's object (required) and with its
  // id (16 random bytes from the token when the URI has none). Refuses when a private key with that
  // label or id already exists, and checks that the token honoured sensitive/non-extractable.
  static Result<std::unique_ptr<TokenKey>> generate(const Pkcs11Uri& uri, crypto::KeyType type,
                                                    const TokenOptions& options = {});

  // Imports `key` (ECDSA P-256 only), a key that exists outside the token, such as the claim key
  // a production batch shares (AWS IoT "provisioning by claim"): C_CreateObject of a persistent,
  // private, sensitive, non-extractable signing key (CKA_VALUE: its private scalar) labelled with
  // the URI's object (required) and with its id (16 random bytes from the token when the URI has
  // none), and of its public-key object (CKA_EC_POINT) with the same label and id, which open()
  // reads the public key from. Refuses, changing nothing, a key of another type and a label or
  // id that some object in the token has already. Before returning, signs a test digest in the
  // token and checks it with `key`'s public key; on any failure the new objects are destroyed.
  // Every copy of the private value made here is wiped (OPENSSL_cleanse); `key` itself is the
  // caller's to discard.
  static Result<std::unique_ptr<TokenKey>> import_private_key(const Pkcs11Uri& uri,
                                                              const crypto::PrivateKey& key,
                                                              const TokenOptions& options = {});

  ~TokenKey() override;
  TokenKey(const TokenKey&) = delete;
  TokenKey& operator=(const TokenKey&) = delete;

  const crypto::PublicKey& public_key() const override { return public_key_; }

  // CKM_ECDSA over the digest, returned DER-encoded; or CKM_EDDSA (pure Ed25519) over the 32 digest
  // bytes, returned as 64 bytes: the encodings crypto::PublicKey::verify_digest checks. Each
  // signature is verified against public_key() before it is returned, so a public-key object that
  // does not belong to the private key is caught here rather than on a device.
  Result<Bytes> sign_digest(const crypto::Sha256Digest& digest) override;

  // A URI that selects exactly this key (token label and serial, object label, id, type=private),
  // without PIN or module: what `keygen` prints and what `sign -k` takes back.
  const Pkcs11Uri& uri() const { return uri_; }

 private:
  struct Handles;  // the module, session and object handles
  struct Found;    // a key open() or generate() found and checked
  explicit TokenKey(Found&& found);

  std::unique_ptr<Handles> handles_;
  crypto::PublicKey public_key_;
  Pkcs11Uri uri_;
};

}  // namespace ironroot::keystore
