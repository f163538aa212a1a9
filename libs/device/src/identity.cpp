#include "ironroot/device/identity.hpp"

#include <arpa/inet.h>
#include <stdlib.h>

#include <algorithm>
#include <charconv>
#include <functional>
#include <system_error>

#include "ironroot/agent/fleet_provisioning.hpp"
#include "ironroot/core/file.hpp"
#include "ironroot/crypto/certificate_authority.hpp"
#include "ironroot/crypto/random.hpp"
#include "ironroot/keystore/token_certificates.hpp"
#include "ironroot/keystore/token_setup.hpp"
#include "ironroot/protocol/topics.hpp"

namespace ironroot::device {

namespace {

namespace fs = std::filesystem;

constexpr std::uintmax_t kMaxIdentityFileSize = 64 * 1024;
constexpr const char* kDeviceTokenLabel = "ironroot-device";
constexpr const char* kSoftHsmConf = "softhsm2.conf";
constexpr const char* kPinFile = "pin";
constexpr const char* kTokenStore = "tokens";
constexpr std::size_t kPinBytes = 16;  // 32 hex characters

Status check_endpoint_host(std::string_view host) {
  if (host.empty()) return fail("the broker host is empty");
  if (auto ok = crypto::check_server_name(host); !ok) {
    return fail("broker host '" + std::string(host) + "': " + ok.error().message);
  }
  return {};
}

Result<std::string> random_hex(std::size_t bytes) {
  auto random = crypto::random_bytes(bytes);
  if (!random) return tl::unexpected(random.error());
  return to_hex(*random);
}

fs::path in_folder(const fs::path& dir, const fs::path& path) {
  return path.is_absolute() ? path : dir / path;
}

// Whatever make_identity wrote, removed again unless it succeeded.
class Undo {
 public:
  void add(fs::path path) { paths_.push_back(std::move(path)); }
  void keep() { paths_.clear(); }
  ~Undo() {
    std::error_code ignored;
    for (const fs::path& path : paths_) fs::remove_all(path, ignored);
  }

 private:
  std::vector<fs::path> paths_;
};

// Steps that take back what install_claim_identity changed, run last first unless it succeeded.
class Rollback {
 public:
  Rollback() = default;
  Rollback(const Rollback&) = delete;
  Rollback& operator=(const Rollback&) = delete;
  void add(std::function<void()> step) { steps_.push_back(std::move(step)); }
  void keep() { steps_.clear(); }
  ~Rollback() {
    for (auto it = steps_.rbegin(); it != steps_.rend(); ++it) (*it)();
  }

