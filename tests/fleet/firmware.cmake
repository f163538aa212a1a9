# The firmware repository (libs/fleet firmware.hpp) over a real SQLite registry and content
# folder, with images signed by libs/image; and its REST routes on a real httplib server.
ironroot_test(fleet_firmware_test
  SOURCES firmware_store_test.cpp
  DEPENDS ironroot::fleet ironroot::image ironroot::crypto)
ironroot_test(fleet_rest_api_firmware_test
  SOURCES rest_api_firmware_test.cpp
  DEPENDS ironroot::fleet_rest ironroot::image ironroot::crypto)
# OTA jobs over the firmware repository: job creation's checks of afr_ota documents, firmware
# streams by id, and the pending-execution query the stream service authorizes with.
ironroot_test(fleet_jobs_ota_test
  SOURCES jobs_ota_test.cpp
  DEPENDS ironroot::fleet ironroot::image ironroot::crypto)
