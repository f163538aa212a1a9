// Issue 7, end to end and all real: ironrootd with its embedded Mosquitto, broker plugin, firmware
// repository and MQTT file streams; an operator who registers the code-signing key and creates
// the update with `ironroot ota create`; and a device made by `ironroot-device init` (its key in a
// SoftHSM2 token), provisioned by claim at its first boot, whose real firmware, started from
// memory by `ironroot-device run --take-jobs`, takes the OTA job, downloads the image in blocks
// into its update slot, has it checked as its bootloader will, reboots into it through secure
// boot, self-tests and confirms it, or has it reverted.
#include <signal.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "fleet_device_e2e.hpp"
#include "ironroot/crypto/digest.hpp"
#include "ironroot/crypto/key.hpp"
#include "ironroot/protocol/ota_job.hpp"

namespace ironroot::testing {
namespace {

using namespace std::chrono_literals;

class DeviceOtaE2E : public FleetDeviceE2E {
 protected:
  // Debug logging, for the blocks each GetStream sent; and stream limits far above the debug
  // firmware's tens of MB, so that the limits do not set the pace of the tests.
  std::vector<std::string> daemon_args() override {
    const std::string config = path("ironrootd.toml");
    EXPECT_TRUE(write_file_atomic(config, as_bytes("[streams]\nrequests_per_minute = 600000\n"
                                                   "request_burst = 10000\n"
                                                   "bytes_per_second = 1073741824\n"
                                                   "burst_bytes = 1073741824\n")));
    return {"--config", config, "--log-level", "debug"};
  }

  // The block bytes ironrootd sent to sensor-42, from its debug log.
  std::uint64_t bytes_served() {
    std::uint64_t total = 0;
    std::istringstream log(daemon_->log());
    for (std::string line; std::getline(log, line);) {
      if (!contains(line, "GetStream of stream ") || !contains(line, " for sensor-42 ")) continue;
      const auto end = line.find(" bytes in all");
      const auto start = line.rfind(", ", end);
      if (end == std::string::npos || start == std::string::npos) continue;
      total += std::stoull(line.substr(start + 2, end - start - 2));
    }
    return total;
  }
  void SetUp() override {
    FleetDeviceE2E::SetUp();
    ASSERT_NO_FATAL_FAILURE(make_claim_identity());
    call("POST", "/v1/templates",
         {{"templateName", "AcmeFleet"}, {"templateBody", fleet_template()}}, 201);
    ASSERT_NO_FATAL_FAILURE(init_device());
    ASSERT_EQ(install_claim().exit_code, 0);
    // The first boot provisions the device by claim; it takes no jobs yet.
    run();
    ASSERT_TRUE(contains(last_.err, "published a hello")) << last_.err << daemon_->log();
    // The OEM's firmware key, which the device's fuses trust, signs the releases.
    const ProcessResult registered = ota({"key", "register", "--name", "oem", "--key", key("firmware")});
    ASSERT_EQ(registered.exit_code, 0) << registered.err << registered.out;
  }

  std::vector<std::string> server_env() const {
    return {"IRONROOT_SERVER=http://127.0.0.1:" + std::to_string(ports_.api),
            "IRONROOT_DATA_DIR=" + data_.string()};
  }
  ProcessResult ota(std::vector<std::string> args) {
    args.insert(args.begin(), {IRONROOT_CLI, "ota"});
    return run_process(args, server_env());
  }

  // `ironroot ota create` for sensor-42; returns the job id.
  std::string create_update(const std::string& image, const std::string& job_id) {
    const ProcessResult made = ota({"create", "--image", image, "--key", key("firmware"),
                                    "--targets", "thing:sensor-42", "--job-id", job_id, "--json"});
    EXPECT_EQ(made.exit_code, 0) << made.err << made.out;
    return job_id;
  }

  // `run --take-jobs`: boots until the firmware has had no job for `idle` seconds.
  json run_taking_jobs(int expected_exit = 0, int idle = 2) {
    return run(expected_exit, {"--take-jobs", std::to_string(idle)});
  }

  json execution(const std::string& job_id) {
    return call("GET", "/v1/jobs/" + job_id + "/things/sensor-42");
  }

