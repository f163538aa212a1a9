// The stream service's per-client limits (apps/ironrootd/stream_throttle.hpp) on a clock the test
// turns: bursts, refills, the drop counts the log reports, and the bound on tracked clients.
#include "stream_throttle.hpp"

#include <gtest/gtest.h>

namespace ironroot::service {
namespace {

using namespace std::chrono_literals;

class StreamThrottleTest : public ::testing::Test {
 protected:
  StreamThrottle make(std::size_t max_clients = StreamThrottle::kMaxClients) {
    return StreamThrottle(
        config_, [this] { return now_; }, max_clients);
  }

  StreamsConfig config_ = [] {
    StreamsConfig c;
    c.requests_per_minute = 60;  // one a second
    c.request_burst = 3;
    c.bytes_per_second = 1000;
    c.burst_bytes = 131072;
    return c;
  }();
  std::chrono::steady_clock::time_point now_{std::chrono::hours(1)};
};

TEST_F(StreamThrottleTest, ABurstOfRequestsThenOneASecond) {
  StreamThrottle throttle = make();
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(throttle.request("lamp-1").allowed) << i;
  auto refused = throttle.request("lamp-1");
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.dropped, 1u);  // the first drop: the one the service logs
  EXPECT_EQ(throttle.request("lamp-1").dropped, 2u);
  // Another client has a burst of its own.
  EXPECT_TRUE(throttle.request("lamp-2").allowed);
  now_ += 999ms;
  EXPECT_FALSE(throttle.request("lamp-1").allowed);
  now_ += 1ms;
  auto allowed = throttle.request("lamp-1");
  EXPECT_TRUE(allowed.allowed);
  EXPECT_EQ(allowed.dropped, 3u);  // reported once, then counted afresh
  EXPECT_FALSE(throttle.request("lamp-1").allowed);
  now_ += 1h;  // refills up to the burst, not beyond
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(throttle.request("lamp-1").allowed) << i;
  EXPECT_FALSE(throttle.request("lamp-1").allowed);
}

TEST_F(StreamThrottleTest, BytesAreTakenWhollyOrNotAtAll) {
  StreamThrottle throttle = make();
  EXPECT_TRUE(throttle.bytes("lamp-1", 131072).allowed);
  auto refused = throttle.bytes("lamp-1", 1);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.dropped, 1u);
  now_ += 2s;  // 2000 bytes back
  EXPECT_FALSE(throttle.bytes("lamp-1", 2001).allowed);
  EXPECT_TRUE(throttle.bytes("lamp-1", 2000).allowed);
  EXPECT_FALSE(throttle.bytes("lamp-1", 1).allowed);
  // A request allowed reports the drops, bytes' included.
  EXPECT_EQ(throttle.request("lamp-1").dropped, 3u);
}

TEST_F(StreamThrottleTest, TrackedClientsAreBounded) {
  StreamThrottle throttle = make(2);
  EXPECT_TRUE(throttle.request("a").allowed);
  now_ += 1ms;
  EXPECT_TRUE(throttle.request("b").allowed);
  now_ += 1ms;
  // Neither is full again yet: the one seen least recently ("a") makes room.
  EXPECT_TRUE(throttle.request("c").allowed);
  EXPECT_EQ(throttle.tracked_clients(), 2u);
  for (int i = 0; i < 2; ++i) EXPECT_TRUE(throttle.request("b").allowed) << i;
  EXPECT_FALSE(throttle.request("b").allowed) << "b was kept, with its bucket";
  now_ += 10s;  // everyone full again: all of them make room
  EXPECT_TRUE(throttle.request("d").allowed);
  EXPECT_EQ(throttle.tracked_clients(), 1u);
}

TEST_F(StreamThrottleTest, PacedBytesWaitForTheRefillInsteadOfBeingDropped) {
  StreamThrottle throttle = make();
  // The wait, to the microsecond (the buckets count in floating point).
  auto near = [](std::chrono::nanoseconds wait, std::chrono::nanoseconds expected) {
    return wait >= expected - 1us && wait <= expected + 1us;
  };
  EXPECT_EQ(throttle.pace("lamp-1", 131000), 0ns);  // the burst
  // 72 tokens left: 100 bytes need 28 more, 28 ms at 1000 bytes a second; nothing is taken.
  EXPECT_TRUE(near(throttle.pace("lamp-1", 100), 28ms));
  EXPECT_TRUE(near(throttle.pace("lamp-1", 100), 28ms));
  now_ += 27ms;
  EXPECT_TRUE(near(throttle.pace("lamp-1", 100), 1ms));
  now_ += 2ms;
  EXPECT_EQ(throttle.pace("lamp-1", 100), 0ns);
  EXPECT_GT(throttle.pace("lamp-1", 2), 0ns);  // one token left
  // Pacing counts no drops: the next refused request is the first.
  EXPECT_EQ(throttle.bytes("lamp-1", 2).dropped, 1u);
  // Another client has a burst of its own.
  EXPECT_EQ(throttle.pace("lamp-2", 131072), 0ns);
}

}  // namespace
}  // namespace ironroot::service
