// The rollout planner (rollout.hpp), driven like the service drives it: a dispatcher loop on a
// fake clock that notifies what the planner allows and sleeps until its wake time, with the
// dispatch times measured afterwards.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ironroot/fleet/rollout.hpp"

namespace ironroot::fleet {
namespace {

using namespace std::chrono;
using nlohmann::json;

RolloutPolicy policy_from(const char* json_text) {
  auto policy = RolloutPolicy::from_json(json::parse(json_text));
  EXPECT_TRUE(policy) << policy.error().message;
  return *policy;
}

RolloutTime at(const char* text) {
  return *parse_rollout_timestamp(text);
}

const RolloutTime kStart = RolloutTime{sys_days{2025y / March / 5} + 9h};

// The most notifications in any 60-second window [t, t + 60 s) of sorted `times`.
std::size_t busiest_minute(const std::vector<RolloutTime>& times) {
  std::size_t most = 0;
  std::size_t first = 0;
  for (std::size_t last = 0; last < times.size(); ++last) {
    while (times[last] - times[first] >= seconds(60)) ++first;
    most = std::max(most, last - first + 1);
  }
  return most;
}

// A dispatcher: asks the planner, notifies up to `batch` of what it allows (each notification
// at the current time), then sleeps until wake_at (or `tick` when it had more to do), until
// `until`. Returns the dispatch times.
struct Dispatcher {
  const RolloutPlanner& planner;
  std::uint64_t total_things;
  std::uint64_t batch = UINT64_MAX;
  milliseconds tick = 0ms;
  // Things succeed as soon as they are notified when true (drives numberOfSucceededThings).
  bool succeed_at_once = false;

