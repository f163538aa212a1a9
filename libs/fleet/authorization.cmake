# Device authorization over the registry (authorization.hpp), for the Mosquitto plugin (broker/).
target_sources(ironroot_fleet PRIVATE
  ${CMAKE_CURRENT_SOURCE_DIR}/src/authorization.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/src/registry_change_counter.cpp)
target_link_libraries(ironroot_fleet PUBLIC ironroot::policy)
