// `ironroot-device identity install|install-claim|show|set-broker`: the device's certificate (or
// the claim identity it provisions itself with on its first boot), the CA it trusts for its
// broker, and where the broker is. (`init` makes the key and the CSR.)
#include <spdlog/spdlog.h>
#include <string.h>

#include <cstdlib>

#include "commands.hpp"
#include "device_cli.hpp"
#include "ironroot/crypto/certificate_authority.hpp"
#include "ironroot/device/device_folder.hpp"
#include "ironroot/device/identity.hpp"
#include "ironroot/keystore/token_certificates.hpp"

namespace ironroot::cli {

namespace {

constexpr std::uintmax_t kMaxCertificateFileSize = 256 * 1024;

struct InstallArgs {
  std::string dir;
  std::string certificate;
  std::string trust;
};

int install(const InstallArgs& a, const Output& out) {
  auto folder = device::DeviceFolder::open(a.dir);
  if (!folder) return out.failure(folder.error().message);
  auto cert_pem = read_input("--cert", a.certificate, kMaxCertificateFileSize);
  if (!cert_pem) return out.failure(cert_pem.error().message);
  auto certificate = crypto::Certificate::from_pem(*cert_pem);
  if (!certificate)
    return out.failure("--cert " + a.certificate + ": " + certificate.error().message);
  auto trust_pem = read_input("--trust", a.trust, kMaxCertificateFileSize);
  if (!trust_pem) return out.failure(trust_pem.error().message);
  auto trusted = crypto::Certificate::all_from_pem(*trust_pem);
  if (!trusted) return out.failure("--trust " + a.trust + ": " + trusted.error().message);
  if (auto ok = device::install_certificate(folder->dir(), *certificate, *trusted); !ok) {
    return out.failure("not installed: " + ok.error().message);
  }
  spdlog::info("installed the device certificate {} in the token of {}", certificate->serial_hex(),
               folder->dir().string());
  out.result("installed the certificate for " + certificate->subject() + " (serial " +
                 certificate->serial_hex() + ", valid until " +
                 crypto::format_time(certificate->not_after()) + ") and " +
                 std::to_string(trusted->size()) + " trusted CA certificate(s) in the token",
             {{"result", "installed"},
              {"subject", certificate->subject()},
              {"serial", certificate->serial_hex()},
              {"not_after", crypto::format_time(certificate->not_after())},
              {"trusted", trusted->size()}});
  return kExitOk;
}

struct InstallClaimArgs {
  std::string dir;
  std::string certificate;
  std::string key;
  std::string ca;
  std::string template_name;
  std::vector<std::string> parameters;  // K=V
};

constexpr std::uintmax_t kMaxKeyFileSize = 64 * 1024;

// --param K=V, each name once.
Result<std::map<std::string, std::string>> parse_parameters(
    const std::vector<std::string>& parameters) {
  std::map<std::string, std::string> parsed;
  for (const std::string& parameter : parameters) {
    const auto equals = parameter.find('=');
    if (equals == std::string::npos || equals == 0) {
      return fail("--param '" + parameter + "' is not NAME=VALUE");
    }
    if (!parsed.emplace(parameter.substr(0, equals), parameter.substr(equals + 1)).second) {
      return fail("--param " + parameter.substr(0, equals) + " is given twice");
    }
  }
  return parsed;
}

// The claim key file, parsed; the bytes read are wiped once it is.
Result<crypto::PrivateKey> read_claim_key(const std::string& path) {
  auto pem = read_input("--key", path, kMaxKeyFileSize);
  if (!pem) return tl::unexpected(pem.error());
  std::optional<std::string> passphrase;
  if (const char* pass = std::getenv("IRONROOT_KEY_PASSPHRASE")) passphrase = pass;
  auto key = crypto::PrivateKey::from_pem(*pem, passphrase);
  ::explicit_bzero(pem->data(), pem->size());
  if (!key) return prefixed(key.error(), "--key " + path);
  return key;
}

int install_claim(const InstallClaimArgs& a, const Output& out) {
  device::ClaimProvisioning provisioning;
  provisioning.template_name = a.template_name;
  auto parameters = parse_parameters(a.parameters);
  if (!parameters) return out.usage_error(parameters.error().message);
  provisioning.parameters = std::move(*parameters);
  if (auto ok = device::check_claim_provisioning(provisioning); !ok) {
    return out.usage_error(ok.error().message);
  }
  auto folder = device::DeviceFolder::open(a.dir);
  if (!folder) return out.failure(folder.error().message);
  auto cert_pem = read_input("--cert", a.certificate, kMaxCertificateFileSize);
  if (!cert_pem) return out.failure(cert_pem.error().message);
  auto certificate = crypto::Certificate::from_pem(*cert_pem);
  if (!certificate) {
    return out.failure("--cert " + a.certificate + ": " + certificate.error().message);
  }
  auto key = read_claim_key(a.key);
  if (!key) return out.failure(key.error().message);
  auto ca_pem = read_input("--ca", a.ca, kMaxCertificateFileSize);
  if (!ca_pem) return out.failure(ca_pem.error().message);
  auto trusted = crypto::Certificate::all_from_pem(*ca_pem);
  if (!trusted) return out.failure("--ca " + a.ca + ": " + trusted.error().message);

  auto installed = device::install_claim_identity(folder->dir(), *certificate, *key, *trusted,
                                                  std::move(provisioning));
  if (!installed) return out.failure("not installed: " + installed.error().message);
  spdlog::info("installed the claim identity {} in the token of {}", certificate->subject(),
               folder->dir().string());
  std::string parameter_text;
  for (const auto& [name, value] : installed->parameters) {
    parameter_text += (parameter_text.empty() ? "" : ", ") + name + "=" + value;
  }
  out.result("installed the claim identity " + certificate->subject() + " (serial " +
                 certificate->serial_hex() + ", valid until " +
                 crypto::format_time(certificate->not_after()) + ") and " +
                 std::to_string(trusted->size()) +
                 " trusted CA certificate(s) in the token\n  at its first boot the firmware "
                 "provisions the device with template " +
                 installed->template_name + " (" + parameter_text + ")",
             {{"result", "installed"},
              {"claim_subject", certificate->subject()},
              {"claim_serial", certificate->serial_hex()},
              {"not_after", crypto::format_time(certificate->not_after())},
              {"trusted", trusted->size()},
              {"template", installed->template_name},
              {"parameters", installed->parameters}});
  return kExitOk;
}

int show(const std::string& dir, const Output& out) {
  auto folder = device::DeviceFolder::open(dir);
  if (!folder) return out.failure(folder.error().message);
  auto settings = device::read_identity_settings(folder->dir());
  if (!settings) return out.failure(settings.error().message);
  nlohmann::json doc = device::to_json(*settings);
  doc.erase("format_version");
  std::string text =
      "thing " + settings->thing_name + " (serial " + settings->serial + ")\n  broker " +
      settings->broker.host + ":" + std::to_string(settings->broker.port) + " (certificate name " +
      settings->broker.tls_name() + ")\n  token '" + settings->secure_element.token_label +
      "' in " + settings->secure_element.module_path.string();
  const auto token = device::open_secure_element(folder->dir(), settings->secure_element);
  auto identity = keystore::read_device_identity(token);
  if (identity) {
    const crypto::Certificate& cert = identity->certificate;
    doc["certificate"] = {{"subject", cert.subject()},
                          {"issuer", cert.issuer()},
                          {"serial", cert.serial_hex()},
                          {"not_after", crypto::format_time(cert.not_after())}};
    text += "\n  certificate " + cert.subject() + " from " + cert.issuer() + ", valid until " +
            crypto::format_time(cert.not_after());
  } else {
    doc["certificate"] = nullptr;
    doc["certificate_missing"] = identity.error().message;
    text += "\n  no certificate installed: " + identity.error().message;
  }
  if (settings->claim_provisioning) {
    text += "\n  provisioning by claim with template " +
            settings->claim_provisioning->template_name +
            (identity ? " (done)" : " at the next boot");
  }
  out.result(text, doc);
  return kExitOk;
}

struct BrokerArgs {
  std::string dir;
  std::string endpoint;
  std::string server_name;
};

int set_broker(const BrokerArgs& a, const Output& out) {
  auto endpoint = device::parse_broker_endpoint(a.endpoint);
  if (!endpoint) return out.usage_error(endpoint.error().message);
  if (!a.server_name.empty()) {
    if (auto ok = crypto::check_server_name(a.server_name); !ok) {
      return out.usage_error("--server-name: " + ok.error().message);
    }
    endpoint->server_name = a.server_name;
  }
  auto folder = device::DeviceFolder::open(a.dir);
  if (!folder) return out.failure(folder.error().message);
  auto settings = device::read_identity_settings(folder->dir());
  if (!settings) return out.failure(settings.error().message);
  settings->broker = *endpoint;
  if (auto ok = device::write_identity_settings(folder->dir(), *settings); !ok) {
    return out.failure(ok.error().message);
  }
  out.result("the firmware connects to " + endpoint->host + ":" + std::to_string(endpoint->port) +
                 " (certificate name " + endpoint->tls_name() + ")",
             device::to_json(*settings)["broker"]);
  return kExitOk;
}

}  // namespace

void add_identity_command(CLI::App& app, const Output& out, int& exit_code) {
  auto* identity = app.add_subcommand(
      "identity", "The device's certificate and broker (init made its key and CSR)");
  identity->require_subcommand(1);

  auto in = std::make_shared<InstallArgs>();
  auto* cmd = identity->add_subcommand(
      "install",
      "Store the device certificate and the CA certificate(s) it trusts for its broker in the "
      "device's token");
  add_dir_option(*cmd, in->dir);
  cmd->add_option("--cert", in->certificate,
                  "The device certificate (PEM), issued for the CSR init made")
      ->required();
  cmd->add_option("--trust", in->trust,
                  "CA certificate(s) (PEM) the broker's certificate must chain to, e.g. an "
                  "ironroot CA's ca-chain.crt")
      ->required();
  cmd->callback([in, &out, &exit_code] { exit_code = install(*in, out); });

  auto claim = std::make_shared<InstallClaimArgs>();
  cmd = identity->add_subcommand(
      "install-claim",
      "Store a claim identity (a certificate and key shared by a production batch) and the CA "
      "certificate(s) the broker chains to in the device's token, so that the firmware "
      "provisions the device by claim at its first boot");
  add_dir_option(*cmd, claim->dir);
  cmd->add_option("--cert", claim->certificate, "The claim certificate (PEM)")->required();
  cmd->add_option("--key", claim->key,
                  "The claim certificate's private key (PEM, ECDSA P-256; encrypted with "
                  "$IRONROOT_KEY_PASSPHRASE); imported into the token, not extractable")
      ->required();
  cmd->add_option("--ca", claim->ca,
                  "CA certificate(s) (PEM) the broker's certificate must chain to, e.g. the "
                  "fleet service's root-ca.crt")
      ->required();
  cmd->add_option("--template", claim->template_name,
                  "The provisioning template the device registers itself with")
      ->required();
  cmd->add_option("--param", claim->parameters,
                  "A template parameter NAME=VALUE (repeatable); ThingName and SerialNumber "
                  "default to the device's thing name and serial")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->callback([claim, &out, &exit_code] { exit_code = install_claim(*claim, out); });

  auto dir = std::make_shared<std::string>();
  cmd = identity->add_subcommand("show", "The device's thing name, broker and certificate");
  add_dir_option(*cmd, *dir);
  cmd->callback([dir, &out, &exit_code] { exit_code = show(*dir, out); });

  auto b = std::make_shared<BrokerArgs>();
  cmd = identity->add_subcommand("set-broker", "Change the broker the firmware connects to");
  add_dir_option(*cmd, b->dir);
  cmd->add_option("endpoint", b->endpoint, "HOST[:PORT] (the port defaults to 8883)")->required();
  cmd->add_option("--server-name", b->server_name,
                  "The name the broker's certificate must carry (default: the host)");
  cmd->callback([b, &out, &exit_code] { exit_code = set_broker(*b, out); });
}

}  // namespace ironroot::cli
