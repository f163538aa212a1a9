// MQTT file streams against the real ironrootd (embedded Mosquitto, broker plugin, SQLite): a
// signed image uploaded through the REST API, an OTA job whose afr_ota document names its
// stream, and devices provisioned by claim that describe the stream and download the image the
// ways AWS's OTA agent (CBOR, a bitmap, no stream version) and AWS's file-streams library (JSON,
// s: 1) do, up to 128 KiB blocks; the documented rejections; who may read a stream; job creation
// refusing OTA documents the service could not serve; and the per-client limits.
#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>

#include "ironroot/crypto/digest.hpp"
#include "ironroot/fleet/firmware.hpp"
#include "ironroot/image/sign.hpp"
#include "ironroot/protocol/ota_job.hpp"
#include "ironroot/protocol/streams.hpp"
#include "ota_fleet.hpp"

namespace ironroot::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using protocol::PayloadFormat;

constexpr auto kWait = 30s;

// A device connection that keeps every message it receives, for the test to wait on.
class StreamDevice {
 public:
  static std::unique_ptr<StreamDevice> connect(const BrokerAccess& broker,
                                               const FileIdentity& identity,
                                               const std::string& client_id) {
    std::unique_ptr<StreamDevice> device(new StreamDevice);
    StreamDevice* self = device.get();
    auto client = connect_device(broker, identity, client_id, kWait,
                                 [self](const mqtt::Message& m) { self->add(m); });
    EXPECT_TRUE(client) << (client ? "" : client.error().message);
    if (!client) return nullptr;
    device->client_ = std::move(*client);
    return device;
  }
  ~StreamDevice() { client_.reset(); }  // the network thread stops before the inbox goes

  // Subscribes at QoS 0, as AWS's OTA agent does, and waits for the SUBACK.
  void subscribe(const std::string& filter) {
    const auto before = client_->stats().subscriptions_acknowledged;
    ASSERT_TRUE(client_->subscribe(filter, 0));
    ASSERT_TRUE(client_->wait_until(
        [&](const mqtt::ClientStats& s) { return s.subscriptions_acknowledged > before; }, kWait));
  }
  void publish(const std::string& topic, ByteView payload, int qos = 0) {
    ASSERT_TRUE(client_->publish(topic, payload, qos));
  }
  // Waits until `count` messages arrived on `topic` since the last take(); removes and returns
  // them (fewer after a timeout).
  std::vector<mqtt::Message> take(const std::string& topic, std::size_t count = 1) {
    std::unique_lock lock(mutex_);
    arrived_.wait_for(lock, kWait, [&] { return on(topic) >= count; });
    std::vector<mqtt::Message> out;
    std::erase_if(messages_, [&](mqtt::Message& m) {
      if (m.topic != topic) return false;
      out.push_back(std::move(m));
      return true;
    });
    return out;
  }
  mqtt::Client& client() { return *client_; }
  // Every message received and not taken.
  std::vector<mqtt::Message> pending() {
    std::lock_guard lock(mutex_);
    return messages_;
  }

 private:
  StreamDevice() = default;
  void add(const mqtt::Message& message) {
    std::lock_guard lock(mutex_);
    messages_.push_back(message);
    arrived_.notify_all();
  }
  std::size_t on(const std::string& topic) const {
    return static_cast<std::size_t>(
        std::count_if(messages_.begin(), messages_.end(),
                      [&](const mqtt::Message& m) { return m.topic == topic; }));
  }

  std::mutex mutex_;
  std::condition_variable arrived_;
  std::vector<mqtt::Message> messages_;
  std::unique_ptr<mqtt::Client> client_;
};

class StreamsE2E : public OtaFleetTest {
 protected:
  std::unique_ptr<StreamDevice> connect(const std::string& thing, const FileIdentity& identity) {
    return StreamDevice::connect(broker_, identity, thing);
  }

  static std::string topic(const std::string& thing, const std::string& stream,
                           const std::string& message, PayloadFormat format) {
    return "$aws/things/" + thing + "/streams/" + stream + "/" + message + "/" +
           (format == PayloadFormat::cbor ? "cbor" : "json");
  }

