// A simulated device for bootloader tests: NOR flash in memory with a boot layout, fuses in
// memory, a fused firmware key, and images signed the way the device expects (key embedded,
// security counter set).
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "ironroot/boot/bootloader.hpp"
#include "ironroot/boot/layout.hpp"
#include "ironroot/boot/otp.hpp"
#include "ironroot/boot/slot_state.hpp"
#include "ironroot/crypto/key.hpp"
#include "ironroot/flash/nor_flash.hpp"
#include "ironroot/image/sign.hpp"

namespace ironroot::testing {

struct DeviceConfig {
  std::string layout = "uniform-4k";
  std::uint32_t write_align = 4;
  std::byte erased{0xff};
  std::uint64_t slot_size = 32 * 1024;
  std::uint32_t sector_scale = 4;
  boot::UpgradeStrategy strategy = boot::UpgradeStrategy::swap;
};

class SimulatedDevice {
 public:
  explicit SimulatedDevice(const DeviceConfig& config, ByteView contents = {})
      : config_(config),
        layout_(*boot::make_boot_layout(config.layout, {config.write_align, config.erased,
                                                        config.slot_size, config.sector_scale})),
        flash_(*flash::NorFlash::in_memory(layout_.geometry, contents)),
        primary_(*flash_->area(layout_.primary.offset, layout_.primary.size)),
        secondary_(*flash_->area(layout_.secondary.offset, layout_.secondary.size)),
        scratch_(*flash_->area(layout_.scratch.offset, layout_.scratch.size)),
        status_(*flash_->area(layout_.status.offset, layout_.status.size)) {}

  // A fresh bootloader over the same flash and fuses: what a reboot runs.
  boot::Bootloader bootloader(boot::Otp& otp) {
    auto b = boot::Bootloader::create(
        {primary_.get(), secondary_.get(), scratch_.get(), status_.get()}, otp, config_.strategy);
    EXPECT_TRUE(b) << b.error().message;
    return std::move(*b);
  }

  flash::NorFlash& flash() { return *flash_; }
  flash::FlashArea& primary() { return *primary_; }
  flash::FlashArea& secondary() { return *secondary_; }
  const boot::BootLayout& layout() const { return layout_; }

  // The slot's first `n` bytes.
  Bytes slot_bytes(flash::FlashArea& slot, std::size_t n) {
    Bytes out(n);
    EXPECT_TRUE(slot.read(0, out));
    return out;
  }

 private:
  DeviceConfig config_;
  boot::BootLayout layout_;
  std::shared_ptr<flash::NorFlash> flash_;
  std::unique_ptr<flash::FlashArea> primary_, secondary_, scratch_, status_;
};

// Signs a firmware payload of `payload_size` bytes (its content derived from the version) for the
// device: embedded key, security counter `counter`.
inline Bytes device_image(crypto::Signer& key, const std::string& version, std::uint32_t counter,
                          std::size_t payload_size = 9000, std::uint64_t slot_size = 32 * 1024) {
  image::SignOptions o;
  o.version = *image::ImageVersion::parse(version);
  o.slot_size = slot_size;
  o.pad_header = true;
  o.header_size = 0x100;
  o.security_counter = counter;
  o.public_key_format = image::PublicKeyFormat::full;
  Bytes payload(payload_size);
  std::uint32_t x = 2166136261u;
  for (char c : version) x = (x ^ static_cast<unsigned char>(c)) * 16777619u;
  for (auto& b : payload) {
    x = x * 1103515245u + 12345u;
    b = std::byte((x >> 16) & 0xff);
  }
  auto img = image::sign_image(payload, o, key);
  EXPECT_TRUE(img) << img.error().message;
  return *img;
}

}  // namespace ironroot::testing
