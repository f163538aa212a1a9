#include "ironroot/mqtt/mosquitto_handles.hpp"

#include <mutex>
#include <string>

namespace ironroot::mqtt {

namespace {

std::mutex library_mutex;
unsigned library_users = 0;

}  // namespace

Result<MosquittoLibrary> MosquittoLibrary::acquire() {
  std::lock_guard lock(library_mutex);
  if (library_users == 0) {
    int rc = mosquitto_lib_init();
    if (rc != MOSQ_ERR_SUCCESS) {
      return fail("libmosquitto cannot start: " + std::string(mosquitto_strerror(rc)));
    }
  }
  ++library_users;
  return MosquittoLibrary();
}

MosquittoLibrary::~MosquittoLibrary() {
  if (!held_) return;
  std::lock_guard lock(library_mutex);
  if (--library_users == 0) mosquitto_lib_cleanup();
}

}  // namespace ironroot::mqtt
