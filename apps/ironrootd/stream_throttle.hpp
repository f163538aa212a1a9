// How much each client may ask of a firmware download service: two token buckets per client,
// one of requests and one of bytes, configured by ClientLimits. The MQTT file streams
// (docs/ota-streams.md) key clients by MQTT client id and drop a request the buckets cannot pay
// for; the throttle counts the drops so that the log says how many without a line for each. The
// HTTPS downloads (docs/ota-download.md) key clients by certificate id, refuse requests over the
// limit and pace their bytes (pace()).
//
// Memory is bounded: at most `max_clients` clients are tracked. A new client beyond that first
// pushes out the clients whose buckets are full (they are as a new client would be), then the one
// seen least recently (which then starts again with full buckets).
//
// Not thread-safe: its owner serializes the calls.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "service_config.hpp"

namespace ironroot::service {

class StreamThrottle {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  static constexpr std::size_t kMaxClients = 65536;

  // What a request may do, and what to log about it.
  struct Admission {
    bool allowed = false;
    // allowed: requests of this client dropped since the last one allowed (now reset to 0).
    // refused: requests dropped since the last one allowed, this one included (1: the first).
    std::uint64_t dropped = 0;
  };

  // `clock` empty: std::chrono::steady_clock::now. REQUIRES: max_clients >= 1, and the config's
  // rates and bursts >= 1 (parse_service_config checks them).
  explicit StreamThrottle(const ClientLimits& config, Clock clock = {},
                          std::size_t max_clients = kMaxClients);

  // Takes one request token of `client`. Refused when the client has none left.
  Admission request(std::string_view client);
  // Takes `bytes` byte tokens of `client`: the blocks an allowed GetStream is answered with.
  // Refused, taking nothing, when the client has fewer left; the caller drops the request.
  Admission bytes(std::string_view client, std::uint64_t bytes);
  // For a sender that waits rather than drops: takes `bytes` byte tokens of `client` and returns
  // zero when it has them; otherwise takes nothing and returns how long until it will have them
  // at the refill rate (at least 1 ns). Drops are not counted. REQUIRES: bytes <= burst_bytes.
  std::chrono::nanoseconds pace(std::string_view client, std::uint64_t bytes);

  std::size_t tracked_clients() const { return clients_.size(); }

 private:
  struct Bucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point updated{};
  };
  struct ClientState {
    Bucket requests;
    Bucket bytes;
    std::uint64_t dropped = 0;
    std::chrono::steady_clock::time_point seen{};
  };

  // The client's state with both buckets refilled to `now`; made (full) when new.
  ClientState& state_of(std::string_view client, std::chrono::steady_clock::time_point now);
  void make_room(std::chrono::steady_clock::time_point now);
  void refill(Bucket& bucket, double per_second, double burst,
              std::chrono::steady_clock::time_point now) const;
  bool is_full(ClientState& state, std::chrono::steady_clock::time_point now) const;

  double requests_per_second_;
  double request_burst_;
  double bytes_per_second_;
  double burst_bytes_;
  Clock clock_;
  std::size_t max_clients_;
  std::map<std::string, ClientState, std::less<>> clients_;
};

}  // namespace ironroot::service
