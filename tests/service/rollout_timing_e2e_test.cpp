// Issue 6's timing acceptance against the real ironrootd: the times at which executions reach the
// devices (their notify-next) show the rollout rate, the exponential increase, and the timeouts
// and retries. Jobs' timeouts are whole minutes (AWS's smallest is 1), so two of these tests take
// a little over a minute each; ctest runs them side by side.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

#include "jobs_fleet.hpp"

namespace ironroot::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using Clock = NotifyListener::Clock;

class RolloutTimingE2E : public JobsFleetTest {
 protected:
  // `count` devices named <prefix>-0.. in group lamps, each listening to its notify-next.
  void listen(const std::string& prefix, int count) {
    for (int i = 0; i < count; ++i) {
      const std::string thing = prefix + "-" + std::to_string(i);
      auto identity = provision(thing);
      ASSERT_TRUE(identity);
      auto listener = NotifyListener::connect(broker_, *identity, thing);
      ASSERT_TRUE(listener) << listener.error().message;
      devices_.push_back(std::move(*listener));
    }
  }

  // The things whose execution of the job the service has dispatched (at most 250 here).
  std::set<std::string> dispatched(const std::string& job_id) {
    const json executions = call("GET", "/v1/jobs/" + job_id + "/executions?limit=250");
    std::set<std::string> things;
    for (const json& execution : executions["items"]) {
      if (execution.contains("dispatchedAt")) things.insert(execution.value("thingName", ""));
    }
    return things;
  }

  NotifyListener& device(const std::string& thing) {
    for (auto& device : devices_) {
      if (device->thing() == thing) return *device;
    }
    throw std::logic_error("no device " + thing);
  }

  std::vector<std::unique_ptr<NotifyListener>> devices_;
};

double seconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

TEST_F(RolloutTimingE2E, AtMostMaximumPerMinuteReachTheDevicesInAnySlidingMinute) {
  ASSERT_NO_FATAL_FAILURE(listen("lamp", 6));
  call("POST", "/v1/jobs",
       {{"jobId", "steady"},
        {"document", {{"operation", "blink"}}},
        {"targets", {{"groups", {"lamps"}}}},
        {"jobExecutionsRolloutConfig", {{"maximumPerMinute", 4}}}},
       201);
  std::vector<Clock::time_point> times;
  for (const auto& device : devices_) {
    ASSERT_TRUE(device->wait_notified("steady", 1, 90s)) << device->thing() << "\n"
                                                         << daemon_->log();
    times.push_back(*device->notified_at("steady"));
  }
  std::sort(times.begin(), times.end());
  // Four at once; the fifth and sixth once the first minute has passed, and not much later.
  EXPECT_LT(seconds_between(times[0], times[3]), 5.0);
  for (std::size_t i = 0; i + 4 < times.size(); ++i) {
    EXPECT_GE(seconds_between(times[i], times[i + 4]), 59.5) << "five within a minute, from " << i;
  }
  EXPECT_LT(seconds_between(times[0], times[4]), 65.0) << "the rollout went on late";
  EXPECT_TRUE(daemon_->wait_for_log(
      "job steady: rate limited (4 things notified in the last 60 s, rate 4 per minute)"));
}

TEST_F(RolloutTimingE2E, AnExponentialRateRisesEachTimeTheCriterionIsReached) {
  // Base 2 a minute, doubled for every 2 things that succeed: 2, 4, 8, then 16 a minute once six
  // have succeeded, enough for the last two. Nothing succeeds unless the test says so, so each
  // step waits for it.
  ASSERT_NO_FATAL_FAILURE(listen("lamp", 10));
  call("POST", "/v1/jobs",
       {{"jobId", "ramp"},
        {"document", {{"operation", "blink"}}},
        {"targets", {{"groups", {"lamps"}}}},
        {"jobExecutionsRolloutConfig",
         {{"exponentialRate",
           {{"baseRatePerMinute", 2},
            {"incrementFactor", 2},
            {"rateIncreaseCriteria", {{"numberOfSucceededThings", 2}}}}}}}},
       201);
  std::set<std::string> succeeded;
  for (const std::size_t rate : {2u, 4u, 8u}) {
    const std::string held = "job ramp: rate limited (" + std::to_string(rate) +
                             " things notified in the last 60 s, rate " + std::to_string(rate) +
                             " per minute)";
    ASSERT_TRUE(daemon_->wait_for_log(held)) << daemon_->log();
    const std::set<std::string> reached = dispatched("ramp");
    ASSERT_EQ(reached.size(), rate) << "the rate is " << rate << " a minute";
    // Each newly reached device hears of it, then succeeds, which raises the rate.
    for (const std::string& thing : reached) {
      if (succeeded.contains(thing)) continue;
      ASSERT_TRUE(device(thing).wait_notified("ramp", 1, 30s)) << thing;
      device(thing).ask("ramp/update", {{"status", "SUCCEEDED"}});
      succeeded.insert(thing);
    }
  }
  for (auto& device : devices_) {
    ASSERT_TRUE(device->wait_notified("ramp", 1, 30s)) << device->thing();
  }
  EXPECT_EQ(dispatched("ramp").size(), 10u);
  EXPECT_TRUE(daemon_->wait_for_log("job ramp: dispatched 2 (16 per minute)")) << daemon_->log();
}

