// The bootloader's journal: what upgrade is under way and how far it got, kept in a dedicated
// flash area of two or more sectors so that a power cut at any point can be resumed.
//
// Each record is 32 bytes, written once with a single write and never rewritten; it holds the whole
// state (not a delta) and a CRC-32, so the valid record with the highest sequence number is the
// current state and a record torn by a power cut is simply ignored. When a sector is full the next
// one is erased and used; the newest record always survives in the previous sector until then.
#pragma once

#include <cstdint>
#include <optional>

#include "ironroot/flash/flash_area.hpp"

namespace ironroot::boot {

enum class Operation : std::uint8_t { none = 0, swap = 1, overwrite = 2 };

// What the bootloader is doing or waiting for.
struct BootState {
  Operation operation = Operation::none;
  std::uint8_t swap_type = 0;          // image::SwapType of the operation under way
  std::uint32_t steps_done = 0;        // steps of the operation completed so far
  std::uint32_t extent = 0;            // bytes of the slots the operation covers
  bool awaiting_confirmation = false;  // a test image is in the primary slot, not yet confirmed
  bool operator==(const BootState&) const = default;
};

inline constexpr std::size_t kStatusRecordSize = 32;

class StatusLog {
 public:
  // REQUIRES: `area` has at least two sectors, each holding at least one record, and outlives the
  // log; write_align divides 32.
  explicit StatusLog(flash::FlashArea& area);

  // The newest valid record's state (the default state on an empty log).
  flash::FlashResult<BootState> read();
  // Appends `state` as the newest record.
  flash::FlashResult<void> write(const BootState& state);

 private:
  struct Position {
    std::size_t sector;
    std::uint64_t offset;  // within the area
  };
  flash::FlashResult<void> scan();

  flash::FlashArea& area_;
  bool scanned_ = false;
  BootState current_;
  std::uint32_t sequence_ = 0;
  std::optional<Position> newest_;  // where the newest valid record is
  std::uint64_t next_free_ = 0;     // first unused record position in the newest record's sector
};

}  // namespace ironroot::boot