 private:
  std::vector<std::function<void()>> steps_;
};

Status check_trusted_cas(std::span<const crypto::Certificate> trusted) {
  if (trusted.empty()) return fail("no CA certificate to trust for the broker was given");
  for (const crypto::Certificate& ca : trusted) {
    crypto::CertificateExtensions ext = ca.extensions();
    if (!ext.basic_constraints || !ext.basic_constraints->ca) {
      return fail("trusted certificate " + ca.subject() +
                  " is not a CA certificate (basicConstraints CA:TRUE)");
    }
  }
  return {};
}

// ThingName and SerialNumber: the device's own, since they go into its certificate.
Status fill_in_device_parameters(const IdentitySettings& settings,
                                 ClaimProvisioning& provisioning) {
  const std::pair<std::string_view, const std::string*> own[] = {
      {agent::kThingNameParameter, &settings.thing_name},
      {agent::kSerialNumberParameter, &settings.serial}};
  for (const auto& [name, value] : own) {
    auto [it, added] = provisioning.parameters.try_emplace(std::string(name), *value);
    if (!added && it->second != *value) {
      return fail("parameter " + it->first + "='" + it->second + "' is not this device's " +
                  (name == agent::kThingNameParameter ? "thing name" : "serial") + " '" + *value +
                  "'; it goes into the device's certificate, so leave it out (it defaults to the "
                  "device's) or make the device with that " +
                  (name == agent::kThingNameParameter ? "--thing-name" : "--serial"));
    }
  }
  return {};
}

// A SoftHSM2 token store of the device's own, with one new token in it.
Result<SecureElement> make_softhsm_token(const fs::path& dir, Undo& undo) {
  const fs::path element = dir / kSecureElementDir;
  std::error_code ec;
  if (fs::exists(element, ec)) {
    return fail(element.string() + " exists already: the device has a secure element");
  }
  undo.add(element);
  if (!fs::create_directories(element / kTokenStore, ec)) {
    return fail("cannot create " + (element / kTokenStore).string() + ": " + ec.message());
  }
  fs::permissions(element, fs::perms::owner_all, ec);
  const std::string conf =
      "# The device's secure element: its own SoftHSM2 token store.\n"
      "directories.tokendir = " +
      (element / kTokenStore).string() + "\nobjectstore.backend = file\nlog.level = ERROR\n";
  if (auto ok = write_file_atomic(element / kSoftHsmConf, as_bytes(conf), 0600); !ok) {
    return prefixed(ok.error(), "writing " + (element / kSoftHsmConf).string());
  }
  auto pin = random_hex(kPinBytes);
  auto so_pin = random_hex(kPinBytes);
  if (!pin || !so_pin) return tl::unexpected(pin ? so_pin.error() : pin.error());
  if (auto ok = write_file_atomic(element / kPinFile, as_bytes(*pin), 0600); !ok) {
    return prefixed(ok.error(), "writing " + (element / kPinFile).string());
  }

  SecureElement made;
  made.module_path = std::string(keystore::kDefaultModulePath);
  made.token_label = kDeviceTokenLabel;
  made.pin_file = fs::path(kSecureElementDir) / kPinFile;
  made.softhsm2_conf = fs::path(kSecureElementDir) / kSoftHsmConf;
  open_secure_element(dir, made);  // points SoftHSM2 at the new store
  if (auto ok = keystore::initialize_token(made.module_path, {made.token_label, *so_pin, *pin});
      !ok) {
    return prefixed(ok.error(), "making the device's token");
  }
  return made;
}

// An existing token, named by a URI with its module and PIN file.
Result<SecureElement> existing_token(const keystore::Pkcs11Uri& uri) {
  if (!uri.token) return fail("the --token URI must name the token (token=...)");
  if (!uri.pin_source) {
    return fail(
        "the --token URI must give the PIN as a file (pin-source=...), which the "
        "firmware reads at every boot");
  }
  auto access = keystore::resolve_token_access(uri);
  if (!access) return tl::unexpected(access.error());
  SecureElement element;
  element.module_path = access->module_path;
  element.token_label = *uri.token;
  element.pin_file = fs::absolute(*uri.pin_source);
  return element;
}

}  // namespace

Status check_claim_provisioning(const ClaimProvisioning& provisioning) {
  if (!protocol::is_valid_template_name(provisioning.template_name)) {
    return fail("template name '" + provisioning.template_name +
                "' is not 1 to 36 characters of letters, digits, '_' and '-'");
  }
  if (provisioning.parameters.size() > kMaxTemplateParameters) {
    return fail("more than " + std::to_string(kMaxTemplateParameters) + " template parameters");
  }
  for (const auto& [name, value] : provisioning.parameters) {
    if (name.empty() || name.size() > kMaxTemplateParameterNameLength ||
        !std::all_of(name.begin(), name.end(), [](char c) { return c > 0x20 && c < 0x7f; })) {
      return fail("template parameter name '" + name.substr(0, kMaxTemplateParameterNameLength) +
                  "' is not 1 to " + std::to_string(kMaxTemplateParameterNameLength) +
                  " printable characters without spaces");
    }
    if (value.size() > kMaxTemplateParameterValueLength) {
      return fail("template parameter " + name + " is longer than " +
                  std::to_string(kMaxTemplateParameterValueLength) + " characters");
    }
    if (std::any_of(value.begin(), value.end(),
                    [](char c) { return (c >= 0 && c < 0x20) || c == 0x7f; })) {
      return fail("template parameter " + name + " contains a control character");
    }
  }
  return {};
}

Result<BrokerEndpoint> parse_broker_endpoint(std::string_view text) {
  BrokerEndpoint endpoint;
  std::string_view host = text;
  std::optional<std::string_view> port;
  if (text.starts_with('[')) {  // [v6]:port
    const auto close = text.find(']');
    if (close == std::string_view::npos) {
      return fail("broker endpoint '" + std::string(text) + "' has no closing ']'");
    }
    host = text.substr(1, close - 1);
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (!rest.starts_with(':')) {
        return fail("broker endpoint '" + std::string(text) + "': expected ':PORT' after ']'");
      }
      port = rest.substr(1);
    }
  } else if (const auto colon = text.rfind(':');
             colon != std::string_view::npos && text.find(':') == colon) {
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (auto ok = check_endpoint_host(host); !ok) return tl::unexpected(ok.error());
  endpoint.host = std::string(host);
  if (port) {
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port->data(), port->data() + port->size(), value);
    if (ec != std::errc() || end != port->data() + port->size() || value == 0 || value > 65535) {
      return fail("broker endpoint '" + std::string(text) + "': port '" + std::string(*port) +
                  "' is not a number from 1 to 65535");
    }
    endpoint.port = static_cast<std::uint16_t>(value);
  }
  return endpoint;
}