  std::vector<RolloutTime> run(RolloutTime from, RolloutTime until) {
    std::vector<RolloutTime> times;
    ExecutionCounts job;
    RolloutTime now = from;
    while (now < until) {
      std::vector<RolloutTime> recent;
      for (auto it = times.rbegin(); it != times.rend() && now - *it < seconds(60); ++it) {
        recent.push_back(*it);
      }
      RolloutSnapshot snapshot{now, from, total_things, job, {}, recent, {}};
      auto decision = planner.decide(snapshot);
      EXPECT_TRUE(decision) << decision.error().message;
      if (!decision) break;
      const std::uint64_t count = std::min(batch, decision->dispatch_count);
      for (std::uint64_t i = 0; i < count; ++i) times.push_back(now);
      job.notified += count;
      if (succeed_at_once) job.succeeded += count;
      if (decision->phase == RolloutPhase::AllDispatched) break;
      if (count > 0 && count < decision->dispatch_count) {
        now += tick;  // more allowed: the next batch after a short pause
      } else if (count > 0) {
        continue;  // ask again at once: the answer is now "rate limited" with a wake time
      } else {
        EXPECT_TRUE(decision->wake_at) << decision->summary;
        if (!decision->wake_at) break;
        EXPECT_GT(*decision->wake_at, now) << decision->summary;
        now = *decision->wake_at;
      }
    }
    return times;
  }
};

std::size_t count_between(const std::vector<RolloutTime>& times, RolloutTime from, RolloutTime to) {
  return static_cast<std::size_t>(std::count_if(
      times.begin(), times.end(), [&](RolloutTime t) { return t >= from && t < to; }));
}

TEST(RolloutRate, MaximumPerMinuteHoldsInEverySlidingMinute) {
  const RolloutPlanner planner(
      policy_from(R"J({"jobExecutionsRolloutConfig": {"maximumPerMinute": 100}})J"));
  // All at once whenever allowed.
  Dispatcher greedy{planner, 100000};
  auto times = greedy.run(kStart, kStart + minutes(10));
  EXPECT_LE(busiest_minute(times), 100u);
  EXPECT_EQ(times.size(), 1000u);  // exactly the limit, minute after minute
  // In small batches every 700 ms: still never more than 100 in any 60 s, and close to the rate.
  Dispatcher trickle{planner, 100000, 7, 700ms};
  times = trickle.run(kStart, kStart + minutes(10));
  EXPECT_LE(busiest_minute(times), 100u);
  EXPECT_GE(times.size(), 990u);
  for (int minute = 1; minute < 10; ++minute) {
    const auto in_minute =
        count_between(times, kStart + minutes(minute), kStart + minutes(minute + 1));
    EXPECT_GE(in_minute, 93u) << "minute " << minute;
    EXPECT_LE(in_minute, 100u) << "minute " << minute;
  }
}

TEST(RolloutRate, RateLimitedWakesWhenTheOldestLeavesTheWindow) {
  const RolloutPlanner planner(
      policy_from(R"J({"jobExecutionsRolloutConfig": {"maximumPerMinute": 3}})J"));
  const std::vector<RolloutTime> recent = {kStart + 10s, kStart + 25s, kStart + 40s};
  RolloutSnapshot snapshot{kStart + 50s, kStart, 100, {3, 0, 0, 0, 0}, {}, recent, {}};
  auto decision = planner.decide(snapshot);
  ASSERT_TRUE(decision);
  EXPECT_EQ(decision->phase, RolloutPhase::RateLimited);
  EXPECT_EQ(decision->dispatch_count, 0u);
  EXPECT_EQ(decision->wake_at, kStart + 70s);
  snapshot.now = kStart + 70s - 1ms;
  EXPECT_EQ(planner.decide(snapshot)->phase, RolloutPhase::RateLimited);
  snapshot.now = kStart + 70s;  // the dispatch at +10 s counts until +70 s, exclusive
  decision = planner.decide(snapshot);
  EXPECT_EQ(decision->phase, RolloutPhase::Dispatching);
  EXPECT_EQ(decision->dispatch_count, 1u);
  EXPECT_EQ(decision->wake_at, kStart + 85s);
  // Never more than the things left.
  snapshot.job.notified = 99;
  snapshot.now = kStart + 200s;
  decision = planner.decide(snapshot);
  EXPECT_EQ(decision->dispatch_count, 1u);
  snapshot.job.notified = 100;
  EXPECT_EQ(planner.decide(snapshot)->phase, RolloutPhase::AllDispatched);
}

TEST(RolloutRate, ExponentialRateRisesAtExactlyTheThresholds) {
  const RolloutPlanner doubling(policy_from(R"J({"jobExecutionsRolloutConfig": {"exponentialRate":
      {"baseRatePerMinute": 10, "incrementFactor": 2,
       "rateIncreaseCriteria": {"numberOfNotifiedThings": 50}}}})J"));
  const auto rate = [&](std::uint64_t notified, std::uint64_t succeeded = 0) {
    return doubling.rate_per_minute({notified, succeeded, 0, 0, 0});
  };
  EXPECT_EQ(rate(0), 10u);
  EXPECT_EQ(rate(49), 10u);
  EXPECT_EQ(rate(50), 20u);
  EXPECT_EQ(rate(99), 20u);
  EXPECT_EQ(rate(100), 40u);
  EXPECT_EQ(rate(149, 149), 40u);  // succeeded things do not count for this criterion
  EXPECT_EQ(rate(150), 80u);
  EXPECT_EQ(rate(300), 640u);
  EXPECT_EQ(rate(349), 640u);
  EXPECT_EQ(rate(350), 1000u);  // 1280, capped as AWS caps
  EXPECT_EQ(rate(UINT64_MAX / 2), 1000u);

  const RolloutPlanner by_success(policy_from(R"J({"jobExecutionsRolloutConfig": {"exponentialRate":
      {"baseRatePerMinute": 3, "incrementFactor": 1.5,
       "rateIncreaseCriteria": {"numberOfSucceededThings": 10}}}})J"));
  const auto succeeded = [&](std::uint64_t count) {
    return by_success.rate_per_minute({1000, count, 0, 0, 0});
  };
  EXPECT_EQ(succeeded(9), 3u);
  EXPECT_EQ(succeeded(10), 4u);   // 4.5
  EXPECT_EQ(succeeded(20), 6u);   // 6.75
  EXPECT_EQ(succeeded(30), 10u);  // 10.125
  EXPECT_EQ(succeeded(40), 15u);  // 15.1875

