// Keeps the embedded broker's trusted-cas/ folder equal to the registry's ACTIVE registered CAs,
// so that devices of a CA an operator registers (a manufacturer's, for just-in-time
// provisioning) pass the TLS handshake from then on, and those of a CA deactivated or removed no
// longer do. The broker plugin still decides, per certificate, who is admitted.
#pragma once

#include <filesystem>
#include <mutex>

#include "ironroot/core/result.hpp"
#include "ironroot/fleet/registry.hpp"

namespace ironroot::service {

class TrustedCas {
 public:
  // `registry` is this object's own connection (it is used from the REST API's threads).
  TrustedCas(fleet::Registry registry, std::filesystem::path broker_dir)
      : registry_(std::move(registry)), broker_dir_(std::move(broker_dir)) {}

  // Reads the registered CAs and rewrites what differs. Thread-safe.
  Status sync();

 private:
  std::mutex mutex_;
  fleet::Registry registry_;
  std::filesystem::path broker_dir_;
};

}  // namespace ironroot::service
