#include "ironroot/mqtt/client.hpp"

#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <sys/select.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <limits>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "ironroot/mqtt/mosquitto_handles.hpp"

namespace ironroot::mqtt {

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxClientIdLength = 128;
constexpr std::chrono::seconds kMinKeepAlive{5};
constexpr std::chrono::seconds kMaxKeepAlive{65535};
constexpr std::size_t kMaxQueued = 1'000'000;
constexpr std::size_t kMaxInflight = 65535;
constexpr std::size_t kMaxPayload = 256u * 1024 * 1024;
constexpr std::size_t kMaxTopicLength = 65535;
// How long one mosquitto_loop() may block; the loop wakes earlier for socket activity, and
// libmosquitto's socket pair wakes it when another thread queues a packet.
constexpr int kLoopTimeoutMs = 1000;
// How long stop() lets a clean DISCONNECT take before the socket is simply closed.
constexpr std::chrono::milliseconds kDisconnectGrace{1000};
// Error lines kept from libmosquitto's log for one connection attempt.
constexpr std::size_t kMaxLogLines = 8;

bool is_valid_utf8(std::string_view text) {
  return text.size() <= static_cast<std::size_t>(std::numeric_limits<int>::max()) &&
         mosquitto_validate_utf8(text.data(), static_cast<int>(text.size())) == MOSQ_ERR_SUCCESS;
}

Status check_topic(std::string_view topic, bool is_filter) {
  const char* what = is_filter ? "topic filter" : "topic";
  if (topic.empty() || topic.size() > kMaxTopicLength) {
    return fail(std::string(what) + " must be 1 to 65535 bytes");
  }
  if (!is_valid_utf8(topic)) {
    return fail(std::string(what) + " '" + std::string(topic) + "' is not valid UTF-8");
  }
  const int rc = is_filter ? mosquitto_sub_topic_check2(topic.data(), topic.size())
                           : mosquitto_pub_topic_check2(topic.data(), topic.size());
  if (rc != MOSQ_ERR_SUCCESS) {
    return fail(is_filter ? "topic filter '" + std::string(topic) +
                                "' is not valid ('+' and '#' only as whole levels, '#' last)"
                          : "topic '" + std::string(topic) +
                                "' is not a topic name (no '+' or '#' in a publish)");
  }
  return {};
}

Status check_qos(int qos) {
  if (qos != 0 && qos != 1) {
    return fail("QoS " + std::to_string(qos) + " is not supported; use 0 or 1");
  }
  return {};
}

struct Pending {
  std::string topic;
  Bytes payload;
  int qos;
  bool retain;
};

}  // namespace

Status check_client_options(const ClientOptions& o) {
  if (o.host.empty()) return fail("the broker host is missing");
  if (o.port == 0) return fail("the broker port must be 1 to 65535");
  if (o.client_id.empty() || o.client_id.size() > kMaxClientIdLength) {
    return fail("the client id must be 1 to 128 characters");
  }
  for (char c : o.client_id) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return fail("the client id must not contain control characters");
    }
  }
  if (!is_valid_utf8(o.client_id)) return fail("the client id is not valid UTF-8");
  if (o.keep_alive < kMinKeepAlive || o.keep_alive > kMaxKeepAlive) {
    return fail("keep-alive must be 5 to 65535 seconds, not " +
                std::to_string(o.keep_alive.count()));
  }
  if (o.session_expiry.count() < 0 ||
      o.session_expiry.count() > std::numeric_limits<std::uint32_t>::max()) {
    return fail("the session expiry must be 0 to 4294967295 seconds");
  }
  if (auto ok = check_backoff_policy(o.backoff); !ok) return ok;
  if (o.max_queued == 0 || o.max_queued > kMaxQueued) {
    return fail("the queue bound must be 1 to 1000000 messages");
  }
  if (o.max_inflight == 0 || o.max_inflight > kMaxInflight) {
    return fail("the in-flight window must be 1 to 65535 messages");
  }
  if (o.max_payload == 0 || o.max_payload > kMaxPayload) {
    return fail("the payload bound must be 1 byte to 256 MiB");
  }
  if (!o.tls) return fail("a TLS context is required (ironroot speaks MQTT over TLS only)");
  return {};
}

struct Client::State {
  State(ClientOptions o, MosquittoLibrary lib)
      : options(std::move(o)),
        library(std::move(lib)),
        backoff(options.backoff, options.random),
        endpoint(options.host + ":" + std::to_string(options.port)) {}

