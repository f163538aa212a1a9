#include "ironroot/protocol/provisioning.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

namespace ironroot::protocol {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

const std::string kCertificateId =
    "770c2b3befd821bcbbe06f0932ab4afdc950bc8a3fbcabf4c0333fcae5a1217d";
const std::string kCsrPem =
    "-----BEGIN CERTIFICATE REQUEST-----\n"
    "MIHNMHUCAQAwEzERMA8GA1UEAwwIZGV2aWNlLTEwWTATBgcqhkjOPQIBBggqhkjO\n"
    "PQMBBwNCAAQ=\n"
    "-----END CERTIFICATE REQUEST-----\n";
const std::string kCertificatePem =
    "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ==\n-----END CERTIFICATE-----\n";
const std::string kPrivateKeyPem =
    "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIA==\n-----END EC PRIVATE KEY-----\n";

constexpr PayloadFormat kFormats[] = {PayloadFormat::json, PayloadFormat::cbor};

Bytes bytes(std::initializer_list<int> values) {
  Bytes out;
  for (int v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

void append_text(Bytes& out, std::string_view text) {
  // RFC 8949 3.1: major type 3; lengths up to 23 in the initial byte, up to 255 after 0x78.
  if (text.size() < 24) {
    out.push_back(static_cast<std::byte>(0x60 + text.size()));
  } else {
    ASSERT_LT(text.size(), 256u);
    out.push_back(std::byte{0x78});
    out.push_back(static_cast<std::byte>(text.size()));
  }
  append(out, as_bytes(text));
}

template <class Message>
std::string decode_error(const json& document) {
  auto decoded = Message::decode(document);
  EXPECT_FALSE(decoded) << "accepted: " << document.dump();
  return decoded ? "" : decoded.error().message;
}

template <class Message>
void expect_round_trip(const Message& message) {
  for (auto format : kFormats) {
    auto decoded = decode_message<Message>(encode_message(message, format), format);
    ASSERT_TRUE(decoded) << to_string(format) << ": " << decoded.error().message;
    EXPECT_TRUE(*decoded == message) << to_string(format);
  }
}

// Golden bytes, written out by hand from RFC 8949 so the encoder is checked independently:
// {"certificateOwnershipToken": "abc", "parameters": {"SerialNumber": "1"}}
TEST(ProvisioningGolden, RegisterThingRequestCbor) {
  Bytes golden = bytes({0xa2});                      // map of 2 pairs (major type 5)
  append_text(golden, "certificateOwnershipToken");  // 25 bytes: 0x78 0x19 then the text
  append_text(golden, "abc");                        // 0x63 'a' 'b' 'c'
  append_text(golden, "parameters");                 // 0x6a ...
  golden.push_back(std::byte{0xa1});                 // map of 1 pair
  append_text(golden, "SerialNumber");               // 0x6c ...
  append_text(golden, "1");                          // 0x61 '1'
  ASSERT_EQ(to_hex(ByteView(golden).first(5)), "a278196365");

  RegisterThingRequest request{"abc", {{"SerialNumber", "1"}}};
  EXPECT_EQ(to_hex(encode_message(request, PayloadFormat::cbor)), to_hex(golden));
  auto decoded = decode_message<RegisterThingRequest>(golden, PayloadFormat::cbor);
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_EQ(*decoded, request);
  EXPECT_EQ(as_chars(encode_message(request, PayloadFormat::json)),
            R"({"certificateOwnershipToken":"abc","parameters":{"SerialNumber":"1"}})");
}

// {"errorCode": "InvalidPayload", "errorMessage": "x", "statusCode": 400}
TEST(ProvisioningGolden, ErrorResponseCbor) {
  Bytes golden = bytes({0xa3});
  append_text(golden, "errorCode");
  append_text(golden, "InvalidPayload");
  append_text(golden, "errorMessage");
  append_text(golden, "x");
  append_text(golden, "statusCode");
  append(golden, bytes({0x19, 0x01, 0x90}));  // unsigned integer, 2-byte argument: 400

  auto error = ErrorResponse::make(provisioning_errors::kInvalidPayload, "x");
  EXPECT_EQ(to_hex(encode_message(error, PayloadFormat::cbor)), to_hex(golden));
  auto decoded = decode_message<ErrorResponse>(golden, PayloadFormat::cbor);
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_EQ(*decoded, error);
}

// What AWS's embedded C demo sends (tinycbor): keys in its own order, and a device that uses an
// indefinite-length map must work too.
TEST(ProvisioningGolden, DecodesDeviceStyleCbor) {
  Bytes payload = bytes({0xbf});
  append_text(payload, "parameters");
  payload.push_back(std::byte{0xa1});
  append_text(payload, "SerialNumber");
  append_text(payload, "SN-42");
  append_text(payload, "certificateOwnershipToken");
  append_text(payload, "tok");
  payload.push_back(std::byte{0xff});
  auto decoded = decode_message<RegisterThingRequest>(payload, PayloadFormat::cbor);
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_EQ(decoded->certificate_ownership_token, "tok");
  EXPECT_EQ(decoded->parameters.at("SerialNumber"), "SN-42");
}

TEST(ProvisioningMessages, RoundTripInBothFormats) {
  expect_round_trip(CreateKeysAndCertificateRequest{});
  expect_round_trip(
      CreateKeysAndCertificateResponse{kCertificateId, kCertificatePem, kPrivateKeyPem, "token"});
  expect_round_trip(CreateCertificateFromCsrRequest{kCsrPem});
  expect_round_trip(CreateCertificateFromCsrResponse{kCertificateId, kCertificatePem, "token"});
  expect_round_trip(RegisterThingRequest{"token", {}});
  expect_round_trip(RegisterThingRequest{
      "token", {{"SerialNumber", "1"}, {"AWS::IoT::Certificate::Id", kCertificateId}}});
  expect_round_trip(RegisterThingResponse{{{"Fallback", "on"}}, "thing:1_a-B"});
  expect_round_trip(RegisterThingResponse{{}, "t"});
  expect_round_trip(ErrorResponse::make(provisioning_errors::kInvalidCertificateOwnershipToken,
                                        "the ownership token has expired"));
}

TEST(ProvisioningMessages, EncodeUsesTheDocumentedKeys) {
  EXPECT_EQ(CreateCertificateFromCsrRequest{kCsrPem}.encode(),
            (json{{"certificateSigningRequest", kCsrPem}}));
  const CreateCertificateFromCsrResponse csr_response{kCertificateId, kCertificatePem, "t"};
  EXPECT_EQ(csr_response.encode(), (json{{"certificateId", kCertificateId},
                                         {"certificatePem", kCertificatePem},
                                         {"certificateOwnershipToken", "t"}}));
  const CreateKeysAndCertificateResponse keys_response{kCertificateId, kCertificatePem,
                                                       kPrivateKeyPem, "t"};
  EXPECT_EQ(keys_response.encode(), (json{{"certificateId", kCertificateId},
                                          {"certificatePem", kCertificatePem},
                                          {"privateKey", kPrivateKeyPem},
                                          {"certificateOwnershipToken", "t"}}));
  EXPECT_EQ((RegisterThingRequest{"t", {}}.encode()), (json{{"certificateOwnershipToken", "t"}}));
  const RegisterThingResponse thing_response{{}, "dev1"};
  EXPECT_EQ(thing_response.encode(),
            (json{{"deviceConfiguration", json::object()}, {"thingName", "dev1"}}));
  EXPECT_EQ(CreateKeysAndCertificateRequest{}.encode(), json::object());
}

TEST(CreateKeysAndCertificateRequest, AcceptsEmptyPayloadEmptyObjectAndUnknownKeys) {
  for (auto format : kFormats) {
    EXPECT_TRUE(decode_message<CreateKeysAndCertificateRequest>({}, format));
  }
  EXPECT_TRUE(decode_message<CreateKeysAndCertificateRequest>(as_bytes("{}"), PayloadFormat::json));
  EXPECT_TRUE(decode_message<CreateKeysAndCertificateRequest>(bytes({0xa0}), PayloadFormat::cbor));
  EXPECT_TRUE(CreateKeysAndCertificateRequest::decode(json{{"clientToken", "x"}}));
  EXPECT_THAT(decode_error<CreateKeysAndCertificateRequest>(json::array()),
              HasSubstr("is an array, not an object"));
  EXPECT_FALSE(
      decode_message<CreateKeysAndCertificateRequest>(as_bytes("[]"), PayloadFormat::json));
  EXPECT_FALSE(decode_message<CreateKeysAndCertificateRequest>(bytes({0xa1}), PayloadFormat::cbor));
}

TEST(CreateCertificateFromCsrRequest, RefusesMalformedFields) {
  using M = CreateCertificateFromCsrRequest;
  EXPECT_THAT(decode_error<M>(json::object()), HasSubstr("certificateSigningRequest: missing"));
  EXPECT_THAT(decode_error<M>(json{{"certificateSigningRequest", 5}}),
              HasSubstr("certificateSigningRequest: must be a string, not an integer"));
  EXPECT_THAT(decode_error<M>(json{{"certificateSigningRequest", nullptr}}),
              HasSubstr("must be a string, not null"));
  EXPECT_THAT(decode_error<M>(json{{"certificateSigningRequest", ""}}),
              HasSubstr("certificateSigningRequest: must not be empty"));
  EXPECT_THAT(decode_error<M>(json{{"certificateSigningRequest", "hello"}}),
              HasSubstr("certificateSigningRequest: not a PEM certificate signing request"));
  EXPECT_THAT(decode_error<M>(json{{"certificateSigningRequest", kCertificatePem}}),
              HasSubstr("not a PEM certificate signing request"));
  EXPECT_THAT(decode_error<M>(json{
                  {"certificateSigningRequest", "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n"}}),
              HasSubstr("not a PEM certificate signing request"));
  EXPECT_THAT(
      decode_error<M>(json{{"certificateSigningRequest", "-----BEGIN CERTIFICATE REQUEST-----"}}),
      HasSubstr("not a PEM certificate signing request"));
  // At most 8 KiB.
  std::string padded = kCsrPem + std::string(kMaxCsrPemSize - kCsrPem.size(), '\n');
  EXPECT_TRUE(M::decode(json{{"certificateSigningRequest", padded}}));
  EXPECT_THAT(decode_error<M>(json{{"certificateSigningRequest", padded + "\n"}}),
              HasSubstr("certificateSigningRequest: 8193 bytes, more than the 8192 allowed"));
  // The legacy label is accepted.
  EXPECT_TRUE(M::decode(json{{"certificateSigningRequest",
                              "-----BEGIN NEW CERTIFICATE REQUEST-----\nAA==\n"
                              "-----END NEW CERTIFICATE REQUEST-----"}}));
}

TEST(CreateCertificateFromCsrRequest, RefusesACborByteStringForText) {
  Bytes payload = bytes({0xa1});
  append_text(payload, "certificateSigningRequest");
  append(payload, bytes({0x42, 0x01, 0x02}));
  auto decoded = decode_message<CreateCertificateFromCsrRequest>(payload, PayloadFormat::cbor);
  ASSERT_FALSE(decoded);
  EXPECT_THAT(decoded.error().message, HasSubstr("must be a string, not a byte string"));
}

TEST(CertificateResponses, RefuseMalformedFields) {
  const json good{{"certificateId", kCertificateId},
                  {"certificatePem", kCertificatePem},
                  {"privateKey", kPrivateKeyPem},
                  {"certificateOwnershipToken", "t"},
                  {"unknown", 1}};
  ASSERT_TRUE(CreateKeysAndCertificateResponse::decode(good));
  ASSERT_TRUE(CreateCertificateFromCsrResponse::decode(good));
  auto with = [&](const char* key, json value) {
    json out = good;
    out[key] = std::move(value);
    return out;
  };
  auto without = [&](const char* key) {
    json out = good;
    out.erase(key);
    return out;
  };
  using Keys = CreateKeysAndCertificateResponse;
  using Csr = CreateCertificateFromCsrResponse;
  EXPECT_THAT(decode_error<Csr>(with("certificateId", std::string(64, 'A'))),
              HasSubstr("certificateId: expected 64 lower-case hex digits"));
  EXPECT_THAT(decode_error<Csr>(with("certificateId", kCertificateId.substr(1))),
              HasSubstr("certificateId: expected 64"));
  EXPECT_THAT(decode_error<Csr>(with("certificateId", kCertificateId + "0")),
              HasSubstr("certificateId: 65 bytes, more than the 64 allowed"));
  EXPECT_THAT(decode_error<Csr>(without("certificateId")), HasSubstr("certificateId: missing"));
  EXPECT_THAT(decode_error<Csr>(with("certificatePem", "MIIB")),
              HasSubstr("certificatePem: not a PEM certificate"));
  EXPECT_THAT(decode_error<Csr>(without("certificateOwnershipToken")),
              HasSubstr("certificateOwnershipToken: missing"));
  EXPECT_THAT(decode_error<Csr>(with("certificateOwnershipToken", json::array())),
              HasSubstr("certificateOwnershipToken: must be a string, not an array"));
  EXPECT_THAT(decode_error<Keys>(without("privateKey")), HasSubstr("privateKey: missing"));
  EXPECT_THAT(decode_error<Keys>(with("privateKey", kCertificatePem)),
              HasSubstr("privateKey: not a PEM private key"));
  EXPECT_TRUE(Keys::decode(
      with("privateKey", "-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----")));
  EXPECT_TRUE(Keys::decode(
      with("privateKey", "-----BEGIN RSA PRIVATE KEY-----\nAA==\n-----END RSA PRIVATE KEY-----")));
}

TEST(RegisterThingRequest, RefusesMalformedFields) {
  using M = RegisterThingRequest;
  EXPECT_THAT(decode_error<M>(json{{"parameters", json::object()}}),
              HasSubstr("certificateOwnershipToken: missing"));
  EXPECT_THAT(
      decode_error<M>(json{{"certificateOwnershipToken", 1.5}}),
      HasSubstr("certificateOwnershipToken: must be a string, not a floating-point number"));
  EXPECT_THAT(decode_error<M>(json{{"certificateOwnershipToken", ""}}),
              HasSubstr("certificateOwnershipToken: must not be empty"));
  EXPECT_TRUE(M::decode(json{{"certificateOwnershipToken", std::string(2048, 't')}}));
  EXPECT_THAT(decode_error<M>(json{{"certificateOwnershipToken", std::string(2049, 't')}}),
              HasSubstr("certificateOwnershipToken: 2049 bytes, more than the 2048 allowed"));
  const json token{{"certificateOwnershipToken", "t"}};
  auto with_parameters = [&](json parameters) {
    json out = token;
    out["parameters"] = std::move(parameters);
    return out;
  };
  EXPECT_THAT(decode_error<M>(with_parameters(json::array({"a"}))),
              HasSubstr("parameters: must be an object of strings, not an array"));
  EXPECT_THAT(decode_error<M>(with_parameters(nullptr)),
              HasSubstr("parameters: must be an object of strings, not null"));
  EXPECT_THAT(decode_error<M>(with_parameters(json{{"SerialNumber", 42}})),
              HasSubstr("parameters.SerialNumber: must be a string, not an integer"));
  EXPECT_THAT(decode_error<M>(with_parameters(json{{"Location", {{"lat", "1"}}}})),
              HasSubstr("parameters.Location: must be a string, not an object"));
  EXPECT_THAT(decode_error<M>(with_parameters(json{{"", "x"}})),
              HasSubstr("parameters: a key is empty"));
  auto decoded = M::decode(with_parameters(json{{"SerialNumber", "42"}, {"Empty", ""}}));
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_EQ(decoded->parameters.size(), 2u);
}

TEST(RegisterThingResponse, RefusesMalformedFields) {
  using M = RegisterThingResponse;
  EXPECT_TRUE(M::decode(json{{"thingName", "dev-1"}}));  // deviceConfiguration is optional
  EXPECT_THAT(decode_error<M>(json{{"deviceConfiguration", json::object()}}),
              HasSubstr("thingName: missing"));
  for (const char* bad : {"a/b", "a+b", "a#b", "a b", "$aws"}) {
    EXPECT_THAT(decode_error<M>(json{{"thingName", bad}}), HasSubstr("is not a valid thing name"))
        << bad;
  }
  EXPECT_TRUE(M::decode(json{{"thingName", std::string(128, 'a')}}));
  EXPECT_THAT(decode_error<M>(json{{"thingName", std::string(129, 'a')}}),
              HasSubstr("thingName: 129 bytes, more than the 128 allowed"));
  EXPECT_THAT(decode_error<M>(json{{"thingName", "t"}, {"deviceConfiguration", {{"a", true}}}}),
              HasSubstr("deviceConfiguration.a: must be a string, not a boolean"));
  EXPECT_THAT(decode_error<M>(json{{"thingName", "t"}, {"deviceConfiguration", "x"}}),
              HasSubstr("deviceConfiguration: must be an object of strings, not a string"));
}

TEST(ErrorResponse, NamedErrorsCarryTheirStatus) {
  using namespace provisioning_errors;
  EXPECT_EQ(kInvalidPayload.status_code, 400);
  EXPECT_EQ(kInvalidCertificateOwnershipToken.status_code, 400);
  EXPECT_EQ(kInvalidCertificateOwnershipToken.error_code, "InvalidCertificateOwnershipToken");
  EXPECT_EQ(kAccessDenied.status_code, 403);
  EXPECT_EQ(kResourceNotFound.status_code, 404);
  EXPECT_EQ(kRequestThrottled.status_code, 429);
  EXPECT_EQ(kInternalError.status_code, 500);
  EXPECT_EQ(ErrorResponse::make(kResourceNotFound, "no template T").encode(),
            (json{{"statusCode", 404},
                  {"errorCode", "ResourceNotFound"},
                  {"errorMessage", "no template T"}}));
}

TEST(ErrorResponse, RefusesMalformedFields) {
  using M = ErrorResponse;
  auto decoded = M::decode(json{{"statusCode", 400}, {"errorCode", "InvalidPayload"}});
  ASSERT_TRUE(decoded) << decoded.error().message;  // errorMessage is optional
  EXPECT_EQ(decoded->error_message, "");
  EXPECT_THAT(decode_error<M>(json{{"errorCode", "X"}}), HasSubstr("statusCode: missing"));
  EXPECT_THAT(decode_error<M>(json{{"statusCode", "400"}, {"errorCode", "X"}}),
              HasSubstr("statusCode: must be an integer, not a string"));
  EXPECT_THAT(decode_error<M>(json{{"statusCode", 400.0}, {"errorCode", "X"}}),
              HasSubstr("statusCode: must be an integer, not a floating-point number"));
  EXPECT_THAT(decode_error<M>(json{{"statusCode", 600}, {"errorCode", "X"}}),
              HasSubstr("statusCode: 600 is outside 100 to 599"));
  EXPECT_THAT(decode_error<M>(json{{"statusCode", -1}, {"errorCode", "X"}}),
              HasSubstr("statusCode: -1 is outside"));
  EXPECT_THAT(decode_error<M>(json{{"statusCode", 400}}), HasSubstr("errorCode: missing"));
  EXPECT_THAT(decode_error<M>(json{{"statusCode", 400}, {"errorCode", "X"}, {"errorMessage", 1}}),
              HasSubstr("errorMessage: must be a string, not an integer"));
  EXPECT_THAT(
      decode_error<M>(
          json{{"statusCode", 400}, {"errorCode", "X"}, {"errorMessage", std::string(4097, 'm')}}),
      HasSubstr("errorMessage: 4097 bytes"));
}

TEST(ProvisioningMessages, DecodeMessageReportsPayloadErrors) {
  auto oversize = decode_message<RegisterThingRequest>(
      encode_message(RegisterThingRequest{"t", {}}, PayloadFormat::json), PayloadFormat::json, 10);
  ASSERT_FALSE(oversize);
  EXPECT_THAT(oversize.error().message, HasSubstr("more than the 10 allowed"));
  auto truncated = decode_message<RegisterThingRequest>(bytes({0xa1, 0x61}), PayloadFormat::cbor);
  ASSERT_FALSE(truncated);
  EXPECT_THAT(truncated.error().message, HasSubstr("truncated"));
  auto garbage = decode_message<ErrorResponse>(as_bytes(R"({"statusCode":400,"errorCode":"X"}!)"),
                                               PayloadFormat::json);
  ASSERT_FALSE(garbage);
  EXPECT_THAT(garbage.error().message, HasSubstr("invalid JSON"));
}

TEST(CertificateRegisteredEvent, EncodesTheDocumentedPayload) {
  CertificateRegisteredEvent event;
  event.certificate_id = kCertificateId;
  event.ca_certificate_id = std::string(64, 'c');
  event.timestamp = 1700000000123;
  event.aws_account_id = "123456789012";
  EXPECT_EQ(event.encode(), (json{{"certificateId", kCertificateId},
                                  {"caCertificateId", std::string(64, 'c')},
                                  {"timestamp", 1700000000123},
                                  {"certificateStatus", "PENDING_ACTIVATION"},
                                  {"awsAccountId", "123456789012"},
                                  {"certificateRegistrationTimestamp", "null"}}));
  event.certificate_registration_timestamp = 1700000000000;
  EXPECT_EQ(event.encode().at("certificateRegistrationTimestamp"), "1700000000000");
  auto cbor =
      decode_payload(encode_payload(event.encode(), PayloadFormat::cbor), PayloadFormat::cbor);
  ASSERT_TRUE(cbor) << cbor.error().message;
  EXPECT_EQ(cbor->at("timestamp"), 1700000000123);
}

}  // namespace
}  // namespace ironroot::protocol
