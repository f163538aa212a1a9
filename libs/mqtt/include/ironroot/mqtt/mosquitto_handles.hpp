// RAII owners for libmosquitto's library state and handles, for code that drives libmosquitto
// directly: libs/mqtt's Client, and the device swarm of the tests (one thread, many handles).
#pragma once

#include <mosquitto.h>

#include <memory>

#include "ironroot/core/result.hpp"

namespace ironroot::mqtt {

// A reference on libmosquitto's process-wide initialisation: the first one calls
// mosquitto_lib_init(), the last one to go mosquitto_lib_cleanup(). Thread-safe.
class MosquittoLibrary {
 public:
  static Result<MosquittoLibrary> acquire();
  MosquittoLibrary(MosquittoLibrary&& other) noexcept : held_(other.held_) { other.held_ = false; }
  MosquittoLibrary& operator=(MosquittoLibrary&&) = delete;
  MosquittoLibrary(const MosquittoLibrary&) = delete;
  ~MosquittoLibrary();

 private:
  MosquittoLibrary() = default;
  bool held_ = true;
};

struct MosquittoFree {
  void operator()(mosquitto* m) const { mosquitto_destroy(m); }
};
using UniqueMosquitto = std::unique_ptr<mosquitto, MosquittoFree>;

struct PropertiesFree {
  void operator()(mosquitto_property* p) const { mosquitto_property_free_all(&p); }
};
using UniqueProperties = std::unique_ptr<mosquitto_property, PropertiesFree>;

}  // namespace ironroot::mqtt
