#include "ironroot/agent/ota_agent.hpp"
#include "ironroot/boot/slot_state.hpp"

namespace ironroot::agent {

Result<std::unique_ptr<BootOtaDevice>> BootOtaDevice::create(boot::BootAreas areas, boot::Otp& otp,
                                                             boot::UpgradeStrategy strategy,
                                                             RunningFirmware running,
                                                             SelfTest self_test) {
  auto bootloader = boot::Bootloader::create(areas, otp, strategy);
  if (!bootloader) return prefixed(bootloader.error(), "the device's boot areas");
  return std::unique_ptr<BootOtaDevice>(
      new BootOtaDevice(areas, otp, std::move(*bootloader), running, std::move(self_test)));
}

BootOtaDevice::BootOtaDevice(boot::BootAreas areas, boot::Otp& otp, boot::Bootloader bootloader,
                             RunningFirmware running, SelfTest self_test)
    : areas_(areas),
      otp_(&otp),
      bootloader_(std::move(bootloader)),
      running_(running),
      self_test_(std::move(self_test)) {}

std::uint32_t BootOtaDevice::fused_security_counter() {
  return otp_->security_counter(boot::kFirmwareCounter);
}

std::vector<crypto::Sha256Digest> BootOtaDevice::trusted_key_hashes() {
  // The keys Bootloader::validate trusts: fused and not revoked.
  std::vector<crypto::Sha256Digest> trusted;
  for (unsigned k = 0; k < boot::kFirmwareKeySlots; ++k) {
    auto key = otp_->firmware_key(k);
    if (key && !otp_->is_revoked(k)) trusted.push_back(*key);
  }
  return trusted;
}

Result<boot::SlotImage> BootOtaDevice::verify_update_image() {
  return bootloader_.inspect(*areas_.secondary, /*check_counter=*/true);
}

Status BootOtaDevice::mark_update_pending() {
  if (auto r = boot::write_trailer_magic(*areas_.secondary); !r) {
    return fail("marking the update pending: " + r.error().message);
  }
  return {};
}

Status BootOtaDevice::confirm_running_image() {
  if (auto r = boot::set_confirmed(*areas_.primary); !r) {
    return fail("confirming the running image: " + r.error().message);
  }
  return {};
}

Status BootOtaDevice::run_self_test() {
  return self_test_ ? self_test_() : Status{};
}

}  // namespace ironroot::agent
