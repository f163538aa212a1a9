// `ironroot-device run`: the power switch. Each boot runs the ROM stage, then the bootloader, then
// the firmware the bootloader verified, from memory; the firmware's exit code says whether the
// device powers off or boots again (ironroot/device/contract.hpp).
#include <spdlog/spdlog.h>

#include <iostream>

#include "commands.hpp"
#include "device_cli.hpp"
#include "ironroot/boot/boot_record.hpp"
#include "ironroot/boot/rom.hpp"
#include "ironroot/device/contract.hpp"
#include "ironroot/device/device_folder.hpp"
#include "ironroot/device/memory_exec.hpp"

namespace ironroot::cli {

namespace {

namespace fs = std::filesystem;

struct RunArgs {
  std::string dir;
  std::uint64_t power_cut_after = 0;  // 0: no power cut
  unsigned max_boots = 10;
  // Seconds the firmware waits for a job (an OTA update) before it powers off; 0: it takes none.
  unsigned take_jobs = 0;
};

// How one pass through the boot chain ended.
enum class BootEnd { started, halted, power_cut };

struct BootPass {
  BootEnd end = BootEnd::halted;
  std::string reason;     // why it halted or lost power
  nlohmann::json report;  // this boot's last_boot.json, and its entry in the run's JSON
  Bytes image;            // the verified firmware image, when started
  boot::SlotImage firmware;
  fs::path dir;
  std::uint64_t flash_operations = 0;  // writes and erases the bootloader did
};

nlohmann::json bootloader_json(const boot::SlotImage& bootloader) {
  nlohmann::json doc = boot::slot_image_json(bootloader);
  doc.erase("key_slot");
  return doc;
}

// One pass through the boot chain, with the device open (and locked) only while it lasts.
// `power_cut_at` counts flash operations from the start of this pass (0: none). Fails only when
// the device cannot be opened or its outputs cannot be written.
Result<BootPass> boot_device(const std::string& dir, unsigned number, std::uint64_t power_cut_at) {
  auto folder = device::DeviceFolder::open(dir);
  if (!folder) return tl::unexpected(folder.error());
  device::Board& board = folder->board();
  if (power_cut_at != 0) board.flash().arm(flash::PowerCut{power_cut_at});

  BootPass pass;
  pass.dir = folder->dir();
  pass.report = {{"boot", number}, {"time", utc_now()}};
  auto stop = [&](BootEnd end, const std::string& stage, const std::string& reason,
                  const std::vector<std::string>& events) -> Result<BootPass> {
    pass.end = end;
    pass.reason = reason;
    pass.report["result"] = end == BootEnd::power_cut ? "power_cut" : "halted";
    pass.report["stage"] = stage;
    pass.report["reason"] = reason;
    pass.report["events"] = events;
    pass.flash_operations = board.flash().operations();
    if (auto written = device::DeviceFolder::write_last_boot(pass.dir, pass.report); !written) {
      return tl::unexpected(written.error());
    }
    return std::move(pass);
  };

  auto bootloader = boot::rom_verify_bootloader(board.bootloader(), board.otp());
  if (!bootloader) return stop(BootEnd::halted, "rom", bootloader.error().message, {});
  pass.report["bootloader"] = bootloader_json(*bootloader);

  auto loader =
      boot::Bootloader::create(board.boot_areas(), board.otp(), folder->config().strategy);
  if (!loader) return stop(BootEnd::halted, "bootloader", loader.error().message, {});
  auto booted = loader->boot();
  if (!booted) {
    const boot::BootFailure& f = booted.error();
    return stop(f.kind == boot::BootFailureKind::power_cut ? BootEnd::power_cut : BootEnd::halted,
                "bootloader", f.reason, f.events);
  }
  pass.flash_operations = board.flash().operations();

  const nlohmann::json record = boot::make_boot_record(*bootloader, *booted, board.otp());
  if (auto written = device::DeviceFolder::write_boot_record(pass.dir, record); !written) {
    return tl::unexpected(written.error());
  }
  pass.end = BootEnd::started;
  pass.report["result"] = "booted";
  pass.report["firmware"] = record["firmware"];
  pass.report["events"] = booted->events;
  pass.firmware = booted->firmware;
  pass.image = std::move(booted->image);
  if (auto written = device::DeviceFolder::write_last_boot(pass.dir, pass.report); !written) {
    return tl::unexpected(written.error());
  }
  return pass;
}

// The run: boots until the firmware powers off, the device halts, the power is cut or the boot
// limit is reached. Text goes to stdout as it happens; with --json, one document at the end, and
// the firmware's stdout goes to stderr so that stdout stays one JSON document.
class PowerSwitch {
 public:
  PowerSwitch(const RunArgs& args, const Output& out) : args_(args), out_(out) {}

