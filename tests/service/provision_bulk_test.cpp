// Issue 5, operator bulk provisioning end to end, all real: ironrootd with its embedded Mosquitto
// and broker plugin, `ironroot provision bulk` as a process over a CSV of 100 devices (CSRs made
// here, and keys the CLI makes for factory programming), re-run for idempotency, bad rows that do
// not stop the good ones, and a generated bundle's identity connecting to the broker.
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/stat.h>

#include <map>
#include <nlohmann/json.hpp>

#include "claim_fleet.hpp"
#include "ironroot/core/file.hpp"
#include "ironroot/crypto/key.hpp"
#include "ironroot/crypto/x509.hpp"
#include "ironroot/mqtt/client.hpp"
#include "ironroot/mqtt/tls.hpp"
#include "service_fixture.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace ironroot::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

constexpr int kDevices = 100;

std::string device_name(int i) {
  return "sensor-" + std::to_string(i);
}

class ProvisionBulkE2E : public ServiceTest {
 protected:
  ProcessResult bulk(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {IRONROOT_CLI, "provision", "bulk",       "--template",
                                     "Factory",    "--out",     out_.string()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(csv_.string());
    return run_process(argv, {"IRONROOT_SERVER=http://127.0.0.1:" + std::to_string(ports_.api),
                              "IRONROOT_DATA_DIR=" + data_.string()});
  }

  std::size_t certificate_count() {
    return call("GET", "/v1/certificates?limit=250")["items"].size();
  }

  // Devices 0..kDevices-1: the even ones with a CSR made here (in csrs/, relative to the CSV),
  // the odd ones with a key the CLI makes. Between them, bad rows; returns their lines.
  std::map<std::string, int> write_device_list() {
    fs::create_directories(temp_.path() / "csrs");
    std::string text = "ThingName,SerialNumber,csr\r\n";
    int line = 1;
    std::map<std::string, int> bad;
    for (int i = 0; i < kDevices; ++i) {
      const std::string name = device_name(i);
      std::string csr;
      if (i % 2 == 0) {
        auto key = crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256);
        auto request = crypto::CertificateRequest::create({name, "", ""}, *key);
        EXPECT_TRUE(request);
        csr = "csrs/" + name + ".csr";
        EXPECT_TRUE(write_file_atomic(temp_.path() / csr, as_bytes(request->pem())));
      }
      text += name + ",\"SN," + std::to_string(i) + "\"," + csr + "\r\n";
      ++line;
      if (i == 10) {
        text += "sensor-x,SN-x\r\n";  // a field short
        bad["fields"] = ++line;
      } else if (i == 20) {
        text += "sensor-y,SN-y,csrs/missing.csr\r\n";
        bad["csr"] = ++line;
      } else if (i == 30) {
        // The service refuses it: a CSR whose CN cannot be a thing name.
        auto key = crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256);
        auto request = crypto::CertificateRequest::create({"not a thing", "", ""}, *key);
        EXPECT_TRUE(request);
        EXPECT_TRUE(write_file_atomic(temp_.path() / "csrs/bad-cn.csr", as_bytes(request->pem())));
        text += "sensor-z,SN-z,csrs/bad-cn.csr\r\n";
        bad["refused"] = ++line;
      }
    }
    EXPECT_TRUE(write_file_atomic(csv_, as_bytes(text)));
    return bad;
  }

  fs::path csv_ = temp_.path() / "devices.csv";
  fs::path out_ = temp_.path() / "bundles";
};

