// Lookups in a sector map (sectors in order, tiling [0, size) from offset 0).
#pragma once

#include <cstdint>
#include <span>

#include "ironroot/flash/flash_area.hpp"

namespace ironroot::flash {

// The index of the sector that contains `offset`. REQUIRES: offset < the map's total size.
std::size_t sector_index(std::span<const Sector> sectors, std::uint64_t offset);

}  // namespace ironroot::flash
