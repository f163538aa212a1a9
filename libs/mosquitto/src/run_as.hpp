// Who Mosquitto runs as. Mosquitto started as root switches to `user` before it reads any TLS
// file or writes its persistence, so those must be readable (writable) by that user; started as
// anyone else it keeps that identity and ignores `user`.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>

#include "ironroot/core/result.hpp"

namespace ironroot::mosquitto {

struct RunAs {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  bool switches = false;  // this process is root and `name` is not: files are handed over
};

// Checks the user name and, when this process is root, finds the user.
Result<RunAs> resolve_user(const std::string& name);

// Mosquitto's user must be able to walk down to `dir`.
Status check_reachable(const std::filesystem::path& dir, const RunAs& user);

// Gives `path` to the user's group (and to the user too with `owner_too`) when it switches.
Status hand_over(const std::filesystem::path& path, const RunAs& user, bool owner_too);

}  // namespace ironroot::mosquitto
