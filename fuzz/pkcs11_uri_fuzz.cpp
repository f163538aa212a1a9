// Fuzzes the PKCS#11 URI parser (operator input, and later provisioning configuration): it must
// never crash, and whatever it accepts must print and parse back to the same URI.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ironroot/keystore/pkcs11_uri.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto uri = ironroot::keystore::Pkcs11Uri::parse(text);
  if (!uri) return 0;
  // to_string() leaves out the PIN, so compare without it.
  ironroot::keystore::Pkcs11Uri expected = *uri;
  expected.pin_value.reset();
  auto again = ironroot::keystore::Pkcs11Uri::parse(expected.to_string());
  if (!again || !(*again == expected)) std::abort();
  return 0;
}
