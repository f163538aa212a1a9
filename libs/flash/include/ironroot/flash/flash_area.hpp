// Flash as the bootloader sees it: MCUboot's flash_area, a contiguous region (a slot, the status
// area) with a sector map, a write alignment and an erased value. libs/boot reaches flash only
// through this interface; the device simulator passes file-backed NOR flash, tests may pass RAM.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ironroot/core/bytes.hpp"
#include "ironroot/core/result.hpp"

namespace ironroot::flash {

// One erase unit, relative to the start of whatever it belongs to (device or area).
struct Sector {
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
  bool operator==(const Sector&) const = default;
};

enum class FlashFault {
  out_of_bounds,  // the range leaves the area
  misaligned,     // a write not on write_align boundaries, an erase not on sector boundaries
  not_erased,     // programming bytes that are not erased (NOR: erase before write)
  power_cut,      // the simulated power failed: this and every later operation did not happen
  io,             // the backing file failed
};

struct FlashError {
  FlashFault fault;
  std::string message;
};

template <class T>
using FlashResult = Result<T, FlashError>;

std::string_view to_string(FlashFault fault);

// A region of flash. Not thread-safe.
class FlashArea {
 public:
  virtual ~FlashArea() = default;

  virtual std::uint64_t size() const = 0;
  // Writes must start and end on multiples of this (1, 2, 4, 8, 16 or 32 bytes).
  virtual std::uint32_t write_align() const = 0;
  // What an erased byte reads as: 0xff for most NOR flash, 0x00 for some.
  virtual std::byte erased_value() const = 0;
  // The sectors, in order, tiling [0, size()) exactly. Offsets are relative to the area.
  virtual std::span<const Sector> sectors() const = 0;

  // Reads out.size() bytes at `offset`.
  virtual FlashResult<void> read(std::uint64_t offset, std::span<std::byte> out) = 0;
  // Programs `data` at `offset`. REQUIRES: offset and data.size() multiples of write_align(), and
  // every target byte erased (a write unit is programmed at most once between erases).
  virtual FlashResult<void> write(std::uint64_t offset, ByteView data) = 0;
  // Erases [offset, offset + length), which must start and end on sector boundaries.
  virtual FlashResult<void> erase(std::uint64_t offset, std::uint64_t length) = 0;
};

// The sector of `area` that contains `offset` (REQUIRES: offset < area.size()).
const Sector& sector_at(const FlashArea& area, std::uint64_t offset);

}  // namespace ironroot::flash
