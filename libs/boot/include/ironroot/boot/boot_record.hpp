// The boot record the bootloader hands to the firmware (MCUboot's measured boot, as JSON): what
// ran, measured by SHA-256, with versions, signer key hashes and counters, for attestation later.
#pragma once

#include <nlohmann/json.hpp>

#include "ironroot/boot/bootloader.hpp"
#include "ironroot/boot/otp.hpp"

namespace ironroot::boot {

nlohmann::json slot_image_json(const SlotImage& image);

// {"bootloader": {...}, "firmware": {..., "test_boot": bool}, "fused_security_counters": {...},
//  "events": [...]}
nlohmann::json make_boot_record(const SlotImage& bootloader, const BootResult& boot,
                                const Otp& otp);

}  // namespace ironroot::boot
