#include "openssl.hpp"

#include <openssl/err.h>
#include <openssl/x509.h>

namespace ironroot::crypto {

std::string openssl_error() {
  std::string text;
  unsigned long code = 0;
  while ((code = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    if (text.empty()) text = buf;  // the first error is the root cause
  }
  return text.empty() ? "no details from OpenSSL" : text;
}

Bytes take_openssl_buffer(unsigned char* data, int len) {
  auto* begin = reinterpret_cast<std::byte*>(data);
  Bytes out(begin, begin + len);
  OPENSSL_free(data);
  return out;
}

Result<Bytes> spki_der(EVP_PKEY* pkey) {
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(pkey, &der);
  if (len <= 0) return openssl_fail("cannot encode the public key");
  return take_openssl_buffer(der, len);
}

UniqueBio memory_bio(ByteView data) {
  return UniqueBio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

}  // namespace ironroot::crypto
