// `ironroot-device stage` (what the OTA agent does: write an update into the secondary slot and
// mark it pending) and `ironroot-device revoke-key` (burn a key's revocation fuse).
#include <spdlog/spdlog.h>

#include "commands.hpp"
#include "device_cli.hpp"
#include "ironroot/boot/slot_state.hpp"
#include "ironroot/device/device_folder.hpp"
#include "ironroot/image/image.hpp"

namespace ironroot::cli {

namespace {

struct StageArgs {
  std::string dir;
  std::string image;
  bool permanent = false;
  std::uint64_t power_cut_after = 0;
};

int stage(const StageArgs& a, const Output& out) {
  auto folder = device::DeviceFolder::open(a.dir);
  if (!folder) return out.failure(folder.error().message);
  device::Board& board = folder->board();
  flash::FlashArea& secondary = board.secondary();
  auto data = read_input("IMAGE (a " + std::to_string(secondary.size()) + "-byte slot)", a.image,
                         secondary.size());
  if (!data) return out.failure(data.error().message);
  // Like MCUboot's OTA agents, stage only checks that this is an image; whether it may boot
  // (signature, key, security counter) is the bootloader's decision at the next boot.
  auto parsed = image::parse_image(*data);
  if (!parsed) {
    return out.failure(a.image + " is not an MCUboot image: " + parsed.error().message);
  }
  const std::string version = parsed->header.version.to_string();
  const bool overwrite = folder->config().strategy == boot::UpgradeStrategy::overwrite;
  const bool permanent = a.permanent || overwrite;
  if (a.power_cut_after != 0) board.flash().arm(flash::PowerCut{a.power_cut_after});
  auto staged = boot::stage_image(secondary, *data, a.permanent);
  if (!staged) {
    if (board.flash().power_lost()) {
      std::cerr << "power cut: " << staged.error().message
                << "; the update is not pending (stage it again)\n";
      if (out.json) {
        out.result("", {{"result", "power_cut"}, {"reason", staged.error().message}});
      }
      return kExitPowerCut;
    }
    return out.failure(staged.error().message);
  }
  spdlog::info("staged {} ({} bytes) in the secondary slot of {}", a.image, data->size(),
               folder->dir().string());
  out.result(
      "staged " + version + " in the secondary slot as a " +
          (permanent ? "permanent update" : "test (it must confirm itself)") +
          (overwrite && !a.permanent ? " (the device upgrades by overwrite: no tests)" : "") +
          ": the next boot installs it",
      {{"result", "staged"},
       {"image", a.image},
       {"version", version},
       {"size", data->size()},
       {"permanent", permanent}});
  return kExitOk;
}

struct RevokeArgs {
  std::string dir;
  unsigned slot = 0;
  bool force = false;
};

int revoke(const RevokeArgs& a, const Output& out) {
  auto folder = device::DeviceFolder::open(a.dir);
  if (!folder) return out.failure(folder.error().message);
  device::Board& board = folder->board();
  boot::Otp& otp = board.otp();
  auto key = otp.firmware_key(a.slot);
  if (!key) {
    return out.failure("firmware key slot " + std::to_string(a.slot) +
                       " holds no key: there is nothing to revoke");
  }
  nlohmann::json doc = {{"slot", a.slot}, {"key_hash", to_hex(*key)}, {"revoked", true}};
  if (otp.is_revoked(a.slot)) {
    out.result("firmware key " + std::to_string(a.slot) + " (" + short_hash(*key) +
                   ") was already revoked",
               doc);
    return kExitOk;
  }
  auto loader = boot::Bootloader::create(board.boot_areas(), otp, folder->config().strategy);
  if (!loader) return out.failure(loader.error().message);
  auto running = loader->inspect(board.primary(), true);
  if (running && running->key_slot == a.slot && !a.force) {
    return out.failure("the firmware in the primary slot (" + running->version.to_string() +
                       ") is signed with key " + std::to_string(a.slot) +
                       ": revoking it leaves the device nothing to boot; install an update "
                       "signed with another key first, or add --force");
  }
  if (auto revoked = otp.revoke_firmware_key(a.slot); !revoked) {
    return out.failure(revoked.error().message);
  }
  spdlog::info("revoked firmware key {} of {}", a.slot, folder->dir().string());
  out.result("revoked firmware key " + std::to_string(a.slot) + " (" + short_hash(*key) +
                 "): images signed with it no longer boot",
             doc);
  return kExitOk;
}

}  // namespace

void add_stage_command(CLI::App& app, const Output& out, int& exit_code) {
  auto a = std::make_shared<StageArgs>();
  auto* cmd = app.add_subcommand(
      "stage",
      "Write an update into the secondary slot and mark it pending, as the OTA agent does; the "
      "next boot verifies and installs it");
  add_dir_option(*cmd, a->dir);
  cmd->add_option("image", a->image, "Signed image")->required();
  cmd->add_flag("--permanent", a->permanent,
                "Install for good (image_ok set), instead of a test the image must confirm");
  add_power_cut_option(*cmd, a->power_cut_after, "the staging");
  cmd->callback([a, &out, &exit_code] { exit_code = stage(*a, out); });
}

void add_revoke_key_command(CLI::App& app, const Output& out, int& exit_code) {
  auto a = std::make_shared<RevokeArgs>();
  auto* cmd = app.add_subcommand(
      "revoke-key", "Burn a firmware key's revocation fuse: images it signed never boot again");
  add_dir_option(*cmd, a->dir);
  cmd->add_option("--slot", a->slot, "Firmware key slot (0-3)")
      ->required()
      ->check(CLI::Range(0u, boot::kFirmwareKeySlots - 1));
  cmd->add_flag("--force", a->force,
                "Revoke even the key of the firmware in the primary slot (the device halts)");
  cmd->callback([a, &out, &exit_code] { exit_code = revoke(*a, out); });
}

}  // namespace ironroot::cli
