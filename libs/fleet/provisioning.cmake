# Fleet provisioning: templates, pre-provisioning hooks, the provisioning service, and the
# registry's ownership tokens and one-transaction provisioning. HTTP hooks use cpp-httplib through
# the top-level PkgConfig::HTTPLIB (its compile definitions must match Debian's libcpp-httplib.so).
target_sources(ironroot_fleet PRIVATE
  ${CMAKE_CURRENT_SOURCE_DIR}/src/registry_ownership_tokens.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/src/provisioning_template.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/src/provisioning_hook.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/src/provisioning_hook_http.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/src/provisioning_service.cpp)
target_link_libraries(ironroot_fleet PUBLIC ironroot::protocol ironroot::policy
                      PRIVATE PkgConfig::HTTPLIB Threads::Threads)
