// The rollout configuration formats (rollout.hpp): AWS IoT's CreateJob fields and ironroot's
// rolloutGroups, parsed, validated and written back.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "ironroot/fleet/rollout.hpp"

namespace ironroot::fleet {
namespace {

using nlohmann::json;

const json kFullRequest = json::parse(R"J({
  "jobId": "firmware-2-1",
  "targets": ["arn:aws:iot:::thinggroup/sensors"],
  "jobExecutionsRolloutConfig": {
    "exponentialRate": {"baseRatePerMinute": 50, "incrementFactor": 1.5,
                        "rateIncreaseCriteria": {"numberOfNotifiedThings": 1000,
                                                 "numberOfSucceededThings": 500}}},
  "abortConfig": {"criteriaList": [
    {"failureType": "FAILED", "action": "CANCEL", "thresholdPercentage": 12.5,
     "minNumberOfExecutedThings": 100},
    {"failureType": "ALL", "action": "CANCEL", "thresholdPercentage": 30,
     "minNumberOfExecutedThings": 10}]},
  "schedulingConfig": {"startTime": "2025-03-01T22:00", "endTime": "2025-03-08T06:00",
                       "endBehavior": "CANCEL",
                       "maintenanceWindows": [{"startTime": "cron(0 22 ? * SAT *)",
                                               "durationInMinutes": 480}]},
  "rolloutGroups": [
    {"name": "canary", "targetPercentage": 1, "successThresholdPercentage": 100,
     "errorThresholdPercentage": 0},
    {"name": "early", "targetPercentage": 9.5, "successThresholdPercentage": 95,
     "pauseBefore": true},
    {"name": "rest", "targetPercentage": 89.5, "successThresholdPercentage": 0}]
})J");

TEST(RolloutConfig, ParsesEveryFieldOfACreateJobRequest) {
  auto policy = RolloutPolicy::from_json(kFullRequest);
  ASSERT_TRUE(policy) << policy.error().message;
  ASSERT_TRUE(policy->rollout.exponential_rate);
  EXPECT_FALSE(policy->rollout.maximum_per_minute);
  EXPECT_EQ(policy->rollout.exponential_rate->base_rate_per_minute, 50u);
  EXPECT_EQ(policy->rollout.exponential_rate->increment_factor_tenths, 15u);
  EXPECT_EQ(policy->rollout.exponential_rate->number_of_notified_things, 1000u);
  EXPECT_EQ(policy->rollout.exponential_rate->number_of_succeeded_things, 500u);
  ASSERT_TRUE(policy->abort);
  ASSERT_EQ(policy->abort->criteria_list.size(), 2u);
  EXPECT_EQ(policy->abort->criteria_list[0].failure_type, JobExecutionFailureType::Failed);
  EXPECT_EQ(policy->abort->criteria_list[0].threshold, Percentage{1250});
  EXPECT_EQ(policy->abort->criteria_list[0].min_number_of_executed_things, 100u);
  EXPECT_EQ(policy->abort->criteria_list[1].failure_type, JobExecutionFailureType::All);
  ASSERT_TRUE(policy->scheduling);
  EXPECT_EQ(policy->scheduling->end_behavior, JobEndBehavior::Cancel);
  ASSERT_EQ(policy->scheduling->maintenance_windows.size(), 1u);
  EXPECT_EQ(policy->scheduling->maintenance_windows[0].duration_minutes, 480u);
  ASSERT_EQ(policy->groups.size(), 3u);
  EXPECT_EQ(policy->groups[0].name, "canary");
  EXPECT_EQ(policy->groups[0].error_threshold, Percentage{0});
  EXPECT_EQ(policy->groups[1].target, Percentage{950});
  EXPECT_TRUE(policy->groups[1].pause_before);
  EXPECT_FALSE(policy->groups[2].error_threshold);
  EXPECT_EQ(policy->groups[2].success_threshold, Percentage{0});
}

TEST(RolloutConfig, WritesBackWhatItRead) {
  auto policy = RolloutPolicy::from_json(kFullRequest);
  ASSERT_TRUE(policy) << policy.error().message;
  const json written = policy->to_json();
  EXPECT_FALSE(written.contains("jobId"));
  EXPECT_EQ(written["jobExecutionsRolloutConfig"], kFullRequest["jobExecutionsRolloutConfig"]);
  EXPECT_EQ(written["abortConfig"], kFullRequest["abortConfig"]);
  EXPECT_EQ(written["schedulingConfig"], kFullRequest["schedulingConfig"]);
  json groups = kFullRequest["rolloutGroups"];
  groups[0]["pauseBefore"] = false;  // written explicitly
  groups[2]["pauseBefore"] = false;
  EXPECT_EQ(written["rolloutGroups"], groups);
  auto again = RolloutPolicy::from_json(written);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->to_json(), written);
}

