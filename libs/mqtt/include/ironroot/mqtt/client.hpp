// An MQTT 3.1.1 / 5 client over mutual TLS, on libmosquitto: it keeps one connection to one broker
// alive (reconnecting with bounded exponential back-off and jitter), keeps a persistent session,
// and delivers QoS 1 messages through a bounded queue whose overflow is reported, never silent.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "ironroot/core/bytes.hpp"
#include "ironroot/core/result.hpp"
#include "ironroot/mqtt/backoff.hpp"
#include "ironroot/mqtt/tls.hpp"

namespace ironroot::mqtt {

enum class ProtocolVersion { v311, v5 };

struct Message {
  std::string topic;
  Bytes payload;
  int qos = 0;
  bool retain = false;
};

struct ClientOptions {
  std::string host;  // the broker's address (for the TCP connection; TLS checks tls->server_name())
  std::uint16_t port = 8883;
  // The MQTT client identifier: 1 to 128 characters, no control characters (AWS IoT: the thing
  // name). A broker allows one connection per identifier.
  std::string client_id;
  ProtocolVersion protocol = ProtocolVersion::v5;
  // 5 s to 65535 s; the broker drops a client silent for 1.5 times this.
  std::chrono::seconds keep_alive{60};
  // false (the default): resume the broker's session after a reconnection (MQTT 3.1.1
  // clean_session=0; MQTT 5 clean_start=0 with `session_expiry`), so that QoS 1 messages to this
  // client wait for it while it is away. Subscriptions are renewed whenever the broker reports
  // that it lost the session.
  bool clean_start = false;
  // MQTT 5 only: how long the broker keeps the session after a disconnection; 0 to 2^32-1 s.
  std::chrono::seconds session_expiry{std::chrono::hours(24 * 7)};
  BackoffPolicy backoff;
  Backoff::Random random;  // the jitter source; null: seeded by the operating system
  // Messages publish() accepted that the broker has not acknowledged yet (PUBACK for QoS 1, sent
  // for QoS 0): 1 to 1,000,000. A publish() beyond it is refused with PublishError::queue_full.
  std::size_t max_queued = 1000;
  // Of those, how many may be handed to the connection at once (MQTT's in-flight window).
  std::size_t max_inflight = 20;
  // The largest payload publish() accepts (AWS IoT's limit is 128 KiB); at most 256 MiB.
  std::size_t max_payload = 128 * 1024;
  // The TLS context (tls.hpp). Required: ironroot talks MQTT over TLS only.
  std::shared_ptr<const TlsContext> tls;
  // Called on the client's network thread for every message received on a subscription. Must not
  // block for long and must not destroy the Client; it may call publish() and subscribe().
  std::function<void(const Message&)> on_message;
};

// Fails, naming the option, when an option is outside its range or missing.
Status check_client_options(const ClientOptions& options);

struct PublishError {
  enum class Code { queue_full, invalid, stopped };
  Code code;
  std::string message;
};

// Counters since the client was created. Read them with Client::stats().
struct ClientStats {
  bool connected = false;
  std::uint64_t connect_attempts = 0;
  std::uint64_t connections = 0;        // attempts the broker accepted (CONNACK success)
  std::uint64_t failed_attempts = 0;    // attempts that ended without a connection
  std::uint64_t connection_losses = 0;  // established connections that ended unasked
  std::uint64_t accepted = 0;           // publish() calls that queued a message
  std::uint64_t acknowledged = 0;       // messages the broker acknowledged (QoS 1) or got (QoS 0)
  std::uint64_t overflows = 0;          // publish() calls refused because the queue was full
  std::uint64_t lost = 0;      // QoS 0 messages whose connection ended before they were sent
  std::uint64_t received = 0;  // messages delivered to on_message
  std::uint64_t subscriptions_acknowledged = 0;  // SUBACKs
  std::size_t queued = 0;                        // accepted, not yet acknowledged
  std::chrono::milliseconds last_backoff{0};     // the delay chosen before the latest retry
  std::string last_error;                        // why the latest attempt or connection ended
};

// One connection to one broker, run by its own network thread.
//
// Thread-safety: every public member may be called from any thread concurrently, except that the
// destructor must not run concurrently with other calls nor on the network thread (from
// on_message). on_message runs on the network thread, one message at a time.
class Client {
 public:
  // Checks the options (check_client_options) and prepares the connection; connects only at
  // start().
  static Result<std::unique_ptr<Client>> create(ClientOptions options);

  // stop(), then releases libmosquitto and the TLS context.
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Starts the network thread, which connects, and after every failure or lost connection waits
  // Backoff::next_delay() and tries again, until stop(). Calling it twice is a no-op.
  void start();
  // Disconnects cleanly (MQTT DISCONNECT) and joins the network thread. Messages still queued
  // stay counted in stats().queued; a later publish() fails with PublishError::stopped.
  void stop();

  // Queues a message for the broker. QoS 0 or 1; the topic must be a valid MQTT topic name (no
  // wildcards, 1 to 65535 bytes of UTF-8). Returns the number of messages now queued. Refuses,
  // counting it in stats().overflows, when max_queued messages are waiting. A QoS 1 message, once
  // accepted, stays queued across reconnections until the broker acknowledges it (or the client
  // is destroyed); a QoS 0 message handed to a connection that breaks first is counted in
  // stats().lost.
  Result<std::size_t, PublishError> publish(std::string_view topic, ByteView payload, int qos = 1,
                                            bool retain = false);
  // As publish(), but when max_queued messages are waiting on a live connection it waits, up to
  // `timeout`, for the broker to acknowledge enough of them, instead of refusing at once:
  // backpressure for a producer that can be slowed down (a service notifying thousands of
  // devices). Without a connection the queue cannot drain, so it refuses at once, as publish()
  // does. Must not be called on the network thread (from on_message), which it would wait for.
  Result<std::size_t, PublishError> publish_or_wait(std::string_view topic, ByteView payload,
                                                    std::chrono::milliseconds timeout, int qos = 1,
                                                    bool retain = false);

  // Subscribes to `filter` (wildcards allowed) with QoS 0 or 1, now when connected, and again on
  // every connection where the broker lost the session. Messages go to options.on_message.
  Status subscribe(std::string_view filter, int qos = 1);

  ClientStats stats() const;

  // Waits until `condition` holds for the stats, re-checking at every change (connection,
  // acknowledgement, failure, ...). Returns whether it held before `timeout`.
  bool wait_until(const std::function<bool(const ClientStats&)>& condition,
                  std::chrono::milliseconds timeout) const;
  // Waits until connected; on timeout, fails with the latest error.
  Status wait_connected(std::chrono::milliseconds timeout) const;

 private:
  struct State;
  explicit Client(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace ironroot::mqtt