TEST_F(RolloutTimingE2E, TimeoutsEndExecutionsAndRetriesQueueThemAgain) {
  // "patience" times out an execution a minute after it started and retries any failure once;
  // "steps" has no timeout of its own and no retries, but its device asks for a one-minute step.
  ASSERT_NO_FATAL_FAILURE(listen("lamp", 3));  // lamp-0 is slow, lamp-1 flaky, lamp-2 steps
  call("POST", "/v1/jobs",
       {{"jobId", "patience"},
        {"document", {{"operation", "blink"}}},
        {"targets", {{"things", {"lamp-0", "lamp-1"}}}},
        {"timeoutConfig", {{"inProgressTimeoutInMinutes", 1}}},
        {"jobExecutionsRetryConfig",
         {{"criteriaList", {{{"failureType", "ALL"}, {"numberOfRetries", 1}}}}}}},
       201);
  call("POST", "/v1/jobs",
       {{"jobId", "steps"},
        {"document", {{"operation", "blink"}}},
        {"targets", {{"things", {"lamp-2"}}}}},
       201);
  NotifyListener& slow = device("lamp-0");
  NotifyListener& flaky = device("lamp-1");
  NotifyListener& stepper = device("lamp-2");
  for (NotifyListener* listener : {&slow, &flaky}) {
    ASSERT_TRUE(listener->wait_notified("patience", 1, 30s)) << listener->thing();
  }
  ASSERT_TRUE(stepper.wait_notified("steps", 1, 30s));
  const json started = slow.ask("start-next", json::object());
  ASSERT_EQ(started.value("/execution/jobId"_json_pointer, ""), "patience") << started.dump();
  const auto slow_started = Clock::now();
  const json stepping = stepper.ask("start-next", {{"stepTimeoutInMinutes", 1}});
  ASSERT_EQ(stepping.value("/execution/jobId"_json_pointer, ""), "steps") << stepping.dump();

  // A failure is retried at once: the device hears of execution 2 and completes it.
  flaky.ask("patience/update", {{"status", "FAILED"}});
  ASSERT_TRUE(flaky.wait_notified("patience", 2, 30s));
  flaky.ask("patience/update", {{"status", "SUCCEEDED"}, {"executionNumber", 2}});

  // The silent device times out after a minute, and its retry reaches it.
  ASSERT_TRUE(slow.wait_notified("patience", 2, 90s)) << daemon_->log();
  EXPECT_GE(seconds_between(slow_started, *slow.notified_at("patience", 2)), 59.0);
  EXPECT_EQ(call("GET", "/v1/jobs/patience/things/lamp-0?executionNumber=1").value("status", ""),
            "TIMED_OUT");
  EXPECT_EQ(call("GET", "/v1/jobs/patience/things/lamp-1?executionNumber=1").value("status", ""),
            "FAILED");
  slow.ask("patience/update", {{"status", "SUCCEEDED"}, {"executionNumber", 2}});
  const json patience = job("patience");
  EXPECT_EQ(patience.value("status", ""), "COMPLETED") << patience.dump();
  EXPECT_EQ(patience.value("/jobProcessDetails/numberOfSucceededThings"_json_pointer, -1), 2)
      << patience.dump();

  // The step timeout ends the other execution for good: "steps" retries nothing.
  ASSERT_TRUE(daemon_->wait_for_log("job steps on lamp-2: TIMED_OUT")) << daemon_->log();
  const json steps = job("steps");
  EXPECT_EQ(steps.value("status", ""), "COMPLETED") << steps.dump();
  EXPECT_EQ(steps.value("/jobProcessDetails/numberOfTimedOutThings"_json_pointer, -1), 1)
      << steps.dump();
  EXPECT_FALSE(stepper.notified_at("steps", 2));
}

}  // namespace
}  // namespace ironroot::testing
