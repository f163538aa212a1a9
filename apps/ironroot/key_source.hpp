// Where a signing key lives, as the operator names it with -k: a PEM file, or a PKCS#11 URI
// (`pkcs11:token=oem;object=fw-signing`) naming a key inside a token that never leaves it.
#pragma once

#include <memory>
#include <string>

#include "ironroot/core/result.hpp"
#include "ironroot/crypto/key.hpp"

namespace ironroot::cli {

// Opens a key to sign with. A PEM file encrypted with a passphrase takes it from
// IRONROOT_KEY_PASSPHRASE; a token's PIN comes from the URI or IRONROOT_PKCS11_PIN.
Result<std::unique_ptr<crypto::Signer>> open_signer(const std::string& key);

// Reads a public key: a PEM public key, the public half of a PEM private key, or a token key.
Result<crypto::PublicKey> open_public_key(const std::string& key);

struct KeygenOptions {
  crypto::KeyType type = crypto::KeyType::ecdsa_p256;
  bool overwrite = false;  // replace an existing key file (never a token key)
  bool encrypt = false;    // protect the PEM file with IRONROOT_KEY_PASSPHRASE
};

// Creates a new key: a PEM file (mode 0600, written atomically; an existing file is kept unless
// `overwrite`), or a key pair generated inside the token named by a pkcs11: URI.
Result<crypto::PublicKey> generate_key(const std::string& key, const KeygenOptions& options);

}  // namespace ironroot::cli
