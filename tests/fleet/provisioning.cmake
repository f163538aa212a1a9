# Tests of fleet provisioning: templates, pre-provisioning hooks (a real shell script and a real
# cpp-httplib server on a loopback port), the service over a real SQLite registry and CA
# (by claim, just in time, by an operator), and the bulk provisioning device list (CSV).
ironroot_test(fleet_provisioning_test
  SOURCES provisioning_template_test.cpp provisioning_hook_test.cpp
          provisioning_service_test.cpp provisioning_just_in_time_test.cpp
          provisioning_operator_test.cpp device_list_test.cpp
  DEPENDS ironroot::fleet ironroot::crypto PkgConfig::HTTPLIB Threads::Threads)
