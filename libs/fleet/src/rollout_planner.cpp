// The rollout state machine (rollout.hpp): a pure function of the policy and a snapshot.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "ironroot/fleet/rollout.hpp"

namespace ironroot::fleet {

namespace {

using namespace std::chrono;

constexpr std::uint64_t kMaxThings = std::uint64_t{1} << 40;
constexpr auto kRateWindow = seconds(60);

std::string percent_text(std::uint64_t part, std::uint64_t whole) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f%%",
                whole == 0 ? 0.0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole));
  return text;
}

std::string threshold_text(Percentage percentage) {
  char text[32];
  std::snprintf(text, sizeof text, "%u.%02u%%", percentage.hundredths / 100,
                percentage.hundredths % 100);
  return text;
}

std::uint64_t failures_of(JobExecutionFailureType type, const ExecutionCounts& counts) {
  switch (type) {
    case JobExecutionFailureType::Failed:
      return counts.failed;
    case JobExecutionFailureType::Rejected:
      return counts.rejected;
    case JobExecutionFailureType::TimedOut:
      return counts.timed_out;
    case JobExecutionFailureType::All:
      return counts.failed + counts.rejected + counts.timed_out;
  }
  return 0;
}

// part / whole >= percentage, exactly (whole > 0).
bool reaches(std::uint64_t part, std::uint64_t whole, Percentage percentage) {
  return static_cast<unsigned __int128>(part) * 10000 >=
         static_cast<unsigned __int128>(percentage.hundredths) * whole;
}

// part / whole > percentage, exactly (whole > 0).
bool exceeds(std::uint64_t part, std::uint64_t whole, Percentage percentage) {
  return static_cast<unsigned __int128>(part) * 10000 >
         static_cast<unsigned __int128>(percentage.hundredths) * whole;
}

std::optional<RolloutTime> earliest(std::optional<RolloutTime> a, std::optional<RolloutTime> b) {
  if (!a) return b;
  if (!b) return a;
  return std::min(*a, *b);
}

}  // namespace

std::string_view to_string(RolloutPhase phase) {
  switch (phase) {
    case RolloutPhase::Dispatching:
      return "dispatching";
    case RolloutPhase::RateLimited:
      return "rate limited";
    case RolloutPhase::NotStarted:
      return "not started";
    case RolloutPhase::OutsideMaintenanceWindow:
      return "outside maintenance window";
    case RolloutPhase::AwaitingApproval:
      return "awaiting approval";
    case RolloutPhase::AwaitingGroupSuccess:
      return "awaiting group success";
    case RolloutPhase::AllDispatched:
      return "all dispatched";
    case RolloutPhase::Ended:
      return "ended";
    case RolloutPhase::Aborted:
      return "aborted";
  }
  return "dispatching";
}

RolloutPlanner::RolloutPlanner(RolloutPolicy policy) : policy_(std::move(policy)) {}

std::vector<std::uint64_t> RolloutPlanner::group_boundaries(std::uint64_t total_things) const {
  std::vector<std::uint64_t> bounds{0};
  if (policy_.groups.empty()) {
    bounds.push_back(total_things);
    return bounds;
  }
  std::uint64_t cumulative = 0;
  for (const auto& group : policy_.groups) {
    cumulative += group.target.hundredths;
    bounds.push_back(std::min(total_things, (total_things * cumulative + 9999) / 10000));
  }
  bounds.back() = total_things;
  return bounds;
}

std::uint32_t RolloutPlanner::rate_per_minute(const ExecutionCounts& job) const {
  const auto& rollout = policy_.rollout;
  if (rollout.maximum_per_minute) return *rollout.maximum_per_minute;
  if (!rollout.exponential_rate) return kMaxRolloutPerMinute;
  const auto& exponential = *rollout.exponential_rate;
  std::uint64_t increases = 0;
  if (exponential.number_of_notified_things) {
    increases = std::max(increases, job.notified / *exponential.number_of_notified_things);
  }
  if (exponential.number_of_succeeded_things) {
    increases = std::max(increases, job.succeeded / *exponential.number_of_succeeded_things);
  }
  // Multiplying step by step stops at the cap after at most 73 steps (1.1^73 > 1000).
  const double factor = static_cast<double>(exponential.increment_factor_tenths) / 10.0;
  double rate = exponential.base_rate_per_minute;
  for (std::uint64_t i = 0; i < increases && rate < kMaxRolloutPerMinute; ++i) rate *= factor;
  return static_cast<std::uint32_t>(
      std::min<double>(kMaxRolloutPerMinute, std::floor(rate + 1e-9)));
}

