// Secrets and identifiers from the operating system's CSPRNG (getrandom(2)).
#pragma once

#include <cstddef>

#include "ironroot/core/bytes.hpp"
#include "ironroot/core/result.hpp"

namespace ironroot::crypto {

// `count` random bytes (at most 1 MiB). Fails only when the kernel's generator does.
Result<Bytes> random_bytes(std::size_t count);

}  // namespace ironroot::crypto
