// The device's side of AWS IoT fleet provisioning by claim (developer guide: "Provisioning by
// claim", fleet-provision-api), with a key that is generated inside the device's token and never
// leaves it. Over one mTLS connection made with the claim identity in the token, the device asks
// for a certificate for a CSR (CreateCertificateFromCsr), registers itself with a provisioning
// template (RegisterThing), stores its new certificate in the token, and proves it by connecting
// again as itself. What goes on the wire is what AWS's fleet_provisioning_with_csr demo sends:
// subscribe to /accepted and /rejected, then publish the request (QoS 1), then wait for one reply.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "ironroot/core/result.hpp"
#include "ironroot/keystore/pkcs11_uri.hpp"
#include "ironroot/keystore/token_key.hpp"
#include "ironroot/mqtt/backoff.hpp"
#include "ironroot/mqtt/tls.hpp"
#include "ironroot/protocol/payload_format.hpp"
#include "ironroot/protocol/provisioning.hpp"
#include "ironroot/protocol/topics.hpp"

namespace ironroot::agent {

// Template parameters the client reads as well as sends: the new certificate's CN and
// serialNumber (AWS's templates and demos use these names).
inline constexpr std::string_view kThingNameParameter = "ThingName";
inline constexpr std::string_view kSerialNumberParameter = "SerialNumber";

struct ClaimProvisioningSettings {
  // The device's token: its token attributes, module and PIN (object, id and type are ignored).
  // It must hold the claim identity (keystore::kClaimKeyLabel, keystore::kClaimCertificateLabel)
  // and the CA certificate(s) the broker is checked against (keystore::kRootCertificateLabel).
  keystore::Pkcs11Uri token;
  keystore::TokenOptions token_options;

  std::string host;  // the broker's address, for the TCP connection
  std::uint16_t port = 8883;
  std::string server_name;  // the name the broker's certificate must carry; empty: `host`

  // The MQTT client id of the claim connection (1 to 128 characters): the thing name to be, or a
  // claim client id. Also the new certificate's CN when parameters has no kThingNameParameter.
  std::string client_id;
  std::string template_name;  // protocol::is_valid_template_name
  // The template's parameters, sent with RegisterThing. kThingNameParameter (when present) must
  // pass crypto::check_thing_name and kSerialNumberParameter crypto::check_device_serial, since
  // they go into the CSR.
  std::map<std::string, std::string> parameters;
  protocol::PayloadFormat format = protocol::PayloadFormat::cbor;
  protocol::TopicPrefix topic_prefix;  // "$aws"

  // How long each request waits for its reply. AWS's demos wait about 1 s; a self-hosted fleet
  // service on a busy machine may take longer. 100 ms to 10 min.
  std::chrono::milliseconds reply_timeout{std::chrono::seconds(10)};
  // How long each connection (claim, then device) may take, retries included. 100 ms to 10 min.
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(30)};
  // Retries of a connection attempt within connect_timeout (mqtt::Client's back-off).
  mqtt::BackoffPolicy backoff;
};

// What provisioning did.
struct ProvisioningReport {
  std::string thing_name;      // RegisterThing's thingName
  std::string certificate_id;  // CreateCertificateFromCsr's certificateId
  // RegisterThing's deviceConfiguration (the template's DeviceConfiguration).
  std::map<std::string, std::string> device_configuration;
  // True when the device key was left in the token by an earlier, interrupted attempt.
  bool reused_device_key = false;
};

// The steps of provision_by_claim, in the order they run.
enum class ProvisioningStep {
  check_settings,      // the settings and the parameters that go into the CSR
  device_key,          // open or generate "Device Priv TLS Key" and sign the CSR with it
  claim_connection,    // connect with "Claim Cert" / "Claim Key", checking "Root Cert"
  create_certificate,  // CreateCertificateFromCsr
  register_thing,      // RegisterThing
  store_certificate,   // "Device Cert" (and "Root Cert") into the token
  device_connection,   // connect again as the new device
};

// "check settings", "device key", "claim connection", "create certificate from CSR",
// "register thing", "store certificate", "device connection".
std::string_view step_name(ProvisioningStep step);

struct ProvisioningFailure {
  ProvisioningStep step;
  // "<step name>: <why>", for people.
  std::string message;
  // When the fleet service rejected the request: its statusCode, errorCode and errorMessage
  // (for example to retry later on RequestThrottled or InternalError).
  std::optional<protocol::ErrorResponse> rejection;
  // When no reply came within reply_timeout (or no connection within connect_timeout).
  bool timed_out = false;
};

// Provisions the device whose token `settings.token` selects:
//   1. checks the settings;
//   2. opens the device key ("Device Priv TLS Key", ECDSA P-256) that an earlier, interrupted
//      attempt left in the token, or generates it there (sensitive, never extractable), and signs
//      a CSR with it: CN = parameters[ThingName] or client_id, serialNumber =
//      parameters[SerialNumber] when given;
//   3. connects to the broker with the claim identity (clean session, nothing kept after it);
//   4. CreateCertificateFromCsr, and checks that the certificate is for the device key;
//   5. RegisterThing with the ownership token and the parameters;
//   6. stores the certificate as "Device Cert" with the token's "Root Cert" as trusted
//      (keystore::store_device_identity), and disconnects;
//   7. connects as the device (client id = the thing name) and disconnects.
// The certificate is stored only once the fleet has registered the thing, so that a token with a
// "Device Cert" (has_device_identity) always belongs to a registered device; an attempt
// interrupted at any point can simply be run again, and reuses the key.
//
// Replies are told apart by topic only (as AWS IoT's API does): messages on other topics,
// retained messages, and replies that arrive before the request was sent are ignored.
//
// Refuses, changing nothing, a token that already holds a device identity. Blocks until done
// (at most about 2 * connect_timeout + 2 * reply_timeout plus the token's work).
//
// REQUIRES: the caller holds no keystore::TokenKey of the token's PKCS#11 module during the call.
// libs/keystore finalises the module when its last handle closes, including after OpenSSL's
// pkcs11 engine (which the TLS connections use, see mqtt/tls.hpp) has started using it; the
// engine then fails with "Cryptoki not initialized". provision_by_claim closes its own handles
// before its first TLS connection, so that the engine initialises the module and keystore never
// finalises it afterwards.
Result<ProvisioningReport, ProvisioningFailure> provision_by_claim(
    const ClaimProvisioningSettings& settings);

// Whether the token holds a usable device identity (keystore::read_device_identity succeeds: a
// device key, its certificate and a trusted CA). False also when the token cannot be read; in
// that case provision_by_claim says why.
bool has_device_identity(const keystore::Pkcs11Uri& token,
                         const keystore::TokenOptions& options = {});

// The TLS settings of the claim identity in a token: "Root Cert" as trusted, "Claim Cert" (leaf
// first) as the client chain, and the token's "Claim Key" as the key. Fails, naming the label,
// when one is missing.
Result<mqtt::TlsSettings> claim_tls_settings(const keystore::Pkcs11Uri& token,
                                             std::string server_name,
                                             const keystore::TokenOptions& options = {});

}  // namespace ironroot::agent
