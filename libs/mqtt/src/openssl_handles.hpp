// Private to libs/mqtt: RAII owners for the OpenSSL handles the TLS code uses, and OpenSSL's error
// queue as text.
#pragma once

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include <memory>
#include <string>

#include "ironroot/core/result.hpp"
#include "ironroot/crypto/openssl_free.hpp"

namespace ironroot::mqtt {

using crypto::OpensslFree;

using UniquePkey = std::unique_ptr<EVP_PKEY, OpensslFree<EVP_PKEY_free>>;
using UniqueSslCtx = std::unique_ptr<SSL_CTX, OpensslFree<SSL_CTX_free>>;
using UniqueMdCtx = std::unique_ptr<EVP_MD_CTX, OpensslFree<EVP_MD_CTX_free>>;

// Drains OpenSSL's error queue into one line ("no details" when it is empty).
inline std::string drain_openssl_errors() {
  std::string text;
  while (unsigned long code = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof buffer);
    text += (text.empty() ? "" : "; ") + std::string(buffer);
  }
  return text.empty() ? "no details" : text;
}

inline tl::unexpected<Error> openssl_fail(const std::string& what) {
  return fail(what + ": " + drain_openssl_errors());
}

}  // namespace ironroot::mqtt