nlohmann::json to_json(const IdentitySettings& s) {
  const SecureElement& e = s.secure_element;
  nlohmann::json element = {{"module", e.module_path.string()},
                            {"token", e.token_label},
                            {"pin_file", e.pin_file.string()}};
  if (!e.softhsm2_conf.empty()) element["softhsm2_conf"] = e.softhsm2_conf.string();
  nlohmann::json doc = {
      {"format_version", kIdentityFormatVersion},
      {"thing_name", s.thing_name},
      {"serial", s.serial},
      {"secure_element", element},
      {"broker",
       {{"host", s.broker.host}, {"port", s.broker.port}, {"server_name", s.broker.tls_name()}}}};
  if (s.claim_provisioning) {
    doc["claim_provisioning"] = {{"template", s.claim_provisioning->template_name},
                                 {"parameters", s.claim_provisioning->parameters}};
  }
  return doc;
}

Result<IdentitySettings> identity_settings_from_json(const nlohmann::json& doc) {
  const char* field = "the document";
  try {
    IdentitySettings s;
    if (!doc.is_object()) return fail("the document is not a JSON object");
    field = "format_version";
    if (doc.at(field).get<int>() != kIdentityFormatVersion) {
      return fail("format version " + doc.at(field).dump() +
                  " is not supported; this ironroot reads " +
                  std::to_string(kIdentityFormatVersion));
    }
    field = "thing_name";
    s.thing_name = doc.at(field).get<std::string>();
    if (auto ok = crypto::check_thing_name(s.thing_name); !ok) return prefixed(ok.error(), field);
    field = "serial";
    s.serial = doc.at(field).get<std::string>();
    if (auto ok = crypto::check_device_serial(s.serial); !ok) return prefixed(ok.error(), field);
    field = "secure_element";
    const nlohmann::json& e = doc.at(field);
    field = "secure_element.module";
    s.secure_element.module_path = e.at("module").get<std::string>();
    field = "secure_element.token";
    s.secure_element.token_label = e.at("token").get<std::string>();
    field = "secure_element.pin_file";
    s.secure_element.pin_file = e.at("pin_file").get<std::string>();
    field = "secure_element.softhsm2_conf";
    if (e.contains("softhsm2_conf")) {
      s.secure_element.softhsm2_conf = e.at("softhsm2_conf").get<std::string>();
    }
    if (s.secure_element.module_path.empty() || s.secure_element.token_label.empty() ||
        s.secure_element.pin_file.empty()) {
      return fail("secure_element: module, token and pin_file must not be empty");
    }
    field = "broker";
    const nlohmann::json& b = doc.at(field);
    field = "broker.host";
    s.broker.host = b.at("host").get<std::string>();
    if (auto ok = check_endpoint_host(s.broker.host); !ok) return prefixed(ok.error(), field);
    field = "broker.port";
    const auto port = b.at("port").get<std::uint32_t>();
    if (port == 0 || port > 65535) return fail("broker.port must be 1 to 65535");
    s.broker.port = static_cast<std::uint16_t>(port);
    field = "broker.server_name";
    s.broker.server_name = b.at("server_name").get<std::string>();
    if (auto ok = crypto::check_server_name(s.broker.server_name); !ok) {
      return prefixed(ok.error(), field);
    }
    field = "claim_provisioning";
    if (doc.contains(field)) {
      const nlohmann::json& c = doc.at(field);
      if (!c.is_object()) return fail("claim_provisioning must be an object");
      ClaimProvisioning provisioning;
      field = "claim_provisioning.template";
      provisioning.template_name = c.at("template").get<std::string>();
      field = "claim_provisioning.parameters";
      if (c.contains("parameters")) {
        const nlohmann::json& parameters = c.at("parameters");
        if (!parameters.is_object()) return fail(std::string(field) + " must be an object");
        if (parameters.size() > kMaxTemplateParameters) {
          return fail(std::string(field) + " has more than " +
                      std::to_string(kMaxTemplateParameters) + " parameters");
        }
        for (const auto& [name, value] : parameters.items()) {
          provisioning.parameters[name] = value.get<std::string>();
        }
      }
      if (auto ok = check_claim_provisioning(provisioning); !ok) {
        return prefixed(ok.error(), "claim_provisioning");
      }
      s.claim_provisioning = std::move(provisioning);
    }
    return s;
  } catch (const nlohmann::json::exception& e) {
    return fail(std::string("field '") + field + "' is missing or has the wrong type (" + e.what() +
                ")");
  }
}

