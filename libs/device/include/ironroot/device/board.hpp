// The hardware of one simulated device: a NOR flash cut into the boot layout's partitions, and the
// OTP fuses. A Board is what the ROM stage, the bootloader and the firmware are handed; whether it
// lives in files (a device folder) or in memory (a dry run) makes no difference to them.
#pragma once

#include <memory>

#include "ironroot/boot/bootloader.hpp"
#include "ironroot/boot/layout.hpp"
#include "ironroot/boot/otp.hpp"
#include "ironroot/core/result.hpp"
#include "ironroot/device/config.hpp"
#include "ironroot/flash/nor_flash.hpp"

namespace ironroot::device {

class Board {
 public:
  // Cuts `flash` into the partitions of `layout`. REQUIRES: flash has layout.geometry.
  static Result<Board> assemble(boot::BootLayout layout, std::shared_ptr<flash::NorFlash> flash,
                                boot::Otp otp);
  // An erased, unfused board in memory, with the layout `config` describes.
  static Result<Board> in_memory(const DeviceConfig& config);

  const boot::BootLayout& layout() const { return layout_; }
  flash::NorFlash& flash() { return *flash_; }
  boot::Otp& otp() { return otp_; }

  flash::FlashArea& bootloader() { return *bootloader_; }  // the signed second-stage bootloader
  flash::FlashArea& primary() { return *primary_; }        // the slot the firmware runs from
  flash::FlashArea& secondary() { return *secondary_; }    // the update slot
  flash::FlashArea& scratch() { return *scratch_; }
  flash::FlashArea& status() { return *status_; }
  // The areas the bootloader works on; valid as long as the board (even after a move).
  boot::BootAreas boot_areas() {
    return {primary_.get(), secondary_.get(), scratch_.get(), status_.get()};
  }

 private:
  Board(boot::BootLayout layout, std::shared_ptr<flash::NorFlash> flash, boot::Otp otp)
      : layout_(std::move(layout)), flash_(std::move(flash)), otp_(std::move(otp)) {}

  boot::BootLayout layout_;
  std::shared_ptr<flash::NorFlash> flash_;
  boot::Otp otp_;
  std::unique_ptr<flash::FlashArea> bootloader_, primary_, secondary_, scratch_, status_;
};

}  // namespace ironroot::device