  // Both criteria: whichever count has reached its threshold more often.
  const RolloutPlanner either(policy_from(R"J({"jobExecutionsRolloutConfig": {"exponentialRate":
      {"baseRatePerMinute": 100, "incrementFactor": 1.1,
       "rateIncreaseCriteria": {"numberOfNotifiedThings": 1000, "numberOfSucceededThings": 100}}}})J"));
  EXPECT_EQ(either.rate_per_minute({999, 99, 0, 0, 0}), 100u);
  EXPECT_EQ(either.rate_per_minute({999, 100, 0, 0, 0}), 110u);
  EXPECT_EQ(either.rate_per_minute({1000, 0, 0, 0, 0}), 110u);
  EXPECT_EQ(either.rate_per_minute({2000, 300, 0, 0, 0}), 133u);  // 133.1
}

TEST(RolloutRate, ExponentialRolloutMeasuredOnTheClock) {
  // 10 a minute, x1.5 each time another 25 things have been notified.
  const RolloutPlanner planner(policy_from(R"J({"jobExecutionsRolloutConfig": {"exponentialRate":
      {"baseRatePerMinute": 10, "incrementFactor": 1.5,
       "rateIncreaseCriteria": {"numberOfNotifiedThings": 25}}}})J"));
  Dispatcher dispatcher{planner, 1000};
  const auto times = dispatcher.run(kStart, kStart + minutes(30));
  ASSERT_EQ(times.size(), 1000u);
  // Replay: every sliding minute stays within the rate in force at its last notification.
  for (std::size_t i = 0; i < times.size(); ++i) {
    std::size_t in_window = 0;
    for (std::size_t j = 0; j <= i; ++j) in_window += times[i] - times[j] < seconds(60) ? 1 : 0;
    ASSERT_LE(in_window, planner.rate_per_minute({i, 0, 0, 0, 0})) << "notification " << i;
  }
  // Minute by minute: 10, 10, then 15 (the rate rose at 25 notified), 22 (at 50), 33 (at 75).
  const std::vector<std::size_t> expected = {10, 10, 15, 22, 33};
  for (std::size_t minute = 0; minute < expected.size(); ++minute) {
    EXPECT_EQ(count_between(times, kStart + minutes(minute), kStart + minutes(minute + 1)),
              expected[minute])
        << "minute " << minute;
  }
  // Once the rate outgrows the step it rises within the minute, up to the cap of 1000.
  EXPECT_LT(times.back() - times.front(), minutes(8));
}

RolloutPolicy abort_policy(const char* type, double threshold, int minimum) {
  json request = {{"abortConfig",
                   {{"criteriaList",
                     {{{"failureType", type},
                       {"action", "CANCEL"},
                       {"thresholdPercentage", threshold},
                       {"minNumberOfExecutedThings", minimum}}}}}}};
  auto policy = RolloutPolicy::from_json(request);
  EXPECT_TRUE(policy) << policy.error().message;
  return *policy;
}

RolloutPhase phase_for(const RolloutPlanner& planner, ExecutionCounts job) {
  RolloutSnapshot snapshot{kStart, kStart, 1000, job, {}, {}, {}};
  return planner.decide(snapshot)->phase;
}

