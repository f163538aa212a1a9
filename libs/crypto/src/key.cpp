#include "ironroot/crypto/key.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstring>

#include "openssl.hpp"

namespace ironroot::crypto {

namespace detail {
void PkeyFree::operator()(evp_pkey_st* pkey) const {
  EVP_PKEY_free(pkey);
}
}  // namespace detail

namespace {

constexpr std::string_view kP256GroupName = "prime256v1";
constexpr std::size_t kP256PointSize = 65;  // 0x04 || X || Y
constexpr std::size_t kEd25519KeySize = 32;

Result<KeyType> key_type_of(EVP_PKEY* pkey) {
  switch (EVP_PKEY_get_base_id(pkey)) {
    case EVP_PKEY_ED25519:
      return KeyType::ed25519;
    case EVP_PKEY_EC: {
      char group[64] = {};
      std::size_t len = 0;
      if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                         &len) != 1) {
        return openssl_fail("cannot read the EC key's curve");
      }
      if (std::string_view(group, len) != kP256GroupName) {
        return fail("EC key on curve " + std::string(group, len) +
                    " is not supported; use ecdsa-p256 (prime256v1) or ed25519");
      }
      return KeyType::ecdsa_p256;
    }
    default:
      return fail(std::string("key type ") + EVP_PKEY_get0_type_name(pkey) +
                  " is not supported; use ecdsa-p256 or ed25519");
  }
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(len));
}

// ECDSA DER signatures padded with zeros (imgtool --pad-sig) are cut back to the DER value.
ByteView strip_der_padding(ByteView sig) {
  if (sig.size() < 2 || sig[0] != std::byte{0x30}) return sig;
  std::size_t der_len = std::to_integer<std::size_t>(sig[1]) + 2;
  if (std::to_integer<unsigned>(sig[1]) >= 0x80 || der_len >= sig.size()) return sig;
  for (std::size_t i = der_len; i < sig.size(); ++i) {
    if (sig[i] != std::byte{0}) return sig;
  }
  return sig.first(der_len);
}

struct PassphraseState {
  const std::optional<std::string>* passphrase;
  bool asked = false;
};

int passphrase_callback(char* buf, int size, int /*rwflag*/, void* user) {
  auto* state = static_cast<PassphraseState*>(user);
  state->asked = true;
  if (!state->passphrase->has_value()) return -1;  // never prompt on a terminal
  const std::string& pass = **state->passphrase;
  if (pass.size() > static_cast<std::size_t>(size)) return -1;
  std::memcpy(buf, pass.data(), pass.size());
  return static_cast<int>(pass.size());
}

}  // namespace

std::string_view key_type_name(KeyType type) {
  switch (type) {
    case KeyType::ecdsa_p256:
      return "ecdsa-p256";
    case KeyType::ed25519:
      return "ed25519";
  }
  return "unknown";
}

std::optional<KeyType> parse_key_type(std::string_view name) {
  if (name == "ecdsa-p256") return KeyType::ecdsa_p256;
  if (name == "ed25519") return KeyType::ed25519;
  return std::nullopt;
}

Result<PublicKey> adopt_public_key(EVP_PKEY* raw_pkey) {
  UniquePkey pkey(raw_pkey);
  auto type = key_type_of(pkey.get());
  if (!type) return tl::unexpected(type.error());
  auto der = spki_der(pkey.get());
  if (!der) return tl::unexpected(der.error());
  return PublicKey(std::shared_ptr<EVP_PKEY>(pkey.release(), EVP_PKEY_free), *type,
                   std::move(*der));
}

Result<PublicKey> PublicKey::from_pem(ByteView pem) {
  UniqueBio bio = memory_bio(pem);
  if (EVP_PKEY* pub = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr)) {
    return adopt_public_key(pub);
  }
  ERR_clear_error();
  auto priv = PrivateKey::from_pem(pem);
  if (!priv) {
    return fail("not a PEM public or private key (" + priv.error().message + ")");
  }
  return priv->public_key();
}

