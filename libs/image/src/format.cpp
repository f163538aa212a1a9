#include "ironroot/image/format.hpp"

#include <charconv>
#include <limits>

namespace ironroot::image {

std::string_view tlv_type_name(std::uint16_t type) {
  switch (type) {
    case tlv::kKeyHash:
      return "KEYHASH";
    case tlv::kPubKey:
      return "PUBKEY";
    case tlv::kSha256:
      return "SHA256";
    case tlv::kSha384:
      return "SHA384";
    case tlv::kSha512:
      return "SHA512";
    case tlv::kRsa2048Pss:
      return "RSA2048_PSS";
    case tlv::kEcdsa224:
      return "ECDSA224";
    case tlv::kEcdsaSig:
      return "ECDSA_SIG";
    case tlv::kRsa3072Pss:
      return "RSA3072_PSS";
    case tlv::kEd25519:
      return "ED25519";
    case tlv::kSigPure:
      return "SIG_PURE";
    case tlv::kEncRsa2048:
      return "ENC_RSA2048";
    case tlv::kEncKw:
      return "ENC_KW";
    case tlv::kEncEc256:
      return "ENC_EC256";
    case tlv::kEncX25519:
      return "ENC_X25519";
    case tlv::kEncX25519Sha512:
      return "ENC_X25519_SHA512";
    case tlv::kDependency:
      return "DEPENDENCY";
    case tlv::kSecCnt:
      return "SEC_CNT";
    case tlv::kBootRecord:
      return "BOOT_RECORD";
    default:
      return "";
  }
}

bool is_protected_only_tlv(std::uint16_t type) {
  return type == tlv::kDependency || type == tlv::kSecCnt || type == tlv::kBootRecord;
}

namespace {

// One decimal field of a version: digits only, no leading zero (imgtool's rule), <= max.
Result<std::uint32_t> parse_version_field(std::string_view text, std::string_view name,
                                          std::uint32_t max, std::string_view whole) {
  auto bad = [&](std::string_view why) {
    return fail("invalid version '" + std::string(whole) + "': " + std::string(name) + " " +
                std::string(why) + "; expected major.minor.revision+build, e.g. 1.2.3+4");
  };
  if (text.empty()) return bad("is empty");
  if (text.size() > 1 && text[0] == '0') return bad("has a leading zero");
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec == std::errc::result_out_of_range || (ec == std::errc{} && value > max)) {
    return bad("is larger than " + std::to_string(max));
  }
  if (ec != std::errc{} || end != text.data() + text.size()) return bad("is not a number");
  return static_cast<std::uint32_t>(value);
}

}  // namespace

Result<ImageVersion> ImageVersion::parse(std::string_view text) {
  std::string_view rest = text;
  std::string_view build_text;
  bool has_build = false;
  if (auto plus = rest.find('+'); plus != std::string_view::npos) {
    build_text = rest.substr(plus + 1);
    rest = rest.substr(0, plus);
    has_build = true;
  }
  std::string_view parts[3];
  std::size_t count = 0;
  while (true) {
    auto dot = rest.find('.');
    if (count == 3) {
      return fail("invalid version '" + std::string(text) +
                  "': at most three dot-separated numbers, e.g. 1.2.3+4");
    }
    parts[count++] = rest.substr(0, dot);
    if (dot == std::string_view::npos) break;
    rest = rest.substr(dot + 1);
  }
  if (has_build && count != 3) {
    return fail("invalid version '" + std::string(text) +
                "': a +build number needs major.minor.revision before it");
  }
  ImageVersion v;
  static constexpr const char* kNames[] = {"major", "minor", "revision"};
  static constexpr std::uint32_t kMax[] = {0xff, 0xff, 0xffff};
  std::uint32_t values[3] = {0, 0, 0};
  for (std::size_t i = 0; i < count; ++i) {
    auto field = parse_version_field(parts[i], kNames[i], kMax[i], text);
    if (!field) return tl::unexpected(field.error());
    values[i] = *field;
  }
  v.major = static_cast<std::uint8_t>(values[0]);
  v.minor = static_cast<std::uint8_t>(values[1]);
  v.revision = static_cast<std::uint16_t>(values[2]);
  if (has_build) {
    auto build =
        parse_version_field(build_text, "build", std::numeric_limits<std::uint32_t>::max(), text);
    if (!build) return tl::unexpected(build.error());
    v.build = *build;
  }
  return v;
}

std::string ImageVersion::to_string() const {
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(revision) +
         "+" + std::to_string(build);
}

std::array<std::byte, kImageHeaderSize> ImageHeader::encode() const {
  std::array<std::byte, kImageHeaderSize> out{};
  std::span<std::byte> b(out);
  store_le32(b.subspan(0), magic);
  store_le32(b.subspan(4), load_addr);
  store_le16(b.subspan(8), hdr_size);
  store_le16(b.subspan(10), protect_tlv_size);
  store_le32(b.subspan(12), img_size);
  store_le32(b.subspan(16), flags);
  out[20] = static_cast<std::byte>(version.major);
  out[21] = static_cast<std::byte>(version.minor);
  store_le16(b.subspan(22), version.revision);
  store_le32(b.subspan(24), version.build);
  store_le32(b.subspan(28), pad);
  return out;
}

ImageHeader ImageHeader::decode(ByteView b) {
  ImageHeader h;
  h.magic = load_le32(b.subspan(0));
  h.load_addr = load_le32(b.subspan(4));
  h.hdr_size = load_le16(b.subspan(8));
  h.protect_tlv_size = load_le16(b.subspan(10));
  h.img_size = load_le32(b.subspan(12));
  h.flags = load_le32(b.subspan(16));
  h.version.major = std::to_integer<std::uint8_t>(b[20]);
  h.version.minor = std::to_integer<std::uint8_t>(b[21]);
  h.version.revision = load_le16(b.subspan(22));
  h.version.build = load_le32(b.subspan(24));
  h.pad = load_le32(b.subspan(28));
  return h;
}

std::array<std::byte, kDependencySize> Dependency::encode() const {
  std::array<std::byte, kDependencySize> out{};
  std::span<std::byte> b(out);
  out[0] = static_cast<std::byte>(image_id);  // then 3 pad bytes
  out[4] = static_cast<std::byte>(min_version.major);
  out[5] = static_cast<std::byte>(min_version.minor);
  store_le16(b.subspan(6), min_version.revision);
  store_le32(b.subspan(8), min_version.build);
  return out;
}

Dependency Dependency::decode(ByteView b) {
  Dependency d;
  d.image_id = std::to_integer<std::uint8_t>(b[0]);
  d.min_version.major = std::to_integer<std::uint8_t>(b[4]);
  d.min_version.minor = std::to_integer<std::uint8_t>(b[5]);
  d.min_version.revision = load_le16(b.subspan(6));
  d.min_version.build = load_le32(b.subspan(8));
  return d;
}

}  // namespace ironroot::image
