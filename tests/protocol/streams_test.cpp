#include "ironroot/protocol/streams.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <initializer_list>
#include <numeric>
#include <string>

namespace ironroot::protocol {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr PayloadFormat kFormats[] = {PayloadFormat::json, PayloadFormat::cbor};

Bytes bytes(std::initializer_list<int> values) {
  Bytes out;
  for (int v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

// RFC 8949: a text string of fewer than 24 bytes is 0x60 + length, then the bytes.
void append_key(Bytes& out, std::string_view text) {
  ASSERT_LT(text.size(), 24u);
  out.push_back(static_cast<std::byte>(0x60 + text.size()));
  append(out, as_bytes(text));
}

Bytes text(std::string_view s) {
  return to_bytes(s);
}

template <class Request>
StreamRequestError request_error(const json& document, PayloadFormat format) {
  auto decoded = decode_stream_request<Request>(encode_payload(document, format), format);
  EXPECT_FALSE(decoded) << "accepted: " << document.dump();
  return decoded ? StreamRequestError{} : decoded.error();
}

std::string get_error_code(const json& document, PayloadFormat format = PayloadFormat::json) {
  return request_error<GetStreamRequest>(document, format).code;
}

json get_request(std::initializer_list<std::pair<const std::string, json>> extra = {}) {
  json out{{"c", "t1"}, {"f", 0}, {"l", 4096}};
  for (const auto& [key, value] : extra) out[key] = value;
  return out;
}

template <class Message>
void expect_reply_round_trip(const Message& message) {
  for (auto format : kFormats) {
    auto decoded = decode_stream_reply<Message>(encode_stream_message(message, format), format);
    ASSERT_TRUE(decoded) << to_string(format) << ": " << decoded.error().message;
    EXPECT_TRUE(*decoded == message) << to_string(format);
  }
}

template <class Request>
void expect_request_round_trip(const Request& request) {
  for (auto format : kFormats) {
    auto decoded = decode_stream_request<Request>(encode_stream_message(request, format), format);
    ASSERT_TRUE(decoded) << to_string(format) << ": " << decoded.error().message;
    EXPECT_TRUE(*decoded == request) << to_string(format);
  }
}

// ---- Topics

TEST(StreamTopics, BuildAndParseEveryMessageInBothFormats) {
  const TopicPrefix prefix;
  const std::pair<StreamMessage, std::string> messages[] = {
      {StreamMessage::get, "get"},
      {StreamMessage::describe, "describe"},
      {StreamMessage::data, "data"},
      {StreamMessage::description, "description"},
      {StreamMessage::rejected, "rejected"}};
  for (const auto& [message, level] : messages) {
    for (auto format : kFormats) {
      const StreamTopic topic{"dev:1_a-B", "AFR_OTA-0a1b", message, format};
      const std::string expected = "$aws/things/dev:1_a-B/streams/AFR_OTA-0a1b/" + level + "/" +
                                   std::string(to_string(format));
      EXPECT_EQ(stream_topic(prefix, topic).value(), expected);
      auto parsed = parse_stream_topic(prefix, expected);
      ASSERT_TRUE(parsed) << parsed.error().message;
      EXPECT_EQ(*parsed, topic);
    }
  }
}

TEST(StreamTopics, CustomPrefix) {
  const auto prefix = TopicPrefix::create("fleet/eu").value();
  const StreamTopic topic{"t", "s", StreamMessage::get, PayloadFormat::json};
  EXPECT_EQ(stream_topic(prefix, topic).value(), "fleet/eu/things/t/streams/s/get/json");
  EXPECT_TRUE(parse_stream_topic(prefix, "fleet/eu/things/t/streams/s/get/json"));
  EXPECT_FALSE(parse_stream_topic(prefix, "$aws/things/t/streams/s/get/json"));
}

TEST(StreamTopics, ParseRefusesWhatIsNotExactlyAStreamsTopic) {
  const TopicPrefix prefix;
  const std::pair<std::string, std::string> cases[] = {
      {"$aws/things/t/streams/s/get", "is not <prefix>/things"},
      {"$aws/things/t/streams/s/get/json/extra", "is not <prefix>/things"},
      {"$aws/things/t/jobs/s/get/json", "not a streams topic"},
      {"$aws/things/t/streams/s/put/json", "is not get, describe"},
      {"$aws/things/t/streams/s/get/xml", "not a payload format"},
      {"$aws/things/t/streams/s/get/JSON", "not a payload format"},
      {"$aws/things/t t/streams/s/get/json", "not a valid thing name"},
      {"$aws/things//streams/s/get/json", "not a valid thing name"},
      {"$aws/things/t/streams/s.1/get/json", "not a valid stream id"},
      {"$aws/things/t/streams//get/json", "not a valid stream id"},
      {"$aws/things/t/streams/" + std::string(129, 'a') + "/get/json", "not a valid stream id"},
      {"$azure/things/t/streams/s/get/json", "does not start with"},
      {"$aws/thing/t/streams/s/get/json", "does not start with"},
  };
  for (const auto& [topic, why] : cases) {
    auto parsed = parse_stream_topic(prefix, topic);
    ASSERT_FALSE(parsed) << topic;
    EXPECT_THAT(parsed.error().message, HasSubstr(why)) << topic;
  }
  EXPECT_TRUE(
      parse_stream_topic(prefix, "$aws/things/t/streams/" + std::string(128, 'a') + "/get/json"));
}

TEST(StreamTopics, BuildRefusesInvalidNames) {
  const TopicPrefix prefix;
  EXPECT_THAT(stream_topic(prefix, {"bad thing", "s", StreamMessage::get, PayloadFormat::cbor})
                  .error()
                  .message,
              HasSubstr("invalid thing name"));
  EXPECT_THAT(
      stream_topic(prefix, {"t", "s/x", StreamMessage::get, PayloadFormat::cbor}).error().message,
      HasSubstr("invalid stream id"));
  EXPECT_FALSE(stream_topic(prefix, {"t", "", StreamMessage::get, PayloadFormat::cbor}));
}

TEST(StreamTopics, StreamIds) {
  EXPECT_TRUE(is_valid_stream_id("a"));
  EXPECT_TRUE(is_valid_stream_id("AFR_OTA-5ba9c4b2-4a1e-4e57-8c6c-3d4c1b2a9f00"));
  EXPECT_TRUE(is_valid_stream_id(std::string(128, 'z')));
  EXPECT_FALSE(is_valid_stream_id(std::string(129, 'z')));
  EXPECT_FALSE(is_valid_stream_id(""));
  EXPECT_FALSE(is_valid_stream_id("a:b"));  // ':' is for thing names, not stream ids
  EXPECT_FALSE(is_valid_stream_id("a+"));
  EXPECT_FALSE(is_valid_stream_id("a#"));
}

TEST(StreamTopics, RepliesAndFilters) {
  const StreamTopic get{"t", "s", StreamMessage::get, PayloadFormat::cbor};
  const StreamTopic describe{"t", "s", StreamMessage::describe, PayloadFormat::json};
  EXPECT_TRUE(get.is_request());
  EXPECT_TRUE(describe.is_request());
  EXPECT_EQ(reply_topic(get, Reply::accepted).message, StreamMessage::data);
  EXPECT_EQ(reply_topic(get, Reply::rejected).message, StreamMessage::rejected);
  EXPECT_EQ(reply_topic(describe, Reply::accepted).message, StreamMessage::description);
  EXPECT_EQ(reply_topic(describe, Reply::rejected).format, PayloadFormat::json);
  EXPECT_FALSE(reply_topic(get, Reply::accepted).is_request());
  EXPECT_THAT(stream_request_filters(TopicPrefix{}),
              ElementsAre("$aws/things/+/streams/+/get/+", "$aws/things/+/streams/+/describe/+"));
}

// ---- Base64 and bitmaps

TEST(StreamBase64, Rfc4648TestVectors) {
  const std::pair<std::string, std::string> vectors[] = {{"", ""},
                                                         {"f", "Zg=="},
                                                         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},
                                                         {"foob", "Zm9vYg=="},
                                                         {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(to_base64(as_bytes(plain)), encoded);
    auto decoded = from_base64(encoded);
    ASSERT_TRUE(decoded) << encoded;
    EXPECT_EQ(as_chars(*decoded), plain);
  }
  EXPECT_EQ(to_base64(bytes({0xfb, 0xff})), "+/8=");
  EXPECT_EQ(from_base64("+/8=").value(), bytes({0xfb, 0xff}));
}

TEST(StreamBase64, StrictDecoding) {
  for (std::string_view bad : {"Zg", "Zg=", "Zg===", "Z===", "====", "Zm9v\n", " Zg==", "Zg==Zg==",
                               "Zm=v", "Zh==", "Zm9=", "Zm-v", "Zm_v", "Zm9v!A=="}) {
    EXPECT_FALSE(from_base64(bad)) << bad;
  }
}

TEST(StreamBitmap, BitOrderIsTheDevelopersGuideAndOtaAgents) {
  // The DG: blocks 20, 21, 24 and 43 from offset 20 are bits 0, 1, 4 and 23: "0x130080".
  Bytes bitmap(3);
  for (std::size_t block : {20u, 21u, 24u, 43u}) set_block_requested(bitmap, block - 20, true);
  EXPECT_EQ(to_hex(bitmap), "130080");
  for (std::size_t k = 0; k < 24; ++k) {
    EXPECT_EQ(is_block_requested(bitmap, k), k == 0 || k == 1 || k == 4 || k == 23) << k;
  }
  EXPECT_FALSE(is_block_requested(bitmap, 24));  // past the bitmap
  set_block_requested(bitmap, 4, false);
  EXPECT_EQ(to_hex(bitmap), "030080");
}

TEST(StreamBitmap, FullBitmapClearsBitsPastTheLastBlock) {
  EXPECT_EQ(to_hex(full_block_bitmap(5)), "1f");  // a 20000-byte file in 4096-byte blocks
  EXPECT_EQ(to_hex(full_block_bitmap(8)), "ff");
  EXPECT_EQ(to_hex(full_block_bitmap(10)), "ff03");
  EXPECT_TRUE(full_block_bitmap(0).empty());
}

// ---- GetStream requests as AWS's device libraries build them

// ota_cbor.c (OTA_CBOR_Encode_GetStreamRequestMessage) writes a map of 6 entries in this order:
// c, f, l, o, b, n; ota_mqtt.c passes c = "rdy", o = 0, a bitmap of the whole file, and
// n = otaconfigMAX_NUM_BLOCKS_REQUEST (1). No s.
Bytes ota_agent_request(Bytes bitmap, int n) {
  Bytes out = bytes({0xa6});
  append_key(out, "c");
  append_key(out, "rdy");
  append_key(out, "f");
  out.push_back(std::byte{0x00});
  append_key(out, "l");
  append(out, bytes({0x19, 0x10, 0x00}));  // 4096: unsigned, 2-byte argument
  append_key(out, "o");
  out.push_back(std::byte{0x00});
  append_key(out, "b");
  out.push_back(static_cast<std::byte>(0x40 + bitmap.size()));  // byte string, short length
  append(out, bitmap);
  append_key(out, "n");
  out.push_back(static_cast<std::byte>(n));
  return out;
}

TEST(StreamGolden, OtaAgentRequestByteForByte) {
  const Bytes golden = ota_agent_request(full_block_bitmap(5), 1);
  ASSERT_EQ(to_hex(golden),
            "a6"        // map of 6 pairs
            "6163"      // "c"
            "63726479"  // "rdy"
            "6166"      // "f"
            "00"        // 0
            "616c"      // "l"
            "191000"    // 4096
            "616f"      // "o"
            "00"        // 0
            "6162"      // "b"
            "411f"      // h'1f': blocks 0 to 4 missing
            "616e"      // "n"
            "01");      // 1
  auto request = decode_stream_request<GetStreamRequest>(golden, PayloadFormat::cbor);
  ASSERT_TRUE(request) << request.error().message;
  EXPECT_EQ(request->client_token, "rdy");
  EXPECT_EQ(request->stream_version, std::nullopt);
  EXPECT_EQ(request->file_id, 0);
  EXPECT_EQ(request->block_size, 4096);
  EXPECT_EQ(request->block_offset, 0);
  EXPECT_EQ(request->block_count, 1);
  EXPECT_EQ(request->block_bitmap, bytes({0x1f}));

  // ironroot's encoder writes the same map with its keys in RFC 8949 order (b, c, f, l, n, o).
  EXPECT_EQ(to_hex(encode_stream_message(*request, PayloadFormat::cbor)),
            "a6"            // map of 6 pairs
            "6162411f"      // "b": h'1f'
            "616363726479"  // "c": "rdy"
            "616600"        // "f": 0
            "616c191000"    // "l": 4096
            "616e01"        // "n": 1
            "616f00");      // "o": 0

  // A 20000-byte file: the agent asks for one block at a time, the first one still missing.
  const StreamFile files[] = {{0, 20000}};
  auto plan = plan_get_stream(*request, 1, files);
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_THAT(plan->block_ids, ElementsAre(0u));
  EXPECT_EQ(plan->client_token, "rdy");

  Bytes rest = full_block_bitmap(5);
  set_block_requested(rest, 0, false);
  set_block_requested(rest, 1, false);
  auto later = plan_get_stream(
      decode_stream_request<GetStreamRequest>(ota_agent_request(rest, 1), PayloadFormat::cbor)
          .value(),
      1, files);
  ASSERT_TRUE(later);
  EXPECT_THAT(later->block_ids, ElementsAre(2u));
}

// MQTTFileDownloader.c (v1.1.0) sends c = "rdy" and, as the bitmap, the four bytes of the text
// "MQ==" (4d 51 3d 3d), whose bit 0 is set: with n = 1 the block at the offset is sent.
TEST(StreamGolden, MqttFileStreamsLibraryCborRequest) {
  Bytes payload = bytes({0xa6});
  append_key(payload, "c");
  append_key(payload, "rdy");
  append_key(payload, "f");
  payload.push_back(std::byte{0x01});
  append_key(payload, "l");
  append(payload, bytes({0x19, 0x01, 0x00}));  // 256
  append_key(payload, "o");
  payload.push_back(std::byte{0x07});
  append_key(payload, "b");
  payload.push_back(std::byte{0x44});
  append(payload, text("MQ=="));
  append_key(payload, "n");
  payload.push_back(std::byte{0x01});
  auto request = decode_stream_request<GetStreamRequest>(payload, PayloadFormat::cbor);
  ASSERT_TRUE(request) << request.error().message;
  EXPECT_EQ(request->block_bitmap, text("MQ=="));
  const StreamFile files[] = {{1, 4000}};
  auto plan = plan_get_stream(*request, 1, files);
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_THAT(plan->block_ids, ElementsAre(7u));
}

// Its JSON request: "{\"s\": 1,\"f\": %u,\"l\": %u,\"o\": %u,\"n\": %u}", always s = 1.
TEST(StreamGolden, MqttFileStreamsLibraryJsonRequest) {
  const std::string payload = R"({"s": 1,"f": 0,"l": 256,"o": 3,"n": 1})";
  auto request = decode_stream_request<GetStreamRequest>(as_bytes(payload), PayloadFormat::json);
  ASSERT_TRUE(request) << request.error().message;
  EXPECT_EQ(request->stream_version, 1);
  EXPECT_EQ(request->client_token, std::nullopt);
  const StreamFile files[] = {{0, 1000}};
  auto plan = plan_get_stream(*request, 1, files);
  ASSERT_TRUE(plan);
  EXPECT_THAT(plan->block_ids, ElementsAre(3u));
  EXPECT_EQ(plan->size_of(3), 1000u - 3 * 256u);
  auto mismatch = plan_get_stream(*request, 2, files);
  ASSERT_FALSE(mismatch);
  EXPECT_EQ(mismatch.error().code, stream_errors::kVersionMismatch);
}

// The DG's example: {"c":"1","s":1,"l":256,"f":1,"o":20,"n":32,"b":"0x130080"}.
TEST(StreamGolden, DevelopersGuideBitmapExample) {
  const std::string payload =
      R"({"c": "1", "s": 1, "l": 256, "f": 1, "o": 20, "n": 32, "b": "0x130080"})";
  auto request = decode_stream_request<GetStreamRequest>(as_bytes(payload), PayloadFormat::json);
  ASSERT_TRUE(request) << request.error().message;
  EXPECT_EQ(request->block_bitmap, bytes({0x13, 0x00, 0x80}));
  const StreamFile files[] = {{0, 100}, {1, 256 * 100}};
  auto plan = plan_get_stream(*request, 1, files);
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_THAT(plan->block_ids, ElementsAre(20u, 21u, 24u, 43u));
  EXPECT_EQ(as_chars(encode_stream_message(*request, PayloadFormat::json)),
            R"({"b":"0x130080","c":"1","f":1,"l":256,"n":32,"o":20,"s":1})");
}

TEST(StreamGetRequest, JsonBitmapSpellings) {
  const std::pair<std::string, Bytes> cases[] = {
      {"0x130080", bytes({0x13, 0x00, 0x80})},
      {"130080", bytes({0x13, 0x00, 0x80})},
      {"0X30080", bytes({0x03, 0x00, 0x80})},
      {"0xAbCd", bytes({0xab, 0xcd})},
      {"0x", Bytes{}},
      {"", Bytes{}},
  };
  for (const auto& [spelling, expected] : cases) {
    auto request = decode_stream_request<GetStreamRequest>(
        encode_payload(get_request({{"b", spelling}}), PayloadFormat::json), PayloadFormat::json);
    ASSERT_TRUE(request) << spelling << ": " << request.error().message;
    EXPECT_EQ(request->block_bitmap, expected) << spelling;
  }
  for (std::string_view bad : {"0x13g0", "MQ==", "0x 13", "-13"}) {
    auto error = request_error<GetStreamRequest>(get_request({{"b", bad}}), PayloadFormat::json);
    EXPECT_EQ(error.code, stream_errors::kInvalidRequest) << bad;
    EXPECT_THAT(error.message, HasSubstr("b: ")) << bad;
    EXPECT_EQ(error.client_token, "t1");
  }
}

// ---- GetStream bounds, each with the code the DG gives it

TEST(StreamGetRequest, FileId) {
  for (auto format : kFormats) {
    EXPECT_TRUE(decode_stream_request<GetStreamRequest>(
        encode_payload(get_request({{"f", 255}}), format), format));
    EXPECT_EQ(get_error_code(get_request({{"f", 256}}), format), stream_errors::kInvalidRequest);
    EXPECT_EQ(get_error_code(get_request({{"f", -1}}), format), stream_errors::kInvalidRequest);
    EXPECT_EQ(get_error_code(json{{"l", 4096}}, format), stream_errors::kInvalidRequest);
  }
  EXPECT_THAT(request_error<GetStreamRequest>(json{{"l", 4096}}, PayloadFormat::json).message,
              HasSubstr("f: missing"));
}

TEST(StreamGetRequest, BlockSize) {
  for (auto format : kFormats) {
    for (int ok : {256, 4096, 131072}) {
      EXPECT_TRUE(decode_stream_request<GetStreamRequest>(
          encode_payload(get_request({{"l", ok}}), format), format))
          << ok;
    }
    EXPECT_EQ(get_error_code(get_request({{"l", 255}}), format),
              stream_errors::kBlockSizeOutOfBounds);
    EXPECT_EQ(get_error_code(get_request({{"l", 131073}}), format),
              stream_errors::kBlockSizeOutOfBounds);
    EXPECT_EQ(get_error_code(get_request({{"l", "4096"}}), format), stream_errors::kInvalidRequest);
    EXPECT_EQ(get_error_code(get_request({{"l", 4096.0}}), format), stream_errors::kInvalidRequest);
    EXPECT_EQ(get_error_code(json{{"f", 0}}, format), stream_errors::kInvalidRequest);
  }
}

TEST(StreamGetRequest, Offset) {
  for (auto format : kFormats) {
    auto absent =
        decode_stream_request<GetStreamRequest>(encode_payload(get_request(), format), format);
    ASSERT_TRUE(absent);
    EXPECT_EQ(absent->block_offset, 0);
    EXPECT_TRUE(decode_stream_request<GetStreamRequest>(
        encode_payload(get_request({{"o", 98304}}), format), format));
    EXPECT_EQ(get_error_code(get_request({{"o", 98305}}), format),
              stream_errors::kOffsetOutOfBounds);
    EXPECT_EQ(get_error_code(get_request({{"o", -1}}), format), stream_errors::kOffsetOutOfBounds);
    EXPECT_EQ(get_error_code(get_request({{"o", nullptr}}), format),
              stream_errors::kInvalidRequest);
  }
}

TEST(StreamGetRequest, BlockCount) {
  for (auto format : kFormats) {
    for (int ok : {0, 1, 98304}) {
      EXPECT_TRUE(decode_stream_request<GetStreamRequest>(
          encode_payload(get_request({{"n", ok}}), format), format))
          << ok;
    }
    EXPECT_EQ(get_error_code(get_request({{"n", 98305}}), format),
              stream_errors::kBlockCountLimitExceeded);
    EXPECT_EQ(get_error_code(get_request({{"n", -1}}), format),
              stream_errors::kBlockCountLimitExceeded);
    EXPECT_EQ(get_error_code(get_request({{"n", true}}), format), stream_errors::kInvalidRequest);
  }
}

TEST(StreamGetRequest, BitmapSize) {
  for (auto format : kFormats) {
    GetStreamRequest request{
        "t", std::nullopt, 0, 256, 0, std::nullopt, Bytes(kMaxStreamBitmapSize, std::byte{0x01})};
    auto ok = decode_stream_request<GetStreamRequest>(encode_stream_message(request, format),
                                                      format, 64 * 1024);
    ASSERT_TRUE(ok) << ok.error().message;
    request.block_bitmap->push_back(std::byte{0x01});
    auto too_big = decode_stream_request<GetStreamRequest>(encode_stream_message(request, format),
                                                           format, 64 * 1024);
    ASSERT_FALSE(too_big);
    EXPECT_EQ(too_big.error().code, stream_errors::kBlockBitmapLimitExceeded);
    EXPECT_EQ(too_big.error().client_token, "t");
  }
  // In CBOR the bitmap is a byte string; text is refused.
  EXPECT_EQ(get_error_code(get_request({{"b", "1f"}}), PayloadFormat::cbor),
            stream_errors::kInvalidRequest);
  EXPECT_EQ(get_error_code(get_request({{"b", 31}}), PayloadFormat::json),
            stream_errors::kInvalidRequest);
}

TEST(StreamGetRequest, ClientTokenAndVersion) {
  for (auto format : kFormats) {
    EXPECT_TRUE(decode_stream_request<GetStreamRequest>(
        encode_payload(get_request({{"c", std::string(64, 'x')}}), format), format));
    auto long_token =
        request_error<GetStreamRequest>(get_request({{"c", std::string(65, 'x')}}), format);
    EXPECT_EQ(long_token.code, stream_errors::kInvalidRequest);
    EXPECT_EQ(long_token.client_token, std::nullopt);  // a malformed token is not echoed
    EXPECT_EQ(get_error_code(get_request({{"c", ""}}), format), stream_errors::kInvalidRequest);
    EXPECT_EQ(get_error_code(get_request({{"c", 7}}), format), stream_errors::kInvalidRequest);
    EXPECT_EQ(get_error_code(get_request({{"s", -1}}), format), stream_errors::kInvalidRequest);
    EXPECT_EQ(get_error_code(get_request({{"s", "1"}}), format), stream_errors::kInvalidRequest);
    // A field error echoes a valid token.
    EXPECT_EQ(request_error<GetStreamRequest>(get_request({{"l", 1}}), format).client_token, "t1");
  }
}

TEST(StreamRequests, PayloadErrors) {
  auto json_error =
      decode_stream_request<GetStreamRequest>(as_bytes("{\"f\":"), PayloadFormat::json);
  ASSERT_FALSE(json_error);
  EXPECT_EQ(json_error.error().code, stream_errors::kInvalidJson);
  auto not_object = decode_stream_request<GetStreamRequest>(as_bytes("[1]"), PayloadFormat::json);
  ASSERT_FALSE(not_object);
  EXPECT_EQ(not_object.error().code, stream_errors::kInvalidJson);
  auto cbor_error =
      decode_stream_request<GetStreamRequest>(bytes({0xa1, 0x61}), PayloadFormat::cbor);
  ASSERT_FALSE(cbor_error);
  EXPECT_EQ(cbor_error.error().code, stream_errors::kInvalidCbor);
  auto too_large = decode_stream_request<GetStreamRequest>(
      encode_payload(get_request(), PayloadFormat::json), PayloadFormat::json, 10);
  ASSERT_FALSE(too_large);
  EXPECT_EQ(too_large.error().code, stream_errors::kInvalidRequest);
  auto empty = decode_stream_request<GetStreamRequest>(Bytes{}, PayloadFormat::cbor);
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, stream_errors::kInvalidRequest);
  // DescribeStream's only field is optional: an empty payload is an empty request.
  auto describe = decode_stream_request<DescribeStreamRequest>(Bytes{}, PayloadFormat::json);
  ASSERT_TRUE(describe);
  EXPECT_EQ(describe->client_token, std::nullopt);
  EXPECT_EQ(
      request_error<DescribeStreamRequest>(json{{"c", std::string(65, 'c')}}, PayloadFormat::cbor)
          .code,
      stream_errors::kInvalidRequest);
}

TEST(StreamRequests, RoundTripInBothFormats) {
  expect_request_round_trip(GetStreamRequest{"1bb8aaa1-5c18-4d21-80c2-0b44fee10380", 1, 0, 4096, 2,
                                             100, bytes({0x00, 0xff, 0x13})});
  expect_request_round_trip(
      GetStreamRequest{std::nullopt, std::nullopt, 255, 256, 98304, std::nullopt, std::nullopt});
  expect_request_round_trip(GetStreamRequest{"c", 0, 3, 131072, 0, 0, Bytes{}});
  expect_request_round_trip(DescribeStreamRequest{"ec944cfb-1e3c-49ac-97de-9dc4aaad0039"});
  expect_request_round_trip(DescribeStreamRequest{});
}

// ---- The plan

GetStreamRequest plain_request(std::int64_t block_size, std::int64_t offset,
                               std::optional<std::int64_t> count = std::nullopt,
                               std::optional<Bytes> bitmap = std::nullopt) {
  return GetStreamRequest{"tok", std::nullopt, 0, block_size, offset, count, std::move(bitmap)};
}

std::uint64_t planned_bytes(const BlockPlan& plan) {
  std::uint64_t total = 0;
  for (auto id : plan.block_ids) total += plan.size_of(id);
  return total;
}

TEST(StreamPlan, ConsecutiveBlocksToTheEndOfTheFile) {
  const StreamFile files[] = {{0, 20000}};
  auto plan = plan_get_stream(plain_request(4096, 2), 1, files);
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_THAT(plan->block_ids, ElementsAre(2u, 3u, 4u));
  EXPECT_EQ(plan->offset_of(3), 3u * 4096u);
  EXPECT_EQ(plan->size_of(3), 4096u);
  EXPECT_EQ(plan->size_of(4), 20000u - 4u * 4096u);
  EXPECT_EQ(plan->file_size, 20000);
  auto counted = plan_get_stream(plain_request(4096, 1, 2), 1, files);
  ASSERT_TRUE(counted);
  EXPECT_THAT(counted->block_ids, ElementsAre(1u, 2u));
}

TEST(StreamPlan, NeverMoreThan128KiBPerRequest) {
  const StreamFile files[] = {{0, 4 * 1024 * 1024}};
  for (std::int64_t block_size : {256, 1000, 4096, 65536, 65537, 131072}) {
    const std::uint64_t cap = 131072 / static_cast<std::uint64_t>(block_size);
    for (std::optional<std::int64_t> n :
         {std::optional<std::int64_t>(), std::optional<std::int64_t>(0),
          std::optional<std::int64_t>(98304)}) {
      auto plan = plan_get_stream(plain_request(block_size, 0, n), 1, files);
      ASSERT_TRUE(plan) << block_size;
      EXPECT_EQ(plan->block_ids.size(), cap) << block_size;
      EXPECT_LE(planned_bytes(*plan), 131072u) << block_size;
    }
  }
  // A full bitmap of the largest size still yields at most 512 blocks of 256 bytes.
  auto plan = plan_get_stream(
      plain_request(256, 0, 98304, Bytes(kMaxStreamBitmapSize, std::byte{0xff})), 1, files);
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->block_ids.size(), 512u);
  EXPECT_EQ(plan->block_ids.back(), 511u);
}

TEST(StreamPlan, BitmapSelectsFromTheOffsetAndHonoursN) {
  const StreamFile files[] = {{0, 256 * 100}};
  const Bytes bitmap = bytes({0x13, 0x00, 0x80});  // bits 0, 1, 4, 23
  auto all = plan_get_stream(plain_request(256, 20, std::nullopt, bitmap), 1, files);
  ASSERT_TRUE(all);
  EXPECT_THAT(all->block_ids, ElementsAre(20u, 21u, 24u, 43u));
  auto two = plan_get_stream(plain_request(256, 20, 2, bitmap), 1, files);
  ASSERT_TRUE(two);
  EXPECT_THAT(two->block_ids, ElementsAre(20u, 21u));
  // Bits past the end of the file are ignored: the file has blocks 0 to 99.
  auto tail = plan_get_stream(plain_request(256, 80, std::nullopt, bitmap), 1, files);
  ASSERT_TRUE(tail);
  EXPECT_THAT(tail->block_ids, ElementsAre(80u, 81u, 84u));
  // A bitmap that selects nothing of the file.
  auto none = plan_get_stream(plain_request(256, 0, std::nullopt, bytes({0x00, 0x00})), 1, files);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, stream_errors::kResourceNotFound);
  EXPECT_EQ(none.error().client_token, "tok");
  auto beyond =
      plan_get_stream(plain_request(256, 96, std::nullopt, bytes({0x00, 0xff})), 1, files);
  ASSERT_FALSE(beyond);
  EXPECT_EQ(beyond.error().code, stream_errors::kResourceNotFound);
}

