#include "connection.hpp"

#include "ironroot/keystore/token_certificates.hpp"

namespace ironroot::firmware {

Result<DeviceConnection> device_connection(const std::filesystem::path& device_dir) {
  auto settings = device::read_identity_settings(device_dir);
  if (!settings) return tl::unexpected(settings.error());
  DeviceConnection connection{*settings, std::nullopt, {}};
  const keystore::Pkcs11Uri token =
      device::open_secure_element(device_dir, settings->secure_element);

  // The key must be there and the PIN right; a missing certificate only means "not enrolled".
  keystore::Pkcs11Uri key_uri = token;
  key_uri.object = std::string(keystore::kDeviceKeyLabel);
  if (auto key = keystore::TokenKey::open(key_uri); !key) {
    return prefixed(key.error(), "the secure element");
  }
  if (auto certs = keystore::read_certificates(token, keystore::kDeviceCertificateLabel); !certs) {
    connection.not_enrolled = certs.error().message;
    return connection;
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
  connection.options = std::move(options);
  return connection;
}

}  // namespace ironroot::firmware
