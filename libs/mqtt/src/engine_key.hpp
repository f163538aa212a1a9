// Private to libs/mqtt: a private key that stays inside a PKCS#11 token, as an EVP_PKEY that
// OpenSSL's TLS code can sign with, through libp11's "pkcs11" ENGINE.
#pragma once

#include <memory>
#include <string>

#include "ironroot/core/result.hpp"
#include "ironroot/keystore/pkcs11_uri.hpp"
#include "ironroot/keystore/token_key.hpp"
#include "openssl_handles.hpp"

namespace ironroot::mqtt {

struct EngineBinding;  // the process's engine, initialised for one module

// A token key loaded through the engine. Move-only; keeps the engine initialised (and bound to
// its module) while it lives.
class EngineKey {
 public:
  // Loads the private key `uri` names (type=private is implied; PIN and module resolved as
  // keystore::TokenOptions says). Fails, with OpenSSL's and libp11's reasons, when the engine is
  // not installed (Debian: libengine-pkcs11-openssl), when it is bound to another module in this
  // process, or when the key cannot be found or logged into.
  static Result<EngineKey> load(const keystore::Pkcs11Uri& uri,
                                const keystore::TokenOptions& options);

  EngineKey(EngineKey&&) noexcept;
  EngineKey& operator=(EngineKey&&) = delete;
  ~EngineKey();

  EVP_PKEY* pkey() const { return pkey_.get(); }

 private:
  EngineKey(std::shared_ptr<EngineBinding> binding, UniquePkey pkey);

  std::shared_ptr<EngineBinding> binding_;  // declared first: outlives the key
  UniquePkey pkey_;
};

}  // namespace ironroot::mqtt
