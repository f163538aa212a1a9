# The firmware repository (include/ironroot/fleet/firmware.hpp): code-signing keys and verified
# MCUboot images, content-addressed on disk.
target_sources(ironroot_fleet PRIVATE
  ${CMAKE_CURRENT_SOURCE_DIR}/src/firmware_keys.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/src/firmware_store.cpp)
target_link_libraries(ironroot_fleet PUBLIC ironroot::image)
