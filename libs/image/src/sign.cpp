#include "ironroot/image/sign.hpp"

#include <algorithm>
#include <limits>

#include "ironroot/crypto/digest.hpp"

namespace ironroot::image {

namespace {

void append_tlv(Bytes& area, std::uint16_t type, ByteView value) {
  append_le16(area, type);
  append_le16(area, static_cast<std::uint16_t>(value.size()));
  append(area, value);
}

// Wraps TLV entries in their info header; an empty area is omitted entirely.
Bytes tlv_area(std::uint16_t magic, const Bytes& entries) {
  Bytes area;
  if (entries.empty()) return area;
  append_le16(area, magic);
  append_le16(area, static_cast<std::uint16_t>(entries.size() + kTlvInfoSize));
  append(area, entries);
  return area;
}

std::uint16_t signature_tlv_type(crypto::KeyType type) {
  return type == crypto::KeyType::ed25519 ? tlv::kEd25519 : tlv::kEcdsaSig;
}

}  // namespace

std::uint32_t auto_security_counter(const ImageVersion& v) {
  return (std::uint32_t{v.major} << 24) + (std::uint32_t{v.minor} << 16) + v.revision;
}

Result<Bytes> sign_image(ByteView firmware, const SignOptions& options, crypto::Signer& signer) {
  if (options.header_size < kImageHeaderSize || options.header_size > 0xffff) {
    return fail("header size " + std::to_string(options.header_size) +
                " is out of range: at least 32 and at most 65535 bytes");
  }
  if (options.slot_size == 0) return fail("slot size (-S) must be given and larger than 0");

  Bytes image;
  image.reserve(firmware.size() + (options.pad_header ? options.header_size : 0) + 512);
  if (options.pad_header) {
    image.assign(options.header_size, options.erased_val);
  } else {
    if (firmware.size() < options.header_size) {
      return fail("input is " + std::to_string(firmware.size()) + " bytes, shorter than the " +
                  std::to_string(options.header_size) + "-byte header; use --pad-header");
    }
    auto header_room = firmware.first(options.header_size);
    if (!std::all_of(header_room.begin(), header_room.end(),
                     [](std::byte b) { return b == std::byte{0}; })) {
      return fail("header padding was not requested and the input does not start with " +
                  std::to_string(options.header_size) +
                  " zero bytes; use --pad-header, or link the firmware with room for the header");
    }
  }
  append(image, firmware);
  const std::uint64_t img_size = image.size() - options.header_size;
  if (img_size > std::numeric_limits<std::uint32_t>::max()) {
    return fail("input of " + std::to_string(img_size) +
                " bytes is too large for an MCUboot image");
  }

  // Protected TLVs, in imgtool's order: security counter, then dependencies.
  Bytes protected_entries;
  if (options.security_counter) {
    Bytes value;
    append_le32(value, *options.security_counter);
    append_tlv(protected_entries, tlv::kSecCnt, value);
  }
  for (const Dependency& dep : options.dependencies) {
    append_tlv(protected_entries, tlv::kDependency, dep.encode());
  }
  if (protected_entries.size() + kTlvInfoSize > 0xffff) {
    return fail("too many protected TLVs: the protected area is limited to 65535 bytes");
  }
  Bytes protected_area = tlv_area(kTlvProtInfoMagic, protected_entries);

  ImageHeader header;
  header.load_addr = options.load_addr;
  header.hdr_size = static_cast<std::uint16_t>(options.header_size);
  header.protect_tlv_size = static_cast<std::uint16_t>(protected_area.size());
  header.img_size = static_cast<std::uint32_t>(img_size);
  header.flags = options.load_addr != 0 ? flag::kRamLoad : 0;
  header.version = options.version;
  auto encoded = header.encode();
  std::copy(encoded.begin(), encoded.end(), image.begin());
  append(image, protected_area);

  const crypto::Sha256Digest digest = crypto::sha256(image);
  const crypto::PublicKey& key = signer.public_key();
  auto signature = signer.sign_digest(digest);
  if (!signature) return prefixed(signature.error(), "signing the image hash");

  Bytes entries;
  append_tlv(entries, tlv::kSha256, digest);
  if (options.public_key_format == PublicKeyFormat::hash) {
    append_tlv(entries, tlv::kKeyHash, key.key_hash());
  } else {
    append_tlv(entries, tlv::kPubKey, key.der());
  }
  append_tlv(entries, signature_tlv_type(key.type()), *signature);
  append(image, tlv_area(kTlvInfoMagic, entries));

  const std::uint64_t trailer_size = options.trailer.size();
  if (image.size() + trailer_size > options.slot_size) {
    char buf[160];
    std::snprintf(buf, sizeof buf,
                  "image size (0x%zx) + trailer (0x%llx) exceeds the slot size 0x%llx",
                  image.size(), static_cast<unsigned long long>(trailer_size),
                  static_cast<unsigned long long>(options.slot_size));
    return fail(buf);
  }
  if (options.pad || options.confirm) {
    image.resize(options.slot_size - trailer_size, options.erased_val);
    append(image, make_trailer(options.trailer, options.erased_val, options.confirm));
  }
  return image;
}

}  // namespace ironroot::image
