#include "ironroot/boot/rom.hpp"

#include "ironroot/boot/slot_state.hpp"
#include "ironroot/image/image.hpp"

namespace ironroot::boot {

Result<SlotImage> rom_verify_bootloader(flash::FlashArea& area, const Otp& otp) {
  auto anchor = otp.rom_trust_anchor();
  if (!anchor) return fail("ROM: no trust anchor is fused; the device was never provisioned");
  auto size = image_size(area, area.size());
  if (!size) return fail("ROM: bootloader: " + size.error().message);
  // Verified from flash a chunk at a time: the ROM stage holds no copy of the bootloader.
  SlotImageSource source(area, *size);
  auto stored = image::StoredImage::read(source);
  if (!stored) return fail("ROM: bootloader image refused: " + stored.error().message);
  const crypto::Sha256Digest trusted[] = {*anchor};
  auto verified = image::verify_image_by_key_hash(*stored, source, trusted,
                                                  image::VerifyOptions{area.size(), 0});
  if (!verified) return fail("ROM: bootloader image refused: " + verified.error().message);
  const image::ImageView& view = verified->image;
  auto counter = view.security_counter().value_or(0);
  if (counter < otp.security_counter(kBootloaderCounter)) {
    return fail("ROM: bootloader " + view.header.version.to_string() + " has security counter " +
                std::to_string(counter) + ", below the fused " +
                std::to_string(otp.security_counter(kBootloaderCounter)) + ": rollback refused");
  }
  SlotImage info;
  info.version = view.header.version;
  info.hash = verified->hash;
  info.key_hash = verified->key_hash;
  info.security_counter = counter;
  info.header_size = view.header.hdr_size;
  info.payload_size = view.header.img_size;
  info.size = view.size;
  return info;
}

}  // namespace ironroot::boot
