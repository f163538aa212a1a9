// The firmware's first boot: a device made with a claim identity (`ironroot-device identity
// install-claim`) provisions itself by claim (agent/fleet_provisioning.hpp) before it says hello,
// at every boot until its token holds its own certificate.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>

namespace ironroot::firmware {

struct FirstBootReport {
  enum class Outcome {
    not_needed,   // no claim provisioning settings, or the device has its certificate already
    provisioned,  // the device has its certificate now
    failed,       // it has none; the next boot tries again
  };
  Outcome outcome = Outcome::not_needed;
  std::string detail;  // what happened, for the console; empty when not_needed
};

// When identity.json has claim provisioning settings and the device's token holds no
// "Device Cert", runs agent::provision_by_claim with them: the device key "Device Priv TLS Key"
// that init made, CN = ThingName, the claim identity from the token, the broker of
// identity.json; `timeout` bounds each connection and each reply. The certificate is stored in
// the token by provision_by_claim. When the fleet registered the thing under another name than
// identity.json's, that name is recorded there, since it is the device's MQTT client id.
//
// Never fails the boot: a failure is reported (its step and reason) and changes nothing that a
// later boot needs, so the next boot simply tries again.
//
// REQUIRES: no keystore::TokenKey of the device's token is open in this process (see
// provision_by_claim).
FirstBootReport provision_on_first_boot(const std::filesystem::path& device_dir,
                                        std::chrono::milliseconds timeout);

}  // namespace ironroot::firmware
