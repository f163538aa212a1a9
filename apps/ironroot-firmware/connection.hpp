// How the firmware reaches its fleet: the MQTT client options of the device's identity (mutual
// TLS with the key in its secure element, the thing name as client id, its broker).
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "ironroot/core/result.hpp"
#include "ironroot/device/identity.hpp"
#include "ironroot/mqtt/client.hpp"

namespace ironroot::firmware {

struct DeviceConnection {
  device::IdentitySettings settings;
  // nullopt: the token holds no certificate yet (the device is not enrolled), and
  // `not_enrolled` says what the token answered.
  std::optional<mqtt::ClientOptions> options;
  std::string not_enrolled;
  // "host:port", for messages.
  std::string broker() const {
    return settings.broker.host + ":" + std::to_string(settings.broker.port);
  }
};

// Reads the device's identity (device/identity.hpp) and opens its token. Fails when the identity
// settings, the key or the PIN are wrong; a missing certificate only means "not enrolled".
Result<DeviceConnection> device_connection(const std::filesystem::path& device_dir);

}  // namespace ironroot::firmware
