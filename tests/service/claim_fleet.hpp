// The operator's set-up of provisioning by claim on a running ironrootd, shared by the service
// tests and the fleet benchmark: a claim identity (key in a file, certificate from ironrootd's
// CA through `ironroot ca issue`) registered with a policy that allows only the provisioning
// topics, a device policy that confines each thing to its own topics (its application's and its
// jobs API's and its MQTT file streams'), and the template
// "AcmeFleet" (ThingName, SerialNumber -> thing, attribute serial, ACTIVE certificate,
// DevicePolicy; DeviceConfiguration Telemetry=60).
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "ironroot/core/file.hpp"
#include "ironroot/crypto/x509.hpp"
#include "operator_client.hpp"
#include "support/claim_device.hpp"
#include "support/process.hpp"

namespace ironroot::testing {

inline const nlohmann::json kClaimPolicy = nlohmann::json::parse(R"({"Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"},
    {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"], "Resource": [
      "arn:aws:iot:*:*:topic/$aws/certificates/create-from-csr/*",
      "arn:aws:iot:*:*:topic/$aws/provisioning-templates/*"]},
    {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": [
      "arn:aws:iot:*:*:topicfilter/$aws/certificates/create-from-csr/*",
      "arn:aws:iot:*:*:topicfilter/$aws/provisioning-templates/*"]}]})");

inline const nlohmann::json kDevicePolicy = nlohmann::json::parse(R"({"Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Action": "iot:Connect",
     "Resource": "arn:aws:iot:*:*:client/${iot:Connection.Thing.ThingName}"},
    {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive", "iot:Subscribe"],
     "Resource": ["arn:aws:iot:*:*:topic/things/${iot:Connection.Thing.ThingName}/*",
                  "arn:aws:iot:*:*:topicfilter/things/${iot:Connection.Thing.ThingName}/*",
                  "arn:aws:iot:*:*:topic/$aws/things/${iot:Connection.Thing.ThingName}/jobs/*",
                  "arn:aws:iot:*:*:topicfilter/$aws/things/${iot:Connection.Thing.ThingName}/jobs/*",
                  "arn:aws:iot:*:*:topic/$aws/things/${iot:Connection.Thing.ThingName}/streams/*",
                  "arn:aws:iot:*:*:topicfilter/$aws/things/${iot:Connection.Thing.ThingName}/streams/*"]}]})");

inline const nlohmann::json kFleetTemplate = nlohmann::json::parse(R"({
  "Parameters": {"ThingName": {"Type": "String"}, "SerialNumber": {"Type": "String"}},
  "Resources": {
    "thing": {"Type": "AWS::IoT::Thing",
              "Properties": {"ThingName": {"Ref": "ThingName"},
                             "AttributePayload": {"serial": {"Ref": "SerialNumber"}}}},
    "certificate": {"Type": "AWS::IoT::Certificate",
                    "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"},
                                   "Status": "ACTIVE"}},
    "policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": "DevicePolicy"}}},
  "DeviceConfiguration": {"Telemetry": "60"}})");

struct ClaimFleet {
  FileIdentity claim;
  std::string claim_id;
};

// Sets it all up; fails saying which step went wrong. `work_dir` receives the claim's files.
inline Result<ClaimFleet> set_up_claim_fleet(const OperatorClient& api,
                                             const std::filesystem::path& data_dir,
                                             const std::filesystem::path& work_dir) {
  auto expect = [&](const std::string& method, const std::string& path, const nlohmann::json& body,
                    int status) -> Result<nlohmann::json> {
    ApiResponse response = api.request(method, path, body);
    if (response.status != status) {
      return fail(method + " " + path + ": " + std::to_string(response.status) + " " +
                  response.body.dump());
    }
    return response.body;
  };
  auto key = crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256);
  if (!key) return tl::unexpected(key.error());
  auto csr = crypto::CertificateRequest::create({"claim-acme", "", "Acme"}, *key);
  if (!csr) return tl::unexpected(csr.error());
  const auto key_file = work_dir / "claim.key", csr_file = work_dir / "claim.csr",
             cert_file = work_dir / "claim.crt";
  if (auto ok = write_key_file(*key, key_file); !ok) return tl::unexpected(ok.error());
  if (auto ok = write_file_atomic(csr_file, as_bytes(csr->pem())); !ok) {
    return tl::unexpected(ok.error());
  }
  auto issued = run_process({IRONROOT_CLI, "ca", "issue", "--dir", (data_dir / "ca").string(),
                             "--csr", csr_file.string(), "-o", cert_file.string()});
  if (issued.exit_code != 0) return fail("ironroot ca issue: " + issued.err);
  auto pem = read_file(cert_file, 1 << 20);
  if (!pem) return tl::unexpected(pem.error());
  auto certificate = crypto::Certificate::from_pem(*pem);
  if (!certificate) return tl::unexpected(certificate.error());

  auto registered =
      expect("POST", "/v1/certificates", {{"certificatePem", certificate->pem()}}, 201);
  if (!registered) return tl::unexpected(registered.error());
  const std::string claim_id = registered->value("certificateId", "");
  for (auto [method, path, body, status] :
       std::vector<std::tuple<std::string, std::string, nlohmann::json, int>>{
           {"POST",
            "/v1/policies",
            {{"policyName", "ClaimPolicy"}, {"policyDocument", kClaimPolicy}},
            201},
           {"PUT", "/v1/policies/ClaimPolicy/certificates/" + claim_id, nullptr, 204},
           {"POST",
            "/v1/policies",
            {{"policyName", "DevicePolicy"}, {"policyDocument", kDevicePolicy}},
            201},
           {"POST",
            "/v1/templates",
            {{"templateName", "AcmeFleet"}, {"templateBody", kFleetTemplate}},
            201}}) {
    if (auto ok = expect(method, path, body, status); !ok) return tl::unexpected(ok.error());
  }
  return ClaimFleet{FileIdentity{*certificate, key_file}, claim_id};
}

}  // namespace ironroot::testing
