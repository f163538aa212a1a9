#include "ironroot/protocol/ota_job.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "ironroot/protocol/jobs.hpp"
#include "ironroot/protocol/streams.hpp"

namespace ironroot::protocol {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

// A DER ECDSA-P256 signature's shape (SEQUENCE of two INTEGERs), 70 bytes.
Bytes signature_bytes() {
  Bytes out{std::byte{0x30}, std::byte{0x44}, std::byte{0x02}, std::byte{0x20}};
  for (int i = 0; i < 32; ++i) out.push_back(static_cast<std::byte>(i + 1));
  out.push_back(std::byte{0x02});
  out.push_back(std::byte{0x20});
  for (int i = 0; i < 32; ++i) out.push_back(static_cast<std::byte>(0x80 - i));
  return out;
}

// 2030-01-01T00:00:00Z
constexpr std::int64_t kExpires = 1893456000;

OtaJobDocument ironroot_document() {
  OtaJobDocument doc;
  doc.protocols = {OtaProtocol::mqtt};
  doc.stream_name = "AFR_OTA-0f1e2d3c";
  doc.file.file_path = "/slot1";
  doc.file.file_size = 180568;
  doc.file.file_id = 0;
  doc.file.certificate_path = "code-signer.crt";
  doc.file.signature = signature_bytes();
  doc.release = OtaRelease{"1.2.3+4", kExpires, "device-1", 7};
  return doc;
}

// The document as ota_utest.c's valid MQTT job carries it (execution.jobDocument), with a real
// base64 signature in place of the test's placeholder.
json aws_job_document() {
  return json::parse(R"({"afr_ota": {"protocols": ["MQTT"], "streamname": "AFR_OTA-XYZ",
      "files": [{"filepath": "/test/demo", "filesize": 180568, "fileid": 0,
                 "certfile": "test.crt", "sig-sha256-ecdsa": "MEQCIAEC"}]}})");
}

std::string decode_error(const json& document) {
  auto decoded = OtaJobDocument::decode(document);
  EXPECT_FALSE(decoded) << "accepted: " << document.dump();
  return decoded ? "" : decoded.error().message;
}

// The document with one change under afr_ota (a JSON pointer from afr_ota).
json changed(const std::string& pointer, const json& value) {
  json doc = ironroot_document().encode();
  doc["afr_ota"][json::json_pointer(pointer)] = value;
  return doc;
}

json without(const std::string& parent, const std::string& key) {
  json doc = ironroot_document().encode();
  doc["afr_ota"][json::json_pointer(parent)].erase(key);
  return doc;
}

TEST(OtaJobDocument, ReadsAwsDocuments) {
  auto doc = OtaJobDocument::decode(aws_job_document());
  ASSERT_TRUE(doc) << doc.error().message;
  EXPECT_EQ(doc->protocols, std::vector<OtaProtocol>{OtaProtocol::mqtt});
  EXPECT_EQ(doc->stream_name, "AFR_OTA-XYZ");
  EXPECT_EQ(doc->file.file_path, "/test/demo");
  EXPECT_EQ(doc->file.file_size, 180568);
  EXPECT_EQ(doc->file.file_id, 0);
  EXPECT_EQ(doc->file.certificate_path, "test.crt");
  EXPECT_EQ(to_hex(doc->file.signature), "304402200102");
  EXPECT_EQ(doc->release, std::nullopt);
  // No ironroot object: decodes, but an ironroot device does not take it.
  EXPECT_THAT(check_ota_job_for_device(*doc, "t", 0).error().message,
              HasSubstr("afr_ota.ironroot: missing"));
}

TEST(OtaJobDocument, EncodesTheAgentsKeys) {
  const json expected = json::parse(R"({"afr_ota": {
      "protocols": ["MQTT"],
      "streamname": "AFR_OTA-0f1e2d3c",
      "files": [{"filepath": "/slot1", "filesize": 180568, "fileid": 0,
                 "certfile": "code-signer.crt", "sig-sha256-ecdsa": ")" +
                                    to_base64(signature_bytes()) + R"("}],
      "ironroot": {"version": "1.2.3+4", "expires": "2030-01-01T00:00:00Z",
                   "thing": "device-1", "securityCounter": 7}}})");
  EXPECT_EQ(ironroot_document().encode(), expected);
  auto again = OtaJobDocument::decode(expected);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(*again, ironroot_document());
  EXPECT_TRUE(ironroot_document().validate());
}

