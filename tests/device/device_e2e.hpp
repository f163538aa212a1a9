// The end-to-end device fixture: keys, images signed by the real `ironroot image sign`, a device
// made by the real `ironroot-device init` and booted by `ironroot-device run`, which starts the
// real ironroot-firmware from memory. Shared by the device's end-to-end tests.
//
// Most devices use the stm32f4 layout: its 128 KiB sectors keep an upgrade of the debug firmware
// (tens of MB under the sanitizers) to a few hundred swap steps.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "ironroot/core/file.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"
#include "support/text.hpp"

extern char** environ;

namespace ironroot::testing {

namespace fs = std::filesystem;
using nlohmann::json;

inline constexpr std::uint32_t kCounter100 = 0x01000000;  // -s auto for 1.0.0
inline constexpr std::uint32_t kCounter110 = 0x01010000;  // and for 1.1.0

// A slot that holds the firmware of this build: its size plus room for header and TLVs and for the
// OTA agent's download journal (one write unit per 4 KiB block), rounded up to whole MiB.
inline std::uint64_t slot_size() {
  const std::uint64_t largest =
      std::max(fs::file_size(IRONROOT_FIRMWARE), fs::file_size(IRONROOT_FIRMWARE_FAILING));
  constexpr std::uint64_t kMiB = 1024 * 1024;
  return (largest + 512 * 1024 + kMiB - 1) / kMiB * kMiB;
}

// Whether any of a boot's events contains `part`.
inline bool has_event(const json& boot, const std::string& part) {
  for (const auto& e : boot.value("events", json::array())) {
    if (contains(e.get<std::string>(), part)) return true;
  }
  return false;
}

inline std::vector<std::string> merged_env(const std::vector<std::string>& extra) {
  std::map<std::string, std::string> merged;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry(*e);
    merged[entry.substr(0, entry.find('='))] = entry;
  }
  for (const std::string& entry : extra) merged[entry.substr(0, entry.find('='))] = entry;
  std::vector<std::string> out;
  for (auto& [name, entry] : merged) out.push_back(entry);
  return out;
}

