// The OTA job document: the "afr_ota" object that AWS IoT puts in a job's document for its OTA
// agents, which ironroot's fleet service writes and ironroot's device agent reads, and which
// devices built on AWS's OTA agent (aws/ota-for-aws-iot-embedded-sdk, ota.c) or on AWS's Jobs
// library OTA parser (aws/Jobs-for-AWS-IoT-embedded-sdk, job_parser.c) read unchanged:
//
//   {"afr_ota": {"protocols": ["MQTT"], "streamname": "<stream id>",
//                "files": [{"filepath": "...", "filesize": 180568, "fileid": 0,
//                           "certfile": "...", "sig-sha256-ecdsa": "<base64 DER signature>",
//                           "fileType": 0, "attr": 0,
//                           "update_data_url": "https://...", "auth_scheme": "..."}],
//                "ironroot": {"version": "1.2.3+4", "expires": "2030-01-01T00:00:00Z",
//                             "thing": "<thing name>", "securityCounter": 7}}}
//
// Key names and types are those of ota.c's job document model (otaJobDocModelParamStructure,
// keys from ota_private.h): filesize, fileid, fileType and attr are unsigned 32-bit integers;
// protocols is an array of strings; files an array of which the agents read files[0]
// (OTA_MAX_FILES "MUST REMAIN 1").
//
// "ironroot" is ironroot's addition, kept in one object so that AWS's agents pass over it: both
// ota.c (which looks up each key of its model with JSON_SearchConst) and job_parser.c (which
// queries fixed paths such as "afr_ota.files[0].filesize") read only the keys they know.
//
// Compatibility rules that decode enforces and encode's callers should honour:
//  - job_parser.c fails unless files[0] has filepath, certfile and sig-sha256-ecdsa (ota.c v3
//    makes all three optional), so the fleet service should always set file_path and
//    certificate_path. ironroot refuses a document without a signature.
//  - job_parser.c reads only protocols[0]: "MQTT" needs a streamname, anything else takes the
//    HTTP branch, which needs fileType, auth_scheme and update_data_url. ironroot requires a
//    streamname whenever MQTT is listed and an update_data_url whenever HTTP is listed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ironroot/core/bytes.hpp"
#include "ironroot/core/result.hpp"
#include "ironroot/protocol/payload_format.hpp"

