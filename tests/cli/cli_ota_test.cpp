// `ironroot ota` end to end: the real binary, run as a process, against the real REST API served
// in this test process with a real SQLite registry, jobs store and firmware repository; images
// signed by libs/image; the job's file signature checked with the openssl command; a second
// JobStore on the same file plays the service's rollout and the devices' OTA agents.
#include <gtest/gtest.h>

#include <chrono>

#include "fleet_cli.hpp"
#include "ironroot/fleet/firmware.hpp"
#include "ironroot/fleet/jobs.hpp"
#include "ironroot/image/sign.hpp"
#include "ironroot/protocol/ota_job.hpp"
#include "ironroot/protocol/streams.hpp"
#include "support/softhsm_token.hpp"

namespace ironroot::testing {
namespace {

using fleet::FirmwareStore;
using fleet::JobStore;
using fleet::RestApiOptions;
using fleet::testing::RestApiServer;
using nlohmann::json;
using protocol::JobExecutionStatus;

// A signed MCUboot image of `payload` bytes.
Bytes signed_image(crypto::Signer& key, const std::string& version,
                   std::optional<std::uint32_t> security_counter, std::size_t payload = 3000) {
  image::SignOptions options;
  options.version = *image::ImageVersion::parse(version);
  options.slot_size = 0x20000;
  options.security_counter = security_counter;
  Bytes firmware(32, std::byte{0});
  for (std::size_t i = 0; i < payload; ++i) firmware.push_back(std::byte(i * 13 + 1));
  auto bytes = image::sign_image(firmware, options, key);
  EXPECT_TRUE(bytes) << bytes.error().message;
  return bytes ? *bytes : Bytes();
}

// A well-formed image with its SHA256 TLV and no signature (`imgtool sign` without a key).
Bytes unsigned_image() {
  image::ImageHeader header;
  header.img_size = 8;
  header.version = *image::ImageVersion::parse("1.0.0");
  auto encoded = header.encode();
  Bytes img(encoded.begin(), encoded.end());
  append(img, as_bytes("payload!"));
  const crypto::Sha256Digest digest = crypto::sha256(img);
  append_le16(img, image::kTlvInfoMagic);
  append_le16(img, 4 + 4 + 32);
  append_le16(img, image::tlv::kSha256);
  append_le16(img, 32);
  append(img, digest);
  return img;
}

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class CliOta : public ::testing::Test {
 protected:
  CliOta()
      : oem_(*crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256)),
        other_(*crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256)),
        ed25519_(*crypto::PrivateKey::generate(crypto::KeyType::ed25519)),
        server_(RestApiServer::WithDatabase{},
                [this](fleet::Registry&, const std::filesystem::path& database) {
                  auto jobs = JobStore::open(database);
                  if (!jobs) throw std::runtime_error(jobs.error().message);
                  api_jobs_.emplace(std::move(*jobs));
                  auto firmware = FirmwareStore::open(database, database.parent_path() / "fw");
                  if (!firmware) throw std::runtime_error(firmware.error().message);
                  api_firmware_.emplace(std::move(*firmware));
                  RestApiOptions options;
                  options.jobs = &*api_jobs_;
                  options.firmware = &*api_firmware_;
                  return options;
                }) {
    auto store = JobStore::open(server_.database());
    if (!store) throw std::runtime_error(store.error().message);
    service_.emplace(std::move(*store));
    oem_pem_ = write_text(dir_, "oem.pem", *oem_.pem());
    oem_public_pem_ = write_text(dir_, "oem.pub.pem", oem_.public_key().pem());
    other_pem_ = write_text(dir_, "other.pem", *other_.pem());
    ed25519_pem_ = write_text(dir_, "ed25519.pem", *ed25519_.pem());
    image_bytes_ = signed_image(oem_, "2.1.0+5", 7);
    image_ = path("app-2.1.0.bin");
    write_bytes(image_, image_bytes_);
    firmware_id_ = to_hex(crypto::sha256(image_bytes_));
  }

