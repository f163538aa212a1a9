// ironrootd's data folder (`data_dir`): all of its state, in one place.
//
//   ironrootd.lock    flock()ed while a service runs on the folder: one service per folder
//   fleet.db          the registry (SQLite, WAL; fleet.db-wal and fleet.db-shm beside it)
//   ca/               the certificate authority (an `ironroot ca` folder): root and device CA
//   broker/           the embedded Mosquitto's configuration, certificates, log and persistence
//   operator.token    the operator API token (mode 0600), made on first start
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "ironroot/core/result.hpp"
#include "ironroot/core/unique_fd.hpp"

namespace ironroot::service {

inline constexpr const char* kLockFile = "ironrootd.lock";
inline constexpr const char* kRegistryFile = "fleet.db";
inline constexpr const char* kCaDir = "ca";
inline constexpr const char* kBrokerDir = "broker";
inline constexpr const char* kFirmwareDir = "firmware";  // the firmware repository's images
inline constexpr const char* kOperatorTokenFile = "operator.token";

class DataFolder {
 public:
  // Creates the folder when it does not exist (mode 0755: Mosquitto, running as its own user,
  // must reach broker/) and takes its lock. Fails when another ironrootd holds it, saying so.
  static Result<DataFolder> open(const std::filesystem::path& dir);

  const std::filesystem::path& dir() const { return dir_; }  // absolute
  std::filesystem::path path(const char* name) const { return dir_ / name; }

  // The operator API token, made (random, 256 bits, as hex) when the folder has none.
  Result<std::string> operator_token() const;

 private:
  DataFolder(std::filesystem::path dir, UniqueFd lock)
      : dir_(std::move(dir)), lock_(std::move(lock)) {}

  std::filesystem::path dir_;
  UniqueFd lock_;
};

}  // namespace ironroot::service