  ClientOptions options;     // holds the TLS context: outlives `mosq`
  MosquittoLibrary library;  // outlives `mosq`
  UniqueMosquitto mosq;
  UniqueProperties connect_properties;

  mutable std::mutex mutex;
  mutable std::condition_variable changed;
  ClientStats stats;
  Backoff backoff;
  std::deque<Pending> pending;            // accepted, not yet handed to libmosquitto
  std::unordered_map<int, int> inflight;  // handed over, by message id: awaiting PUBACK
  std::vector<std::pair<std::string, int>> subscriptions;
  bool started = false;
  bool stopping = false;
  bool socket_open = false;
  bool session_up = false;       // CONNACK accepted on the open socket
  bool attempt_counted = false;  // the current attempt's failure is already counted
  Clock::time_point next_attempt{};
  std::thread thread;
  const std::string endpoint;

  // libmosquitto's error and warning log lines for the current connection. A mutex of their own:
  // libmosquitto logs from inside calls made while `mutex` is held.
  std::mutex log_mutex;
  std::vector<std::string> log_lines;

  // ---- with `mutex` held ----

  std::size_t queued() const { return pending.size() + inflight.size(); }

  void update_stats() {
    stats.queued = queued();
    stats.connected = session_up;
    changed.notify_all();
  }

  std::string take_log_lines() {
    std::lock_guard lock(log_mutex);
    std::string text;
    for (const std::string& line : log_lines) text += "; " + line;
    log_lines.clear();
    return text;
  }

  void schedule_retry() {
    if (stopping) return;
    stats.last_backoff = backoff.next_delay();
    next_attempt = Clock::now() + stats.last_backoff;
  }

  // Hands queued messages to libmosquitto while the in-flight window has room.
  void drain() {
    while (session_up && !pending.empty() && inflight.size() < options.max_inflight) {
      Pending& p = pending.front();
      int mid = 0;
      int rc = mosquitto_publish_v5(mosq.get(), &mid, p.topic.c_str(),
                                    static_cast<int>(p.payload.size()), p.payload.data(), p.qos,
                                    p.retain, nullptr);
      if (rc != MOSQ_ERR_SUCCESS) {
        // Kept queued; tried again after the next (re)connection.
        stats.last_error =
            "handing a message to the connection failed: " + std::string(mosquitto_strerror(rc));
        break;
      }
      inflight[mid] = p.qos;
      pending.pop_front();
    }
  }

  void subscribe_all() {
    for (const auto& [filter, qos] : subscriptions) {
      int rc = mosquitto_subscribe_v5(mosq.get(), nullptr, filter.c_str(), qos, 0, nullptr);
      if (rc != MOSQ_ERR_SUCCESS) {
        stats.last_error =
            "subscribing to '" + filter + "' failed: " + std::string(mosquitto_strerror(rc));
      }
    }
  }

  std::string describe(int rc, int saved_errno) {
    std::string reason = rc == MOSQ_ERR_ERRNO ? std::string(std::strerror(saved_errno))
                                              : std::string(mosquitto_strerror(rc));
    return reason + take_log_lines();
  }

  // The socket closed (libmosquitto's disconnect callback, or a failed loop).
  void connection_ended(int rc, int saved_errno) {
    if (!socket_open) return;
    socket_open = false;
    const bool was_up = session_up;
    session_up = false;
    // libmosquitto keeps QoS 1 messages for the next connection, but not QoS 0 ones.
    for (auto it = inflight.begin(); it != inflight.end();) {
      if (it->second == 0) {
        ++stats.lost;
        it = inflight.erase(it);
      } else {
        ++it;
      }
    }
    if (stopping && rc == MOSQ_ERR_SUCCESS) {
      update_stats();
      return;
    }
    if (was_up) {
      ++stats.connection_losses;
      stats.last_error = "connection to " + endpoint + " lost: " + describe(rc, saved_errno);
    } else if (!attempt_counted) {
      ++stats.failed_attempts;
      stats.last_error = "connection to " + endpoint + " failed: " + describe(rc, saved_errno);
    }
    attempt_counted = false;
    schedule_retry();
    update_stats();
  }

  // ---- libmosquitto callbacks (network thread) ----

  static State& of(void* userdata) { return *static_cast<State*>(userdata); }

