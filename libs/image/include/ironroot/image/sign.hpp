// Building signed MCUboot images, with imgtool's `sign` options and meanings.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "ironroot/core/bytes.hpp"
#include "ironroot/core/result.hpp"
#include "ironroot/crypto/key.hpp"
#include "ironroot/image/format.hpp"
#include "ironroot/image/trailer.hpp"

namespace ironroot::image {

// How the signing key is named in the image: its SHA-256 (KEYHASH, the default) or the whole
// SubjectPublicKeyInfo (PUBKEY, for bootloaders that hold only a key hash in OTP).
enum class PublicKeyFormat { hash, full };

struct SignOptions {
  ImageVersion version;
  std::uint32_t header_size = kImageHeaderSize;  // -H; >= 32
  bool pad_header = false;                       // --pad-header: prepend header_size erased bytes
  std::uint64_t slot_size = 0;                   // -S; required, > 0
  TrailerLayout trailer;                         // --align, --max-align, -M, --overwrite-only
  bool pad = false;                              // --pad: pad to slot_size, write the trailer magic
  bool confirm = false;                          // --confirm: also set image_ok (implies pad)
  std::optional<std::uint32_t> security_counter;  // -s N
  std::vector<Dependency> dependencies;           // -d "(id,ver), ..."
  PublicKeyFormat public_key_format = PublicKeyFormat::hash;
  std::uint32_t load_addr = 0;  // -L; sets the RAM_LOAD flag when non-zero
  std::byte erased_val{0xff};   // -R
};

// Security counter imgtool's `-s auto` derives from a version: major << 24 | minor << 16 |
// revision.
std::uint32_t auto_security_counter(const ImageVersion& version);

// Signs `firmware` (the binary the compiler produced). Without pad_header its first header_size
// bytes must be zero, as imgtool requires, because the header replaces them. Fails with a message
// when the image plus trailer does not fit in the slot or an option is out of range. The result
// is byte-for-byte what imgtool writes for the same input, key and options (ECDSA signatures are
// randomised, so they differ run to run for both tools).
Result<Bytes> sign_image(ByteView firmware, const SignOptions& options, crypto::Signer& signer);

}  // namespace ironroot::image
