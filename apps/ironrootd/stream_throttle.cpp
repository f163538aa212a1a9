#include "stream_throttle.hpp"

#include <algorithm>
#include <iterator>

namespace ironroot::service {

StreamThrottle::StreamThrottle(const ClientLimits& config, Clock clock, std::size_t max_clients)
    : requests_per_second_(static_cast<double>(config.requests_per_minute) / 60.0),
      request_burst_(static_cast<double>(config.request_burst)),
      bytes_per_second_(static_cast<double>(config.bytes_per_second)),
      burst_bytes_(static_cast<double>(config.burst_bytes)),
      clock_(clock ? std::move(clock) : Clock(std::chrono::steady_clock::now)),
      max_clients_(std::max<std::size_t>(max_clients, 1)) {}

void StreamThrottle::refill(Bucket& bucket, double per_second, double burst,
                            std::chrono::steady_clock::time_point now) const {
  if (now > bucket.updated) {
    const double seconds = std::chrono::duration<double>(now - bucket.updated).count();
    bucket.tokens = std::min(burst, bucket.tokens + seconds * per_second);
  }
  bucket.updated = std::max(bucket.updated, now);
}

bool StreamThrottle::is_full(ClientState& state, std::chrono::steady_clock::time_point now) const {
  refill(state.requests, requests_per_second_, request_burst_, now);
  refill(state.bytes, bytes_per_second_, burst_bytes_, now);
  return state.requests.tokens >= request_burst_ && state.bytes.tokens >= burst_bytes_;
}

void StreamThrottle::make_room(std::chrono::steady_clock::time_point now) {
  for (auto it = clients_.begin(); it != clients_.end();) {
    it = is_full(it->second, now) ? clients_.erase(it) : std::next(it);
  }
  if (clients_.size() < max_clients_) return;
  auto oldest =
      std::min_element(clients_.begin(), clients_.end(),
                       [](const auto& a, const auto& b) { return a.second.seen < b.second.seen; });
  clients_.erase(oldest);
}

StreamThrottle::ClientState& StreamThrottle::state_of(std::string_view client,
                                                      std::chrono::steady_clock::time_point now) {
  auto found = clients_.find(client);
  if (found == clients_.end()) {
    if (clients_.size() >= max_clients_) make_room(now);
    ClientState fresh;
    fresh.requests = {request_burst_, now};
    fresh.bytes = {burst_bytes_, now};
    found = clients_.emplace(std::string(client), fresh).first;
  }
  ClientState& state = found->second;
  refill(state.requests, requests_per_second_, request_burst_, now);
  refill(state.bytes, bytes_per_second_, burst_bytes_, now);
  state.seen = now;
  return state;
}

StreamThrottle::Admission StreamThrottle::request(std::string_view client) {
  ClientState& state = state_of(client, clock_());
  if (state.requests.tokens < 1.0) return {false, ++state.dropped};
  state.requests.tokens -= 1.0;
  return {true, std::exchange(state.dropped, 0)};
}

StreamThrottle::Admission StreamThrottle::bytes(std::string_view client, std::uint64_t bytes) {
  ClientState& state = state_of(client, clock_());
  const double wanted = static_cast<double>(bytes);
  if (state.bytes.tokens < wanted) return {false, ++state.dropped};
  state.bytes.tokens -= wanted;
  return {true, 0};
}

std::chrono::nanoseconds StreamThrottle::pace(std::string_view client, std::uint64_t bytes) {
  ClientState& state = state_of(client, clock_());
  const double wanted = static_cast<double>(bytes);
  if (state.bytes.tokens >= wanted) {
    state.bytes.tokens -= wanted;
    return std::chrono::nanoseconds::zero();
  }
  const double seconds = (wanted - state.bytes.tokens) / bytes_per_second_;
  const auto wait = std::chrono::ceil<std::chrono::nanoseconds>(
      std::chrono::duration<double>(std::min(seconds, 1e9)));
  return std::max(wait, std::chrono::nanoseconds(1));
}

}  // namespace ironroot::service