  static void on_connect(mosquitto*, void* userdata, int rc, int flags, const mosquitto_property*) {
    State& s = of(userdata);
    std::lock_guard lock(s.mutex);
    if (rc != 0) {
      // The broker refused the connection; libmosquitto closes the socket next.
      ++s.stats.failed_attempts;
      s.attempt_counted = true;
      const char* reason = s.options.protocol == ProtocolVersion::v5 ? mosquitto_reason_string(rc)
                                                                     : mosquitto_connack_string(rc);
      s.stats.last_error = "broker " + s.endpoint + " refused the connection (CONNACK " +
                           std::to_string(rc) + ": " + reason + ")";
      s.update_stats();
      return;
    }
    s.session_up = true;
    ++s.stats.connections;
    s.backoff.reset();
    s.take_log_lines();
    const bool session_present = (flags & 0x01) != 0;
    // Subscriptions first: the broker handles them before the queued publishes that follow.
    if (!session_present || s.options.clean_start) s.subscribe_all();
    s.drain();
    s.update_stats();
  }

  static void on_disconnect(mosquitto*, void* userdata, int rc, const mosquitto_property*) {
    State& s = of(userdata);
    const int saved_errno = errno;
    std::lock_guard lock(s.mutex);
    s.connection_ended(rc, saved_errno);
  }

  static void on_publish(mosquitto*, void* userdata, int mid, int reason,
                         const mosquitto_property*) {
    State& s = of(userdata);
    std::lock_guard lock(s.mutex);
    if (s.inflight.erase(mid) == 0) return;
    ++s.stats.acknowledged;
    if (reason >= 0x80) {
      s.stats.last_error = "broker " + s.endpoint +
                           " refused a message: " + std::string(mosquitto_reason_string(reason));
    }
    s.drain();
    s.update_stats();
  }

  static void on_message(mosquitto*, void* userdata, const mosquitto_message* m,
                         const mosquitto_property*) {
    State& s = of(userdata);
    Message message;
    message.topic = m->topic != nullptr ? m->topic : "";
    const auto* bytes = static_cast<const std::byte*>(m->payload);
    message.payload.assign(bytes, bytes + (m->payloadlen > 0 ? m->payloadlen : 0));
    message.qos = m->qos;
    message.retain = m->retain;
    if (s.options.on_message) s.options.on_message(message);
    std::lock_guard lock(s.mutex);
    ++s.stats.received;
    s.update_stats();
  }

  static void on_subscribe(mosquitto*, void* userdata, int, int count, const int* granted,
                           const mosquitto_property*) {
    State& s = of(userdata);
    std::lock_guard lock(s.mutex);
    for (int i = 0; i < count; ++i) {
      if (granted[i] >= 0x80) {
        s.stats.last_error = "broker " + s.endpoint + " refused a subscription: " +
                             std::string(mosquitto_reason_string(granted[i]));
      }
    }
    ++s.stats.subscriptions_acknowledged;
    s.update_stats();
  }

  static void on_log(mosquitto*, void* userdata, int level, const char* text) {
    if ((level & (MOSQ_LOG_ERR | MOSQ_LOG_WARNING)) == 0 || text == nullptr) return;
    State& s = of(userdata);
    std::lock_guard lock(s.log_mutex);
    if (s.log_lines.size() < kMaxLogLines) s.log_lines.emplace_back(text);
  }

  // ---- the network thread ----

  // One connection attempt; returns with `mutex` held, as it was given.
  void attempt(std::unique_lock<std::mutex>& lock) {
    ++stats.connect_attempts;
    attempt_counted = false;
    take_log_lines();
    update_stats();
    lock.unlock();
    errno = 0;
    int rc = mosquitto_connect_bind_v5(mosq.get(), options.host.c_str(), options.port,
                                       static_cast<int>(options.keep_alive.count()), nullptr,
                                       connect_properties.get());
    const int saved_errno = errno;
    lock.lock();
    if (rc == MOSQ_ERR_SUCCESS && mosquitto_socket(mosq.get()) >= FD_SETSIZE) {
      // mosquitto_loop() waits with select(), which cannot watch such a descriptor: the loop
      // would spin without ever reading. Say why instead.
      const int descriptor = mosquitto_socket(mosq.get());
      mosquitto_disconnect_v5(mosq.get(), MQTT_RC_NORMAL_DISCONNECTION, nullptr);
      ++stats.failed_attempts;
      stats.last_error = "the connection to " + endpoint + " got file descriptor " +
                         std::to_string(descriptor) + ", beyond the " + std::to_string(FD_SETSIZE) +
                         " that libmosquitto's loop can watch: this process has too many open "
                         "files (inherited ones?)";
      schedule_retry();
      update_stats();
      return;
    }
    if (rc == MOSQ_ERR_SUCCESS) {
      socket_open = true;
      return;
    }
    ++stats.failed_attempts;
    stats.last_error = "cannot connect to " + endpoint + ": " + describe(rc, saved_errno);
    schedule_retry();
    update_stats();
  }

