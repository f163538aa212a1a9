// Test support for libs/mqtt: a real Mosquitto, started with `ironroot broker run` on free
// loopback ports, whose log the tests read.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

namespace ironroot::testing {

// A loopback TCP port that was free a moment ago, chosen at random below the kernel's ephemeral
// range so that no outgoing connection can take it before the server binds it.
std::uint16_t free_port();

// Whether something accepts TCP connections on 127.0.0.1:`port` right now.
bool accepts_connections(std::uint16_t port);

// `ironroot broker run --dir DIR` as a child process, its stderr (Mosquitto's log) in a file.
class BrokerProcess {
 public:
  // REQUIRES: `dir` holds a folder from `ironroot broker init` with these two ports.
  BrokerProcess(std::filesystem::path dir, std::uint16_t port, std::uint16_t fleet_port);
  ~BrokerProcess();  // stop()
  BrokerProcess(const BrokerProcess&) = delete;
  BrokerProcess& operator=(const BrokerProcess&) = delete;

  // Starts the broker and waits until both listeners accept connections, or fails (returning
  // the reason, with the log) when the process exits or `timeout` passes first.
  std::string start(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // Sends `signal` and waits for the process to end; returns its exit status (128 + the signal
  // when it was killed; -1 when it was not running). SIGKILL: the broker dies mid-flight.
  int kill(int signal);
  int stop() { return kill(15); }  // SIGTERM: Mosquitto's clean shutdown
  bool running() const { return pid_ > 0; }

  // Everything the broker has logged so far (all its runs).
  std::string log() const;
  // Waits until the log contains `text`; re-reads it as it grows.
  bool wait_for_log(const std::string& text, std::chrono::milliseconds timeout) const;

 private:
  std::filesystem::path dir_;
  std::filesystem::path log_path_;
  std::uint16_t port_;
  std::uint16_t fleet_port_;
  pid_t pid_ = -1;
};

}  // namespace ironroot::testing
