#include "broker_supervisor.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

#include "ironroot/core/file.hpp"
#include "ironroot/core/unique_fd.hpp"

extern char** environ;

namespace ironroot::service {

namespace {

constexpr std::chrono::milliseconds kReadinessPoll{20};
constexpr std::uintmax_t kMaxLogTail = 4096;
constexpr std::chrono::seconds kLeftoverGrace{10};
namespace fs = std::filesystem;

std::string log_tail(const std::filesystem::path& log) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(log, ec);
  if (ec) return "(no log)";
  auto text = read_file(log, size);
  if (!text) return "(the log cannot be read)";
  std::string all(as_chars(*text));
  return all.size() > kMaxLogTail ? all.substr(all.size() - kMaxLogTail) : all;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

}  // namespace

bool accepts_connections(const std::string& host, std::uint16_t port) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0) return false;
  bool accepted = false;
  for (addrinfo* a = found; a != nullptr && !accepted; a = a->ai_next) {
    UniqueFd fd(::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol));
    accepted = fd.valid() && ::connect(fd.get(), a->ai_addr, a->ai_addrlen) == 0;
  }
  ::freeaddrinfo(found);
  return accepted;
}

BrokerSupervisor::BrokerSupervisor(Options options) : options_(std::move(options)) {}

void BrokerSupervisor::stop_leftover() {
  auto text = read_file(options_.pid_file, 64);
  if (!text) return;
  const pid_t pid = static_cast<pid_t>(std::atol(std::string(as_chars(*text)).c_str()));
  if (pid <= 1) return;
  const fs::path proc = "/proc/" + std::to_string(pid);
  // procfs files report a size of 0: read them as a stream.
  std::ifstream cmdline(proc / "cmdline", std::ios::binary);
  if (!cmdline) return;  // gone
  const std::string args((std::istreambuf_iterator<char>(cmdline)), {});
  if (args.find(options_.config.string()) == std::string::npos) return;  // another program
  spdlog::warn("stopping Mosquitto (pid {}) left running by an ironrootd that ended abruptly", pid);
  ::kill(pid, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + kLeftoverGrace;
  std::error_code ec;
  while (fs::exists(proc, ec) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(kReadinessPoll);
  }
  if (fs::exists(proc, ec)) ::kill(pid, SIGKILL);
  while (fs::exists(proc, ec)) std::this_thread::sleep_for(kReadinessPoll);
}

BrokerSupervisor::~BrokerSupervisor() {
  stop();
}

Result<pid_t> BrokerSupervisor::spawn() {
  UniqueFd log(::open(options_.log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
  if (!log.valid()) {
    return fail("cannot open the broker log " + options_.log.string() + ": " +
                std::strerror(errno));
  }
  std::vector<std::string> args{options_.mosquitto, "-c", options_.config.string()};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, log.get(), STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, log.get(), STDERR_FILENO);
  // Nothing else of ironrootd's (registry, sockets, whatever it inherited) goes to the broker.
  posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1);
  // ironrootd blocks SIGTERM and SIGINT (it takes them with sigwait) and ignores SIGPIPE; the
  // broker must get them as usual, or it would never stop.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attributes, &none);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int s : {SIGTERM, SIGINT, SIGPIPE, SIGHUP}) sigaddset(&defaults, s);
  posix_spawnattr_setsigdefault(&attributes, &defaults);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, args[0].c_str(), &actions, &attributes, argv.data(), environ);
  posix_spawnattr_destroy(&attributes);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    return fail("cannot start " + options_.mosquitto + ": " + std::strerror(rc) +
                " (install mosquitto, or set broker.mosquitto)");
  }
  if (auto ok = write_file_atomic(options_.pid_file, as_bytes(std::to_string(pid) + "\n"), 0600);
      !ok) {
    spdlog::warn("cannot record Mosquitto's pid: {}", ok.error().message);
  }
  return pid;
}

Status BrokerSupervisor::start(std::chrono::milliseconds timeout) {
  {
    std::lock_guard lock(mutex_);
    if (thread_.joinable()) return {};
    stop_leftover();
    for (std::uint16_t port : {options_.port, options_.fleet_port}) {
      if (accepts_connections(options_.host, port)) {
        return fail("something else already listens on " + options_.host + ":" +
                    std::to_string(port) + "; stop it, or choose other broker ports");
      }
    }
    auto pid = spawn();
    if (!pid) return tl::unexpected(pid.error());
    pid_ = *pid;
    starts_ = 1;
  }
  spdlog::info("started Mosquitto (pid {}) with {}", pid_, options_.config.string());
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return fail("Mosquitto ended at once (" + describe_status(status) + "); its log (" +
                  options_.log.string() + ") ends:\n" + log_tail(options_.log));
    }
    if (accepts_connections(options_.host, options_.port) &&
        accepts_connections(options_.host, options_.fleet_port)) {
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
      return fail("Mosquitto did not listen on " + options_.host + ":" +
                  std::to_string(options_.port) + " and :" + std::to_string(options_.fleet_port) +
                  " within " + std::to_string(timeout.count()) + " ms; its log ends:\n" +
                  log_tail(options_.log));
    }
    std::this_thread::sleep_for(kReadinessPoll);  // a readiness probe of another process
  }
  thread_ = std::thread([this] { supervise(); });
  return {};
}

void BrokerSupervisor::supervise() {
  mqtt::Backoff backoff(options_.restart_backoff);
  std::string why;
  for (;;) {
    pid_t pid;
    {
      std::lock_guard lock(mutex_);
      pid = pid_;
    }
    if (pid > 0) {
      int status = 0;
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      why = "Mosquitto died (" + describe_status(status) + ")";
    }
    std::unique_lock lock(mutex_);
    pid_ = -1;
    if (stopping_) {
      spdlog::info("Mosquitto stopped");
      return;
    }
    const auto delay = backoff.next_delay();
    spdlog::error("{}; starting it again in {} ms; see {}", why, delay.count(),
                  options_.log.string());
    if (changed_.wait_for(lock, delay, [&] { return stopping_; })) return;
    auto again = spawn();
    if (!again) {
      why = again.error().message;
      continue;
    }
    pid_ = *again;
    ++starts_;
    spdlog::info("started Mosquitto again (pid {})", pid_);
  }
}

void BrokerSupervisor::stop() {
  std::thread thread;
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
    if (pid_ > 0) ::kill(pid_, SIGTERM);
    changed_.notify_all();
    thread = std::move(thread_);
  }
  if (thread.joinable()) thread.join();
}

std::uint64_t BrokerSupervisor::starts() const {
  std::lock_guard lock(mutex_);
  return starts_;
}

pid_t BrokerSupervisor::pid() const {
  std::lock_guard lock(mutex_);
  return pid_;
}

}  // namespace ironroot::service
