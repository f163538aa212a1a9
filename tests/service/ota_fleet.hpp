// A fleet for OTA tests against the real ironrootd (jobs_fleet.hpp, and a code-signing key the
// repository trusts): signed MCUboot images uploaded through the REST API, the afr_ota job
// documents `ironroot ota create` writes for them (MQTT, or HTTP naming ironrootd's download
// listener), and OTA jobs dispatched to things. Shared by the MQTT file stream and the HTTPS
// download tests.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ironroot/crypto/digest.hpp"
#include "ironroot/crypto/key.hpp"
#include "ironroot/fleet/firmware.hpp"
#include "ironroot/image/sign.hpp"
#include "ironroot/protocol/ota_job.hpp"
#include "jobs_fleet.hpp"

namespace ironroot::testing {

// An image uploaded to ironrootd.
struct Firmware {
  Bytes bytes;
  std::string id;
  std::string stream;
};

class OtaFleetTest : public JobsFleetTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(JobsFleetTest::SetUp());
    call("POST", "/v1/code-signing-keys",
         {{"name", "release"}, {"publicKeyPem", key_.public_key().pem()}}, 201);
  }

  // Signs a firmware of `payload` bytes as an MCUboot image and uploads it.
  Firmware upload(std::size_t payload, std::string_view version = "1.2.3+4") {
    image::SignOptions options;
    options.version = *image::ImageVersion::parse(version);
    options.slot_size = 0x100000;
    options.security_counter = 3;
    Bytes firmware(32, std::byte{0});  // room for the header
    for (std::size_t i = 0; i < payload; ++i)
      firmware.push_back(std::byte((i * 131 + i / 7) & 0xff));
    auto signed_image = image::sign_image(firmware, options, key_);
    EXPECT_TRUE(signed_image) << signed_image.error().message;
    httplib::Client http("127.0.0.1", ports_.api);
    http.set_bearer_token_auth(token().c_str());
    auto r = http.Post("/v1/firmware?name=lamp-fw", std::string(as_chars(*signed_image)),
                       "application/octet-stream");
    EXPECT_TRUE(r && r->status == 201) << (r ? r->body : "no answer");
    const nlohmann::json answer = nlohmann::json::parse(r ? r->body : "{}", nullptr, false);
    const std::string id = answer.value("firmwareId", "");
    EXPECT_EQ(answer.value("size", std::size_t{0}), signed_image->size()) << answer.dump();
    return Firmware{*signed_image, id, fleet::firmware_stream_id(id)};
  }

  std::string token() const {
    auto text = read_file(data_ / "operator.token", 4096);
    std::string t(as_chars(*text));
    while (!t.empty() && t.back() == '\n') t.pop_back();
    return t;
  }

  // The afr_ota document for `firmware` as `ironroot ota create` writes it; `stream` and `size`
  // override the image's.
  nlohmann::json ota_document(const Firmware& firmware,
                              std::optional<std::string> stream = std::nullopt,
                              std::optional<std::int64_t> size = std::nullopt,
                              std::int64_t file_id = 0) {
    return ota_job_document(firmware, stream, size, file_id).encode();
  }

  // The HTTP form: protocols ["HTTP"] (or ["MQTT", "HTTP"]), the stream still named (the
  // download listener authorizes by it), update_data_url on ironrootd's download listener.
  nlohmann::json http_ota_document(const Firmware& firmware, bool with_mqtt = false) {
    protocol::OtaJobDocument document = ota_job_document(firmware, std::nullopt, std::nullopt, 0);
    document.protocols = {protocol::OtaProtocol::http};
    if (with_mqtt)
      document.protocols.insert(document.protocols.begin(), protocol::OtaProtocol::mqtt);
    document.file.update_data_url = fleet::firmware_download_url(
        "https://127.0.0.1:" + std::to_string(ports_.download), firmware.stream);
    document.file.auth_scheme = std::string(fleet::kFirmwareDownloadAuthScheme);
    EXPECT_TRUE(document.validate());
    return document.encode();
  }

  // Creates an OTA job for `things` and waits until the rollout dispatched it.
  void create_ota_job(const std::string& job_id, const nlohmann::json& document,
                      const std::vector<std::string>& things) {
    call("POST", "/v1/jobs",
         {{"jobId", job_id}, {"document", document}, {"targets", {{"things", things}}}}, 201);
    ASSERT_TRUE(
        daemon_->wait_for_log("job " + job_id + ": dispatched " + std::to_string(things.size())))
        << daemon_->log();
  }

  crypto::PrivateKey key_ = *crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256);

 private:
  protocol::OtaJobDocument ota_job_document(const Firmware& firmware,
                                            std::optional<std::string> stream,
                                            std::optional<std::int64_t> size,
                                            std::int64_t file_id) {
    protocol::OtaJobDocument document;
    document.protocols = {protocol::OtaProtocol::mqtt};
    document.stream_name = stream.value_or(firmware.stream);
    document.file.file_path = "/update/firmware.bin";
    document.file.file_size = size.value_or(static_cast<std::int64_t>(firmware.bytes.size()));
    document.file.file_id = file_id;
    document.file.certificate_path = "/keys/firmware.pem";
    auto signature = key_.sign_digest(crypto::sha256(firmware.bytes));
    EXPECT_TRUE(signature);
    document.file.signature = *signature;
    document.file.file_type = 0;
    return document;
  }
};

}  // namespace ironroot::testing
