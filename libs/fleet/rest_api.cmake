# The operator REST API (include/ironroot/fleet/rest_api.hpp) on cpp-httplib
# (PkgConfig::HTTPLIB, found in the top-level CMakeLists.txt with the compile definitions the
# Debian build of the library needs).
ironroot_library(fleet_rest
  SOURCES src/rest_api.cpp src/rest_api_json.cpp src/rest_api_things.cpp
          src/rest_api_certificates.cpp src/rest_api_policies.cpp
          src/rest_api_provisioning.cpp src/rest_api_jobs.cpp src/rest_api_firmware.cpp
  DEPENDS ironroot::fleet ironroot::policy ironroot::crypto OpenSSL::Crypto PkgConfig::HTTPLIB)
