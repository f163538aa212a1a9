// Private to libs/keystore: the secret value of a P-256 private key held in memory, for importing
// it into a token (PKCS#11 CKA_VALUE of a CKK_EC private key).
#pragma once

#include "ironroot/core/bytes.hpp"
#include "ironroot/core/result.hpp"
#include "ironroot/crypto/key.hpp"

namespace ironroot::keystore {

// Bytes that are wiped (OPENSSL_cleanse) when they go. Move-only, so that a secret is never copied
// by accident.
class SecretBytes {
 public:
  explicit SecretBytes(std::size_t size) : bytes_(size) {}
  SecretBytes(SecretBytes&& other) noexcept = default;
  SecretBytes& operator=(SecretBytes&&) = delete;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  ~SecretBytes();

  ByteView view() const { return bytes_; }
  std::byte* data() { return bytes_.data(); }
  std::size_t size() const { return bytes_.size(); }

 private:
  Bytes bytes_;
};

// Wipes `bytes` in place.
void wipe(std::span<std::byte> bytes);

// The private scalar of a P-256 key: 32 bytes, big-endian, zero-padded on the left (the EC private
// key value PKCS#11 2.40 section 2.3.4 puts in CKA_VALUE). Fails for any other key type.
Result<SecretBytes> p256_private_scalar(const crypto::PrivateKey& key);

}  // namespace ironroot::keystore
