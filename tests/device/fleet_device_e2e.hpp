// Devices against the real fleet service: ironrootd (tests/service/daemon.hpp) with its
// embedded Mosquitto and broker plugin, set up by the operator through its REST API (claim
// certificate from its CA, claim and device policies, a provisioning template), and a device made
// by `ironroot-device init` (its key in a SoftHSM2 token of its own) that provisions itself by
// claim at its first boot. Shared by the device's end-to-end tests that need the fleet.
#pragma once

#include <sys/stat.h>

#include <memory>
#include <string>
#include <vector>

#include "claim_fleet.hpp"
#include "daemon.hpp"
#include "device_e2e.hpp"
#include "operator_client.hpp"

namespace ironroot::testing {

// A template that names the thing after the ThingName parameter (the device's own name).
inline json fleet_template(const json& thing_name = {{"Ref", "ThingName"}}) {
  return {
      {"Parameters", {{"ThingName", {{"Type", "String"}}}, {"SerialNumber", {{"Type", "String"}}}}},
      {"Resources",
       {{"thing",
         {{"Type", "AWS::IoT::Thing"},
          {"Properties",
           {{"ThingName", thing_name},
            {"AttributePayload", {{"serial", {{"Ref", "SerialNumber"}}}}}}}}},
        {"certificate",
         {{"Type", "AWS::IoT::Certificate"},
          {"Properties",
           {{"CertificateId", {{"Ref", "AWS::IoT::Certificate::Id"}}}, {"Status", "ACTIVE"}}}}},
        {"policy",
         {{"Type", "AWS::IoT::Policy"}, {"Properties", {{"PolicyName", "DevicePolicy"}}}}}}},
      {"DeviceConfiguration", {{"Telemetry", "60"}}}};
}

class FleetDeviceE2E : public DeviceE2E {
 protected:
  void SetUp() override {
    ::chmod(temp_.path().c_str(), 0755);  // Mosquitto runs as its own user
    std::vector<std::string> args = ports_.args(data_);
    const std::vector<std::string> extra = daemon_args();
    args.insert(args.end(), extra.begin(), extra.end());
    daemon_ = std::make_unique<Daemon>(args);
    ASSERT_TRUE(daemon_->wait_for_log("ironrootd is running")) << daemon_->log();
  }

  // More command-line arguments for ironrootd.
  virtual std::vector<std::string> daemon_args() { return {}; }

  json call(const std::string& method, const std::string& path, const json& body = nullptr,
            int expected = 200) {
    ApiResponse response = OperatorClient(ports_.api, data_).request(method, path, body);
    EXPECT_EQ(response.status, expected) << method << " " << path << ": " << response.body.dump();
    return response.body;
  }

  std::string root_ca() const { return (data_ / "ca" / "root-ca.crt").string(); }

  // The factory's claim identity: a key of its own, certified by ironrootd's CA, registered and
  // given the claim policy by the operator. Files claim.key and claim.crt.
  void make_claim_identity() {
    ASSERT_EQ(cli({"image", "keygen", "-k", path("claim.key")}).exit_code, 0);
    auto r =
        cli({"ca", "csr", "-k", path("claim.key"), "--cn", "claim-acme", "-o", path("claim.csr")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = cli({"ca", "issue", "--dir", (data_ / "ca").string(), "--csr", path("claim.csr"), "-o",
             path("claim.crt")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto pem = read_file(path("claim.crt"), 1 << 20);
    ASSERT_TRUE(pem);
    const json registered =
        call("POST", "/v1/certificates", {{"certificatePem", std::string(as_chars(*pem))}}, 201);
    const std::string claim_id = registered.value("certificateId", "");
    call("POST", "/v1/policies", {{"policyName", "ClaimPolicy"}, {"policyDocument", kClaimPolicy}},
         201);
    call("PUT", "/v1/policies/ClaimPolicy/certificates/" + claim_id, nullptr, 204);
    call("POST", "/v1/policies",
         {{"policyName", "DevicePolicy"}, {"policyDocument", kDevicePolicy}}, 201);
  }

  void init_device(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--thing-name", "sensor-42",
                                     "--serial",     "SN-42",
                                     "--broker",     "127.0.0.1:" + std::to_string(ports_.broker)};
    args.insert(args.end(), extra.begin(), extra.end());
    init(args);
  }

  ProcessResult install_claim(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"identity", "install-claim",   "--dir",      dev(),
                                     "--cert",   path("claim.crt"), "--key",      path("claim.key"),
                                     "--ca",     root_ca(),         "--template", "AcmeFleet"};
    args.insert(args.end(), extra.begin(), extra.end());
    return device(args);
  }

  json identity() {
    auto shown = device({"identity", "show", "--dir", dev(), "--json"});
    EXPECT_EQ(shown.exit_code, 0) << shown.err;
    return json::parse(shown.out, nullptr, false);
  }

  fs::path data_ = temp_.path() / "data";
  ServicePorts ports_;
  std::unique_ptr<Daemon> daemon_;
};

}  // namespace ironroot::testing