// A process the test talks to while it runs: a pipe on its stdin and its stdout, stderr to a file.
class RunningProcess {
 public:
  RunningProcess(std::vector<std::string> argv, const std::vector<std::string>& env,
                 const fs::path& stderr_file) {
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) {
      throw std::runtime_error("pipe2 failed");
    }
    std::vector<std::string> envs = merged_env(env);
    std::vector<char*> c_args, c_env;
    for (auto& a : argv) c_args.push_back(a.data());
    c_args.push_back(nullptr);
    for (auto& e : envs) c_env.push_back(e.data());
    c_env.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_addopen(&actions, 2, stderr_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0600);
    const int rc = posix_spawn(&pid_, c_args[0], &actions, nullptr, c_args.data(), c_env.data());
    posix_spawn_file_actions_destroy(&actions);
    ::close(in[0]);
    ::close(out[1]);
    stdin_ = in[1];
    stdout_ = out[0];
    if (rc != 0) throw std::runtime_error("cannot start " + argv[0]);
  }
  ~RunningProcess() {
    close_stdin();
    if (stdout_ >= 0) ::close(stdout_);
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  // Reads stdout up to the first line containing `part`; returns it, or "" at end of output.
  std::string line_containing(const std::string& part) {
    for (;;) {
      for (std::size_t end; (end = pending_.find('\n')) != std::string::npos;) {
        std::string line = pending_.substr(0, end);
        pending_.erase(0, end + 1);
        if (contains(line, part)) return line;
      }
      if (!read_more()) return "";
    }
  }
  pid_t pid() const { return pid_; }
  void close_stdin() {
    if (stdin_ >= 0) ::close(stdin_);
    stdin_ = -1;
  }
  // Waits for the end; the exit code as run_process reports it, and all stdout not yet consumed.
  ProcessResult wait() {
    close_stdin();
    while (read_more()) {
    }
    ProcessResult result;
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    result.out = pending_;
    return result;
  }

 private:
  bool read_more() {
    char buf[4096];
    ssize_t n;
    do {
      n = ::read(stdout_, buf, sizeof buf);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) return false;
    pending_.append(buf, static_cast<std::size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  int stdin_ = -1;
  int stdout_ = -1;
  std::string pending_;
};

class DeviceE2E : public ::testing::Test {
 protected:
  enum class Build { good, failing };

  std::string path(const std::string& name) const { return (temp_ / name).string(); }
  std::string dev() const { return path("device"); }

  ProcessResult cli(std::vector<std::string> args) {
    args.insert(args.begin(), IRONROOT_CLI);
    return run_process(args);
  }
  ProcessResult device(std::vector<std::string> args, const std::vector<std::string>& env = {}) {
    args.insert(args.begin(), IRONROOT_DEVICE);
    return run_process(args, env);
  }

  // A key pair under the test's folder, made on first use.
  std::string key(const std::string& name) {
    const std::string file = path(name + ".pem");
    if (!fs::exists(file)) {
      auto r = cli({"image", "keygen", "-k", file});
      EXPECT_EQ(r.exit_code, 0) << r.err;
    }
    return file;
  }
  // The firmware binary signed as `make firmware` signs it.
  std::string firmware(const std::string& version, Build build = Build::good,
                       const std::string& signer = "firmware") {
    const std::string file =
        path("fw-" + version + (build == Build::failing ? "-failing" : "") + "-" + signer + ".img");
    if (!fs::exists(file)) {
      auto r =
          cli({"image", "sign", "-k", key(signer), "-v", version, "-H", "0x400", "--pad-header",
               "-S", std::to_string(slot_size()), "-s", "auto", "--public-key-format", "full",
               build == Build::failing ? IRONROOT_FIRMWARE_FAILING : IRONROOT_FIRMWARE, file});
      EXPECT_EQ(r.exit_code, 0) << r.err;
    }
    return file;
  }
  std::string bootloader(const std::string& signer = "rom") {
    const std::string file = path("bootloader-" + signer + ".img");
    if (!fs::exists(file)) {
      const std::string descriptor = path("bootloader.txt");
      EXPECT_TRUE(write_file_atomic(descriptor, as_bytes("ironroot second-stage bootloader\n")));
      auto r =
          cli({"image", "sign", "-k", key(signer), "-v", "1.0.0", "-H", "0x200", "--pad-header",
               "-S", "0x8000", "-s", "auto", "--public-key-format", "full", descriptor, file});
      EXPECT_EQ(r.exit_code, 0) << r.err;
    }
    return file;
  }

  std::vector<std::string> init_args(const std::string& layout = "stm32f4") {
    return {"init",
            "--dir",
            dev(),
            "--rom-key",
            key("rom"),
            "--firmware-key",
            key("firmware"),
            "--bootloader",
            bootloader(),
            "--firmware",
            firmware("1.0.0"),
            "--slot-size",
            std::to_string(slot_size()),
            "--layout",
            layout};
  }
  void init(std::vector<std::string> extra = {}, const std::string& layout = "stm32f4") {
    auto args = init_args(layout);
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = device(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  void stage(const std::string& image, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"stage", "--dir", dev(), image};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = device(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  // `run --json`: its document, after checking the exit code.
  json run(int expected_exit = 0, std::vector<std::string> extra = {},
           const std::vector<std::string>& env = {}) {
    std::vector<std::string> args = {"run", "--dir", dev(), "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    last_ = device(args, env);
    EXPECT_EQ(last_.exit_code, expected_exit) << last_.out << last_.err;
    return json::parse(last_.out, nullptr, false);
  }
  json status() {
    auto r = device({"status", "--dir", dev(), "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json::parse(r.out, nullptr, false);
  }
  static std::uint32_t firmware_counter(const json& s) {
    return s["fuses"]["security_counters"]["firmware"]["value"].get<std::uint32_t>();
  }

  TempDir temp_;
  ProcessResult last_;
};

}  // namespace ironroot::testing
