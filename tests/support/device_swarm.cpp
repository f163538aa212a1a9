#include "support/device_swarm.hpp"

#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>
#include <set>
#include <system_error>
#include <thread>

#include "ironroot/core/unique_fd.hpp"
#include "ironroot/crypto/certificate_authority.hpp"
#include "ironroot/mqtt/backoff.hpp"
#include "ironroot/mqtt/mosquitto_handles.hpp"
#include "ironroot/mqtt/tls.hpp"

namespace ironroot::testing {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr std::chrono::milliseconds kTick{100};
constexpr std::chrono::seconds kMinKeepalive{5};
constexpr std::chrono::seconds kMaxKeepalive{65535};
constexpr std::size_t kMaxUnacknowledged = 65535;
constexpr std::size_t kMaxPayload = 128 * 1024;
constexpr std::size_t kMaxTopicLength = 65535;
constexpr std::size_t kMaxSubscriptions = 32;
constexpr std::size_t kMaxErrorLength = 300;
// A device holds its TCP socket and the socket pair every libmosquitto 2.0 handle opens (which
// mosquitto_loop() uses to wake itself; unused here).
constexpr std::size_t kDescriptorsPerDevice = 3;
// For what the process opens besides: key files while contexts are built, the eventfd, logs.
constexpr std::size_t kSpareDescriptors = 64;

// The swarm whose thread this is, if any.
thread_local const void* running_swarm = nullptr;

std::string truncated(std::string text) {
  if (text.size() > kMaxErrorLength) text.resize(kMaxErrorLength);
  return text;
}

Status check_topic(const std::string& topic, bool is_filter) {
  const char* what = is_filter ? "topic filter" : "topic";
  if (topic.empty() || topic.size() > kMaxTopicLength) {
    return fail(std::string(what) + " must be 1 to 65535 bytes");
  }
  if (mosquitto_validate_utf8(topic.data(), static_cast<int>(topic.size())) != MOSQ_ERR_SUCCESS) {
    return fail(std::string(what) + " '" + topic + "' is not valid UTF-8");
  }
  const int rc = is_filter ? mosquitto_sub_topic_check2(topic.data(), topic.size())
                           : mosquitto_pub_topic_check2(topic.data(), topic.size());
  if (rc != MOSQ_ERR_SUCCESS) {
    return fail(is_filter ? "topic filter '" + topic + "' is not valid"
                          : "topic '" + topic + "' is not a topic name (no '+' or '#')");
  }
  return {};
}

Status check_qos(int qos) {
  if (qos != 0 && qos != 1) return fail("QoS " + std::to_string(qos) + " is not supported");
  return {};
}

Status check_options(const std::vector<SwarmDevice>& devices, const SwarmOptions& o) {
  if (devices.empty()) return fail("a swarm needs at least one device");
  std::set<std::string> seen;
  for (const SwarmDevice& d : devices) {
    if (auto ok = crypto::check_thing_name(d.client_id); !ok) {
      return prefixed(ok.error(), "client id '" + d.client_id + "'");
    }
    if (!seen.insert(d.client_id).second) {
      return fail("client id '" + d.client_id +
                  "' is used twice (the broker would let only one of them stay connected)");
    }
  }
  if (o.broker.host.empty()) return fail("the broker host is missing");
  if (o.broker.port == 0) return fail("the broker port must be 1 to 65535");
  if (o.keepalive < kMinKeepalive || o.keepalive > kMaxKeepalive) {
    return fail("keep-alive must be 5 to 65535 seconds, not " +
                std::to_string(o.keepalive.count()));
  }
  if (auto ok = mqtt::check_backoff_policy({o.reconnect_min, o.reconnect_max, 2.0, 0.5}); !ok) {
    return prefixed(ok.error(), "reconnect_min / reconnect_max");
  }
  if (o.max_connects_in_flight == 0) return fail("max_connects_in_flight must be at least 1");
  if (o.max_unacknowledged == 0 || o.max_unacknowledged > kMaxUnacknowledged) {
    return fail("max_unacknowledged must be 1 to 65535");
  }
  return {};
}

std::size_t open_descriptors() {
  std::error_code ec;
  std::size_t count = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
       it.increment(ec)) {
    ++count;
  }
  return ec ? kSpareDescriptors : count;
}