TEST(RolloutConfig, AnEmptyRequestHasNoLimitsBeyondAws) {
  auto policy = RolloutPolicy::from_json(json::object());
  ASSERT_TRUE(policy) << policy.error().message;
  EXPECT_FALSE(policy->abort);
  EXPECT_FALSE(policy->scheduling);
  EXPECT_TRUE(policy->groups.empty());
  EXPECT_EQ(RolloutPlanner(*policy).rate_per_minute({}), kMaxRolloutPerMinute);
  EXPECT_EQ(policy->to_json(), json::object());
}

TEST(RolloutConfig, MaximumPerMinuteRange) {
  for (int rate : {1, 1000}) {
    auto config = parse_job_executions_rollout_config(json{{"maximumPerMinute", rate}});
    ASSERT_TRUE(config) << config.error().message;
    EXPECT_EQ(config->maximum_per_minute, static_cast<std::uint32_t>(rate));
  }
}

TEST(RolloutConfig, IncrementFactorBoundsAndOneDecimal) {
  const auto parse = [](json factor) {
    return parse_job_executions_rollout_config(
        json{{"exponentialRate",
              {{"baseRatePerMinute", 10},
               {"incrementFactor", factor},
               {"rateIncreaseCriteria", {{"numberOfSucceededThings", 5}}}}}});
  };
  EXPECT_EQ(parse(1.1)->exponential_rate->increment_factor_tenths, 11u);
  EXPECT_EQ(parse(5)->exponential_rate->increment_factor_tenths, 50u);
  EXPECT_EQ(parse(2.3)->exponential_rate->increment_factor_tenths, 23u);
  for (json bad : {json(1.0), json(5.1), json(1.55), json(0), json("2")}) {
    auto config = parse(bad);
    ASSERT_FALSE(config) << bad;
    EXPECT_NE(
        config.error().message.find("jobExecutionsRolloutConfig.exponentialRate.incrementFactor"),
        std::string::npos)
        << config.error().message;
  }
  EXPECT_NE(parse(1.55).error().message.find("more than 1 digit after the decimal point"),
            std::string::npos);
}

TEST(RolloutConfig, ThresholdPercentageBoundsAndTwoDecimals) {
  const auto parse = [](json threshold) {
    return parse_abort_config(json{{"criteriaList",
                                    {{{"failureType", "REJECTED"},
                                      {"action", "CANCEL"},
                                      {"thresholdPercentage", threshold},
                                      {"minNumberOfExecutedThings", 1}}}}});
  };
  EXPECT_EQ(parse(100)->criteria_list[0].threshold, Percentage{10000});
  EXPECT_EQ(parse(10.99)->criteria_list[0].threshold, Percentage{1099});
  EXPECT_EQ(parse(0.01)->criteria_list[0].threshold, Percentage{1});
  for (json bad : {json(0), json(-1), json(100.01), json(10.999), json(nullptr)}) {
    auto config = parse(bad);
    ASSERT_FALSE(config) << bad;
    EXPECT_NE(config.error().message.find("abortConfig.criteriaList[0].thresholdPercentage"),
              std::string::npos)
        << config.error().message;
  }
}

