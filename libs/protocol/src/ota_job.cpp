#include "ironroot/protocol/ota_job.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "ironroot/protocol/provisioning.hpp"
#include "ironroot/protocol/streams.hpp"
#include "json_fields.hpp"

namespace ironroot::protocol {
namespace {

using nlohmann::json;

constexpr std::int64_t kMaxRfc3339Seconds = 253402300799;  // 9999-12-31T23:59:59Z
constexpr std::size_t kMaxVersionSize = 32;

// `text` for an error message: printable ASCII only, at most 64 characters.
std::string shown(std::string_view text) {
  constexpr std::size_t kMax = 64;
  std::string out;
  for (char c : text.substr(0, kMax)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (text.size() > kMax) out += "...";
  return out;
}

// Field errors name the field from afr_ota down: "<where>.<key>: ...".
tl::unexpected<Error> at(const std::string& where, const Error& error) {
  return tl::unexpected(Error{where + "." + error.message});
}

Result<std::optional<std::string>> optional_string(const json& object, const char* key,
                                                   std::size_t max_size) {
  if (fields::find(object, key) == nullptr) return std::optional<std::string>();
  auto text = fields::required_string(object, key, max_size);
  if (!text) return tl::unexpected(text.error());
  return std::optional<std::string>(std::move(*text));
}

Result<std::optional<std::int64_t>> optional_integer(const json& object, const char* key,
                                                     std::int64_t min, std::int64_t max) {
  if (fields::find(object, key) == nullptr) return std::optional<std::int64_t>();
  auto n = fields::required_integer(object, key, min, max);
  if (!n) return tl::unexpected(n.error());
  return std::optional<std::int64_t>(*n);
}

const json* required_member(const json& object, const char* key, json::value_t type,
                            const char* type_text, const std::string& where, Error& error) {
  const json* value = fields::find(object, key);
  if (value == nullptr) {
    error.message = where + "." + key + ": missing";
    return nullptr;
  }
  if (value->type() != type) {
    error.message =
        where + "." + key + ": must be " + type_text + ", not " + fields::type_name(*value);
    return nullptr;
  }
  return value;
}

// A decimal of at most `max` without leading zeros.
bool is_version_number(std::string_view digits, std::uint64_t max) {
  if (digits.empty() || digits.size() > 10) return false;
  if (digits.size() > 1 && digits.front() == '0') return false;
  std::uint64_t value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return value <= max;
}

// major.minor.revision[+build], MCUboot's ranges.
bool is_image_version(std::string_view text) {
  if (text.size() > kMaxVersionSize) return false;
  std::string_view build;
  bool has_build = false;
  if (auto plus = text.find('+'); plus != std::string_view::npos) {
    build = text.substr(plus + 1);
    text = text.substr(0, plus);
    has_build = true;
  }
  constexpr std::uint64_t kMax[] = {0xff, 0xff, 0xffff};
  for (std::size_t i = 0; i < 3; ++i) {
    const auto dot = text.find('.');
    if ((dot == std::string_view::npos) != (i == 2)) return false;
    if (!is_version_number(text.substr(0, dot), kMax[i])) return false;
    text.remove_prefix(dot == std::string_view::npos ? text.size() : dot + 1);
  }
  return !has_build || is_version_number(build, 0xffffffffULL);
}

Result<std::vector<OtaProtocol>> protocols_field(const json& afr) {
  Error error;
  const json* value =
      required_member(afr, "protocols", json::value_t::array, "an array", "afr_ota", error);
  if (value == nullptr) return tl::unexpected(error);
  if (value->empty() || value->size() > 2) {
    return fail("afr_ota.protocols: must list MQTT, HTTP or both, not " +
                std::to_string(value->size()) + " entries");
  }
  std::vector<OtaProtocol> out;
  for (std::size_t i = 0; i < value->size(); ++i) {
    const std::string where = "afr_ota.protocols[" + std::to_string(i) + "]";
    const json& entry = (*value)[i];
    if (!entry.is_string()) {
      return fail(where + ": must be a string, not " + fields::type_name(entry));
    }
    const auto& name = entry.get_ref<const std::string&>();
    auto protocol = parse_ota_protocol(name);
    if (!protocol) return fail(where + ": \"" + shown(name) + "\" is not MQTT or HTTP");
    if (std::find(out.begin(), out.end(), *protocol) != out.end()) {
      return fail(where + ": \"" + name + "\" is listed twice");
    }
    out.push_back(*protocol);
  }
  return out;
}

Result<OtaFile> file_field(const json& afr) {
  Error error;
  const json* files =
      required_member(afr, "files", json::value_t::array, "an array", "afr_ota", error);
  if (files == nullptr) return tl::unexpected(error);
  if (files->size() != 1) {
    return fail("afr_ota.files: " + std::to_string(files->size()) +
                " files; an OTA job carries exactly one (OTA_MAX_FILES is 1 in AWS's agent)");
  }
  const std::string where = "afr_ota.files[0]";
  const json& entry = (*files)[0];
  if (!entry.is_object()) {
    return fail(where + ": must be an object, not " + fields::type_name(entry));
  }
  OtaFile out;
  auto size = fields::required_integer(entry, "filesize", 1, kMaxOtaFileSize);
  if (!size) return at(where, size.error());
  out.file_size = *size;
  auto id = fields::required_integer(entry, "fileid", 0, kMaxOtaFileId);
  if (!id) return at(where, id.error());
  out.file_id = *id;
  auto path = optional_string(entry, "filepath", kMaxOtaPathSize);
  if (!path) return at(where, path.error());
  out.file_path = std::move(*path);
  auto certificate = optional_string(entry, "certfile", kMaxOtaPathSize);
  if (!certificate) return at(where, certificate.error());
  out.certificate_path = std::move(*certificate);

  const std::string signature_key(kOtaSignatureKey);
  // Base64 of at most 256 bytes is at most 344 characters.
  auto signature =
      fields::required_string(entry, signature_key.c_str(), 4 * ((kMaxOtaSignatureSize + 2) / 3));
  if (!signature) return at(where, signature.error());
  auto signature_bytes = from_base64(*signature);
  if (!signature_bytes) {
    return fail(where + "." + signature_key + ": not base64 (RFC 4648, with padding)");
  }
  if (signature_bytes->empty() || signature_bytes->size() > kMaxOtaSignatureSize) {
    return fail(where + "." + signature_key + ": " + std::to_string(signature_bytes->size()) +
                " bytes; a signature is 1 to 256 bytes");
  }
  out.signature = std::move(*signature_bytes);

  auto type = optional_integer(entry, "fileType", 0, kMaxOtaFileType);
  if (!type) return at(where, type.error());
  out.file_type = *type;
  auto attributes = optional_integer(entry, "attr", 0, kMaxOtaFileAttributes);
  if (!attributes) return at(where, attributes.error());
  out.attributes = *attributes;
  auto url = optional_string(entry, "update_data_url", kMaxOtaUrlSize);
  if (!url) return at(where, url.error());
  out.update_data_url = std::move(*url);
  auto scheme = optional_string(entry, "auth_scheme", kMaxOtaAuthSchemeSize);
  if (!scheme) return at(where, scheme.error());
  out.auth_scheme = std::move(*scheme);
  return out;
}

Result<OtaRelease> release_field(const json& value) {
  const std::string where = "afr_ota." + std::string(kOtaReleaseKey);
  if (!value.is_object()) {
    return fail(where + ": must be an object, not " + fields::type_name(value));
  }
  OtaRelease out;
  auto version = fields::required_string(value, "version", kMaxVersionSize);
  if (!version) return at(where, version.error());
  if (!is_image_version(*version)) {
    return fail(where + ".version: \"" + shown(*version) +
                "\" is not an image version (major.minor.revision or "
                "major.minor.revision+build, e.g. 1.2.3+4)");
  }
  out.version = std::move(*version);
  auto expires = fields::required_string(value, "expires", 64);
  if (!expires) return at(where, expires.error());
  auto expires_at = parse_rfc3339_utc(*expires);
  if (!expires_at) {
    return fail(where + ".expires: \"" + shown(*expires) +
                "\" is not an RFC 3339 UTC time such as 2030-01-31T23:59:59Z");
  }
  out.expires_at = *expires_at;
  auto thing = optional_string(value, "thing", kMaxThingNameSize);
  if (!thing) return at(where, thing.error());
  if (*thing && !is_valid_thing_name(**thing)) {
    return fail(where + ".thing: \"" + shown(**thing) +
                "\" is not 1 to 128 characters of a-z, A-Z, 0-9, ':', '_' and '-'");
  }
  out.thing_name = std::move(*thing);
  auto counter = optional_integer(value, "securityCounter", 0, kMaxOtaSecurityCounter);
  if (!counter) return at(where, counter.error());
  out.security_counter = *counter;
  return out;
}

}  // namespace

std::string_view to_string(OtaProtocol protocol) {
  return protocol == OtaProtocol::http ? "HTTP" : "MQTT";
}

std::optional<OtaProtocol> parse_ota_protocol(std::string_view name) {
  if (name == "MQTT") return OtaProtocol::mqtt;
  if (name == "HTTP") return OtaProtocol::http;
  return std::nullopt;
}

Result<OtaJobDocument> OtaJobDocument::decode(const json& job_document) {
  if (!job_document.is_object()) {
    return fail(std::string("the job document is ") + fields::type_name(job_document) +
                ", not an object");
  }
  const json* afr = fields::find(job_document, std::string(kOtaJobKey).c_str());
  if (afr == nullptr) return fail("afr_ota: missing; this is not an OTA job document");
  if (!afr->is_object()) {
    return fail(std::string("afr_ota: must be an object, not ") + fields::type_name(*afr));
  }
  OtaJobDocument out;
  auto protocols = protocols_field(*afr);
  if (!protocols) return tl::unexpected(protocols.error());
  out.protocols = std::move(*protocols);

  auto stream = optional_string(*afr, "streamname", kMaxStreamIdSize);
  if (!stream) return at("afr_ota", stream.error());
  if (*stream && !is_valid_stream_id(**stream)) {
    return fail("afr_ota.streamname: \"" + shown(**stream) +
                "\" is not a stream id (1 to 128 of a-z, A-Z, 0-9, '_' and '-')");
  }
  out.stream_name = std::move(*stream);

  auto file = file_field(*afr);
  if (!file) return tl::unexpected(file.error());
  out.file = std::move(*file);

  const auto listed = [&](OtaProtocol p) {
    return std::find(out.protocols.begin(), out.protocols.end(), p) != out.protocols.end();
  };
  if (listed(OtaProtocol::mqtt) && !out.stream_name) {
    return fail("afr_ota.streamname: missing; an MQTT download needs the stream's id");
  }
  if (listed(OtaProtocol::http) && !out.file.update_data_url) {
    return fail("afr_ota.files[0].update_data_url: missing; an HTTP download needs a URL");
  }

  if (const json* release = fields::find(*afr, std::string(kOtaReleaseKey).c_str())) {
    auto decoded = release_field(*release);
    if (!decoded) return tl::unexpected(decoded.error());
    out.release = std::move(*decoded);
  }
  return out;
}

json OtaJobDocument::encode() const {
  json file_out = json::object();
  if (file.file_path) file_out["filepath"] = *file.file_path;
  file_out["filesize"] = file.file_size;
  file_out["fileid"] = file.file_id;
  if (file.certificate_path) file_out["certfile"] = *file.certificate_path;
  file_out[std::string(kOtaSignatureKey)] = to_base64(file.signature);
  if (file.file_type) file_out["fileType"] = *file.file_type;
  if (file.attributes) file_out["attr"] = *file.attributes;
  if (file.update_data_url) file_out["update_data_url"] = *file.update_data_url;
  if (file.auth_scheme) file_out["auth_scheme"] = *file.auth_scheme;

  json afr = json::object();
  json protocols_out = json::array();
  for (auto protocol : protocols) protocols_out.push_back(std::string(to_string(protocol)));
  afr["protocols"] = std::move(protocols_out);
  if (stream_name) afr["streamname"] = *stream_name;
  afr["files"] = json::array({std::move(file_out)});
  if (release) {
    json release_out{{"version", release->version}};
    if (release->expires_at >= 0 && release->expires_at <= kMaxRfc3339Seconds) {
      release_out["expires"] = format_rfc3339_utc(release->expires_at);
    } else {
      // Not representable: written as a number, which decode refuses.
      release_out["expires"] = release->expires_at;
    }
    if (release->thing_name) release_out["thing"] = *release->thing_name;
    if (release->security_counter) release_out["securityCounter"] = *release->security_counter;
    afr[std::string(kOtaReleaseKey)] = std::move(release_out);
  }
  return json{{std::string(kOtaJobKey), std::move(afr)}};
}

Status OtaJobDocument::validate() const {
  auto decoded = decode(encode());
  if (!decoded) return tl::unexpected(decoded.error());
  return {};
}

Result<OtaJobDocument> decode_ota_job_document(ByteView json_text, std::size_t max_size) {
  auto document = decode_payload(json_text, PayloadFormat::json, max_size);
  if (!document) return prefixed(document.error(), "OTA job document");
  return OtaJobDocument::decode(*document);
}

Status check_ota_job_for_device(const OtaJobDocument& document, std::string_view thing_name,
                                std::int64_t now) {
  if (!document.release) {
    return fail(
        "afr_ota.ironroot: missing; an ironroot device needs the release's version and "
        "expiry");
  }
  const OtaRelease& release = *document.release;
  if (release.expires_at <= now) {
    const bool printable = now >= 0 && now <= kMaxRfc3339Seconds && release.expires_at >= 0;
    return fail("afr_ota.ironroot.expires: the job document expired at " +
                (printable ? format_rfc3339_utc(release.expires_at) + ", it is now " +
                                 format_rfc3339_utc(now)
                           : std::to_string(release.expires_at)) +
                "; ask the fleet for a fresh document");
  }
  if (release.thing_name && *release.thing_name != thing_name) {
    return fail("afr_ota.ironroot.thing: the job document is for \"" + shown(*release.thing_name) +
                "\", not for this device (\"" + shown(thing_name) + "\")");
  }
  return {};
}

std::string format_rfc3339_utc(std::int64_t seconds) {
  using namespace std::chrono;
  const sys_days day{days{seconds / 86400}};
  const std::int64_t rest = seconds % 86400;
  const year_month_day date{day};
  char text[32];
  std::snprintf(text, sizeof text, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(date.year()),
                static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                static_cast<int>(rest / 3600), static_cast<int>(rest / 60 % 60),
                static_cast<int>(rest % 60));
  return text;
}

std::optional<std::int64_t> parse_rfc3339_utc(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SSZ
  constexpr std::string_view kShape = "dddd-dd-ddTdd:dd:ddZ";
  if (text.size() != kShape.size()) return std::nullopt;
  for (std::size_t i = 0; i < kShape.size(); ++i) {
    const char c = text[i];
    if (kShape[i] == 'd' ? (c < '0' || c > '9') : c != kShape[i]) return std::nullopt;
  }
  const auto number = [&](std::size_t at, std::size_t digits) {
    int value = 0;
    for (std::size_t i = at; i < at + digits; ++i) value = value * 10 + (text[i] - '0');
    return value;
  };
  using namespace std::chrono;
  const int y = number(0, 4);
  const year_month_day date{year{y}, month{static_cast<unsigned>(number(5, 2))},
                            day{static_cast<unsigned>(number(8, 2))}};
  const int hours = number(11, 2);
  const int minutes = number(14, 2);
  const int secs = number(17, 2);
  if (y < 1970 || !date.ok() || hours > 23 || minutes > 59 || secs > 59) return std::nullopt;
  const std::int64_t day_count = sys_days{date}.time_since_epoch().count();
  return day_count * 86400 + hours * 3600 + minutes * 60 + secs;
}

}  // namespace ironroot::protocol
