// MCUboot's image format, written down once for every writer (the CLI) and reader (the bootloader).
// Source: mcu-tools/mcuboot docs/design.md and boot/bootutil/include/bootutil/image.h.
//
//   +----------------------+  0
//   | header (32 bytes)    |     magic, load_addr, hdr_size, protect_tlv_size, img_size, flags,
//   | padded to hdr_size   |     version, pad. All little-endian.
//   +----------------------+  hdr_size
//   | payload (img_size)   |
//   +----------------------+  hdr_size + img_size
//   | protected TLV area   |     info {0x6908, total}; present only when protect_tlv_size != 0,
//   |                      |     and then total == protect_tlv_size. Covered by the image hash.
//   +----------------------+
//   | unprotected TLVs     |     info {0x6907, total}: SHA256, KEYHASH or PUBKEY, signature.
//   +----------------------+
//   | ... up to the slot trailer (see trailer.hpp)
//
// The SHA-256 covers header + payload + protected TLV area; the signature covers that hash.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "ironroot/core/bytes.hpp"
#include "ironroot/core/result.hpp"

namespace ironroot::image {

inline constexpr std::uint32_t kImageMagic = 0x96f3b83d;
inline constexpr std::uint32_t kImageMagicV1 = 0x96f3b83c;
inline constexpr std::size_t kImageHeaderSize = 32;

inline constexpr std::uint16_t kTlvInfoMagic = 0x6907;
inline constexpr std::uint16_t kTlvProtInfoMagic = 0x6908;
inline constexpr std::size_t kTlvInfoSize = 4;    // {u16 magic, u16 total incl. this info}
inline constexpr std::size_t kTlvHeaderSize = 4;  // {u16 type, u16 len}

// Header flags (IMAGE_F_*).
namespace flag {
inline constexpr std::uint32_t kPic = 0x00000001;
inline constexpr std::uint32_t kEncryptedAes128 = 0x00000004;
inline constexpr std::uint32_t kEncryptedAes256 = 0x00000008;
inline constexpr std::uint32_t kNonBootable = 0x00000010;
inline constexpr std::uint32_t kRamLoad = 0x00000020;
inline constexpr std::uint32_t kRomFixed = 0x00000100;
inline constexpr std::uint32_t kCompressedLzma1 = 0x00000200;
inline constexpr std::uint32_t kCompressedLzma2 = 0x00000400;
inline constexpr std::uint32_t kCompressedArmThumb = 0x00000800;
}  // namespace flag

// TLV types (IMAGE_TLV_*).
namespace tlv {
inline constexpr std::uint16_t kKeyHash = 0x01;
inline constexpr std::uint16_t kPubKey = 0x02;
inline constexpr std::uint16_t kSha256 = 0x10;
inline constexpr std::uint16_t kSha384 = 0x11;
inline constexpr std::uint16_t kSha512 = 0x12;
inline constexpr std::uint16_t kRsa2048Pss = 0x20;
inline constexpr std::uint16_t kEcdsa224 = 0x21;
inline constexpr std::uint16_t kEcdsaSig = 0x22;  // ECDSA P-256 (or P-384), DER
inline constexpr std::uint16_t kRsa3072Pss = 0x23;
inline constexpr std::uint16_t kEd25519 = 0x24;
inline constexpr std::uint16_t kSigPure = 0x25;
inline constexpr std::uint16_t kEncRsa2048 = 0x30;
inline constexpr std::uint16_t kEncKw = 0x31;
inline constexpr std::uint16_t kEncEc256 = 0x32;
inline constexpr std::uint16_t kEncX25519 = 0x33;
inline constexpr std::uint16_t kEncX25519Sha512 = 0x34;
inline constexpr std::uint16_t kDependency = 0x40;
inline constexpr std::uint16_t kSecCnt = 0x50;
inline constexpr std::uint16_t kBootRecord = 0x60;
}  // namespace tlv

inline constexpr std::size_t kSha256Size = 32;
inline constexpr std::size_t kSecCntSize = 4;
inline constexpr std::size_t kDependencySize = 12;

// MCUboot's name for a TLV type ("SHA256", "KEYHASH", ...), or "" when unknown.
std::string_view tlv_type_name(std::uint16_t type);

// Types that MCUboot accepts only inside the protected (hashed) TLV area.
bool is_protected_only_tlv(std::uint16_t type);

// major.minor.revision+build, as imgtool's `-v` writes it ("1.2.3+4"; minor, revision and build
// may be omitted). Ordering compares major, minor, revision, then build.
struct ImageVersion {
  std::uint8_t major = 0;
  std::uint8_t minor = 0;
  std::uint16_t revision = 0;
  std::uint32_t build = 0;

  // Fails on anything but digits in that shape, leading zeros, or fields out of range
  // (major and minor <= 255, revision <= 65535, build <= 4294967295).
  static Result<ImageVersion> parse(std::string_view text);
  std::string to_string() const;
  auto operator<=>(const ImageVersion&) const = default;
};

// The 32-byte header, field for field.
struct ImageHeader {
  std::uint32_t magic = kImageMagic;
  std::uint32_t load_addr = 0;
  std::uint16_t hdr_size = kImageHeaderSize;
  std::uint16_t protect_tlv_size = 0;
  std::uint32_t img_size = 0;
  std::uint32_t flags = 0;
  ImageVersion version;
  std::uint32_t pad = 0;

  std::array<std::byte, kImageHeaderSize> encode() const;
  // REQUIRES: bytes.size() >= kImageHeaderSize. Decodes fields only; parse_image() validates them.
  static ImageHeader decode(ByteView bytes);
};

// DEPENDENCY TLV value: this image needs image `image_id` at `min_version` or newer.
struct Dependency {
  std::uint8_t image_id = 0;
  ImageVersion min_version;

  std::array<std::byte, kDependencySize> encode() const;
  // REQUIRES: bytes.size() == kDependencySize.
  static Dependency decode(ByteView bytes);
  bool operator==(const Dependency&) const = default;
};

}  // namespace ironroot::image