// Each bad configuration is refused with the path of the field at fault.
TEST(RolloutConfig, RefusesBadConfigurationsNamingTheField) {
  const json base = json::parse(R"J({
    "jobExecutionsRolloutConfig": {"maximumPerMinute": 10},
    "abortConfig": {"criteriaList": [{"failureType": "FAILED", "action": "CANCEL",
                                      "thresholdPercentage": 10,
                                      "minNumberOfExecutedThings": 5}]},
    "schedulingConfig": {"startTime": "2025-01-01T00:00", "endTime": "2025-01-02T00:00",
                         "maintenanceWindows": [{"startTime": "cron(0 0 * * ? *)",
                                                 "durationInMinutes": 60}]},
    "rolloutGroups": [{"name": "a", "targetPercentage": 50, "successThresholdPercentage": 90},
                      {"name": "b", "targetPercentage": 50, "successThresholdPercentage": 90}]
  })J");
  ASSERT_TRUE(RolloutPolicy::from_json(base));
  struct Case {
    json::json_pointer pointer;
    json value;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"/jobExecutionsRolloutConfig/maximumPerMinute"_json_pointer, 0,
       "jobExecutionsRolloutConfig.maximumPerMinute: 0 is out of range (1..1000)"},
      {"/jobExecutionsRolloutConfig/maximumPerMinute"_json_pointer, 1001,
       "jobExecutionsRolloutConfig.maximumPerMinute: 1001 is out of range"},
      {"/jobExecutionsRolloutConfig/maximumPerMinute"_json_pointer, 10.5,
       "jobExecutionsRolloutConfig.maximumPerMinute: must be a whole number"},
      {"/jobExecutionsRolloutConfig/exponentialRate"_json_pointer,
       json::parse(R"J({"baseRatePerMinute": 1, "incrementFactor": 2,
                       "rateIncreaseCriteria": {"numberOfNotifiedThings": 1}})J"),
       "jobExecutionsRolloutConfig: give either maximumPerMinute or exponentialRate, not both"},
      {"/jobExecutionsRolloutConfig/maxPerMinute"_json_pointer, 5,
       "jobExecutionsRolloutConfig.maxPerMinute: unknown field"},
      {"/jobExecutionsRolloutConfig"_json_pointer, 5,
       "jobExecutionsRolloutConfig: must be an object"},
      {"/abortConfig/criteriaList/0/failureType"_json_pointer, "CRASHED",
       "abortConfig.criteriaList[0].failureType: 'CRASHED' is not one of FAILED, REJECTED, "
       "TIMED_OUT, ALL"},
      {"/abortConfig/criteriaList/0/action"_json_pointer, "PAUSE",
       "abortConfig.criteriaList[0].action: 'PAUSE' is not CANCEL"},
      {"/abortConfig/criteriaList/0/minNumberOfExecutedThings"_json_pointer, 0,
       "abortConfig.criteriaList[0].minNumberOfExecutedThings: 0 is out of range"},
      {"/abortConfig/criteriaList"_json_pointer, json::array(),
       "abortConfig.criteriaList: must be an array of 1 to 16 criteria"},
      {"/schedulingConfig/startTime"_json_pointer, "2025-02-30T00:00",
       "schedulingConfig.startTime: '2025-02-30T00:00' is not a calendar date"},
      {"/schedulingConfig/endTime"_json_pointer, "2025-01-01T00:29",
       "schedulingConfig.endTime: must be at least 30 minutes"},
      {"/schedulingConfig/endTime"_json_pointer, "2027-01-03T00:00",
       "schedulingConfig.endTime: must be at least 30 minutes and at most two years"},
      {"/schedulingConfig/endBehavior"_json_pointer, "STOP",
       "schedulingConfig.endBehavior: 'STOP' is not one of STOP_ROLLOUT, CANCEL, FORCE_CANCEL"},
      {"/schedulingConfig/maintenanceWindows/0/durationInMinutes"_json_pointer, 1431,
       "schedulingConfig.maintenanceWindows[0].durationInMinutes: 1431 is out of range (1..1430)"},
      {"/schedulingConfig/maintenanceWindows/0/startTime"_json_pointer, "cron(0 0 L * ? *)",
       "schedulingConfig.maintenanceWindows[0].startTime: day-of-month field 'L': the L and W "
       "wildcards are not supported by ironroot"},
      {"/schedulingConfig/maintenanceWindows/0/startTime"_json_pointer, "0 0 * * ? *",
       "schedulingConfig.maintenanceWindows[0].startTime: '0 0 * * ? *' is not a cron expression"},
      {"/schedulingConfig/maintenanceWindows/0/durationInMinutes"_json_pointer, nullptr,
       "schedulingConfig.maintenanceWindows[0].durationInMinutes: must be a whole number"},
      {"/rolloutGroups/1/targetPercentage"_json_pointer, 40,
       "rolloutGroups: the groups' targetPercentage values add up to 90; they must add up to "
       "exactly 100"},
      {"/rolloutGroups/1/name"_json_pointer, "a", "rolloutGroups[1].name: 'a' names two groups"},
      {"/rolloutGroups/1/name"_json_pointer, "b c", "rolloutGroups[1].name: 'b c' may hold only"},
      {"/rolloutGroups/0/successThresholdPercentage"_json_pointer, 101,
       "rolloutGroups[0].successThresholdPercentage: 101 is out of range"},
      {"/rolloutGroups/0/errorThresholdPercentage"_json_pointer, 100,
       "rolloutGroups[0].errorThresholdPercentage: failures can never exceed 100%"},
      {"/rolloutGroups/0/pauseBefore"_json_pointer, "yes",
       "rolloutGroups[0].pauseBefore: must be true or false"},
      {"/rolloutGroups/0/targetPercentage"_json_pointer, 0,
       "rolloutGroups[0].targetPercentage: 0 is out of range (0.0, 100.0]"},
  };
  for (const auto& c : cases) {
    json request = base;
    request[c.pointer] = c.value;
    auto policy = RolloutPolicy::from_json(request);
    ASSERT_FALSE(policy) << "accepted " << c.pointer.to_string() << " = " << c.value;
    EXPECT_NE(policy.error().message.find(c.expected), std::string::npos)
        << "expected: " << c.expected << "\n     got: " << policy.error().message;
  }
}