TEST(OtaJobDocument, RoundTripsEveryField) {
  OtaJobDocument doc = ironroot_document();
  doc.protocols = {OtaProtocol::http, OtaProtocol::mqtt};
  doc.file.file_type = 255;
  doc.file.attributes = 4294967295;
  doc.file.update_data_url = "https://updates.example/fw.bin?X-Amz-Signature=abc";
  doc.file.auth_scheme = "aws.s3.presigned";
  doc.file.file_size = kMaxOtaFileSize;
  doc.file.file_id = 255;
  doc.file.signature = Bytes(kMaxOtaSignatureSize, std::byte{0x5a});
  doc.release->thing_name.reset();
  doc.release->security_counter = kMaxOtaSecurityCounter;
  doc.release->version = "255.255.65535+4294967295";
  auto again = OtaJobDocument::decode(doc.encode());
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(*again, doc);

  OtaJobDocument minimal;
  minimal.protocols = {OtaProtocol::http};
  minimal.file.file_size = 1;
  minimal.file.signature = Bytes{std::byte{1}};
  minimal.file.update_data_url = "https://x";
  auto minimal_again = OtaJobDocument::decode(minimal.encode());
  ASSERT_TRUE(minimal_again) << minimal_again.error().message;
  EXPECT_EQ(*minimal_again, minimal);
}

TEST(OtaJobDocument, IgnoresUnknownKeys) {
  json doc = ironroot_document().encode();
  doc["other"] = {{"x", 1}};
  doc["afr_ota"]["future"] = json::array({1, 2});
  doc["afr_ota"]["files"][0]["hash"] = "abc";
  doc["afr_ota"]["ironroot"]["note"] = true;
  auto decoded = OtaJobDocument::decode(doc);
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_EQ(*decoded, ironroot_document());
}

TEST(OtaJobDocument, RefusesStructuralErrors) {
  EXPECT_THAT(decode_error(json::array()), HasSubstr("not an object"));
  EXPECT_THAT(decode_error(json{{"url", "x"}}), HasSubstr("afr_ota: missing"));
  EXPECT_THAT(decode_error(json{{"afr_ota", "x"}}), HasSubstr("afr_ota: must be an object"));
  EXPECT_THAT(decode_error(without("", "files")), HasSubstr("afr_ota.files: missing"));
  EXPECT_THAT(decode_error(changed("/files", json::object())),
              HasSubstr("afr_ota.files: must be an array"));
  EXPECT_THAT(decode_error(changed("/files", json::array())), HasSubstr("afr_ota.files: 0 files"));
  json two = ironroot_document().encode();
  two["afr_ota"]["files"].push_back(two["afr_ota"]["files"][0]);
  EXPECT_THAT(decode_error(two),
              HasSubstr("afr_ota.files: 2 files; an OTA job carries exactly one"));
  EXPECT_THAT(decode_error(changed("/files/0", 5)),
              HasSubstr("afr_ota.files[0]: must be an object"));
}

