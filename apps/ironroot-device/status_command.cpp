// `ironroot-device status`: what is in the device's flash and fuses, and what the last boot did.
// Reads only; the checks are the ROM's and the bootloader's own.
#include "commands.hpp"
#include "device_cli.hpp"
#include "ironroot/boot/boot_record.hpp"
#include "ironroot/boot/rom.hpp"
#include "ironroot/boot/slot_state.hpp"
#include "ironroot/device/device_folder.hpp"
#include "ironroot/image/image.hpp"

namespace ironroot::cli {

namespace {

// A slot's image as the bootloader judges it (anti-rollback included), and its trailer.
nlohmann::json slot_json(boot::Bootloader& loader, flash::FlashArea& slot) {
  nlohmann::json doc;
  auto verified = loader.inspect(slot, true);
  if (verified) {
    doc = boot::slot_image_json(*verified);
    doc["valid"] = true;
  } else {
    doc["valid"] = false;
    doc["reason"] = verified.error().message;
    // Say which image it is even when it is not bootable.
    if (auto data = boot::read_image(slot, slot.size()); data) {
      if (auto parsed = image::parse_image(*data); parsed) {
        doc["version"] = parsed->header.version.to_string();
      }
    }
  }
  auto trailer = boot::read_slot_trailer(slot);
  if (trailer) {
    doc["trailer"] = {
        {"magic", std::string(image::to_string(trailer->magic))},
        {"image_ok", std::string(image::to_string(trailer->image_ok))},
        {"copy_done", std::string(image::to_string(trailer->copy_done))},
        {"swap_type", trailer->swap_type
                          ? nlohmann::json(std::string(image::swap_type_name(*trailer->swap_type)))
                          : nlohmann::json(nullptr)}};
  } else {
    doc["trailer"] = {{"error", trailer.error().message}};
  }
  return doc;
}

std::string slot_text(const std::string& name, const nlohmann::json& slot) {
  std::string text = name + " slot: ";
  if (slot["valid"]) {
    text += slot["version"].get<std::string>() + ", valid: image hash " +
            slot["sha256"].get<std::string>().substr(0, 16) + "..., security counter " +
            std::to_string(slot["security_counter"].get<std::uint32_t>()) +
            ", signed by key slot " + std::to_string(slot["key_slot"].get<unsigned>());
  } else {
    text += (slot.contains("version") ? slot["version"].get<std::string>() + ", " : "") +
            "not bootable: " + slot["reason"].get<std::string>();
  }
  const auto& t = slot["trailer"];
  if (t.contains("error")) {
    text += "\n  trailer: unreadable: " + t["error"].get<std::string>();
  } else {
    text += "\n  trailer: magic " + t["magic"].get<std::string>() + ", image_ok " +
            t["image_ok"].get<std::string>() + ", copy_done " + t["copy_done"].get<std::string>() +
            (t["swap_type"].is_null() ? "" : ", swap type " + t["swap_type"].get<std::string>());
  }
  return text;
}

std::string_view operation_name(boot::Operation op) {
  switch (op) {
    case boot::Operation::swap:
      return "swap";
    case boot::Operation::overwrite:
      return "overwrite";
    case boot::Operation::none:
      break;
  }
  return "none";
}

nlohmann::json journal_json(const boot::BootState& state, bool primary_confirmed) {
  std::string summary = "idle";
  if (state.operation != boot::Operation::none) {
    summary = std::string(operation_name(state.operation)) + " (" +
              std::string(image::swap_type_name(state.swap_type)) + ") interrupted after step " +
              std::to_string(state.steps_done) + ": the next boot resumes it";
  } else if (state.awaiting_confirmation) {
    summary = primary_confirmed
                  ? "the test image in the primary slot confirmed itself: the next boot makes it "
                    "permanent and advances the fused security counter"
                  : "awaiting confirmation: the test image in the primary slot is reverted at the "
                    "next boot unless it confirms itself";
  }
  return {{"operation", std::string(operation_name(state.operation))},
          {"swap_type", std::string(image::swap_type_name(state.swap_type))},
          {"steps_done", state.steps_done},
          {"extent", state.extent},
          {"awaiting_confirmation", state.awaiting_confirmation},
          {"summary", summary}};
}

nlohmann::json fuses_json(const boot::Otp& otp) {
  auto anchor = otp.rom_trust_anchor();
  nlohmann::json keys = nlohmann::json::array();
  for (unsigned k = 0; k < boot::kFirmwareKeySlots; ++k) {
    auto key = otp.firmware_key(k);
    keys.push_back({{"slot", k},
                    {"key_hash", key ? nlohmann::json(to_hex(*key)) : nlohmann::json(nullptr)},
                    {"revoked", otp.is_revoked(k)}});
  }
  auto counter = [&](unsigned c) {
    return nlohmann::json{{"value", otp.security_counter(c)},
                          {"advances_left", otp.security_counter_entries_left(c)}};
  };
  return {{"rom_trust_anchor", anchor ? nlohmann::json(to_hex(*anchor)) : nlohmann::json(nullptr)},
          {"firmware_keys", keys},
          {"security_counters",
           {{"bootloader", counter(boot::kBootloaderCounter)},
            {"firmware", counter(boot::kFirmwareCounter)}}}};
}

std::string fuses_text(const nlohmann::json& fuses) {
  std::string text = "fuses:\n  ROM trust anchor: ";
  text += fuses["rom_trust_anchor"].is_null() ? "not fused"
                                              : fuses["rom_trust_anchor"].get<std::string>();
  for (const auto& key : fuses["firmware_keys"]) {
    text += "\n  firmware key " + std::to_string(key["slot"].get<unsigned>()) + ": ";
    if (key["key_hash"].is_null()) {
      text += key["revoked"] ? "not fused (revoked)" : "not fused";
    } else {
      text += key["key_hash"].get<std::string>() + (key["revoked"] ? " (revoked)" : " (in force)");
    }
  }
  const auto& c = fuses["security_counters"];
  auto counter = [](const nlohmann::json& v) {
    return std::to_string(v["value"].get<std::uint32_t>()) + " (" +
           std::to_string(v["advances_left"].get<unsigned>()) + " advances left)";
  };
  text += "\n  security counters: bootloader " + counter(c["bootloader"]) + ", firmware " +
          counter(c["firmware"]);
  return text;
}

std::string last_boot_text(const nlohmann::json& last) {
  if (last.is_null()) return "last boot: none yet";
  std::string text = "last boot (" + last.value("time", std::string("?")) + "): ";
  const std::string result = last.value("result", std::string("?"));
  if (result == "booted" && last.contains("firmware")) {
    text += "booted firmware " + last["firmware"].value("version", std::string("?")) +
            (last["firmware"].value("test_boot", false) ? " (test boot)" : "");
    if (last.contains("firmware_exit")) {
      text += "; it ended: " + last["firmware_exit"].value("meaning", std::string("?"));
    } else {
      text += "; the firmware is running, or the simulator was stopped while it ran";
    }
  } else {
    text += result + " in the " + last.value("stage", std::string("?")) +
            " stage: " + last.value("reason", std::string("?"));
  }
  for (const auto& event : last.value("events", nlohmann::json::array())) {
    text += "\n  " + event.get<std::string>();
  }
  return text;
}

int show_status(const std::string& dir, const Output& out) {
  auto folder = device::DeviceFolder::open(dir);
  if (!folder) return out.failure(folder.error().message);
  device::Board& board = folder->board();
  const device::DeviceConfig& config = folder->config();
  auto loader = boot::Bootloader::create(board.boot_areas(), board.otp(), config.strategy);
  if (!loader) return out.failure(loader.error().message);

  nlohmann::json doc;
  doc["dir"] = folder->dir().string();
  doc["config"] = device::to_json(config);
  auto bootloader = boot::rom_verify_bootloader(board.bootloader(), board.otp());
  if (bootloader) {
    doc["bootloader"] = boot::slot_image_json(*bootloader);
    doc["bootloader"].erase("key_slot");
    doc["bootloader"]["valid"] = true;
  } else {
    doc["bootloader"] = {{"valid", false}, {"reason", bootloader.error().message}};
  }
  doc["primary"] = slot_json(*loader, board.primary());
  doc["secondary"] = slot_json(*loader, board.secondary());
  auto state = loader->state();
  if (!state) return out.failure("reading the journal: " + state.error().message);
  doc["journal"] = journal_json(*state, doc["primary"]["trailer"].value("image_ok", "") == "set");
  doc["fuses"] = fuses_json(board.otp());
  auto last = device::DeviceFolder::read_last_boot(folder->dir());
  if (!last) return out.failure(last.error().message);
  doc["last_boot"] = last->value_or(nullptr);

  std::string text = "device " + folder->dir().string() + ": " + config.layout + " flash, " +
                     std::to_string(board.layout().primary.size) + "-byte slots, write alignment " +
                     std::to_string(config.write_align) + ", erased value " +
                     device::erased_value_name(config.erased_value) + ", " +
                     std::string(boot::to_string(config.strategy)) + " upgrades\n";
  text += "bootloader: " +
          (bootloader ? bootloader->version.to_string() + ", verified by the ROM (image hash " +
                            short_hash(bootloader->hash) + ")"
                      : "refused by the ROM: " + bootloader.error().message);
  text += "\n" + slot_text("primary", doc["primary"]) + "\n" +
          slot_text("secondary", doc["secondary"]) +
          "\njournal: " + doc["journal"]["summary"].get<std::string>() + "\n" +
          fuses_text(doc["fuses"]) + "\n" + last_boot_text(doc["last_boot"]);
  out.result(text, doc);
  return kExitOk;
}

}  // namespace

void add_status_command(CLI::App& app, const Output& out, int& exit_code) {
  auto dir = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand(
      "status",
      "Show the slots, their trailers, the bootloader's journal, the fuses and the last boot");
  add_dir_option(*cmd, *dir);
  cmd->callback([dir, &out, &exit_code] { exit_code = show_status(*dir, out); });
}

}  // namespace ironroot::cli
