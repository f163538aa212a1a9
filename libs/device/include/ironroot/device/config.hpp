// A simulated device's configuration (device.json): the shape of its flash and how it upgrades.
// Fixed when the device is made; everything else about the device lives in its flash and fuses.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "ironroot/boot/bootloader.hpp"
#include "ironroot/boot/layout.hpp"
#include "ironroot/core/result.hpp"

namespace ironroot::device {

// The device.json format this code writes and reads.
inline constexpr int kDeviceFormatVersion = 1;

inline constexpr std::uint64_t kDefaultSlotSize = 4ull * 1024 * 1024;
// Bounds on a slot: room for an image header, its TLVs and a trailer of any write alignment below,
// and a flash file of sensible size above.
inline constexpr std::uint64_t kMinSlotSize = 64ull * 1024;
inline constexpr std::uint64_t kMaxSlotSize = 256ull * 1024 * 1024;

struct DeviceConfig {
  std::string layout = "uniform-4k";  // a boot::boot_layout_names() entry
  std::uint32_t write_align = 4;      // 1, 2, 4, 8, 16 or 32
  std::byte erased_value{0xff};       // 0xff or 0x00
  std::uint64_t slot_size = kDefaultSlotSize;
  boot::UpgradeStrategy strategy = boot::UpgradeStrategy::swap;

  // Checks every field and builds the flash layout, or says which field is wrong and what it
  // may be.
  Result<boot::BootLayout> boot_layout() const;
};

// {"format_version": 1, "layout": ..., "write_align": ..., "erased_value": "0xff",
//  "slot_size": ..., "upgrade_strategy": "swap"}
nlohmann::json to_json(const DeviceConfig& config);

// Reads a device.json document. Every field is required and checked; the message names the field,
// what it holds and what it may hold.
Result<DeviceConfig> device_config_from_json(const nlohmann::json& document);

// "0xff" / "0x00", as device.json and the command line write an erased value.
std::string erased_value_name(std::byte value);

}  // namespace ironroot::device