// Raises the soft RLIMIT_NOFILE to the hard limit when `devices` need more than the soft one.
Status ensure_descriptors(std::size_t devices) {
  const std::size_t open = open_descriptors();
  const std::size_t needed = open + devices * kDescriptorsPerDevice + kSpareDescriptors;
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    return fail("cannot read RLIMIT_NOFILE: " + std::string(std::strerror(errno)));
  }
  if (limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur >= needed) return {};
  const auto describe_need = [&] {
    return std::to_string(devices) + " devices need " + std::to_string(needed) +
           " file descriptors (" + std::to_string(kDescriptorsPerDevice) + " each, " +
           std::to_string(open) + " open already, " + std::to_string(kSpareDescriptors) + " spare)";
  };
  if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < needed) {
    return fail(describe_need() + " but the hard limit (RLIMIT_NOFILE) is " +
                std::to_string(limit.rlim_max) +
                ": raise it (ulimit -Hn as root, LimitNOFILE= for a service) or run fewer devices");
  }
  const rlim_t soft = limit.rlim_cur;
  limit.rlim_cur = limit.rlim_max == RLIM_INFINITY ? needed : limit.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    return fail(describe_need() + "; raising the soft limit from " + std::to_string(soft) +
                " failed: " + std::strerror(errno));
  }
  return {};
}

struct Subscription {
  std::string filter;
  int qos;
};

// A call made from another thread, for the swarm's thread.
struct Command {
  bool is_publish;
  std::size_t device;
  std::string topic;  // or filter
  Bytes payload;
  int qos;
};

}  // namespace

struct DeviceSwarm::Engine {
  enum class Phase { waiting, connecting, up };

  struct Device {
    Device(Engine& e, std::size_t i, std::string id, std::shared_ptr<const mqtt::TlsContext> t,
           mqtt::Backoff b)
        : engine(e), index(i), client_id(std::move(id)), tls(std::move(t)), backoff(std::move(b)) {}

    Engine& engine;
    const std::size_t index;
    const std::string client_id;
    std::shared_ptr<const mqtt::TlsContext> tls;  // outlives `mosq`
    mqtt::UniqueMosquitto mosq;                   // one per connection attempt; null between
    Phase phase = Phase::waiting;
    Clock::time_point next_attempt{};
    Clock::time_point deadline{};  // for the CONNACK of the attempt in progress
    mqtt::Backoff backoff;
    std::vector<Subscription> subscriptions;
    std::vector<int> unacknowledged;  // message ids handed to `mosq`, at most max_unacknowledged
    std::size_t subacks_pending = 0;
    bool ready = false;       // counted in SwarmStats::ready
    bool announcing = false;  // on_connected runs: not counted as connected yet
    std::string failure;      // why the current connection or attempt is ending, when known
  };

  Engine(DeviceSwarm& s, SwarmOptions o, Handlers h, mqtt::MosquittoLibrary lib, UniqueFd w)
      : swarm(s),
        options(std::move(o)),
        handlers(std::move(h)),
        library(std::move(lib)),
        wake(std::move(w)),
        endpoint(options.broker.host + ":" + std::to_string(options.broker.port)),
        random(std::random_device{}()) {}

  DeviceSwarm& swarm;
  const SwarmOptions options;
  const Handlers handlers;
  mqtt::MosquittoLibrary library;  // outlives every handle
  UniqueFd wake;                   // eventfd: commands queued, or stop
  const std::string endpoint;
  std::vector<std::unique_ptr<Device>> devices;  // fixed after start(): callbacks hold Device*

  std::mutex commands_mutex;
  std::vector<Command> commands;  // at most max_unacknowledged * devices
  std::atomic<bool> stopping{false};
  std::thread thread;

  // ---- the swarm's thread only ----
  std::size_t connecting = 0;  // devices in Phase::connecting
  std::size_t cursor = 0;      // where the next scan for attempts starts (fairness)
  std::mt19937_64 random;
  std::uniform_real_distribution<double> uniform{0.0, 1.0};
  std::vector<pollfd> fds;
  std::vector<Device*> polled;

  std::size_t command_capacity() const { return options.max_unacknowledged * devices.size(); }

  void notify(const std::function<void(SwarmStats&)>& change) {
    {
      std::lock_guard lock(swarm.stats_mutex_);
      change(swarm.stats_);
    }
    swarm.stats_changed_.notify_all();
  }