  // Publishes a GetStream and returns the blocks it is answered with, waiting for `blocks`.
  std::vector<protocol::DataBlockResponse> get(StreamDevice& device, const std::string& thing,
                                               const std::string& stream,
                                               const protocol::GetStreamRequest& request,
                                               PayloadFormat format, std::size_t blocks) {
    device.publish(topic(thing, stream, "get", format),
                   protocol::encode_stream_message(request, format));
    std::vector<protocol::DataBlockResponse> out;
    for (const mqtt::Message& m : device.take(topic(thing, stream, "data", format), blocks)) {
      auto block = protocol::decode_stream_reply<protocol::DataBlockResponse>(m.payload, format);
      EXPECT_TRUE(block) << block.error().message;
      if (block) out.push_back(std::move(*block));
    }
    EXPECT_EQ(out.size(), blocks);
    return out;
  }

  // Publishes `payload` on a request topic and returns the error reply on .../rejected/F.
  protocol::StreamErrorResponse rejected(StreamDevice& device, const std::string& thing,
                                         const std::string& stream, const std::string& request,
                                         PayloadFormat format, ByteView payload) {
    device.publish(topic(thing, stream, request, format), payload, 1);
    auto replies = device.take(topic(thing, stream, "rejected", format));
    EXPECT_EQ(replies.size(), 1u) << thing << " " << stream << " " << request;
    if (replies.empty()) return {};
    auto error =
        protocol::decode_stream_reply<protocol::StreamErrorResponse>(replies[0].payload, format);
    EXPECT_TRUE(error) << error.error().message;
    return error ? *error : protocol::StreamErrorResponse{};
  }

  static protocol::GetStreamRequest get_request(std::int64_t block_size, std::int64_t offset,
                                                std::optional<std::int64_t> count = std::nullopt) {
    protocol::GetStreamRequest request;
    request.client_token = "rdy";
    request.file_id = 0;
    request.block_size = block_size;
    request.block_offset = offset;
    request.block_count = count;
    return request;
  }
};

