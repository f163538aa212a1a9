#include "support/broker_process.hpp"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

extern char** environ;

namespace ironroot::testing {

namespace {

// How often readiness and log conditions are re-checked. Polling a condition, not a sleep that
// stands in for one: each wait ends as soon as its condition holds.
constexpr std::chrono::milliseconds kPollInterval{10};

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

}  // namespace

// The kernel's ephemeral range: the local ports it gives outgoing connections.
std::pair<std::uint16_t, std::uint16_t> ephemeral_ports() {
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  unsigned low = 32768;
  unsigned high = 60999;
  in >> low >> high;
  return {static_cast<std::uint16_t>(low), static_cast<std::uint16_t>(high)};
}

// A port below the ephemeral range, so that no outgoing connection (thousands of them, when a
// test drives a swarm of devices in parallel) takes it between this check and the server's bind.
// Random, so that tests running in parallel rarely try the same one.
std::uint16_t free_port() {
  constexpr unsigned kLowest = 10000;
  const unsigned highest = ephemeral_ports().first - 1u;
  if (highest <= kLowest) throw std::runtime_error("the ephemeral port range leaves no ports");
  static std::mt19937 random(static_cast<unsigned>(::getpid()) ^ std::random_device{}());
  std::uniform_int_distribution<unsigned> pick(kLowest, highest);
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const auto port = static_cast<std::uint16_t>(pick(random));
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error("socket() failed");
    sockaddr_in address = loopback(port);
    const bool bound = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    ::close(fd);
    if (bound) return port;
  }
  throw std::runtime_error("no free loopback port below the ephemeral range");
}

bool accepts_connections(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in address = loopback(port);
  bool connected = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return connected;
}

BrokerProcess::BrokerProcess(std::filesystem::path dir, std::uint16_t port,
                             std::uint16_t fleet_port)
    : dir_(std::move(dir)),
      log_path_(dir_.string() + ".log"),
      port_(port),
      fleet_port_(fleet_port) {}

BrokerProcess::~BrokerProcess() {
  stop();
}

std::string BrokerProcess::start(std::chrono::milliseconds timeout) {
  if (pid_ > 0) return "already running";
  std::vector<std::string> args{IRONROOT_CLI, "broker", "run", "--dir", dir_.string()};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);  // not the test's sockets
  int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    pid_ = -1;
    return "cannot start " + args[0];
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!(accepts_connections(port_) && accepts_connections(fleet_port_))) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return "the broker exited (status " + std::to_string(status) + "):\n" + log();
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return "the broker did not open ports " + std::to_string(port_) + " and " +
             std::to_string(fleet_port_) + " in time:\n" + log();
    }
    std::this_thread::sleep_for(kPollInterval);
  }
  return {};
}

int BrokerProcess::kill(int signal) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, signal);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string BrokerProcess::log() const {
  std::ifstream in(log_path_);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

bool BrokerProcess::wait_for_log(const std::string& text, std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (log().find(text) == std::string::npos) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(kPollInterval);
  }
  return true;
}

}  // namespace ironroot::testing