  int run() {
    std::uint64_t operations = 0;  // flash operations of the earlier boots of this run
    for (unsigned number = 1; number <= args_.max_boots; ++number) {
      const std::uint64_t cut_at =
          args_.power_cut_after == 0 ? 0 : args_.power_cut_after - operations;
      auto pass = boot_device(args_.dir, number, cut_at);
      if (!pass) return out_.failure(pass.error().message);
      operations += pass->flash_operations;
      say(number, pass->report);
      switch (pass->end) {
        case BootEnd::halted:
          boots_.push_back(pass->report);
          return finish("halted", "halted at boot " + std::to_string(number) + ": " + pass->reason,
                        kExitFailure);
        case BootEnd::power_cut:
          boots_.push_back(pass->report);
          return finish("power_cut",
                        "power cut at boot " + std::to_string(number) +
                            ", before flash operation " + std::to_string(args_.power_cut_after) +
                            " of this run: " + pass->reason + "; `run` again to power on",
                        kExitPowerCut);
        case BootEnd::started:
          break;
      }
      const bool power_off = start_firmware(number, *pass);
      boots_.push_back(pass->report);
      if (power_off) {
        return finish(
            "powered_off",
            "powered off after " + std::to_string(number) + (number == 1 ? " boot" : " boots"),
            kExitOk);
      }
    }
    return finish("boot_limit",
                  "stopped after " + std::to_string(args_.max_boots) +
                      " boots (--max-boots): the firmware did not power off",
                  kExitBootLimit);
  }

 private:
  // Starts the firmware from the verified image and records how it ended. True when it powered
  // the device off.
  bool start_firmware(unsigned number, BootPass& pass) {
    const boot::SlotImage& fw = pass.firmware;
    const bool test_boot = pass.report["firmware"].value("test_boot", false);
    line(number, "starting firmware " + fw.version.to_string() +
                     (test_boot ? " (test boot: it must confirm itself)" : " (confirmed)"));
    spdlog::info("boot {}: starting firmware {} from memory ({} bytes)", number,
                 fw.version.to_string(), fw.payload_size);

    nlohmann::json exit_doc;
    std::string meaning;
    bool power_off = false;
    // The bootloader verified exactly these bytes; nothing is read again from flash or disk.
    ByteView payload = ByteView(pass.image).subspan(fw.header_size, fw.payload_size);
    device::ProgramLaunch launch;
    launch.name = "ironroot-firmware";
    launch.environment = {
        std::string(device::kDeviceDirEnv) + "=" + pass.dir.string(),
        std::string(device::kBootRecordEnv) + "=" + (pass.dir / device::kBootRecordFile).string()};
    if (args_.take_jobs > 0) {
      launch.environment.push_back(std::string(device::kTakeJobsEnv) + "=" +
                                   std::to_string(args_.take_jobs));
    }
    launch.stdout_to_stderr = out_.json;
    auto ended = device::run_from_memory(payload, launch);
    if (!ended) {
      meaning = "the firmware could not start: " + ended.error().message;
      exit_doc = {{"error", ended.error().message}};
    } else if (ended->killed()) {
      meaning = "a power cut while the firmware ran; booting again";
      exit_doc = {{"signal", ended->signal}};
    } else {
      exit_doc = {{"exit_code", ended->exit_code}};
      if (ended->exit_code == device::kPowerOffExitCode) {
        meaning = "power off";
        power_off = true;
      } else if (ended->exit_code == device::kRebootExitCode) {
        meaning = "reboot requested";
      } else {
        meaning = "the firmware failed; booting again";
      }
    }
    exit_doc["meaning"] = meaning;
    pass.report["firmware_exit"] = exit_doc;
    line(number, "the firmware ended" +
                     (ended ? " with " + ended->describe() + ": " + meaning : ": " + meaning));
    if (ended && !ended->killed() &&
        (ended->exit_code == device::kPowerOffExitCode ||
         ended->exit_code == device::kRebootExitCode)) {
      spdlog::info("boot {}: {}", number, meaning);
    } else {
      spdlog::warn("boot {}: {}", number, meaning);
    }
    if (auto written = device::DeviceFolder::write_last_boot(pass.dir, pass.report); !written) {
      spdlog::error("boot {}: {}", number, written.error().message);
    }
    return power_off;
  }

