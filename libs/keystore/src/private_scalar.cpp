#include "private_scalar.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <memory>

#include "ironroot/crypto/openssl_free.hpp"

namespace ironroot::keystore {

namespace {

constexpr std::size_t kP256ScalarSize = 32;

using BioPtr = std::unique_ptr<BIO, crypto::OpensslFree<BIO_free>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, crypto::OpensslFree<EVP_PKEY_free>>;
using SecretBignum = std::unique_ptr<BIGNUM, crypto::OpensslFree<BN_clear_free>>;

// A std::string that holds a secret (a PEM private key), wiped when it goes.
struct SecretText {
  std::string text;
  ~SecretText() { OPENSSL_cleanse(text.data(), text.size()); }
};

}  // namespace

SecretBytes::~SecretBytes() {
  wipe(bytes_);
}

void wipe(std::span<std::byte> bytes) {
  if (!bytes.empty()) OPENSSL_cleanse(bytes.data(), bytes.size());
}

Result<SecretBytes> p256_private_scalar(const crypto::PrivateKey& key) {
  if (key.type() != crypto::KeyType::ecdsa_p256) {
    return fail("the key is " + std::string(crypto::key_type_name(key.type())) +
                "; only ecdsa-p256 keys can be imported into a token");
  }
  // libs/crypto keeps its EVP_PKEY to itself; its unencrypted PKCS#8 form is read back here.
  auto pem = key.pem();
  if (!pem) return tl::unexpected(pem.error());
  SecretText text{std::move(*pem)};
  BioPtr bio(BIO_new_mem_buf(text.text.data(), static_cast<int>(text.text.size())));
  if (!bio) return fail("out of memory reading the private key");
  PkeyPtr pkey(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!pkey) return fail("the private key cannot be read back from its PKCS#8 form");
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(pkey.get(), OSSL_PKEY_PARAM_PRIV_KEY, &raw) != 1) {
    return fail("the private key has no private scalar");
  }
  SecretBignum scalar(raw);
  SecretBytes out(kP256ScalarSize);
  if (BN_bn2binpad(scalar.get(), reinterpret_cast<unsigned char*>(out.data()),
                   static_cast<int>(out.size())) != static_cast<int>(kP256ScalarSize)) {
    return fail("the private scalar does not fit in 32 bytes: not a P-256 key");
  }
  return out;
}

}  // namespace ironroot::keystore