TEST(StreamPlan, Errors) {
  const StreamFile files[] = {{0, 1000}, {3, 0}};
  auto past_end = plan_get_stream(plain_request(256, 4), 1, files);  // blocks 0 to 3
  ASSERT_FALSE(past_end);
  EXPECT_EQ(past_end.error().code, stream_errors::kOffsetOutOfBounds);
  EXPECT_TRUE(plan_get_stream(plain_request(256, 3), 1, files));
  GetStreamRequest unknown = plain_request(256, 0);
  unknown.file_id = 1;
  auto missing = plan_get_stream(unknown, 1, files);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, stream_errors::kResourceNotFound);
  unknown.file_id = 3;  // an empty file has no block 0
  EXPECT_EQ(plan_get_stream(unknown, 1, files).error().code, stream_errors::kOffsetOutOfBounds);
  GetStreamRequest versioned = plain_request(256, 0);
  versioned.stream_version = 1;
  EXPECT_TRUE(plan_get_stream(versioned, 1, files));
  auto mismatch = plan_get_stream(versioned, 7, files);
  ASSERT_FALSE(mismatch);
  EXPECT_EQ(mismatch.error().code, stream_errors::kVersionMismatch);
  EXPECT_THAT(mismatch.error().message, HasSubstr("version 7"));
  // Requests built in code are held to the same bounds as decoded ones.
  EXPECT_EQ(plan_get_stream(plain_request(100, 0), 1, files).error().code,
            stream_errors::kBlockSizeOutOfBounds);
  EXPECT_EQ(plan_get_stream(plain_request(256, 0, 98305), 1, files).error().code,
            stream_errors::kBlockCountLimitExceeded);
  EXPECT_EQ(plan_get_stream(plain_request(256, -1), 1, files).error().code,
            stream_errors::kOffsetOutOfBounds);
}

