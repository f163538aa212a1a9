#include "ironroot/fleet/rollout_schedule.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdio>

#include "rollout_json.hpp"

namespace ironroot::fleet {

namespace {

using namespace std::chrono;
using rollout_json::element;
using rollout_json::json;
using rollout_json::member;

constexpr int kFirstCronYear = 1970;
constexpr int kLastCronYear = 2199;
// How far evaluate_schedule follows a chain of overlapping windows before it stops and reports
// the chain's end as "at least this late". Bounds the work for expressions such as every minute.
constexpr auto kWindowChainHorizon = hours(48);

std::optional<int> two_digits(std::string_view text, std::size_t at) {
  if (at + 2 > text.size() || !std::isdigit(static_cast<unsigned char>(text[at])) ||
      !std::isdigit(static_cast<unsigned char>(text[at + 1]))) {
    return std::nullopt;
  }
  return (text[at] - '0') * 10 + (text[at + 1] - '0');
}

RolloutTime floor_minute(RolloutTime time) {
  return floor<minutes>(time);
}

// ---- cron fields ---------------------------------------------------------------------------

struct FieldSpec {
  const char* name;
  int min;
  int max;
  const std::array<const char*, 12>* names;  // names[i] is the value min + i, or nullptr
  bool allows_any;                           // `?`
};

constexpr std::array<const char*, 12> kMonthNames = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                     "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<const char*, 12> kDayNames = {
    "SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", nullptr, nullptr, nullptr, nullptr, nullptr};

constexpr std::array<FieldSpec, 6> kFields = {{
    {"minutes", 0, 59, nullptr, false},
    {"hours", 0, 23, nullptr, false},
    {"day-of-month", 1, 31, nullptr, true},
    {"month", 1, 12, &kMonthNames, false},
    {"day-of-week", 1, 7, &kDayNames, true},
    {"year", kFirstCronYear, kLastCronYear, nullptr, false},
}};

std::string describe_range(const FieldSpec& spec) {
  std::string text = std::to_string(spec.min) + "-" + std::to_string(spec.max);
  if (spec.names != nullptr) {
    const int last = spec.max - spec.min;
    text += " or " + std::string((*spec.names)[0]) + "-" +
            std::string((*spec.names)[static_cast<std::size_t>(last)]);
  }
  return text;
}

Result<int> field_value(const FieldSpec& spec, std::string_view text) {
  if (text.empty()) return fail("a value is missing");
  if (std::isdigit(static_cast<unsigned char>(text[0]))) {
    int value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size()) {
      return fail("'" + std::string(text) + "' is not a number");
    }
    if (value < spec.min || value > spec.max) {
      return fail(std::to_string(value) + " is out of range (" + describe_range(spec) + ")");
    }
    return value;
  }
  if (spec.names != nullptr && text.size() == 3) {
    std::string upper(text);
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    for (int i = 0; i <= spec.max - spec.min; ++i) {
      if (upper == (*spec.names)[static_cast<std::size_t>(i)]) return spec.min + i;
    }
  }
  return fail("'" + std::string(text) + "' is not a value (" + describe_range(spec) + ")");
}

// Sets the bits of one comma-separated item: `*`, `a`, `a-b`, each optionally followed by `/n`.
Status parse_item(const FieldSpec& spec, std::string_view item, std::vector<bool>& bits) {
  std::string_view base = item;
  int step = 1;
  bool stepped = false;
  if (const auto slash = item.find('/'); slash != std::string_view::npos) {
    base = item.substr(0, slash);
    const std::string_view step_text = item.substr(slash + 1);
    int value = 0;
    const auto [end, error] =
        std::from_chars(step_text.data(), step_text.data() + step_text.size(), value);
    if (step_text.empty() || error != std::errc() || end != step_text.data() + step_text.size() ||
        value < 1 || value > spec.max - spec.min + 1) {
      return fail("step '" + std::string(step_text) + "' must be a number from 1 to " +
                  std::to_string(spec.max - spec.min + 1));
    }
    step = value;
    stepped = true;
  }
  int first = spec.min;
  int last = spec.max;
  if (base != "*") {
    const auto dash = base.find('-');
    auto from = field_value(spec, base.substr(0, dash));
    if (!from) return tl::unexpected(from.error());
    first = *from;
    if (dash != std::string_view::npos) {
      auto to = field_value(spec, base.substr(dash + 1));
      if (!to) return tl::unexpected(to.error());
      if (*to < first) {
        return fail("range '" + std::string(base) +
                    "' runs backwards; ranges do not wrap around, write two ranges as a list "
                    "(for example FRI-SAT,SUN-MON)");
      }
      last = *to;
    } else if (!stepped) {
      last = first;
    }
  }
  for (int value = first; value <= last; value += step) {
    bits[static_cast<std::size_t>(value - spec.min)] = true;
  }
  return {};
}

