// How a job reaches its things: rate, abort criteria, schedule and rollout groups, and the pure
// planner that turns them, with the job's counters and the time, into "notify this many now".
//
// The formats are AWS IoT's CreateJob fields (API reference "CreateJob",
// "JobExecutionsRolloutConfig", "ExponentialRolloutRate", "RateIncreaseCriteria", "AbortConfig",
// "AbortCriteria"; scheduling in rollout_schedule.hpp) plus ironroot's `rolloutGroups`:
//
//   "jobExecutionsRolloutConfig": {"maximumPerMinute": 1..1000}
//                               | {"exponentialRate": {"baseRatePerMinute": 1..1000,
//                                    "incrementFactor": 1.1..5 (one decimal),
//                                    "rateIncreaseCriteria": {"numberOfNotifiedThings": 1..1000000,
//                                                             "numberOfSucceededThings": 1..1000000}}}
//   "abortConfig": {"criteriaList": [{"failureType": "FAILED"|"REJECTED"|"TIMED_OUT"|"ALL",
//                                     "action": "CANCEL", "thresholdPercentage": (0, 100] (two
//                                     decimals), "minNumberOfExecutedThings": >= 1}]}
//   "rolloutGroups": [{"name": "canary", "targetPercentage": (0, 100] (two decimals; all groups
//                      add up to exactly 100), "successThresholdPercentage": [0, 100],
//                      "errorThresholdPercentage": [0, 100) (optional), "pauseBefore": false}]
//
// rateIncreaseCriteria holds at least one of its two counts. Semantics and the reasons for them
// are in docs/rollouts.md; the contracts are above each declaration. Nothing here reads a clock,
// touches storage or talks to devices: the service passes in the time and the counters.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ironroot/core/result.hpp"
#include "ironroot/fleet/rollout_schedule.hpp"

namespace ironroot::fleet {

// AWS IoT notifies at most 1000 things a minute ("maximumPerMinute" and "baseRatePerMinute" are
// 1..1000; the developer guide's job limits give 1000 rollouts a minute). Also ironroot's rate
// when a job has no rollout configuration, and the cap of an exponential rate.
inline constexpr std::uint32_t kMaxRolloutPerMinute = 1000;
inline constexpr std::uint32_t kMaxRateIncreaseCriterion = 1000000;
// Bounds on list lengths (AWS documents none for criteriaList; hawkBit's default quota is 500
// groups per rollout, hawkbit-repository-defaults.properties).
inline constexpr std::size_t kMaxAbortCriteria = 16;
inline constexpr std::size_t kMaxRolloutGroups = 500;
inline constexpr std::size_t kMaxRolloutGroupNameLength = 128;

// A percentage with two decimals, as a whole number of hundredths of a percent (12.25 % is 1225,
// 100 % is 10000), so thresholds compare exactly.
struct Percentage {
  std::uint32_t hundredths = 0;
  friend bool operator==(Percentage, Percentage) = default;
};

struct ExponentialRolloutRate {
  std::uint32_t base_rate_per_minute = 1;
  // incrementFactor in tenths (1.5 is 15); AWS allows one decimal.
  std::uint32_t increment_factor_tenths = 20;
  // RateIncreaseCriteria: at least one is set.
  std::optional<std::uint32_t> number_of_notified_things;
  std::optional<std::uint32_t> number_of_succeeded_things;
};

// At most one of the two is set; neither means kMaxRolloutPerMinute.
struct JobExecutionsRolloutConfig {
  std::optional<std::uint32_t> maximum_per_minute;
  std::optional<ExponentialRolloutRate> exponential_rate;
};

enum class JobExecutionFailureType { Failed, Rejected, TimedOut, All };

std::string_view to_string(JobExecutionFailureType type);

// AbortCriteria; its only action is CANCEL.
struct AbortCriteria {
  JobExecutionFailureType failure_type = JobExecutionFailureType::All;
  Percentage threshold;  // (0, 100]
  std::uint64_t min_number_of_executed_things = 1;
};

struct AbortConfig {
  std::vector<AbortCriteria> criteria_list;  // 1..kMaxAbortCriteria entries
};

// One stage of a staged rollout (hawkBit's rollout group, docs/rollout-management.md in
// eclipse-hawkbit/hawkbit). Groups are ordered; the job's things are split among them by
// targetPercentage in the job's dispatch order (see RolloutPlanner::group_boundaries).
struct RolloutGroup {
  std::string name;  // unique in the job; letters, digits, '-', '_', ':', '.'
  Percentage target;
  // The next group starts once succeeded / size >= this (hawkBit's success condition,
  // ThresholdRolloutGroupSuccessCondition: finished / total >= threshold; an empty group
  // has succeeded).
  Percentage success_threshold;
  // The job aborts once failures (FAILED + REJECTED + TIMED_OUT) / size > this (hawkBit's error
  // condition, ThresholdRolloutGroupErrorCondition: error / total > threshold; never for an empty
  // group).
  std::optional<Percentage> error_threshold;
  // The group starts only after an operator approved it by name (hawkBit's "Pause" success
  // action, which waits for a manual resume, placed before the group it holds).
  bool pause_before = false;
};

// Everything that decides how a job rolls out.
struct RolloutPolicy {
  JobExecutionsRolloutConfig rollout;
  std::optional<AbortConfig> abort;
  std::optional<SchedulingConfig> scheduling;
  std::vector<RolloutGroup> groups;  // empty: one implicit group of all things, no gates

