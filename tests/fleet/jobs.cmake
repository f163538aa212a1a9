# The jobs store (libs/fleet jobs.hpp) over a real SQLite registry: operator, rollout, timer and
# device operations, and a writer killed with SIGKILL in the middle of a rollout.
ironroot_test(fleet_jobs_test
  SOURCES jobs_operator_test.cpp jobs_device_test.cpp jobs_timers_test.cpp
          jobs_continuous_test.cpp jobs_crash_test.cpp
  DEPENDS ironroot::fleet ironroot::crypto)
