// When to try connecting again: exponential back-off with jitter, bounded. Pure logic over an
// injected random source, so that its bounds are tested without a network or a clock.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

#include "ironroot/core/result.hpp"

namespace ironroot::mqtt {

struct BackoffPolicy {
  // The delay ceiling after the first failure; it is multiplied by `multiplier` after each further
  // failure, up to `maximum`.
  std::chrono::milliseconds initial{500};
  std::chrono::milliseconds maximum{30'000};
  double multiplier = 2.0;
  // The random share of each delay: a delay is drawn uniformly from
  // [ceiling * (1 - jitter), ceiling]. 0: no jitter; 1: "full jitter". Spreads a fleet's
  // reconnections after a broker restart.
  double jitter = 0.5;
};

// Fails, naming the field, unless 0 < initial <= maximum <= 1 hour, 1 <= multiplier <= 16 and
// 0 <= jitter <= 1.
Status check_backoff_policy(const BackoffPolicy& policy);

// The delays between connection attempts. Not thread-safe (one per connection).
class Backoff {
 public:
  // Uniform doubles in [0, 1).
  using Random = std::function<double()>;

  // REQUIRES: check_backoff_policy(policy). A null `random` draws from a generator seeded by the
  // operating system.
  explicit Backoff(BackoffPolicy policy, Random random = nullptr);

  // The delay before the next attempt, after one more failure. Never more than policy.maximum.
  std::chrono::milliseconds next_delay();
  // After a successful connection: the next failure starts again from `initial`.
  void reset() { failures_ = 0; }
  std::uint32_t failures() const { return failures_; }
  const BackoffPolicy& policy() const { return policy_; }

 private:
  BackoffPolicy policy_;
  Random random_;
  std::uint32_t failures_ = 0;
};

}  // namespace ironroot::mqtt
