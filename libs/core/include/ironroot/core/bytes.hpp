// Byte buffers, little-endian field access and hex, shared by every format ironroot reads or
// writes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ironroot {

using Bytes = std::vector<std::byte>;
using ByteView = std::span<const std::byte>;

// REQUIRES: at.size() >= 2 / 4. Callers check bounds first; these never read past the span.
std::uint16_t load_le16(ByteView at);
std::uint32_t load_le32(ByteView at);
void store_le16(std::span<std::byte> at, std::uint16_t value);
void store_le32(std::span<std::byte> at, std::uint32_t value);

// Appends little-endian fields to a growing buffer.
void append_le16(Bytes& out, std::uint16_t value);
void append_le32(Bytes& out, std::uint32_t value);
void append(Bytes& out, ByteView data);

// Lower-case hex, two characters a byte.
std::string to_hex(ByteView data);
// Accepts upper or lower case; nullopt on an odd length or a non-hex character.
std::optional<Bytes> from_hex(std::string_view hex);

inline ByteView as_bytes(std::string_view text) {
  return {reinterpret_cast<const std::byte*>(text.data()), text.size()};
}
inline std::string_view as_chars(ByteView data) {
  return {reinterpret_cast<const char*>(data.data()), data.size()};
}
inline const unsigned char* as_uchars(ByteView data) {
  return reinterpret_cast<const unsigned char*>(data.data());
}
inline Bytes to_bytes(std::string_view text) {
  ByteView view = as_bytes(text);
  return {view.begin(), view.end()};
}

}  // namespace ironroot