// ---- Replies

// What ota_cbor.c (OTA_CBOR_Decode_GetStreamResponseMessage) and MQTTFileDownloader_cbor.c read:
// a map with integers f, i, l and the byte string p (looked up by key, so order is free).
TEST(StreamGolden, DataBlockCbor) {
  const DataBlockResponse block{std::nullopt, 0, 4, bytes({0x01, 0x02, 0x03})};
  Bytes golden = bytes({0xa4});
  append_key(golden, "f");
  golden.push_back(std::byte{0x00});
  append_key(golden, "i");
  golden.push_back(std::byte{0x04});
  append_key(golden, "l");
  golden.push_back(std::byte{0x03});
  append_key(golden, "p");
  append(golden, bytes({0x43, 0x01, 0x02, 0x03}));
  EXPECT_EQ(to_hex(encode_stream_message(block, PayloadFormat::cbor)), to_hex(golden));
  EXPECT_EQ(decode_stream_reply<DataBlockResponse>(golden, PayloadFormat::cbor).value(), block);
  // JSON: the DG's keys, p in base64, numbers as plain digits (MQTTFileDownloader.c reads them
  // with its own digit parser).
  EXPECT_EQ(as_chars(encode_stream_message(block, PayloadFormat::json)),
            R"({"f":0,"i":4,"l":3,"p":"AQID"})");
  const DataBlockResponse tokened{"rdy", 1, 2, bytes({0xff})};
  EXPECT_EQ(as_chars(encode_stream_message(tokened, PayloadFormat::json)),
            R"({"c":"rdy","f":1,"i":2,"l":1,"p":"/w=="})");
}