  // Prints what a boot did, as it happens (text mode).
  void say(unsigned number, const nlohmann::json& report) {
    if (report.contains("bootloader")) {
      line(number,
           "ROM: bootloader " + report["bootloader"]["version"].get<std::string>() + " verified");
    }
    for (const auto& event : report.value("events", nlohmann::json::array())) {
      line(number, event.get<std::string>());
    }
  }

  void line(unsigned number, const std::string& text) {
    if (out_.json) return;
    std::cout << "boot " << number << ": " << text << std::endl;
  }

  int finish(const std::string& result, const std::string& summary, int code) {
    nlohmann::json doc = {{"result", result}, {"summary", summary}, {"boots", boots_}};
    if (out_.json) {
      std::cout << doc.dump(2) << std::endl;
    } else if (code == kExitOk) {
      std::cout << summary << std::endl;
    }
    if (code == kExitFailure) std::cerr << "error: " << summary << "\n";
    if (code == kExitPowerCut) std::cerr << "power cut: " << summary << "\n";
    if (code == kExitBootLimit) std::cerr << "error: " << summary << "\n";
    return code;
  }

  RunArgs args_;
  const Output& out_;
  nlohmann::json boots_ = nlohmann::json::array();
};

}  // namespace

void add_run_command(CLI::App& app, const Output& out, int& exit_code) {
  auto a = std::make_shared<RunArgs>();
  auto* cmd = app.add_subcommand(
      "run",
      "Power the device on: ROM stage, bootloader, then the verified firmware from memory, "
      "booting again while the firmware asks for a reboot");
  cmd->footer(
      "The firmware's exit code: 0 powers off (run exits 0), 75 reboots; killed by a signal is a "
      "power cut and any other code a crash, and both boot again. run exits 1 when the device "
      "halts (nothing valid to boot), 3 on a --power-cut-after cut, 4 at --max-boots.");
  add_dir_option(*cmd, a->dir);
  add_power_cut_option(*cmd, a->power_cut_after, "this run's boots (the bootloader's work)");
  cmd->add_option("--max-boots", a->max_boots, "Stop after this many boots")
      ->check(CLI::Range(1u, 10000u))
      ->capture_default_str();
  cmd->add_option("--take-jobs", a->take_jobs,
                  "After its self-test the firmware takes jobs from the fleet (OTA updates, "
                  "resumed across reboots) until none has come for this many seconds, then powers "
                  "off (sets IRONROOT_FIRMWARE_TAKE_JOBS); 0: it takes none")
      ->check(CLI::Range(0u, 86400u))
      ->capture_default_str();
  cmd->callback([a, &out, &exit_code] { exit_code = PowerSwitch(*a, out).run(); });
}

}  // namespace ironroot::cli
