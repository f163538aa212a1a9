// A device's identity (ARCHITECTURE.md, "The simulated device"): its thing name and serial, the
// secure element that holds its key, and the broker it connects to. They live in the device folder:
//
//   identity.json           thing name, serial, secure element, broker endpoint (IdentitySettings)
//   secure-element/         the device's own SoftHSM2 token store: softhsm2.conf, tokens/, and
//                           `pin` (mode 0600), the PIN the firmware logs in with
//   device.csr              the CSR init made for the device key (CN = thing name, serialNumber)
//
// The token holds the key ("Device Priv TLS Key"), and once a CA has certified it, "Device Cert"
// and "Root Cert" (keystore/token_certificates.hpp). A device that is to provision itself by claim
// on its first boot also holds the claim identity ("Claim Key", "Claim Cert", "Root Cert") and
// has claim provisioning settings in identity.json (install_claim_identity).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>

#include "ironroot/core/result.hpp"
#include "ironroot/crypto/x509.hpp"
#include "ironroot/keystore/pkcs11_uri.hpp"
#include "ironroot/keystore/token_key.hpp"

namespace ironroot::device {

inline constexpr const char* kIdentityFile = "identity.json";
inline constexpr const char* kSecureElementDir = "secure-element";
inline constexpr const char* kCsrFile = "device.csr";
inline constexpr int kIdentityFormatVersion = 1;
// Devices built on AWS's SDKs hard-code it; ironroot's broker listens there by default.
inline constexpr std::uint16_t kDefaultBrokerPort = 8883;

// Where the device's MQTT broker is.
struct BrokerEndpoint {
  std::string host = "localhost";  // for the TCP connection
  std::uint16_t port = kDefaultBrokerPort;
  // The name the broker's certificate must carry (and the SNI); empty: `host`.
  std::string server_name;

  const std::string& tls_name() const { return server_name.empty() ? host : server_name; }
};

// "HOST[:PORT]" ("[v6]:PORT" for an IPv6 address). Fails, saying what is wrong, on an empty or
// invalid host or a port outside 1 to 65535.
Result<BrokerEndpoint> parse_broker_endpoint(std::string_view text);

// The PKCS#11 token that is the device's secure element.
struct SecureElement {
  std::filesystem::path module_path;  // the PKCS#11 module
  std::string token_label;
  // A file holding the user PIN; relative paths are inside the device folder.
  std::filesystem::path pin_file;
  // The SoftHSM2 configuration of the device's own token store (relative to the device folder),
  // when the token is one that init made; empty for a token of another module.
  std::filesystem::path softhsm2_conf;
};

// Limits on the template parameters a device keeps: they come from a command line or a file.
inline constexpr std::size_t kMaxTemplateParameters = 64;
inline constexpr std::size_t kMaxTemplateParameterNameLength = 128;
inline constexpr std::size_t kMaxTemplateParameterValueLength = 2048;

// What the firmware provisions the device with by claim (AWS IoT fleet provisioning by claim,
// docs/provisioning-client.md) at a boot that finds no "Device Cert" in its token: the
// provisioning template to register with and the parameters sent with RegisterThing.
struct ClaimProvisioning {
  std::string template_name;  // protocol::is_valid_template_name
  // Up to kMaxTemplateParameters; names 1 to 128 and values up to 2048 printable characters.
  // "ThingName" and "SerialNumber" go into the device's CSR (agent/fleet_provisioning.hpp).
  std::map<std::string, std::string> parameters;

