#include "ironroot/protocol/payload_format.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

namespace ironroot::protocol {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

Bytes bytes(std::initializer_list<int> values) {
  Bytes out;
  for (int v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

std::string cbor_error(const Bytes& payload) {
  auto decoded = decode_payload(payload, PayloadFormat::cbor);
  EXPECT_FALSE(decoded) << "accepted: " << (decoded ? decoded->dump() : "");
  return decoded ? "" : decoded.error().message;
}

std::string json_error(std::string_view text) {
  auto decoded = decode_payload(as_bytes(text), PayloadFormat::json);
  EXPECT_FALSE(decoded) << "accepted: " << text;
  return decoded ? "" : decoded.error().message;
}

TEST(PayloadFormat, NamesAreTheTopicLevels) {
  EXPECT_EQ(parse_payload_format("json"), PayloadFormat::json);
  EXPECT_EQ(parse_payload_format("cbor"), PayloadFormat::cbor);
  EXPECT_FALSE(parse_payload_format("JSON"));
  EXPECT_FALSE(parse_payload_format(""));
  EXPECT_FALSE(parse_payload_format("cbor "));
  EXPECT_EQ(to_string(PayloadFormat::json), "json");
  EXPECT_EQ(to_string(PayloadFormat::cbor), "cbor");
}

TEST(PayloadFormat, EncodesCompactJsonAndShortestCbor) {
  json document{{"a", 1}, {"b", "xy"}};
  EXPECT_EQ(as_chars(encode_payload(document, PayloadFormat::json)), R"({"a":1,"b":"xy"})");
  // RFC 8949: map(2) "a" 1 "b" "xy".
  EXPECT_EQ(encode_payload(document, PayloadFormat::cbor),
            bytes({0xa2, 0x61, 'a', 0x01, 0x61, 'b', 0x62, 'x', 'y'}));
}

TEST(PayloadFormat, JsonEncodingReplacesInvalidUtf8InsteadOfThrowing) {
  json document{{"a", std::string("\xff")}};
  EXPECT_EQ(as_chars(encode_payload(document, PayloadFormat::json)), "{\"a\":\"\xef\xbf\xbd\"}");
}

TEST(PayloadFormat, RoundTripsInBothFormats) {
  json document{{"s", "text"}, {"n", -7},      {"u", 400},
                {"b", true},   {"z", nullptr}, {"o", {{"k", "v"}, {"list", {1, 2, "three"}}}}};
  for (auto format : {PayloadFormat::json, PayloadFormat::cbor}) {
    auto decoded = decode_payload(encode_payload(document, format), format);
    ASSERT_TRUE(decoded) << decoded.error().message;
    EXPECT_EQ(*decoded, document);
  }
}

TEST(PayloadFormat, RefusesPayloadsOverTheSizeBound) {
  // {"a":"xxx..."}: 8 bytes of framing.
  const std::string exact = R"({"a":")" + std::string(100 - 8, 'x') + R"("})";
  ASSERT_EQ(exact.size(), 100u);
  EXPECT_TRUE(decode_payload(as_bytes(exact), PayloadFormat::json, 100));
  auto refused = decode_payload(as_bytes(exact), PayloadFormat::json, 99);
  ASSERT_FALSE(refused);
  EXPECT_THAT(refused.error().message, HasSubstr("100 bytes, more than the 99 allowed"));

  Bytes big = encode_payload(json{{"a", std::string(kMaxPayloadSize, 'x')}}, PayloadFormat::cbor);
  EXPECT_THAT(cbor_error(big), HasSubstr("more than the 131072 allowed"));
}

TEST(PayloadFormat, RefusesEmptyPayloads) {
  EXPECT_THAT(json_error(""), HasSubstr("empty"));
  EXPECT_THAT(cbor_error({}), HasSubstr("empty"));
}

TEST(PayloadFormat, RefusesDocumentsThatAreNotObjects) {
  EXPECT_THAT(json_error("[1]"), HasSubstr("is an array, not an object"));
  EXPECT_THAT(json_error("\"x\""), HasSubstr("is a string, not an object"));
  EXPECT_THAT(json_error("1"), HasSubstr("not an object"));
  EXPECT_THAT(json_error("null"), HasSubstr("is null, not an object"));
  EXPECT_THAT(cbor_error(bytes({0x81, 0x01})), HasSubstr("is an array, not a map"));
  EXPECT_THAT(cbor_error(bytes({0x01})), HasSubstr("not a map"));
  EXPECT_THAT(cbor_error(bytes({0x61, 'a'})), HasSubstr("is a text string, not a map"));
}

TEST(PayloadFormat, RefusesInvalidJsonAndTrailingGarbage) {
  EXPECT_THAT(json_error(R"({"a":})"), HasSubstr("invalid JSON"));
  EXPECT_THAT(json_error(R"({"a":1} x)"), HasSubstr("invalid JSON"));
  EXPECT_THAT(json_error(R"({"a":1}{})"), HasSubstr("invalid JSON"));
  EXPECT_THAT(json_error("{\"a\":\"\xff\"}"), HasSubstr("invalid JSON"));
  EXPECT_THAT(json_error(R"({"a":1)"), HasSubstr("invalid JSON"));
}

TEST(PayloadFormat, RefusesEveryTruncationOfACborMessage) {
  Bytes whole =
      encode_payload(json{{"k", {{"list", {1, 300, "abc"}}, {"t", "token"}}}}, PayloadFormat::cbor);
  ASSERT_TRUE(decode_payload(whole, PayloadFormat::cbor));
  for (std::size_t n = 1; n < whole.size(); ++n) {
    EXPECT_THAT(cbor_error(Bytes(whole.begin(), whole.begin() + n)), HasSubstr("truncated"))
        << "prefix of " << n << " bytes";
  }
}

TEST(PayloadFormat, RefusesTrailingBytesAfterTheCborMap) {
  EXPECT_THAT(cbor_error(bytes({0xa1, 0x61, 'a', 0x01, 0x00})),
              HasSubstr("1 unexpected bytes after its map, from byte 4"));
  EXPECT_THAT(cbor_error(bytes({0xa0, 0xa0})), HasSubstr("after its map"));
}

TEST(PayloadFormat, RefusesCborMapKeysThatAreNotTextStrings) {
  EXPECT_THAT(cbor_error(bytes({0xa1, 0x01, 0x61, 'a'})),
              HasSubstr("map key at byte 1 is a number or simple value; only text-string keys"));
  EXPECT_THAT(cbor_error(bytes({0xa1, 0x41, 0x00, 0x01})),
              HasSubstr("map key at byte 1 is a byte string"));
  // In a nested map, and in an indefinite-length map after a first valid pair.
  EXPECT_THAT(cbor_error(bytes({0xa1, 0x61, 'a', 0xa1, 0x80, 0x01})),
              HasSubstr("map key at byte 4 is an array"));
  EXPECT_THAT(cbor_error(bytes({0xbf, 0x61, 'a', 0x01, 0xf6, 0x01, 0xff})),
              HasSubstr("map key at byte 4"));
}

TEST(PayloadFormat, RefusesCborTagsAndMalformedHeads) {
  EXPECT_THAT(cbor_error(bytes({0xa1, 0x61, 'a', 0xc1, 0x01})), HasSubstr("CBOR tag 1 at byte 3"));
  EXPECT_THAT(cbor_error(bytes({0xa1, 0x61, 'a', 0x1c})), HasSubstr("malformed CBOR at byte 3"));
  EXPECT_THAT(cbor_error(bytes({0xa1, 0x61, 'a', 0xff})), HasSubstr("break (0xff) outside"));
  EXPECT_THAT(cbor_error(bytes({0xbf, 0x61, 'a', 0xff})), HasSubstr("key without a value"));
}

TEST(PayloadFormat, RefusesHugeAnnouncedLengthsWithoutAllocating) {
  EXPECT_THAT(cbor_error(bytes({0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})),
              HasSubstr("truncated"));
  EXPECT_THAT(
      cbor_error(bytes({0xa1, 0x61, 'a', 0x9b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})),
      HasSubstr("truncated"));
  EXPECT_THAT(
      cbor_error(bytes({0xa1, 0x61, 'a', 0x7b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf0})),
      HasSubstr("truncated"));
}

TEST(PayloadFormat, AcceptsIndefiniteLengthItems) {
  // {_ "a": (_ "x", "y"), "b": [_ 1]}
  auto decoded = decode_payload(
      bytes({0xbf, 0x61, 'a', 0x7f, 0x61, 'x', 0x61, 'y', 0xff, 0x61, 'b', 0x9f, 0x01, 0xff, 0xff}),
      PayloadFormat::cbor);
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_EQ(*decoded, (json{{"a", "xy"}, {"b", {1}}}));
}

TEST(PayloadFormat, RefusesNestedIndefiniteLengthStrings) {
  EXPECT_THAT(cbor_error(bytes({0xa1, 0x61, 'a', 0x7f, 0x7f, 0x61, 'x', 0xff, 0xff})),
              HasSubstr("may contain only definite-length text strings"));
  EXPECT_THAT(cbor_error(bytes({0xa1, 0x61, 'a', 0x5f, 0x61, 'x', 0xff})),
              HasSubstr("definite-length byte strings, not a text string"));
  // 100,000 nested starts would overflow the stack of a recursive reader.
  Bytes deep = bytes({0xa1, 0x61, 'a'});
  deep.insert(deep.end(), 100000, std::byte{0x7f});
  EXPECT_THAT(cbor_error(deep), HasSubstr("at byte 4"));
}

TEST(PayloadFormat, BoundsNestingDepth) {
  auto cbor_nested = [](std::size_t arrays) {
    Bytes out = bytes({0xa1, 0x61, 'a'});
    out.insert(out.end(), arrays, std::byte{0x81});
    out.push_back(std::byte{0x01});
    return out;
  };
  EXPECT_TRUE(decode_payload(cbor_nested(kMaxNestingDepth - 1), PayloadFormat::cbor));
  EXPECT_THAT(cbor_error(cbor_nested(kMaxNestingDepth)), HasSubstr("nests deeper than 32"));
  EXPECT_THAT(cbor_error(cbor_nested(100000)), HasSubstr("nests deeper than 32"));
  Bytes indefinite = bytes({0xa1, 0x61, 'a'});
  indefinite.insert(indefinite.end(), 100000, std::byte{0x9f});
  EXPECT_THAT(cbor_error(indefinite), HasSubstr("nests deeper than 32"));

  auto json_nested = [](std::size_t arrays) {
    return R"({"a":)" + std::string(arrays, '[') + "1" + std::string(arrays, ']') + "}";
  };
  EXPECT_TRUE(decode_payload(as_bytes(json_nested(kMaxNestingDepth - 1)), PayloadFormat::json));
  EXPECT_THAT(json_error(json_nested(kMaxNestingDepth)), HasSubstr("nests deeper than 32"));
  EXPECT_THAT(json_error(json_nested(60000)), HasSubstr("nests deeper than 32"));
}

TEST(PayloadFormat, RefusesCborTextThatIsNotUtf8) {
  EXPECT_THAT(cbor_error(bytes({0xa1, 0x61, 'a', 0x61, 0xff})), HasSubstr("not valid UTF-8"));
  EXPECT_THAT(cbor_error(bytes({0xa1, 0x61, 0xc3, 0x01})), HasSubstr("not valid UTF-8"));
  // Deeper down: in an array, and as the key of a nested map.
  EXPECT_THAT(cbor_error(bytes({0xa1, 0x61, 'a', 0x81, 0x61, 0xff})), HasSubstr("not valid UTF-8"));
  EXPECT_THAT(cbor_error(bytes({0xa1, 0x61, 'a', 0xa1, 0x61, 0xff, 0x01})),
              HasSubstr("not valid UTF-8"));
}

TEST(PayloadFormat, KeepsCborByteStringsApartFromText) {
  auto decoded = decode_payload(bytes({0xa1, 0x61, 'a', 0x42, 0x01, 0x02}), PayloadFormat::cbor);
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_TRUE(decoded->at("a").is_binary());
}

}  // namespace
}  // namespace ironroot::protocol
