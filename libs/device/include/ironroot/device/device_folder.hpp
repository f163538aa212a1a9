// A simulated device is a folder (ARCHITECTURE.md, "The simulated device"):
//
//   device.json       the configuration (config.hpp); written last by create(), so a folder
//                     without it is not a device
//   flash.bin         the NOR flash: bootloader, status, primary, secondary and scratch partitions
//   otp.bin           the fuses: trust anchors, revocation bits, security counters
//   boot_record.json  written by each boot before the firmware starts (boot::make_boot_record)
//   last_boot.json    what the last boot did: result, reason, events, time
//
// A DeviceFolder holds an exclusive lock on the device while it is open, so two commands never work
// on the same flash at once (NorFlash keeps the contents in memory). `ironroot-device run` closes
// the device before it starts the firmware, which opens it again to confirm itself.
#pragma once

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "ironroot/core/result.hpp"
#include "ironroot/device/board.hpp"
#include "ironroot/device/config.hpp"

namespace ironroot::device {

inline constexpr const char* kConfigFile = "device.json";
inline constexpr const char* kFlashFile = "flash.bin";
inline constexpr const char* kOtpFile = "otp.bin";
inline constexpr const char* kBootRecordFile = "boot_record.json";
inline constexpr const char* kLastBootFile = "last_boot.json";

class DeviceFolder {
 public:
  // Makes a new device in `dir`, which must not exist or be an empty folder: erased flash, blank
  // fuses, and device.json. Nothing is fused or programmed yet (see provision.hpp). On failure,
  // whatever it created is removed again.
  static Result<DeviceFolder> create(const std::filesystem::path& dir, const DeviceConfig& config);
  // Opens an existing device, checking device.json and that flash.bin and otp.bin fit it. Fails,
  // saying what is wrong, on a missing or damaged folder or when another process has it open.
  static Result<DeviceFolder> open(const std::filesystem::path& dir);

  DeviceFolder(DeviceFolder&&) noexcept;
  DeviceFolder& operator=(DeviceFolder&&) noexcept;
  ~DeviceFolder();

  const std::filesystem::path& dir() const { return dir_; }  // absolute
  const DeviceConfig& config() const { return config_; }
  Board& board() { return board_; }

  std::filesystem::path boot_record_path() const { return dir_ / kBootRecordFile; }
  std::filesystem::path last_boot_path() const { return dir_ / kLastBootFile; }

  // boot_record.json and last_boot.json are the simulator's outputs, not device state, so they are
  // written and read by folder path, without the lock: `run` records how the firmware ended while
  // the device is closed. Writes replace the file atomically.
  static Status write_boot_record(const std::filesystem::path& dir, const nlohmann::json& record);
  static Status write_last_boot(const std::filesystem::path& dir, const nlohmann::json& last_boot);
  // last_boot.json, or nullopt before the first boot. Fails when the file is damaged.
  static Result<std::optional<nlohmann::json>> read_last_boot(const std::filesystem::path& dir);

  // Removes the device's files (and the folder, when create() made it), after a provisioning
  // that failed half way.
  static void discard(DeviceFolder&& folder);

 private:
  struct Lock;  // device.json, open and flock()ed
  // An exclusive flock() on device.json, released when the process ends however it ends.
  static Result<std::unique_ptr<Lock>> take_lock(const std::filesystem::path& dir);
  DeviceFolder(std::filesystem::path dir, DeviceConfig config, Board board,
               std::unique_ptr<Lock> lock, bool made_dir);

  std::filesystem::path dir_;
  DeviceConfig config_;
  Board board_;
  std::unique_ptr<Lock> lock_;
  bool made_dir_ = false;
};

}  // namespace ironroot::device
