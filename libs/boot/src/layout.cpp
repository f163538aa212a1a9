#include "ironroot/boot/layout.hpp"

namespace ironroot::boot {

namespace {

constexpr std::uint64_t kKiB = 1024;

std::uint64_t round_up(std::uint64_t value, std::uint64_t unit) {
  return (value + unit - 1) / unit * unit;
}

// Appends sectors of `sector` bytes covering `size` bytes, and returns the partition they form.
Partition append(flash::FlashGeometry& g, std::uint64_t size, std::uint64_t sector) {
  Partition p{g.size(), round_up(size, sector)};
  g.add_sectors(static_cast<std::uint32_t>(p.size / sector), sector);
  return p;
}

}  // namespace

std::vector<std::string_view> boot_layout_names() {
  return {"uniform-4k", "stm32f4", "mixed-slots"};
}

Result<BootLayout> make_boot_layout(std::string_view name, const LayoutOptions& o) {
  if (o.sector_scale == 0 || (o.sector_scale & (o.sector_scale - 1)) != 0 || o.sector_scale > 16) {
    return fail("sector scale " + std::to_string(o.sector_scale) +
                " must be a power of two up to 16");
  }
  if (o.slot_size == 0) return fail("slot size must be larger than 0");
  const std::uint64_t s = o.sector_scale;
  BootLayout layout;
  layout.name = std::string(name);
  flash::FlashGeometry& g = layout.geometry;
  g.write_align = o.write_align;
  g.erased_value = o.erased_value;
  if (name == "uniform-4k") {
    const std::uint64_t sector = 4 * kKiB / s;
    layout.bootloader = append(g, 64 * kKiB / s, sector);
    layout.status = append(g, 2 * sector, sector);
    layout.primary = append(g, o.slot_size, sector);
    layout.secondary = append(g, o.slot_size, sector);
    layout.scratch = append(g, sector, sector);
  } else if (name == "stm32f4") {
    const std::uint64_t small = 16 * kKiB / s, medium = 64 * kKiB / s, large = 128 * kKiB / s;
    layout.bootloader = append(g, 2 * small, small);
    layout.status = append(g, 2 * small, small);
    append(g, medium, medium);  // sector 4: left to the application (settings, logs)
    layout.primary = append(g, o.slot_size, large);
    layout.secondary = append(g, o.slot_size, large);
    layout.scratch = append(g, large, large);
  } else if (name == "mixed-slots") {
    const std::uint64_t small = 4 * kKiB / s, large = 16 * kKiB / s;
    layout.bootloader = append(g, 64 * kKiB / s, small);
    layout.status = append(g, 2 * small, small);
    layout.primary = append(g, round_up(o.slot_size, large), small);
    layout.secondary = append(g, o.slot_size, large);
    layout.scratch = append(g, large, large);
  } else {
    return fail("unknown flash layout '" + std::string(name) +
                "'; known: uniform-4k, stm32f4, mixed-slots");
  }
  if (auto valid = g.validate(); !valid)
    return prefixed(valid.error(), "layout " + std::string(name));
  return layout;
}

}  // namespace ironroot::boot
