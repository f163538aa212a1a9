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
    const ProcessResult registered =
        ota({"key", "register", "--name", "oem", "--key", key("firmware")});
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

  // `run --take-jobs`: boots until the firmware has had no job for `idle` seconds. The debug
  // firmware is tens of MB: most tests download it in 64 KiB blocks, not AWS's 4 KiB.
  json run_taking_jobs(std::uint32_t block_size = kBigBlocks, int idle = 2) {
    return run(0, {"--take-jobs", std::to_string(idle)}, block_size_env(block_size));
  }
  static std::vector<std::string> block_size_env(std::uint32_t block_size) {
    return {"IRONROOT_FIRMWARE_OTA_BLOCK_SIZE=" + std::to_string(block_size)};
  }
  static constexpr std::uint32_t kBigBlocks = 65536;

  // `run --take-jobs` in the background, for tests that act while the device works.
  std::unique_ptr<RunningProcess> start_taking_jobs(std::uint32_t block_size, int idle = 2) {
    return std::make_unique<RunningProcess>(
        std::vector<std::string>{IRONROOT_DEVICE, "run", "--dir", dev(), "--take-jobs",
                                 std::to_string(idle)},
        block_size_env(block_size), path("run.err"));
  }

  // The blocks received so far, as the device last reported them (statusDetails.receive "x/y").
  std::pair<std::uint64_t, std::uint64_t> received(const std::string& job_id) {
    const std::string text = execution(job_id)
                                 .value("statusDetails", json::object())
                                 .value("detailsMap", json::object())
                                 .value("receive", "");
    const auto slash = text.find('/');
    if (slash == std::string::npos) return {0, 0};
    return {std::stoull(text.substr(0, slash)), std::stoull(text.substr(slash + 1))};
  }

  // Polls the device's reported progress until it reaches `fraction` of the blocks; false when
  // `device_run` ended first or nothing came within the timeout.
  bool wait_for_progress(const std::string& job_id, double fraction, RunningProcess& device_run) {
    const auto deadline = std::chrono::steady_clock::now() + 5min;
    while (std::chrono::steady_clock::now() < deadline) {
      const auto [have, total] = received(job_id);
      if (total > 0 && static_cast<double>(have) >= fraction * static_cast<double>(total)) {
        return true;
      }
      if (::kill(device_run.pid(), 0) != 0) return false;
      std::this_thread::sleep_for(50ms);  // polling the condition, not waiting in its place
    }
    return false;
  }

  std::string run_log() const {
    auto text = read_file(path("run.err"), 1 << 24);
    return text ? std::string(as_chars(*text)) : std::string();
  }

  // The firmware the device runs now: the child of `ironroot-device run`; 0 when none.
  static pid_t firmware_pid(pid_t device_run) {
    std::ifstream children("/proc/" + std::to_string(device_run) + "/task/" +
                           std::to_string(device_run) + "/children");
    pid_t child = 0;
    children >> child;
    return child;
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

  // statusDetails.reason of an execution as the REST API shows it.
  static std::string reason_of(const json& execution) {
    return execution.value("statusDetails", json::object())
        .value("detailsMap", json::object())
        .value("reason", "");
  }

  std::string primary_version() { return status()["primary"]["version"].get<std::string>(); }
};

// Each test pays for ironrootd, a device provisioned by claim and downloads of the debug firmware
// (tens of MB), so each covers several acceptance points in a row.

TEST_F(DeviceOtaE2E, AnUpdateIsConfirmedAndABadOneAfterItIsRevertedAndReportedFailed) {
  create_update(firmware("1.1.0"), "update-110");
  run_taking_jobs();
  std::string out = last_.err;
  EXPECT_TRUE(contains(out, "job update-110: the update is pending: restarting to boot it")) << out;
  EXPECT_TRUE(contains(out, "job update-110 (resumed): SUCCEEDED")) << out;
  EXPECT_EQ(primary_version(), "1.1.0+0");
  EXPECT_EQ(status()["primary"]["trailer"].value("image_ok", ""), "set") << status().dump(2);
  json e = execution("update-110");
  EXPECT_EQ(e["status"], "SUCCEEDED") << e.dump(2);
  EXPECT_TRUE(contains(reason_of(e), "accepted")) << e.dump(2);

  // 1.2.0 fails its self-test: the bootloader reverts to 1.1.0, which reports why.
  create_update(firmware("1.2.0", Build::failing), "update-120");
  run_taking_jobs();
  out = last_.err;
  EXPECT_TRUE(contains(out, ": confirmed image")) << out;  // 1.1.0 stayed
  EXPECT_TRUE(contains(out, "1.2.0+0 (pid")) << out;
  EXPECT_EQ(primary_version(), "1.1.0+0") << out;
  e = execution("update-120");
  EXPECT_EQ(e["status"], "FAILED") << e.dump(2);
  const std::string reason = reason_of(e);
  EXPECT_TRUE(contains(reason, "1.2.0")) << reason;
  EXPECT_TRUE(contains(reason, "reverted to 1.1.0")) << reason;
}

