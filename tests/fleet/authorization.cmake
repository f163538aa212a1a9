# Device authorization (libs/fleet authorization.hpp) and the Mosquitto plugin (broker/).
ironroot_test(fleet_authorization_test
  SOURCES authorization_decision_test.cpp
  DEPENDS ironroot::fleet ironroot::crypto)
# The plugin in a real Mosquitto (/usr/sbin/mosquitto), with reserved_topics.cpp unit-tested too.
find_path(MOSQUITTO_BROKER_INCLUDE_DIR mosquitto_broker.h REQUIRED)
ironroot_test(broker_plugin_test
  SOURCES authorization_broker_test.cpp ${PROJECT_SOURCE_DIR}/broker/src/reserved_topics.cpp
  DEPENDS ironroot::fleet ironroot::crypto ironroot::mqtt)
target_include_directories(broker_plugin_test PRIVATE ${PROJECT_SOURCE_DIR}/broker/src)
target_compile_definitions(broker_plugin_test PRIVATE
  IRONROOT_BROKER_PLUGIN="$<TARGET_FILE:ironroot_broker_plugin>")
add_dependencies(broker_plugin_test ironroot_broker_plugin)