namespace ironroot::protocol {

// The job document's key for AWS's OTA agents, and ironroot's key inside it.
inline constexpr std::string_view kOtaJobKey = "afr_ota";
inline constexpr std::string_view kOtaReleaseKey = "ironroot";
// The file's signature key: ECDSA over SHA-256 of the file, DER, base64 (the agents' default
// OTA_JsonFileSignatureKey).
inline constexpr std::string_view kOtaSignatureKey = "sig-sha256-ecdsa";

// The largest signature the agents hold (kOTA_MaxSignatureSize in ota.h: 256 bytes).
inline constexpr std::size_t kMaxOtaSignatureSize = 256;
// filesize and attr are uint32_t in the agents.
inline constexpr std::int64_t kMaxOtaFileSize = 4294967295;
inline constexpr std::int64_t kMaxOtaFileAttributes = 4294967295;
// fileid is the stream's file id f (0 to 255); fileType is 0 to 255 (OTAUpdateFile in AWS's API
// reference).
inline constexpr std::int64_t kMaxOtaFileId = 255;
inline constexpr std::int64_t kMaxOtaFileType = 255;
// update_data_url: OTA_REQUEST_URL_MAX_SIZE in ota_private.h.
inline constexpr std::size_t kMaxOtaUrlSize = 1500;
// ironroot's bounds on filepath and certfile, and on auth_scheme, in bytes.
inline constexpr std::size_t kMaxOtaPathSize = 1024;
inline constexpr std::size_t kMaxOtaAuthSchemeSize = 256;
// securityCounter: MCUboot's security counter is 32 bits.
inline constexpr std::int64_t kMaxOtaSecurityCounter = 4294967295;

// The protocols a file can be downloaded over: "MQTT" (an MQTT file stream) or "HTTP" (a URL).
enum class OtaProtocol { mqtt, http };
std::string_view to_string(OtaProtocol protocol);  // "MQTT" or "HTTP"
// Exactly "MQTT" or "HTTP"; nullopt otherwise.
std::optional<OtaProtocol> parse_ota_protocol(std::string_view name);

// files[0].
struct OtaFile {
  std::optional<std::string> file_path;  // filepath: 1 to 1024 bytes; where the device stores it
  std::int64_t file_size = 0;            // filesize: 1 to 2^32 - 1 bytes
  std::int64_t file_id = 0;              // fileid: 0 to 255, the stream's f
  std::optional<std::string> certificate_path;  // certfile: 1 to 1024 bytes
  Bytes signature;  // sig-sha256-ecdsa: 1 to 256 bytes (a DER ECDSA signature), base64 on the wire
  std::optional<std::int64_t> file_type;       // fileType: 0 to 255
  std::optional<std::int64_t> attributes;      // attr: 0 to 2^32 - 1
  std::optional<std::string> update_data_url;  // update_data_url: 1 to 1500 bytes (HTTP)
  std::optional<std::string> auth_scheme;      // auth_scheme: 1 to 256 bytes (HTTP)
  bool operator==(const OtaFile&) const = default;
};

// afr_ota.ironroot: what an ironroot device checks beyond the signature.
struct OtaRelease {
  // version: the image's version as MCUboot writes it, "major.minor.revision" or
  // "major.minor.revision+build" (decimal, no leading zeros; major and minor <= 255, revision
  // <= 65535, build <= 2^32 - 1), the form image::ImageVersion::parse reads.
  std::string version;
  // expires: after this instant (seconds since the epoch) the device refuses the document, so a
  // withheld or replayed document cannot hold a device on an old release for ever. On the wire
  // RFC 3339 in UTC, to the second: "2030-01-01T00:00:00Z".
  std::int64_t expires_at = 0;
  // thing: the only device the document is for; absent: any device the job targets.
  std::optional<std::string> thing_name;
  // securityCounter: the image's MCUboot security counter, 0 to 2^32 - 1.
  std::optional<std::int64_t> security_counter;
  bool operator==(const OtaRelease&) const = default;
};

struct OtaJobDocument {
  // protocols: MQTT, HTTP or both, each once, in the order of preference (job_parser.c uses the
  // first).
  std::vector<OtaProtocol> protocols;
  std::optional<std::string> stream_name;  // streamname: a stream id; required when MQTT is listed
  OtaFile file;                            // files: exactly one
  std::optional<OtaRelease> release;       // ironroot

  // Reads a job's document (the object that holds "afr_ota"; other keys are ignored, and so are
  // unknown keys inside afr_ota and files[0]). Refuses a missing or mistyped field, a value out of
  // bounds, a signature that is not canonical base64, other than exactly one file, an unknown or
  // repeated protocol, MQTT without a streamname and HTTP without an update_data_url, and an
  // ironroot object without a valid version and expiry. The error names the field:
  // "afr_ota.files[0].filesize: 0 is outside 1 to 4294967295".
  static Result<OtaJobDocument> decode(const nlohmann::json& job_document);
  // {"afr_ota": {...}}, leaving absent members out.
  nlohmann::json encode() const;
  // Whether decode(encode()) succeeds, and if not why: what the fleet service checks before it
  // creates a job.
  Status validate() const;
  bool operator==(const OtaJobDocument&) const = default;
};

// Decodes a job document from JSON text (decode_payload, then OtaJobDocument::decode).
Result<OtaJobDocument> decode_ota_job_document(ByteView json_text,
                                               std::size_t max_size = kMaxPayloadSize);

// What an ironroot device checks once the document decodes: it carries the ironroot object, it
// has not expired at `now` (seconds since the epoch), and it is for `thing_name` or for any thing.
// A device that also accepts AWS's plain documents skips this check for documents without the
// ironroot object, at the cost of the freeze protection.
Status check_ota_job_for_device(const OtaJobDocument& document, std::string_view thing_name,
                                std::int64_t now);

// RFC 3339 timestamps in UTC to the second, "YYYY-MM-DDTHH:MM:SSZ", years 1970 to 9999.
// format_rfc3339_utc REQUIRES: 0 <= seconds <= 253402300799 (9999-12-31T23:59:59Z).
std::string format_rfc3339_utc(std::int64_t seconds);
// Exactly that form (upper-case 'T' and 'Z', no fraction, no offset, no leap second); nullopt
// otherwise.
std::optional<std::int64_t> parse_rfc3339_utc(std::string_view text);

}  // namespace ironroot::protocol