  void record_error(const Device& d, const std::string& message) {
    notify([&](SwarmStats& s) { s.last_error = truncated(d.client_id + ": " + message); });
  }

  void update_ready(Device& d) {
    const bool ready = d.phase == Phase::up && !d.announcing && d.subacks_pending == 0;
    if (ready == d.ready) return;
    d.ready = ready;
    notify([&](SwarmStats& s) { ready ? ++s.ready : --s.ready; });
  }

  void drop(std::uint64_t count) {
    if (count > 0) notify([&](SwarmStats& s) { s.messages_dropped += count; });
  }

  // ---- libmosquitto callbacks (inside loop_read / loop_write / publish calls) ----

  static Device& of(void* userdata) { return *static_cast<Device*>(userdata); }

  static void on_connect(mosquitto*, void* userdata, int rc, int, const mosquitto_property*) {
    Device& d = of(userdata);
    Engine& e = d.engine;
    if (rc != 0) {
      // Refused; libmosquitto closes the socket next, and the loop ends the attempt.
      d.failure = "the broker refused the connection (CONNACK " + std::to_string(rc) + ": " +
                  mosquitto_reason_string(rc) + ")";
      return;
    }
    if (d.phase != Phase::connecting) return;
    d.phase = Phase::up;
    --e.connecting;
    d.backoff.reset();
    d.failure.clear();
    // Clean start: the broker has no subscriptions for this device, so they are all renewed.
    for (const Subscription& s : d.subscriptions) e.send_subscribe(d, s);
    d.announcing = true;
    if (e.handlers.on_connected) e.handlers.on_connected(e.swarm, d.index);
    d.announcing = false;
    e.swarm.connected_.fetch_add(1);
    e.notify([](SwarmStats& s) {
      ++s.connected;
      ++s.connects;
    });
    e.update_ready(d);
  }

  static void on_disconnect(mosquitto*, void* userdata, int rc, const mosquitto_property*) {
    Device& d = of(userdata);
    if (d.failure.empty() && rc != MOSQ_ERR_SUCCESS) {
      d.failure = rc == MOSQ_ERR_ERRNO ? std::string(std::strerror(errno))
                                       : std::string(mosquitto_strerror(rc));
    }
  }

  static void on_publish(mosquitto*, void* userdata, int mid, int reason,
                         const mosquitto_property*) {
    Device& d = of(userdata);
    auto it = std::find(d.unacknowledged.begin(), d.unacknowledged.end(), mid);
    if (it == d.unacknowledged.end()) return;
    d.unacknowledged.erase(it);
    if (reason >= 0x80) {
      d.engine.record_error(
          d, "the broker refused a message: " + std::string(mosquitto_reason_string(reason)));
      d.engine.drop(1);
      return;
    }
    d.engine.notify([](SwarmStats& s) { ++s.messages_out; });
  }

  static void on_message(mosquitto*, void* userdata, const mosquitto_message* m,
                         const mosquitto_property*) {
    Device& d = of(userdata);
    Engine& e = d.engine;
    const std::size_t length = m->payloadlen > 0 ? static_cast<std::size_t>(m->payloadlen) : 0;
    if (e.handlers.on_message) {
      const std::string topic = m->topic != nullptr ? m->topic : "";
      e.handlers.on_message(e.swarm, d.index, topic,
                            ByteView(static_cast<const std::byte*>(m->payload), length));
    }
    e.notify([&](SwarmStats& s) {
      ++s.messages_in;
      s.bytes_in += length;
    });
  }

  static void on_subscribe(mosquitto*, void* userdata, int, int count, const int* granted,
                           const mosquitto_property*) {
    Device& d = of(userdata);
    for (int i = 0; i < count; ++i) {
      if (granted[i] >= 0x80) {
        d.engine.record_error(d, "the broker refused a subscription: " +
                                     std::string(mosquitto_reason_string(granted[i])));
      }
    }
    if (d.subacks_pending > 0) --d.subacks_pending;
    d.engine.update_ready(d);
  }

  static void on_log(mosquitto*, void* userdata, int level, const char* text) {
    if ((level & MOSQ_LOG_ERR) == 0 || text == nullptr) return;
    Device& d = of(userdata);
    if (d.failure.empty()) d.failure = truncated(text);
  }

