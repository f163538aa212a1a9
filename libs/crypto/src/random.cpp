#include "ironroot/crypto/random.hpp"

#include <sys/random.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace ironroot::crypto {

namespace {
constexpr std::size_t kMaxRandomBytes = 1024 * 1024;
}

Result<Bytes> random_bytes(std::size_t count) {
  if (count > kMaxRandomBytes) {
    return fail("asked for " + std::to_string(count) + " random bytes; at most " +
                std::to_string(kMaxRandomBytes) + " at once");
  }
  Bytes bytes(count);
  std::size_t filled = 0;
  while (filled < count) {
    ssize_t n = getrandom(bytes.data() + filled, count - filled, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(std::string("the operating system's random generator failed: ") +
                  std::strerror(errno));
    }
    filled += static_cast<std::size_t>(n);
  }
  return bytes;
}

}  // namespace ironroot::crypto