TEST(OtaJobDocument, RefusesBadProtocols) {
  EXPECT_THAT(decode_error(without("", "protocols")), HasSubstr("afr_ota.protocols: missing"));
  EXPECT_THAT(decode_error(changed("/protocols", "MQTT")),
              HasSubstr("afr_ota.protocols: must be an array"));
  EXPECT_THAT(decode_error(changed("/protocols", json::array())),
              HasSubstr("afr_ota.protocols: must list MQTT, HTTP or both"));
  EXPECT_THAT(decode_error(changed("/protocols", {"MQTT", "HTTP", "MQTT"})),
              HasSubstr("not 3 entries"));
  EXPECT_THAT(decode_error(changed("/protocols", {"MQTT", "MQTT"})),
              HasSubstr("afr_ota.protocols[1]: \"MQTT\" is listed twice"));
  EXPECT_THAT(decode_error(changed("/protocols", {"FTP"})),
              HasSubstr("afr_ota.protocols[0]: \"FTP\" is not MQTT or HTTP"));
  EXPECT_THAT(decode_error(changed("/protocols", {"mqtt"})), HasSubstr("is not MQTT or HTTP"));
  EXPECT_THAT(decode_error(changed("/protocols", {1})),
              HasSubstr("afr_ota.protocols[0]: must be a string"));
  // Each protocol needs its way to the file.
  EXPECT_THAT(decode_error(without("", "streamname")),
              HasSubstr("afr_ota.streamname: missing; an MQTT download needs"));
  EXPECT_THAT(decode_error(changed("/protocols", {"HTTP"})),
              HasSubstr("afr_ota.files[0].update_data_url: missing; an HTTP download needs"));
  EXPECT_THAT(decode_error(changed("/protocols", {"MQTT", "HTTP"})),
              HasSubstr("update_data_url: missing"));
  json http = changed("/protocols", {"HTTP"});
  http["afr_ota"].erase("streamname");
  http["afr_ota"]["files"][0]["update_data_url"] = "https://x/y";
  EXPECT_TRUE(OtaJobDocument::decode(http));
  EXPECT_THAT(decode_error(changed("/streamname", "AFR OTA")),
              HasSubstr("afr_ota.streamname: \"AFR OTA\" is not a stream id"));
  EXPECT_THAT(decode_error(changed("/streamname", std::string(129, 's'))),
              HasSubstr("afr_ota.streamname: 129 bytes"));
}

TEST(OtaJobDocument, RefusesBadFileFields) {
  const std::pair<json, std::string> cases[] = {
      {without("/files/0", "filesize"), "afr_ota.files[0].filesize: missing"},
      {changed("/files/0/filesize", 0), "afr_ota.files[0].filesize: 0 is outside 1 to 4294967295"},
      {changed("/files/0/filesize", -5), "afr_ota.files[0].filesize: -5 is outside"},
      {changed("/files/0/filesize", 4294967296),
       "afr_ota.files[0].filesize: 4294967296 is outside"},
      {changed("/files/0/filesize", "180568"), "afr_ota.files[0].filesize: must be an integer"},
      {changed("/files/0/filesize", 1.5), "afr_ota.files[0].filesize: must be an integer"},
      {without("/files/0", "fileid"), "afr_ota.files[0].fileid: missing"},
      {changed("/files/0/fileid", 256), "afr_ota.files[0].fileid: 256 is outside 0 to 255"},
      {without("/files/0", "sig-sha256-ecdsa"), "afr_ota.files[0].sig-sha256-ecdsa: missing"},
      // ota_utest.c's invalid key.
      {changed("/files/0/sig-sha256-ecdsa", "Rk9PQkFS==="),
       "afr_ota.files[0].sig-sha256-ecdsa: not base64"},
      {changed("/files/0/sig-sha256-ecdsa", "MEQC IAEC"), "sig-sha256-ecdsa: not base64"},
      {changed("/files/0/sig-sha256-ecdsa", ""), "sig-sha256-ecdsa: must not be empty"},
      {changed("/files/0/sig-sha256-ecdsa", to_base64(Bytes(257, std::byte{1}))),
       "sig-sha256-ecdsa: 257 bytes; a signature is 1 to 256 bytes"},
      {changed("/files/0/sig-sha256-ecdsa", 12), "sig-sha256-ecdsa: must be a string"},
      {changed("/files/0/filepath", ""), "afr_ota.files[0].filepath: must not be empty"},
      {changed("/files/0/filepath", std::string(1025, 'p')), "filepath: 1025 bytes"},
      {changed("/files/0/certfile", 3), "afr_ota.files[0].certfile: must be a string"},
      {changed("/files/0/fileType", 256), "afr_ota.files[0].fileType: 256 is outside 0 to 255"},
      {changed("/files/0/attr", 4294967296), "afr_ota.files[0].attr: 4294967296 is outside"},
      {changed("/files/0/update_data_url", std::string(1501, 'u')), "update_data_url: 1501 bytes"},
      {changed("/files/0/auth_scheme", ""), "afr_ota.files[0].auth_scheme: must not be empty"},
  };
  for (const auto& [document, why] : cases) {
    EXPECT_THAT(decode_error(document), HasSubstr(why)) << document.dump();
  }
  // The bounds themselves are accepted.
  EXPECT_TRUE(OtaJobDocument::decode(changed("/files/0/filesize", 4294967295)));
  EXPECT_TRUE(OtaJobDocument::decode(changed("/files/0/filesize", 1)));
  EXPECT_TRUE(OtaJobDocument::decode(without("/files/0", "filepath")));
  EXPECT_TRUE(OtaJobDocument::decode(without("/files/0", "certfile")));
}

