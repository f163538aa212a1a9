#include "ironroot/image/trailer.hpp"

#include <algorithm>
#include <string>

namespace ironroot::image {

namespace {

constexpr std::array<std::byte, kTrailerMagicSize> kClassicMagic = {
    std::byte{0x77}, std::byte{0xc2}, std::byte{0x95}, std::byte{0xf3},
    std::byte{0x60}, std::byte{0xd2}, std::byte{0xef}, std::byte{0x7f},
    std::byte{0x35}, std::byte{0x52}, std::byte{0x50}, std::byte{0x0f},
    std::byte{0x2c}, std::byte{0xb6}, std::byte{0x79}, std::byte{0x80}};

// The magic's tail when max_align != 8; the first two bytes then hold max_align.
constexpr std::array<std::byte, kTrailerMagicSize - 2> kAlignedMagicTail = {
    std::byte{0x2d}, std::byte{0xe1}, std::byte{0x5d}, std::byte{0x29}, std::byte{0x41},
    std::byte{0x0b}, std::byte{0x8d}, std::byte{0x77}, std::byte{0x67}, std::byte{0x9c},
    std::byte{0x11}, std::byte{0x0f}, std::byte{0x1f}, std::byte{0x8a}};

constexpr std::uint32_t kSwapStatusStates = 3;

bool is_power_of_two(std::uint32_t v) {
  return v != 0 && (v & (v - 1)) == 0;
}

std::uint32_t align_up(std::uint32_t v, std::uint32_t align) {
  return (v + align - 1) & ~(align - 1);
}

FlagState read_flag(std::byte value, std::byte erased) {
  if (value == kFlagSet) return FlagState::set;
  if (value == erased) return FlagState::unset;
  return FlagState::bad;
}

}  // namespace

std::array<std::byte, kTrailerMagicSize> trailer_magic(std::uint32_t max_align) {
  if (max_align == kDefaultMaxAlign) return kClassicMagic;
  std::array<std::byte, kTrailerMagicSize> magic{};
  magic[0] = static_cast<std::byte>(max_align & 0xff);
  magic[1] = static_cast<std::byte>((max_align >> 8) & 0xff);
  std::copy(kAlignedMagicTail.begin(), kAlignedMagicTail.end(), magic.begin() + 2);
  return magic;
}

Result<TrailerLayout> TrailerLayout::make(std::uint32_t write_align,
                                          std::optional<std::uint32_t> max_align,
                                          std::uint32_t max_sectors, bool overwrite_only) {
  if (!is_power_of_two(write_align) || write_align > 32) {
    return fail("alignment " + std::to_string(write_align) +
                " is not supported; the flash write size must be 1, 2, 4, 8, 16 or 32");
  }
  std::uint32_t max = max_align.value_or(std::max(kDefaultMaxAlign, write_align));
  if (!is_power_of_two(max) || max < kDefaultMaxAlign || max > 32) {
    return fail("max alignment " + std::to_string(max) + " is not supported; use 8, 16 or 32");
  }
  if (max < write_align) {
    return fail("max alignment " + std::to_string(max) + " is smaller than the alignment " +
                std::to_string(write_align));
  }
  if (max_sectors == 0 || max_sectors > 65536) {
    return fail("max sectors " + std::to_string(max_sectors) + " is out of range (1 to 65536)");
  }
  return TrailerLayout{write_align, max, max_sectors, overwrite_only};
}

std::uint32_t TrailerLayout::magic_area_size() const {
  return align_up(static_cast<std::uint32_t>(kTrailerMagicSize), max_align);
}

std::uint32_t TrailerLayout::size() const {
  if (overwrite_only) return max_align * 2 + magic_area_size();
  return max_sectors * kSwapStatusStates * write_align + max_align * 4 + magic_area_size();
}

std::uint64_t TrailerLayout::magic_offset(std::uint64_t slot_size) const {
  return slot_size - kTrailerMagicSize;
}
std::uint64_t TrailerLayout::image_ok_offset(std::uint64_t slot_size) const {
  return slot_size - magic_area_size() - max_align;
}
std::uint64_t TrailerLayout::copy_done_offset(std::uint64_t slot_size) const {
  return image_ok_offset(slot_size) - max_align;
}
std::uint64_t TrailerLayout::swap_info_offset(std::uint64_t slot_size) const {
  return copy_done_offset(slot_size) - max_align;
}
std::uint64_t TrailerLayout::swap_size_offset(std::uint64_t slot_size) const {
  return swap_info_offset(slot_size) - max_align;
}
std::uint64_t TrailerLayout::status_offset(std::uint64_t slot_size) const {
  return slot_size - size();
}

Bytes make_trailer(const TrailerLayout& layout, std::byte erased, bool confirmed) {
  Bytes trailer(layout.size(), erased);
  auto magic = trailer_magic(layout.max_align);
  std::copy(magic.begin(), magic.end(), trailer.end() - kTrailerMagicSize);
  if (confirmed && !layout.overwrite_only) {
    trailer[layout.image_ok_offset(trailer.size())] = kFlagSet;
  }
  return trailer;
}

TrailerState read_trailer(ByteView slot, const TrailerLayout& layout, std::byte erased) {
  const std::uint64_t n = slot.size();
  TrailerState state;
  ByteView magic = slot.subspan(layout.magic_offset(n), kTrailerMagicSize);
  auto expected = trailer_magic(layout.max_align);
  if (std::equal(magic.begin(), magic.end(), expected.begin())) {
    state.magic = MagicState::good;
  } else if (std::all_of(magic.begin(), magic.end(), [&](std::byte b) { return b == erased; })) {
    state.magic = MagicState::unset;
  } else {
    state.magic = MagicState::bad;
  }
  state.image_ok = read_flag(slot[layout.image_ok_offset(n)], erased);
  state.copy_done = read_flag(slot[layout.copy_done_offset(n)], erased);
  std::byte info = slot[layout.swap_info_offset(n)];
  if (info != erased) {
    auto v = std::to_integer<std::uint8_t>(info);
    state.swap_type = static_cast<std::uint8_t>(v & 0x0f);
    state.image_index = static_cast<std::uint8_t>(v >> 4);
  }
  return state;
}

std::optional<std::uint32_t> max_align_from_magic(ByteView slot) {
  if (slot.size() < kTrailerMagicSize) return std::nullopt;
  ByteView magic = slot.last(kTrailerMagicSize);
  if (std::equal(magic.begin(), magic.end(), kClassicMagic.begin())) return kDefaultMaxAlign;
  if (std::equal(magic.begin() + 2, magic.end(), kAlignedMagicTail.begin())) {
    std::uint32_t align = load_le16(magic);
    if (is_power_of_two(align) && align >= kDefaultMaxAlign && align <= 32) return align;
  }
  return std::nullopt;
}

std::string_view to_string(MagicState state) {
  switch (state) {
    case MagicState::good:
      return "good";
    case MagicState::unset:
      return "unset";
    case MagicState::bad:
      return "bad";
  }
  return "bad";
}

std::string_view to_string(FlagState state) {
  switch (state) {
    case FlagState::set:
      return "set";
    case FlagState::unset:
      return "unset";
    case FlagState::bad:
      return "bad";
  }
  return "bad";
}

std::string_view swap_type_name(std::uint8_t swap_type) {
  switch (swap_type) {
    case 1:
      return "none";
    case 2:
      return "test";
    case 3:
      return "perm";
    case 4:
      return "revert";
    case 5:
      return "fail";
    case 0xff:
      return "panic";
    default:
      return "unknown";
  }
}

}  // namespace ironroot::image
