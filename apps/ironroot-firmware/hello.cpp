#include "hello.hpp"

#include <nlohmann/json.hpp>

#include "connection.hpp"
#include "ironroot/crypto/x509.hpp"

namespace ironroot::firmware {

std::string hello_topic(const std::string& thing_name) {
  return "things/" + thing_name + "/hello";
}

Result<HelloReport> say_hello(const std::filesystem::path& device_dir, const BootFacts& boot,
                              std::chrono::milliseconds timeout) {
  auto connection = device_connection(device_dir);
  if (!connection) return tl::unexpected(connection.error());
  if (!connection->options) {
    return HelloReport{false, "no device certificate in the secure element yet (" +
                                  connection->not_enrolled + "): staying offline"};
  }
  const device::IdentitySettings& settings = connection->settings;
  auto client = mqtt::Client::create(*connection->options);
  if (!client) return tl::unexpected(client.error());
  (*client)->start();

  const nlohmann::json hello = {
      {"thing_name", settings.thing_name},
      {"serial", settings.serial},
      {"firmware_version", boot.version},
      {"test_boot", boot.test_boot},
      {"time", crypto::format_time(
                   std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()))}};
  const std::string payload = hello.dump();
  const std::string topic = hello_topic(settings.thing_name);
  auto queued = (*client)->publish(topic, as_bytes(payload), 1);
  if (!queued) return fail("publishing the hello: " + queued.error().message);
  const std::string where = connection->broker();
  const bool acknowledged = (*client)->wait_until(
      [](const mqtt::ClientStats& s) { return s.acknowledged >= 1; }, timeout);
  const mqtt::ClientStats stats = (*client)->stats();
  (*client)->stop();
  if (!acknowledged) {
    return fail("the broker at " + where + " did not acknowledge the hello within " +
                std::to_string(timeout.count()) + " ms (" + std::to_string(stats.connect_attempts) +
                " connection attempts; last error: " +
                (stats.last_error.empty() ? "none" : stats.last_error) + ")");
  }
  return HelloReport{true, "connected to " + where + " as " + settings.thing_name +
                               " and published a hello on " + topic};
}

}  // namespace ironroot::firmware