Result<IdentitySettings> read_identity_settings(const fs::path& dir) {
  const fs::path path = dir / kIdentityFile;
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    return fail("device " + dir.string() + " has no identity (" + kIdentityFile +
                "); make one with `ironroot-device init`");
  }
  auto text = read_file(path, kMaxIdentityFileSize);
  if (!text) return prefixed(text.error(), "reading " + path.string());
  const auto doc = nlohmann::json::parse(as_chars(*text), nullptr, false);
  if (doc.is_discarded()) return fail(path.string() + " is not valid JSON");
  auto settings = identity_settings_from_json(doc);
  if (!settings) return prefixed(settings.error(), path.string());
  return settings;
}

Status write_identity_settings(const fs::path& dir, const IdentitySettings& settings) {
  const std::string text = to_json(settings).dump(2) + "\n";
  return write_file_atomic(dir / kIdentityFile, as_bytes(text));
}

keystore::Pkcs11Uri open_secure_element(const fs::path& dir, const SecureElement& element) {
  if (!element.softhsm2_conf.empty()) {
    ::setenv("SOFTHSM2_CONF", in_folder(dir, element.softhsm2_conf).c_str(), 1);
  }
  keystore::Pkcs11Uri uri;
  uri.token = element.token_label;
  uri.module_path = element.module_path.string();
  uri.pin_source = in_folder(dir, element.pin_file).string();
  return uri;
}

Result<MadeIdentity> make_identity(const fs::path& dir, const NewIdentity& request) {
  if (auto ok = crypto::check_thing_name(request.thing_name); !ok) {
    return prefixed(ok.error(), "thing name");
  }
  if (auto ok = crypto::check_device_serial(request.serial); !ok) {
    return prefixed(ok.error(), "device serial");
  }
  std::error_code ec;
  if (fs::exists(dir / kIdentityFile, ec)) {
    return fail("device " + dir.string() + " has an identity already (" + kIdentityFile + ")");
  }
  Undo undo;
  auto element = request.token ? existing_token(*request.token) : make_softhsm_token(dir, undo);
  if (!element) return tl::unexpected(element.error());

  keystore::Pkcs11Uri key_uri = open_secure_element(dir, *element);
  key_uri.object = std::string(keystore::kDeviceKeyLabel);
  auto key = keystore::TokenKey::generate(key_uri, crypto::KeyType::ecdsa_p256);
  if (!key) return prefixed(key.error(), "generating the device key");
  auto csr = crypto::CertificateRequest::create({request.thing_name, request.serial, {}}, **key);
  if (!csr) return prefixed(csr.error(), "making the device's CSR");
  undo.add(dir / kCsrFile);
  if (auto ok = write_file_atomic(dir / kCsrFile, as_bytes(csr->pem())); !ok) {
    return prefixed(ok.error(), "writing " + (dir / kCsrFile).string());
  }

  IdentitySettings settings{request.thing_name, request.serial, *element, request.broker, {}};
  undo.add(dir / kIdentityFile);
  if (auto ok = write_identity_settings(dir, settings); !ok) {
    return prefixed(ok.error(), "writing " + (dir / kIdentityFile).string());
  }
  undo.keep();
  keystore::Pkcs11Uri key_name = (*key)->uri();
  key_name.pin_value.reset();
  return MadeIdentity{std::move(settings), std::move(*csr), std::move(key_name)};
}

Status install_certificate(const fs::path& dir, const crypto::Certificate& certificate,
                           std::span<const crypto::Certificate> trusted) {
  auto settings = read_identity_settings(dir);
  if (!settings) return tl::unexpected(settings.error());
  if (trusted.empty()) return fail("no CA certificate to trust for the broker was given");
  auto subject = certificate.subject_name();
  if (!subject) return prefixed(subject.error(), "the device certificate");
  if (subject->common_name != settings->thing_name) {
    return fail("the certificate is for '" + subject->common_name + "', but this device is '" +
                settings->thing_name + "'");
  }
  crypto::ChainPolicy policy;
  policy.at = certificate.not_before();  // the chain, not the clock: the broker judges dates
  policy.tls_client = true;
  if (auto ok = crypto::verify_chain(certificate, trusted, policy); !ok) {
    return fail("the certificate does not chain to the CA certificates given: " +
                ok.error().message);
  }
  const keystore::Pkcs11Uri token = open_secure_element(dir, settings->secure_element);
  return keystore::store_device_identity(token, certificate, trusted);
}

}  // namespace ironroot::device