  // ---- the swarm's thread ----

  void send_subscribe(Device& d, const Subscription& s) {
    const int rc =
        mosquitto_subscribe_v5(d.mosq.get(), nullptr, s.filter.c_str(), s.qos, 0, nullptr);
    if (rc != MOSQ_ERR_SUCCESS) {
      // The connection is failing; the subscription is renewed at the next one.
      record_error(d, "subscribing to '" + s.filter + "' failed: " + mosquitto_strerror(rc));
      return;
    }
    ++d.subacks_pending;
  }

  void do_subscribe(Device& d, std::string filter, int qos) {
    auto it = std::find_if(d.subscriptions.begin(), d.subscriptions.end(),
                           [&](const Subscription& s) { return s.filter == filter; });
    if (it != d.subscriptions.end()) {
      it->qos = qos;
    } else if (d.subscriptions.size() >= kMaxSubscriptions) {
      record_error(d, "subscription to '" + filter + "' refused: a device has at most " +
                          std::to_string(kMaxSubscriptions) + " filters");
      return;
    } else {
      it = d.subscriptions.insert(d.subscriptions.end(), {std::move(filter), qos});
    }
    if (d.phase == Phase::up) {
      send_subscribe(d, *it);
      update_ready(d);
    }
  }

  void do_publish(Device& d, const std::string& topic, ByteView payload, int qos) {
    if (d.phase != Phase::up || d.unacknowledged.size() >= options.max_unacknowledged) {
      drop(1);
      return;
    }
    int mid = 0;
    const int rc =
        mosquitto_publish_v5(d.mosq.get(), &mid, topic.c_str(), static_cast<int>(payload.size()),
                             payload.data(), qos, false, nullptr);
    if (rc != MOSQ_ERR_SUCCESS) {
      // A write that failed here means the connection is going; the loop notices next.
      record_error(d, "publishing on '" + topic + "' failed: " + mosquitto_strerror(rc));
      drop(1);
      return;
    }
    d.unacknowledged.push_back(mid);
  }

