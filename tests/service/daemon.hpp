// ironrootd as a child process for tests, its log (stderr) read through a pipe.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/broker_process.hpp"
#include "support/text.hpp"

extern char** environ;

namespace ironroot::testing {

// Four distinct free loopback ports for one ironrootd (REST API, device MQTT, fleet MQTT, HTTPS
// firmware downloads), and its command line with them.
struct ServicePorts {
  std::uint16_t api = free_port();
  std::uint16_t broker = 0;
  std::uint16_t fleet = 0;
  std::uint16_t download = 0;

  ServicePorts() {
    do broker = free_port();
    while (broker == api);
    do fleet = free_port();
    while (fleet == api || fleet == broker);
    do download = free_port();
    while (download == api || download == broker || download == fleet);
  }
  std::vector<std::string> args(const std::filesystem::path& data_dir) const {
    return {"--data-dir",      data_dir.string(),       "--api-port",   std::to_string(api),
            "--broker-port",   std::to_string(broker),  "--fleet-port", std::to_string(fleet),
            "--download-port", std::to_string(download)};
  }
};

// ironrootd running as a child. Its stderr (the log) is read through a pipe by a thread of the
// test all along, so that a chatty service never blocks on a full pipe while the test looks away.
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
    reader_ = std::thread([this, fd = err[0]] { read_log(fd); });
  }
  // A clean stop (SIGTERM), so that the Mosquitto the service runs stops with it: a SIGKILL
  // would leave it running, as it does after kill -9 in production.
  ~Daemon() {
    if (pid_ > 0) kill(SIGTERM);
  }
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Waits until a line of the log contains `part` (true), or the log ends or `timeout` passes
  // (false), so that a test fails, rather than hangs, when the service never says it.
  bool wait_for_log(const std::string& part,
                    std::chrono::milliseconds timeout = std::chrono::minutes(3)) {
    std::unique_lock lock(mutex_);
    return grew_.wait_for(lock, timeout, [&] { return contains(log_, part) || ended_; }) &&
           contains(log_, part);
  }
  // Sends `signal`, waits for the process to end and its log to close, and returns the exit
  // status (128 + the signal when it was killed).
  int kill(int signal) {
    ::kill(pid_, signal);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    if (reader_.joinable()) reader_.join();  // the log ends when the process (and its heirs) do
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  // Everything logged so far.
  std::string log() const {
    std::lock_guard lock(mutex_);
    return log_;
  }

 private:
  void read_log(int fd) {
    char buf[4096];
    for (;;) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      std::lock_guard lock(mutex_);
      if (n <= 0) {
        ended_ = true;
        grew_.notify_all();
        break;
      }
      log_.append(buf, static_cast<std::size_t>(n));
      grew_.notify_all();
    }
    ::close(fd);
  }

  pid_t pid_ = -1;
  mutable std::mutex mutex_;
  std::condition_variable grew_;
  std::string log_;
  bool ended_ = false;
  std::thread reader_;
};

}  // namespace ironroot::testing
