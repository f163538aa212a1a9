#include "ironroot/boot/slot_state.hpp"

#include <algorithm>
#include <array>

#include "ironroot/image/format.hpp"

namespace ironroot::boot {

namespace {

constexpr std::size_t kChunk = 4096;  // RAM bound for copies and image writes

flash::FlashResult<void> erase_covering(flash::FlashArea& area, std::uint64_t begin,
                                        std::uint64_t end) {
  for (const flash::Sector& s : area.sectors()) {
    if (s.offset + s.size <= begin || s.offset >= end) continue;
    if (auto r = area.erase(s.offset, s.size); !r) return r;
  }
  return {};
}

}  // namespace

Result<std::uint64_t> image_size(flash::FlashArea& slot, std::uint64_t limit) {
  if (limit < image::kImageHeaderSize) return fail("the slot is too small for an image header");
  std::array<std::byte, image::kImageHeaderSize> header{};
  if (auto r = slot.read(0, header); !r) return fail(r.error().message);
  const image::ImageHeader h = image::ImageHeader::decode(header);
  if (h.magic != image::kImageMagic) {
    bool erased = std::all_of(header.begin(), header.end(),
                              [&](std::byte b) { return b == slot.erased_value(); });
    return fail(erased ? "the slot is empty" : "no MCUboot image in the slot (bad magic)");
  }
  const std::uint64_t tlv_start = std::uint64_t{h.hdr_size} + h.img_size + h.protect_tlv_size;
  if (tlv_start + image::kTlvInfoSize > limit) {
    return fail("image is too large for the slot: its header claims " + std::to_string(tlv_start) +
                " bytes before the TLVs, the slot holds " + std::to_string(limit));
  }
  std::array<std::byte, image::kTlvInfoSize> info{};
  if (auto r = slot.read(tlv_start, info); !r) return fail(r.error().message);
  const std::uint64_t total =
      tlv_start +
      std::max<std::uint64_t>(load_le16(ByteView(info).subspan(2)), image::kTlvInfoSize);
  if (total > limit) {
    return fail("image is too large for the slot: " + std::to_string(total) +
                " bytes, the slot holds " + std::to_string(limit) + " before its trailer");
  }
  return total;
}

Result<Bytes> read_image(flash::FlashArea& slot, std::uint64_t limit) {
  auto size = image_size(slot, limit);
  if (!size) return tl::unexpected(size.error());
  Bytes data(static_cast<std::size_t>(*size));
  if (auto r = slot.read(0, data); !r) return fail(r.error().message);
  return data;
}

Status SlotImageSource::read(std::uint64_t offset, std::span<std::byte> out) {
  if (offset > size_ || out.size() > size_ - offset) {
    return fail("reading " + std::to_string(out.size()) + " bytes at offset " +
                std::to_string(offset) + " of a " + std::to_string(size_) + "-byte image");
  }
  if (auto r = slot_->read(offset, out); !r) return fail(r.error().message);
  return {};
}

image::TrailerLayout slot_trailer_layout(const flash::FlashArea& slot) {
  // imgtool's defaults for this write size; make() cannot fail for a valid flash.
  return *image::TrailerLayout::make(slot.write_align(), std::nullopt, image::kDefaultMaxSectors,
                                     false);
}

flash::FlashResult<image::TrailerState> read_slot_trailer(flash::FlashArea& slot) {
  const image::TrailerLayout layout = slot_trailer_layout(slot);
  Bytes tail(layout.magic_area_size() + 4 * layout.max_align);
  if (auto r = slot.read(slot.size() - tail.size(), tail); !r) return tl::unexpected(r.error());
  return image::read_trailer(tail,
                             image::TrailerLayout{layout.write_align, layout.max_align, 1, true},
                             slot.erased_value());
}

flash::FlashResult<void> write_trailer_byte(flash::FlashArea& slot, std::uint64_t offset,
                                            std::byte value) {
  std::byte current{};
  if (auto r = slot.read(offset, std::span<std::byte>(&current, 1)); !r) return r;
  if (current == value) return {};
  Bytes unit(slot.write_align(), slot.erased_value());
  unit[0] = value;
  return slot.write(offset, unit);
}

flash::FlashResult<void> write_trailer_magic(flash::FlashArea& slot) {
  const image::TrailerLayout layout = slot_trailer_layout(slot);
  const auto magic = image::trailer_magic(layout.max_align);
  Bytes area(layout.magic_area_size(), slot.erased_value());
  std::copy(magic.begin(), magic.end(), area.end() - magic.size());
  Bytes current(area.size());
  const std::uint64_t at = slot.size() - area.size();
  if (auto r = slot.read(at, current); !r) return r;
  if (current == area) return {};
  return slot.write(at, area);
}

namespace {

// Erases what `image` and the trailer need in `slot`, writes the image, then the trailer fields:
// image_ok first (when asked), the magic last, the magic being the commit point.
Result<void> write_slot(flash::FlashArea& slot, ByteView image, bool image_ok, const char* what) {
  const image::TrailerLayout layout = slot_trailer_layout(slot);
  if (image.size() + layout.size() > slot.size()) {
    return fail("image of " + std::to_string(image.size()) + " bytes and its " +
                std::to_string(layout.size()) + "-byte trailer do not fit the " +
                std::to_string(slot.size()) + "-byte slot");
  }
  auto failed = [&](const flash::FlashError& e) {
    return fail(std::string(what) + ": " + e.message);
  };
  if (auto r = erase_covering(slot, 0, image.size()); !r) return failed(r.error());
  if (auto r = erase_covering(slot, layout.status_offset(slot.size()), slot.size()); !r) {
    return failed(r.error());
  }
  const std::size_t align = slot.write_align();
  Bytes chunk;
  for (std::size_t at = 0; at < image.size(); at += kChunk) {
    ByteView part = image.subspan(at, std::min(kChunk, image.size() - at));
    chunk.assign(part.begin(), part.end());
    chunk.resize((chunk.size() + align - 1) / align * align, slot.erased_value());
    if (auto r = slot.write(at, chunk); !r) return failed(r.error());
  }
  if (image_ok) {
    if (auto r = write_trailer_byte(slot, layout.image_ok_offset(slot.size()), image::kFlagSet);
        !r) {
      return failed(r.error());
    }
  }
  if (auto r = write_trailer_magic(slot); !r) return failed(r.error());
  return {};
}

}  // namespace

Result<void> stage_image(flash::FlashArea& secondary, ByteView image, bool permanent) {
  return write_slot(secondary, image, permanent, "staging the image");
}

Result<void> install_image(flash::FlashArea& primary, ByteView image) {
  return write_slot(primary, image, true, "installing the image");
}

flash::FlashResult<void> set_confirmed(flash::FlashArea& primary) {
  const image::TrailerLayout layout = slot_trailer_layout(primary);
  return write_trailer_byte(primary, layout.image_ok_offset(primary.size()), image::kFlagSet);
}

}  // namespace ironroot::boot
