// `ironroot-device init`: makes a new device and provisions it, as a production line would.
#include <spdlog/spdlog.h>

#include "cli_values.hpp"
#include "commands.hpp"
#include "device_cli.hpp"
#include "ironroot/boot/boot_record.hpp"
#include "ironroot/crypto/certificate_authority.hpp"
#include "ironroot/crypto/key.hpp"
#include "ironroot/crypto/random.hpp"
#include "ironroot/device/device_folder.hpp"
#include "ironroot/device/identity.hpp"
#include "ironroot/device/provision.hpp"

namespace ironroot::cli {

namespace {

constexpr std::uintmax_t kMaxKeyFileSize = 64 * 1024;

struct InitArgs {
  std::string dir;
  std::string rom_key;
  std::vector<std::string> firmware_keys;
  std::string bootloader;
  std::string firmware;
  std::string layout = "uniform-4k";
  std::string write_align = "4";
  std::string erased_value = "0xff";
  std::string slot_size = std::to_string(device::kDefaultSlotSize);
  std::string strategy = "swap";
  std::string thing_name;  // default: the folder's name
  std::string serial;      // default: random
  std::string broker = "localhost:8883";
  std::string server_name;
  std::string token;
};

// The identity the options ask for, or what is wrong with them.
Result<device::NewIdentity> identity_from(const InitArgs& a) {
  device::NewIdentity identity;
  identity.thing_name = a.thing_name;
  if (identity.thing_name.empty()) {
    identity.thing_name = std::filesystem::absolute(a.dir).lexically_normal().filename().string();
    if (identity.thing_name.empty()) {
      identity.thing_name =
          std::filesystem::absolute(a.dir).lexically_normal().parent_path().filename().string();
    }
    if (!crypto::check_thing_name(identity.thing_name)) {
      return fail("the folder name '" + identity.thing_name +
                  "' is not a valid thing name: give one with --thing-name");
    }
  } else if (auto ok = crypto::check_thing_name(identity.thing_name); !ok) {
    return prefixed(ok.error(), "--thing-name");
  }
  identity.serial = a.serial;
  if (identity.serial.empty()) {
    auto random = crypto::random_bytes(8);
    if (!random) return tl::unexpected(random.error());
    identity.serial = to_hex(*random);
    for (char& c : identity.serial) c = static_cast<char>(std::toupper(c));
  } else if (auto ok = crypto::check_device_serial(identity.serial); !ok) {
    return prefixed(ok.error(), "--serial");
  }
  auto broker = device::parse_broker_endpoint(a.broker);
  if (!broker) return prefixed(broker.error(), "--broker");
  identity.broker = *broker;
  if (!a.server_name.empty()) {
    if (auto ok = crypto::check_server_name(a.server_name); !ok) {
      return prefixed(ok.error(), "--server-name");
    }
    identity.broker.server_name = a.server_name;
  }
  if (!a.token.empty()) {
    auto uri = keystore::Pkcs11Uri::parse(a.token);
    if (!uri) return prefixed(uri.error(), "--token");
    identity.token = *uri;
  }
  return identity;
}

Result<crypto::PublicKey> read_key(const std::string& option, const std::string& path) {
  auto pem = read_input(option + " " + path, path, kMaxKeyFileSize);
  if (!pem) return tl::unexpected(pem.error());
  auto key = crypto::PublicKey::from_pem(*pem);
  if (!key) return prefixed(key.error(), option + " " + path);
  return key;
}

// The device configuration the options describe, or what is wrong with them.
Result<device::DeviceConfig> config_from(const InitArgs& a) {
  device::DeviceConfig config;
  config.layout = a.layout;
  config.write_align = static_cast<std::uint32_t>(std::stoul(a.write_align));
  config.erased_value = a.erased_value == "0x00" ? std::byte{0x00} : std::byte{0xff};
  auto slot = parse_uint(a.slot_size, device::kMaxSlotSize);
  if (!slot) return prefixed(slot.error(), "--slot-size");
  config.slot_size = *slot;
  config.strategy = *boot::parse_upgrade_strategy(a.strategy);
  if (auto layout = config.boot_layout(); !layout) return tl::unexpected(layout.error());
  return config;
}

int init_device(const InitArgs& a, const Output& out) {
  auto config = config_from(a);
  if (!config) return out.usage_error(config.error().message);
  auto new_identity = identity_from(a);
  if (!new_identity) return out.usage_error(new_identity.error().message);
  if (a.firmware_keys.size() > boot::kFirmwareKeySlots) {
    return out.usage_error("--firmware-key given " + std::to_string(a.firmware_keys.size()) +
                           " times; the device has " + std::to_string(boot::kFirmwareKeySlots) +
                           " firmware key slots");
  }
  const boot::BootLayout layout = *config->boot_layout();

  auto rom_key = read_key("--rom-key", a.rom_key);
  if (!rom_key) return out.failure(rom_key.error().message);
  device::Provisioning provisioning;
  provisioning.rom_key_hash = rom_key->key_hash();
  for (const std::string& path : a.firmware_keys) {
    auto key = read_key("--firmware-key", path);
    if (!key) return out.failure(key.error().message);
    if (key->key_hash() == rom_key->key_hash()) {
      spdlog::warn(
          "{} is also the ROM key: the bootloader and the firmware should be signed by "
          "different keys, so that one leaking does not give away the other",
          path);
    }
    provisioning.firmware_key_hashes.push_back(key->key_hash());
  }
  auto bootloader =
      read_input("--bootloader (a " + std::to_string(layout.bootloader.size) + "-byte partition)",
                 a.bootloader, layout.bootloader.size);
  if (!bootloader) return out.failure(bootloader.error().message);
  auto firmware = read_input(
      "--firmware (a " + std::to_string(layout.primary.size) + "-byte slot; see --slot-size)",
      a.firmware, layout.primary.size);
  if (!firmware) return out.failure(firmware.error().message);
  provisioning.bootloader_image = *bootloader;
  provisioning.firmware_image = *firmware;
  provisioning.strategy = config->strategy;

  // Fuses are for ever: provision a device in memory first, and touch the disk only if it boots.
  auto rehearsal = device::Board::in_memory(*config);
  if (!rehearsal) return out.failure(rehearsal.error().message);
  if (auto checked = device::provision(*rehearsal, provisioning); !checked) {
    return out.failure(checked.error().message + "; no device was made");
  }

  auto folder = device::DeviceFolder::create(a.dir, *config);
  if (!folder) return out.failure(folder.error().message);
  auto provisioned = device::provision(folder->board(), provisioning);
  if (!provisioned) {
    std::string dir = folder->dir().string();
    device::DeviceFolder::discard(std::move(*folder));
    return out.failure("provisioning " + dir +
                       " failed, and it was removed: " + provisioned.error().message);
  }
  auto identity = device::make_identity(folder->dir(), *new_identity);
  if (!identity) {
    std::string dir = folder->dir().string();
    device::DeviceFolder::discard(std::move(*folder));
    return out.failure("making the identity of " + dir +
                       " failed, and the device was removed: " + identity.error().message);
  }
  const auto& fw = provisioned->firmware;
  const auto& bl = provisioned->bootloader;
  spdlog::info("made device {} ({} layout, {} bytes of flash)", folder->dir().string(), layout.name,
               layout.geometry.size());

  nlohmann::json keys = nlohmann::json::array();
  std::string key_text;
  for (std::size_t i = 0; i < provisioning.firmware_key_hashes.size(); ++i) {
    keys.push_back({{"slot", i}, {"key_hash", to_hex(provisioning.firmware_key_hashes[i])}});
    key_text += "\n  firmware key " + std::to_string(i) + ": " +
                to_hex(provisioning.firmware_key_hashes[i]) + " (" + a.firmware_keys[i] + ")";
  }
  nlohmann::json doc = {{"dir", folder->dir().string()},
                        {"config", device::to_json(*config)},
                        {"rom_trust_anchor", to_hex(provisioning.rom_key_hash)},
                        {"firmware_keys", keys},
                        {"bootloader", boot::slot_image_json(bl)},
                        {"firmware", boot::slot_image_json(fw)}};
  doc["bootloader"].erase("key_slot");
  const device::IdentitySettings& id = identity->settings;
  const std::string csr_path = (folder->dir() / device::kCsrFile).string();
  doc["identity"] = device::to_json(id);
  doc["identity"].erase("format_version");
  doc["identity"]["key"] = identity->key.to_string();
  doc["identity"]["csr"] = csr_path;
  out.result("made device " + folder->dir().string() + ": " + layout.name + " flash, " +
                 std::to_string(layout.primary.size) + "-byte slots, write alignment " +
                 std::to_string(config->write_align) + ", erased value " +
                 device::erased_value_name(config->erased_value) + ", " + a.strategy +
                 " upgrades\n  ROM trust anchor: " + to_hex(provisioning.rom_key_hash) + " (" +
                 a.rom_key + ")" + key_text + "\n  bootloader " + bl.version.to_string() +
                 ", firmware " + fw.version.to_string() + " (confirmed, key slot " +
                 std::to_string(fw.key_slot) + "); fused security counters " +
                 std::to_string(bl.security_counter) + " and " +
                 std::to_string(fw.security_counter) + "\n  thing " + id.thing_name + " (serial " +
                 id.serial + "), key generated in token '" + id.secure_element.token_label +
                 "'; CSR in " + csr_path + "\n  next: have it certified (ironroot ca issue --csr " +
                 csr_path + "), then ironroot-device identity install",
             doc);
  return kExitOk;
}

}  // namespace

void add_init_command(CLI::App& app, const Output& out, int& exit_code) {
  auto a = std::make_shared<InitArgs>();
  auto* cmd = app.add_subcommand(
      "init",
      "Make a new device: flash and fuses, the ROM and firmware key hashes fused, the signed "
      "bootloader programmed and the first firmware installed");
  add_dir_option(*cmd, a->dir)
      ->description("The new device's folder (must not exist, or be empty)");
  cmd->add_option("--rom-key", a->rom_key,
                  "Key whose hash the ROM trusts to sign the bootloader (PEM, public or private)")
      ->required();
  cmd->add_option("--firmware-key", a->firmware_keys,
                  "Key trusted to sign firmware (PEM, public or private); up to 4, fused in slots "
                  "0, 1, ... in order")
      ->required()
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_option("--bootloader", a->bootloader,
                  "Signed second-stage bootloader image (signed by --rom-key, key embedded)")
      ->required();
  cmd->add_option("--firmware", a->firmware,
                  "Signed first firmware image (signed by a --firmware-key, key embedded, "
                  "with a security counter)")
      ->required();
  std::vector<std::string> layouts;
  for (std::string_view name : boot::boot_layout_names()) layouts.emplace_back(name);
  cmd->add_option("--layout", a->layout, "Flash layout")
      ->check(CLI::IsMember(layouts))
      ->capture_default_str();
  cmd->add_option("--write-align", a->write_align, "Flash write alignment in bytes")
      ->check(CLI::IsMember({"1", "2", "4", "8", "16", "32"}))
      ->capture_default_str();
  cmd->add_option("--erased-value", a->erased_value, "What erased flash reads as")
      ->check(CLI::IsMember({"0xff", "0x00"}))
      ->capture_default_str();
  cmd->add_option(
         "--slot-size", a->slot_size,
         "Size of each image slot in bytes (decimal or 0x...; rounded up to whole sectors)")
      ->capture_default_str();
  cmd->add_option("--strategy", a->strategy,
                  "Upgrade strategy: swap (test images, revert) or overwrite (permanent only)")
      ->check(CLI::IsMember({"swap", "overwrite"}))
      ->capture_default_str();
  cmd->add_option("--thing-name", a->thing_name,
                  "The device's thing name: its certificate's CN and MQTT client id (default: "
                  "the folder's name)");
  cmd->add_option("--serial", a->serial,
                  "The device's serial number, its certificate's serialNumber (default: random)");
  cmd->add_option("--broker", a->broker, "The MQTT broker the firmware connects to: HOST[:PORT]")
      ->capture_default_str();
  cmd->add_option("--server-name", a->server_name,
                  "The name the broker's certificate must carry (default: the broker host)");
  cmd->add_option("--token", a->token,
                  "An existing PKCS#11 token for the device key, as a pkcs11: URI with "
                  "module-path and pin-source (default: a new SoftHSM2 token in the folder)");
  cmd->callback([a, &out, &exit_code] { exit_code = init_device(*a, out); });
}

}  // namespace ironroot::cli
