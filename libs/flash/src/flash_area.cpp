#include "ironroot/flash/flash_area.hpp"

#include <algorithm>
#include <cassert>

#include "sector_map.hpp"

namespace ironroot::flash {

std::string_view to_string(FlashFault fault) {
  switch (fault) {
    case FlashFault::out_of_bounds:
      return "out of bounds";
    case FlashFault::misaligned:
      return "misaligned";
    case FlashFault::not_erased:
      return "not erased";
    case FlashFault::power_cut:
      return "power cut";
    case FlashFault::io:
      return "I/O error";
  }
  return "unknown flash fault";
}

std::size_t sector_index(std::span<const Sector> sectors, std::uint64_t offset) {
  assert(!sectors.empty() && offset < sectors.back().offset + sectors.back().size);
  auto after = std::upper_bound(sectors.begin(), sectors.end(), offset,
                                [](std::uint64_t at, const Sector& s) { return at < s.offset; });
  return static_cast<std::size_t>(after - sectors.begin()) - 1;
}

const Sector& sector_at(const FlashArea& area, std::uint64_t offset) {
  std::span<const Sector> sectors = area.sectors();
  return sectors[sector_index(sectors, offset)];
}

}  // namespace ironroot::flash
