// The firmware's first words to the fleet: it connects to its broker with the identity in its
// secure element (mutual TLS, the key never leaving the token) and publishes a hello on its own
// topic, at QoS 1, waiting for the broker's acknowledgement.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>

#include "ironroot/core/result.hpp"

namespace ironroot::firmware {

// things/<thing>/hello
std::string hello_topic(const std::string& thing_name);

struct HelloReport {
  bool sent = false;   // false: the device has no certificate yet, so it stayed offline
  std::string detail;  // what happened, for the console
};

struct BootFacts {
  std::string version;  // of the running firmware
  bool test_boot = false;
};

// Reads the device's identity (device/identity.hpp), and when its token holds a certificate,
// connects to the broker and publishes {"thing_name", "serial", "firmware_version",
// "test_boot", "time"}. Fails, with the broker's or the TLS layer's reason, when the message is
// not acknowledged within `timeout` (the client retries with back-off until then).
Result<HelloReport> say_hello(const std::filesystem::path& device_dir, const BootFacts& boot,
                              std::chrono::milliseconds timeout);

}  // namespace ironroot::firmware