// Parses one field into bits indexed by value - spec.min; returns false for `?`.
Result<bool> parse_field(const FieldSpec& spec, std::string_view text, std::vector<bool>& bits) {
  const auto refuse = [&](const std::string& why) {
    return fail(std::string(spec.name) + " field '" + std::string(text) + "': " + why);
  };
  if (text == "?") {
    if (!spec.allows_any) return refuse("? is allowed only in day-of-month and day-of-week");
    return false;
  }
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const char upper = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if ((upper == 'L' || upper == 'W') && spec.names == nullptr) {
      return refuse("the L and W wildcards are not supported by ironroot");
    }
    if (c == '#') return refuse("the # wildcard is not supported by ironroot");
    if (upper == 'L' && spec.names != nullptr && i + 1 == text.size() &&
        (i == 0 || std::isdigit(static_cast<unsigned char>(text[i - 1])))) {
      return refuse("the L wildcard is not supported by ironroot");
    }
    if (c == '?') return refuse("? must stand alone");
  }
  bits.assign(static_cast<std::size_t>(spec.max - spec.min + 1), false);
  std::size_t start = 0;
  while (true) {
    const auto comma = text.find(',', start);
    const std::string_view item = text.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    if (item.empty()) return refuse("empty list item");
    if (auto status = parse_item(spec, item, bits); !status) return refuse(status.error().message);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return true;
}

template <std::size_t N>
std::bitset<N> to_bitset(const std::vector<bool>& bits, int offset) {
  std::bitset<N> out;
  for (std::size_t i = 0; i < bits.size(); ++i) {
    if (bits[i]) out.set(i + static_cast<std::size_t>(offset));
  }
  return out;
}

}  // namespace

// ---- timestamps -----------------------------------------------------------------------------

Result<RolloutTime> parse_rollout_timestamp(std::string_view text) {
  const auto refuse = [&](std::string_view why) {
    return fail("'" + std::string(text.substr(0, 64)) + "' " + std::string(why) +
                " (expected YYYY-MM-DDTHH:MM in UTC, optionally with :SS and Z)");
  };
  std::string_view body = text;
  if (!body.empty() && body.back() == 'Z') body.remove_suffix(1);
  if (body.size() != 16 && body.size() != 19) return refuse("is not a timestamp");
  const auto century = two_digits(body, 0);
  const auto year2 = two_digits(body, 2);
  const auto month = two_digits(body, 5);
  const auto day = two_digits(body, 8);
  const auto hour = two_digits(body, 11);
  const auto minute = two_digits(body, 14);
  std::optional<int> second = 0;
  if (body.size() == 19) {
    if (body[16] != ':') return refuse("is not a timestamp");
    second = two_digits(body, 17);
  }
  if (!century || !year2 || !month || !day || !hour || !minute || !second || body[4] != '-' ||
      body[7] != '-' || body[10] != 'T' || body[13] != ':') {
    return refuse("is not a timestamp");
  }
  const year_month_day date{year{*century * 100 + *year2}, std::chrono::month{unsigned(*month)},
                            std::chrono::day{unsigned(*day)}};
  if (!date.ok()) return refuse("is not a calendar date");
  if (*hour > 23 || *minute > 59 || *second > 59) return refuse("is not a time of day");
  return RolloutTime{sys_days{date} + hours{*hour} + minutes{*minute} + seconds{*second}};
}

std::string format_rollout_timestamp(RolloutTime time) {
  const auto day = floor<days>(time);
  const year_month_day date{day};
  const hh_mm_ss clock{floor<seconds>(time - day)};
  char text[32];
  const int length = std::snprintf(text, sizeof text, "%04d-%02u-%02uT%02d:%02d", int(date.year()),
                                   unsigned(date.month()), unsigned(date.day()),
                                   int(clock.hours().count()), int(clock.minutes().count()));
  std::string out(text, static_cast<std::size_t>(length));
  if (clock.seconds().count() != 0) {
    std::snprintf(text, sizeof text, ":%02d", int(clock.seconds().count()));
    out += text;
  }
  return out;
}