TEST(RolloutAbort, FiresExactlyWhenThresholdAndMinimumAreBothMet) {
  const RolloutPlanner planner(abort_policy("FAILED", 20, 10));
  EXPECT_EQ(phase_for(planner, {9, 0, 9, 0, 0}), RolloutPhase::Dispatching);   // 100%, 9 < 10
  EXPECT_EQ(phase_for(planner, {10, 0, 1, 0, 0}), RolloutPhase::Dispatching);  // 10%
  EXPECT_EQ(phase_for(planner, {11, 0, 2, 0, 0}), RolloutPhase::Dispatching);  // 18.18%
  EXPECT_EQ(phase_for(planner, {10, 0, 2, 0, 0}), RolloutPhase::Aborted);      // exactly 20%
  EXPECT_EQ(phase_for(planner, {15, 0, 3, 0, 0}), RolloutPhase::Aborted);
  RolloutSnapshot snapshot{kStart, kStart, 1000, {10, 0, 2, 0, 0}, {}, {}, {}};
  auto decision = planner.decide(snapshot);
  ASSERT_TRUE(decision->abort);
  EXPECT_EQ(decision->abort->criterion, 0u);
  EXPECT_FALSE(decision->abort->group);
  EXPECT_EQ(decision->dispatch_count, 0u);
  EXPECT_FALSE(decision->wake_at);
  EXPECT_EQ(decision->abort->message,
            "abortConfig.criteriaList[0]: 2 of 10 notified things (20.00%) FAILED, at least "
            "20.00% of at least 10 things");
  // Two decimals compare exactly: 1 of 8 is 12.5 %.
  const RolloutPlanner fine(abort_policy("FAILED", 12.5, 1));
  EXPECT_EQ(phase_for(fine, {8, 0, 1, 0, 0}), RolloutPhase::Aborted);
  EXPECT_EQ(phase_for(fine, {9, 0, 1, 0, 0}), RolloutPhase::Dispatching);
  const RolloutPlanner thirds(abort_policy("FAILED", 33.34, 1));
  EXPECT_EQ(phase_for(thirds, {3, 0, 1, 0, 0}), RolloutPhase::Dispatching);  // 33.333...%
}

TEST(RolloutAbort, EachFailureTypeCountsItsOwnStatus) {
  struct Case {
    const char* type;
    ExecutionCounts aborting;
    ExecutionCounts not_aborting;
  };
  const std::vector<Case> cases = {
      {"FAILED", {10, 0, 5, 0, 0}, {10, 0, 4, 5, 5}},
      {"REJECTED", {10, 0, 0, 5, 0}, {10, 0, 5, 4, 5}},
      {"TIMED_OUT", {10, 0, 0, 0, 5}, {10, 0, 5, 5, 4}},
      {"ALL", {10, 0, 2, 2, 1}, {10, 0, 2, 1, 1}},
  };
  for (const auto& c : cases) {
    const RolloutPlanner planner(abort_policy(c.type, 50, 10));
    EXPECT_EQ(phase_for(planner, c.aborting), RolloutPhase::Aborted) << c.type;
    EXPECT_EQ(phase_for(planner, c.not_aborting), RolloutPhase::Dispatching) << c.type;
  }
}

TEST(RolloutAbort, ReportsTheFirstCriterionThatFires) {
  const RolloutPlanner planner(policy_from(R"J({"abortConfig": {"criteriaList": [
      {"failureType": "REJECTED", "action": "CANCEL", "thresholdPercentage": 50,
       "minNumberOfExecutedThings": 1},
      {"failureType": "ALL", "action": "CANCEL", "thresholdPercentage": 10,
       "minNumberOfExecutedThings": 20},
      {"failureType": "TIMED_OUT", "action": "CANCEL", "thresholdPercentage": 5,
       "minNumberOfExecutedThings": 20}]}})J"));
  RolloutSnapshot snapshot{kStart, kStart, 1000, {20, 0, 0, 0, 2}, {}, {}, {}};
  auto decision = planner.decide(snapshot);
  ASSERT_TRUE(decision->abort);
  EXPECT_EQ(decision->abort->criterion, 1u);
  snapshot.job = {20, 0, 0, 10, 2};
  EXPECT_EQ(planner.decide(snapshot)->abort->criterion, 0u);
  snapshot.job = {20, 0, 0, 0, 1};
  EXPECT_EQ(planner.decide(snapshot)->abort->criterion, 2u);
}

const char* kStagedRollout = R"J({"rolloutGroups": [
    {"name": "canary", "targetPercentage": 10, "successThresholdPercentage": 90,
     "errorThresholdPercentage": 10},
    {"name": "early", "targetPercentage": 30, "successThresholdPercentage": 50},
    {"name": "rest", "targetPercentage": 60, "successThresholdPercentage": 100,
     "pauseBefore": true}]})J";

