// The embedded broker: ironrootd runs Mosquitto as its child, with the configuration it wrote,
// and starts it again (after a back-off) whenever it dies, until ironrootd stops.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>

#include "ironroot/core/result.hpp"
#include "ironroot/mqtt/backoff.hpp"

namespace ironroot::service {

class BrokerSupervisor {
 public:
  struct Options {
    std::string mosquitto;         // the executable
    std::filesystem::path config;  // mosquitto.conf
    std::filesystem::path log;     // Mosquitto's stderr is appended here
    // Where the running Mosquitto's pid is kept, so that one left behind by an ironrootd that was
    // killed (kill -9 leaves its children running) is stopped before a new one starts.
    std::filesystem::path pid_file;
    std::string host = "127.0.0.1";  // where its listeners answer
    std::uint16_t port = 0;          // the device listener
    std::uint16_t fleet_port = 0;    // the fleet listener
    mqtt::BackoffPolicy restart_backoff{std::chrono::milliseconds(200), std::chrono::seconds(10),
                                        2.0, 0.5};
  };

  explicit BrokerSupervisor(Options options);
  ~BrokerSupervisor();  // stop()
  BrokerSupervisor(const BrokerSupervisor&) = delete;
  BrokerSupervisor& operator=(const BrokerSupervisor&) = delete;

  // Starts Mosquitto and waits until both listeners accept TCP connections. Fails, with the tail
  // of its log, when it exits first or does not answer within `timeout`. Then keeps it running.
  Status start(std::chrono::milliseconds timeout);
  // SIGTERM to Mosquitto (its clean shutdown: it saves its persistence), waits for it, and stops
  // supervising.
  void stop();

  // How many times Mosquitto was started (1 after start(), more after restarts).
  std::uint64_t starts() const;
  pid_t pid() const;

 private:
  Result<pid_t> spawn();
  // Stops a Mosquitto that pid_file names and that runs with our configuration.
  void stop_leftover();
  void supervise();

  Options options_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  pid_t pid_ = -1;
  bool stopping_ = false;
  std::uint64_t starts_ = 0;
  std::thread thread_;
};

// Whether something accepts TCP connections on host:port right now.
bool accepts_connections(const std::string& host, std::uint16_t port);

}  // namespace ironroot::service