TEST(RolloutConfig, RefusesMissingRequiredFields) {
  const std::vector<std::pair<json, std::string>> cases = {
      {json::parse(R"J({"abortConfig": {}})J"), "abortConfig.criteriaList: is required"},
      {json::parse(R"J({"abortConfig": {"criteriaList": [{"failureType": "ALL", "action": "CANCEL",
                       "thresholdPercentage": 5}]}})J"),
       "abortConfig.criteriaList[0].minNumberOfExecutedThings: is required"},
      {json::parse(R"J({"jobExecutionsRolloutConfig": {"exponentialRate": {"baseRatePerMinute": 5,
                       "incrementFactor": 2}}})J"),
       "jobExecutionsRolloutConfig.exponentialRate.rateIncreaseCriteria: is required"},
      {json::parse(R"J({"jobExecutionsRolloutConfig": {"exponentialRate": {"baseRatePerMinute": 5,
                       "incrementFactor": 2, "rateIncreaseCriteria": {}}}})J"),
       "jobExecutionsRolloutConfig.exponentialRate.rateIncreaseCriteria: give "
       "numberOfNotifiedThings, numberOfSucceededThings or both"},
      {json::parse(
           R"J({"schedulingConfig": {"maintenanceWindows": [{"durationInMinutes": 30}]}})J"),
       "schedulingConfig.maintenanceWindows[0].startTime: is required"},
      {json::parse(R"J({"rolloutGroups": [{"name": "a", "targetPercentage": 100}]})J"),
       "rolloutGroups[0].successThresholdPercentage: is required"},
      {json::parse(R"J({"rolloutGroups": []})J"), "rolloutGroups: must be an array of 1 to 500"},
      {json::parse(R"J([1])J"), "job request: must be an object"},
  };
  for (const auto& [request, expected] : cases) {
    auto policy = RolloutPolicy::from_json(request);
    ASSERT_FALSE(policy) << request;
    EXPECT_NE(policy.error().message.find(expected), std::string::npos)
        << "expected: " << expected << "\n     got: " << policy.error().message;
  }
}

}  // namespace
}  // namespace ironroot::fleet