Result<PublicKey> PublicKey::from_der(ByteView spki) {
  const unsigned char* p = as_uchars(spki);
  EVP_PKEY* pkey = d2i_PUBKEY(nullptr, &p, static_cast<long>(spki.size()));
  if (pkey == nullptr) return openssl_fail("not a DER SubjectPublicKeyInfo");
  if (p != as_uchars(spki) + spki.size()) {
    EVP_PKEY_free(pkey);
    return fail("DER SubjectPublicKeyInfo has trailing bytes");
  }
  return adopt_public_key(pkey);
}

Result<PublicKey> PublicKey::from_raw(KeyType type, ByteView raw) {
  if (type == KeyType::ed25519) {
    if (raw.size() != kEd25519KeySize) {
      return fail("an Ed25519 public key is 32 bytes, not " + std::to_string(raw.size()));
    }
    EVP_PKEY* pkey =
        EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, as_uchars(raw), raw.size());
    if (pkey == nullptr) return openssl_fail("invalid Ed25519 public key");
    return adopt_public_key(pkey);
  }
  if (raw.size() != kP256PointSize || raw[0] != std::byte{0x04}) {
    return fail("a P-256 public key is a 65-byte uncompressed point starting with 04");
  }
  UniquePkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                       const_cast<char*>(kP256GroupName.data()), 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
                                        const_cast<unsigned char*>(as_uchars(raw)), raw.size()),
      OSSL_PARAM_construct_end()};
  EVP_PKEY* pkey = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
    return openssl_fail("invalid P-256 public key");
  }
  return adopt_public_key(pkey);
}

std::string PublicKey::pem() const {
  UniqueBio bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PUBKEY(bio.get(), pkey_.get());
  return bio_text(bio.get());
}

Bytes PublicKey::raw() const {
  std::size_t len = 0;
  if (type_ == KeyType::ed25519) {
    Bytes raw(kEd25519KeySize);
    len = raw.size();
    EVP_PKEY_get_raw_public_key(pkey_.get(), reinterpret_cast<unsigned char*>(raw.data()), &len);
    return raw;
  }
  Bytes raw(kP256PointSize);
  EVP_PKEY_get_octet_string_param(pkey_.get(), OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
                                  reinterpret_cast<unsigned char*>(raw.data()), raw.size(), &len);
  raw.resize(len);
  return raw;
}

Status PublicKey::verify_digest(const Sha256Digest& digest, ByteView signature) const {
  const auto* dgst = reinterpret_cast<const unsigned char*>(digest.data());
  if (type_ == KeyType::ed25519) {
    UniqueMdCtx ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestVerifyInit_ex(ctx.get(), nullptr, nullptr, nullptr, nullptr, pkey_.get(),
                                        nullptr) != 1) {
      return openssl_fail("cannot set up Ed25519 verification");
    }
    if (EVP_DigestVerify(ctx.get(), as_uchars(signature), signature.size(), dgst, digest.size()) !=
        1) {
      ERR_clear_error();
      return fail("Ed25519 signature does not verify");
    }
    return {};
  }
  ByteView der = strip_der_padding(signature);
  UniquePkeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey_.get(), nullptr));
  if (!ctx || EVP_PKEY_verify_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_signature_md(ctx.get(), EVP_sha256()) != 1) {
    return openssl_fail("cannot set up ECDSA verification");
  }
  if (EVP_PKEY_verify(ctx.get(), as_uchars(der), der.size(), dgst, digest.size()) != 1) {
    ERR_clear_error();
    return fail("ECDSA P-256 signature does not verify");
  }
  return {};
}

Result<PrivateKey> PrivateKey::generate(KeyType type) {
  EVP_PKEY* raw = type == KeyType::ed25519 ? EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")
                                           : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  if (raw == nullptr) return openssl_fail("key generation failed");
  return adopt(raw);
}

Result<PrivateKey> PrivateKey::adopt(EVP_PKEY* raw) {
  UniquePkey pkey(raw);
  auto type = key_type_of(pkey.get());
  if (!type) return tl::unexpected(type.error());
  // The public half as a key object of its own, so that it can be shared without the secret.
  auto der = spki_der(pkey.get());
  if (!der) return tl::unexpected(der.error());
  auto pub = PublicKey::from_der(*der);
  if (!pub) return tl::unexpected(pub.error());
  return PrivateKey(std::unique_ptr<evp_pkey_st, detail::PkeyFree>(pkey.release()), *pub);
}

