# Tests of the rollout policy: configuration formats, the cron subset and schedules, and the
# planner driven by a simulated dispatcher on a fake clock.
ironroot_test(fleet_rollout_test
  SOURCES rollout_config_test.cpp rollout_schedule_test.cpp rollout_planner_test.cpp
  DEPENDS ironroot::fleet_rollout)