TEST(StreamReplies, DataBlockErrors) {
  const std::pair<json, std::string> cases[] = {
      {json{{"f", 0}, {"i", 0}, {"l", 2}, {"p", "AQID"}}, "l: 2, but p holds 3 bytes"},
      {json{{"f", 0}, {"i", 0}, {"l", 3}}, "p: missing"},
      {json{{"f", 0}, {"i", 0}, {"l", 3}, {"p", "AQI"}}, "p: not base64"},
      {json{{"f", 0}, {"i", 0}, {"l", 3}, {"p", 5}}, "p: must be a base64 string"},
      {json{{"f", 0}, {"i", 0}, {"l", 1}, {"p", ""}}, "p: the block is empty"},
      {json{{"f", 256}, {"i", 0}, {"l", 3}, {"p", "AQID"}}, "f: "},
      {json{{"f", 0}, {"i", -1}, {"l", 3}, {"p", "AQID"}}, "i: "},
      {json{{"f", 0}, {"l", 3}, {"p", "AQID"}}, "i: missing"},
      {json{{"f", 0}, {"i", 0}, {"l", 0}, {"p", "AQID"}}, "l: "},
      {json{{"c", ""}, {"f", 0}, {"i", 0}, {"l", 3}, {"p", "AQID"}}, "c: "},
  };
  for (const auto& [document, why] : cases) {
    auto decoded = DataBlockResponse::decode(document, PayloadFormat::json);
    ASSERT_FALSE(decoded) << document.dump();
    EXPECT_THAT(decoded.error().message, HasSubstr(why)) << document.dump();
  }
  // In CBOR, p is a byte string.
  auto text_payload = DataBlockResponse::decode(json{{"f", 0}, {"i", 0}, {"l", 4}, {"p", "AQID"}},
                                                PayloadFormat::cbor);
  ASSERT_FALSE(text_payload);
  EXPECT_THAT(text_payload.error().message, HasSubstr("p: must be a byte string"));
  // The whole-message decoder names the message.
  auto bad = decode_stream_reply<DataBlockResponse>(as_bytes(R"({"f":0})"), PayloadFormat::json);
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message, HasSubstr("data block: i: missing"));
  // Unknown keys are ignored.
  auto extra = DataBlockResponse::decode(
      json{{"f", 0}, {"i", 9}, {"l", 3}, {"p", "AQID"}, {"x", {1, 2}}}, PayloadFormat::json);
  ASSERT_TRUE(extra);
  EXPECT_EQ(extra->block_id, 9);
}

