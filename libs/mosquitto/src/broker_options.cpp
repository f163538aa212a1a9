// The checks on BrokerOptions, and Mosquitto's user.
#include <arpa/inet.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "ironroot/crypto/certificate_authority.hpp"
#include "ironroot/mosquitto/broker_folder.hpp"
#include "run_as.hpp"

namespace ironroot::mosquitto {

namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMaxUserNameLength = 32;
constexpr std::size_t kMaxTopicPrefixLength = 32;
constexpr std::size_t kMaxPluginKeyLength = 64;
constexpr std::size_t kMaxPluginValueLength = 1024;

bool is_ip_address(const std::string& text) {
  unsigned char buffer[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, text.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, text.c_str(), buffer) == 1;
}

Status check_topic_prefix(const std::string& prefix) {
  if (prefix.empty() || prefix.size() > kMaxTopicPrefixLength) {
    return fail("--topic-prefix must be 1 to 32 characters");
  }
  for (char c : prefix) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '$' && c != '_' && c != '-') {
      return fail("--topic-prefix '" + prefix +
                  "' may contain only letters, digits, '$', '_' and '-' (it is one topic level)");
    }
  }
  return {};
}

// A value Mosquitto's configuration syntax carries as it is: the rest of the line, trimmed.
bool fits_on_a_line(const std::string& value) {
  return !value.empty() && value.find_first_of("\r\n") == std::string::npos &&
         value.front() != ' ' && value.back() != ' ' && value.front() != '\t' &&
         value.back() != '\t';
}

Status check_plugin_options(const std::vector<std::pair<std::string, std::string>>& options,
                            const char* listener) {
  for (const auto& [key, value] : options) {
    bool good_key = !key.empty() && key.size() <= kMaxPluginKeyLength;
    for (char c : key) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') {
        good_key = false;
      }
    }
    if (!good_key) {
      return fail(std::string("plugin option '") + key + "' of the " + listener +
                  " listener: a key is 1 to 64 of letters, digits, '_', '-' and '.'");
    }
    if (!fits_on_a_line(value) || value.size() > kMaxPluginValueLength) {
      return fail(std::string("plugin option '") + key + "' of the " + listener +
                  " listener: a value is 1 to 1024 characters on one line, without leading or "
                  "trailing space");
    }
  }
  return {};
}

Status check_plugin(const BrokerPlugin& plugin) {
  const std::string library = plugin.library.string();
  if (!plugin.library.is_absolute() || !fits_on_a_line(library)) {
    return fail("plugin '" + library +
                "': give the library's absolute path, on one line and without trailing space");
  }
  std::error_code ec;
  if (!fs::is_regular_file(plugin.library, ec)) {
    return fail("plugin '" + library + "' is not a file (Mosquitto could not load it)");
  }
  if (auto ok = check_plugin_options(plugin.device_options, "device"); !ok) return ok;
  return check_plugin_options(plugin.fleet_options, "fleet");
}

Status check_inputs(const BrokerOptions& a) {
  if (a.ca_dir.empty() == a.ca_cert.empty()) {
    return fail("give the devices' CA as --ca CA_DIR (an `ironroot ca` folder) or --ca-cert FILE");
  }
  if (!a.ca_cert.empty() && a.crl.empty()) {
    return fail("--ca-cert needs --crl FILE: the broker refuses revoked devices only with a CRL");
  }
  if (a.server_cert.empty() != a.server_key.empty()) {
    return fail("give --server-cert and --server-key together");
  }
  if (!a.ca_cert.empty() && a.server_cert.empty()) {
    return fail("--ca-cert needs --server-cert and --server-key (only --ca CA_DIR can issue them)");
  }
  if (!a.server_cert.empty() && !a.server_names.empty()) {
    return fail("--server-name is for a certificate issued here; it cannot change --server-cert");
  }
  if (a.port == 0 || a.fleet_port == 0) {
    return fail("--port and --fleet-port must be 1 to 65535");
  }
  if (a.port == a.fleet_port) {
    return fail("--port and --fleet-port must differ (both are " + std::to_string(a.port) + ")");
  }
  if (a.server_validity.count() <= 0) return fail("--server-days must be at least 1");
  if (a.crl_validity.count() <= 0) return fail("--crl-hours must be at least 1");
  if (!is_ip_address(a.bind)) {
    return fail("--bind '" + a.bind +
                "' is not an IP address (127.0.0.1 serves this machine only, 0.0.0.0 every "
                "interface)");
  }
  for (const std::string& name : a.server_names) {
    if (auto ok = crypto::check_server_name(name); !ok) {
      return prefixed(ok.error(), "--server-name");
    }
  }
  if (auto ok = crypto::check_thing_name(a.fleet_identity); !ok) {
    return prefixed(ok.error(), "--fleet-identity");
  }
  if (auto ok = check_topic_prefix(a.topic_prefix); !ok) return ok;
  if (a.plugin) return check_plugin(*a.plugin);
  return {};
}

}  // namespace

Result<RunAs> resolve_user(const std::string& name) {
  if (name.empty() || name.size() > kMaxUserNameLength) {
    return fail("--user must be a user name of 1 to 32 characters");
  }
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') {
      return fail("--user '" + name + "' is not a user name");
    }
  }
  RunAs run_as{name};
  if (::geteuid() != 0 || name == "root") return run_as;
  errno = 0;
  const passwd* entry = ::getpwnam(name.c_str());
  if (entry == nullptr) {
    return fail("--user '" + name +
                "': no such user on this machine (Debian's mosquitto package creates "
                "'mosquitto'); create it or choose another");
  }
  run_as.uid = entry->pw_uid;
  run_as.gid = entry->pw_gid;
  run_as.switches = true;
  return run_as;
}

Status check_reachable(const fs::path& dir, const RunAs& user) {
  if (!user.switches) return {};
  for (fs::path p = dir.parent_path(); !p.empty(); p = p.parent_path()) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) {
      return fail("cannot inspect " + p.string() + ": " + std::strerror(errno));
    }
    const bool reachable = (st.st_mode & S_IXOTH) != 0 ||
                           (st.st_uid == user.uid && (st.st_mode & S_IXUSR) != 0) ||
                           (st.st_gid == user.gid && (st.st_mode & S_IXGRP) != 0);
    if (!reachable) {
      char mode[8];
      std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
      return fail("Mosquitto will run as user '" + user.name + "', which cannot enter " +
                  p.string() + " (mode " + mode +
                  "); choose a --dir it can reach, or run it as another user with --user");
    }
    if (p == p.root_path()) break;
  }
  return {};
}

Status hand_over(const fs::path& path, const RunAs& user, bool owner_too) {
  if (!user.switches) return {};
  const uid_t owner = owner_too ? user.uid : static_cast<uid_t>(-1);
  if (::chown(path.c_str(), owner, user.gid) != 0) {
    return fail("cannot give " + path.string() + " to user '" + user.name +
                "': " + std::strerror(errno));
  }
  return {};
}

Status check_broker_options(const BrokerOptions& options) {
  if (auto ok = check_inputs(options); !ok) return ok;
  if (auto user = resolve_user(options.user); !user) return tl::unexpected(user.error());
  return {};
}

Status check_broker_dir(const fs::path& dir) {
  // Mosquitto's configuration syntax ends a value at the line's end; a path with a newline or
  // leading/trailing space cannot be written into it.
  const std::string text = dir.string();
  if (text.empty() || text.find_first_of("\r\n") != std::string::npos || text.back() == ' ') {
    return fail("--dir must not contain line breaks or end with a space");
  }
  return {};
}

}  // namespace ironroot::mosquitto