  void run() {
    std::unique_lock lock(mutex);
    while (!stopping) {
      if (!socket_open) {
        if (Clock::now() < next_attempt) {
          changed.wait_until(lock, next_attempt, [this] { return stopping; });
          continue;
        }
        attempt(lock);
        continue;
      }
      lock.unlock();
      errno = 0;
      int rc = mosquitto_loop(mosq.get(), kLoopTimeoutMs, 1);
      const int saved_errno = errno;
      lock.lock();
      if (rc != MOSQ_ERR_SUCCESS && mosquitto_socket(mosq.get()) == -1) {
        connection_ended(rc, saved_errno);  // a no-op when the callback already ran
      }
    }
    if (!socket_open) return;
    // stop(): a clean DISCONNECT, given a moment to go out.
    mosquitto_disconnect_v5(mosq.get(), MQTT_RC_NORMAL_DISCONNECTION, nullptr);
    const auto deadline = Clock::now() + kDisconnectGrace;
    while (socket_open && Clock::now() < deadline) {
      lock.unlock();
      int rc = mosquitto_loop(mosq.get(), static_cast<int>(kDisconnectGrace.count()), 1);
      lock.lock();
      if (rc != MOSQ_ERR_SUCCESS) break;
    }
    socket_open = false;
    session_up = false;
    update_stats();
  }
};

Client::Client(std::unique_ptr<State> state) : state_(std::move(state)) {}

Result<std::unique_ptr<Client>> Client::create(ClientOptions options) {
  if (auto ok = check_client_options(options); !ok) return tl::unexpected(ok.error());
  auto library = MosquittoLibrary::acquire();
  if (!library) return tl::unexpected(library.error());
  auto state = std::make_unique<State>(std::move(options), std::move(*library));
  State& s = *state;
  const ClientOptions& o = s.options;
  s.mosq.reset(mosquitto_new(o.client_id.c_str(), o.clean_start, &s));
  if (!s.mosq)
    return fail("libmosquitto cannot create a client: " + std::string(std::strerror(errno)));
  mosquitto* m = s.mosq.get();
  const int protocol = o.protocol == ProtocolVersion::v5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311;
  int rc = mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, protocol);
  if (rc == MOSQ_ERR_SUCCESS) rc = mosquitto_void_option(m, MOSQ_OPT_SSL_CTX, o.tls->native());
  if (rc == MOSQ_ERR_SUCCESS) rc = mosquitto_int_option(m, MOSQ_OPT_SSL_CTX_WITH_DEFAULTS, 0);
  if (rc == MOSQ_ERR_SUCCESS) rc = mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);
  if (rc == MOSQ_ERR_SUCCESS) {
    rc = mosquitto_int_option(m, MOSQ_OPT_SEND_MAXIMUM, static_cast<int>(o.max_inflight));
  }
  if (rc == MOSQ_ERR_SUCCESS) rc = mosquitto_threaded_set(m, true);
  if (rc == MOSQ_ERR_SUCCESS && o.protocol == ProtocolVersion::v5) {
    mosquitto_property* properties = nullptr;
    rc = mosquitto_property_add_int32(&properties, MQTT_PROP_SESSION_EXPIRY_INTERVAL,
                                      static_cast<std::uint32_t>(o.session_expiry.count()));
    s.connect_properties.reset(properties);
  }
  if (rc != MOSQ_ERR_SUCCESS) {
    return fail("libmosquitto refused the client settings: " + std::string(mosquitto_strerror(rc)));
  }
  mosquitto_connect_v5_callback_set(m, &State::on_connect);
  mosquitto_disconnect_v5_callback_set(m, &State::on_disconnect);
  mosquitto_publish_v5_callback_set(m, &State::on_publish);
  mosquitto_message_v5_callback_set(m, &State::on_message);
  mosquitto_subscribe_v5_callback_set(m, &State::on_subscribe);
  mosquitto_log_callback_set(m, &State::on_log);
  return std::unique_ptr<Client>(new Client(std::move(state)));
}

Client::~Client() {
  stop();
}

void Client::start() {
  State& s = *state_;
  std::lock_guard lock(s.mutex);
  if (s.started) return;
  s.started = true;
  s.next_attempt = Clock::now();
  s.thread = std::thread([&s] { s.run(); });
}