  friend bool operator==(const ClaimProvisioning&, const ClaimProvisioning&) = default;
};

// Checks the template name and the parameters against the limits above. The message names what
// is wrong.
Status check_claim_provisioning(const ClaimProvisioning& provisioning);

struct IdentitySettings {
  std::string thing_name;  // crypto::check_thing_name
  std::string serial;      // crypto::check_device_serial
  SecureElement secure_element;
  BrokerEndpoint broker;
  // identity.json's optional "claim_provisioning"; absent in files written before it existed and
  // for devices certified by `identity install`.
  std::optional<ClaimProvisioning> claim_provisioning;
};

nlohmann::json to_json(const IdentitySettings& settings);
// Every field is checked; the message names the field that is wrong.
Result<IdentitySettings> identity_settings_from_json(const nlohmann::json& document);

// identity.json of the device in `dir`. Fails, saying so, when the device has none (a device made
// before identities existed) or it is damaged.
Result<IdentitySettings> read_identity_settings(const std::filesystem::path& dir);
// Replaces identity.json atomically.
Status write_identity_settings(const std::filesystem::path& dir, const IdentitySettings& settings);

// How this process reaches the device's token: the token URI (label, module, pin-source; no
// object), for keystore and mqtt::tls_settings_from_token. For a token in the device's own store
// it points SoftHSM2 at that store ($SOFTHSM2_CONF), so call it before anything in this process
// loads the module: SoftHSM2 reads its configuration once, when it is first initialised.
keystore::Pkcs11Uri open_secure_element(const std::filesystem::path& dir,
                                        const SecureElement& element);

// What init asks for: the names the identity is made for, and where the device's key lives.
struct NewIdentity {
  std::string thing_name;
  std::string serial;
  BrokerEndpoint broker;
  // An existing token (a pkcs11: URI with its module and pin-source) to use instead of a new
  // SoftHSM2 token in the device folder.
  std::optional<keystore::Pkcs11Uri> token;
};

struct MadeIdentity {
  IdentitySettings settings;
  crypto::CertificateRequest csr;  // also written to device.csr
  keystore::Pkcs11Uri key;         // the device key, without its PIN
};

// Makes the device's identity in `dir` (a device folder): a new SoftHSM2 token in
// secure-element/ with random PINs (the SO PIN is not kept: a device's secure element is locked
// once made) unless `request.token` names one, the device key generated inside it (ECDSA P-256,
// sensitive, not extractable), a CSR signed by that key, device.csr and identity.json. Refuses
// an invalid thing name or serial, a folder that has an identity already, and a token that
// already holds a device key. On failure, removes what it wrote into the folder.
Result<MadeIdentity> make_identity(const std::filesystem::path& dir, const NewIdentity& request);

// Stores the device certificate and the CA certificate(s) it trusts for its broker in the device's
// token, after checking them: the certificate must be for the token's key, name the device (CN =
// thing name), and chain to one of `trusted` (an intermediate among `trusted` is fine).
Status install_certificate(const std::filesystem::path& dir, const crypto::Certificate& certificate,
                           std::span<const crypto::Certificate> trusted);

// Prepares the device in `dir` to provision itself by claim on its first boot with a claim
// identity (a certificate and key that a production batch shares, whose policy allows only the
// provisioning topics): imports the claim key into the device's token (keystore::kClaimKeyLabel:
// sensitive, not extractable), stores the claim certificate (kClaimCertificateLabel, with the key's
// id) and `trusted` (kRootCertificateLabel, replacing what was there), and records the provisioning
// settings in identity.json. "ThingName" and "SerialNumber" default to the device's thing name and
// serial, and when given must be them: they become the CN and serialNumber of the device's
// certificate, and the thing name is its MQTT client id. Returns the settings recorded.
//
// Refuses, changing nothing: a key that is not the certificate's, or not P-256; no trusted
// certificate or one that is not a CA; invalid provisioning settings; a device whose token holds a
// device certificate already, or a claim key or claim certificate, or whose identity.json has
// claim provisioning settings already. When a step fails after the token changed, what was stored
// is removed again (and the old "Root Cert" put back).
Result<ClaimProvisioning> install_claim_identity(const std::filesystem::path& dir,
                                                 const crypto::Certificate& certificate,
                                                 const crypto::PrivateKey& key,
                                                 std::span<const crypto::Certificate> trusted,
                                                 ClaimProvisioning provisioning);

}  // namespace ironroot::device