TEST(RolloutGroups, SplitTheThingsWithoutLosingAny) {
  const RolloutPlanner planner(policy_from(kStagedRollout));
  EXPECT_EQ(planner.group_boundaries(100), (std::vector<std::uint64_t>{0, 10, 40, 100}));
  EXPECT_EQ(planner.group_boundaries(7), (std::vector<std::uint64_t>{0, 1, 3, 7}));
  EXPECT_EQ(planner.group_boundaries(0), (std::vector<std::uint64_t>{0, 0, 0, 0}));
  const RolloutPlanner thirds(policy_from(R"J({"rolloutGroups": [
      {"name": "a", "targetPercentage": 33.33, "successThresholdPercentage": 0},
      {"name": "b", "targetPercentage": 33.33, "successThresholdPercentage": 0},
      {"name": "c", "targetPercentage": 33.34, "successThresholdPercentage": 0}]})J"));
  EXPECT_EQ(thirds.group_boundaries(7), (std::vector<std::uint64_t>{0, 3, 5, 7}));
  EXPECT_EQ(thirds.group_boundaries(1000000),
            (std::vector<std::uint64_t>{0, 333300, 666600, 1000000}));
  const RolloutPlanner none(RolloutPolicy{});
  EXPECT_EQ(none.group_boundaries(42), (std::vector<std::uint64_t>{0, 42}));
}

struct GroupRun {
  RolloutPlanner planner;
  std::vector<ExecutionCounts> groups = std::vector<ExecutionCounts>(3);
  std::vector<std::string> approvals = {};

  RolloutDecision decide() {
    ExecutionCounts job;
    for (const auto& g : groups) {
      job.notified += g.notified;
      job.succeeded += g.succeeded;
      job.failed += g.failed;
    }
    RolloutSnapshot snapshot{kStart, kStart, 100, job, groups, {}, approvals};
    auto decision = planner.decide(snapshot);
    EXPECT_TRUE(decision) << decision.error().message;
    return *decision;
  }
};

TEST(RolloutGroups, SuccessThresholdsAdvanceGroupsAndPauseGatesHold) {
  GroupRun run{RolloutPlanner(policy_from(kStagedRollout))};
  auto decision = run.decide();
  EXPECT_EQ(decision.phase, RolloutPhase::Dispatching);
  EXPECT_EQ(decision.dispatch_group, 0u);
  EXPECT_EQ(decision.dispatch_count, 10u);  // only the canary group
  EXPECT_FALSE(decision.awaiting_approval);

  run.groups[0].notified = 10;
  decision = run.decide();
  EXPECT_EQ(decision.phase, RolloutPhase::AwaitingGroupSuccess);
  EXPECT_FALSE(decision.wake_at);
  EXPECT_NE(decision.summary.find("'canary': 0 of 10 things succeeded, 90.00% needed"),
            std::string::npos)
      << decision.summary;
  run.groups[0].succeeded = 8;
  EXPECT_EQ(run.decide().phase, RolloutPhase::AwaitingGroupSuccess);
  run.groups[0].succeeded = 9;  // exactly 90 %
  decision = run.decide();
  EXPECT_EQ(decision.phase, RolloutPhase::Dispatching);
  EXPECT_EQ(decision.dispatch_group, 1u);
  EXPECT_EQ(decision.dispatch_count, 30u);

  run.groups[1].notified = 30;
  run.groups[1].succeeded = 14;
  EXPECT_EQ(run.decide().phase, RolloutPhase::AwaitingGroupSuccess);
  run.groups[1].succeeded = 15;  // 50 %: the gate before "rest" now holds
  decision = run.decide();
  EXPECT_EQ(decision.phase, RolloutPhase::AwaitingApproval);
  EXPECT_EQ(decision.awaiting_approval, 2u);
  EXPECT_EQ(decision.dispatch_count, 0u);
  EXPECT_FALSE(decision.wake_at);
  // It holds however long: time alone never opens it.
  run.approvals = {"early", "Rest"};
  EXPECT_EQ(run.decide().phase, RolloutPhase::AwaitingApproval);
  run.approvals = {"rest"};
  decision = run.decide();
  EXPECT_EQ(decision.phase, RolloutPhase::Dispatching);
  EXPECT_EQ(decision.dispatch_group, 2u);
  EXPECT_EQ(decision.dispatch_count, 60u);
  EXPECT_FALSE(decision.awaiting_approval);
  run.groups[2].notified = 60;
  EXPECT_EQ(run.decide().phase, RolloutPhase::AllDispatched);
}

