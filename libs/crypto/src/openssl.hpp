// Private to libs/crypto: RAII owners for OpenSSL handles and error text.
#pragma once

#include <openssl/bio.h>
#include <openssl/evp.h>

#include <memory>
#include <string>

#include "ironroot/core/result.hpp"
#include "ironroot/crypto/key.hpp"
#include "ironroot/crypto/openssl_free.hpp"

namespace ironroot::crypto {

using UniqueBio = std::unique_ptr<BIO, OpensslFree<BIO_free_all>>;
using UniquePkey = std::unique_ptr<EVP_PKEY, OpensslFree<EVP_PKEY_free>>;
using UniquePkeyCtx = std::unique_ptr<EVP_PKEY_CTX, OpensslFree<EVP_PKEY_CTX_free>>;
using UniqueMdCtx = std::unique_ptr<EVP_MD_CTX, OpensslFree<EVP_MD_CTX_free>>;

// Drains OpenSSL's error queue into one line ("no details" when it is empty).
std::string openssl_error();

// "what: <openssl error>" as an Error, draining the queue.
inline tl::unexpected<Error> openssl_fail(const std::string& what) {
  return fail(what + ": " + openssl_error());
}

// Takes ownership of `pkey` and wraps it as a PublicKey, or fails (and frees it) when it is not an
// ECDSA P-256 or Ed25519 key.
Result<PublicKey> adopt_public_key(EVP_PKEY* pkey);

// Copies a buffer an i2d_* encoder allocated with OPENSSL_malloc, and frees it.
// REQUIRES: len > 0.
Bytes take_openssl_buffer(unsigned char* data, int len);

// The DER SubjectPublicKeyInfo of a key (public or private).
Result<Bytes> spki_der(EVP_PKEY* pkey);

// A read-only memory BIO over `data`.
UniqueBio memory_bio(ByteView data);

}  // namespace ironroot::crypto
