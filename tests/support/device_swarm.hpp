// Thousands of lightweight simulated MQTT devices in one process, all driven by one thread: each
// device is a libmosquitto connection with its own X.509 identity over mutual TLS, configured as
// connect_device() (claim_device.hpp) configures one, but without a network thread of its own. The
// swarm's thread polls every socket, runs libmosquitto's non-threaded API (loop_read, loop_write,
// loop_misc), reconnects lost devices with back-off and jitter, and calls the handlers.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ironroot/core/bytes.hpp"
#include "ironroot/core/result.hpp"
#include "support/claim_device.hpp"

namespace ironroot::testing {

// One simulated device: its MQTT client id (the thing name, its certificate's CN) and identity.
struct SwarmDevice {
  std::string client_id;
  FileIdentity identity;
};

struct SwarmOptions {
  BrokerAccess broker;
  // 5 s to 65535 s. A connection attempt that has no CONNACK after this long is abandoned.
  std::chrono::seconds keepalive{60};
  // The delay before the next attempt after a lost connection, a refused or failed attempt:
  // exponential from reconnect_min to reconnect_max, each delay drawn from [ceiling / 2, ceiling].
  // Reset by every successful connection.
  std::chrono::milliseconds reconnect_min{100};
  std::chrono::milliseconds reconnect_max{2000};
  // Connection attempts (TCP connect, TLS handshake, CONNECT) pending at once, so that thousands
  // of devices do not all knock at once. At least 1.
  std::size_t max_connects_in_flight = 64;
  // Per device: messages handed to its connection and not yet acknowledged (PUBACK for QoS 1,
  // written for QoS 0). 1 to 65535. Also sizes the queue of calls from other threads
  // (max_unacknowledged per device, for the whole swarm).
  std::size_t max_unacknowledged = 64;
};

// Counters since start(). `connected` and `ready` are the numbers of devices now.
struct SwarmStats {
  std::size_t connected = 0;           // devices whose connection the broker accepted (CONNACK)
  std::size_t ready = 0;               // of those, devices with every subscription acknowledged
  std::uint64_t connects = 0;          // CONNACK successes, reconnections included
  std::uint64_t disconnects = 0;       // established connections that ended (not at shutdown)
  std::uint64_t failed_attempts = 0;   // attempts that ended without a connection
  std::uint64_t messages_in = 0;       // messages delivered to on_message
  std::uint64_t bytes_in = 0;          // their payload bytes
  std::uint64_t messages_out = 0;      // acknowledged by the broker (QoS 1) or written (QoS 0)
  std::uint64_t messages_dropped = 0;  // accepted by publish() but never acknowledged: see there
  std::string last_error;              // the latest failure, "<client id>: why"
};

// The swarm. Created by start(); the destructor stops its thread and disconnects every device.
//
// Thread-safety: publish(), subscribe() and every const member may be called from any thread,
// including from the handlers. The handlers run on the swarm's thread, one at a time, so they need
// no locking among themselves; they must not block for long and must not destroy the swarm. The
// counters in stats() change after the handler for their event has returned, so a thread that
// waited for a counter sees what the handlers did.
class DeviceSwarm {
 public:
  struct Handlers {
    // After every connection the broker accepted (CONNACK success), once the device's
    // subscriptions have been renewed (sent, not yet acknowledged); the device counts in
    // connected() when it returns. Optional.
    std::function<void(DeviceSwarm&, std::size_t device)> on_connected;
    // Every message received on a subscription. `payload` is valid during the call. Optional.
    std::function<void(DeviceSwarm&, std::size_t device, const std::string& topic,
                       ByteView payload)>
        on_message;
    // When an established connection ends (the device then reconnects). Optional.
    std::function<void(DeviceSwarm&, std::size_t device)> on_disconnected;
    // About every 100 ms, for handlers' timers. Optional.
    std::function<void(DeviceSwarm&, std::chrono::steady_clock::time_point now)> on_tick;
  };

  // Checks the devices and options, raises this process's RLIMIT_NOFILE soft limit to the hard
  // limit when the devices need more descriptors than the soft limit allows, builds each device's
  // TLS context (mqtt::TlsContext: the broker's CA and name checked, TLS 1.2 minimum, the device's
  // certificate and key file), then starts the thread, which connects every device (MQTT 5, clean
  // start: the broker keeps no session between connections). Fails, changing nothing but the soft
  // limit, on no devices, a client id that is not a valid thing name or is repeated, an option
  // out of range, an identity whose key cannot be loaded or is not its certificate's, or when even
  // the hard limit allows too few descriptors (the message says how many are needed).
  static Result<std::unique_ptr<DeviceSwarm>> start(std::vector<SwarmDevice> devices,
                                                    SwarmOptions options, Handlers handlers);
  ~DeviceSwarm();
  DeviceSwarm(const DeviceSwarm&) = delete;
  DeviceSwarm& operator=(const DeviceSwarm&) = delete;

  // Publishes `payload` on `topic` (an MQTT topic name, no wildcards) as `device`, QoS 0 or 1.
  // Fails at once on a device index out of range, an invalid topic or QoS, a payload over 128 KiB,
  // or, from another thread, when the queue of calls to the swarm's thread is full. Once accepted,
  // the message is dropped, and counted in stats().messages_dropped, when the device is not
  // connected when the swarm's thread hands it over (it is not kept for the next connection), when
  // max_unacknowledged messages are already unacknowledged, or when the connection ends before it
  // is acknowledged (libmosquitto's copy goes with the connection).
  Status publish(std::size_t device, std::string topic, Bytes payload, int qos = 1);

  // Subscribes `device` to `filter` (wildcards allowed) with QoS 0 or 1: now when connected, and
  // again at every connection. At most 32 filters per device (a repeated filter replaces its
  // QoS). Fails at once on a device index out of range, an invalid filter or QoS, or a full queue
  // of calls; a 33rd filter is refused when the swarm's thread takes it, recorded in
  // stats().last_error.
  Status subscribe(std::size_t device, std::string filter, int qos = 1);

  std::size_t size() const { return size_; }
  const std::string& client_id(std::size_t device) const;
  // Devices whose connection the broker accepted, now.
  std::size_t connected() const { return connected_.load(); }
  SwarmStats stats() const;

  // Waits until `condition` holds for stats(), re-checked at every change of a counter. Returns
  // whether it held before `timeout`.
  bool wait_until(const std::function<bool(const SwarmStats&)>& condition,
                  std::chrono::milliseconds timeout) const;
  // Waits until every device is connected.
  bool wait_all_connected(std::chrono::milliseconds timeout) const;
  // Waits until every device is connected with all its subscriptions acknowledged (SUBACK), so
  // that a message published to them from elsewhere now reaches them.
  bool wait_all_ready(std::chrono::milliseconds timeout) const;

 private:
  struct Engine;
  explicit DeviceSwarm(std::size_t size);

  const std::size_t size_;
  std::atomic<std::size_t> connected_{0};
  mutable std::mutex stats_mutex_;
  mutable std::condition_variable stats_changed_;
  SwarmStats stats_;
  std::unique_ptr<Engine> engine_;
};

}  // namespace ironroot::testing