TEST_F(DeviceOtaE2E, RefusesBadDocumentsBeforeDownloadingAndNeverInstallsAnAlteredImage) {
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
  // An image larger than the update slot: a signed 2.0.0 with a payload the size of the slot.
  const std::string payload = path("huge.bin");
  ASSERT_TRUE(write_file_atomic(payload, Bytes(slot_size(), std::byte{0x5a})));
  const std::string huge = path("huge-2.0.0.img");
  const ProcessResult signed_huge =
      cli({"image", "sign", "-k", key("firmware"), "-v", "2.0.0", "-H", "0x400", "--pad-header",
           "-S", std::to_string(2 * slot_size()), "-s", "auto", "--public-key-format", "full",
           payload, huge});
  ASSERT_EQ(signed_huge.exit_code, 0) << signed_huge.err;
  create_update(huge, "too-large");

  // Someone with access to the service's disk flips a byte of the stored 1.1.0. (Uploading the
  // image again would repair it, so the job names the stored image.)
  const std::string id = upload(image)["firmwareId"];
  const fs::path stored = data_ / "firmware" / "sha256" / id;
  ASSERT_TRUE(fs::exists(stored)) << stored;
  {
    std::fstream f(stored, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096);
    f.put('\x42');
  }
  const ProcessResult made = ota({"create", "--firmware", id, "--key", key("firmware"), "--targets",
                                  "thing:sensor-42", "--job-id", "altered"});
  ASSERT_EQ(made.exit_code, 0) << made.err << made.out;

  run_taking_jobs();
  EXPECT_EQ(primary_version(), "1.0.0+0");
  for (const Case& c : cases) {
    const json e = execution(c.job);
    EXPECT_EQ(e["status"], "REJECTED") << e.dump(2);
    EXPECT_TRUE(contains(reason_of(e), c.reason)) << e.dump(2);
  }
  json e = execution("downgrade");
  EXPECT_EQ(e["status"], "REJECTED") << e.dump(2);
  EXPECT_TRUE(contains(reason_of(e), "0.9.0")) << e.dump(2);
  e = execution("too-large");
  EXPECT_EQ(e["status"], "REJECTED") << e.dump(2);
  EXPECT_TRUE(contains(reason_of(e), "slot")) << e.dump(2);
  e = execution("altered");
  EXPECT_EQ(e["status"], "FAILED") << e.dump(2);
  EXPECT_TRUE(contains(reason_of(e), "cannot read the stream's firmware image")) << e.dump(2);
  EXPECT_TRUE(contains(daemon_->log(), "is damaged")) << daemon_->log();
  // Not one block was served for any of them.
  EXPECT_EQ(bytes_served(), 0u) << daemon_->log();

  // Nothing was left pending: the next power-on boots 1.0.0 as before, not a test of anything.
  run();
  EXPECT_TRUE(contains(last_.err, "ironroot-firmware 1.0.0+0")) << last_.err;
  EXPECT_FALSE(contains(last_.err, "test boot")) << last_.err;
}

TEST_F(DeviceOtaE2E, KilledThreeTimesAndABrokerRestartDuringTheDownloadTheUpdateStillSucceeds) {
  const std::string image = firmware("1.1.0");
  const std::uint64_t image_size = fs::file_size(image);
  create_update(image, "resume");
  auto device_run = start_taking_jobs(kBigBlocks);
  pid_t killed = 0;
  for (double fraction : {0.2, 0.4, 0.6}) {
    ASSERT_TRUE(wait_for_progress("resume", fraction, *device_run)) << fraction << "\n"
                                                                    << run_log() << daemon_->log();
    // The power fails: the firmware dies where it stands, and `run` boots the device again.
    const pid_t firmware = firmware_pid(device_run->pid());
    ASSERT_GT(firmware, 0);
    ASSERT_NE(firmware, killed);
    ASSERT_EQ(::kill(firmware, SIGKILL), 0);
    killed = firmware;
  }
  // Then the broker dies; ironrootd starts it again and the device reconnects.
  ASSERT_TRUE(wait_for_progress("resume", 0.8, *device_run)) << run_log() << daemon_->log();
  auto pid_text = read_file(data_ / "broker" / "mosquitto.pid", 64);
  ASSERT_TRUE(pid_text);
  const pid_t broker = static_cast<pid_t>(std::atol(std::string(as_chars(*pid_text)).c_str()));
  ASSERT_GT(broker, 1);
  ASSERT_EQ(::kill(broker, SIGKILL), 0);
  EXPECT_TRUE(daemon_->wait_for_log("started Mosquitto again")) << daemon_->log();

  const ProcessResult ended = device_run->wait();
  const std::string err = run_log();
  EXPECT_EQ(ended.exit_code, 0) << err;
  EXPECT_EQ(primary_version(), "1.1.0+0") << err;
  EXPECT_EQ(execution("resume")["status"], "SUCCEEDED") << execution("resume").dump(2) << err;
  // Each restart carried on from the blocks in flash.
  const std::uint64_t served = bytes_served();
  EXPECT_GE(served, image_size);
  EXPECT_LE(static_cast<double>(served), 1.2 * static_cast<double>(image_size))
      << served << " bytes served for a " << image_size << "-byte image";
}

}  // namespace
}  // namespace ironroot::testing