TEST(OtaJobDocument, RefusesBadReleaseTerms) {
  const std::pair<json, std::string> cases[] = {
      {changed("/ironroot", "1.2.3"), "afr_ota.ironroot: must be an object"},
      {without("/ironroot", "version"), "afr_ota.ironroot.version: missing"},
      {without("/ironroot", "expires"), "afr_ota.ironroot.expires: missing"},
      {changed("/ironroot/expires", 1893456000), "afr_ota.ironroot.expires: must be a string"},
      {changed("/ironroot/thing", "two words"), "afr_ota.ironroot.thing: \"two words\" is not"},
      {changed("/ironroot/securityCounter", -1), "afr_ota.ironroot.securityCounter: -1 is outside"},
      {changed("/ironroot/securityCounter", 4294967296), "securityCounter: 4294967296 is outside"},
  };
  for (const auto& [document, why] : cases) {
    EXPECT_THAT(decode_error(document), HasSubstr(why)) << document.dump();
  }
  for (std::string bad :
       {"1.2", "1", "1.2.3.4", "01.2.3", "1.02.3", "256.0.0", "0.256.0", "0.0.65536", "1.2.3+",
        "1.2.3+4294967296", "1.2.3+04", "v1.2.3", "1.2.3-rc1", "1..3", ""}) {
    EXPECT_THAT(decode_error(changed("/ironroot/version", bad)),
                HasSubstr("afr_ota.ironroot.version: "))
        << bad;
  }
  for (std::string good : {"0.0.0", "1.2.3", "10.0.1+0", "255.255.65535+4294967295"}) {
    EXPECT_TRUE(OtaJobDocument::decode(changed("/ironroot/version", good))) << good;
  }
  for (std::string bad : {"2030-01-01 00:00:00Z", "2030-01-01T00:00:00z", "2030-01-01t00:00:00Z",
                          "2030-01-01T00:00:00+00:00", "2030-01-01T00:00:00.5Z",
                          "2030-02-30T00:00:00Z", "2029-02-29T00:00:00Z", "2030-13-01T00:00:00Z",
                          "2030-00-10T00:00:00Z", "2030-01-01T24:00:00Z", "2030-01-01T00:60:00Z",
                          "2030-01-01T23:59:60Z", "1969-12-31T23:59:59Z", "30-01-01T00:00:00Z",
                          "2030-1-01T00:00:00Z", "+030-01-01T00:00:00Z"}) {
    EXPECT_THAT(decode_error(changed("/ironroot/expires", bad)),
                HasSubstr("afr_ota.ironroot.expires: \""))
        << bad;
  }
}