TEST(StreamReplies, LargestBlockFitsTheDefaultReplySize) {
  const DataBlockResponse block{std::string(64, 'c'), 255, kMaxStreamBlockId,
                                Bytes(kMaxStreamBlockSize, std::byte{0xa5})};
  expect_reply_round_trip(block);
  auto too_big = DataBlockResponse::decode(
      json{{"f", 0},
           {"i", 0},
           {"l", 131073},
           {"p", to_base64(Bytes(kMaxStreamBlockSize + 1, std::byte{0}))}},
      PayloadFormat::json);
  EXPECT_FALSE(too_big);
}

TEST(StreamReplies, DescribeStreamFromTheDevelopersGuide) {
  const std::string payload = R"({
    "c": "ec944cfb-1e3c-49ac-97de-9dc4aaad0039",
    "s": 1,
    "d": "This is the description of stream ABC.",
    "r": [{"f": 0, "z": 131072}, {"f": 1, "z": 51200}]
  })";
  auto reply = decode_stream_reply<DescribeStreamResponse>(as_bytes(payload), PayloadFormat::json);
  ASSERT_TRUE(reply) << reply.error().message;
  EXPECT_EQ(reply->client_token, "ec944cfb-1e3c-49ac-97de-9dc4aaad0039");
  EXPECT_EQ(reply->stream_version, 1);
  EXPECT_EQ(reply->description, "This is the description of stream ABC.");
  EXPECT_THAT(reply->files, ElementsAre(StreamFile{0, 131072}, StreamFile{1, 51200}));
  expect_reply_round_trip(*reply);
  expect_reply_round_trip(DescribeStreamResponse{std::nullopt, 0, "", {}});
}

