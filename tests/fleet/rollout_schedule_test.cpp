// Job scheduling (rollout_schedule.hpp): timestamps, AWS's cron subset, maintenance windows
// across midnight, week and year boundaries, and the start, end and end behaviour.
#include "ironroot/fleet/rollout_schedule.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace ironroot::fleet {
namespace {

using namespace std::chrono;
using nlohmann::json;

RolloutTime at(const char* text) {
  auto time = parse_rollout_timestamp(text);
  EXPECT_TRUE(time) << text << ": " << time.error().message;
  return time.value_or(RolloutTime{});
}

CronSchedule cron(const char* text) {
  auto schedule = CronSchedule::parse(text);
  EXPECT_TRUE(schedule) << text << ": " << schedule.error().message;
  return *schedule;
}

std::string next(const CronSchedule& schedule, const char* from) {
  auto time = schedule.next_at_or_after(at(from));
  return time ? format_rollout_timestamp(*time) : "never";
}

SchedulingConfig scheduling(const char* json_text) {
  auto config = parse_scheduling_config(json::parse(json_text));
  EXPECT_TRUE(config) << config.error().message;
  return *config;
}

TEST(RolloutTimestamp, ParsesAwsFormatsAndWritesMinutes) {
  EXPECT_EQ(at("1970-01-01T00:00"), RolloutTime{});
  EXPECT_EQ(at("2025-03-01T22:30"), RolloutTime{sys_days{2025y / March / 1} + 22h + 30min});
  EXPECT_EQ(at("2025-03-01T22:30Z"), at("2025-03-01T22:30"));
  EXPECT_EQ(at("2025-03-01T22:30:15Z"), at("2025-03-01T22:30") + 15s);
  EXPECT_EQ(at("2024-02-29T00:00"), RolloutTime{sys_days{2024y / February / 29}});
  EXPECT_EQ(format_rollout_timestamp(at("2025-03-01T22:30Z")), "2025-03-01T22:30");
  EXPECT_EQ(format_rollout_timestamp(at("2025-03-01T22:30:07")), "2025-03-01T22:30:07");
  for (const char* bad : {"2025-03-01", "2025-03-01 22:30", "2025-03-01T22:30+01:00",
                          "2025-03-01T22:30:00.5Z", "2025-13-01T00:00", "2023-02-29T00:00",
                          "2025-03-01T24:00", "2025-03-01T23:60", "", "2025-3-1T1:00"}) {
    auto time = parse_rollout_timestamp(bad);
    ASSERT_FALSE(time) << bad;
    EXPECT_NE(time.error().message.find("YYYY-MM-DDTHH:MM"), std::string::npos);
  }
}

TEST(CronSchedule, AcceptsTheAwsSubset) {
  for (const char* text :
       {"cron(0 0 ? * SUN *)", "cron(0 10 * * ? *)", "cron(15 12 * * ? *)",
        "cron(0 18 ? * MON-FRI *)", "cron(0 8 1 * ? *)", "cron(0/15 * * * ? *)",
        "cron(0/10 * ? * MON-FRI *)", "cron(0/5 8-17 ? * MON-FRI *)", "cron(*/20 1,3,5 ? * 2-6 *)",
        "cron(30 2 ? JAN,jul sat 2025-2030)", "cron(0 0 1-31/2 * ? *)", "cron(  0  0 ? * 1 * )"}) {
    EXPECT_TRUE(CronSchedule::parse(text))
        << text << ": " << CronSchedule::parse(text).error().message;
  }
}

TEST(CronSchedule, RefusesWhatItDoesNotSupportSayingSo) {
  const std::vector<std::pair<const char*, const char*>> cases = {
      {"cron(0 0 L * ? *)", "the L and W wildcards are not supported"},
      {"cron(0 0 3W * ? *)", "the L and W wildcards are not supported"},
      {"cron(0 0 ? * 6L *)", "the L wildcard is not supported"},
      {"cron(0 0 ? * L *)", "the L wildcard is not supported"},
      {"cron(0 0 ? * 3#2 *)", "the # wildcard is not supported"},
      {"cron(0 0 * * *)", "needs 6 fields"},
      {"cron(0 0 0 * * ? *)", "needs 6 fields"},
      {"cron(0 0 * * * *)", "exactly one of day-of-month and day-of-week must be ?"},
      {"cron(0 0 ? * ? *)", "exactly one of day-of-month and day-of-week must be ?"},
      {"cron(0 0 ? * FRI-MON *)", "runs backwards"},
      {"cron(60 0 * * ? *)", "minutes field '60': 60 is out of range (0-59)"},
      {"cron(0 24 * * ? *)", "hours field '24': 24 is out of range (0-23)"},
      {"cron(0 0 0 * ? *)", "day-of-month field '0': 0 is out of range (1-31)"},
      {"cron(0 0 ? 13 * *)", "month field '13': 13 is out of range (1-12 or JAN-DEC)"},
      {"cron(0 0 ? * 8 *)", "day-of-week field '8': 8 is out of range (1-7 or SUN-SAT)"},
      {"cron(0 0 * * ? 1969)", "year field '1969': 1969 is out of range (1970-2199)"},
      {"cron(0 0 ? * SUNDAY *)", "'SUNDAY' is not a value"},
      {"cron(0/0 0 * * ? *)", "step '0' must be a number from 1 to 60"},
      {"cron(? 0 * * ? *)", "? is allowed only in day-of-month and day-of-week"},
      {"cron(1,,2 0 * * ? *)", "empty list item"},
      {"0 0 * * ? *", "is not a cron expression"},
      {"rate(5 minutes)", "is not a cron expression"},
  };
  for (const auto& [text, expected] : cases) {
    auto schedule = CronSchedule::parse(text);
    ASSERT_FALSE(schedule) << text;
    EXPECT_NE(schedule.error().message.find(expected), std::string::npos)
        << text << "\n expected: " << expected << "\n      got: " << schedule.error().message;
  }
  EXPECT_FALSE(CronSchedule::parse(std::string(300, ' ')));
}

TEST(CronSchedule, FindsTheNextMatchingMinute) {
  // 2025-03-05 is a Wednesday.
  const auto saturday_night = cron("cron(0 22 ? * SAT *)");
  EXPECT_EQ(next(saturday_night, "2025-03-05T10:00"), "2025-03-08T22:00");
  EXPECT_EQ(next(saturday_night, "2025-03-08T22:00"), "2025-03-08T22:00");  // at a match
  EXPECT_EQ(next(saturday_night, "2025-03-08T22:00:01"), "2025-03-15T22:00");
  EXPECT_TRUE(saturday_night.matches(at("2025-03-08T22:00:59")));
  EXPECT_FALSE(saturday_night.matches(at("2025-03-08T22:01")));
  EXPECT_FALSE(saturday_night.matches(at("2025-03-09T22:00")));

  const auto quarter_hours = cron("cron(0/15 * * * ? *)");
  EXPECT_EQ(next(quarter_hours, "2025-03-05T10:01"), "2025-03-05T10:15");
  EXPECT_EQ(next(quarter_hours, "2025-03-05T23:46"), "2025-03-06T00:00");
  const auto offset_steps = cron("cron(5/20 * * * ? *)");
  EXPECT_EQ(next(offset_steps, "2025-03-05T10:26"), "2025-03-05T10:45");
  EXPECT_EQ(next(offset_steps, "2025-03-05T10:46"), "2025-03-05T11:05");

  const auto weekdays = cron("cron(0 18 ? * MON-FRI *)");
  EXPECT_EQ(next(weekdays, "2025-03-07T18:01"), "2025-03-10T18:00");  // Friday -> Monday
  const auto first_of_month = cron("cron(0 8 1 * ? *)");
  EXPECT_EQ(next(first_of_month, "2025-12-01T08:01"), "2026-01-01T08:00");
  const auto leap_day = cron("cron(0 0 29 FEB ? *)");
  EXPECT_EQ(next(leap_day, "2025-01-01T00:00"), "2028-02-29T00:00");
  const auto one_year = cron("cron(30 1 1 1 ? 2030)");
  EXPECT_EQ(next(one_year, "2025-06-01T00:00"), "2030-01-01T01:30");
  EXPECT_EQ(next(one_year, "2030-01-01T01:31"), "never");
  EXPECT_EQ(next(cron("cron(0 0 30 2 ? *)"), "2025-01-01T00:00"), "never");
  EXPECT_EQ(next(cron("cron(0 0 * * ? 2199)"), "2199-12-31T00:01"), "never");
  EXPECT_EQ(next(cron("cron(0 0 * * ? 2199)"), "2199-12-30T12:00"), "2199-12-31T00:00");
  EXPECT_EQ(next(cron("cron(59 23 31 12 ? *)"), "1960-01-01T00:00"), "1970-12-31T23:59");
}

TEST(MaintenanceWindow, SpansMidnight) {
  const auto config = scheduling(
      R"J({"maintenanceWindows": [{"startTime": "cron(0 22 * * ? *)", "durationInMinutes": 480}]})J");
  const RolloutTime job_start = at("2025-03-01T00:00");
  const auto check = [&](const char* now, SchedulePhase phase, const char* until) {
    const auto status = evaluate_schedule(config, job_start, at(now));
    EXPECT_EQ(status.phase, phase) << now;
    ASSERT_TRUE(status.unchanged_until) << now;
    EXPECT_EQ(format_rollout_timestamp(*status.unchanged_until), until) << now;
  };
  check("2025-03-05T21:59:59", SchedulePhase::OutsideMaintenanceWindow, "2025-03-05T22:00");
  check("2025-03-05T22:00", SchedulePhase::Open, "2025-03-06T06:00");
  check("2025-03-05T23:59", SchedulePhase::Open, "2025-03-06T06:00");
  check("2025-03-06T00:00", SchedulePhase::Open, "2025-03-06T06:00");
  check("2025-03-06T05:59:59", SchedulePhase::Open, "2025-03-06T06:00");
  check("2025-03-06T06:00", SchedulePhase::OutsideMaintenanceWindow, "2025-03-06T22:00");
}

TEST(MaintenanceWindow, SpansTheWeekAndTheYear) {
  // Saturday 20:00 for 1430 minutes: until Sunday 19:50. 2025-03-08 is a Saturday.
  const auto weekend = scheduling(
      R"J({"maintenanceWindows": [{"startTime": "cron(0 20 ? * SAT *)", "durationInMinutes": 1430}]})J");
  const RolloutTime job_start = at("2025-01-01T00:00");
  auto status = evaluate_schedule(weekend, job_start, at("2025-03-09T19:49"));
  EXPECT_EQ(status.phase, SchedulePhase::Open);
  EXPECT_EQ(format_rollout_timestamp(*status.unchanged_until), "2025-03-09T19:50");
  status = evaluate_schedule(weekend, job_start, at("2025-03-09T19:50"));
  EXPECT_EQ(status.phase, SchedulePhase::OutsideMaintenanceWindow);
  EXPECT_EQ(format_rollout_timestamp(*status.unchanged_until), "2025-03-15T20:00");
  status = evaluate_schedule(weekend, job_start, at("2025-03-08T19:59"));
  EXPECT_EQ(status.phase, SchedulePhase::OutsideMaintenanceWindow);

  // New Year's Eve 22:00 for four hours, listed with a second window: the union counts.
  const auto year_end = scheduling(R"J({"maintenanceWindows": [
      {"startTime": "cron(0 22 31 DEC ? *)", "durationInMinutes": 240},
      {"startTime": "cron(0 12 ? * MON *)", "durationInMinutes": 60}]})J");
  status = evaluate_schedule(year_end, job_start, at("2026-01-01T01:30"));
  EXPECT_EQ(status.phase, SchedulePhase::Open);
  EXPECT_EQ(format_rollout_timestamp(*status.unchanged_until), "2026-01-01T02:00");
  status = evaluate_schedule(year_end, job_start, at("2026-01-01T02:00"));
  EXPECT_EQ(status.phase, SchedulePhase::OutsideMaintenanceWindow);
  EXPECT_EQ(format_rollout_timestamp(*status.unchanged_until), "2026-01-05T12:00");  // Monday
}