void Client::stop() {
  State& s = *state_;
  bool in_loop = false;
  {
    std::lock_guard lock(s.mutex);
    s.stopping = true;
    // With the socket open, the network thread is in (or about to enter) mosquitto_loop(); with
    // it closed, it waits on `changed` or is connecting, and sees `stopping` next.
    in_loop = s.socket_open;
    s.changed.notify_all();
  }
  if (!s.thread.joinable()) return;
  // DISCONNECT, which wakes mosquitto_loop() through libmosquitto's socket pair (threaded mode).
  if (in_loop) mosquitto_disconnect_v5(s.mosq.get(), MQTT_RC_NORMAL_DISCONNECTION, nullptr);
  s.thread.join();
}

Result<std::size_t, PublishError> Client::publish(std::string_view topic, ByteView payload, int qos,
                                                  bool retain) {
  return publish_or_wait(topic, payload, std::chrono::milliseconds(0), qos, retain);
}

Result<std::size_t, PublishError> Client::publish_or_wait(std::string_view topic, ByteView payload,
                                                          std::chrono::milliseconds timeout,
                                                          int qos, bool retain) {
  using Code = PublishError::Code;
  State& s = *state_;
  if (auto ok = check_topic(topic, false); !ok) {
    return tl::unexpected(PublishError{Code::invalid, ok.error().message});
  }
  if (auto ok = check_qos(qos); !ok) {
    return tl::unexpected(PublishError{Code::invalid, ok.error().message});
  }
  if (payload.size() > s.options.max_payload) {
    return tl::unexpected(
        PublishError{Code::invalid, "payload of " + std::to_string(payload.size()) +
                                        " bytes is over the client's bound of " +
                                        std::to_string(s.options.max_payload) + " bytes"});
  }
  std::unique_lock lock(s.mutex);
  if (timeout.count() > 0) {
    s.changed.wait_for(lock, timeout, [&] {
      return s.stopping || !s.session_up || s.queued() < s.options.max_queued;
    });
  }
  if (s.stopping) {
    return tl::unexpected(PublishError{Code::stopped, "the client is stopped"});
  }
  if (s.queued() >= s.options.max_queued) {
    ++s.stats.overflows;
    s.update_stats();
    return tl::unexpected(PublishError{
        Code::queue_full, "the outgoing queue is full (" + std::to_string(s.options.max_queued) +
                              " messages not yet acknowledged by " + s.endpoint +
                              "); message to '" + std::string(topic) + "' refused"});
  }
  s.pending.push_back({std::string(topic), Bytes(payload.begin(), payload.end()), qos, retain});
  ++s.stats.accepted;
  s.drain();
  s.update_stats();
  return s.queued();
}

Status Client::subscribe(std::string_view filter, int qos) {
  if (auto ok = check_topic(filter, true); !ok) return ok;
  if (auto ok = check_qos(qos); !ok) return ok;
  State& s = *state_;
  std::lock_guard lock(s.mutex);
  bool known = false;
  for (auto& [existing, existing_qos] : s.subscriptions) {
    if (existing == filter) {
      existing_qos = qos;
      known = true;
    }
  }
  if (!known) s.subscriptions.emplace_back(std::string(filter), qos);
  if (s.session_up) {
    int rc =
        mosquitto_subscribe_v5(s.mosq.get(), nullptr, std::string(filter).c_str(), qos, 0, nullptr);
    if (rc != MOSQ_ERR_SUCCESS) {
      return fail("subscribing to '" + std::string(filter) + "' failed: " +
                  std::string(mosquitto_strerror(rc)) + " (it is renewed at the next connection)");
    }
  }
  return {};
}

ClientStats Client::stats() const {
  std::lock_guard lock(state_->mutex);
  return state_->stats;
}

bool Client::wait_until(const std::function<bool(const ClientStats&)>& condition,
                        std::chrono::milliseconds timeout) const {
  State& s = *state_;
  std::unique_lock lock(s.mutex);
  return s.changed.wait_for(lock, timeout, [&] { return condition(s.stats); });
}

Status Client::wait_connected(std::chrono::milliseconds timeout) const {
  if (wait_until([](const ClientStats& st) { return st.connected; }, timeout)) return {};
  ClientStats st = stats();
  return fail("not connected to " + state_->endpoint + " after " + std::to_string(timeout.count()) +
              " ms (" + std::to_string(st.connect_attempts) + " attempts); last error: " +
              (st.last_error.empty() ? std::string("none") : st.last_error));
}

}  // namespace ironroot::mqtt
