// Names of the upgrade strategies, in a file of their own so that programs which only name a
// strategy (the firmware reading device.json) do not link the bootloader and its crypto.
#include "ironroot/boot/bootloader.hpp"

namespace ironroot::boot {

std::string_view to_string(UpgradeStrategy strategy) {
  return strategy == UpgradeStrategy::swap ? "swap" : "overwrite";
}

std::optional<UpgradeStrategy> parse_upgrade_strategy(std::string_view name) {
  if (name == "swap") return UpgradeStrategy::swap;
  if (name == "overwrite") return UpgradeStrategy::overwrite;
  return std::nullopt;
}

}  // namespace ironroot::boot