TEST(OtaJobDocument, ValidateReportsWhatDecodeWouldRefuse) {
  OtaJobDocument doc = ironroot_document();
  doc.file.file_size = 0;
  EXPECT_THAT(doc.validate().error().message, HasSubstr("afr_ota.files[0].filesize"));
  doc = ironroot_document();
  doc.protocols = {OtaProtocol::mqtt, OtaProtocol::mqtt};
  EXPECT_THAT(doc.validate().error().message, HasSubstr("listed twice"));
  doc = ironroot_document();
  doc.release->expires_at = -1;  // not representable in RFC 3339 from 1970
  EXPECT_THAT(doc.validate().error().message, HasSubstr("afr_ota.ironroot.expires"));
  doc = ironroot_document();
  doc.file.signature.clear();
  EXPECT_THAT(doc.validate().error().message, HasSubstr("sig-sha256-ecdsa"));
}

TEST(OtaJobDocument, DecodesJsonText) {
  const std::string text = ironroot_document().encode().dump();
  auto doc = decode_ota_job_document(as_bytes(text));
  ASSERT_TRUE(doc) << doc.error().message;
  EXPECT_EQ(*doc, ironroot_document());
  auto bad = decode_ota_job_document(as_bytes("{\"afr_ota\": "));
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message, HasSubstr("OTA job document: invalid JSON"));
  EXPECT_FALSE(decode_ota_job_document(as_bytes(text), 16));
}

// The job document reaches the device inside a Jobs reply (execution.jobDocument).
TEST(OtaJobDocument, FromAJobsNotification) {
  JobExecution execution;
  execution.job_id = "AFR_OTA-rollout-1";
  execution.thing_name = "device-1";
  execution.job_document = ironroot_document().encode();
  const NextJobExecutionChangedEvent event{execution, 1700000000};
  auto received = decode_jobs_reply<NextJobExecutionChangedEvent>(encode_jobs_message(event));
  ASSERT_TRUE(received) << received.error().message;
  ASSERT_TRUE(received->execution && received->execution->job_document);
  auto doc = OtaJobDocument::decode(*received->execution->job_document);
  ASSERT_TRUE(doc) << doc.error().message;
  EXPECT_EQ(*doc, ironroot_document());
}

TEST(OtaJobDocument, DeviceChecks) {
  const OtaJobDocument doc = ironroot_document();
  EXPECT_TRUE(check_ota_job_for_device(doc, "device-1", kExpires - 1));
  auto expired = check_ota_job_for_device(doc, "device-1", kExpires);
  ASSERT_FALSE(expired);
  EXPECT_THAT(expired.error().message,
              HasSubstr("afr_ota.ironroot.expires: the job document expired at "
                        "2030-01-01T00:00:00Z, it is now 2030-01-01T00:00:00Z"));
  auto other = check_ota_job_for_device(doc, "device-2", 0);
  ASSERT_FALSE(other);
  EXPECT_THAT(
      other.error().message,
      HasSubstr("the job document is for \"device-1\", not for this device (\"device-2\")"));
  OtaJobDocument any_thing = doc;
  any_thing.release->thing_name.reset();
  EXPECT_TRUE(check_ota_job_for_device(any_thing, "device-2", 0));
}

TEST(Rfc3339, FormatsAndParses) {
  const std::pair<std::int64_t, std::string> cases[] = {
      {0, "1970-01-01T00:00:00Z"},          {951782400, "2000-02-29T00:00:00Z"},
      {951868799, "2000-02-29T23:59:59Z"},  {kExpires, "2030-01-01T00:00:00Z"},
      {4102444800, "2100-01-01T00:00:00Z"}, {253402300799, "9999-12-31T23:59:59Z"},
  };
  for (const auto& [seconds, text] : cases) {
    EXPECT_EQ(format_rfc3339_utc(seconds), text);
    EXPECT_EQ(parse_rfc3339_utc(text), seconds) << text;
  }
  for (std::int64_t s = 0; s < 253402300799; s += 987654321) {
    EXPECT_EQ(parse_rfc3339_utc(format_rfc3339_utc(s)), s) << s;
  }
  EXPECT_EQ(parse_rfc3339_utc("2100-02-29T00:00:00Z"), std::nullopt);  // 2100 is not leap
  EXPECT_EQ(parse_rfc3339_utc(""), std::nullopt);
}

}  // namespace
}  // namespace ironroot::protocol