TEST(MaintenanceWindow, OverlappingOccurrencesChain) {
  // Every 10 minutes for 15 minutes: always open; the chain is followed far enough ahead.
  const auto config = scheduling(
      R"J({"maintenanceWindows": [{"startTime": "cron(0/10 * * * ? *)", "durationInMinutes": 15}]})J");
  const RolloutTime now = at("2025-03-05T10:03");
  const auto status = evaluate_schedule(config, now, now);
  EXPECT_EQ(status.phase, SchedulePhase::Open);
  ASSERT_TRUE(status.unchanged_until);
  EXPECT_GE(*status.unchanged_until, now + hours(48));
  // Two windows open at once: open until the later one closes.
  const auto both = scheduling(R"J({"maintenanceWindows": [
      {"startTime": "cron(0 9 * * ? *)", "durationInMinutes": 120},
      {"startTime": "cron(0 10 * * ? *)", "durationInMinutes": 30}]})J");
  const auto open = evaluate_schedule(both, now, at("2025-03-05T10:10"));
  EXPECT_EQ(format_rollout_timestamp(*open.unchanged_until), "2025-03-05T11:00");
}

TEST(Schedule, StartEndAndEndBehaviour) {
  const auto config = scheduling(
      R"J({"startTime": "2025-03-01T22:00", "endTime": "2025-03-02T06:00", "endBehavior": "FORCE_CANCEL"})J");
  const RolloutTime created = at("2025-03-01T12:00");
  auto status = evaluate_schedule(config, created, at("2025-03-01T21:59:59"));
  EXPECT_EQ(status.phase, SchedulePhase::NotStarted);
  EXPECT_EQ(status.unchanged_until, at("2025-03-01T22:00"));
  status = evaluate_schedule(config, created, at("2025-03-01T22:00"));
  EXPECT_EQ(status.phase, SchedulePhase::Open);
  EXPECT_EQ(status.unchanged_until, at("2025-03-02T06:00"));
  status = evaluate_schedule(config, created, at("2025-03-02T06:00"));
  EXPECT_EQ(status.phase, SchedulePhase::Ended);
  EXPECT_FALSE(status.unchanged_until);
  EXPECT_EQ(config.effective_end_behavior(), JobEndBehavior::ForceCancel);
  // A job created after startTime starts when created.
  status = evaluate_schedule(config, at("2025-03-01T23:00"), at("2025-03-01T22:30"));
  EXPECT_EQ(status.phase, SchedulePhase::NotStarted);
  EXPECT_EQ(status.unchanged_until, at("2025-03-01T23:00"));
  // Without endBehavior: STOP_ROLLOUT, and it is not written back.
  const auto plain = scheduling(R"J({"endTime": "2025-03-02T06:00"})J");
  EXPECT_EQ(plain.effective_end_behavior(), JobEndBehavior::StopRollout);
  EXPECT_EQ(to_json(plain), json::parse(R"J({"endTime": "2025-03-02T06:00"})J"));
  // Windows end at endTime.
  const auto windowed = scheduling(R"J({"endTime": "2025-03-06T23:00", "maintenanceWindows": [
      {"startTime": "cron(0 22 * * ? *)", "durationInMinutes": 480}]})J");
  status = evaluate_schedule(windowed, created, at("2025-03-06T22:30"));
  EXPECT_EQ(status.phase, SchedulePhase::Open);
  EXPECT_EQ(status.unchanged_until, at("2025-03-06T23:00"));
  status = evaluate_schedule(windowed, created, at("2025-03-06T12:00"));
  EXPECT_EQ(status.phase, SchedulePhase::OutsideMaintenanceWindow);
  EXPECT_EQ(status.unchanged_until, at("2025-03-06T22:00"));
}

TEST(Schedule, CreationChecksAgainstNow) {
  const RolloutTime now = at("2025-03-01T12:00");
  const auto config =
      scheduling(R"J({"startTime": "2025-03-01T12:30", "endTime": "2027-03-01T12:00"})J");
  EXPECT_TRUE(check_schedule_at_creation(config, now));
  auto status = check_schedule_at_creation(config, now + minutes(1));
  ASSERT_FALSE(status);
  EXPECT_NE(status.error().message.find("schedulingConfig.startTime: must be at least 30 minutes"),
            std::string::npos);
  const auto far = scheduling(R"J({"startTime": "2026-03-03T12:00"})J");
  status = check_schedule_at_creation(far, now);
  ASSERT_FALSE(status);
  EXPECT_NE(status.error().message.find("at most a year"), std::string::npos);
  const auto late_end = scheduling(R"J({"endTime": "2027-03-03T12:00"})J");
  status = check_schedule_at_creation(late_end, now);
  ASSERT_FALSE(status);
  EXPECT_NE(status.error().message.find("schedulingConfig.endTime: must be at most two years"),
            std::string::npos);
}

}  // namespace
}  // namespace ironroot::fleet