TEST_F(ProvisionBulkE2E, ProvisionsAListIdempotentlyAndABundleConnects) {
  call("POST", "/v1/policies", {{"policyName", "DevicePolicy"}, {"policyDocument", kDevicePolicy}},
       201);
  call("POST", "/v1/templates", {{"templateName", "Factory"}, {"templateBody", kFleetTemplate}},
       201);
  const std::map<std::string, int> bad = write_device_list();

  ProcessResult first = bulk();
  EXPECT_EQ(first.exit_code, 1) << first.out << first.err;  // some rows failed
  const std::string where = csv_.string() + ":";
  EXPECT_TRUE(contains(first.err, where + std::to_string(bad.at("fields")) +
                                      ": has 2 fields, the header names 3 columns"))
      << first.err;
  EXPECT_TRUE(contains(first.err, where + std::to_string(bad.at("csr")) + ": csr: ")) << first.err;
  EXPECT_TRUE(contains(first.err, where + std::to_string(bad.at("refused")) + ": ")) << first.err;
  ASSERT_TRUE(contains(first.out, "100 created, 0 unchanged, 3 failed"))
      << first.out << first.err.substr(0, 4000);

  // Every good device: its thing, with one ACTIVE certificate attached, from its own key.
  std::map<std::string, std::string> certificates;
  for (int i = 0; i < kDevices; ++i) {
    const json thing = call("GET", "/v1/things/" + device_name(i));
    ASSERT_EQ(thing.value("certificateIds", json::array()).size(), 1u) << thing.dump();
    EXPECT_EQ(thing["attributes"]["serial"], "SN," + std::to_string(i));
    const std::string id = thing["certificateIds"][0];
    EXPECT_EQ(call("GET", "/v1/certificates/" + id)["status"], "ACTIVE");
    certificates[device_name(i)] = id;
  }
  EXPECT_EQ(certificate_count(), static_cast<std::size_t>(kDevices));
  EXPECT_EQ(call("GET", "/v1/things?limit=250")["items"].size(),
            static_cast<std::size_t>(kDevices));

  // A generated bundle: the key (0600) and the certificate that matches it, the root, device.json.
  const fs::path bundle = out_ / device_name(1);
  struct stat key_stat {};
  ASSERT_EQ(::stat((bundle / "private-key.pem").c_str(), &key_stat), 0);
  EXPECT_EQ(key_stat.st_mode & 0777, 0600u);
  auto device = json::parse(as_chars(*read_file(bundle / "device.json", 4096)));
  EXPECT_EQ(device["thingName"], device_name(1));
  EXPECT_EQ(device["certificateId"], certificates[device_name(1)]);
  EXPECT_TRUE(fs::exists(out_ / device_name(0) / "certificate.pem"));  // a CSR row's bundle
  EXPECT_FALSE(fs::exists(out_ / device_name(0) / "private-key.pem"));

  // As after a crash between the service's commit and the bundle's last files: the service gives
  // back the certificate it issued for that key, and the bundle is completed.
  fs::remove(out_ / device_name(3) / "device.json");
  fs::remove(out_ / device_name(3) / "certificate.pem");
  ProcessResult again = bulk({"--json"});
  EXPECT_EQ(again.exit_code, 1) << again.out << again.err;
  const json report = json::parse(again.out, nullptr, false);
  ASSERT_TRUE(report.is_object()) << again.out;
  EXPECT_EQ(report["created"], 0);
  EXPECT_EQ(report["unchanged"], kDevices);
  EXPECT_EQ(report["failed"], 3);
  for (const json& row : report["rows"]) {
    if (row["outcome"] == "failed") {
      EXPECT_TRUE(row.contains("error")) << row.dump();
      continue;
    }
    EXPECT_EQ(row["certificateId"], certificates[row["thingName"]]) << row.dump();
  }
  EXPECT_EQ(certificate_count(), static_cast<std::size_t>(kDevices));
  auto restored = json::parse(as_chars(*read_file(out_ / device_name(3) / "device.json", 4096)));
  EXPECT_EQ(restored["certificateId"], certificates[device_name(3)]);

  // A bundle is all a device needs to connect to the broker as its thing: every generated one
  // does (the CSR rows' devices hold their keys themselves).
  for (int i = 1; i < kDevices; i += 2) {
    const fs::path folder = out_ / device_name(i);
    auto certificate = crypto::Certificate::from_pem(*read_file(folder / "certificate.pem", 65536));
    auto root = crypto::Certificate::from_pem(*read_file(folder / "root-ca.pem", 65536));
    ASSERT_TRUE(certificate && root);
    BrokerAccess broker;
    broker.port = ports_.broker;
    broker.trusted = {*root};
    auto client = connect_device(broker, FileIdentity{*certificate, folder / "private-key.pem"},
                                 device_name(i), 20s);
    ASSERT_TRUE(client) << client.error().message << "\n" << broker_log();
    (*client)->stop();
  }
}

TEST_F(ProvisionBulkE2E, ProblemsThatConcernEveryRowStopBeforeTheFirst) {
  std::string text = "ThingName\nsensor-1\n";
  ASSERT_TRUE(write_file_atomic(csv_, as_bytes(text)));
  ProcessResult no_template = bulk();
  EXPECT_EQ(no_template.exit_code, 1);
  EXPECT_TRUE(contains(no_template.err, "template 'Factory'")) << no_template.err;
  EXPECT_FALSE(fs::exists(out_));

  call("POST", "/v1/templates", {{"templateName", "Factory"}, {"templateBody", kFleetTemplate}},
       201);
  ASSERT_TRUE(write_file_atomic(csv_, as_bytes(std::string("ThingName,,x\nsensor-1,a,b\n"))));
  ProcessResult bad_header = bulk();
  EXPECT_EQ(bad_header.exit_code, 1);
  EXPECT_TRUE(contains(bad_header.err, "line 1 (the header): column 2 has no name"))
      << bad_header.err;
  EXPECT_EQ(call("GET", "/v1/things")["items"].size(), 0u);
}

}  // namespace
}  // namespace ironroot::testing
