#include "ota_commands.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <ctime>
#include <map>
#include <memory>

#include "cli_values.hpp"
#include "fleet_command_support.hpp"
#include "ironroot/core/file.hpp"
#include "ironroot/crypto/digest.hpp"
#include "ironroot/fleet/firmware.hpp"
#include "ironroot/image/image.hpp"
#include "ironroot/protocol/ota_job.hpp"
#include "jobs_commands.hpp"
#include "key_source.hpp"

namespace ironroot::cli {

namespace {

using nlohmann::json;

// Images larger than this are refused before they are read (as by `ironroot image`).
constexpr std::uintmax_t kMaxImageFileSize = 512ull * 1024 * 1024;
// --expires-in: at most about ten years. A document that never expires would let a withheld
// update hold a device on an old release for ever (OtaRelease::expires_at).
constexpr std::chrono::seconds kMaxExpiresIn{3660LL * 86400};
constexpr const char* kDefaultExpiresIn = "30d";
constexpr const char* kDefaultCertFile = "code-signing.pem";
constexpr const char* kDefaultFilePath = "/mcuboot/secondary";
constexpr std::size_t kFirmwareIdDigits = 64;
constexpr std::int64_t kBarWidth = 20;

constexpr const char* kCreateFooter =
    R"(The job: an AWS IoT OTA job document ("afr_ota") that AWS's OTA agents and ironroot's read:
protocols ["MQTT"], streamname (the firmware's MQTT file stream, fw-<40 hex>), files[0] with
filepath, filesize, fileid 0, certfile, fileType 0 and sig-sha256-ecdsa, and ironroot's release
object (version, expires, securityCounter, from the image).

The key: the OEM code-signing key signs both the MCUboot image and the job's file signature
(an ECDSA P-256 signature over the SHA-256 of the image file, DER, base64). --key must be the
key whose hash the image names (its KEYHASH TLV; `ironroot image getpubhash`), as a PEM private
key file or a pkcs11: URI naming the key in a token (the signature is made inside the token; its
PIN comes from the URI or IRONROOT_PKCS11_PIN). An Ed25519 key cannot make sig-sha256-ecdsa.

With --image the file is checked against --key here, then uploaded (uploading the same bytes
again is harmless); with --firmware the stored image's signing key is checked.

)";

constexpr const char* kCreateExample =
    R"(
Example:
  ironroot ota create --image app-2.0.0-signed.bin --key 'pkcs11:token=oem;object=fw-signing' \
      --targets group:lamps --max-per-minute 50 --abort FAILED:10%:20
)";

std::string key_path(const std::string& id) {
  return "/v1/code-signing-keys/" + path_segment(id);
}
std::string firmware_path(const std::string& id) {
  return "/v1/firmware/" + path_segment(id);
}
std::string job_path(const std::string& id) {
  return "/v1/jobs/" + path_segment(id);
}

bool is_firmware_id(std::string_view text) {
  return text.size() == kFirmwareIdDigits && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// A string member of an answer, or "" (ironrootd's answers are trusted to be JSON, not to be
// complete).
std::string text_of(const json& object, const char* key) {
  const json value = object.is_object() ? object.value(key, json()) : json();
  return value.is_string() ? value.get<std::string>() : std::string();
}

// The firmware id an answer names, checked: the stream id and the signature depend on it.
Result<std::string> firmware_id_of(const json& image) {
  std::string id = text_of(image, "firmwareId");
  if (!is_firmware_id(id)) return fail("ironrootd answered with a firmware id that is not 64 hex");
  return id;
}

std::string bytes_text(const json& object, const char* key) {
  std::string size = field(object, key);
  return size == "-" ? size : size + " bytes";
}

// "name (<key id>)" from a keyId -> key map; the id alone when unknown.
std::string key_label(const std::string& key_id, const std::map<std::string, json>& keys) {
  auto found = keys.find(key_id);
  if (found == keys.end()) return key_id;
  return field(found->second, "name") + " (" + key_id + ")";
}

// Every registered key by id: the names that lists and descriptions show.
Result<std::map<std::string, json>> keys_by_id(FleetClient& client) {
  auto listed = client.list("/v1/code-signing-keys", {}, std::nullopt);
  if (!listed) return tl::unexpected(listed.error());
  std::map<std::string, json> keys;
  for (const json& k : (*listed)["items"]) keys[text_of(k, "keyId")] = k;
  return keys;
}

// An image as upload and describe show it, with its stream id added ("streamName").
Result<Printed> firmware_printed(FleetClient& client, json image, const std::string& headline) {
  auto id = firmware_id_of(image);
  if (!id) return tl::unexpected(id.error());
  image["streamName"] = fleet::firmware_stream_id(*id);
  std::map<std::string, json> keys;
  const std::string key_id = text_of(image, "signingKeyId");
  if (auto key = client.get(key_path(key_id))) keys[key_id] = *key;
  std::string text =
      (headline.empty() ? std::string() : headline + "\n") +
      summary({{"firmware", *id},
               {"name", field(image, "name")},
               {"version", field(image, "version")},
               {"security counter", field(image, "securityCounter")},
               {"size", bytes_text(image, "size")},
               {"signing key", key_label(key_id, keys) +
                                   (image.value("signingKeyRevoked", false) ? ", REVOKED" : "")},
               {"image hash", field(image, "imageHash")},
               {"stream", field(image, "streamName")},
               {"description", field(image, "description")},
               {"uploaded", field(image, "uploadedAt") + " by " + field(image, "uploadedBy")}});
  return Printed{text, image};
}

// Everything an ota verb needs; the global options are read when the verb runs.
struct OtaCommands {
  CLI::App* root;
  const Output& out;
  int& exit_code;

  FleetContext context() const {
    return FleetContext{out, exit_code, std::make_shared<const FleetOptions>(fleet_options(*root))};
  }
  // A failure found before any request.
  void failure(const std::string& message) const { exit_code = out.failure(message); }
};

// ---- key ----------------------------------------------------------------------------------------

void add_key_commands(CLI::App& ota, const OtaCommands& c) {
  auto* key = ota.add_subcommand(
      "key", "Code-signing keys: the public keys whose signatures the firmware repository trusts");
  key->require_subcommand(1);
  {
    struct Args {
      std::string name, key;
    };
    auto a = std::make_shared<Args>();
    auto* cmd = key->add_subcommand("register",
                                    "Register a code-signing key (only its public half is sent)");
    cmd->add_option("--name", a->name, "A name for the key: 1 to 128 of [a-zA-Z0-9._+-]")
        ->required();
    cmd->add_option("--key", a->key,
                    "The key: a PEM public key, a PEM private key file (its public half is "
                    "sent) or a pkcs11: URI")
        ->required();
    cmd->callback([a, c] {
      auto public_key = open_public_key(a->key);
      if (!public_key) return c.failure(public_key.error().message);
      c.context().run([&](FleetClient& client) -> Result<Printed> {
        auto registered = client.post("/v1/code-signing-keys",
                                      {{"name", a->name}, {"publicKeyPem", public_key->pem()}});
        if (!registered) return tl::unexpected(registered.error());
        return Printed{"registered code-signing key " + field(*registered, "name") + " (" +
                           field(*registered, "type") + "): " + field(*registered, "keyId"),
                       *registered};
      });
    });
  }
  {
    auto limit = std::make_shared<std::size_t>(0);
    auto* cmd = key->add_subcommand("list", "List code-signing keys in id order");
    add_limit_option(*cmd, *limit);
    cmd->callback([limit, c] {
      c.context().run([&](FleetClient& client) -> Result<Printed> {
        auto listed = client.list("/v1/code-signing-keys", {}, limit_of(*limit));
        if (!listed) return tl::unexpected(listed.error());
        std::vector<std::vector<std::string>> rows;
        for (const json& k : (*listed)["items"]) {
          rows.push_back({field(k, "keyId"), field(k, "name"), field(k, "type"), field(k, "status"),
                          field(k, "createdAt")});
        }
        return Printed{table({"KEY", "NAME", "TYPE", "STATUS", "CREATED"}, rows), *listed};
      });
    });
  }
  {
    auto id = std::make_shared<std::string>();
    auto* cmd = key->add_subcommand(
        "revoke", "Revoke a code-signing key (final): images it signs are refused from now on");
    cmd->add_option("id", *id, "Key id: the SHA-256 of the public key, 64 hex digits")->required();
    cmd->callback([id, c] {
      c.context().run([&](FleetClient& client) -> Result<Printed> {
        auto revoked = client.put(key_path(*id) + "/revoke");
        if (!revoked) return tl::unexpected(revoked.error());
        return Printed{"revoked code-signing key " + field(*revoked, "name") + " (" +
                           field(*revoked, "keyId") +
                           "): new uploads it signed are refused; images it signed stay listed, "
                           "flagged",
                       *revoked};
      });
    });
  }
}

// ---- firmware -----------------------------------------------------------------------------------

void add_upload(CLI::App& ota, const OtaCommands& c) {
  struct Args {
    std::string image, name, description;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = ota.add_subcommand(
      "upload", "Upload a signed MCUboot image to the firmware repository (checked there)");
  cmd->add_option("image", a->image, "The signed image file (not padded)")->required();
  cmd->add_option("--name", a->name, "A label for the image: 1 to 128 of [a-zA-Z0-9._+-]");
  cmd->add_option("--description", a->description, "What the image is");
  cmd->callback([a, c] {
    auto bytes = read_file(a->image, kMaxImageFileSize);
    if (!bytes) return c.failure(bytes.error().message);
    Query query;
    if (!a->name.empty()) query.emplace_back("name", a->name);
    if (!a->description.empty()) query.emplace_back("description", a->description);
    c.context().run([&](FleetClient& client) -> Result<Printed> {
      auto uploaded = client.post_bytes("/v1/firmware", query, *bytes);
      if (!uploaded) return prefixed(uploaded.error(), a->image);
      return firmware_printed(client, *uploaded, "uploaded " + a->image);
    });
  });
}

void add_list(CLI::App& ota, const OtaCommands& c) {
  struct Args {
    std::string order = "newest";
    std::size_t limit = 0;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = ota.add_subcommand("list", "List the images in the firmware repository");
  cmd->add_option("--order", a->order, "newest: latest upload first; version: highest first")
      ->check(CLI::IsMember({"newest", "version"}))
      ->capture_default_str();
  add_limit_option(*cmd, a->limit);
  cmd->callback([a, c] {
    c.context().run([&](FleetClient& client) -> Result<Printed> {
      auto listed = client.list("/v1/firmware", {{"order", a->order}}, limit_of(a->limit));
      if (!listed) return tl::unexpected(listed.error());
      auto keys = keys_by_id(client);
      if (!keys) return tl::unexpected(keys.error());
      std::vector<std::vector<std::string>> rows;
      for (const json& f : (*listed)["items"]) {
        auto key = keys->find(text_of(f, "signingKeyId"));
        std::string signer =
            key == keys->end() ? field(f, "signingKeyId") : field(key->second, "name");
        if (f.value("signingKeyRevoked", false)) signer += " (REVOKED)";
        rows.push_back({field(f, "firmwareId"), field(f, "name"), field(f, "version"),
                        field(f, "securityCounter"), field(f, "size"), signer,
                        field(f, "uploadedAt")});
      }
      return Printed{
          table({"FIRMWARE", "NAME", "VERSION", "SEC CNT", "SIZE", "SIGNED BY", "UPLOADED"}, rows),
          *listed};
    });
  });
}

void add_describe(CLI::App& ota, const OtaCommands& c) {
  auto id = std::make_shared<std::string>();
  auto* cmd = ota.add_subcommand("describe", "Show an image of the firmware repository");
  cmd->add_option("id", *id, "Firmware id: the SHA-256 of the image file, 64 hex digits")
      ->required();
  cmd->callback([id, c] {
    c.context().run([&](FleetClient& client) -> Result<Printed> {
      auto image = client.get(firmware_path(*id));
      if (!image) return tl::unexpected(image.error());
      return firmware_printed(client, *image, "");
    });
  });
}

void add_delete(CLI::App& ota, const OtaCommands& c) {
  auto id = std::make_shared<std::string>();
  auto* cmd = ota.add_subcommand(
      "delete", "Delete an image (jobs that name it fail on the devices that fetch it later)");
  cmd->add_option("id", *id, "Firmware id (64 hex digits)")->required();
  cmd->callback([id, c] {
    c.context().run([&](FleetClient& client) -> Result<Printed> {
      auto deleted = client.remove(firmware_path(*id));
      if (!deleted) return tl::unexpected(deleted.error());
      return Printed{"deleted firmware " + *id, {{"firmwareId", *id}, {"deleted", true}}};
    });
  });
}

// ---- create -------------------------------------------------------------------------------------

// The key an image names (its unprotected KEYHASH TLV, or the hash of its PUBKEY TLV), as hex;
// empty when it names none.
std::string image_key_hash(const image::ImageView& view) {
  for (const image::Tlv& t : view.tlvs) {
    if (t.is_protected) continue;
    if (t.type == image::tlv::kKeyHash) return to_hex(t.value);
    if (t.type == image::tlv::kPubKey) return to_hex(crypto::sha256(t.value));
  }
  return "";
}

std::string not_the_signer(const std::string& what, const std::string& signer,
                           const std::string& key, const std::string& key_hash) {
  return what + " is signed by key " + signer + ", not by " + key + " (key hash " + key_hash +
         "): the OEM key that signed the image must sign the OTA job too";
}

// "ota-1_2_3_0-ab12cd34-20250102T030405": the release, the image and when.
std::string generated_job_id(const std::string& version, const std::string& firmware_id,
                             std::int64_t now) {
  std::string id = "ota-";
  for (char ch : version) id += (ch == '.' || ch == '+') ? '_' : ch;
  std::string at = protocol::format_rfc3339_utc(now);  // YYYY-MM-DDTHH:MM:SSZ
  at.erase(std::remove_if(at.begin(), at.end(), [](char ch) { return ch == '-' || ch == ':'; }),
           at.end());
  at.pop_back();  // 'Z'
  return id + "-" + firmware_id.substr(0, 8) + "-" + at;
}

struct CreateArgs {
  std::string image, firmware, key, job_id,
      expires_in = kDefaultExpiresIn, certfile = kDefaultCertFile, filepath = kDefaultFilePath,
      protocols = "MQTT", download_url;
  JobRolloutArgs rollout;
};

// What create works out before it talks to ironrootd.
struct CreatePlan {
  json fields;  // the rollout's POST /v1/jobs fields
  std::chrono::seconds expires_in{};
  std::unique_ptr<crypto::Signer> signer;
  std::string key_hash;                          // of --key
  Bytes image;                                   // --image's bytes (empty with --firmware)
  std::optional<Bytes> signature;                // over --image's bytes, made before the upload
  std::vector<protocol::OtaProtocol> protocols;  // --protocols, in order of preference
};

// --protocols: MQTT, HTTP, or both, comma-separated, each once, in order of preference (AWS's job
// parser takes the first).
Result<std::vector<protocol::OtaProtocol>> parse_protocols(const std::string& text) {
  std::vector<protocol::OtaProtocol> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = text.find(',', start);
    const std::string name = text.substr(start, comma == std::string::npos ? comma : comma - start);
    auto protocol = protocol::parse_ota_protocol(name);
    if (!protocol) return fail("'" + name + "' is not MQTT or HTTP");
    if (std::find(out.begin(), out.end(), *protocol) != out.end()) {
      return fail(name + " is listed twice");
    }
    out.push_back(*protocol);
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}

// The options' values that are wrong whatever the server holds (usage errors).
Result<CreatePlan> plan_create(const CreateArgs& a) {
  if (a.image.empty() == a.firmware.empty()) return fail("give --image FILE or --firmware ID");
  if (!a.firmware.empty() && !is_firmware_id(a.firmware)) {
    return fail("--firmware '" + a.firmware +
                "' must be a firmware id: 64 lower-case hex digits (ironroot ota list)");
  }
  CreatePlan plan;
  auto expires_in = parse_duration(a.expires_in, kMaxExpiresIn);
  if (!expires_in) return prefixed(expires_in.error(), "--expires-in");
  plan.expires_in = *expires_in;
  if (a.certfile.empty()) return fail("--certfile must not be empty");
  if (a.filepath.empty()) return fail("--filepath must not be empty");
  auto protocols = parse_protocols(a.protocols);
  if (!protocols) return prefixed(protocols.error(), "--protocols");
  plan.protocols = std::move(*protocols);
  const bool http = std::find(plan.protocols.begin(), plan.protocols.end(),
                              protocol::OtaProtocol::http) != plan.protocols.end();
  if (http && a.download_url.empty()) {
    return fail(
        "--protocols with HTTP needs --download-url: ironrootd's download URL (its "
        "[download] url, which it logs at start-up)");
  }
  if (!http && !a.download_url.empty()) return fail("--download-url needs HTTP in --protocols");
  if (http && !a.download_url.starts_with("https://")) {
    return fail("--download-url '" + a.download_url + "' must start with https://");
  }
  auto fields = job_rollout_fields(a.rollout);
  if (!fields) return tl::unexpected(fields.error());
  plan.fields = std::move(*fields);
  return plan;
}

// Opens --key, which must be ECDSA P-256, and with --image checks here that --key signed it and
// signs the file, so that nothing is uploaded for a job that cannot be made.
Status prepare_signing(const CreateArgs& a, CreatePlan& plan) {
  auto signer = open_signer(a.key);
  if (!signer) return tl::unexpected(signer.error());
  plan.signer = std::move(*signer);
  const crypto::PublicKey& key = plan.signer->public_key();
  plan.key_hash = to_hex(key.key_hash());
  if (key.type() != crypto::KeyType::ecdsa_p256) {
    return fail(a.key + " is an " + std::string(crypto::key_type_name(key.type())) +
                " key; the OTA job's file signature is sig-sha256-ecdsa (ECDSA P-256 over the "
                "SHA-256 of the file), so the image and the job must be signed with an ECDSA "
                "P-256 key (ironroot image keygen -t ecdsa-p256)");
  }
  if (a.image.empty()) return {};

  auto bytes = read_file(a.image, kMaxImageFileSize);
  if (!bytes) return tl::unexpected(bytes.error());
  plan.image = std::move(*bytes);
  const std::vector<crypto::PublicKey> trusted = {key};
  auto verified = image::verify_image(plan.image, trusted);
  if (!verified) {
    auto parsed = image::parse_image(plan.image);
    std::string signer_hash = parsed ? image_key_hash(*parsed) : "";
    if (verified.error().fault == image::ImageFault::key_not_trusted && !signer_hash.empty()) {
      return fail(not_the_signer(a.image, signer_hash, a.key, plan.key_hash));
    }
    return fail(a.image + ": " + verified.error().message);
  }
  auto signature = plan.signer->sign_digest(crypto::sha256(plan.image));
  if (!signature) return prefixed(signature.error(), "signing with " + a.key);
  plan.signature = std::move(*signature);
  return {};
}

// The stored image the job delivers: uploaded from --image, or --firmware's record, checked to
// be signed by --key with an active key.
Result<json> firmware_for_job(FleetClient& client, const CreateArgs& a, const CreatePlan& plan) {
  json image;
  if (!a.image.empty()) {
    auto uploaded = client.post_bytes("/v1/firmware", {}, plan.image);
    if (!uploaded) return prefixed(uploaded.error(), a.image);
    image = std::move(*uploaded);
    auto id = firmware_id_of(image);
    if (!id) return tl::unexpected(id.error());
    if (*id != to_hex(crypto::sha256(plan.image))) {
      return fail("ironrootd stored " + a.image + " as firmware " + *id +
                  ", which is not the SHA-256 of the file");
    }
  } else {
    auto described = client.get(firmware_path(a.firmware));
    if (!described) return tl::unexpected(described.error());
    image = std::move(*described);
    auto id = firmware_id_of(image);
    if (!id) return tl::unexpected(id.error());
    if (*id != a.firmware) {
      return fail("ironrootd answered firmware " + *id + " for " + a.firmware);
    }
  }
  const std::string what = a.image.empty() ? "firmware " + a.firmware : a.image;
  const std::string signer = text_of(image, "signingKeyId");
  if (signer != plan.key_hash) return fail(not_the_signer(what, signer, a.key, plan.key_hash));
  if (image.value("signingKeyRevoked", false)) {
    return fail(what + " is signed by code-signing key " + signer +
                ", which is revoked: sign the image with an active key and upload it again");
  }
  return image;
}

// The afr_ota document for `image`, signed: the file signature is ECDSA over the SHA-256 of the
// file, which is the image's firmware id.
Result<protocol::OtaJobDocument> ota_document(const json& image, const CreateArgs& a,
                                              CreatePlan& plan, std::int64_t now) {
  const std::string id = text_of(image, "firmwareId");
  auto digest_bytes = from_hex(id);
  crypto::Sha256Digest digest{};
  std::copy(digest_bytes->begin(), digest_bytes->end(), digest.begin());
  Bytes signature;
  if (plan.signature) {
    signature = *plan.signature;
  } else {
    auto made = plan.signer->sign_digest(digest);
    if (!made) return prefixed(made.error(), "signing with " + a.key);
    signature = std::move(*made);
  }
  if (auto ok = plan.signer->public_key().verify_digest(digest, signature); !ok) {
    return prefixed(ok.error(), "the signature " + a.key + " made does not verify");
  }
  const json size = image.value("size", json());
  const json counter = image.value("securityCounter", json());
  if (!size.is_number_integer()) return fail("ironrootd answered an image without its size");

  protocol::OtaJobDocument document;
  document.protocols = plan.protocols;
  // The stream names the image even for HTTP alone: the download listener authorizes by it.
  document.stream_name = fleet::firmware_stream_id(id);
  if (!a.download_url.empty()) {
    document.file.update_data_url =
        fleet::firmware_download_url(a.download_url, *document.stream_name);
    document.file.auth_scheme = std::string(fleet::kFirmwareDownloadAuthScheme);
  }
  document.file.file_path = a.filepath;
  document.file.file_size = size.get<std::int64_t>();
  document.file.file_id = 0;
  document.file.certificate_path = a.certfile;
  document.file.signature = std::move(signature);
  document.file.file_type = 0;
  protocol::OtaRelease release;
  release.version = text_of(image, "version");
  release.expires_at = now + plan.expires_in.count();
  if (counter.is_number_integer()) release.security_counter = counter.get<std::int64_t>();
  document.release = std::move(release);
  if (auto valid = document.validate(); !valid) {
    return prefixed(valid.error(), "the OTA job document");
  }
  return document;
}

void add_create(CLI::App& ota, const OtaCommands& c) {
  auto a = std::make_shared<CreateArgs>();
  auto* cmd = ota.add_subcommand(
      "create", "Create an OTA job: sign the job document with the OEM key and roll it out");
  auto* image_option = cmd->add_option(
      "--image", a->image, "A signed MCUboot image file: checked against --key, uploaded");
  cmd->add_option("--firmware", a->firmware, "Or an image already uploaded, by its firmware id")
      ->excludes(image_option);
  cmd->add_option("--key", a->key,
                  "The OEM code-signing key that signed the image: a PEM private key file or a "
                  "pkcs11: URI")
      ->required();
  cmd->add_option("--job-id", a->job_id,
                  "Job id: 1 to 64 of [a-zA-Z0-9_-] (default: ota-VERSION-FIRMWARE-TIME)");
  cmd->add_option("--expires-in", a->expires_in,
                  "Devices refuse the job document after this long: N and s, m, h, d or w")
      ->capture_default_str();
  cmd->add_option("--certfile", a->certfile,
                  "files[0].certfile: the verification certificate's path on the device")
      ->capture_default_str();
  cmd->add_option("--filepath", a->filepath, "files[0].filepath: where the device writes the image")
      ->capture_default_str();
  cmd->add_option("--protocols", a->protocols,
                  "MQTT (file streams), HTTP (ironrootd's HTTPS download with mutual TLS), or both "
                  "in order of preference: MQTT,HTTP")
      ->capture_default_str();
  cmd->add_option(
      "--download-url", a->download_url,
      "With HTTP: ironrootd's download base URL, https://HOST:PORT (its [download] url)");
  add_job_rollout_options(*cmd, a->rollout);
  cmd->footer(std::string(kCreateFooter) + kJobRolloutHelp + kCreateExample);
  cmd->callback([a, c] {
    auto plan = plan_create(*a);
    if (!plan) return c.context().usage_error(plan.error().message);
    if (auto ready = prepare_signing(*a, *plan); !ready) return c.failure(ready.error().message);
    c.context().run([&](FleetClient& client) -> Result<Printed> {
      auto image = firmware_for_job(client, *a, *plan);
      if (!image) return tl::unexpected(image.error());
      const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count();
      auto document = ota_document(*image, *a, *plan, now);
      if (!document) return tl::unexpected(document.error());
      const std::string firmware_id = text_of(*image, "firmwareId");
      const std::string version = document->release->version;
      json body = plan->fields;
      body["jobId"] = a->job_id.empty() ? generated_job_id(version, firmware_id, now) : a->job_id;
      body["document"] = document->encode();
      if (!body.contains("description")) {
        body["description"] = "OTA update to firmware " + version + " (" + firmware_id + ")";
      }
      auto created = client.post("/v1/jobs", body);
      if (!created) return tl::unexpected(created.error());
      json shown = *created;
      shown["firmware"] = *image;
      return Printed{"created OTA job " + field(*created, "jobId") + ": firmware " + version +
                         " (" + firmware_id + ") to " +
                         std::to_string(job_count(*created, "numberOfTargetedThings")) +
                         " things; the document expires " +
                         protocol::format_rfc3339_utc(document->release->expires_at),
                     shown};
    });
  });
}

// ---- status -------------------------------------------------------------------------------------

// "x/y" (AWS's OTA agents report blocks received of the file's blocks in "receive").
std::optional<std::pair<std::int64_t, std::int64_t>> receive_progress(const std::string& text) {
  const std::size_t slash = text.find('/');
  if (slash == std::string::npos) return std::nullopt;
  auto number = [](std::string_view digits) -> std::optional<std::int64_t> {
    std::int64_t value = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || value < 0) {
      return std::nullopt;
    }
    return value;
  };
  auto done = number(std::string_view(text).substr(0, slash));
  auto total = number(std::string_view(text).substr(slash + 1));
  if (!done || !total || *total == 0 || *done > *total) return std::nullopt;
  return std::pair{*done, *total};
}

std::string bar_text(std::int64_t done, std::int64_t total) {
  const std::int64_t filled = done * kBarWidth / total;
  return "[" + std::string(static_cast<std::size_t>(filled), '#') +
         std::string(static_cast<std::size_t>(kBarWidth - filled), '-') + "] " +
         std::to_string(done) + "/" + std::to_string(total);
}

// One device: its latest execution of the job, and what its OTA agent reported.
json device_json(const json& execution) {
  json details = execution.value("statusDetails", json::object()).value("detailsMap", json());
  if (!details.is_object()) details = json::object();
  json device = {{"thingName", execution.value("thingName", json())},
                 {"status", execution.value("status", json())},
                 {"executionNumber", execution.value("executionNumber", json())},
                 {"retryAttempt", execution.value("retryAttempt", json())},
                 {"lastUpdatedAt", execution.value("lastUpdatedAt", json())},
                 {"statusDetails", details}};
  if (auto receive = receive_progress(text_of(details, "receive"))) {
    device["received"] = receive->first;
    device["total"] = receive->second;
  }
  if (details.contains("self_test")) device["selfTest"] = details["self_test"];
  if (details.contains("reason")) device["reason"] = details["reason"];
  return device;
}

// A snapshot of an OTA job: the release it delivers, the counts per status, and each device.
Result<json> status_snapshot(FleetClient& client, const json& job) {
  const std::string id = text_of(job, "jobId");
  auto document = protocol::OtaJobDocument::decode(job.value("document", json::object()));
  if (!document) {
    return fail("job " + id + " is not an OTA job: " + document.error().message +
                " (ironroot jobs describe shows any job)");
  }
  json release = {{"streamName", document->stream_name.value_or("")},
                  {"fileSize", document->file.file_size}};
  if (document->release) {
    release["version"] = document->release->version;
    release["expires"] = protocol::format_rfc3339_utc(document->release->expires_at);
    if (document->release->security_counter) {
      release["securityCounter"] = *document->release->security_counter;
    }
  }
  auto executions = client.list(job_path(id) + "/executions", {}, std::nullopt);
  if (!executions) return tl::unexpected(executions.error());
  std::map<std::string, json> latest;  // by thing name: the execution with the highest number
  for (const json& e : (*executions)["items"]) {
    const std::string thing = text_of(e, "thingName");
    auto found = latest.find(thing);
    if (found == latest.end() ||
        e.value("executionNumber", 0) > found->second.value("executionNumber", 0)) {
      latest[thing] = e;
    }
  }
  json devices = json::array();
  for (const auto& [thing, execution] : latest) devices.push_back(device_json(execution));
  return json{{"jobId", id},
              {"status", job.value("status", json())},
              {"release", std::move(release)},
              {"jobProcessDetails", job.value("jobProcessDetails", json::object())},
              {"devices", std::move(devices)}};
}

std::string status_text(const json& snapshot, const json& job) {
  const json& release = snapshot["release"];
  std::string firmware = field(release, "version") + " from stream " +
                         field(release, "streamName") + ", " + bytes_text(release, "fileSize");
  if (release.contains("securityCounter")) {
    firmware += ", security counter " + field(release, "securityCounter");
  }
  std::vector<std::vector<std::string>> rows;
  for (const json& d : snapshot["devices"]) {
    const bool receiving = d.contains("received");
    rows.push_back(
        {field(d, "thingName"), field(d, "status"),
         receiving ? bar_text(d["received"].get<std::int64_t>(), d["total"].get<std::int64_t>())
                   : "-",
         field(d, "selfTest"), field(d, "reason"), field(d, "lastUpdatedAt")});
  }
  return summary({{"job", field(snapshot, "jobId")},
                  {"status", field(snapshot, "status")},
                  {"firmware", firmware},
                  {"expires", field(release, "expires")},
                  {"progress", job_progress_text(job)}}) +
         "\n" +
         table({"THING", "STATUS", "DOWNLOAD (BLOCKS)", "SELF TEST", "REASON", "UPDATED"}, rows);
}

void add_status(CLI::App& ota, const OtaCommands& c) {
  struct Args {
    std::string job_id;
    JobWaitOptions wait;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = ota.add_subcommand(
      "status", "Show an OTA job's progress: counts per status, and each device's download");
  cmd->add_option("job", a->job_id, "Job id")->required();
  add_job_wait_options(*cmd, a->wait,
                       "Follow the job until it ends, redrawing every device's progress");
  cmd->footer(
      R"(Each device's line comes from its latest execution's statusDetails, as AWS's OTA agents
report them: "receive" (blocks received/blocks in the file) as a progress bar, "self_test", and
"reason" when it failed.

)" + std::string(kJobWaitHelp) +
      "With --watch the live view is drawn on stderr (a terminal); the final snapshot goes to "
      "stdout.\n");
  cmd->callback([a, c] {
    if (!a->wait.wait) {
      c.context().run([&](FleetClient& client) -> Result<Printed> {
        auto job = client.get(job_path(a->job_id));
        if (!job) return tl::unexpected(job.error());
        auto snapshot = status_snapshot(client, *job);
        if (!snapshot) return tl::unexpected(snapshot.error());
        return Printed{status_text(*snapshot, *job), *snapshot};
      });
      return;
    }
    const bool live_enabled = ProgressLine::enabled_for(c.out);
    c.context().run_and_check([&](FleetClient& client, std::string& failure) -> Result<Printed> {
      LiveText live(live_enabled);
      json snapshot;
      auto watched = watch_job(client, a->job_id, a->wait, [&](const json& job) -> Status {
        auto looked = status_snapshot(client, job);
        if (!looked) return tl::unexpected(looked.error());
        snapshot = std::move(*looked);
        live.draw(status_text(snapshot, job));
        return {};
      });
      live.clear();
      if (!watched) return tl::unexpected(watched.error());
      failure = watched->failure;
      return Printed{status_text(snapshot, watched->job), snapshot};
    });
  });
}

}  // namespace

void add_ota_commands(CLI::App& app, const Output& out, int& exit_code) {
  auto* ota = app.add_subcommand(
      "ota",
      "OTA updates: code-signing keys, the firmware repository, OTA jobs and their progress");
  ota->require_subcommand(1);
  const OtaCommands commands{&app, out, exit_code};
  add_key_commands(*ota, commands);
  add_upload(*ota, commands);
  add_list(*ota, commands);
  add_describe(*ota, commands);
  add_delete(*ota, commands);
  add_create(*ota, commands);
  add_status(*ota, commands);
}

}  // namespace ironroot::cli
