// SHA-256, the digest MCUboot images, key hashes and boot measurements use.
#pragma once

#include <array>
#include <cstddef>
#include <memory>

#include "ironroot/core/bytes.hpp"

namespace ironroot::crypto {

using Sha256Digest = std::array<std::byte, 32>;

// Incremental SHA-256 over data that arrives in pieces (an image read from flash block by block).
// Not thread-safe; cheap to move.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;

  void update(ByteView data);
  // Returns the digest of everything passed to update(). The object may not be used afterwards.
  Sha256Digest finish();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

Sha256Digest sha256(ByteView data);

}  // namespace ironroot::crypto
