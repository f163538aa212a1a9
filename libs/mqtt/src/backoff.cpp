#include "ironroot/mqtt/backoff.hpp"

#include <algorithm>
#include <cmath>
#include <random>

namespace ironroot::mqtt {

namespace {

constexpr std::chrono::milliseconds kMaxDelay = std::chrono::hours(1);
constexpr double kMaxMultiplier = 16.0;

}  // namespace

Status check_backoff_policy(const BackoffPolicy& policy) {
  if (policy.initial.count() <= 0) return fail("back-off: the initial delay must be positive");
  if (policy.maximum < policy.initial) {
    return fail("back-off: the maximum delay (" + std::to_string(policy.maximum.count()) +
                " ms) must be at least the initial delay (" +
                std::to_string(policy.initial.count()) + " ms)");
  }
  if (policy.maximum > kMaxDelay) return fail("back-off: the maximum delay must be at most 1 hour");
  if (!(policy.multiplier >= 1.0 && policy.multiplier <= kMaxMultiplier)) {
    return fail("back-off: the multiplier must be between 1 and 16");
  }
  if (!(policy.jitter >= 0.0 && policy.jitter <= 1.0)) {
    return fail("back-off: the jitter must be between 0 and 1");
  }
  return {};
}

Backoff::Backoff(BackoffPolicy policy, Random random)
    : policy_(policy), random_(std::move(random)) {
  if (!random_) {
    random_ = [engine = std::mt19937_64(std::random_device{}()),
               uniform = std::uniform_real_distribution<double>(0.0, 1.0)]() mutable {
      return uniform(engine);
    };
  }
}

std::chrono::milliseconds Backoff::next_delay() {
  const double maximum = static_cast<double>(policy_.maximum.count());
  // initial * multiplier^failures, computed so that it cannot overflow: it stops growing at the
  // maximum.
  double ceiling = static_cast<double>(policy_.initial.count()) *
                   std::pow(policy_.multiplier, static_cast<double>(std::min(failures_, 64u)));
  ceiling = std::min(ceiling, maximum);
  if (failures_ < UINT32_MAX) ++failures_;
  const double u = std::clamp(random_(), 0.0, 1.0);
  const double delay = ceiling * (1.0 - policy_.jitter * u);
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::clamp(delay, 0.0, maximum)));
}

}  // namespace ironroot::mqtt