  // Starts a connection attempt: a fresh handle, TCP connect (loopback: at once), and the TLS
  // handshake, which the loop carries on.
  void attempt(Device& d, Clock::time_point now) {
    d.failure.clear();
    d.mosq.reset(mosquitto_new(d.client_id.c_str(), true, &d));
    if (!d.mosq) {
      attempt_failed(d, "libmosquitto cannot create a client: " + std::string(std::strerror(errno)),
                     now);
      return;
    }
    mosquitto* m = d.mosq.get();
    int rc = mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    if (rc == MOSQ_ERR_SUCCESS) rc = mosquitto_void_option(m, MOSQ_OPT_SSL_CTX, d.tls->native());
    if (rc == MOSQ_ERR_SUCCESS) rc = mosquitto_int_option(m, MOSQ_OPT_SSL_CTX_WITH_DEFAULTS, 0);
    if (rc == MOSQ_ERR_SUCCESS) rc = mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);
    if (rc != MOSQ_ERR_SUCCESS) {
      attempt_failed(d, "libmosquitto refused the settings: " + std::string(mosquitto_strerror(rc)),
                     now);
      return;
    }
    mosquitto_connect_v5_callback_set(m, &Engine::on_connect);
    mosquitto_disconnect_v5_callback_set(m, &Engine::on_disconnect);
    mosquitto_publish_v5_callback_set(m, &Engine::on_publish);
    mosquitto_message_v5_callback_set(m, &Engine::on_message);
    mosquitto_subscribe_v5_callback_set(m, &Engine::on_subscribe);
    mosquitto_log_callback_set(m, &Engine::on_log);
    errno = 0;
    rc = mosquitto_connect_async(m, options.broker.host.c_str(), options.broker.port,
                                 static_cast<int>(options.keepalive.count()));
    if (rc != MOSQ_ERR_SUCCESS || mosquitto_socket(m) < 0) {
      const std::string why = rc == MOSQ_ERR_ERRNO ? std::string(std::strerror(errno))
                                                   : std::string(mosquitto_strerror(rc));
      attempt_failed(d, "cannot connect to " + endpoint + ": " + why, now);
      return;
    }
    d.phase = Phase::connecting;
    d.deadline = now + options.keepalive;
    ++connecting;
  }

  void attempt_failed(Device& d, const std::string& why, Clock::time_point now) {
    d.mosq.reset();
    d.phase = Phase::waiting;
    d.next_attempt = now + d.backoff.next_delay();
    notify([&](SwarmStats& s) {
      ++s.failed_attempts;
      s.last_error = truncated(d.client_id + ": " + why);
    });
  }

  // The connection or attempt on `d` is over (closed by either side, refused, timed out): drops
  // its handle with whatever it still held, and schedules the next attempt.
  void connection_ended(Device& d, Clock::time_point now) {
    const std::string why = d.failure.empty() ? "connection closed" : d.failure;
    d.mosq.reset();
    const std::size_t lost = d.unacknowledged.size();
    d.unacknowledged.clear();
    d.subacks_pending = 0;
    drop(lost);
    if (d.phase == Phase::connecting) {
      --connecting;
      attempt_failed(d, "connection to " + endpoint + " failed: " + why, now);
      return;
    }
    d.phase = Phase::waiting;
    d.next_attempt = now + d.backoff.next_delay();
    if (handlers.on_disconnected) handlers.on_disconnected(swarm, d.index);
    update_ready(d);
    swarm.connected_.fetch_sub(1);
    notify([&](SwarmStats& s) {
      --s.connected;
      ++s.disconnects;
      s.last_error = truncated(d.client_id + ": connection to " + endpoint + " lost: " + why);
    });
  }

  // After a libmosquitto call on `d` returned `rc`.
  void check(Device& d, int rc, Clock::time_point now) {
    if (!d.mosq) return;
    if (rc != MOSQ_ERR_SUCCESS || mosquitto_socket(d.mosq.get()) < 0) {
      if (d.failure.empty() && rc != MOSQ_ERR_SUCCESS) {
        d.failure = rc == MOSQ_ERR_ERRNO ? std::string(std::strerror(errno))
                                         : std::string(mosquitto_strerror(rc));
      }
      connection_ended(d, now);
    }
  }

  // The socket of `d` reported an error or a hang-up that libmosquitto did not act on.
  void hung_up(Device& d, int fd, Clock::time_point now) {
    int error = 0;
    socklen_t length = sizeof error;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
    if (d.failure.empty()) {
      d.failure =
          error != 0 ? std::string(std::strerror(error)) : "the broker closed the connection";
    }
    connection_ended(d, now);
  }

  void run_commands() {
    std::vector<Command> batch;
    {
      std::lock_guard lock(commands_mutex);
      batch.swap(commands);
    }
    for (Command& c : batch) {
      Device& d = *devices[c.device];
      if (c.is_publish) {
        do_publish(d, c.topic, c.payload, c.qos);
      } else {
        do_subscribe(d, std::move(c.topic), c.qos);
      }
    }
  }

  // Starts attempts that are due, while fewer than max_connects_in_flight are pending. Returns
  // when the next one will be due (time_point::max() when none waits, or no slot is free).
  Clock::time_point start_attempts(Clock::time_point now) {
    Clock::time_point next = Clock::time_point::max();
    const std::size_t n = devices.size();
    const std::size_t first = cursor;
    for (std::size_t k = 0; k < n && connecting < options.max_connects_in_flight; ++k) {
      Device& d = *devices[(first + k) % n];
      if (d.phase != Phase::waiting) continue;
      if (d.next_attempt <= now) {
        attempt(d, now);
        cursor = (d.index + 1) % n;
      } else {
        next = std::min(next, d.next_attempt);
      }
    }
    return connecting < options.max_connects_in_flight ? next : Clock::time_point::max();
  }

  // keep-alive for every connection, the deadline of every pending attempt, and on_tick.
  void tick(Clock::time_point now) {
    for (auto& device : devices) {
      Device& d = *device;
      if (!d.mosq) continue;
      if (d.phase == Phase::connecting && now >= d.deadline) {
        if (d.failure.empty()) d.failure = "no CONNACK within the keep-alive interval";
        connection_ended(d, now);
        continue;
      }
      check(d, mosquitto_loop_misc(d.mosq.get()), now);
    }
    if (handlers.on_tick) handlers.on_tick(swarm, now);
  }

  void run() {
    running_swarm = this;
    Clock::time_point next_tick = Clock::now() + kTick;
    while (!stopping.load()) {
      Clock::time_point now = Clock::now();
      run_commands();
      const Clock::time_point next_attempt = start_attempts(now);

      fds.clear();
      polled.clear();
      fds.push_back({wake.get(), POLLIN, 0});
      for (auto& device : devices) {
        Device& d = *device;
        if (!d.mosq) continue;
        const int fd = mosquitto_socket(d.mosq.get());
        if (fd < 0) continue;
        const short events =
            static_cast<short>(POLLIN | (mosquitto_want_write(d.mosq.get()) ? POLLOUT : 0));
        fds.push_back({fd, events, 0});
        polled.push_back(&d);
      }
      const Clock::time_point until = std::min(next_tick, next_attempt);
      const auto wait = std::chrono::ceil<std::chrono::milliseconds>(until - now);
      const int timeout =
          static_cast<int>(std::clamp<std::int64_t>(wait.count(), 0, kTick.count()));
      const int ready = ::poll(fds.data(), fds.size(), timeout);
      if (ready < 0 && errno != EINTR) {
        // Not expected with valid descriptors; recorded, and the loop goes on after a tick.
        notify([&](SwarmStats& s) {
          s.last_error = "poll failed: " + std::string(std::strerror(errno));
        });
      }
      now = Clock::now();
      if (ready > 0) {
        if (fds[0].revents != 0) {
          std::uint64_t count = 0;
          if (::read(wake.get(), &count, sizeof count) < 0) {
            // EAGAIN: another read took it already.
          }
        }
        for (std::size_t i = 1; i < fds.size(); ++i) {
          const short revents = fds[i].revents;
          if (revents == 0) continue;
          Device& d = *polled[i - 1];
          if (!d.mosq) continue;  // ended by a handler's call in this round
          if ((revents & (POLLIN | POLLERR | POLLHUP)) != 0) {
            check(d, mosquitto_loop_read(d.mosq.get(), 1), now);
          }
          if (d.mosq && (revents & POLLOUT) != 0) {
            check(d, mosquitto_loop_write(d.mosq.get(), 1), now);
          }
          if (d.mosq && (revents & (POLLERR | POLLHUP)) != 0) {
            // libmosquitto leaves a TCP connect that failed (refused, reset) pending: end it here,
            // or poll() would report it again at once, until the deadline.
            hung_up(d, fds[i].fd, now);
          }
        }
      }
      if (now >= next_tick) {
        tick(now);
        next_tick = now + kTick;
      }
    }
    shut_down();
    running_swarm = nullptr;
  }

  // A clean DISCONNECT from every connected device (written at once where the socket takes it),
  // then every handle goes.
  void shut_down() {
    for (auto& device : devices) {
      Device& d = *device;
      if (d.mosq && d.phase == Phase::up) {
        mosquitto_disconnect_v5(d.mosq.get(), MQTT_RC_NORMAL_DISCONNECTION, nullptr);
      }
      d.mosq.reset();
      if (d.phase == Phase::up) swarm.connected_.fetch_sub(1);
      d.phase = Phase::waiting;
    }
    notify([](SwarmStats& s) {
      s.connected = 0;
      s.ready = 0;
    });
  }

  Status queue(Command command) {
    {
      std::lock_guard lock(commands_mutex);
      if (stopping.load()) return fail("the swarm is stopping");
      if (commands.size() >= command_capacity()) {
        return fail("the swarm's queue is full (" + std::to_string(command_capacity()) +
                    " calls waiting for its thread)");
      }
      commands.push_back(std::move(command));
    }
    const std::uint64_t one = 1;
    if (::write(wake.get(), &one, sizeof one) < 0) {
      // EAGAIN: the counter is already non-zero, the thread wakes anyway.
    }
    return {};
  }
};

