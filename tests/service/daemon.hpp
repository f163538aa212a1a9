// ironrootd as a child process for tests, its log (stderr) read through a pipe.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/broker_process.hpp"
#include "support/text.hpp"

extern char** environ;

namespace ironroot::testing {

// Three distinct free loopback ports for one ironrootd, and its command line with them.
struct ServicePorts {
  std::uint16_t api = free_port();
  std::uint16_t broker = 0;
  std::uint16_t fleet = 0;

  ServicePorts() {
    do broker = free_port();
    while (broker == api);
    do fleet = free_port();
    while (fleet == api || fleet == broker);
  }
  std::vector<std::string> args(const std::filesystem::path& data_dir) const {
    return {"--data-dir",    data_dir.string(),      "--api-port",   std::to_string(api),
            "--broker-port", std::to_string(broker), "--fleet-port", std::to_string(fleet)};
  }
};

// ironrootd running as a child, its stderr (the log) read through a pipe.
class Daemon {
 public:
  explicit Daemon(std::vector<std::string> args) {
    args.insert(args.begin(), IRONROOTD);
    int err[2];
    if (::pipe2(err, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, err[1], 2);
    // The test's own sockets (a swarm has thousands) stay with the test: ironrootd, like any
    // daemon, starts with the standard three.
    posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    if (::posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ) != 0) {
      throw std::runtime_error("cannot start ironrootd");
    }
    posix_spawn_file_actions_destroy(&actions);
    ::close(err[1]);
    err_ = err[0];
  }
  // A clean stop (SIGTERM), so that the Mosquitto the service runs stops with it: a SIGKILL
  // would leave it running, as it does after kill -9 in production.
  ~Daemon() {
    if (pid_ > 0) kill(SIGTERM);
    ::close(err_);
  }
  // Reads the log until a line contains `part` (true), or the log ends or `timeout` passes
  // (false), so that a test fails, rather than hangs, when the service never says it.
  bool wait_for_log(const std::string& part,
                    std::chrono::milliseconds timeout = std::chrono::minutes(3)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (contains(log_, part)) return true;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd readable{err_, POLLIN, 0};
      const int ready = ::poll(&readable, 1, static_cast<int>(left.count()));
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) return false;
      char buf[4096];
      ssize_t n = ::read(err_, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      log_.append(buf, static_cast<std::size_t>(n));
    }
  }
  // Sends `signal`, reads the rest of the log and returns the exit status (128 + signal).
  int kill(int signal) {
    ::kill(pid_, signal);
    wait_for_log("\x01never", std::chrono::hours(1));  // drains the log until the process ends
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  const std::string& log() const { return log_; }

 private:
  pid_t pid_ = -1;
  int err_ = -1;
  std::string log_;
};

}  // namespace ironroot::testing
