// Fixed keys for deterministic tests. Ed25519 signatures are deterministic, so an image signed with
// kEd25519Pem has the same bytes every run.
#pragma once

#include "ironroot/crypto/key.hpp"

namespace ironroot::testing {

// RFC 8032 test 1 secret key (9d61b19d...), as PKCS#8 PEM.
inline constexpr const char* kEd25519Pem =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
    "-----END PRIVATE KEY-----\n";
// Its public key (RFC 8032 test 1).
inline constexpr const char* kEd25519PublicHex =
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

inline crypto::PrivateKey ed25519_key() {
  return *crypto::PrivateKey::from_pem(as_bytes(kEd25519Pem));
}

inline crypto::PrivateKey fresh_key(crypto::KeyType type) {
  return *crypto::PrivateKey::generate(type);
}

}  // namespace ironroot::testing