// ---- cron -----------------------------------------------------------------------------------

Result<CronSchedule> CronSchedule::parse(std::string_view text) {
  constexpr std::size_t kMaxLength = 256;  // MaintenanceWindow.startTime's length limit
  if (text.size() > kMaxLength) {
    return fail("cron expression is longer than " + std::to_string(kMaxLength) + " characters");
  }
  if (text.substr(0, 5) != "cron(" || text.empty() || text.back() != ')') {
    return fail("'" + std::string(text) +
                "' is not a cron expression; write cron(minutes hours day-of-month month "
                "day-of-week year), for example cron(0 22 ? * SAT *)");
  }
  const std::string_view inner = text.substr(5, text.size() - 6);
  std::vector<std::string_view> fields;
  std::size_t at = 0;
  while (at < inner.size()) {
    while (at < inner.size() && (inner[at] == ' ' || inner[at] == '\t')) ++at;
    if (at >= inner.size()) break;
    std::size_t end = at;
    while (end < inner.size() && inner[end] != ' ' && inner[end] != '\t') ++end;
    fields.push_back(inner.substr(at, end - at));
    at = end;
  }
  if (fields.size() != kFields.size()) {
    return fail("'" + std::string(text) +
                "' needs 6 fields (minutes hours day-of-month month day-of-week year), found " +
                std::to_string(fields.size()));
  }
  CronSchedule schedule;
  schedule.text_ = std::string(text);
  std::array<std::vector<bool>, 6> bits;
  std::array<bool, 6> specific{};
  for (std::size_t i = 0; i < kFields.size(); ++i) {
    auto parsed = parse_field(kFields[i], fields[i], bits[i]);
    if (!parsed) return tl::unexpected(parsed.error());
    specific[i] = *parsed;
  }
  if (specific[2] == specific[4]) {
    return fail("'" + std::string(text) +
                "': exactly one of day-of-month and day-of-week must be ? (AWS: a value or * in "
                "one of them needs ? in the other)");
  }
  schedule.minutes_ = to_bitset<60>(bits[0], 0);
  schedule.hours_ = to_bitset<24>(bits[1], 0);
  schedule.by_day_of_month_ = specific[2];
  if (specific[2]) schedule.days_of_month_ = to_bitset<32>(bits[2], 1);
  schedule.months_ = to_bitset<13>(bits[3], 1);
  if (specific[4]) schedule.days_of_week_ = to_bitset<8>(bits[4], 1);
  schedule.years_ = to_bitset<230>(bits[5], 0);
  return schedule;
}

bool CronSchedule::day_matches(sys_days day) const {
  const year_month_day date{day};
  const int y = int(date.year());
  if (y < kFirstCronYear || y > kLastCronYear) return false;
  if (!years_.test(static_cast<std::size_t>(y - kFirstCronYear))) return false;
  if (!months_.test(unsigned(date.month()))) return false;
  if (by_day_of_month_) return days_of_month_.test(unsigned(date.day()));
  return days_of_week_.test(weekday{day}.c_encoding() + 1);
}

bool CronSchedule::matches(RolloutTime time) const {
  const auto day = floor<days>(time);
  const hh_mm_ss clock{floor<minutes>(time - day)};
  return day_matches(day) && hours_.test(static_cast<std::size_t>(clock.hours().count())) &&
         minutes_.test(static_cast<std::size_t>(clock.minutes().count()));
}