TEST(StreamReplies, DescribeStreamErrors) {
  const std::pair<json, std::string> cases[] = {
      {json{{"r", json::array()}}, "s: missing"},
      {json{{"s", 1}}, "r: missing"},
      {json{{"s", 1}, {"r", json::object()}}, "r: must be an array"},
      {json{{"s", 1}, {"r", {{{"f", 0}, {"z", 1}}, {{"f", 0}, {"z", 2}}}}},
       "r[1].f: file 0 is listed twice"},
      {json{{"s", 1}, {"r", {{{"f", 0}, {"z", 4294967296}}}}}, "r[0].z: "},
      {json{{"s", 1}, {"r", {{{"z", 1}}}}}, "r[0].f: missing"},
      {json{{"s", 1}, {"r", {5}}}, "r[0]: must be an object"},
      {json{{"s", 1}, {"d", std::string(2049, 'd')}, {"r", json::array()}}, "d: 2049 bytes"},
      {json{{"s", -1}, {"r", json::array()}}, "s: "},
  };
  for (const auto& [document, why] : cases) {
    auto decoded = DescribeStreamResponse::decode(document, PayloadFormat::json);
    ASSERT_FALSE(decoded) << document.dump();
    EXPECT_THAT(decoded.error().message, HasSubstr(why)) << document.dump();
  }
  json many{{"s", 1}, {"r", json::array()}};
  for (int i = 0; i < 257; ++i) many["r"].push_back(json{{"f", i % 256}, {"z", 1}});
  EXPECT_THAT(DescribeStreamResponse::decode(many, PayloadFormat::cbor).error().message,
              HasSubstr("more than the 256 allowed"));
}