TEST_F(StreamsE2E, ADeviceWithAnOtaJobDescribesTheStreamAndDownloadsTheImage) {
  auto lamp = provision("lamp-1");
  ASSERT_TRUE(lamp);
  const Firmware firmware = upload(200'000);
  ASSERT_FALSE(firmware.id.empty());
  ASSERT_NO_FATAL_FAILURE(create_ota_job("ota-1", ota_document(firmware), {"lamp-1"}));
  auto device = connect("lamp-1", *lamp);
  ASSERT_TRUE(device);
  const auto size = static_cast<std::int64_t>(firmware.bytes.size());

  // DescribeStream in both formats; replies arrive without a subscription.
  for (PayloadFormat format : {PayloadFormat::cbor, PayloadFormat::json}) {
    protocol::DescribeStreamRequest describe{"d-1"};
    device->publish(topic("lamp-1", firmware.stream, "describe", format),
                    protocol::encode_stream_message(describe, format), 1);
    auto replies = device->take(topic("lamp-1", firmware.stream, "description", format));
    ASSERT_EQ(replies.size(), 1u);
    auto description =
        protocol::decode_stream_reply<protocol::DescribeStreamResponse>(replies[0].payload, format);
    ASSERT_TRUE(description) << description.error().message;
    EXPECT_EQ(description->client_token, "d-1");
    EXPECT_EQ(description->stream_version, 1);
    EXPECT_EQ(description->files, (std::vector<protocol::StreamFile>{{0, size}}));
    EXPECT_EQ(description->description, "firmware 1.2.3+4 (lamp-fw)");
  }

  // AWS's OTA agent: subscribed to the data topic at QoS 0, CBOR GetStream without s, a bitmap of
  // the blocks it still lacks, 8 blocks of 4 KiB per request, published at QoS 0.
  constexpr std::int64_t kBlock = 4096;
  const std::size_t blocks = static_cast<std::size_t>((size + kBlock - 1) / kBlock);
  ASSERT_NO_FATAL_FAILURE(
      device->subscribe(topic("lamp-1", firmware.stream, "data", PayloadFormat::cbor)));
  Bytes bitmap = protocol::full_block_bitmap(blocks);
  Bytes assembled(firmware.bytes.size());
  std::size_t missing = blocks, requests = 0;
  while (missing > 0 && requests++ < blocks) {
    auto request = get_request(kBlock, 0, 8);
    request.block_bitmap = bitmap;
    for (const auto& block : get(*device, "lamp-1", firmware.stream, request, PayloadFormat::cbor,
                                 std::min<std::size_t>(8, missing))) {
      EXPECT_EQ(block.client_token, "rdy");
      EXPECT_EQ(block.file_id, 0);
      const auto id = static_cast<std::size_t>(block.block_id);
      ASSERT_LT(id, blocks);
      ASSERT_TRUE(protocol::is_block_requested(bitmap, id)) << "block " << id << " twice";
      const std::size_t offset = id * kBlock;
      ASSERT_EQ(block.payload.size(), std::min<std::size_t>(kBlock, assembled.size() - offset));
      std::copy(block.payload.begin(), block.payload.end(), assembled.begin() + offset);
      protocol::set_block_requested(bitmap, id, false);
      --missing;
    }
  }
  EXPECT_EQ(missing, 0u);
  EXPECT_EQ(requests, (blocks + 7) / 8);
  EXPECT_TRUE(assembled == firmware.bytes);

  // AWS's file-streams library: JSON with s: 1 and no bitmap; and CBOR. Blocks of 128 KiB, the
  // largest, one per request (n absent: 131072 / l), through the embedded broker.
  for (PayloadFormat format : {PayloadFormat::json, PayloadFormat::cbor}) {
    Bytes whole;
    for (std::int64_t offset = 0; offset * 131072 < size; ++offset) {
      auto request = get_request(131072, offset);
      if (format == PayloadFormat::json) request.stream_version = 1;
      auto got = get(*device, "lamp-1", firmware.stream, request, format, 1);
      ASSERT_EQ(got.size(), 1u);
      EXPECT_EQ(got[0].block_id, offset);
      whole.insert(whole.end(), got[0].payload.begin(), got[0].payload.end());
    }
    EXPECT_TRUE(whole == firmware.bytes) << (format == PayloadFormat::json ? "json" : "cbor");
  }
  // Nothing else came: no rejection, no stray block.
  for (const mqtt::Message& m : device->pending()) ADD_FAILURE() << "unexpected " << m.topic;
}

TEST_F(StreamsE2E, BadRequestsAreRejectedWithTheCodesOfTheDeveloperGuide) {
  auto lamp = provision("lamp-1");
  ASSERT_TRUE(lamp);
  const Firmware firmware = upload(5'000);
  ASSERT_NO_FATAL_FAILURE(create_ota_job("ota-1", ota_document(firmware), {"lamp-1"}));
  auto device = connect("lamp-1", *lamp);
  ASSERT_TRUE(device);
  const std::string& stream = firmware.stream;
  auto expect = [&](const protocol::StreamErrorResponse& error, std::string_view code,
                    std::optional<std::string> token, const std::string& message_part) {
    EXPECT_EQ(error.code, code) << error.message;
    EXPECT_EQ(error.client_token, token) << error.code;
    EXPECT_TRUE(contains(error.message, message_part)) << error.message;
  };

  auto wrong_file = get_request(1024, 0);
  wrong_file.file_id = 3;
  expect(rejected(*device, "lamp-1", stream, "get", PayloadFormat::cbor,
                  protocol::encode_stream_message(wrong_file, PayloadFormat::cbor)),
         protocol::stream_errors::kResourceNotFound, "rdy", "3");
  expect(rejected(*device, "lamp-1", stream, "get", PayloadFormat::json,
                  as_bytes(R"({"c": "t-2", "f": 0, "l": 100, "o": 0})")),
         protocol::stream_errors::kBlockSizeOutOfBounds, "t-2", "l: 100");
  expect(rejected(*device, "lamp-1", stream, "get", PayloadFormat::json,
                  as_bytes(R"({"c": "t-3", "s": 2, "f": 0, "l": 1024})")),
         protocol::stream_errors::kVersionMismatch, "t-3", "");
  expect(rejected(*device, "lamp-1", stream, "get", PayloadFormat::cbor, as_bytes("not cbor")),
         protocol::stream_errors::kInvalidCbor, std::nullopt, "");
  expect(rejected(*device, "lamp-1", stream, "get", PayloadFormat::cbor,
                  protocol::encode_stream_message(get_request(1024, 50), PayloadFormat::cbor)),
         protocol::stream_errors::kOffsetOutOfBounds, "rdy", "");

  // A stream no pending job of the thing names: Unauthorized, whether or not it exists.
  const std::string unknown = "fw-" + std::string(40, '0');
  expect(rejected(*device, "lamp-1", unknown, "describe", PayloadFormat::json,
                  as_bytes(R"({"c": "t-4"})")),
         protocol::stream_errors::kUnauthorized, "t-4", "no pending OTA job execution");
  // A stream a pending job names that the service does not have: ResourceNotFound.
  json elsewhere = ota_document(firmware, "acme-stream");
  ASSERT_NO_FATAL_FAILURE(create_ota_job("ota-elsewhere", elsewhere, {"lamp-1"}));
  expect(rejected(*device, "lamp-1", "acme-stream", "get", PayloadFormat::cbor,
                  protocol::encode_stream_message(get_request(1024, 0), PayloadFormat::cbor)),
         protocol::stream_errors::kResourceNotFound, "rdy", "acme-stream");

  // A device without a pending execution for the stream, on its own topic: Unauthorized.
  auto other = provision("lamp-2");
  ASSERT_TRUE(other);
  auto device2 = connect("lamp-2", *other);
  ASSERT_TRUE(device2);
  expect(rejected(*device2, "lamp-2", stream, "get", PayloadFormat::cbor,
                  protocol::encode_stream_message(get_request(1024, 0), PayloadFormat::cbor)),
         protocol::stream_errors::kUnauthorized, "rdy", "lamp-2");
  // On another thing's topic: the device policy does not let the request through at all.
  // (The broker logs the refusal before it acknowledges the publish.)
  device2->publish(topic("lamp-1", stream, "get", PayloadFormat::cbor),
                   protocol::encode_stream_message(get_request(1024, 0), PayloadFormat::cbor), 1);
  ASSERT_TRUE(device2->client().wait_until([](const mqtt::ClientStats& s) { return s.queued == 0; },
                                           kWait));
  const std::string refused = "no policy allows iot:Publish on topic/" +
                              topic("lamp-1", stream, "get", PayloadFormat::cbor);
  EXPECT_TRUE(contains(broker_log(), refused)) << broker_log();
  // And when a policy does let it through, the service refuses a certificate that is not the
  // thing's.
  const json everything = json::parse(R"({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]})");
  call("POST", "/v1/policies", {{"policyName", "Everything"}, {"policyDocument", everything}}, 201);
  call("PUT", "/v1/policies/Everything/certificates/" + to_hex(other->certificate.fingerprint()),
       nullptr, 204);
  expect(rejected(*device2, "lamp-1", stream, "describe", PayloadFormat::cbor,
                  protocol::encode_stream_message(protocol::DescribeStreamRequest{"t-5"},
                                                  PayloadFormat::cbor)),
         protocol::stream_errors::kUnauthorized, "t-5", "not attached to thing lamp-1");

  // The image deleted: its stream is gone at once, though the job still names it.
  call("DELETE", "/v1/firmware/" + firmware.id, nullptr, 204);
  expect(rejected(*device, "lamp-1", stream, "get", PayloadFormat::cbor,
                  protocol::encode_stream_message(get_request(1024, 0), PayloadFormat::cbor)),
         protocol::stream_errors::kResourceNotFound, "rdy", "no firmware image");
  // The execution over (canceled): the stream is closed to the thing.
  call("PUT", "/v1/jobs/ota-elsewhere/things/lamp-1/cancel", json::object());
  expect(
      rejected(*device, "lamp-1", "acme-stream", "describe", PayloadFormat::json, as_bytes("{}")),
      protocol::stream_errors::kUnauthorized, std::nullopt, "no pending OTA job execution");
}

TEST_F(StreamsE2E, JobCreationRefusesOtaDocumentsTheStreamsCannotServe) {
  ASSERT_TRUE(provision("lamp-1"));
  const Firmware firmware = upload(3'000);
  auto refused = [&](const json& document, const std::string& message_part) {
    const json error = call(
        "POST", "/v1/jobs",
        {{"jobId", "bad"}, {"document", document}, {"targets", {{"things", {"lamp-1"}}}}}, 400);
    EXPECT_TRUE(contains(error.value("/error/message"_json_pointer, ""), message_part))
        << error.dump();
  };
  refused({{"afr_ota", {{"protocols", {"MQTT"}}, {"streamname", firmware.stream}}}},
          "afr_ota.files");
  refused(ota_document(firmware, std::nullopt, 1234), "filesize is 1234 bytes");
  refused(ota_document(firmware, "fw-" + std::string(40, 'a')), "names no firmware image");
  refused(ota_document(firmware, std::nullopt, std::nullopt, 1), "fileid is 1");
  // Nothing was created; the right document is taken.
  call("GET", "/v1/jobs/bad", nullptr, 404);
  call("POST", "/v1/jobs",
       {{"jobId", "good"},
        {"document", ota_document(firmware)},
        {"targets", {{"things", {"lamp-1"}}}}},
       201);
}

TEST_F(StreamsE2E, RequestsOverAClientsLimitsAreDropped) {
  // ironrootd again, with small limits: 3 requests, then 1 a minute; 128 KiB, then 1 byte a
  // second.
  daemon_.reset();
  const auto config = temp_.path() / "ironrootd.toml";
  std::ofstream(config) << "[streams]\nrequests_per_minute = 1\nrequest_burst = 3\n"
                           "bytes_per_second = 1\nburst_bytes = 131072\n";
  auto args = ports_.args(data_);
  args.insert(args.end(), {"--config", config.string()});
  daemon_ = std::make_unique<Daemon>(args);
  ASSERT_TRUE(daemon_->wait_for_log("ironrootd is running")) << daemon_->log();

  auto lamp1 = provision("lamp-1");
  auto lamp2 = provision("lamp-2");
  ASSERT_TRUE(lamp1 && lamp2);
  const Firmware firmware = upload(300'000);
  ASSERT_NO_FATAL_FAILURE(create_ota_job("ota-1", ota_document(firmware), {"lamp-1", "lamp-2"}));

  // Requests: three are answered, the fourth is dropped (and logged), without a reply.
  auto device1 = connect("lamp-1", *lamp1);
  ASSERT_TRUE(device1);
  const std::string describe = topic("lamp-1", firmware.stream, "describe", PayloadFormat::json);
  for (int i = 0; i < 4; ++i) device1->publish(describe, as_bytes("{}"), 1);
  ASSERT_TRUE(daemon_->wait_for_log("from lamp-1 dropped: the client is over its stream limits"))
      << daemon_->log();
  EXPECT_EQ(
      device1->take(topic("lamp-1", firmware.stream, "description", PayloadFormat::json), 3).size(),
      3u);

  // Bytes: a second client's first 128 KiB pass; the next GetStream is dropped.
  auto device2 = connect("lamp-2", *lamp2);
  ASSERT_TRUE(device2);
  EXPECT_EQ(get(*device2, "lamp-2", firmware.stream, get_request(131072, 0), PayloadFormat::cbor, 1)
                .size(),
            1u);
  device2->publish(topic("lamp-2", firmware.stream, "get", PayloadFormat::cbor),
                   protocol::encode_stream_message(get_request(131072, 1), PayloadFormat::cbor), 1);
  ASSERT_TRUE(daemon_->wait_for_log("GetStream from lamp-2 dropped")) << daemon_->log();
  for (const mqtt::Message& m : device1->pending()) ADD_FAILURE() << "unexpected " << m.topic;
  for (const mqtt::Message& m : device2->pending()) ADD_FAILURE() << "unexpected " << m.topic;
}

}  // namespace
}  // namespace ironroot::testing
