// OTA jobs in the jobs store, with the firmware repository on the same database: a job whose
// afr_ota document names a firmware stream is created only when the stream can serve it, and
// has_pending_ota_execution answers for the executions a device can see.
#include <gtest/gtest.h>

#include "ironroot/fleet/firmware.hpp"
#include "ironroot/image/sign.hpp"
#include "ironroot/protocol/ota_job.hpp"
#include "jobs_fixture.hpp"

namespace ironroot::fleet::testing {
namespace {

class JobsOtaTest : public JobsTest {
 protected:
  void SetUp() override {
    JobsTest::SetUp();
    auto store = FirmwareStore::open(path(), dir_ / "firmware", [this] { return now_; });
    ASSERT_TRUE(store) << store.error().message;
    firmware_.emplace(std::move(*store));
    ASSERT_TRUE(firmware_->register_key("ops", {"release", key_.public_key().pem()}));
    image::SignOptions options;
    options.version = *image::ImageVersion::parse("2.0.0");
    options.slot_size = 0x20000;
    Bytes payload(32, std::byte{0});  // room for the header
    payload.resize(3000, std::byte{0x5a});
    auto bytes = image::sign_image(payload, options, key_);
    ASSERT_TRUE(bytes) << bytes.error().message;
    auto uploaded = firmware_->upload("ops", *bytes);
    ASSERT_TRUE(uploaded) << uploaded.error().message;
    image_ = uploaded->image;
    stream_ = firmware_stream_id(image_.id);
    make_things({"lamp-1", "lamp-2"});
  }

  std::string document(const std::string& stream, std::int64_t size, std::int64_t file_id = 0) {
    protocol::OtaJobDocument d;
    d.protocols = {protocol::OtaProtocol::mqtt};
    d.stream_name = stream;
    d.file.file_path = "/update.bin";
    d.file.file_size = size;
    d.file.file_id = file_id;
    d.file.certificate_path = "/cert.pem";
    d.file.signature = Bytes(70, std::byte{1});
    return d.encode().dump();
  }

  NewJob ota_job(const std::string& id, std::string doc, std::vector<std::string> things) {
    NewJob job = job_for(id, std::move(things));
    job.document = std::move(doc);
    return job;
  }

  void expect_refused(const NewJob& job, const std::string& message_part) {
    auto created = jobs().create_job("operator", job);
    ASSERT_FALSE(created) << job.document;
    EXPECT_EQ(created.error().code, RegistryErrorCode::invalid);
    EXPECT_NE(created.error().message.find(message_part), std::string::npos)
        << created.error().message;
    EXPECT_FALSE(jobs().describe_job(job.job_id));
  }

  bool pending(const std::string& thing, const std::string& stream) {
    auto answer = jobs().has_pending_ota_execution(thing, stream);
    EXPECT_TRUE(answer) << answer.error().message;
    return answer && *answer;
  }

  crypto::PrivateKey key_ = *crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256);
  std::optional<FirmwareStore> firmware_;
  FirmwareImage image_;
  std::string stream_;
};

TEST_F(JobsOtaTest, FirmwareStreamsAreFoundByTheirId) {
  auto image = firmware_->describe_stream(stream_);
  ASSERT_TRUE(image) << image.error().message;
  EXPECT_EQ(image->id, image_.id);
  auto content = firmware_->open_stream(stream_);
  ASSERT_TRUE(content) << content.error().message;
  EXPECT_EQ(content->size(), image_.size);
  for (const std::string& unknown : {"fw-" + std::string(40, '0'), std::string("acme-stream"),
                                     "fw-" + image_.id, "fw-" + image_.id.substr(0, 39)}) {
    auto missing = firmware_->describe_stream(unknown);
    ASSERT_FALSE(missing) << unknown;
    EXPECT_EQ(missing.error().code, RegistryErrorCode::not_found) << unknown;
    EXPECT_FALSE(firmware_->open_stream(unknown)) << unknown;
  }
}

TEST_F(JobsOtaTest, AnOtaJobMustNameAServableImage) {
  const auto size = static_cast<std::int64_t>(image_.size);
  expect_refused(ota_job("j", R"({"afr_ota": {"protocols": ["MQTT"]}})", {"lamp-1"}), "afr_ota");
  expect_refused(ota_job("j", document(stream_, size + 1), {"lamp-1"}),
                 "filesize is " + std::to_string(size + 1));
  expect_refused(ota_job("j", document(stream_, size, 2), {"lamp-1"}), "fileid is 2");
  expect_refused(ota_job("j", document("fw-" + std::string(40, 'e'), size), {"lamp-1"}),
                 "names no firmware image");
  create(ota_job("ok", document(stream_, size), {"lamp-1"}));
  // A stream this service does not serve, and a plain job, are the operator's business.
  create(ota_job("other", document("acme-stream", 10), {"lamp-1"}));
  create(job_for("plain", {"lamp-1"}));
  // A deleted image can no longer be named.
  ASSERT_TRUE(firmware_->remove("ops", image_.id));
  expect_refused(ota_job("late", document(stream_, size), {"lamp-1"}), "names no firmware image");
}

TEST_F(JobsOtaTest, APendingExecutionTheDeviceCanSeeOpensTheStream) {
  const auto size = static_cast<std::int64_t>(image_.size);
  create(ota_job("ota", document(stream_, size), {"lamp-1"}));
  EXPECT_FALSE(pending("lamp-1", stream_)) << "QUEUED, not dispatched yet";
  auto dispatched = jobs().dispatch("rollout", "ota", std::vector<std::string>{"lamp-1"});
  ASSERT_TRUE(dispatched) << dispatched.error().message;
  EXPECT_TRUE(pending("lamp-1", stream_));
  EXPECT_FALSE(pending("lamp-2", stream_)) << "another thing";
  EXPECT_FALSE(pending("lamp-1", "fw-" + std::string(40, '0'))) << "another stream";
  accept("lamp-1", "ota", update_to(JobExecutionStatus::in_progress));
  EXPECT_TRUE(pending("lamp-1", stream_));
  accept("lamp-1", "ota", update_to(JobExecutionStatus::succeeded));
  EXPECT_FALSE(pending("lamp-1", stream_)) << "terminal";
}

}  // namespace
}  // namespace ironroot::fleet::testing
