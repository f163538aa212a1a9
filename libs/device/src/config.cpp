#include "ironroot/device/config.hpp"

#include <algorithm>
#include <array>

namespace ironroot::device {

namespace {

constexpr std::array<std::uint32_t, 6> kWriteAligns = {1, 2, 4, 8, 16, 32};

std::string layout_list() {
  std::string names;
  for (std::string_view name : boot::boot_layout_names()) {
    names += (names.empty() ? "" : ", ") + std::string(name);
  }
  return names;
}

}  // namespace

std::string erased_value_name(std::byte value) {
  return value == std::byte{0x00} ? "0x00" : "0xff";
}

Result<boot::BootLayout> DeviceConfig::boot_layout() const {
  const auto names = boot::boot_layout_names();
  if (std::find(names.begin(), names.end(), layout) == names.end()) {
    return fail("unknown flash layout '" + layout + "'; known layouts: " + layout_list());
  }
  if (std::find(kWriteAligns.begin(), kWriteAligns.end(), write_align) == kWriteAligns.end()) {
    return fail("write alignment " + std::to_string(write_align) +
                " is not supported; use 1, 2, 4, 8, 16 or 32");
  }
  if (erased_value != std::byte{0xff} && erased_value != std::byte{0x00}) {
    return fail("erased value " + std::to_string(std::to_integer<unsigned>(erased_value)) +
                " is not supported; use 0xff or 0x00");
  }
  if (slot_size < kMinSlotSize || slot_size > kMaxSlotSize) {
    return fail("slot size " + std::to_string(slot_size) + " is out of range: use " +
                std::to_string(kMinSlotSize) + " (64 KiB) to " + std::to_string(kMaxSlotSize) +
                " (256 MiB) bytes");
  }
  boot::LayoutOptions options;
  options.write_align = write_align;
  options.erased_value = erased_value;
  options.slot_size = slot_size;
  return boot::make_boot_layout(layout, options);
}

nlohmann::json to_json(const DeviceConfig& config) {
  return {{"format_version", kDeviceFormatVersion},
          {"layout", config.layout},
          {"write_align", config.write_align},
          {"erased_value", erased_value_name(config.erased_value)},
          {"slot_size", config.slot_size},
          {"upgrade_strategy", std::string(boot::to_string(config.strategy))}};
}

Result<DeviceConfig> device_config_from_json(const nlohmann::json& doc) {
  if (!doc.is_object()) return fail("the document is not a JSON object");
  auto field = [&](const char* name, nlohmann::json::value_t type,
                   const char* what) -> Result<const nlohmann::json*> {
    auto it = doc.find(name);
    if (it == doc.end()) return fail("field '" + std::string(name) + "' is missing");
    // JSON numbers without a sign parse as unsigned; accept them wherever a number is asked for.
    const bool number = type == nlohmann::json::value_t::number_unsigned;
    if (number ? !it->is_number_unsigned() : it->type() != type) {
      return fail("field '" + std::string(name) + "' must be " + what + ", not " + it->dump());
    }
    return &*it;
  };
  using vt = nlohmann::json::value_t;
  auto version = field("format_version", vt::number_unsigned, "a number");
  if (!version) return tl::unexpected(version.error());
  if ((*version)->get<std::uint64_t>() != kDeviceFormatVersion) {
    return fail("format version " + (*version)->dump() + " is not supported; this ironroot reads " +
                std::to_string(kDeviceFormatVersion));
  }
  DeviceConfig config;
  auto layout = field("layout", vt::string, "a layout name");
  if (!layout) return tl::unexpected(layout.error());
  config.layout = (*layout)->get<std::string>();
  auto align = field("write_align", vt::number_unsigned, "a number of bytes");
  if (!align) return tl::unexpected(align.error());
  if ((*align)->get<std::uint64_t>() > 32) {
    return fail("field 'write_align' must be 1, 2, 4, 8, 16 or 32, not " + (*align)->dump());
  }
  config.write_align = (*align)->get<std::uint32_t>();
  auto erased = field("erased_value", vt::string, "\"0xff\" or \"0x00\"");
  if (!erased) return tl::unexpected(erased.error());
  const std::string erased_text = (*erased)->get<std::string>();
  if (erased_text != "0xff" && erased_text != "0x00") {
    return fail("field 'erased_value' must be \"0xff\" or \"0x00\", not " + (*erased)->dump());
  }
  config.erased_value = erased_text == "0xff" ? std::byte{0xff} : std::byte{0x00};
  auto slot = field("slot_size", vt::number_unsigned, "a number of bytes");
  if (!slot) return tl::unexpected(slot.error());
  config.slot_size = (*slot)->get<std::uint64_t>();
  auto strategy = field("upgrade_strategy", vt::string, "\"swap\" or \"overwrite\"");
  if (!strategy) return tl::unexpected(strategy.error());
  auto parsed = boot::parse_upgrade_strategy((*strategy)->get<std::string>());
  if (!parsed) {
    return fail("field 'upgrade_strategy' must be \"swap\" or \"overwrite\", not " +
                (*strategy)->dump());
  }
  config.strategy = *parsed;
  if (auto checked = config.boot_layout(); !checked) return tl::unexpected(checked.error());
  return config;
}

}  // namespace ironroot::device
