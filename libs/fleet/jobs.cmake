# Jobs (jobs.hpp): the durable store of AWS IoT Jobs' jobs and executions in the registry's
# database, with its operator, rollout, timer and device operations.
target_sources(ironroot_fleet PRIVATE
  ${CMAKE_CURRENT_SOURCE_DIR}/src/jobs_executions.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/src/jobs_store.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/src/jobs_dispatch.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/src/jobs_targets.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/src/jobs_device.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/src/jobs_approvals.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/src/jobs_ota.cpp)
target_link_libraries(ironroot_fleet PUBLIC ironroot::protocol)
