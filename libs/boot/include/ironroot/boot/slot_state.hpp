// What the running firmware and the OTA agent do to the slots, as MCUboot's bootutil_public.h
// does it: stage an image in the secondary slot and mark it pending (a test, or permanent), and
// confirm the running image. They touch only the image and the MCUboot trailer at the slot's end.
#pragma once

#include "ironroot/core/result.hpp"
#include "ironroot/flash/flash_area.hpp"
#include "ironroot/image/image.hpp"
#include "ironroot/image/trailer.hpp"

namespace ironroot::boot {

// The trailer layout of a slot: MCUboot's, for the flash's write alignment.
image::TrailerLayout slot_trailer_layout(const flash::FlashArea& slot);

// Reads the slot's trailer fields.
flash::FlashResult<image::TrailerState> read_slot_trailer(flash::FlashArea& slot);

// Reads the image at the start of `slot`: its header, then as many bytes as the header and the TLV
// info claim, never more than `limit` (fails, saying so, when the image claims more). Fails on an
// empty slot or a bad magic. Nothing is verified.
Result<Bytes> read_image(flash::FlashArea& slot, std::uint64_t limit);

// How many bytes read_image() would read (the image's header, payload and TLV areas as its header
// and TLV info claim), reading only the header and the TLV info. Fails as read_image() does.
Result<std::uint64_t> image_size(flash::FlashArea& slot, std::uint64_t limit);

// The first `size` bytes of a slot as an image::ImageSource: what image::StoredImage and the
// streaming verify_image_by_key_hash() read, a header, TLV area or 4 KiB chunk at a time, so that
// verifying a slot needs no RAM copy of its image. `size` is normally image_size(), which gives
// the same judgement as verifying read_image()'s bytes. REQUIRES: size <= slot.size(); the slot
// outlives this object.
class SlotImageSource final : public image::ImageSource {
 public:
  SlotImageSource(flash::FlashArea& slot, std::uint64_t size) : slot_(&slot), size_(size) {}

  std::uint64_t size() const override { return size_; }
  // Fails (reading nothing) on a range past size(), or with the flash's error.
  Status read(std::uint64_t offset, std::span<std::byte> out) override;

 private:
  flash::FlashArea* slot_;
  std::uint64_t size_;
};

// Writes `image` at the start of the secondary slot (erasing the sectors it needs and the
// trailer's) and marks it pending: image_ok first when `permanent`, the magic last, so that a power
// cut at any point leaves either no pending update or a complete one. Fails when the image and the
// trailer do not fit the slot.
Result<void> stage_image(flash::FlashArea& secondary, ByteView image, bool permanent);

// Factory programming: writes `image` into the primary slot as the confirmed image (magic and
// image_ok set), as a production line flashes a device's first firmware.
Result<void> install_image(flash::FlashArea& primary, ByteView image);

// boot_set_confirmed(): marks the image in the primary slot as good (image_ok). Does nothing when
// it already is; fails when the field is damaged.
flash::FlashResult<void> set_confirmed(flash::FlashArea& primary);

// Programs one trailer flag (image_ok, copy_done) or swap_info at `offset`: a write_align unit
// whose first byte is `value`. Does nothing when the byte already holds `value`; fails with
// not_erased when it holds something else.
flash::FlashResult<void> write_trailer_byte(flash::FlashArea& slot, std::uint64_t offset,
                                            std::byte value);

// Programs the trailer magic (and its padding) when it is not there yet.
flash::FlashResult<void> write_trailer_magic(flash::FlashArea& slot);

}  // namespace ironroot::boot