  // An afr_ota document written by hand (for what `ironroot ota create` never writes), signed
  // with the firmware key over the image's SHA-256.
  json document_for(const std::string& image_file, protocol::OtaRelease release) {
    const Bytes image = *read_file(image_file, 1u << 30);
    auto signer = crypto::PrivateKey::from_pem(*read_file(key("firmware"), 65536));
    EXPECT_TRUE(signer);
    const json uploaded = upload(image_file);
    protocol::OtaJobDocument doc;
    doc.protocols = {protocol::OtaProtocol::mqtt};
    doc.stream_name = "fw-" + uploaded["firmwareId"].get<std::string>().substr(0, 40);
    doc.file.file_path = "/mcuboot/secondary";
    doc.file.file_size = static_cast<std::int64_t>(image.size());
    doc.file.certificate_path = "code-signing.pem";
    doc.file.signature = *signer->sign_digest(crypto::sha256(image));
    doc.file.file_type = 0;
    doc.release = std::move(release);
    return doc.encode();
  }
  json upload(const std::string& image_file) {
    const ProcessResult r = ota({"upload", image_file, "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err << r.out;
    return json::parse(r.out, nullptr, false);
  }
  void create_job(const std::string& job_id, const json& document) {
    call("POST", "/v1/jobs",
         {{"jobId", job_id}, {"document", document}, {"targets", {{"things", {"sensor-42"}}}}},
         201);
  }
  static std::int64_t now_seconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  std::string primary_version() { return status()["primary"]["version"].get<std::string>(); }
};

TEST_F(DeviceOtaE2E, AnUpdateIsDownloadedBootedSelfTestedAndConfirmed) {
  create_update(firmware("1.1.0"), "update-110");
  run_taking_jobs();
  const std::string out = last_.err;
  EXPECT_TRUE(contains(out, "job update-110: the update is pending: restarting to boot it")) << out;
  EXPECT_TRUE(contains(out, "job update-110 (resumed): SUCCEEDED")) << out;
  EXPECT_EQ(primary_version(), "1.1.0+0");
  EXPECT_EQ(status()["primary"]["trailer"].value("image_ok", ""), "set") << status().dump(2);

  const json e = execution("update-110");
  EXPECT_EQ(e["status"], "SUCCEEDED") << e.dump(2);
  EXPECT_TRUE(contains(e["statusDetails"].value("reason", ""), "accepted")) << e.dump(2);

  // The next power-on boots 1.1.0 as the confirmed image.
  run();
  EXPECT_EQ(primary_version(), "1.1.0+0");
  EXPECT_TRUE(contains(last_.err, "ironroot-firmware 1.1.0+0")) << last_.err;
}

TEST_F(DeviceOtaE2E, AnUpdateThatFailsItsSelfTestIsRevertedAndReportedFailed) {
  create_update(firmware("1.2.0", Build::failing), "update-120");
  run_taking_jobs();
  EXPECT_EQ(primary_version(), "1.0.0+0") << last_.err;
  const json e = execution("update-120");
  EXPECT_EQ(e["status"], "FAILED") << e.dump(2);
  const std::string reason = e["statusDetails"].value("reason", "");
  EXPECT_TRUE(contains(reason, "1.2.0")) << reason;
  EXPECT_TRUE(contains(reason, "reverted to 1.0.0")) << reason;
}

TEST_F(DeviceOtaE2E, RefusesDowngradesExpiredDocumentsAndOtherDevicesDocumentsBeforeDownloading) {
  const std::string image = firmware("1.1.0");
  struct Case {
    std::string job;
    protocol::OtaRelease release;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {"expired", {"1.1.0", now_seconds() - 60, std::nullopt, std::nullopt}, "expired"},
      {"for-another", {"1.1.0", now_seconds() + 3600, "sensor-99", std::nullopt}, "sensor-99"},
  };
  for (const Case& c : cases) create_job(c.job, document_for(image, c.release));
  // A downgrade: 0.9.0 below the running 1.0.0.
  create_update(firmware("0.9.0"), "downgrade");
  run_taking_jobs();
  EXPECT_EQ(primary_version(), "1.0.0+0");
  for (const Case& c : cases) {
    const json e = execution(c.job);
    EXPECT_TRUE(e["status"] == "REJECTED" || e["status"] == "FAILED") << e.dump(2);
    EXPECT_TRUE(contains(e["statusDetails"].value("reason", ""), c.reason)) << e.dump(2);
  }
  const json e = execution("downgrade");
  EXPECT_TRUE(e["status"] == "REJECTED" || e["status"] == "FAILED") << e.dump(2);
  EXPECT_TRUE(contains(e["statusDetails"].value("reason", ""), "0.9.0")) << e.dump(2);
  // Nothing was downloaded for any of them.
  EXPECT_EQ(bytes_served(), 0u) << daemon_->log();
}

TEST_F(DeviceOtaE2E, AnImageAlteredInTheStoreIsNeverInstalled) {
  const std::string image = firmware("1.1.0");
  const json uploaded = upload(image);
  const std::string id = uploaded["firmwareId"];
  // Someone with access to the service's disk flips a byte of the stored image.
  const fs::path stored = data_ / "firmware" / "sha256" / id;
  ASSERT_TRUE(fs::exists(stored)) << stored;
  {
    std::fstream f(stored, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096);
    f.put('\x42');
  }
  create_update(image, "altered");
  run_taking_jobs();
  EXPECT_EQ(primary_version(), "1.0.0+0");
  const json e = execution("altered");
  EXPECT_EQ(e["status"], "FAILED") << e.dump(2);
  EXPECT_FALSE(e["statusDetails"].value("reason", "").empty()) << e.dump(2);
  // Nothing was left pending: the next power-on boots 1.0.0 as before, not a test of anything.
  run();
  EXPECT_TRUE(contains(last_.err, "ironroot-firmware 1.0.0+0")) << last_.err;
  EXPECT_FALSE(contains(last_.err, "test boot")) << last_.err;
}

}  // namespace
}  // namespace ironroot::testing
