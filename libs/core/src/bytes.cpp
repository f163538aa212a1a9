#include "ironroot/core/bytes.hpp"

namespace ironroot {

std::uint16_t load_le16(ByteView at) {
  return static_cast<std::uint16_t>(std::to_integer<unsigned>(at[0]) |
                                    (std::to_integer<unsigned>(at[1]) << 8));
}

std::uint32_t load_le32(ByteView at) {
  return std::to_integer<std::uint32_t>(at[0]) | (std::to_integer<std::uint32_t>(at[1]) << 8) |
         (std::to_integer<std::uint32_t>(at[2]) << 16) |
         (std::to_integer<std::uint32_t>(at[3]) << 24);
}

void store_le16(std::span<std::byte> at, std::uint16_t value) {
  at[0] = static_cast<std::byte>(value & 0xff);
  at[1] = static_cast<std::byte>(value >> 8);
}

void store_le32(std::span<std::byte> at, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) at[i] = static_cast<std::byte>((value >> (8 * i)) & 0xff);
}

void append_le16(Bytes& out, std::uint16_t value) {
  std::byte field[2];
  store_le16(field, value);
  out.insert(out.end(), field, field + 2);
}

void append_le32(Bytes& out, std::uint32_t value) {
  std::byte field[4];
  store_le32(field, value);
  out.insert(out.end(), field, field + 4);
}

void append(Bytes& out, ByteView data) {
  out.insert(out.end(), data.begin(), data.end());
}

std::string to_hex(ByteView data) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(data.size() * 2);
  for (std::byte b : data) {
    unsigned v = std::to_integer<unsigned>(b);
    hex.push_back(kDigits[v >> 4]);
    hex.push_back(kDigits[v & 0xf]);
  }
  return hex;
}

std::optional<Bytes> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  Bytes out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    int hi = nibble(hex[i]);
    int lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<std::byte>((hi << 4) | lo));
  }
  return out;
}

}  // namespace ironroot
