// Fuzzes what the bootloader runs on untrusted flash contents: parse, hash check, signature
// verification against a fixed trusted key, and the dumpinfo description of whatever parses.
#include <cstddef>
#include <cstdint>

#include "ironroot/image/image.hpp"
#include "ironroot/image/image_info.hpp"

namespace {

// RFC 8032 test 1 key: seeds signed with it exercise the signature path all the way.
constexpr const char* kTrustedPem =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
    "-----END PRIVATE KEY-----\n";

const std::vector<ironroot::crypto::PublicKey>& trusted_keys() {
  static const std::vector<ironroot::crypto::PublicKey> keys = {
      ironroot::crypto::PrivateKey::from_pem(ironroot::as_bytes(kTrustedPem))->public_key()};
  return keys;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ironroot::ByteView input(reinterpret_cast<const std::byte*>(data), size);
  if (auto parsed = ironroot::image::parse_image(input)) {
    (void)ironroot::image::describe_image(*parsed, input).dump();
  }
  ironroot::image::VerifyOptions options;
  options.slot_size = 0x20000;
  options.trailer_size = 432;
  (void)ironroot::image::verify_image(input, trusted_keys(), options);
  return 0;
}
