#include "first_boot.hpp"

#include <algorithm>

#include "ironroot/agent/fleet_provisioning.hpp"
#include "ironroot/device/identity.hpp"
#include "ironroot/keystore/token_certificates.hpp"

namespace ironroot::firmware {

namespace {

// provision_by_claim's longest timeout.
constexpr std::chrono::milliseconds kMaxTimeout{std::chrono::minutes(10)};

std::string describe(const std::map<std::string, std::string>& values) {
  std::string out;
  for (const auto& [name, value] : values) out += (out.empty() ? "" : ", ") + name + "=" + value;
  return out.empty() ? "none" : out;
}

}  // namespace

FirstBootReport provision_on_first_boot(const std::filesystem::path& device_dir,
                                        std::chrono::milliseconds timeout) {
  using Outcome = FirstBootReport::Outcome;
  auto settings = device::read_identity_settings(device_dir);
  if (!settings || !settings->claim_provisioning) return {};  // say_hello reports a bad identity
  const device::ClaimProvisioning& claim = *settings->claim_provisioning;
  const keystore::Pkcs11Uri token =
      device::open_secure_element(device_dir, settings->secure_element);
  if (keystore::read_certificates(token, keystore::kDeviceCertificateLabel)) return {};

  agent::ClaimProvisioningSettings s;
  s.token = token;
  s.host = settings->broker.host;
  s.port = settings->broker.port;
  s.server_name = settings->broker.tls_name();
  s.client_id = settings->thing_name;
  s.template_name = claim.template_name;
  s.parameters = claim.parameters;
  s.connect_timeout = std::min(std::chrono::milliseconds(timeout), kMaxTimeout);
  s.reply_timeout = s.connect_timeout;
  auto report = agent::provision_by_claim(s);
  if (!report) {
    return {Outcome::failed, "provisioning by claim with template " + claim.template_name +
                                 " failed at " + report.error().message +
                                 "; staying without a certificate, the next boot tries again"};
  }
  std::string detail = "provisioned by claim with template " + claim.template_name +
                       ": registered as thing " + report->thing_name + ", certificate " +
                       report->certificate_id +
                       " stored in the secure element (device configuration: " +
                       describe(report->device_configuration) + ")";
  if (report->thing_name != settings->thing_name) {
    const std::string old_name = settings->thing_name;
    settings->thing_name = report->thing_name;
    auto written = device::write_identity_settings(device_dir, *settings);
    detail += written ? "; the fleet named the thing " + report->thing_name + ", not " + old_name +
                            ": recorded in " + device::kIdentityFile
                      : "; warning: cannot record the thing name " + report->thing_name + " in " +
                            device::kIdentityFile + ": " + written.error().message;
  }
  return {Outcome::provisioned, detail};
}

}  // namespace ironroot::firmware
