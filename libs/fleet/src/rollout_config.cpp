// Parsing and writing the rollout configuration (rollout.hpp) with AWS IoT's field names.
#include <set>

#include "ironroot/fleet/rollout.hpp"
#include "rollout_json.hpp"

namespace ironroot::fleet {

namespace {

using rollout_json::element;
using rollout_json::json;
using rollout_json::member;

Status require(const json& object, std::string_view path, std::initializer_list<const char*> keys) {
  for (const char* key : keys) {
    if (!object.contains(key)) return fail(member(path, key) + ": is required");
  }
  return {};
}

Result<Percentage> percentage(const json& value, std::string_view path, bool zero_allowed,
                              double max) {
  auto scaled = rollout_json::scaled_decimal(value, path, 2, 0.0, !zero_allowed, max);
  if (!scaled) return tl::unexpected(scaled.error());
  return Percentage{*scaled};
}

bool valid_group_name(std::string_view name) {
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == ':' || c == '.';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

std::string_view to_string(JobExecutionFailureType type) {
  switch (type) {
    case JobExecutionFailureType::Failed:
      return "FAILED";
    case JobExecutionFailureType::Rejected:
      return "REJECTED";
    case JobExecutionFailureType::TimedOut:
      return "TIMED_OUT";
    case JobExecutionFailureType::All:
      return "ALL";
  }
  return "ALL";
}

Result<JobExecutionsRolloutConfig> parse_job_executions_rollout_config(const json& value) {
  constexpr std::string_view path = "jobExecutionsRolloutConfig";
  if (auto status =
          rollout_json::expect_object(value, path, {"maximumPerMinute", "exponentialRate"});
      !status) {
    return tl::unexpected(status.error());
  }
  if (value.contains("maximumPerMinute") && value.contains("exponentialRate")) {
    return fail(std::string(path) + ": give either maximumPerMinute or exponentialRate, not both");
  }
  JobExecutionsRolloutConfig config;
  if (value.contains("maximumPerMinute")) {
    auto rate = rollout_json::integer(value.at("maximumPerMinute"),
                                      member(path, "maximumPerMinute"), 1, kMaxRolloutPerMinute);
    if (!rate) return tl::unexpected(rate.error());
    config.maximum_per_minute = static_cast<std::uint32_t>(*rate);
  }
  if (value.contains("exponentialRate")) {
    const std::string at = member(path, "exponentialRate");
    const json& exponential = value.at("exponentialRate");
    if (auto status = rollout_json::expect_object(
            exponential, at, {"baseRatePerMinute", "incrementFactor", "rateIncreaseCriteria"});
        !status) {
      return tl::unexpected(status.error());
    }
    if (auto status = require(exponential, at,
                              {"baseRatePerMinute", "incrementFactor", "rateIncreaseCriteria"});
        !status) {
      return tl::unexpected(status.error());
    }
    ExponentialRolloutRate rate;
    auto base = rollout_json::integer(exponential.at("baseRatePerMinute"),
                                      member(at, "baseRatePerMinute"), 1, kMaxRolloutPerMinute);
    if (!base) return tl::unexpected(base.error());
    rate.base_rate_per_minute = static_cast<std::uint32_t>(*base);
    auto factor = rollout_json::scaled_decimal(exponential.at("incrementFactor"),
                                               member(at, "incrementFactor"), 1, 1.1, false, 5.0);
    if (!factor) return tl::unexpected(factor.error());
    rate.increment_factor_tenths = *factor;
    const std::string criteria_path = member(at, "rateIncreaseCriteria");
    const json& criteria = exponential.at("rateIncreaseCriteria");
    if (auto status = rollout_json::expect_object(
            criteria, criteria_path, {"numberOfNotifiedThings", "numberOfSucceededThings"});
        !status) {
      return tl::unexpected(status.error());
    }
    if (criteria.empty()) {
      return fail(criteria_path + ": give numberOfNotifiedThings, numberOfSucceededThings or both");
    }
    for (const char* key : {"numberOfNotifiedThings", "numberOfSucceededThings"}) {
      if (!criteria.contains(key)) continue;
      auto count = rollout_json::integer(criteria.at(key), member(criteria_path, key), 1,
                                         kMaxRateIncreaseCriterion);
      if (!count) return tl::unexpected(count.error());
      (std::string_view(key) == "numberOfNotifiedThings" ? rate.number_of_notified_things
                                                         : rate.number_of_succeeded_things) =
          static_cast<std::uint32_t>(*count);
    }
    config.exponential_rate = rate;
  }
  return config;
}

json to_json(const JobExecutionsRolloutConfig& config) {
  json out = json::object();
  if (config.maximum_per_minute) out["maximumPerMinute"] = *config.maximum_per_minute;
  if (config.exponential_rate) {
    const auto& rate = *config.exponential_rate;
    json criteria = json::object();
    if (rate.number_of_notified_things) {
      criteria["numberOfNotifiedThings"] = *rate.number_of_notified_things;
    }
    if (rate.number_of_succeeded_things) {
      criteria["numberOfSucceededThings"] = *rate.number_of_succeeded_things;
    }
    out["exponentialRate"] = {
        {"baseRatePerMinute", rate.base_rate_per_minute},
        {"incrementFactor", rollout_json::unscaled(rate.increment_factor_tenths, 1)},
        {"rateIncreaseCriteria", std::move(criteria)}};
  }
  return out;
}

Result<AbortConfig> parse_abort_config(const json& value) {
  constexpr std::string_view path = "abortConfig";
  if (auto status = rollout_json::expect_object(value, path, {"criteriaList"}); !status) {
    return tl::unexpected(status.error());
  }
  if (auto status = require(value, path, {"criteriaList"}); !status) {
    return tl::unexpected(status.error());
  }
  const std::string list_path = member(path, "criteriaList");
  const json& list = value.at("criteriaList");
  if (!list.is_array() || list.empty() || list.size() > kMaxAbortCriteria) {
    return fail(list_path + ": must be an array of 1 to " + std::to_string(kMaxAbortCriteria) +
                " criteria");
  }
  AbortConfig config;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string at = element(list_path, i);
    const json& entry = list[i];
    if (auto status = rollout_json::expect_object(
            entry, at,
            {"failureType", "action", "thresholdPercentage", "minNumberOfExecutedThings"});
        !status) {
      return tl::unexpected(status.error());
    }
    if (auto status =
            require(entry, at,
                    {"failureType", "action", "thresholdPercentage", "minNumberOfExecutedThings"});
        !status) {
      return tl::unexpected(status.error());
    }
    AbortCriteria criteria;
    auto type = rollout_json::string(entry.at("failureType"), member(at, "failureType"), 16);
    if (!type) return tl::unexpected(type.error());
    if (*type == "FAILED") {
      criteria.failure_type = JobExecutionFailureType::Failed;
    } else if (*type == "REJECTED") {
      criteria.failure_type = JobExecutionFailureType::Rejected;
    } else if (*type == "TIMED_OUT") {
      criteria.failure_type = JobExecutionFailureType::TimedOut;
    } else if (*type == "ALL") {
      criteria.failure_type = JobExecutionFailureType::All;
    } else {
      return fail(member(at, "failureType") + ": '" + *type +
                  "' is not one of FAILED, REJECTED, TIMED_OUT, ALL");
    }
    auto action = rollout_json::string(entry.at("action"), member(at, "action"), 16);
    if (!action) return tl::unexpected(action.error());
    if (*action != "CANCEL") {
      return fail(member(at, "action") + ": '" + *action + "' is not CANCEL (the only action)");
    }
    auto threshold =
        percentage(entry.at("thresholdPercentage"), member(at, "thresholdPercentage"), false, 100);
    if (!threshold) return tl::unexpected(threshold.error());
    criteria.threshold = *threshold;
    auto minimum = rollout_json::integer(entry.at("minNumberOfExecutedThings"),
                                         member(at, "minNumberOfExecutedThings"), 1, INT32_MAX);
    if (!minimum) return tl::unexpected(minimum.error());
    criteria.min_number_of_executed_things = *minimum;
    config.criteria_list.push_back(criteria);
  }
  return config;
}

json to_json(const AbortConfig& config) {
  json list = json::array();
  for (const auto& criteria : config.criteria_list) {
    list.push_back(
        {{"failureType", std::string(to_string(criteria.failure_type))},
         {"action", "CANCEL"},
         {"thresholdPercentage", rollout_json::unscaled(criteria.threshold.hundredths, 2)},
         {"minNumberOfExecutedThings", criteria.min_number_of_executed_things}});
  }
  return {{"criteriaList", std::move(list)}};
}

Result<std::vector<RolloutGroup>> parse_rollout_groups(const json& value) {
  constexpr std::string_view path = "rolloutGroups";
  if (!value.is_array() || value.empty() || value.size() > kMaxRolloutGroups) {
    return fail(std::string(path) + ": must be an array of 1 to " +
                std::to_string(kMaxRolloutGroups) + " groups");
  }
  std::vector<RolloutGroup> groups;
  std::set<std::string> names;
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const std::string at = element(path, i);
    const json& entry = value[i];
    if (auto status =
            rollout_json::expect_object(entry, at,
                                        {"name", "targetPercentage", "successThresholdPercentage",
                                         "errorThresholdPercentage", "pauseBefore"});
        !status) {
      return tl::unexpected(status.error());
    }
    if (auto status =
            require(entry, at, {"name", "targetPercentage", "successThresholdPercentage"});
        !status) {
      return tl::unexpected(status.error());
    }
    RolloutGroup group;
    auto name =
        rollout_json::string(entry.at("name"), member(at, "name"), kMaxRolloutGroupNameLength);
    if (!name) return tl::unexpected(name.error());
    if (!valid_group_name(*name)) {
      return fail(member(at, "name") + ": '" + *name +
                  "' may hold only letters, digits and - _ : .");
    }
    if (!names.insert(*name).second) {
      return fail(member(at, "name") + ": '" + *name + "' names two groups; names must be unique");
    }
    group.name = *name;
    auto target =
        percentage(entry.at("targetPercentage"), member(at, "targetPercentage"), false, 100);
    if (!target) return tl::unexpected(target.error());
    group.target = *target;
    total += target->hundredths;
    auto success = percentage(entry.at("successThresholdPercentage"),
                              member(at, "successThresholdPercentage"), true, 100);
    if (!success) return tl::unexpected(success.error());
    group.success_threshold = *success;
    if (entry.contains("errorThresholdPercentage")) {
      const std::string field = member(at, "errorThresholdPercentage");
      auto error = percentage(entry.at("errorThresholdPercentage"), field, true, 100);
      if (!error) return tl::unexpected(error.error());
      if (error->hundredths == 10000) {
        return fail(field +
                    ": failures can never exceed 100%; omit errorThresholdPercentage "
                    "to never abort on this group's failures");
      }
      group.error_threshold = *error;
    }
    if (entry.contains("pauseBefore")) {
      auto pause = rollout_json::boolean(entry.at("pauseBefore"), member(at, "pauseBefore"));
      if (!pause) return tl::unexpected(pause.error());
      group.pause_before = *pause;
    }
    groups.push_back(std::move(group));
  }
  if (total != 10000) {
    return fail(std::string(path) + ": the groups' targetPercentage values add up to " +
                rollout_json::show(rollout_json::unscaled(
                    static_cast<std::uint32_t>(std::min<std::uint64_t>(total, UINT32_MAX)), 2)) +
                "; they must add up to exactly 100");
  }
  return groups;
}

json to_json(const std::vector<RolloutGroup>& groups) {
  json list = json::array();
  for (const auto& group : groups) {
    json entry = {{"name", group.name},
                  {"targetPercentage", rollout_json::unscaled(group.target.hundredths, 2)},
                  {"successThresholdPercentage",
                   rollout_json::unscaled(group.success_threshold.hundredths, 2)},
                  {"pauseBefore", group.pause_before}};
    if (group.error_threshold) {
      entry["errorThresholdPercentage"] =
          rollout_json::unscaled(group.error_threshold->hundredths, 2);
    }
    list.push_back(std::move(entry));
  }
  return list;
}

Result<RolloutPolicy> RolloutPolicy::from_json(const json& request) {
  if (!request.is_object()) {
    return fail("job request: must be an object, not " + rollout_json::show(request));
  }
  RolloutPolicy policy;
  if (request.contains("jobExecutionsRolloutConfig")) {
    auto rollout = parse_job_executions_rollout_config(request.at("jobExecutionsRolloutConfig"));
    if (!rollout) return tl::unexpected(rollout.error());
    policy.rollout = *rollout;
  }
  if (request.contains("abortConfig")) {
    auto abort = parse_abort_config(request.at("abortConfig"));
    if (!abort) return tl::unexpected(abort.error());
    policy.abort = std::move(*abort);
  }
  if (request.contains("schedulingConfig")) {
    auto scheduling = parse_scheduling_config(request.at("schedulingConfig"));
    if (!scheduling) return tl::unexpected(scheduling.error());
    policy.scheduling = std::move(*scheduling);
  }
  if (request.contains("rolloutGroups")) {
    auto groups = parse_rollout_groups(request.at("rolloutGroups"));
    if (!groups) return tl::unexpected(groups.error());
    policy.groups = std::move(*groups);
  }
  return policy;
}

json RolloutPolicy::to_json() const {
  json out = json::object();
  if (rollout.maximum_per_minute || rollout.exponential_rate) {
    out["jobExecutionsRolloutConfig"] = fleet::to_json(rollout);
  }
  if (abort) out["abortConfig"] = fleet::to_json(*abort);
  if (scheduling) out["schedulingConfig"] = fleet::to_json(*scheduling);
  if (!groups.empty()) out["rolloutGroups"] = fleet::to_json(groups);
  return out;
}

}  // namespace ironroot::fleet