  // Reads `jobExecutionsRolloutConfig`, `abortConfig`, `schedulingConfig` and `rolloutGroups`
  // from a CreateJob request body; other keys are the jobs service's and are ignored here. Each
  // is optional. The error starts with the path of the field at fault.
  static Result<RolloutPolicy> from_json(const nlohmann::json& create_job_request);
  // The same keys, only those that are set. from_json(to_json()) gives an equal policy.
  nlohmann::json to_json() const;
};

Result<JobExecutionsRolloutConfig> parse_job_executions_rollout_config(const nlohmann::json& json);
Result<AbortConfig> parse_abort_config(const nlohmann::json& json);
Result<std::vector<RolloutGroup>> parse_rollout_groups(const nlohmann::json& json);
nlohmann::json to_json(const JobExecutionsRolloutConfig& config);
nlohmann::json to_json(const AbortConfig& config);
nlohmann::json to_json(const std::vector<RolloutGroup>& groups);

// Counts of a job's executions, or of one group's. `notified` counts every thing that has been
// notified of the job (an execution was created and announced), whatever its status now; the
// others count executions now in that terminal status.
struct ExecutionCounts {
  std::uint64_t notified = 0;
  std::uint64_t succeeded = 0;
  std::uint64_t failed = 0;
  std::uint64_t rejected = 0;
  std::uint64_t timed_out = 0;
};

// What the planner needs to know at one moment.
struct RolloutSnapshot {
  RolloutTime now;
  RolloutTime job_start;  // when the job was created
  std::uint64_t total_things = 0;
  ExecutionCounts job;
  // One entry per policy group, in order (empty when the policy has no groups). A group's
  // things are those RolloutPlanner::group_boundaries assigns to it.
  std::span<const ExecutionCounts> groups;
  // The times of the notifications sent within the last 60 s (older ones are ignored; any order).
  std::span<const RolloutTime> recent_dispatches;
  // Names of the groups an operator approved (their pause gates are open).
  std::span<const std::string> approved_groups;
};

enum class RolloutPhase {
  Dispatching,               // dispatch_count things may be notified now
  RateLimited,               // the rate allows none now
  NotStarted,                // before the schedule's start
  OutsideMaintenanceWindow,  // no maintenance window is open
  AwaitingApproval,          // a pause gate holds the next group (awaiting_approval)
  AwaitingGroupSuccess,      // the started groups are all notified; the last one has not yet
                             // reached its success threshold
  AllDispatched,             // every thing has been notified
  Ended,                     // endTime passed: apply end_behavior
  Aborted,                   // an abort criterion or a group error threshold fired: cancel
};

std::string_view to_string(RolloutPhase phase);

struct AbortVerdict {
  // Exactly one is set: the index in abortConfig.criteriaList, or the group whose error
  // threshold was exceeded.
  std::optional<std::size_t> criterion;
  std::optional<std::size_t> group;
  std::string message;  // "42 of 200 notified things (21.00%) FAILED, at least 20% ..."
};

struct RolloutDecision {
  RolloutPhase phase = RolloutPhase::Dispatching;
  // How many more things may be notified now, all from group `dispatch_group` (the first started
  // group with things not yet notified; 0 without groups). Zero unless phase is Dispatching.
  std::uint64_t dispatch_count = 0;
  std::optional<std::size_t> dispatch_group;
  // The current rate in things per minute (the exponential rate's present step).
  std::uint32_t rate_per_minute = 0;
  // The group whose pause gate holds, whatever the phase (dispatching earlier groups' remaining
  // things goes on meanwhile).
  std::optional<std::size_t> awaiting_approval;
  std::optional<AbortVerdict> abort;           // set when phase is Aborted
  std::optional<JobEndBehavior> end_behavior;  // set when phase is Ended
  // With the same counters, dispatches and approvals, the decision stays the same until at least
  // this time: sleep until then (or until an execution changes status, or an operator approves).
  // nullopt: only such an event can change it.
  std::optional<RolloutTime> wake_at;
  std::string summary;  // one line for logs and the dashboard
};

// The rollout state machine, as a pure function of the policy and a snapshot. Immutable and
// thread-compatible; cheap to copy.
//
// Order of the rules: abort (criteria in list order, then group error thresholds), then the
// schedule's end, start and windows, then group gates, then the rate. Rate: at most
// rate_per_minute notifications in any 60-second sliding window (a notification at t counts
// until t + 60 s). Exponential: the rate is floor(base x factor^k + 1e-9), capped at 1000, where
// k is the number of times a criterion count was reached: max over the configured criteria of
// floor(count / criterion), count being notified or succeeded things.
class RolloutPlanner {
 public:
  explicit RolloutPlanner(RolloutPolicy policy);

  const RolloutPolicy& policy() const { return policy_; }

  // Group i holds the things at dispatch positions [b[i], b[i+1]) with b[0] = 0 and
  // b[i+1] = ceil(total x (sum of the targets of groups 0..i) / 100 %), so the last boundary is
  // `total_things` and no thing is left out. Without groups: {0, total_things}.
  // REQUIRES: total_things <= 2^40.
  std::vector<std::uint64_t> group_boundaries(std::uint64_t total_things) const;

  // The current notification rate for the job's counts.
  std::uint32_t rate_per_minute(const ExecutionCounts& job) const;

  // The decision at snapshot.now. Fails only for a snapshot that does not fit the policy
  // (a group count that differs from the policy's, more than 2^40 things).
  Result<RolloutDecision> decide(const RolloutSnapshot& snapshot) const;

 private:
  RolloutPolicy policy_;
};

}  // namespace ironroot::fleet
