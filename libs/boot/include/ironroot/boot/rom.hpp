// The ROM stage: immutable code that verifies the second-stage bootloader image against the trust
// anchor fused in OTP, and refuses to go on otherwise.
#pragma once

#include "ironroot/boot/bootloader.hpp"
#include "ironroot/boot/otp.hpp"
#include "ironroot/flash/flash_area.hpp"

namespace ironroot::boot {

// Verifies the bootloader image at the start of `area`: signed by the key whose hash is the ROM
// trust anchor (the image carries the key: --public-key-format full), security counter not below
// the fused bootloader counter. Fails with the reason, which the device reports as it halts.
Result<SlotImage> rom_verify_bootloader(flash::FlashArea& area, const Otp& otp);

}  // namespace ironroot::boot