namespace ironroot::device {

Result<ClaimProvisioning> install_claim_identity(const fs::path& dir,
                                                 const crypto::Certificate& certificate,
                                                 const crypto::PrivateKey& key,
                                                 std::span<const crypto::Certificate> trusted,
                                                 ClaimProvisioning provisioning) {
  auto settings = read_identity_settings(dir);
  if (!settings) return tl::unexpected(settings.error());
  if (settings->claim_provisioning) {
    return fail("device " + dir.string() + " has claim provisioning settings already (template '" +
                settings->claim_provisioning->template_name + "' in " + kIdentityFile + ")");
  }
  if (auto ok = fill_in_device_parameters(*settings, provisioning); !ok) {
    return tl::unexpected(ok.error());
  }
  if (auto ok = check_claim_provisioning(provisioning); !ok) return tl::unexpected(ok.error());
  if (key.type() != crypto::KeyType::ecdsa_p256) {
    return fail("the claim key is " + std::string(crypto::key_type_name(key.type())) +
                "; a claim identity for TLS needs an ecdsa-p256 key");
  }
  auto certificate_key = certificate.public_key();
  if (!certificate_key) return prefixed(certificate_key.error(), "the claim certificate");
  if (certificate_key->der() != key.public_key().der()) {
    return fail("the claim key (key hash " + to_hex(key.public_key().key_hash()) +
                ") is not the key of claim certificate " + certificate.subject() + " (key hash " +
                to_hex(certificate_key->key_hash()) + ")");
  }
  if (auto ok = check_trusted_cas(trusted); !ok) return tl::unexpected(ok.error());

  const keystore::Pkcs11Uri token = open_secure_element(dir, settings->secure_element);
  if (auto device_certificate =
          keystore::read_certificates(token, keystore::kDeviceCertificateLabel)) {
    return fail("the token of device " + dir.string() + " holds its device certificate (" +
                device_certificate->front().subject() +
                ") already: a claim identity is for a device that has none yet");
  }
  if (auto claim = keystore::read_certificates(token, keystore::kClaimCertificateLabel)) {
    return fail("the token of device " + dir.string() + " holds a claim certificate (" +
                claim->front().subject() + ") already");
  }
  const auto old_roots = keystore::read_certificates(token, keystore::kRootCertificateLabel);

  Rollback rollback;
  keystore::Pkcs11Uri key_uri = token;
  key_uri.object = std::string(keystore::kClaimKeyLabel);
  auto imported = keystore::TokenKey::import_private_key(key_uri, key);
  if (!imported) return prefixed(imported.error(), "importing the claim key");
  const std::optional<Bytes> key_id = (*imported)->uri().id;
  imported->reset();
  rollback.add([token] { (void)keystore::destroy_objects(token, keystore::kClaimKeyLabel); });

  if (auto ok = keystore::store_certificates(token, keystore::kClaimCertificateLabel,
                                             std::span(&certificate, 1),
                                             keystore::CertificateCategory::token_user, key_id);
      !ok) {
    return prefixed(ok.error(), "storing the claim certificate");
  }
  rollback.add(
      [token] { (void)keystore::destroy_objects(token, keystore::kClaimCertificateLabel); });
  if (auto ok = keystore::store_certificates(token, keystore::kRootCertificateLabel, trusted,
                                             keystore::CertificateCategory::authority);
      !ok) {
    return prefixed(ok.error(), "storing the broker's CA certificates");
  }
  rollback.add([token, &old_roots] {
    if (old_roots) {
      (void)keystore::store_certificates(token, keystore::kRootCertificateLabel, *old_roots,
                                         keystore::CertificateCategory::authority);
    } else {
      (void)keystore::destroy_objects(token, keystore::kRootCertificateLabel);
    }
  });

  settings->claim_provisioning = provisioning;
  if (auto ok = write_identity_settings(dir, *settings); !ok) {
    return prefixed(ok.error(), "writing " + (dir / kIdentityFile).string());
  }
  rollback.keep();
  return provisioning;
}

}  // namespace ironroot::device
