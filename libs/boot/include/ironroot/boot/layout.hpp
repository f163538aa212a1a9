// Flash layouts of a simulated device: where the bootloader, the two image slots, the scratch
// sector and the bootloader's status log live on one NOR flash.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ironroot/core/result.hpp"
#include "ironroot/flash/nor_flash.hpp"

namespace ironroot::boot {

struct Partition {
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
};

struct BootLayout {
  std::string name;
  flash::FlashGeometry geometry;
  Partition bootloader;  // the signed second-stage bootloader image
  Partition status;      // the bootloader's status log (two or more sectors)
  Partition primary;     // the slot the firmware runs from
  Partition secondary;   // the update slot
  Partition scratch;     // swap buffer; at least as large as the largest swap unit
};

struct LayoutOptions {
  std::uint32_t write_align = 4;
  std::byte erased_value{0xff};
  // Each image slot's size, rounded up to the slot's sector size.
  std::uint64_t slot_size = 4 * 1024 * 1024;
  // Divides every sector size (power of two), to model a layout's shape at a small size in tests.
  std::uint32_t sector_scale = 1;
};

// The layouts ironroot-device knows:
//   uniform-4k   4 KiB sectors everywhere (most MCUs' internal flash)
//   stm32f4      STM32F4's mixed 16/64/128 KiB sectors: bootloader and status in 16 KiB sectors,
//                slots and scratch in 128 KiB ones
//   mixed-slots  primary in 4 KiB sectors, secondary and scratch in 16 KiB ones (internal flash
//                next to an external SPI NOR with bigger sectors)
Result<BootLayout> make_boot_layout(std::string_view name, const LayoutOptions& options = {});
std::vector<std::string_view> boot_layout_names();

}  // namespace ironroot::boot
