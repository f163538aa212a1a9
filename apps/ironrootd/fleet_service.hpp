// ironrootd, running: the data folder, the registry, the CA, the embedded broker, the fleet's own
// MQTT connection, the HTTPS firmware download listener and the REST API, started in that order
// and stopped in the reverse one.
#pragma once

#include <memory>

#include "ironroot/core/result.hpp"
#include "service_config.hpp"

namespace ironroot::service {

class FleetService {
 public:
  // Opens (or, on first start, makes) everything in config.data_dir and starts serving. Fails,
  // saying which part and why, and leaves nothing running.
  static Result<std::unique_ptr<FleetService>> start(const ServiceConfig& config);

  // Stops the REST API, the download listener, the fleet connection and the broker, in that
  // order. Idempotent.
  void stop();
  ~FleetService();

  FleetService(const FleetService&) = delete;
  FleetService& operator=(const FleetService&) = delete;

 private:
  struct State;
  explicit FleetService(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace ironroot::service
