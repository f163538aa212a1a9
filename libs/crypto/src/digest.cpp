#include "ironroot/crypto/digest.hpp"

#include <stdexcept>

#include "openssl.hpp"

namespace ironroot::crypto {

struct Sha256::State {
  UniqueMdCtx ctx{EVP_MD_CTX_new()};
};

Sha256::Sha256() : state_(std::make_unique<State>()) {
  // Failing to set up SHA-256 means OpenSSL itself is broken: not an input error.
  if (!state_->ctx || EVP_DigestInit_ex(state_->ctx.get(), EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("OpenSSL cannot initialise SHA-256: " + openssl_error());
  }
}

Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::update(ByteView data) {
  EVP_DigestUpdate(state_->ctx.get(), data.data(), data.size());
}

Sha256Digest Sha256::finish() {
  Sha256Digest digest{};
  unsigned int len = 0;
  EVP_DigestFinal_ex(state_->ctx.get(), reinterpret_cast<unsigned char*>(digest.data()), &len);
  return digest;
}

Sha256Digest sha256(ByteView data) {
  Sha256 sha;
  sha.update(data);
  return sha.finish();
}

}  // namespace ironroot::crypto
