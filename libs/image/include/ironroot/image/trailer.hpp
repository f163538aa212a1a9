// The image trailer at the end of each slot, as MCUboot lays it out (docs/design.md, "Image
// trailer"). From low to high addresses, each field padded to max_align:
//
//   swap status       max_sectors * 3 * write_align bytes   (absent in overwrite-only mode)
//   swap_size         max_align                              (absent in overwrite-only mode)
//   swap_info         max_align   bits 0-3 swap type, bits 4-7 image index
//   copy_done         max_align   0x01 = set, erased = unset
//   image_ok          max_align   0x01 = set, erased = unset
//   magic             16 bytes, padded to align_up(16, max_align); the magic is the last 16 bytes
//
// The bootloader (libs/boot) reads and writes these fields at the offsets given here; `sign --pad`
// writes an erased trailer with the magic (and image_ok with --confirm).
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "ironroot/core/bytes.hpp"
#include "ironroot/core/result.hpp"

namespace ironroot::image {

inline constexpr std::size_t kTrailerMagicSize = 16;
inline constexpr std::uint32_t kDefaultMaxAlign = 8;
inline constexpr std::uint32_t kDefaultMaxSectors = 128;
inline constexpr std::byte kFlagSet{0x01};

// The 16 magic bytes for a given max_align: the classic magic for 8, otherwise max_align as a
// little-endian u16 followed by MCUboot's 14-byte tail.
std::array<std::byte, kTrailerMagicSize> trailer_magic(std::uint32_t max_align);

struct TrailerLayout {
  std::uint32_t write_align = 1;  // the flash's write size: 1, 2, 4, 8, 16 or 32
  std::uint32_t max_align = kDefaultMaxAlign;
  std::uint32_t max_sectors = kDefaultMaxSectors;
  bool overwrite_only = false;

  // Validates the combination: write_align in {1,2,4,8,16,32}; max_align (default max(8,
  // write_align)) a power of two in [8, 32] and >= write_align; max_sectors in [1, 65536].
  static Result<TrailerLayout> make(std::uint32_t write_align,
                                    std::optional<std::uint32_t> max_align,
                                    std::uint32_t max_sectors, bool overwrite_only);

  std::uint32_t magic_area_size() const;  // align_up(16, max_align)
  std::uint32_t size() const;             // whole trailer

  // Offsets of each field from the start of the slot (REQUIRES: slot_size >= size()).
  std::uint64_t magic_offset(std::uint64_t slot_size) const;  // the 16 magic bytes themselves
  std::uint64_t image_ok_offset(std::uint64_t slot_size) const;
  std::uint64_t copy_done_offset(std::uint64_t slot_size) const;
  std::uint64_t swap_info_offset(std::uint64_t slot_size) const;
  std::uint64_t swap_size_offset(std::uint64_t slot_size) const;  // not in overwrite-only mode
  std::uint64_t status_offset(std::uint64_t slot_size) const;     // start of the trailer
};

// MCUboot's swap types (BOOT_SWAP_TYPE_*).
enum class SwapType : std::uint8_t {
  none = 1,
  test = 2,
  perm = 3,
  revert = 4,
  fail = 5,
  panic = 0xff
};

enum class MagicState { good, unset, bad };
enum class FlagState { set, unset, bad };

struct TrailerState {
  MagicState magic = MagicState::unset;
  FlagState image_ok = FlagState::unset;
  FlagState copy_done = FlagState::unset;
  std::optional<std::uint8_t> swap_type;  // nullopt when the field is erased
  std::optional<std::uint8_t> image_index;
};

// Builds the trailer bytes `sign --pad` appends: all erased, the magic at the end, and image_ok
// set when `confirmed` (never in overwrite-only mode, where MCUboot does not read it).
Bytes make_trailer(const TrailerLayout& layout, std::byte erased, bool confirmed);

// Reads the trailer at the end of `slot` (REQUIRES: slot.size() >= layout.size()).
TrailerState read_trailer(ByteView slot, const TrailerLayout& layout, std::byte erased);

// Guesses max_align from the magic bytes at the end of `slot` (8 for the classic magic, the
// encoded value for the other form), or nullopt when no magic is there.
std::optional<std::uint32_t> max_align_from_magic(ByteView slot);

std::string_view to_string(MagicState state);
std::string_view to_string(FlagState state);
std::string_view swap_type_name(std::uint8_t swap_type);

}  // namespace ironroot::image