TEST(RolloutGroups, EarlierGroupsFinishWhileAGateHolds) {
  // "early" succeeds at 50 % with half of it not yet notified: its rest goes on behind the gate.
  GroupRun run{RolloutPlanner(policy_from(kStagedRollout))};
  run.groups[0] = {10, 10, 0, 0, 0};
  run.groups[1] = {20, 15, 0, 0, 0};
  auto decision = run.decide();
  EXPECT_EQ(decision.phase, RolloutPhase::Dispatching);
  EXPECT_EQ(decision.dispatch_group, 1u);
  EXPECT_EQ(decision.dispatch_count, 10u);
  EXPECT_EQ(decision.awaiting_approval, 2u);
}

TEST(RolloutGroups, APauseBeforeTheFirstGroupHoldsTheStart) {
  GroupRun run{RolloutPlanner(policy_from(R"J({"rolloutGroups": [
      {"name": "all", "targetPercentage": 100, "successThresholdPercentage": 100,
       "pauseBefore": true}]})J"))};
  run.groups.resize(1);
  EXPECT_EQ(run.decide().phase, RolloutPhase::AwaitingApproval);
  EXPECT_EQ(run.decide().awaiting_approval, 0u);
  run.approvals = {"all"};
  EXPECT_EQ(run.decide().dispatch_count, 100u);
}

TEST(RolloutGroups, ErrorThresholdAbortsWhenExceeded) {
  GroupRun run{RolloutPlanner(policy_from(kStagedRollout))};
  run.groups[0] = {10, 0, 1, 0, 0};  // 10 %: not more than 10 %
  EXPECT_EQ(run.decide().phase, RolloutPhase::AwaitingGroupSuccess);
  run.groups[0] = {10, 0, 1, 0, 1};  // 20 % (a timeout counts as a failure)
  auto decision = run.decide();
  EXPECT_EQ(decision.phase, RolloutPhase::Aborted);
  ASSERT_TRUE(decision.abort);
  EXPECT_EQ(decision.abort->group, 0u);
  EXPECT_FALSE(decision.abort->criterion);
  EXPECT_EQ(decision.abort->message,
            "rolloutGroups[0] 'canary': 2 of its 10 things (20.00%) failed, more than its error "
            "threshold 10.00%");
}

TEST(RolloutGroups, EmptyGroupsAreSkippedGateIncluded) {
  // With one thing, "b" gets no thing: its gate does not hold "c"; "a" still must succeed.
  GroupRun run{RolloutPlanner(policy_from(R"J({"rolloutGroups": [
      {"name": "a", "targetPercentage": 40, "successThresholdPercentage": 100},
      {"name": "b", "targetPercentage": 0.01, "successThresholdPercentage": 100, "pauseBefore": true},
      {"name": "c", "targetPercentage": 59.99, "successThresholdPercentage": 100}]})J"))};
  EXPECT_EQ(run.planner.group_boundaries(2), (std::vector<std::uint64_t>{0, 1, 1, 2}));
  RolloutSnapshot snapshot{kStart, kStart, 2, {}, run.groups, {}, {}};
  auto decision = run.planner.decide(snapshot);
  EXPECT_EQ(decision->dispatch_group, 0u);
  run.groups[0] = {1, 0, 0, 0, 0};
  snapshot.groups = run.groups;
  EXPECT_EQ(run.planner.decide(snapshot)->phase, RolloutPhase::AwaitingGroupSuccess);
  run.groups[0] = {1, 1, 0, 0, 0};
  snapshot.groups = run.groups;
  decision = run.planner.decide(snapshot);
  EXPECT_EQ(decision->phase, RolloutPhase::Dispatching);
  EXPECT_EQ(decision->dispatch_group, 2u);
  EXPECT_FALSE(decision->awaiting_approval);
}

