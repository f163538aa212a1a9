# Rollout policy (include/ironroot/fleet/rollout.hpp, rollout_schedule.hpp): AWS IoT's rollout
# rate, abort and scheduling configuration plus rollout groups, and the pure planner that decides
# how many things a job may notify now. No storage, threads or clock: its own small library so
# its tests build without the rest of the fleet, and part of ironroot::fleet for the service.
ironroot_library(fleet_rollout
  SOURCES src/rollout_json.cpp src/rollout_schedule.cpp src/rollout_config.cpp
          src/rollout_planner.cpp
  DEPENDS ironroot::core nlohmann_json::nlohmann_json)
target_link_libraries(ironroot_fleet PUBLIC ironroot::fleet_rollout)
