// What the device's OTA agent needs of an MQTT connection for a file stream (ota_agent.hpp);
// MqttJobsConnection (jobs_client.hpp) is one, so the jobs client and the OTA agent share a
// connection as AWS's libraries do.
#pragma once

#include <chrono>
#include <string_view>

#include "ironroot/core/bytes.hpp"
#include "ironroot/core/result.hpp"

namespace ironroot::agent {

// Received messages come back through OtaAgent::on_message, which the firmware calls from its
// ClientOptions::on_message.
class StreamTransport {
 public:
  virtual ~StreamTransport() = default;
  // Publishes `payload` on `topic` at `qos` (the agent uses 0, as AWS's agent does for GetStream).
  virtual Status publish(std::string_view topic, ByteView payload, int qos) = 0;
  // Subscribes to `filter` at `qos` and waits for the broker's acknowledgement, at most `timeout`.
  virtual Status subscribe(std::string_view filter, int qos, std::chrono::milliseconds timeout) = 0;
};

}  // namespace ironroot::agent
