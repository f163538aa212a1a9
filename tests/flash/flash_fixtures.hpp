// Geometries and data shared by the flash tests.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>

#include "ironroot/flash/nor_flash.hpp"
#include "support/text.hpp"

namespace ironroot::flash::testing {

using ironroot::testing::contains;

// STM32F4's sector map (4 x 16 KiB, 1 x 64 KiB, 7 x 128 KiB) scaled down 64 times and cut to
// three large sectors: 4 x 256, 1 x 1024, 3 x 2048 bytes (8 KiB in all).
inline FlashGeometry stm32f4_like(std::uint32_t write_align = 4,
                                  std::byte erased = std::byte{0xff}) {
  FlashGeometry g;
  g.write_align = write_align;
  g.erased_value = erased;
  g.add_sectors(4, 256).add_sectors(1, 1024).add_sectors(3, 2048);
  return g;
}

// `size` bytes that differ from each other and from both erased values.
inline Bytes pattern(std::size_t size, unsigned salt = 0) {
  Bytes out(size);
  for (std::size_t i = 0; i < size; ++i) {
    out[i] = static_cast<std::byte>(0x11 + ((i * 7 + salt * 13) % 0xdd));
  }
  return out;
}

inline Bytes read_back(NorFlash& flash, std::uint64_t offset, std::size_t size) {
  Bytes out(size);
  auto r = flash.read(offset, out);
  if (!r) throw std::runtime_error(r.error().message);
  return out;
}

// A copy of data[offset, offset + size), or of data[offset, end) without a size.
inline Bytes slice(ByteView data, std::size_t offset, std::size_t size = std::dynamic_extent) {
  ByteView part = data.subspan(offset, size);
  return Bytes(part.begin(), part.end());
}

inline bool all_equal(ByteView data, std::byte value) {
  for (std::byte b : data) {
    if (b != value) return false;
  }
  return true;
}

}  // namespace ironroot::flash::testing