DeviceSwarm::DeviceSwarm(std::size_t size) : size_(size) {}

Result<std::unique_ptr<DeviceSwarm>> DeviceSwarm::start(std::vector<SwarmDevice> devices,
                                                        SwarmOptions options, Handlers handlers) {
  if (auto ok = check_options(devices, options); !ok) return tl::unexpected(ok.error());
  if (auto ok = ensure_descriptors(devices.size()); !ok) return tl::unexpected(ok.error());
  auto library = mqtt::MosquittoLibrary::acquire();
  if (!library) return tl::unexpected(library.error());
  UniqueFd wake(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!wake.valid()) return fail("cannot create an eventfd: " + std::string(std::strerror(errno)));

  std::unique_ptr<DeviceSwarm> swarm(new DeviceSwarm(devices.size()));
  swarm->engine_ = std::make_unique<Engine>(*swarm, std::move(options), std::move(handlers),
                                            std::move(*library), std::move(wake));
  Engine& e = *swarm->engine_;
  e.devices.reserve(devices.size());
  const mqtt::BackoffPolicy policy{e.options.reconnect_min, e.options.reconnect_max, 2.0, 0.5};
  // Every device's jitter comes from the engine's generator, used on its thread only.
  const mqtt::Backoff::Random random = [&e] { return e.uniform(e.random); };
  for (std::size_t i = 0; i < devices.size(); ++i) {
    SwarmDevice& device = devices[i];
    mqtt::TlsSettings tls;
    tls.trusted = e.options.broker.trusted;
    tls.server_name = e.options.broker.server_name;
    tls.client_chain = {device.identity.certificate};
    tls.client_key = device.identity.key_file.string();
    auto context = mqtt::TlsContext::create(tls);
    if (!context) return prefixed(context.error(), "device " + device.client_id);
    e.devices.push_back(std::make_unique<Engine::Device>(
        e, i, std::move(device.client_id), std::move(*context), mqtt::Backoff(policy, random)));
  }
  const Clock::time_point now = Clock::now();
  for (auto& d : e.devices) d->next_attempt = now;
  e.thread = std::thread([&e] { e.run(); });
  return swarm;
}

