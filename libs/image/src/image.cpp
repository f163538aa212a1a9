#include "ironroot/image/image.hpp"

#include <algorithm>
#include <functional>

namespace ironroot::image {

namespace {

tl::unexpected<ImageError> refuse(ImageFault fault, std::string message) {
  return tl::unexpected<ImageError>(ImageError{fault, std::move(message)});
}

std::string hex_short(ByteView bytes) {
  return to_hex(bytes.first(std::min<std::size_t>(bytes.size(), 8)));
}

// Reads `length` bytes at `offset` of the data being parsed: a buffer's bytes, or a copy read from
// an ImageSource. The parser checks offset + length <= the data's size before every call, and
// asks for the header and the TLV areas only, never the payload.
using Fetch = std::function<Result<ByteView, ImageError>(std::uint64_t offset, std::size_t length)>;

// What the parser found, with the bytes the image hash covers that it read.
struct ParsedImage {
  ImageView view;           // payload left empty: the caller knows where its bytes are
  ByteView header;          // the first kImageHeaderSize bytes
  ByteView protected_area;  // the protected TLV area, info included; empty when there is none
};

// Reads one TLV area starting at `offset` of `size` bytes of data: its info header must carry
// `magic`, its total must fit in the data, and its entries must tile it exactly. Appends the
// entries to `out` and returns the area, info included.
Result<ByteView, ImageError> parse_tlv_area(std::uint64_t size, const Fetch& fetch,
                                            std::size_t offset, std::uint16_t magic,
                                            bool is_protected, std::vector<Tlv>& out) {
  const char* area = is_protected ? "protected TLV area" : "TLV area";
  if (size - offset < kTlvInfoSize) {
    return refuse(ImageFault::truncated, std::string("image is truncated: the ") + area +
                                             " info at offset " + std::to_string(offset) +
                                             " lies past the end of the data (" +
                                             std::to_string(size) + " bytes)");
  }
  auto info = fetch(offset, kTlvInfoSize);
  if (!info) return tl::unexpected(info.error());
  std::uint16_t found = load_le16(*info);
  std::uint16_t total = load_le16(info->subspan(2));
  if (found != magic) {
    char buf[80];
    std::snprintf(buf, sizeof buf, "bad %s magic 0x%04x at offset %zu (expected 0x%04x)", area,
                  found, offset, magic);
    return refuse(found == kTlvInfoMagic || found == kTlvProtInfoMagic
                      ? ImageFault::inconsistent_sizes
                      : ImageFault::bad_tlv,
                  buf);
  }
  if (total < kTlvInfoSize) {
    return refuse(ImageFault::inconsistent_sizes, std::string(area) + " total " +
                                                      std::to_string(total) +
                                                      " is smaller than its own 4-byte info");
  }
  if (size - offset < total) {
    return refuse(ImageFault::truncated, std::string("image is truncated: the ") + area +
                                             " needs " + std::to_string(total) +
                                             " bytes at offset " + std::to_string(offset) +
                                             ", only " + std::to_string(size - offset) + " remain");
  }
  auto bytes = fetch(offset, total);
  if (!bytes) return tl::unexpected(bytes.error());
  const ByteView entries = *bytes;
  std::size_t at = kTlvInfoSize;  // within the area
  while (at < total) {
    if (total - at < kTlvHeaderSize) {
      return refuse(ImageFault::bad_tlv, std::string("a TLV header at offset ") +
                                             std::to_string(offset + at) +
                                             " runs past the end of the " + area);
    }
    std::uint16_t type = load_le16(entries.subspan(at));
    std::uint16_t len = load_le16(entries.subspan(at + 2));
    if (total - at - kTlvHeaderSize < len) {
      return refuse(ImageFault::bad_tlv, "TLV 0x" + to_hex(entries.subspan(at, 2)) + " at offset " +
                                             std::to_string(offset + at) + " claims " +
                                             std::to_string(len) + " bytes, past the end of the " +
                                             area);
    }
    out.push_back(Tlv{type, entries.subspan(at + kTlvHeaderSize, len), is_protected, offset + at});
    at += kTlvHeaderSize + len;
  }
  return entries;
}

// Checks the fixed-size protected TLVs and that none appears where it must not.
Result<void, ImageError> check_tlv_placement(const std::vector<Tlv>& tlvs) {
  int sec_cnt = 0;
  for (const Tlv& t : tlvs) {
    if (!t.is_protected && is_protected_only_tlv(t.type)) {
      return refuse(ImageFault::bad_tlv,
                    std::string(tlv_type_name(t.type)) + " TLV at offset " +
                        std::to_string(t.offset) +
                        " is outside the protected area, where it is not hashed");
    }
    if (t.type == tlv::kSecCnt && (t.value.size() != kSecCntSize || ++sec_cnt > 1)) {
      return refuse(ImageFault::bad_tlv, "SEC_CNT TLV must appear once with 4 bytes");
    }
    if (t.type == tlv::kDependency && t.value.size() != kDependencySize) {
      return refuse(ImageFault::bad_tlv,
                    "DEPENDENCY TLV has " + std::to_string(t.value.size()) + " bytes, expected 12");
    }
  }
  return {};
}

}  // namespace

std::string_view to_string(ImageFault fault) {
  switch (fault) {
    case ImageFault::bad_magic:
      return "bad_magic";
    case ImageFault::truncated:
      return "truncated";
    case ImageFault::inconsistent_sizes:
      return "inconsistent_sizes";
    case ImageFault::bad_tlv:
      return "bad_tlv";
    case ImageFault::unsupported:
      return "unsupported";
    case ImageFault::hash_missing:
      return "hash_missing";
    case ImageFault::hash_mismatch:
      return "hash_mismatch";
    case ImageFault::signature_missing:
      return "signature_missing";
    case ImageFault::signature_invalid:
      return "signature_invalid";
    case ImageFault::key_not_trusted:
      return "key_not_trusted";
    case ImageFault::too_large:
      return "too_large";
    case ImageFault::unreadable:
      return "unreadable";
  }
  return "unknown";
}

const Tlv* ImageView::find(std::uint16_t type) const {
  auto it = std::find_if(tlvs.begin(), tlvs.end(), [&](const Tlv& t) { return t.type == type; });
  return it == tlvs.end() ? nullptr : &*it;
}

std::optional<std::uint32_t> ImageView::security_counter() const {
  for (const Tlv& t : tlvs) {
    if (t.is_protected && t.type == tlv::kSecCnt && t.value.size() == kSecCntSize) {
      return load_le32(t.value);
    }
  }
  return std::nullopt;
}

std::vector<Dependency> ImageView::dependencies() const {
  std::vector<Dependency> deps;
  for (const Tlv& t : tlvs) {
    if (t.is_protected && t.type == tlv::kDependency && t.value.size() == kDependencySize) {
      deps.push_back(Dependency::decode(t.value));
    }
  }
  return deps;
}

namespace {

// parse_image()'s checks over `size` bytes of data reached through `fetch`.
Result<ParsedImage, ImageError> parse(std::uint64_t size, const Fetch& fetch) {
  if (size < kImageHeaderSize) {
    auto head = fetch(0, static_cast<std::size_t>(size));
    if (!head) return tl::unexpected(head.error());
    if (size >= 4 && load_le32(*head) != kImageMagic) {
      return refuse(ImageFault::bad_magic,
                    "not an MCUboot image: bad magic 0x" + to_hex(head->first(4)));
    }
    return refuse(ImageFault::truncated, "image is truncated: " + std::to_string(size) +
                                             " bytes, shorter than the 32-byte header");
  }
  auto header = fetch(0, kImageHeaderSize);
  if (!header) return tl::unexpected(header.error());
  ParsedImage parsed;
  parsed.header = *header;
  ImageView& image = parsed.view;
  image.header = ImageHeader::decode(*header);
  const ImageHeader& h = image.header;
  if (h.magic != kImageMagic) {
    char buf[128];
    std::snprintf(buf, sizeof buf,
                  h.magic == kImageMagicV1
                      ? "MCUboot v1 image (magic 0x%08x) is not supported; re-sign it with a "
                        "current imgtool or ironroot"
                      : "not an MCUboot image: bad magic 0x%08x (expected 0x96f3b83d)",
                  h.magic);
    return refuse(ImageFault::bad_magic, buf);
  }
  if (h.hdr_size < kImageHeaderSize) {
    return refuse(ImageFault::inconsistent_sizes, "header size " + std::to_string(h.hdr_size) +
                                                      " is smaller than the 32-byte header");
  }
  // 64-bit arithmetic: hdr_size + img_size cannot overflow.
  const std::uint64_t payload_end = std::uint64_t{h.hdr_size} + h.img_size;
  if (payload_end > size) {
    return refuse(ImageFault::truncated,
                  "image is truncated: header says " + std::to_string(payload_end) +
                      " bytes of header and payload, the data has " + std::to_string(size));
  }
  std::size_t offset = static_cast<std::size_t>(payload_end);
  if (h.protect_tlv_size != 0) {
    if (h.protect_tlv_size < kTlvInfoSize) {
      return refuse(ImageFault::inconsistent_sizes, "protected TLV size " +
                                                        std::to_string(h.protect_tlv_size) +
                                                        " is smaller than its 4-byte info");
    }
    auto area = parse_tlv_area(size, fetch, offset, kTlvProtInfoMagic, true, image.tlvs);
    if (!area) return tl::unexpected(area.error());
    if (area->size() != h.protect_tlv_size) {
      return refuse(ImageFault::inconsistent_sizes,
                    "header says the protected TLV area is " + std::to_string(h.protect_tlv_size) +
                        " bytes, its info says " + std::to_string(area->size()));
    }
    parsed.protected_area = *area;
    offset += area->size();
  } else if (size - offset >= 2) {
    auto next = fetch(offset, 2);
    if (!next) return tl::unexpected(next.error());
    if (load_le16(*next) == kTlvProtInfoMagic) {
      return refuse(ImageFault::inconsistent_sizes,
                    "header says there is no protected TLV area, but one follows the payload");
    }
  }
  image.hashed_size = offset;
  auto area = parse_tlv_area(size, fetch, offset, kTlvInfoMagic, false, image.tlvs);
  if (!area) return tl::unexpected(area.error());
  image.size = offset + area->size();
  if (auto placed = check_tlv_placement(image.tlvs); !placed) return tl::unexpected(placed.error());
  return parsed;
}

}  // namespace

Result<ImageView, ImageError> parse_image(ByteView data) {
  auto parsed =
      parse(data.size(),
            [data](std::uint64_t offset, std::size_t length) -> Result<ByteView, ImageError> {
              return data.subspan(static_cast<std::size_t>(offset), length);
            });
  if (!parsed) return tl::unexpected(parsed.error());
  ImageView image = std::move(parsed->view);
  image.payload = data.subspan(image.header.hdr_size, image.header.img_size);
  return image;
}

Result<StoredImage, ImageError> StoredImage::read(ImageSource& source) {
  StoredImage stored;
  stored.source_size_ = source.size();
  // At most six reads (header, two per TLV area, a peek for a stray protected area): the copies
  // never move, and a moved vector keeps its elements' buffers, so views into them stay valid.
  stored.copies_.reserve(6);
  auto parsed =
      parse(stored.source_size_,
            [&](std::uint64_t offset, std::size_t length) -> Result<ByteView, ImageError> {
              Bytes& copy = stored.copies_.emplace_back(length);
              if (auto r = source.read(offset, copy); !r) {
                return refuse(ImageFault::unreadable,
                              "could not read the image (" + std::to_string(length) +
                                  " bytes at offset " + std::to_string(offset) +
                                  "): " + r.error().message);
              }
              return ByteView(copy);
            });
  if (!parsed) return tl::unexpected(parsed.error());
  stored.view_ = std::move(parsed->view);
  stored.header_ = parsed->header;
  stored.protected_area_ = parsed->protected_area;
  return stored;
}

Result<crypto::Sha256Digest, ImageError> StoredImage::hash(ImageSource& source) const {
  if (source.size() != source_size_) {
    return refuse(ImageFault::unreadable,
                  "the image source changed size (" + std::to_string(source_size_) + " to " +
                      std::to_string(source.size()) + " bytes) since its header was read");
  }
  crypto::Sha256 sha;
  sha.update(header_);
  // Header padding and payload: from the source, a chunk at a time.
  const std::uint64_t payload_end = std::uint64_t{view_.header.hdr_size} + view_.header.img_size;
  Bytes chunk(static_cast<std::size_t>(
      std::min<std::uint64_t>(kImageReadChunk, payload_end - kImageHeaderSize)));
  for (std::uint64_t at = kImageHeaderSize; at < payload_end; at += chunk.size()) {
    auto part = std::span<std::byte>(chunk).first(
        static_cast<std::size_t>(std::min<std::uint64_t>(chunk.size(), payload_end - at)));
    if (auto r = source.read(at, part); !r) {
      return refuse(ImageFault::unreadable, "could not read the image (" +
                                                std::to_string(part.size()) + " bytes at offset " +
                                                std::to_string(at) + "): " + r.error().message);
    }
    sha.update(part);
  }
  sha.update(protected_area_);
  return sha.finish();
}

namespace {

// Computes the image hash: over a buffer, or from an ImageSource (which can fail).
using ImageHasher = std::function<Result<crypto::Sha256Digest, ImageError>()>;

// The SHA256 TLV must be there once, 32 bytes long, and equal the hash `compute` returns.
Result<crypto::Sha256Digest, ImageError> check_hash(const ImageView& image,
                                                    const ImageHasher& compute) {
  const Tlv* hash_tlv = nullptr;
  for (const Tlv& t : image.tlvs) {
    if (t.is_protected || t.type != tlv::kSha256) continue;
    if (hash_tlv != nullptr)
      return refuse(ImageFault::bad_tlv, "image has more than one SHA256 TLV");
    hash_tlv = &t;
  }
  if (hash_tlv == nullptr) {
    if (image.find(tlv::kSha384) || image.find(tlv::kSha512)) {
      return refuse(
          ImageFault::unsupported,
          "image is hashed with SHA-384/512; ironroot verifies SHA-256 images (imgtool's default)");
    }
    return refuse(ImageFault::hash_missing, "image has no SHA256 TLV");
  }
  if (hash_tlv->value.size() != kSha256Size) {
    return refuse(ImageFault::bad_tlv, "SHA256 TLV has " + std::to_string(hash_tlv->value.size()) +
                                           " bytes, expected 32");
  }
  auto digest = compute();
  if (!digest) return digest;
  if (!std::equal(digest->begin(), digest->end(), hash_tlv->value.begin())) {
    if (image.header.flags & (flag::kEncryptedAes128 | flag::kEncryptedAes256)) {
      return refuse(
          ImageFault::unsupported,
          "image is encrypted; ironroot does not decrypt images, so its hash cannot be checked");
    }
    return refuse(ImageFault::hash_mismatch, "image hash mismatch: the image hashes to " +
                                                 hex_short(*digest) + "..., its SHA256 TLV says " +
                                                 hex_short(hash_tlv->value) + "...");
  }
  return digest;
}

}  // namespace

Result<crypto::Sha256Digest, ImageError> check_image_hash(const ImageView& image, ByteView data) {
  return check_hash(image, [&]() -> Result<crypto::Sha256Digest, ImageError> {
    return crypto::sha256(data.first(image.hashed_size));
  });
}

namespace {

// What a KEYHASH or PUBKEY TLV names: the trusted key it matches (with its index), or nothing.
struct NamedKey {
  crypto::Sha256Digest hash{};
  std::optional<std::size_t> index;
  std::optional<crypto::PublicKey> key;
  std::string problem;  // why a trusted key cannot be used, when it cannot
};

using KeyResolver = std::function<Result<NamedKey, ImageError>(const Tlv&)>;

// The checks every verify form shares: slot fit, hash, then MCUboot's walk over the unprotected
// TLVs, where a KEYHASH/PUBKEY selects the key for the signature TLV after it. `stored_size` is
// what holds the image (a buffer's or an ImageSource's size).
Result<VerifiedImage, ImageError> verify_with(const ImageView& image, std::uint64_t stored_size,
                                              const ImageHasher& compute,
                                              const VerifyOptions& options,
                                              std::span<const crypto::Sha256Digest> trusted_hashes,
                                              const KeyResolver& resolve) {
  if (options.slot_size) {
    const std::uint64_t needed = image.size + options.trailer_size;
    if (needed > *options.slot_size || stored_size > *options.slot_size) {
      return refuse(
          ImageFault::too_large,
          "image is too large for the slot: " + std::to_string(image.size) + " bytes" +
              (options.trailer_size ? " + " + std::to_string(options.trailer_size) + " trailer"
                                    : "") +
              (stored_size > needed ? " (file " + std::to_string(stored_size) + ")" : "") +
              " > slot " + std::to_string(*options.slot_size));
    }
  }
  auto digest = check_hash(image, compute);
  if (!digest) return tl::unexpected(digest.error());

  std::optional<NamedKey> named;
  std::string invalid_reason;
  bool saw_signature = false;
  bool saw_unsupported_signature = false;
  for (const Tlv& t : image.tlvs) {
    if (t.is_protected) continue;
    if (t.type == tlv::kKeyHash || t.type == tlv::kPubKey) {
      if (t.type == tlv::kKeyHash && t.value.size() != kSha256Size) {
        return refuse(ImageFault::bad_tlv,
                      "KEYHASH TLV has " + std::to_string(t.value.size()) + " bytes, expected 32");
      }
      auto resolved = resolve(t);
      if (!resolved) return tl::unexpected(resolved.error());
      named = std::move(*resolved);
      continue;
    }
    if (t.type != tlv::kEcdsaSig && t.type != tlv::kEd25519) {
      if (t.type == tlv::kRsa2048Pss || t.type == tlv::kRsa3072Pss || t.type == tlv::kEcdsa224 ||
          t.type == tlv::kSigPure) {
        saw_unsupported_signature = true;
      }
      continue;
    }
    saw_signature = true;
    if (!named || !named->index) continue;
    if (!named->key) {
      invalid_reason = named->problem;
      continue;
    }
    const crypto::PublicKey& key = *named->key;
    const bool type_matches = (t.type == tlv::kEd25519) == (key.type() == crypto::KeyType::ed25519);
    if (!type_matches) {
      invalid_reason = std::string(tlv_type_name(t.type)) + " signature does not match the " +
                       std::string(crypto::key_type_name(key.type())) + " key it names";
      continue;
    }
    if (auto ok = key.verify_digest(*digest, t.value); !ok) {
      invalid_reason = ok.error().message;
      continue;
    }
    return VerifiedImage{image, *digest, *named->index, named->hash};
  }

  if (!invalid_reason.empty()) {
    return refuse(ImageFault::signature_invalid, "signature invalid: " + invalid_reason);
  }
  if (!saw_signature) {
    if (saw_unsupported_signature) {
      return refuse(ImageFault::unsupported,
                    "image is signed with RSA, ECDSA P-224 or a pure signature; ironroot verifies "
                    "ECDSA P-256 and Ed25519 (hash) signatures");
    }
    return refuse(ImageFault::signature_missing,
                  "image is not signed (no ECDSA_SIG or ED25519 TLV)");
  }
  std::string trusted_list;
  for (const auto& h : trusted_hashes) {
    trusted_list += (trusted_list.empty() ? "" : ", ") + hex_short(h) + "...";
  }
  return refuse(ImageFault::key_not_trusted,
                "key not trusted: image signed with key " +
                    (named ? hex_short(named->hash) + "..." : std::string("(unnamed)")) +
                    ", trusted: " + (trusted_list.empty() ? std::string("none") : trusted_list));
}

// How verify_image_by_key_hash() resolves a KEYHASH or PUBKEY TLV: by the hash of the key, and
// the key itself must be in the image (a device holds only fused hashes).
KeyResolver by_key_hash(std::span<const crypto::Sha256Digest> trusted_hashes) {
  return [trusted_hashes](const Tlv& t) -> Result<NamedKey, ImageError> {
    NamedKey named;
    if (t.type == tlv::kKeyHash) {
      std::copy(t.value.begin(), t.value.end(), named.hash.begin());
    } else {
      named.hash = crypto::sha256(t.value);
    }
    auto it = std::find(trusted_hashes.begin(), trusted_hashes.end(), named.hash);
    if (it == trusted_hashes.end()) return named;
    named.index = static_cast<std::size_t>(it - trusted_hashes.begin());
    if (t.type == tlv::kKeyHash) {
      named.problem =
          "the image names its key only by hash, but this device trusts fused "
          "key hashes and needs the key in the image (sign with "
          "--public-key-format full)";
      return named;
    }
    auto key = crypto::PublicKey::from_der(t.value);
    if (!key) {
      return refuse(ImageFault::bad_tlv,
                    "PUBKEY TLV is not a usable public key: " + key.error().message);
    }
    named.key = std::move(*key);
    return named;
  };
}

// verify_with() over a buffer.
Result<VerifiedImage, ImageError> verify_buffer(
    ByteView data, const VerifyOptions& options,
    std::span<const crypto::Sha256Digest> trusted_hashes, const KeyResolver& resolve) {
  auto parsed = parse_image(data);
  if (!parsed) return tl::unexpected(parsed.error());
  const ImageView& image = *parsed;
  return verify_with(
      image, data.size(),
      [&]() -> Result<crypto::Sha256Digest, ImageError> {
        return crypto::sha256(data.first(image.hashed_size));
      },
      options, trusted_hashes, resolve);
}

}  // namespace

Result<VerifiedImage, ImageError> verify_image(ByteView data,
                                               std::span<const crypto::PublicKey> trusted_keys,
                                               const VerifyOptions& options) {
  std::vector<crypto::Sha256Digest> hashes;
  hashes.reserve(trusted_keys.size());
  for (const auto& key : trusted_keys) hashes.push_back(key.key_hash());
  return verify_buffer(data, options, hashes, [&](const Tlv& t) -> Result<NamedKey, ImageError> {
    NamedKey named;
    if (t.type == tlv::kKeyHash) {
      std::copy(t.value.begin(), t.value.end(), named.hash.begin());
    } else {
      named.hash = crypto::sha256(t.value);
    }
    auto it = std::find(hashes.begin(), hashes.end(), named.hash);
    if (it != hashes.end()) {
      named.index = static_cast<std::size_t>(it - hashes.begin());
      named.key = trusted_keys[*named.index];
    }
    return named;
  });
}

Result<VerifiedImage, ImageError> verify_image_by_key_hash(
    ByteView data, std::span<const crypto::Sha256Digest> trusted_hashes,
    const VerifyOptions& options) {
  return verify_buffer(data, options, trusted_hashes, by_key_hash(trusted_hashes));
}

Result<VerifiedImage, ImageError> verify_image_by_key_hash(
    const StoredImage& image, ImageSource& source,
    std::span<const crypto::Sha256Digest> trusted_hashes, const VerifyOptions& options) {
  return verify_with(
      image.view(), image.source_size(), [&] { return image.hash(source); }, options,
      trusted_hashes, by_key_hash(trusted_hashes));
}

}  // namespace ironroot::image