TEST(RolloutPlanner, RefusesASnapshotThatDoesNotFitThePolicy) {
  const RolloutPlanner planner(policy_from(kStagedRollout));
  std::vector<ExecutionCounts> two(2);
  RolloutSnapshot snapshot{kStart, kStart, 100, {}, two, {}, {}};
  auto decision = planner.decide(snapshot);
  ASSERT_FALSE(decision);
  EXPECT_NE(decision.error().message.find("counts for 2 groups, but the policy has 3"),
            std::string::npos);
  std::vector<ExecutionCounts> three(3);
  snapshot.groups = three;
  snapshot.total_things = (std::uint64_t{1} << 40) + 1;
  EXPECT_FALSE(planner.decide(snapshot));
}

TEST(RolloutSchedule, PlannerFollowsStartWindowsAndEnd) {
  const RolloutPlanner planner(policy_from(R"J({
      "jobExecutionsRolloutConfig": {"maximumPerMinute": 10},
      "schedulingConfig": {"startTime": "2025-03-05T20:00", "endTime": "2025-03-07T06:00",
                           "endBehavior": "CANCEL",
                           "maintenanceWindows": [{"startTime": "cron(0 22 * * ? *)",
                                                   "durationInMinutes": 480}]}})J"));
  const RolloutTime created = at("2025-03-05T12:00");
  RolloutSnapshot snapshot{at("2025-03-05T13:00"), created, 100, {}, {}, {}, {}};
  auto decision = planner.decide(snapshot);
  EXPECT_EQ(decision->phase, RolloutPhase::NotStarted);
  EXPECT_EQ(decision->wake_at, at("2025-03-05T20:00"));
  snapshot.now = at("2025-03-05T20:00");
  decision = planner.decide(snapshot);
  EXPECT_EQ(decision->phase, RolloutPhase::OutsideMaintenanceWindow);
  EXPECT_EQ(decision->wake_at, at("2025-03-05T22:00"));
  snapshot.now = at("2025-03-05T22:00");
  decision = planner.decide(snapshot);
  EXPECT_EQ(decision->phase, RolloutPhase::Dispatching);
  EXPECT_EQ(decision->dispatch_count, 10u);
  EXPECT_EQ(decision->wake_at, at("2025-03-06T06:00"));
  // Rate limited near the window's end: wake at whichever comes first.
  const std::vector<RolloutTime> recent(10, at("2025-03-06T05:59:30"));
  snapshot.recent_dispatches = recent;
  snapshot.now = at("2025-03-06T05:59:40");
  decision = planner.decide(snapshot);
  EXPECT_EQ(decision->phase, RolloutPhase::RateLimited);
  EXPECT_EQ(decision->wake_at, at("2025-03-06T06:00"));
  snapshot.now = at("2025-03-06T06:00");
  EXPECT_EQ(planner.decide(snapshot)->phase, RolloutPhase::OutsideMaintenanceWindow);
  snapshot.now = at("2025-03-07T06:00");
  decision = planner.decide(snapshot);
  EXPECT_EQ(decision->phase, RolloutPhase::Ended);
  EXPECT_EQ(decision->end_behavior, JobEndBehavior::Cancel);
  EXPECT_FALSE(decision->wake_at);
  // Abort outranks the end.
  snapshot.job = {10, 0, 10, 0, 0};
  const RolloutPlanner aborting(abort_policy("ALL", 50, 5));
  EXPECT_EQ(aborting.decide(snapshot)->phase, RolloutPhase::Aborted);
}

TEST(RolloutSchedule, DispatcherOnlyNotifiesInsideWindows) {
  const RolloutPlanner planner(policy_from(R"J({
      "jobExecutionsRolloutConfig": {"maximumPerMinute": 5},
      "schedulingConfig": {"maintenanceWindows": [{"startTime": "cron(0 23 ? * SUN *)",
                                                   "durationInMinutes": 120}]}})J"));
  // From Wednesday to the next Wednesday: only Sunday 23:00 to Monday 01:00 (600 notifications).
  Dispatcher dispatcher{planner, 100000};
  const auto times = dispatcher.run(kStart, kStart + days(7));
  ASSERT_EQ(times.size(), 600u);
  EXPECT_EQ(times.front(), at("2025-03-09T23:00"));
  EXPECT_LT(times.back(), at("2025-03-10T01:00"));
  EXPECT_LE(busiest_minute(times), 5u);
}

}  // namespace
}  // namespace ironroot::fleet
