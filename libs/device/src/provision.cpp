#include "ironroot/device/provision.hpp"

#include <algorithm>
#include <array>

#include "ironroot/boot/rom.hpp"
#include "ironroot/boot/slot_state.hpp"

namespace ironroot::device {

namespace {

constexpr std::size_t kChunk = 4096;

std::string hex8(const crypto::Sha256Digest& d) {
  return to_hex(ByteView(d).first(8)) + "...";
}

// Programs `image` at the start of the bootloader partition, erased first, as a flash programmer
// does. The ROM reads it back with boot::read_image.
Status program_bootloader(flash::FlashArea& area, ByteView image) {
  if (image.size() > area.size()) {
    return fail("the bootloader image is " + std::to_string(image.size()) +
                " bytes; the bootloader partition holds " + std::to_string(area.size()));
  }
  if (auto erased = area.erase(0, area.size()); !erased) {
    return fail("erasing the bootloader partition: " + erased.error().message);
  }
  const std::size_t align = area.write_align();
  Bytes chunk;
  for (std::size_t at = 0; at < image.size(); at += kChunk) {
    ByteView part = image.subspan(at, std::min(kChunk, image.size() - at));
    chunk.assign(part.begin(), part.end());
    chunk.resize((chunk.size() + align - 1) / align * align, area.erased_value());
    if (auto written = area.write(at, chunk); !written) {
      return fail("programming the bootloader: " + written.error().message);
    }
  }
  return {};
}

bool is_elf(ByteView payload) {
  constexpr std::array<std::byte, 4> kElfMagic = {std::byte{0x7f}, std::byte{'E'}, std::byte{'L'},
                                                  std::byte{'F'}};
  return payload.size() >= kElfMagic.size() &&
         std::equal(kElfMagic.begin(), kElfMagic.end(), payload.begin());
}

}  // namespace

Result<ProvisionedDevice> provision(Board& board, const Provisioning& p) {
  const auto& keys = p.firmware_key_hashes;
  if (keys.empty() || keys.size() > boot::kFirmwareKeySlots) {
    return fail("a device trusts 1 to " + std::to_string(boot::kFirmwareKeySlots) +
                " firmware keys, not " + std::to_string(keys.size()));
  }
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (std::find(keys.begin(), keys.begin() + static_cast<std::ptrdiff_t>(i), keys[i]) !=
        keys.begin() + static_cast<std::ptrdiff_t>(i)) {
      return fail("firmware key " + hex8(keys[i]) + " is given twice");
    }
  }
  boot::Otp& otp = board.otp();
  if (auto fused = otp.fuse_rom_trust_anchor(p.rom_key_hash); !fused) {
    return prefixed(fused.error(), "fusing the ROM trust anchor");
  }
  for (unsigned slot = 0; slot < keys.size(); ++slot) {
    if (auto fused = otp.fuse_firmware_key(slot, keys[slot]); !fused) {
      return prefixed(fused.error(), "fusing firmware key " + std::to_string(slot));
    }
  }
  if (auto programmed = program_bootloader(board.bootloader(), p.bootloader_image); !programmed) {
    return tl::unexpected(programmed.error());
  }
  if (auto installed = boot::install_image(board.primary(), p.firmware_image); !installed) {
    return prefixed(installed.error(), "the firmware image");
  }

  // What the ROM and the bootloader will check at the first boot, checked now.
  ProvisionedDevice device;
  auto bootloader = boot::rom_verify_bootloader(board.bootloader(), otp);
  if (!bootloader) {
    return fail("the bootloader image would not boot: " + bootloader.error().message +
                " (the ROM trusts key " + hex8(p.rom_key_hash) + ")");
  }
  device.bootloader = *bootloader;
  auto loader = boot::Bootloader::create(board.boot_areas(), otp, p.strategy);
  if (!loader) return prefixed(loader.error(), "the flash layout");
  auto firmware = loader->inspect(board.primary(), true);
  if (!firmware) {
    return fail("the firmware image would not boot: " + firmware.error().message);
  }
  device.firmware = *firmware;
  auto image = boot::read_image(board.primary(), board.primary().size());
  if (!image || !is_elf(ByteView(*image).subspan(firmware->header_size, firmware->payload_size))) {
    return fail(
        "the firmware image's payload is not an ELF executable, and the simulated device runs "
        "its firmware as a program: sign the ironroot-firmware binary (with --pad-header)");
  }
  if (auto fused = otp.advance_security_counter(boot::kBootloaderCounter,
                                                device.bootloader.security_counter);
      !fused) {
    return prefixed(fused.error(), "fusing the bootloader's security counter");
  }
  if (auto fused =
          otp.advance_security_counter(boot::kFirmwareCounter, device.firmware.security_counter);
      !fused) {
    return prefixed(fused.error(), "fusing the firmware's security counter");
  }
  return device;
}

}  // namespace ironroot::device
