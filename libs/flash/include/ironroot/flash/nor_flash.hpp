// Simulated NOR flash with real semantics: a sector map, erase-before-write, write alignment, an
// erased value, persistence in a file across processes, and fault injection that cuts the power
// before the Nth write or erase, optionally leaving that operation half done.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ironroot/flash/flash_area.hpp"

namespace ironroot::flash {

// The shape of a flash device.
struct FlashGeometry {
  std::vector<Sector> sectors;  // tiling [0, total size) from offset 0, in order
  std::uint32_t write_align = 4;
  std::byte erased_value{0xff};

  std::uint64_t size() const;
  // Checks the sector map tiles from 0 without gaps, sizes are multiples of write_align,
  // write_align is 1, 2, 4, 8, 16 or 32, and erased_value is 0xff or 0x00.
  Status validate() const;
  // `count` sectors of `size` bytes each, appended.
  FlashGeometry& add_sectors(std::uint32_t count, std::uint64_t size);
};

// Where the next power cut happens. Operations (writes and erases, not reads) are numbered from 1
// across the life of the NorFlash object. An operation refused for breaking a rule (bounds,
// alignment, not erased) changes nothing and takes no number; neither does one of zero length.
struct PowerCut {
  std::uint64_t before_operation = 0;  // 0: never
  // When true, the interrupted operation is partly applied, as when power fails mid-operation:
  // a write programs a random part of its first write unit (bits move only from the erased value
  // toward the data); an erase leaves its first sector with random bytes.
  bool torn = false;
  std::uint64_t seed = 1;  // makes a torn operation's damage reproducible
};

// A whole flash device. Reads see the current contents; writes and erases reach the backing file
// (when there is one) before they return, so killing the process is a power cut too.
class NorFlash {
 public:
  // Flash in memory only: erased, or holding `contents` (which must be geometry.size() bytes).
  static Result<std::shared_ptr<NorFlash>> in_memory(const FlashGeometry& geometry,
                                                     ByteView contents = {});
  // Creates `path` erased; fails if it exists.
  static Result<std::shared_ptr<NorFlash>> create_file(const std::filesystem::path& path,
                                                       const FlashGeometry& geometry);
  // Opens an existing `path`; its size must match the geometry. A write unit that holds anything
  // but the erased value counts as programmed.
  static Result<std::shared_ptr<NorFlash>> open_file(const std::filesystem::path& path,
                                                     const FlashGeometry& geometry);
  ~NorFlash();

  const FlashGeometry& geometry() const;

  // Arms (or with before_operation = 0 disarms) the next power cut. Counting continues from the
  // operations already done.
  void arm(const PowerCut& cut);
  // Writes and erases performed so far (an interrupted one is not counted).
  std::uint64_t operations() const;
  // Erases and writes and bytes written so far, for benchmarks of update strategies
  // (erase_count() + write_count() == operations(); an erase of several sectors counts once).
  std::uint64_t erase_count() const;
  std::uint64_t write_count() const;
  std::uint64_t bytes_written() const;
  // True once a power cut has happened: every later write and erase fails with power_cut.
  bool power_lost() const;
  // Powers the device back on: clears power_lost() and disarms the cut; contents stay as they are.
  void restore_power();

  // A partition [offset, offset + size) as a FlashArea; both ends must be sector boundaries.
  // The area keeps the flash alive.
  Result<std::unique_ptr<FlashArea>> area(std::uint64_t offset, std::uint64_t size);

  // Device-level access (offsets from the start of the device), with the same rules as FlashArea.
  FlashResult<void> read(std::uint64_t offset, std::span<std::byte> out);
  FlashResult<void> write(std::uint64_t offset, ByteView data);
  FlashResult<void> erase(std::uint64_t offset, std::uint64_t length);

  // A copy of the whole contents (tests compare slots byte for byte).
  Bytes snapshot() const;

 private:
  struct State;
  explicit NorFlash(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace ironroot::flash
