#include "hello.hpp"

#include <nlohmann/json.hpp>

#include "ironroot/crypto/x509.hpp"
#include "ironroot/device/identity.hpp"
#include "ironroot/keystore/token_certificates.hpp"
#include "ironroot/mqtt/client.hpp"

namespace ironroot::firmware {

std::string hello_topic(const std::string& thing_name) {
  return "things/" + thing_name + "/hello";
}

Result<HelloReport> say_hello(const std::filesystem::path& device_dir, const BootFacts& boot,
                              std::chrono::milliseconds timeout) {
  auto settings = device::read_identity_settings(device_dir);
  if (!settings) return tl::unexpected(settings.error());
  const keystore::Pkcs11Uri token =
      device::open_secure_element(device_dir, settings->secure_element);

  // The key must be there and the PIN right; a missing certificate only means "not enrolled".
  keystore::Pkcs11Uri key_uri = token;
  key_uri.object = std::string(keystore::kDeviceKeyLabel);
  if (auto key = keystore::TokenKey::open(key_uri); !key) {
    return prefixed(key.error(), "the secure element");
  }
  if (auto certs = keystore::read_certificates(token, keystore::kDeviceCertificateLabel); !certs) {
    return HelloReport{false, "no device certificate in the secure element yet (" +
                                  certs.error().message + "): staying offline"};
  }

  auto tls_settings = mqtt::tls_settings_from_token(token, settings->broker.tls_name());
  if (!tls_settings) return prefixed(tls_settings.error(), "the device identity");
  auto tls = mqtt::TlsContext::create(*tls_settings);
  if (!tls) return prefixed(tls.error(), "the TLS context");

  mqtt::ClientOptions options;
  options.host = settings->broker.host;
  options.port = settings->broker.port;
  options.client_id = settings->thing_name;
  options.tls = *tls;
  auto client = mqtt::Client::create(std::move(options));
  if (!client) return tl::unexpected(client.error());
  (*client)->start();

  const nlohmann::json hello = {
      {"thing_name", settings->thing_name},
      {"serial", settings->serial},
      {"firmware_version", boot.version},
      {"test_boot", boot.test_boot},
      {"time", crypto::format_time(
                   std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()))}};
  const std::string payload = hello.dump();
  const std::string topic = hello_topic(settings->thing_name);
  auto queued = (*client)->publish(topic, as_bytes(payload), 1);
  if (!queued) return fail("publishing the hello: " + queued.error().message);
  const std::string where = settings->broker.host + ":" + std::to_string(settings->broker.port);
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
  return HelloReport{true, "connected to " + where + " as " + settings->thing_name +
                               " and published a hello on " + topic};
}

}  // namespace ironroot::firmware