std::optional<RolloutTime> CronSchedule::next_at_or_after(RolloutTime time) const {
  const RolloutTime first = ceil<minutes>(time);
  const sys_days first_day = floor<days>(first);
  const sys_days last_day{year{kLastCronYear} / December / 31};
  const sys_days earliest_day{year{kFirstCronYear} / January / 1};
  sys_days day = std::max(first_day, earliest_day);
  while (day <= last_day) {
    const year_month_day date{day};
    const int y = int(date.year());
    if (!years_.test(static_cast<std::size_t>(y - kFirstCronYear))) {
      day = sys_days{year{y + 1} / January / 1};
      continue;
    }
    if (!months_.test(unsigned(date.month()))) {
      day = sys_days{(date.year() / date.month() / 1) + std::chrono::months{1}};
      continue;
    }
    if (day_matches(day)) {
      const int from = day == first_day
                           ? static_cast<int>(duration_cast<minutes>(first - first_day).count())
                           : 0;
      for (int hour = from / 60; hour < 24; ++hour) {
        if (!hours_.test(static_cast<std::size_t>(hour))) continue;
        for (int minute = hour == from / 60 ? from % 60 : 0; minute < 60; ++minute) {
          if (minutes_.test(static_cast<std::size_t>(minute))) {
            return RolloutTime{day + hours{hour} + minutes{minute}};
          }
        }
      }
    }
    day += days{1};
  }
  return std::nullopt;
}

// ---- scheduling config ----------------------------------------------------------------------

std::string_view to_string(JobEndBehavior behavior) {
  switch (behavior) {
    case JobEndBehavior::StopRollout:
      return "STOP_ROLLOUT";
    case JobEndBehavior::Cancel:
      return "CANCEL";
    case JobEndBehavior::ForceCancel:
      return "FORCE_CANCEL";
  }
  return "STOP_ROLLOUT";
}

std::string_view to_string(SchedulePhase phase) {
  switch (phase) {
    case SchedulePhase::NotStarted:
      return "not started";
    case SchedulePhase::OutsideMaintenanceWindow:
      return "outside maintenance window";
    case SchedulePhase::Open:
      return "open";
    case SchedulePhase::Ended:
      return "ended";
  }
  return "open";
}

Result<SchedulingConfig> parse_scheduling_config(const json& value) {
  constexpr std::string_view path = "schedulingConfig";
  if (auto status = rollout_json::expect_object(
          value, path, {"startTime", "endTime", "endBehavior", "maintenanceWindows"});
      !status) {
    return tl::unexpected(status.error());
  }
  SchedulingConfig config;
  for (const char* key : {"startTime", "endTime"}) {
    if (!value.contains(key)) continue;
    const std::string field = member(path, key);
    auto text = rollout_json::string(value.at(key), field, 64);
    if (!text) return tl::unexpected(text.error());
    auto time = parse_rollout_timestamp(*text);
    if (!time) return prefixed(time.error(), field);
    (std::string_view(key) == "startTime" ? config.start_time : config.end_time) = *time;
  }
  if (config.start_time && config.end_time) {
    const auto span = *config.end_time - *config.start_time;
    if (span < minutes(30) || span > days(731)) {
      return fail(member(path, "endTime") +
                  ": must be at least 30 minutes and at most two years after startTime");
    }
  }
  if (value.contains("endBehavior")) {
    const std::string field = member(path, "endBehavior");
    auto text = rollout_json::string(value.at("endBehavior"), field, 32);
    if (!text) return tl::unexpected(text.error());
    if (*text == "STOP_ROLLOUT") {
      config.end_behavior = JobEndBehavior::StopRollout;
    } else if (*text == "CANCEL") {
      config.end_behavior = JobEndBehavior::Cancel;
    } else if (*text == "FORCE_CANCEL") {
      config.end_behavior = JobEndBehavior::ForceCancel;
    } else {
      return fail(field + ": '" + *text + "' is not one of STOP_ROLLOUT, CANCEL, FORCE_CANCEL");
    }
  }
  if (value.contains("maintenanceWindows")) {
    const std::string field = member(path, "maintenanceWindows");
    const json& windows = value.at("maintenanceWindows");
    if (!windows.is_array()) {
      return fail(field + ": must be an array, not " + rollout_json::show(windows));
    }
    if (windows.size() > kMaxMaintenanceWindows) {
      return fail(field + ": " + std::to_string(windows.size()) + " windows; ironroot accepts " +
                  std::to_string(kMaxMaintenanceWindows) + " at most");
    }
    for (std::size_t i = 0; i < windows.size(); ++i) {
      const std::string at = element(field, i);
      const json& window = windows[i];
      if (auto status = rollout_json::expect_object(window, at, {"startTime", "durationInMinutes"});
          !status) {
        return tl::unexpected(status.error());
      }
      for (const char* key : {"startTime", "durationInMinutes"}) {
        if (!window.contains(key)) return fail(member(at, key) + ": is required");
      }
      auto text = rollout_json::string(window.at("startTime"), member(at, "startTime"), 256);
      if (!text) return tl::unexpected(text.error());
      auto cron = CronSchedule::parse(*text);
      if (!cron) return prefixed(cron.error(), member(at, "startTime"));
      auto duration =
          rollout_json::integer(window.at("durationInMinutes"), member(at, "durationInMinutes"),
                                kMinMaintenanceWindowMinutes, kMaxMaintenanceWindowMinutes);
      if (!duration) return tl::unexpected(duration.error());
      config.maintenance_windows.push_back({*cron, static_cast<std::uint32_t>(*duration)});
    }
  }
  return config;
}

