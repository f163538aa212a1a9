// When a job may roll out: AWS IoT's job scheduling configuration (CreateJob `schedulingConfig`,
// API reference "SchedulingConfig" and "MaintenanceWindow"):
//
//   {"startTime": "2025-03-01T22:00", "endTime": "2025-03-08T06:00",
//    "endBehavior": "STOP_ROLLOUT" | "CANCEL" | "FORCE_CANCEL",
//    "maintenanceWindows": [{"startTime": "cron(0 22 ? * SAT *)", "durationInMinutes": 480}]}
//
// Every field is optional. Times are UTC. AWS documents "YYYY-MM-DD for the date and HH:MM for the
// time"; ironroot reads `YYYY-MM-DDTHH:MM`, optionally with `:SS` and a trailing `Z`, and writes
// `YYYY-MM-DDTHH:MM` (with `:SS` only when the seconds are not zero).
//
// A maintenance window opens at each minute its cron expression matches and stays open for
// durationInMinutes (1..1430, the API reference's range; a window is shorter than a day). With
// windows, the rollout notifies things only while some window is open and between startTime and
// endTime. This file is pure: the caller passes the time, nothing here reads a clock.
#pragma once

#include <bitset>
#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ironroot/core/result.hpp"

namespace ironroot::fleet {

// A point in time, UTC, in milliseconds (rate limits at 1000 per minute need sub-second times).
using RolloutTime = std::chrono::sys_time<std::chrono::milliseconds>;

// Parses `YYYY-MM-DDTHH:MM[:SS][Z]` (UTC). Refuses other offsets, fractions and impossible dates,
// saying which.
Result<RolloutTime> parse_rollout_timestamp(std::string_view text);

// `YYYY-MM-DDTHH:MM`, or `YYYY-MM-DDTHH:MM:SS` when the seconds are not zero (milliseconds are
// dropped). parse_rollout_timestamp(format_rollout_timestamp(t)) == t for whole seconds.
std::string format_rollout_timestamp(RolloutTime time);

// AWS's cron subset for maintenance windows (the EventBridge cron syntax, "Cron expressions
// reference" in the EventBridge user guide): `cron(minutes hours day-of-month month day-of-week
// year)`, six fields separated by spaces, all UTC.
//   minutes 0-59, hours 0-23, day-of-month 1-31, month 1-12 or JAN-DEC, day-of-week 1-7 or
//   SUN-SAT (1 is Sunday), year 1970-2199.
// Each field is `*`, a value, a range `a-b`, a step `*/n`, `a/n` or `a-b/n`, or a list of those
// separated by commas; names are case-insensitive. `?` ("any") is allowed only in day-of-month
// and day-of-week, and exactly one of those two must be `?` (AWS: "If you specify a value or a *
// in one of the fields, you must use a ? in the other"). Refused, with a message saying so: the
// `L`, `W` and `#` wildcards, ranges that wrap around (`FRI-MON`: write `FRI-SAT,SUN-MON`), values
// out of range, and anything else. Immutable, copyable.
class CronSchedule {
 public:
  // REQUIRES: nothing. The error names the field and what is wrong with it.
  static Result<CronSchedule> parse(std::string_view text);

  // True when the minute that contains `time` matches every field.
  bool matches(RolloutTime time) const;

  // The start of the first matching minute at or after `time` (a `time` inside a minute counts
  // from the next minute start, unless it is exactly on one), or nullopt when none comes before
  // the end of 2199.
  std::optional<RolloutTime> next_at_or_after(RolloutTime time) const;

  // The expression as given.
  const std::string& text() const { return text_; }

 private:
  CronSchedule() = default;
  bool day_matches(std::chrono::sys_days day) const;

  std::string text_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_of_month_;  // bit 1..31
  std::bitset<13> months_;         // bit 1..12
  std::bitset<8> days_of_week_;    // bit 1..7, 1 = Sunday
  std::bitset<230> years_;         // bit y - 1970
  bool by_day_of_month_ = true;    // false: day-of-month is `?` and day-of-week decides
};

inline constexpr std::uint32_t kMinMaintenanceWindowMinutes = 1;
inline constexpr std::uint32_t kMaxMaintenanceWindowMinutes = 1430;
// ironroot's bound on the number of windows (AWS documents none); keeps evaluation bounded.
inline constexpr std::size_t kMaxMaintenanceWindows = 32;

struct MaintenanceWindow {
  CronSchedule start;
  std::uint32_t duration_minutes = 0;
};

// What happens to the job's executions at endTime (API reference "SchedulingConfig"):
// STOP_ROLLOUT notifies no further things and lets notified executions run on; CANCEL also
// cancels the executions that have not started (QUEUED); FORCE_CANCEL cancels in-progress
// executions too. The service carries these out; the planner only reports which one applies.
enum class JobEndBehavior { StopRollout, Cancel, ForceCancel };

std::string_view to_string(JobEndBehavior behavior);

struct SchedulingConfig {
  std::optional<RolloutTime> start_time;
  std::optional<RolloutTime> end_time;
  // As given; nullopt means STOP_ROLLOUT (ironroot's default: the least destructive one).
  std::optional<JobEndBehavior> end_behavior;
  std::vector<MaintenanceWindow> maintenance_windows;

  JobEndBehavior effective_end_behavior() const {
    return end_behavior.value_or(JobEndBehavior::StopRollout);
  }
};

// Parses `schedulingConfig` (the object itself). Checks every field: types, unknown keys, the
// timestamps, endTime at least 30 minutes after startTime and at most two years (731 days) after
// it (API reference "SchedulingConfig"), the cron expressions and durations. Errors start with
// the field's path ("schedulingConfig.maintenanceWindows[1].durationInMinutes: ...").
Result<SchedulingConfig> parse_scheduling_config(const nlohmann::json& json);
nlohmann::json to_json(const SchedulingConfig& config);

// The checks AWS makes against the current time when a job is created: startTime at least 30
// minutes and at most a year (366 days) ahead, endTime at least 30 minutes and at most two years
// (731 days) ahead. Separate from parsing because a stored job is re-read later.
Status check_schedule_at_creation(const SchedulingConfig& config, RolloutTime now);

enum class SchedulePhase {
  NotStarted,                // before the effective start
  OutsideMaintenanceWindow,  // between start and end, but no window is open
  Open,                      // things may be notified
  Ended,                     // at or after endTime
};

std::string_view to_string(SchedulePhase phase);

struct ScheduleStatus {
  SchedulePhase phase = SchedulePhase::Open;
  // The phase stays the same at least until this time (it may stay the same after it too, for
  // long chains of overlapping windows); nullopt: it never changes with time alone.
  std::optional<RolloutTime> unchanged_until;
};

// Where `now` falls. The effective start is the later of `job_start` (when the job was created)
// and startTime.
ScheduleStatus evaluate_schedule(const SchedulingConfig& config, RolloutTime job_start,
                                 RolloutTime now);

}  // namespace ironroot::fleet