TEST(StreamReplies, ErrorResponses) {
  // The DG's example.
  const std::string payload =
      R"({"o": "BlockSizeOutOfBounds", "m": "The block size is out of bounds",
                                  "c": "1bb8aaa1-5c18-4d21-80c2-0b44fee10380"})";
  auto reply = decode_stream_reply<StreamErrorResponse>(as_bytes(payload), PayloadFormat::json);
  ASSERT_TRUE(reply) << reply.error().message;
  EXPECT_EQ(reply->code, stream_errors::kBlockSizeOutOfBounds);
  EXPECT_EQ(reply->message, "The block size is out of bounds");
  EXPECT_EQ(reply->client_token, "1bb8aaa1-5c18-4d21-80c2-0b44fee10380");
  // "For backward compatibility, fields in the error response may be in non-abbreviated form."
  auto long_form = StreamErrorResponse::decode(
      json{{"code", "VersionMismatch"}, {"message", "m"}, {"clientToken", "t"}},
      PayloadFormat::json);
  ASSERT_TRUE(long_form);
  EXPECT_EQ(*long_form, (StreamErrorResponse{"VersionMismatch", "m", "t"}));
  EXPECT_FALSE(StreamErrorResponse::decode(json{{"m", "x"}}, PayloadFormat::json));
  EXPECT_FALSE(StreamErrorResponse::decode(json{{"o", ""}}, PayloadFormat::json));

  // A refusal becomes a reply with the short keys.
  auto refused = decode_stream_request<GetStreamRequest>(
      encode_payload(get_request({{"l", 100}}), PayloadFormat::cbor), PayloadFormat::cbor);
  ASSERT_FALSE(refused);
  const auto error_reply = StreamErrorResponse::from(refused.error());
  EXPECT_EQ(error_reply.encode(PayloadFormat::json),
            (json{{"o", "BlockSizeOutOfBounds"}, {"m", refused.error().message}, {"c", "t1"}}));
  expect_reply_round_trip(error_reply);
  expect_reply_round_trip(StreamErrorResponse{"InternalError", "", std::nullopt});
}

TEST(StreamReplies, RoundTripInBothFormats) {
  expect_reply_round_trip(DataBlockResponse{"c", 7, 12345, bytes({0, 1, 2, 3, 4, 5, 6})});
  expect_reply_round_trip(DataBlockResponse{std::nullopt, 0, 0, bytes({0x42})});
  expect_reply_round_trip(DescribeStreamResponse{
      "c", kMaxStreamVersion, std::string(2048, 'd'), {{0, 0}, {255, kMaxStreamFileSize}}});
}

}  // namespace
}  // namespace ironroot::protocol
