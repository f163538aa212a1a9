#include "ironroot/boot/boot_record.hpp"

namespace ironroot::boot {

nlohmann::json slot_image_json(const SlotImage& image) {
  return {{"version", image.version.to_string()},       {"sha256", to_hex(image.hash)},
          {"signer_key_hash", to_hex(image.key_hash)},  {"key_slot", image.key_slot},
          {"security_counter", image.security_counter}, {"size", image.size}};
}

nlohmann::json make_boot_record(const SlotImage& bootloader, const BootResult& boot,
                                const Otp& otp) {
  nlohmann::json firmware = slot_image_json(boot.firmware);
  firmware["test_boot"] = boot.test_boot;
  nlohmann::json bl = slot_image_json(bootloader);
  bl.erase("key_slot");
  return {{"bootloader", bl},
          {"firmware", firmware},
          {"fused_security_counters",
           {{"bootloader", otp.security_counter(kBootloaderCounter)},
            {"firmware", otp.security_counter(kFirmwareCounter)}}},
          {"events", boot.events}};
}

}  // namespace ironroot::boot
