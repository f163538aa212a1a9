#include "image_signer.hpp"

#include <algorithm>
#include <array>

#include "ironroot/core/bytes.hpp"
#include "ironroot/image/format.hpp"

namespace ironroot::agent {

namespace {

// A DER SubjectPublicKeyInfo of an ECDSA P-256 key is 91 bytes, of an Ed25519 key 44.
constexpr std::uint16_t kMaxPubKeySize = 512;

}  // namespace

Result<crypto::PublicKey> trusted_image_key(flash::FlashArea& slot, std::uint64_t file_size,
                                            std::span<const crypto::Sha256Digest> trusted) {
  auto read = [&](std::uint64_t at, std::span<std::byte> out) -> Status {
    if (at + out.size() > file_size) {
      return fail("the file ends (" + std::to_string(file_size) +
                  " bytes) inside the image's TLV area");
    }
    if (auto r = slot.read(at, out); !r)
      return fail("reading the update slot: " + r.error().message);
    return {};
  };
  std::array<std::byte, image::kImageHeaderSize> header_bytes{};
  if (auto r = read(0, header_bytes); !r) return tl::unexpected(r.error());
  const image::ImageHeader header = image::ImageHeader::decode(header_bytes);
  if (header.magic != image::kImageMagic) return fail("the file is not an MCUboot image");
  std::uint64_t at = std::uint64_t{header.hdr_size} + header.img_size + header.protect_tlv_size;
  std::array<std::byte, image::kTlvInfoSize> info{};
  if (auto r = read(at, info); !r) return tl::unexpected(r.error());
  if (load_le16(info) != image::kTlvInfoMagic) {
    return fail("the image has no TLV area where its header says");
  }
  const std::uint64_t end = at + load_le16(ByteView(info).subspan(2));
  at += image::kTlvInfoSize;
  bool saw_key = false;
  while (at + image::kTlvHeaderSize <= end) {
    std::array<std::byte, image::kTlvHeaderSize> tlv{};
    if (auto r = read(at, tlv); !r) return tl::unexpected(r.error());
    const std::uint16_t type = load_le16(tlv);
    const std::uint16_t length = load_le16(ByteView(tlv).subspan(2));
    at += image::kTlvHeaderSize;
    if (at + length > end) return fail("a TLV runs past the image's TLV area");
    if (type == image::tlv::kPubKey && length <= kMaxPubKeySize) {
      saw_key = true;
      Bytes der(length);
      if (auto r = read(at, der); !r) return tl::unexpected(r.error());
      const crypto::Sha256Digest hash = crypto::sha256(der);
      if (std::find(trusted.begin(), trusted.end(), hash) != trusted.end()) {
        auto key = crypto::PublicKey::from_der(der);
        if (!key) return fail("the image's PUBKEY TLV is not a usable key: " + key.error().message);
        return key;
      }
    }
    at += length;
  }
  if (saw_key) return fail("the image's key is not one this device trusts");
  return fail(
      "the image carries no PUBKEY TLV (sign it with --public-key-format full: this device "
      "trusts fused key hashes)");
}

}  // namespace ironroot::agent