  ProcessResult run(std::vector<std::string> args, const std::vector<std::string>& env = {}) {
    return run_against(server_, args, env);
  }
  json run_json(std::vector<std::string> args, const std::vector<std::string>& env = {}) {
    return run_json_against(server_, args, env);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::string key_hash(const crypto::PrivateKey& key) const {
    return to_hex(key.public_key().key_hash());
  }
  void register_key(const std::string& name, const std::string& key) {
    ProcessResult r = run({"ota", "key", "register", "--name", name, "--key", key});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  void make_things(const std::vector<std::string>& names) {
    for (const std::string& name : names) {
      ASSERT_TRUE(server_.registry().create_thing("test", {name, {}, {}, {}}));
    }
  }
  void dispatch_all(const std::string& job_id) {
    auto waiting = service_->undispatched(job_id, fleet::kMaxPageLimit);
    ASSERT_TRUE(waiting);
    ASSERT_TRUE(service_->dispatch("rollout", job_id, *waiting));
  }
  // The device takes its next job and reports `status` with `details`, as an OTA agent does.
  void device_reports(const std::string& thing, const std::string& job_id,
                      JobExecutionStatus status, protocol::StatusDetails details,
                      bool start = true) {
    if (start) {
      ASSERT_TRUE(service_->start_next(thing, {}));
    }
    protocol::UpdateJobExecutionRequest update;
    update.status = status;
    update.status_details = std::move(details);
    ASSERT_TRUE(service_->update(thing, job_id, update));
  }
  std::size_t job_count() {
    auto listed = service_->list_jobs({}, fleet::Page{fleet::kMaxPageLimit, ""});
    EXPECT_TRUE(listed);
    return listed ? listed->items.size() : 0;
  }
  std::size_t firmware_count() { return run_json({"ota", "list"})["items"].size(); }

  // The job's document as ironrootd stores it, decoded.
  protocol::OtaJobDocument stored_document(const std::string& job_id) {
    json job = run_json({"jobs", "describe", job_id});
    auto document = protocol::OtaJobDocument::decode(job["document"]);
    EXPECT_TRUE(document) << document.error().message << job.dump();
    return document ? *document : protocol::OtaJobDocument{};
  }
  // openssl's own verdict on a sig-sha256-ecdsa signature of `file`.
  ProcessResult openssl_verify(const Bytes& signature, const std::string& public_pem,
                               const std::string& file) {
    write_bytes(dir_ / "sig.der", signature);
    return run_process(
        {"openssl", "dgst", "-sha256", "-verify", public_pem, "-signature", path("sig.der"), file});
  }

  crypto::PrivateKey oem_, other_, ed25519_;
  TempDir dir_;
  std::optional<JobStore> api_jobs_;
  std::optional<FirmwareStore> api_firmware_;
  RestApiServer server_;
  std::optional<JobStore> service_;
  std::string oem_pem_, oem_public_pem_, other_pem_, ed25519_pem_, image_, firmware_id_;
  Bytes image_bytes_;
};

TEST_F(CliOta, KeyRegisterListRevoke) {
  json oem = run_json({"ota", "key", "register", "--name", "oem-2025", "--key", oem_pem_});
  EXPECT_EQ(oem["keyId"], key_hash(oem_));
  EXPECT_EQ(oem["name"], "oem-2025");
  EXPECT_EQ(oem["type"], "ecdsa-p256");
  EXPECT_EQ(oem["status"], "ACTIVE");
  // Only the public half went to the server.
  EXPECT_EQ(oem["publicKeyPem"], oem_.public_key().pem());

  ProcessResult other = run({"ota", "key", "register", "--name", "lab", "--key",
                             write_text(dir_, "other.pub.pem", other_.public_key().pem())});
  ASSERT_EQ(other.exit_code, 0) << other.err;
  EXPECT_TRUE(has(other.out, "registered code-signing key lab (ecdsa-p256): " + key_hash(other_)))
      << other.out;

  expect_failure(run({"ota", "key", "register", "--name", "again", "--key", oem_public_pem_}),
                 "already registered");
  expect_failure(run({"ota", "key", "register", "--name", "x", "--key", path("missing.pem")}),
                 "missing.pem");
  expect_failure(run({"ota", "key", "register", "--name", "bad name!", "--key", other_pem_}),
                 "name");
  EXPECT_EQ(run({"ota", "key", "register", "--key", oem_pem_}).exit_code, 2);

  ProcessResult listed = run({"ota", "key", "list"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_TRUE(has(listed.out, "NAME")) << listed.out;
  EXPECT_TRUE(has(listed.out, "oem-2025")) << listed.out;
  EXPECT_TRUE(has(listed.out, key_hash(other_))) << listed.out;
  EXPECT_EQ(run_json({"ota", "key", "list"})["items"].size(), 2u);

  json revoked = run_json({"ota", "key", "revoke", key_hash(other_)});
  EXPECT_EQ(revoked["status"], "REVOKED");
  EXPECT_TRUE(revoked.contains("revokedAt"));
  EXPECT_TRUE(has(run({"ota", "key", "list"}).out, "REVOKED"));
  expect_failure(run({"ota", "key", "revoke", std::string(64, 'a')}), std::string(64, 'a'));

  ProcessResult help = run({"ota", "key", "register", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_TRUE(has(help.out, "pkcs11")) << help.out;
}

TEST_F(CliOta, UploadListDescribeDelete) {
  register_key("oem-2025", oem_public_pem_);
  json uploaded = run_json(
      {"ota", "upload", image_, "--name", "lamp-fw", "--description", "Lamp firmware 2.1"});
  EXPECT_EQ(uploaded["firmwareId"], firmware_id_);
  EXPECT_EQ(uploaded["version"], "2.1.0+5");
  EXPECT_EQ(uploaded["securityCounter"], 7);
  EXPECT_EQ(uploaded["size"], image_bytes_.size());
  EXPECT_EQ(uploaded["signingKeyId"], key_hash(oem_));
  EXPECT_EQ(uploaded["name"], "lamp-fw");
  EXPECT_EQ(uploaded["streamName"], fleet::firmware_stream_id(firmware_id_));

  // The same bytes again: the stored record, shown for people.
  ProcessResult again = run({"ota", "upload", image_});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_TRUE(has(again.out, "uploaded " + image_)) << again.out;
  EXPECT_TRUE(has(again.out, firmware_id_)) << again.out;
  EXPECT_TRUE(has(again.out, "2.1.0+5")) << again.out;
  EXPECT_TRUE(has(again.out, "security counter:  7")) << again.out;
  EXPECT_TRUE(has(again.out, std::to_string(image_bytes_.size()) + " bytes")) << again.out;
  EXPECT_TRUE(has(again.out, "oem-2025 (" + key_hash(oem_) + ")")) << again.out;
  EXPECT_TRUE(has(again.out, fleet::firmware_stream_id(firmware_id_))) << again.out;

  // Refused by the repository, with its reason; nothing is kept.
  write_bytes(dir_ / "unsigned.bin", unsigned_image());
  expect_failure(run({"ota", "upload", path("unsigned.bin")}), "no signature");
  write_bytes(dir_ / "stranger.bin", signed_image(other_, "9.0.0", std::nullopt));
  expect_failure(run({"ota", "upload", path("stranger.bin")}),
                 "signed by key " + key_hash(other_) + ", which is not a registered");
  write_bytes(dir_ / "junk.bin", as_bytes("not an image at all"));
  expect_failure(run({"ota", "upload", path("junk.bin")}), "not a valid MCUboot image");
  expect_failure(run({"ota", "upload", path("missing.bin")}), "missing.bin");

  ProcessResult listed = run({"ota", "list"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_TRUE(has(listed.out, "FIRMWARE")) << listed.out;
  EXPECT_TRUE(has(listed.out, "lamp-fw")) << listed.out;
  EXPECT_TRUE(has(listed.out, "oem-2025")) << listed.out;
  json all = run_json({"ota", "list", "--order", "version"});
  ASSERT_EQ(all["items"].size(), 1u);
  EXPECT_EQ(all["items"][0]["firmwareId"], firmware_id_);
  EXPECT_EQ(run({"ota", "list", "--order", "size"}).exit_code, 2);

  json described = run_json({"ota", "describe", firmware_id_});
  EXPECT_EQ(described["description"], "Lamp firmware 2.1");
  EXPECT_EQ(described["streamName"], fleet::firmware_stream_id(firmware_id_));

  ProcessResult deleted = run({"ota", "delete", firmware_id_});
  ASSERT_EQ(deleted.exit_code, 0) << deleted.err;
  EXPECT_EQ(firmware_count(), 0u);
  expect_failure(run({"ota", "describe", firmware_id_}), firmware_id_);
}

TEST_F(CliOta, CreateSignsTheJobDocumentWithAPemKey) {
  make_things({"a", "b"});
  register_key("oem-2025", oem_public_pem_);
  const std::int64_t before = now_seconds();
  json created = run_json({"ota",
                           "create",
                           "--image",
                           image_,
                           "--key",
                           oem_pem_,
                           "--targets",
                           "thing:a,thing:b",
                           "--job-id",
                           "ota-2-1",
                           "--expires-in",
                           "7d",
                           "--max-per-minute",
                           "10",
                           "--abort",
                           "FAILED:10%:5",
                           "--retry",
                           "FAILED:1",
                           "--description",
                           "lamps to 2.1"});
  const std::int64_t after = now_seconds();
  EXPECT_EQ(created["jobId"], "ota-2-1");
  EXPECT_EQ(created["description"], "lamps to 2.1");
  EXPECT_EQ(created["jobExecutionsRolloutConfig"], json({{"maximumPerMinute", 10}}));
  EXPECT_EQ(created["abortConfig"]["criteriaList"][0]["minNumberOfExecutedThings"], 5);
  EXPECT_EQ(created["jobExecutionsRetryConfig"]["criteriaList"][0]["numberOfRetries"], 1);
  EXPECT_EQ(created["jobProcessDetails"]["numberOfTargetedThings"], 2);
  EXPECT_EQ(created["firmware"]["firmwareId"], firmware_id_);
  EXPECT_EQ(firmware_count(), 1u) << "the image was uploaded";

  protocol::OtaJobDocument document = stored_document("ota-2-1");
  EXPECT_EQ(document.protocols, std::vector<protocol::OtaProtocol>{protocol::OtaProtocol::mqtt});
  EXPECT_EQ(document.stream_name, fleet::firmware_stream_id(firmware_id_));
  EXPECT_EQ(document.file.file_size, static_cast<std::int64_t>(image_bytes_.size()));
  EXPECT_EQ(document.file.file_id, 0);
  EXPECT_EQ(document.file.file_type, 0);
  EXPECT_EQ(document.file.file_path, "/mcuboot/secondary");
  EXPECT_EQ(document.file.certificate_path, "code-signing.pem");
  ASSERT_TRUE(document.release);
  EXPECT_EQ(document.release->version, "2.1.0+5");
  EXPECT_EQ(document.release->security_counter, 7);
  EXPECT_GE(document.release->expires_at, before + 7 * 86400);
  EXPECT_LE(document.release->expires_at, after + 7 * 86400);
  EXPECT_FALSE(document.release->thing_name);

  // sig-sha256-ecdsa: DER ECDSA P-256 over SHA-256 of the file, by the OEM key, as openssl sees
  // it; and not a signature of anything else.
  ProcessResult verified = openssl_verify(document.file.signature, oem_public_pem_, image_);
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
  EXPECT_TRUE(has(verified.out, "Verified OK")) << verified.out;
  Bytes altered = image_bytes_;
  altered.back() ^= std::byte{1};
  write_bytes(dir_ / "altered.bin", altered);
  EXPECT_NE(openssl_verify(document.file.signature, oem_public_pem_, path("altered.bin")).exit_code,
            0);

  // A stored image by its id, with the defaults: a generated job id and 30 days.
  ProcessResult text =
      run({"ota", "create", "--firmware", firmware_id_, "--key", oem_pem_, "--targets", "thing:a",
           "--certfile", "/certs/oem.pem", "--filepath", "/ota/slot1"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_TRUE(has(text.out, "created OTA job ota-2_1_0_5-" + firmware_id_.substr(0, 8) + "-"))
      << text.out;
  EXPECT_TRUE(has(text.out, "to 1 things")) << text.out;
  const std::string job_id = text.out.substr(16, text.out.find(':') - 16);
  protocol::OtaJobDocument second = stored_document(job_id);
  ASSERT_TRUE(second.release);
  EXPECT_GE(second.release->expires_at, before + 30 * 86400);
  EXPECT_LE(second.release->expires_at, now_seconds() + 30 * 86400);
  EXPECT_EQ(second.file.certificate_path, "/certs/oem.pem");
  EXPECT_EQ(second.file.file_path, "/ota/slot1");
  ProcessResult verified_again = openssl_verify(second.file.signature, oem_public_pem_, image_);
  EXPECT_EQ(verified_again.exit_code, 0) << verified_again.err;
  EXPECT_EQ(job_count(), 2u);
}

TEST_F(CliOta, CreateOffersTheHttpsDownloadWhenAsked) {
  make_things({"a"});
  register_key("oem-2025", oem_public_pem_);
  run_json({"ota", "create", "--image", image_, "--key", oem_pem_, "--targets", "thing:a",
            "--job-id", "both", "--protocols", "HTTP,MQTT", "--download-url",
            "https://fleet.example:8885"});
  protocol::OtaJobDocument document = stored_document("both");
  EXPECT_EQ(document.protocols, (std::vector<protocol::OtaProtocol>{protocol::OtaProtocol::http,
                                                                    protocol::OtaProtocol::mqtt}));
  const std::string stream = fleet::firmware_stream_id(firmware_id_);
  EXPECT_EQ(document.stream_name, stream) << "the download listener authorizes by the stream";
  EXPECT_EQ(document.file.update_data_url, "https://fleet.example:8885/ota/streams/" + stream);
  EXPECT_EQ(document.file.auth_scheme, std::string(fleet::kFirmwareDownloadAuthScheme));

  const std::size_t jobs = job_count();
  expect_failure(run({"ota", "create", "--image", image_, "--key", oem_pem_, "--targets", "thing:a",
                      "--protocols", "HTTP"}),
                 "needs --download-url", 2);
  expect_failure(run({"ota", "create", "--image", image_, "--key", oem_pem_, "--targets", "thing:a",
                      "--protocols", "MQTT,FTP"}),
                 "'FTP' is not MQTT or HTTP", 2);
  expect_failure(run({"ota", "create", "--image", image_, "--key", oem_pem_, "--targets", "thing:a",
                      "--protocols", "HTTP", "--download-url", "http://plain:80"}),
                 "must start with https://", 2);
  EXPECT_EQ(job_count(), jobs);
}

TEST_F(CliOta, CreateRefusesAKeyThatIsNotTheImagesSigner) {
  make_things({"a"});
  register_key("oem-2025", oem_public_pem_);
  register_key("lab", other_pem_);
  const std::string not_the_signer = "is signed by key " + key_hash(oem_) + ", not by " +
                                     other_pem_ + " (key hash " + key_hash(other_) + ")";
  // Checked here before anything is uploaded.
  expect_failure(
      run({"ota", "create", "--image", image_, "--key", other_pem_, "--targets", "thing:a"}),
      not_the_signer);
  EXPECT_EQ(firmware_count(), 0u);
  // A stored image: checked against the repository's record.
  ASSERT_EQ(run({"ota", "upload", image_}).exit_code, 0);
  expect_failure(run({"ota", "create", "--firmware", firmware_id_, "--key", other_pem_, "--targets",
                      "thing:a"}),
                 not_the_signer);
  expect_failure(run({"ota", "create", "--firmware", firmware_id_, "--key", ed25519_pem_,
                      "--targets", "thing:a"}),
                 "is an ed25519 key; the OTA job's file signature is sig-sha256-ecdsa");
  expect_failure(run({"ota", "create", "--firmware", std::string(64, 'b'), "--key", oem_pem_,
                      "--targets", "thing:a"}),
                 std::string(64, 'b'));

  // Usage errors.
  auto create_with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"ota", "create", "--key", oem_pem_, "--targets", "thing:a"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run(args);
  };
  expect_failure(create_with({}), "give --image FILE or --firmware ID", 2);
  EXPECT_EQ(create_with({"--image", image_, "--firmware", firmware_id_}).exit_code, 2);
  expect_failure(create_with({"--firmware", "abc"}), "64 lower-case hex digits", 2);
  expect_failure(create_with({"--image", image_, "--expires-in", "30"}), "not a duration", 2);
  expect_failure(create_with({"--image", image_, "--expires-in", "0d"}), "longer than 0", 2);
  expect_failure(create_with({"--image", image_, "--expires-in", "20000d"}), "maximum", 2);
  expect_failure(create_with({"--image", image_, "--abort", "FAILED"}), "TYPE:PERCENT%:MIN", 2);
  expect_failure(run({"ota", "create", "--image", image_, "--key", oem_pem_, "--targets", "a"}),
                 "must be thing:NAME or group:NAME", 2);
  EXPECT_EQ(run({"ota", "create", "--image", image_, "--targets", "thing:a"}).exit_code, 2);

  // A revoked signing key: its images are not rolled out.
  ASSERT_EQ(run({"ota", "key", "revoke", key_hash(oem_)}).exit_code, 0);
  expect_failure(create_with({"--firmware", firmware_id_}), "which is revoked");
  EXPECT_EQ(job_count(), 0u);

  ProcessResult help = run({"ota", "create", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_TRUE(has(help.out, "sig-sha256-ecdsa")) << help.out;
  EXPECT_TRUE(has(help.out, "--exponential")) << help.out;
  EXPECT_TRUE(has(help.out, "30d")) << help.out;
}

TEST_F(CliOta, CreateSignsInsideAPkcs11Token) {
  SoftHsmToken token("oem", "4321");
  const std::string uri = token.uri("fw-signing");
  const std::vector<std::string> env = {token.conf_env()};
  ProcessResult keygen = ironroot_cli({"image", "keygen", "-k", uri}, env);
  ASSERT_EQ(keygen.exit_code, 0) << keygen.err;
  write_bytes(dir_ / "fw.bin", Bytes(2000, std::byte{0x42}));
  ProcessResult signed_in_token =
      ironroot_cli({"image", "sign", "-k", uri, "-v", "3.0.0", "-H", "32", "-S", "0x20000", "-s",
                    "auto", "--pad-header", path("fw.bin"), path("token.bin")},
                   env);
  ASSERT_EQ(signed_in_token.exit_code, 0) << signed_in_token.err;
  make_things({"a"});
  ASSERT_EQ(run({"ota", "key", "register", "--name", "hsm", "--key", uri}, env).exit_code, 0);
  json created = run_json({"ota", "create", "--image", path("token.bin"), "--key", uri, "--targets",
                           "thing:a", "--job-id", "hsm-ota"},
                          env);
  EXPECT_EQ(created["jobId"], "hsm-ota");
  ASSERT_EQ(
      ironroot_cli({"image", "getpub", "-k", uri, "-e", "pem", "-o", path("hsm.pub.pem")}, env)
          .exit_code,
      0);
  protocol::OtaJobDocument document = stored_document("hsm-ota");
  ProcessResult verified =
      openssl_verify(document.file.signature, path("hsm.pub.pem"), path("token.bin"));
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
  ASSERT_TRUE(document.release);
  EXPECT_EQ(document.release->version, "3.0.0+0");
  EXPECT_EQ(document.release->security_counter, 3 << 24);
}

TEST_F(CliOta, StatusShowsCountsAndEachDevicesDownload) {
  make_things({"a", "b", "c"});
  register_key("oem-2025", oem_public_pem_);
  ASSERT_EQ(run({"ota", "create", "--image", image_, "--key", oem_pem_, "--targets",
                 "thing:a,thing:b,thing:c", "--job-id", "ota"})
                .exit_code,
            0);
  dispatch_all("ota");
  device_reports("a", "ota", JobExecutionStatus::in_progress, {{"receive", "12/40"}});
  device_reports("b", "ota", JobExecutionStatus::failed, {{"reason", "0x1a: signature check"}});

  json status = run_json({"ota", "status", "ota"});
  EXPECT_EQ(status["jobId"], "ota");
  EXPECT_EQ(status["status"], "IN_PROGRESS");
  EXPECT_EQ(status["release"]["version"], "2.1.0+5");
  EXPECT_EQ(status["release"]["streamName"], fleet::firmware_stream_id(firmware_id_));
  EXPECT_EQ(status["release"]["fileSize"], image_bytes_.size());
  EXPECT_EQ(status["release"]["securityCounter"], 7);
  EXPECT_TRUE(status["release"]["expires"].is_string());
  EXPECT_EQ(status["jobProcessDetails"]["numberOfFailedThings"], 1);
  EXPECT_EQ(status["jobProcessDetails"]["numberOfInProgressThings"], 1);
  EXPECT_EQ(status["jobProcessDetails"]["numberOfQueuedThings"], 1);
  const json& devices = status["devices"];
  ASSERT_EQ(devices.size(), 3u);
  EXPECT_EQ(devices[0]["thingName"], "a");
  EXPECT_EQ(devices[0]["status"], "IN_PROGRESS");
  EXPECT_EQ(devices[0]["received"], 12);
  EXPECT_EQ(devices[0]["total"], 40);
  EXPECT_EQ(devices[0]["statusDetails"], json({{"receive", "12/40"}}));
  EXPECT_EQ(devices[1]["status"], "FAILED");
  EXPECT_EQ(devices[1]["reason"], "0x1a: signature check");
  EXPECT_FALSE(devices[1].contains("received"));
  EXPECT_EQ(devices[2]["thingName"], "c");
  EXPECT_EQ(devices[2]["status"], "QUEUED");

  ProcessResult text = run({"ota", "status", "ota"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_TRUE(has(text.out, "[######--------------] 12/40")) << text.out;
  EXPECT_TRUE(has(text.out, "0x1a: signature check")) << text.out;
  EXPECT_TRUE(has(text.out, "1 failed")) << text.out;
  EXPECT_TRUE(has(text.out, "2.1.0+5")) << text.out;

  // The agent's self test, then success: the job completes, and --watch returns at once.
  device_reports("a", "ota", JobExecutionStatus::in_progress, {{"self_test", "ready"}}, false);
  EXPECT_EQ(run_json({"ota", "status", "ota"})["devices"][0]["selfTest"], "ready");
  device_reports("a", "ota", JobExecutionStatus::succeeded, {{"reason", "accepted v2.1.0"}}, false);
  device_reports("c", "ota", JobExecutionStatus::succeeded, {});
  ProcessResult watched = run({"ota", "status", "ota", "--watch", "--json"});
  ASSERT_EQ(watched.exit_code, 0) << watched.err;
  json done = json::parse(watched.out);  // one snapshot
  EXPECT_EQ(done["status"], "COMPLETED");
  EXPECT_EQ(done["jobProcessDetails"]["numberOfSucceededThings"], 2);
  EXPECT_TRUE(watched.err.empty()) << "no live view without a terminal: " << watched.err;

  expect_failure(run({"ota", "status", "nope"}), "nope");
  const std::string plain = write_text(dir_, "plain.json", R"({"operation":"reboot"})");
  ASSERT_EQ(
      run({"jobs", "create", "--job-id", "plain", "--document", plain, "--targets", "thing:a"})
          .exit_code,
      0);
  expect_failure(run({"ota", "status", "plain"}), "job plain is not an OTA job");
}

}  // namespace
}  // namespace ironroot::testing
