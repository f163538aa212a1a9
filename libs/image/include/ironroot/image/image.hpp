// Parsing and verifying MCUboot images. This is a security boundary: the bootloader runs it on
// whatever is in flash. It never reads outside the data it is given and never allocates from a
// length field beyond the format's 16-bit TLV totals. It reads an image in one of two forms:
//   - a buffer (ByteView): everything it returns points into the caller's buffer;
//   - an ImageSource (a flash slot, a file): header and TLV areas are copied into a StoredImage,
//     and the hashed bytes are read in 4 KiB chunks, never the whole image at once (MCUboot's
//     bootutil_img_hash does the same from flash).
// Both forms run the same parser and the same checks, so they refuse the same images with the
// same fault and message.
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
  unreadable,          // the ImageSource failed to read (a flash error); nothing was judged
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

// ---- Images that stay in storage ----

// Where an image lies when it is not held in RAM: a flash slot, a file. The verifier reads the
// header and TLV areas once, then the hashed bytes in chunks of kImageReadChunk.
class ImageSource {
 public:
  virtual ~ImageSource() = default;
  // The bytes the image may occupy (for a slot: up to the end of the image its header claims, or
  // the slot less its trailer). The verifier never reads at or past it; it plays the role of a
  // buffer's size() (an image that claims more is truncated, a source larger than
  // VerifyOptions::slot_size is too_large).
  virtual std::uint64_t size() const = 0;
  // Fills `out` with the bytes at `offset`. REQUIRES: offset + out.size() <= size(). A failure
  // becomes ImageFault::unreadable with this message.
  virtual Status read(std::uint64_t offset, std::span<std::byte> out) = 0;
};

// The largest single read the verifier makes while hashing (its RAM for the payload).
inline constexpr std::size_t kImageReadChunk = 4096;

// An image parsed from an ImageSource: the 32-byte header and the TLV areas are copied into RAM
// (each TLV area is at most 65535 bytes by the format, a few hundred in practice); the payload
// stays in the source, so view().payload is empty. Checks exactly what parse_image() checks.
// Movable, not copyable: view() points into the copies this object owns.
class StoredImage {
 public:
  static Result<StoredImage, ImageError> read(ImageSource& source);

  StoredImage(StoredImage&&) noexcept = default;
  StoredImage& operator=(StoredImage&&) noexcept = default;
  StoredImage(const StoredImage&) = delete;
  StoredImage& operator=(const StoredImage&) = delete;

  // Header and TLVs as parse_image() gives them, except that payload is empty.
  const ImageView& view() const { return view_; }
  // source.size() when the image was read.
  std::uint64_t source_size() const { return source_size_; }

  // The image hash: SHA-256 over the header and the protected TLV area this object read, and the
  // bytes between them (header padding and payload) read from `source` in chunks of
  // kImageReadChunk. REQUIRES: `source` is the one the image was read from. Only computes: the
  // comparison with the SHA256 TLV is verify_image_by_key_hash()'s.
  Result<crypto::Sha256Digest, ImageError> hash(ImageSource& source) const;

 private:
  StoredImage() = default;
  std::vector<Bytes> copies_;  // what was read; view_ and the spans below point into them
  ImageView view_;
  ByteView header_;          // the first kImageHeaderSize bytes
  ByteView protected_area_;  // the protected TLV area with its info; empty when there is none
  std::uint64_t source_size_ = 0;
};

// verify_image_by_key_hash() for an image in storage: the same checks in the same order (slot fit
// against image.source_size(), SHA256 TLV, KEYHASH/PUBKEY against `trusted_hashes`, signature),
// with the hash computed by image.hash(source). The result points into `image`.
// REQUIRES: `source` is the one `image` was read from.
Result<VerifiedImage, ImageError> verify_image_by_key_hash(
    const StoredImage& image, ImageSource& source,
    std::span<const crypto::Sha256Digest> trusted_hashes, const VerifyOptions& options = {});

}  // namespace ironroot::image
