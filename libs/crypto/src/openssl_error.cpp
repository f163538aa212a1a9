#include <openssl/err.h>

#include "openssl.hpp"

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

UniqueBio memory_bio(ByteView data) {
  return UniqueBio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

}  // namespace ironroot::crypto