Result<RolloutDecision> RolloutPlanner::decide(const RolloutSnapshot& snapshot) const {
  if (snapshot.total_things > kMaxThings) {
    return fail("rollout snapshot: " + std::to_string(snapshot.total_things) +
                " things is more than the planner handles (2^40)");
  }
  if (snapshot.groups.size() != policy_.groups.size()) {
    return fail("rollout snapshot: counts for " + std::to_string(snapshot.groups.size()) +
                " groups, but the policy has " + std::to_string(policy_.groups.size()));
  }
  RolloutDecision decision;
  decision.rate_per_minute = rate_per_minute(snapshot.job);
  const auto bounds = group_boundaries(snapshot.total_things);
  const std::size_t group_count = bounds.size() - 1;
  // Per-group counts; without groups, the job's counts are the one group's.
  const auto counts_of = [&](std::size_t group) -> const ExecutionCounts& {
    return policy_.groups.empty() ? snapshot.job : snapshot.groups[group];
  };
  const auto size_of = [&](std::size_t group) { return bounds[group + 1] - bounds[group]; };
  const auto name_of = [&](std::size_t group) -> std::string {
    return policy_.groups.empty() ? std::string("all things")
                                  : "'" + policy_.groups[group].name + "'";
  };

  // 1. Abort: AWS criteria in list order, then hawkBit-style group error thresholds.
  if (policy_.abort) {
    const std::uint64_t executed = snapshot.job.notified;
    for (std::size_t i = 0; i < policy_.abort->criteria_list.size(); ++i) {
      const auto& criteria = policy_.abort->criteria_list[i];
      const std::uint64_t failures = failures_of(criteria.failure_type, snapshot.job);
      if (executed >= criteria.min_number_of_executed_things &&
          reaches(failures, executed, criteria.threshold)) {
        decision.phase = RolloutPhase::Aborted;
        decision.abort =
            AbortVerdict{i, std::nullopt,
                         "abortConfig.criteriaList[" + std::to_string(i) +
                             "]: " + std::to_string(failures) + " of " + std::to_string(executed) +
                             " notified things (" + percent_text(failures, executed) + ") " +
                             std::string(to_string(criteria.failure_type)) + ", at least " +
                             threshold_text(criteria.threshold) + " of at least " +
                             std::to_string(criteria.min_number_of_executed_things) + " things"};
        break;
      }
    }
  }
  if (!decision.abort) {
    for (std::size_t g = 0; g < policy_.groups.size(); ++g) {
      const auto& threshold = policy_.groups[g].error_threshold;
      const std::uint64_t size = size_of(g);
      if (!threshold || size == 0) continue;
      const std::uint64_t failures = failures_of(JobExecutionFailureType::All, snapshot.groups[g]);
      if (exceeds(failures, size, *threshold)) {
        decision.phase = RolloutPhase::Aborted;
        decision.abort = AbortVerdict{
            std::nullopt, g,
            "rolloutGroups[" + std::to_string(g) + "] " + name_of(g) + ": " +
                std::to_string(failures) + " of its " + std::to_string(size) + " things (" +
                percent_text(failures, size) + ") failed, more than its error threshold " +
                threshold_text(*threshold)};
        break;
      }
    }
  }
  if (decision.abort) {
    decision.summary = "aborted: " + decision.abort->message;
    return decision;
  }

  // 2. Schedule.
  std::optional<RolloutTime> schedule_change;
  if (policy_.scheduling) {
    const auto status = evaluate_schedule(*policy_.scheduling, snapshot.job_start, snapshot.now);
    schedule_change = status.unchanged_until;
    decision.wake_at = schedule_change;
    switch (status.phase) {
      case SchedulePhase::Ended:
        decision.phase = RolloutPhase::Ended;
        decision.end_behavior = policy_.scheduling->effective_end_behavior();
        decision.summary = "ended at " + format_rollout_timestamp(*policy_.scheduling->end_time) +
                           " UTC: " + std::string(to_string(*decision.end_behavior));
        return decision;
      case SchedulePhase::NotStarted:
        decision.phase = RolloutPhase::NotStarted;
        decision.summary = "starts at " + format_rollout_timestamp(*schedule_change) + " UTC";
        return decision;
      case SchedulePhase::OutsideMaintenanceWindow:
        decision.phase = RolloutPhase::OutsideMaintenanceWindow;
        decision.summary = schedule_change ? "outside maintenance windows until " +
                                                 format_rollout_timestamp(*schedule_change) + " UTC"
                                           : "no maintenance window opens before endTime";
        return decision;
      case SchedulePhase::Open:
        break;
    }
  }

  // 3. Groups: started groups form a prefix; group g + 1 starts once group g reached its success
  // threshold and, when it has a pause gate, an operator approved it. Empty groups are skipped,
  // gate included.
  const auto approved = [&](const std::string& name) {
    return std::find(snapshot.approved_groups.begin(), snapshot.approved_groups.end(), name) !=
           snapshot.approved_groups.end();
  };
  std::size_t started = 0;
  std::optional<std::size_t> gate;
  while (started < group_count) {
    const std::size_t g = started;
    if (size_of(g) > 0) {
      if (g > 0) {
        std::size_t previous = g - 1;
        while (previous > 0 && size_of(previous) == 0) --previous;
        const bool previous_succeeded =
            size_of(previous) == 0 || reaches(counts_of(previous).succeeded, size_of(previous),
                                              policy_.groups[previous].success_threshold);
        if (!previous_succeeded) break;
      }
      if (!policy_.groups.empty() && policy_.groups[g].pause_before &&
          !approved(policy_.groups[g].name)) {
        gate = g;
        break;
      }
    }
    ++started;
  }
  decision.awaiting_approval = gate;
  std::optional<std::size_t> eligible;
  for (std::size_t g = 0; g < started; ++g) {
    if (counts_of(g).notified < size_of(g)) {
      eligible = g;
      break;
    }
  }
  if (!eligible) {
    if (started == group_count) {
      decision.phase = RolloutPhase::AllDispatched;
      decision.summary = "all " + std::to_string(snapshot.total_things) + " things notified";
    } else if (gate) {
      decision.phase = RolloutPhase::AwaitingApproval;
      decision.summary = "group " + name_of(*gate) + " waits for an operator's approval";
    } else {
      std::size_t awaited = started - 1;
      while (awaited > 0 && size_of(awaited) == 0) --awaited;
      decision.phase = RolloutPhase::AwaitingGroupSuccess;
      decision.summary = "group " + name_of(awaited) + ": " +
                         std::to_string(counts_of(awaited).succeeded) + " of " +
                         std::to_string(size_of(awaited)) + " things succeeded, " +
                         threshold_text(policy_.groups[awaited].success_threshold) +
                         " needed before the next group starts";
    }
    return decision;
  }

  // 4. Rate: at most rate_per_minute notifications in any 60-second window.
  const RolloutTime window_start = snapshot.now - kRateWindow;
  std::vector<RolloutTime> in_window;
  for (const RolloutTime time : snapshot.recent_dispatches) {
    if (time > window_start && time <= snapshot.now) in_window.push_back(time);
  }
  const std::uint64_t rate = decision.rate_per_minute;
  const std::uint64_t used = in_window.size();
  const std::uint64_t remaining = size_of(*eligible) - counts_of(*eligible).notified;
  if (used >= rate) {
    // Enough of the oldest must leave the window for one more to fit.
    const auto leaving = in_window.begin() + static_cast<std::ptrdiff_t>(used - rate);
    std::nth_element(in_window.begin(), leaving, in_window.end());
    decision.phase = RolloutPhase::RateLimited;
    decision.wake_at = earliest(schedule_change, *leaving + kRateWindow);
    decision.summary = std::to_string(used) + " things notified in the last 60 s, rate " +
                       std::to_string(rate) + " per minute";
    return decision;
  }
  decision.phase = RolloutPhase::Dispatching;
  decision.dispatch_count = std::min(rate - used, remaining);
  decision.dispatch_group = eligible;
  if (!in_window.empty()) {
    decision.wake_at = earliest(
        schedule_change, *std::min_element(in_window.begin(), in_window.end()) + kRateWindow);
  }
  decision.summary = "notify " + std::to_string(decision.dispatch_count) + " of " +
                     std::to_string(remaining) + " remaining things in group " +
                     name_of(*eligible) + " (rate " + std::to_string(rate) + " per minute)";
  return decision;
}

}  // namespace ironroot::fleet