json to_json(const SchedulingConfig& config) {
  json out = json::object();
  if (config.start_time) out["startTime"] = format_rollout_timestamp(*config.start_time);
  if (config.end_time) out["endTime"] = format_rollout_timestamp(*config.end_time);
  if (config.end_behavior) out["endBehavior"] = std::string(to_string(*config.end_behavior));
  if (!config.maintenance_windows.empty()) {
    json windows = json::array();
    for (const auto& window : config.maintenance_windows) {
      windows.push_back(
          {{"startTime", window.start.text()}, {"durationInMinutes", window.duration_minutes}});
    }
    out["maintenanceWindows"] = std::move(windows);
  }
  return out;
}

Status check_schedule_at_creation(const SchedulingConfig& config, RolloutTime now) {
  if (config.start_time) {
    if (*config.start_time < now + minutes(30)) {
      return fail("schedulingConfig.startTime: must be at least 30 minutes from now (" +
                  format_rollout_timestamp(now) + " UTC)");
    }
    if (*config.start_time > now + days(366)) {
      return fail("schedulingConfig.startTime: must be at most a year from now");
    }
  }
  if (config.end_time) {
    if (*config.end_time < now + minutes(30)) {
      return fail("schedulingConfig.endTime: must be at least 30 minutes from now (" +
                  format_rollout_timestamp(now) + " UTC)");
    }
    if (*config.end_time > now + days(731)) {
      return fail("schedulingConfig.endTime: must be at most two years from now");
    }
  }
  return {};
}

namespace {

// When `now` is inside an occurrence of `window`: the end of the chain of overlapping
// occurrences that contains it (followed up to `now + kWindowChainHorizon`).
std::optional<RolloutTime> open_until(const MaintenanceWindow& window, RolloutTime now) {
  const minutes duration{window.duration_minutes};
  const RolloutTime minute = floor_minute(now);
  for (minutes back{0}; back < duration; ++back) {
    const RolloutTime start = minute - back;
    if (!window.start.matches(start)) continue;
    RolloutTime end = start + duration;
    const RolloutTime horizon = now + kWindowChainHorizon;
    auto next = window.start.next_at_or_after(start + minutes(1));
    while (next && *next < end && end < horizon) {
      end = std::max(end, *next + duration);
      next = window.start.next_at_or_after(*next + minutes(1));
    }
    return end;
  }
  return std::nullopt;
}

std::optional<RolloutTime> earliest(std::optional<RolloutTime> a, std::optional<RolloutTime> b) {
  if (!a) return b;
  if (!b) return a;
  return std::min(*a, *b);
}

}  // namespace

ScheduleStatus evaluate_schedule(const SchedulingConfig& config, RolloutTime job_start,
                                 RolloutTime now) {
  if (config.end_time && now >= *config.end_time) return {SchedulePhase::Ended, std::nullopt};
  const RolloutTime start = std::max(job_start, config.start_time.value_or(job_start));
  if (now < start) return {SchedulePhase::NotStarted, earliest(start, config.end_time)};
  if (config.maintenance_windows.empty()) return {SchedulePhase::Open, config.end_time};
  std::optional<RolloutTime> open;
  for (const auto& window : config.maintenance_windows) {
    if (auto until = open_until(window, now); until && (!open || *until > *open)) open = until;
  }
  if (open) return {SchedulePhase::Open, earliest(open, config.end_time)};
  std::optional<RolloutTime> next;
  for (const auto& window : config.maintenance_windows) {
    next = earliest(next, window.start.next_at_or_after(now));
  }
  return {SchedulePhase::OutsideMaintenanceWindow, earliest(next, config.end_time)};
}

}  // namespace ironroot::fleet
