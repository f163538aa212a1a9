// Parsing and verifying MCUboot images. This is a security boundary: the bootloader runs it on
// whatever is in flash. It never reads outside the span it is given and never allocates from a
// length field; everything it returns points into the caller's buffer.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ironroot/core/bytes.hpp"
#include "ironroot/core/result.hpp"
#include "ironroot/crypto/digest.hpp"
#include "ironroot/crypto/key.hpp"
#include "ironroot/image/format.hpp"

namespace ironroot::image {

// Why an image was refused. One value per class of failure, so that callers (and tests) can tell
// them apart; the message says the specifics.
enum class ImageFault {
  bad_magic,           // not an MCUboot image (or a v1 image)
  truncated,           // the data ends before the header, payload or a TLV area does
  inconsistent_sizes,  // header and TLV areas disagree (hdr_size, protect_tlv_size, TLV totals)
  bad_tlv,             // a TLV entry is malformed, duplicated or in the wrong area
  unsupported,         // a feature ironroot does not verify (encryption, SHA-384, RSA, ...)
  hash_missing,        // no SHA256 TLV
  hash_mismatch,       // the SHA256 TLV does not match the image
  signature_missing,   // no signature TLV for a supported key type
  signature_invalid,   // a trusted key's signature does not verify
  key_not_trusted,     // signed, but by a key that is not among the trusted ones
  too_large,           // image (plus trailer) larger than the slot
};

struct ImageError {
  ImageFault fault;
  std::string message;
};

std::string_view to_string(ImageFault fault);

struct Tlv {
  std::uint16_t type;
  ByteView value;
  bool is_protected;
  std::size_t offset;  // of the TLV header, from the image start
};

// A structurally valid image: every size is consistent and every TLV lies inside the data.
// Nothing is verified yet.
struct ImageView {
  ImageHeader header;
  ByteView payload;
  std::vector<Tlv> tlvs;        // protected ones first, in image order
  std::size_t hashed_size = 0;  // header + payload + protected TLV area
  std::size_t size = 0;         // up to the end of the unprotected TLV area

  const Tlv* find(std::uint16_t type) const;
  std::optional<std::uint32_t> security_counter() const;
  std::vector<Dependency> dependencies() const;
};

// Parses `data`, which may run on past the image (a whole slot, a padded image).
Result<ImageView, ImageError> parse_image(ByteView data);

struct VerifyOptions {
  // When set, the image (to the end of its TLVs) plus `trailer_size` must fit in `slot_size`,
  // and so must `data` itself.
  std::optional<std::uint64_t> slot_size;
  std::uint64_t trailer_size = 0;
};

struct VerifiedImage {
  ImageView image;
  crypto::Sha256Digest hash{};      // the image hash (SHA256 TLV)
  std::size_t key_index = 0;        // which of the trusted keys signed it
  crypto::Sha256Digest key_hash{};  // SHA-256 of that key's SubjectPublicKeyInfo
};

// Verifies integrity and authenticity the way MCUboot's bootutil_img_validate does: the SHA256
// TLV must match the image, and a signature TLV, preceded by a KEYHASH (or PUBKEY) TLV naming one
// of `trusted_keys`, must verify with that key. Protected-only TLVs outside the protected area are
// refused.
Result<VerifiedImage, ImageError> verify_image(ByteView data,
                                               std::span<const crypto::PublicKey> trusted_keys,
                                               const VerifyOptions& options = {});

// The same checks, the way MCUboot's MCUBOOT_HW_KEY mode does them: the device holds only hashes
// of trusted keys (fused in OTP), and the image carries its public key in a PUBKEY TLV (imgtool's
// --public-key-format full), whose hash must be one of `trusted_hashes`. key_index is an index into
// `trusted_hashes`.
Result<VerifiedImage, ImageError> verify_image_by_key_hash(
    ByteView data, std::span<const crypto::Sha256Digest> trusted_hashes,
    const VerifyOptions& options = {});

// Checks only the image hash (no key): what `dumpinfo` reports and imgtool's key-less verify does.
Result<crypto::Sha256Digest, ImageError> check_image_hash(const ImageView& image, ByteView data);

}  // namespace ironroot::image
