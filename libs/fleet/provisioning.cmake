# Fleet provisioning: templates, pre-provisioning hooks, the provisioning service, the registry's
# ownership tokens and one-transaction provisioning, and the bulk provisioning device list (CSV).
# HTTP hooks use cpp-httplib through the top-level PkgConfig::HTTPLIB (its compile definitions
# must match Debian's libcpp-httplib.so).
target_sources(ironroot_fleet PRIVATE
  ${CMAKE_CURRENT_SOURCE_DIR}/src/registry_ownership_tokens.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/src/provisioning_template.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/src/provisioning_hook.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/src/provisioning_hook_http.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/src/provisioning_service.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/src/device_list.cpp)
target_link_libraries(ironroot_fleet PUBLIC ironroot::protocol ironroot::policy
                      PRIVATE PkgConfig::HTTPLIB Threads::Threads)
