// Issue 5, the device's first boot, all real: ironrootd with its embedded Mosquitto and broker
// plugin, set up by the operator through its REST API (claim certificate from its CA, claim and
// device policies, a provisioning template); a device made by `ironroot-device init` (its key in a
// SoftHSM2 token of its own, no certificate) and given the claim identity by
// `ironroot-device identity install-claim`; and the real firmware, started from memory by
// `ironroot-device run`, which provisions the device by claim and then says hello as itself.
#include <fcntl.h>
#include <httplib.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "fleet_device_e2e.hpp"
#include "support/broker_process.hpp"

namespace ironroot::testing {
namespace {

class DeviceClaimProvisioningE2E : public FleetDeviceE2E {};

TEST_F(DeviceClaimProvisioningE2E, FirstBootProvisionsByClaimAndLaterBootsOnlySayHello) {
  ASSERT_NO_FATAL_FAILURE(make_claim_identity());
  call("POST", "/v1/templates", {{"templateName", "AcmeFleet"}, {"templateBody", fleet_template()}},
       201);
  init_device();
  auto installed = install_claim({"--json"});
  ASSERT_EQ(installed.exit_code, 0) << installed.err;
  const json claim = json::parse(installed.out);
  EXPECT_EQ(claim["template"], "AcmeFleet");
  EXPECT_EQ(claim["parameters"], json({{"ThingName", "sensor-42"}, {"SerialNumber", "SN-42"}}));
  json shown = identity();
  EXPECT_TRUE(shown["certificate"].is_null()) << shown.dump();
  EXPECT_EQ(shown["claim_provisioning"]["template"], "AcmeFleet") << shown.dump();

  // The first boot: provisioned by claim, then the hello as itself.
  run();
  EXPECT_TRUE(contains(last_.err,
                       "provisioned by claim with template AcmeFleet: registered as "
                       "thing sensor-42, certificate "))
      << last_.err << daemon_->log();
  EXPECT_TRUE(contains(last_.err, "(device configuration: Telemetry=60)")) << last_.err;
  EXPECT_TRUE(contains(last_.err, "as sensor-42 and published a hello on things/sensor-42/hello"))
      << last_.err << daemon_->log();

  // The registry has the thing and its one ACTIVE certificate from ironrootd's CA; the device's
  // token has that certificate.
  const json thing = call("GET", "/v1/things/sensor-42");
  EXPECT_EQ(thing["attributes"]["serial"], "SN-42") << thing.dump();
  const json certificates = call("GET", "/v1/things/sensor-42/certificates");
  ASSERT_EQ(certificates["items"].size(), 1u) << certificates.dump();
  const std::string certificate_id = certificates["items"][0];
  EXPECT_TRUE(contains(last_.err, "certificate " + certificate_id + " stored")) << last_.err;
  const json certificate = call("GET", "/v1/certificates/" + certificate_id);
  EXPECT_EQ(certificate["status"], "ACTIVE") << certificate.dump();
  EXPECT_EQ(certificate["commonName"], "sensor-42");
  shown = identity();
  ASSERT_TRUE(shown["certificate"].is_object()) << shown.dump();
  EXPECT_TRUE(contains(shown["certificate"]["subject"].get<std::string>(), "CN=sensor-42"))
      << shown.dump();
  EXPECT_TRUE(contains(shown["certificate"]["subject"].get<std::string>(), "serialNumber=SN-42"))
      << shown.dump();

  // The second boot only says hello: no new certificate, no second thing.
  run();
  EXPECT_FALSE(contains(last_.err, "provision")) << last_.err;
  EXPECT_TRUE(contains(last_.err, "published a hello on things/sensor-42/hello")) << last_.err;
  EXPECT_EQ(call("GET", "/v1/things/sensor-42/certificates")["items"].size(), 1u);

  // A provisioned device takes no claim identity any more.
  auto again = install_claim();
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_TRUE(contains(again.err, "has claim provisioning settings already")) << again.err;
}

TEST_F(DeviceClaimProvisioningE2E, ARefusedProvisioningLeavesTheDeviceOfflineUntilABootSucceeds) {
  ASSERT_NO_FATAL_FAILURE(make_claim_identity());
  init_device();
  ASSERT_EQ(install_claim().exit_code, 0);

  // No template AcmeFleet yet: the fleet refuses RegisterThing. The firmware says so, runs
  // offline and powers off normally.
  run();
  EXPECT_TRUE(contains(last_.err,
                       "provisioning by claim with template AcmeFleet failed at "
                       "register thing: the fleet service rejected the request"))
      << last_.err << daemon_->log();
  EXPECT_TRUE(contains(last_.err, "ResourceNotFound")) << last_.err;
  EXPECT_TRUE(contains(last_.err, "the next boot tries again")) << last_.err;
  EXPECT_TRUE(contains(last_.err, "staying offline")) << last_.err;
  EXPECT_TRUE(contains(last_.err, "powering off")) << last_.err;
  EXPECT_TRUE(identity()["certificate"].is_null());
  call("GET", "/v1/things/sensor-42", nullptr, 404);

  // The operator adds the template, which names things after their serial: the next boot
  // provisions the device, which records its new name and says hello under it.
  const json acme_name = {{"Fn::Join", {"", {"acme-", {{"Ref", "SerialNumber"}}}}}};
  call("POST", "/v1/templates",
       {{"templateName", "AcmeFleet"}, {"templateBody", fleet_template(acme_name)}}, 201);
  run();
  EXPECT_TRUE(contains(last_.err, "registered as thing acme-SN-42")) << last_.err;
  EXPECT_TRUE(contains(last_.err, "the fleet named the thing acme-SN-42, not sensor-42"))
      << last_.err;
  EXPECT_TRUE(contains(last_.err, "as acme-SN-42 and published a hello on things/acme-SN-42/hello"))
      << last_.err << daemon_->log();
  const json shown = identity();
  EXPECT_EQ(shown["thing_name"], "acme-SN-42") << shown.dump();
  EXPECT_TRUE(shown["certificate"].is_object()) << shown.dump();
  EXPECT_EQ(call("GET", "/v1/things/acme-SN-42/certificates")["items"].size(), 1u);
}

TEST_F(DeviceClaimProvisioningE2E, InstallClaimRefusesWhatCannotWorkAndChangesNothing) {
  ASSERT_NO_FATAL_FAILURE(make_claim_identity());
  init_device();
  const std::string before =
      std::string(as_chars(*read_file(fs::path(dev()) / "identity.json", 1 << 20)));

  // A key that is not the claim certificate's.
  ASSERT_EQ(cli({"image", "keygen", "-k", path("other.key")}).exit_code, 0);
  auto r = device({"identity", "install-claim", "--dir", dev(), "--cert", path("claim.crt"),
                   "--key", path("other.key"), "--ca", root_ca(), "--template", "AcmeFleet"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "is not the key of claim certificate")) << r.err;

  // Parameters: a ThingName that is not the device's, a bad template name, a malformed --param.
  r = install_claim({"--param", "ThingName=sensor-43"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "parameter ThingName='sensor-43' is not this device's thing name"))
      << r.err;
  r = device({"identity", "install-claim", "--dir", dev(), "--cert", path("claim.crt"), "--key",
              path("claim.key"), "--ca", root_ca(), "--template", "no/slash"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "template name 'no/slash'")) << r.err;
  r = install_claim({"--param", "=value"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "is not NAME=VALUE")) << r.err;
  // A claim certificate is no CA to trust.
  r = device({"identity", "install-claim", "--dir", dev(), "--cert", path("claim.crt"), "--key",
              path("claim.key"), "--ca", path("claim.crt"), "--template", "AcmeFleet"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "is not a CA certificate")) << r.err;

  EXPECT_EQ(std::string(as_chars(*read_file(fs::path(dev()) / "identity.json", 1 << 20))), before);
  json shown = identity();
  EXPECT_FALSE(shown.contains("claim_provisioning")) << shown.dump();

  // A device certified the factory way has its certificate: no claim identity for it.
  r = cli({"ca", "issue", "--dir", (data_ / "ca").string(), "--csr",
           (fs::path(dev()) / "device.csr").string(), "-o", path("device.crt")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = device({"identity", "install", "--dir", dev(), "--cert", path("device.crt"), "--trust",
              (data_ / "ca" / "ca-chain.crt").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = install_claim();
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "holds its device certificate")) << r.err;
  shown = identity();
  EXPECT_FALSE(shown.contains("claim_provisioning")) << shown.dump();

  // Nothing of the refused attempts is in the token: pkcs11-tool lists no claim objects.
  const fs::path se = fs::path(dev()) / "secure-element";
  const std::string pin(as_chars(*read_file(se / "pin", 1024)));
  auto listed =
      run_process({"pkcs11-tool", "--module", "/usr/lib/softhsm/libsofthsm2.so", "--token-label",
                   "ironroot-device", "--login", "--pin", pin, "--list-objects"},
                  {"SOFTHSM2_CONF=" + (se / "softhsm2.conf").string()});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_FALSE(contains(listed.out, "Claim")) << listed.out;
  EXPECT_TRUE(contains(listed.out, "Device Cert")) << listed.out;
}

}  // namespace
}  // namespace ironroot::testing
