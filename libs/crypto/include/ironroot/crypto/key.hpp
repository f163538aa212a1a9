// Asymmetric keys for code signing: ECDSA P-256 and Ed25519 (the MCUboot signature types
// ironroot supports), as RAII values over OpenSSL 3.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "ironroot/core/bytes.hpp"
#include "ironroot/core/result.hpp"
#include "ironroot/crypto/digest.hpp"

struct evp_pkey_st;  // OpenSSL's EVP_PKEY

namespace ironroot::crypto {

enum class KeyType { ecdsa_p256, ed25519 };

// "ecdsa-p256" / "ed25519", the names imgtool's `keygen -t` uses.
std::string_view key_type_name(KeyType type);
std::optional<KeyType> parse_key_type(std::string_view name);

namespace detail {
struct PkeyFree {
  void operator()(evp_pkey_st* pkey) const;
};
}  // namespace detail

// A public key. Copyable (shares the underlying immutable OpenSSL key).
class PublicKey {
 public:
  // Parses a PEM "PUBLIC KEY", or takes the public half of a PEM private key (as imgtool's
  // `verify -k` does). Fails on anything that is not an ECDSA P-256 or Ed25519 key.
  static Result<PublicKey> from_pem(ByteView pem);
  // Parses a DER SubjectPublicKeyInfo.
  static Result<PublicKey> from_der(ByteView spki);
  // Builds a key from its raw public value (see raw()), as a PKCS#11 token reports it.
  static Result<PublicKey> from_raw(KeyType type, ByteView raw);

  KeyType type() const { return type_; }
  // DER SubjectPublicKeyInfo: what MCUboot embeds and hashes.
  const Bytes& der() const { return der_; }
  std::string pem() const;
  // The key's raw public value: the uncompressed point (65 bytes) or the Ed25519 key (32 bytes).
  Bytes raw() const;
  // SHA-256 of der(): MCUboot's KEYHASH, and what devices fuse as a trust anchor.
  const Sha256Digest& key_hash() const { return key_hash_; }

  // Checks a signature over a SHA-256 digest, in the encoding MCUboot uses: DER for ECDSA (zero
  // padding after the DER value, written by imgtool's old --pad-sig, is tolerated), the 64-byte
  // signature over the 32 digest bytes for Ed25519.
  Status verify_digest(const Sha256Digest& digest, ByteView signature) const;

  // The underlying EVP_PKEY, for other parts of libs/crypto. Never null.
  evp_pkey_st* native() const { return pkey_.get(); }

 private:
  PublicKey(std::shared_ptr<evp_pkey_st> pkey, KeyType type, Bytes der)
      : pkey_(std::move(pkey)), type_(type), der_(std::move(der)), key_hash_(sha256(der_)) {}
  friend class PrivateKey;
  friend Result<PublicKey> adopt_public_key(evp_pkey_st* pkey);

  std::shared_ptr<evp_pkey_st> pkey_;
  KeyType type_;
  // Encoded once: verification looks keys up by hash on every image.
  Bytes der_;
  Sha256Digest key_hash_;
};

// Something that can sign an image digest: a key file in memory, or a key inside a PKCS#11 token
// (libs/keystore). The image builder takes a Signer and never sees where the key lives.
class Signer {
 public:
  virtual ~Signer() = default;
  virtual const PublicKey& public_key() const = 0;
  // Signs a SHA-256 digest; the encoding is the one PublicKey::verify_digest checks.
  virtual Result<Bytes> sign_digest(const Sha256Digest& digest) = 0;
};

// A private key held in this process's memory (a PEM file on disk). For keys that must never be
// readable, use a token key from libs/keystore instead.
class PrivateKey final : public Signer {
 public:
  static Result<PrivateKey> generate(KeyType type);
  // Parses a PEM private key (PKCS#8 or traditional). An encrypted key needs `passphrase`; without
  // one it fails with a message saying so, and never prompts.
  static Result<PrivateKey> from_pem(ByteView pem, std::optional<std::string> passphrase = {});

  KeyType type() const { return public_.type(); }
  // Unencrypted PKCS#8 PEM (what imgtool writes), or encrypted with AES-256 when a passphrase is
  // given.
  Result<std::string> pem(std::optional<std::string> passphrase = {}) const;

  const PublicKey& public_key() const override { return public_; }
  Result<Bytes> sign_digest(const Sha256Digest& digest) override;

 private:
  // Takes ownership of a checked private key and derives its public half.
  static Result<PrivateKey> adopt(evp_pkey_st* pkey);
  PrivateKey(std::unique_ptr<evp_pkey_st, detail::PkeyFree> pkey, PublicKey pub)
      : pkey_(std::move(pkey)), public_(std::move(pub)) {}

  std::unique_ptr<evp_pkey_st, detail::PkeyFree> pkey_;
  PublicKey public_;
};

// Converts an ECDSA signature from the raw r || s form that PKCS#11's CKM_ECDSA returns (two
// big-endian integers of equal size: 64 bytes for P-256) to the DER ECDSA-Sig-Value that MCUboot
// and PublicKey::verify_digest use. Fails on an empty or odd-sized input.
Result<Bytes> ecdsa_der_from_raw(ByteView r_s);

}  // namespace ironroot::crypto
