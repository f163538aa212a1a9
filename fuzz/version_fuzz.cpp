// Fuzzes image version parsing (imgtool's -v and -d values): never crashes, and what it accepts
// prints in a form that parses back to the same version.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ironroot/image/format.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto version = ironroot::image::ImageVersion::parse(text);
  if (!version) return 0;
  auto again = ironroot::image::ImageVersion::parse(version->to_string());
  if (!again || *again != *version) std::abort();
  return 0;
}
