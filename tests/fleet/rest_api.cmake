# Tests of the operator REST API: a real httplib server on a loopback port over a real registry.
ironroot_test(fleet_rest_api_test
  SOURCES rest_api_test.cpp rest_api_provisioning_test.cpp
  DEPENDS ironroot::fleet_rest ironroot::crypto)

# The operator's jobs routes, with a jobs store on the registry's database.
ironroot_test(fleet_rest_api_jobs_test
  SOURCES rest_api_jobs_test.cpp
  DEPENDS ironroot::fleet_rest)