Result<PrivateKey> PrivateKey::from_pem(ByteView pem, std::optional<std::string> passphrase) {
  UniqueBio bio = memory_bio(pem);
  PassphraseState state{&passphrase};
  UniquePkey pkey(PEM_read_bio_PrivateKey(bio.get(), nullptr, passphrase_callback, &state));
  if (!pkey) {
    if (state.asked && !passphrase) {
      ERR_clear_error();
      return fail("the private key is encrypted; give its passphrase in IRONROOT_KEY_PASSPHRASE");
    }
    if (state.asked) return openssl_fail("cannot decrypt the private key (wrong passphrase?)");
    return openssl_fail("not a PEM private key");
  }
  return adopt(pkey.release());
}

Result<std::string> PrivateKey::pem(std::optional<std::string> passphrase) const {
  UniqueBio bio(BIO_new(BIO_s_mem()));
  const EVP_CIPHER* cipher = passphrase ? EVP_aes_256_cbc() : nullptr;
  char* pass = passphrase ? passphrase->data() : nullptr;
  int pass_len = passphrase ? static_cast<int>(passphrase->size()) : 0;
  if (PEM_write_bio_PKCS8PrivateKey(bio.get(), pkey_.get(), cipher, pass, pass_len, nullptr,
                                    nullptr) != 1) {
    return openssl_fail("cannot encode the private key");
  }
  return bio_text(bio.get());
}

Result<Bytes> PrivateKey::sign_digest(const Sha256Digest& digest) {
  const auto* dgst = reinterpret_cast<const unsigned char*>(digest.data());
  std::size_t len = 0;
  if (type() == KeyType::ed25519) {
    UniqueMdCtx ctx(EVP_MD_CTX_new());
    if (!ctx ||
        EVP_DigestSignInit_ex(ctx.get(), nullptr, nullptr, nullptr, nullptr, pkey_.get(),
                              nullptr) != 1 ||
        EVP_DigestSign(ctx.get(), nullptr, &len, dgst, digest.size()) != 1) {
      return openssl_fail("Ed25519 signing failed");
    }
    Bytes sig(len);
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, dgst,
                       digest.size()) != 1) {
      return openssl_fail("Ed25519 signing failed");
    }
    sig.resize(len);
    return sig;
  }
  UniquePkeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey_.get(), nullptr));
  if (!ctx || EVP_PKEY_sign_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_signature_md(ctx.get(), EVP_sha256()) != 1 ||
      EVP_PKEY_sign(ctx.get(), nullptr, &len, dgst, digest.size()) != 1) {
    return openssl_fail("ECDSA signing failed");
  }
  Bytes sig(len);
  if (EVP_PKEY_sign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, dgst,
                    digest.size()) != 1) {
    return openssl_fail("ECDSA signing failed");
  }
  sig.resize(len);
  return sig;
}

Result<Bytes> ecdsa_der_from_raw(ByteView r_s) {
  if (r_s.empty() || r_s.size() % 2 != 0) {
    return fail("a raw ECDSA signature is r || s, two halves of equal size; got " +
                std::to_string(r_s.size()) + " bytes");
  }
  using UniqueBn = std::unique_ptr<BIGNUM, OpensslFree<BN_free>>;
  using UniqueEcdsaSig = std::unique_ptr<ECDSA_SIG, OpensslFree<ECDSA_SIG_free>>;
  const int half = static_cast<int>(r_s.size() / 2);
  UniqueBn r(BN_bin2bn(as_uchars(r_s), half, nullptr));
  UniqueBn s(BN_bin2bn(as_uchars(r_s) + half, half, nullptr));
  UniqueEcdsaSig sig(ECDSA_SIG_new());
  if (!r || !s || !sig) return openssl_fail("cannot build an ECDSA signature");
  if (ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) {
    return openssl_fail("cannot build an ECDSA signature");
  }
  (void)r.release();  // owned by `sig` now
  (void)s.release();
  unsigned char* der = nullptr;
  int len = i2d_ECDSA_SIG(sig.get(), &der);
  if (len <= 0) return openssl_fail("cannot DER-encode an ECDSA signature");
  return take_openssl_buffer(der, len);
}

}  // namespace ironroot::crypto
