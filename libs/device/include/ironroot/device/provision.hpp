// Factory provisioning of a simulated device: what a production line does once, before the device
// first boots. Fuses the trust anchors, programs the signed bootloader and installs the first
// firmware, and then checks that the device boots what it was given.
#pragma once

#include <vector>

#include "ironroot/boot/bootloader.hpp"
#include "ironroot/core/bytes.hpp"
#include "ironroot/core/result.hpp"
#include "ironroot/crypto/digest.hpp"
#include "ironroot/device/board.hpp"

namespace ironroot::device {

struct Provisioning {
  crypto::Sha256Digest rom_key_hash{};                    // signs the second-stage bootloader
  std::vector<crypto::Sha256Digest> firmware_key_hashes;  // 1 to boot::kFirmwareKeySlots keys
  ByteView bootloader_image;                              // signed, key embedded
  ByteView firmware_image;                                // signed, key embedded, an ELF payload
  boot::UpgradeStrategy strategy = boot::UpgradeStrategy::swap;  // checked against the layout
};

struct ProvisionedDevice {
  boot::SlotImage bootloader;
  boot::SlotImage firmware;
};

// Provisions a blank `board`: fuses the ROM trust anchor and the firmware key hashes (slots 0, 1,
// ... in order), writes the bootloader image at the start of the bootloader partition, installs the
// firmware as the confirmed image of the primary slot, and fuses both security counters to the
// installed images' (so nothing older ever boots). Then runs the ROM's and the bootloader's own
// checks on what it wrote, and fails, saying which image would not boot and why, unless both pass.
// Fuses cannot be unwritten: run it on Board::in_memory() first to check the inputs, and only then
// on the device.
Result<ProvisionedDevice> provision(Board& board, const Provisioning& provisioning);

}  // namespace ironroot::device