DeviceSwarm::~DeviceSwarm() {
  if (!engine_) return;
  {
    std::lock_guard lock(engine_->commands_mutex);
    engine_->stopping.store(true);
  }
  const std::uint64_t one = 1;
  if (::write(engine_->wake.get(), &one, sizeof one) < 0) {
    // EAGAIN: already signalled.
  }
  if (engine_->thread.joinable()) engine_->thread.join();
}

Status DeviceSwarm::publish(std::size_t device, std::string topic, Bytes payload, int qos) {
  if (device >= size_) {
    return fail("device " + std::to_string(device) + " is out of range (the swarm has " +
                std::to_string(size_) + ")");
  }
  if (auto ok = check_topic(topic, false); !ok) return ok;
  if (auto ok = check_qos(qos); !ok) return ok;
  if (payload.size() > kMaxPayload) {
    return fail("payload of " + std::to_string(payload.size()) + " bytes is over 128 KiB");
  }
  Engine& e = *engine_;
  if (running_swarm == &e) {
    e.do_publish(*e.devices[device], topic, payload, qos);
    return {};
  }
  return e.queue({true, device, std::move(topic), std::move(payload), qos});
}

Status DeviceSwarm::subscribe(std::size_t device, std::string filter, int qos) {
  if (device >= size_) {
    return fail("device " + std::to_string(device) + " is out of range (the swarm has " +
                std::to_string(size_) + ")");
  }
  if (auto ok = check_topic(filter, true); !ok) return ok;
  if (auto ok = check_qos(qos); !ok) return ok;
  Engine& e = *engine_;
  if (running_swarm == &e) {
    e.do_subscribe(*e.devices[device], std::move(filter), qos);
    return {};
  }
  return e.queue({false, device, std::move(filter), {}, qos});
}

const std::string& DeviceSwarm::client_id(std::size_t device) const {
  return engine_->devices.at(device)->client_id;
}

SwarmStats DeviceSwarm::stats() const {
  std::lock_guard lock(stats_mutex_);
  return stats_;
}

bool DeviceSwarm::wait_until(const std::function<bool(const SwarmStats&)>& condition,
                             std::chrono::milliseconds timeout) const {
  std::unique_lock lock(stats_mutex_);
  return stats_changed_.wait_for(lock, timeout, [&] { return condition(stats_); });
}

bool DeviceSwarm::wait_all_connected(std::chrono::milliseconds timeout) const {
  return wait_until([this](const SwarmStats& s) { return s.connected == size_; }, timeout);
}

bool DeviceSwarm::wait_all_ready(std::chrono::milliseconds timeout) const {
  return wait_until([this](const SwarmStats& s) { return s.ready == size_; }, timeout);
}

}  // namespace ironroot::testing
