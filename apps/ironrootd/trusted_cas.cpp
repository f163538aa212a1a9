#include "trusted_cas.hpp"

#include <spdlog/spdlog.h>

#include "ironroot/core/bytes.hpp"
#include "ironroot/crypto/x509.hpp"
#include "ironroot/mosquitto/broker_folder.hpp"

namespace ironroot::service {

Status TrustedCas::sync() {
  std::lock_guard lock(mutex_);
  std::vector<crypto::Certificate> trusted;
  fleet::Page page{fleet::kMaxPageLimit, ""};
  do {
    auto listing = registry_.list_cas(page);
    if (!listing) return fail("reading the registered CAs: " + listing.error().message);
    for (const fleet::CaRecord& ca : listing->items) {
      if (ca.status != fleet::CaStatus::active) continue;
      auto certificate = crypto::Certificate::from_pem(as_bytes(ca.pem));
      if (!certificate) {
        spdlog::warn("registered CA {} cannot be read ({}); not trusted", ca.id,
                     certificate.error().message);
        continue;
      }
      trusted.push_back(std::move(*certificate));
    }
    page.next_token = listing->next_token;
  } while (!page.next_token.empty());
  return mosquitto::write_trusted_cas(broker_dir_, trusted);
}

}  // namespace ironroot::service
