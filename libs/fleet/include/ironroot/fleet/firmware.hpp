// The fleet's firmware repository: the code-signing keys an operator trusts, and the signed
// MCUboot images uploaded for OTA, each verified against those keys before it is kept.
// docs/firmware-repository.md gives the rules and why.
//
// Records live in the registry's SQLite database (registry.hpp); image bytes live in a content
// folder, one file per image named by the SHA-256 of its bytes (<content>/sha256/<64 hex>). An
// image's file is written durably (temporary file, fsync, rename, fsync of the folder) before its
// record is committed, so a committed record always has its file; a file without a record (a
// crash between the two) is harmless and is reused by the next upload of the same image.
//
// Every change runs in one write transaction together with its audit row (the registry's audit
// log). A refused or failed call changes nothing. A FirmwareStore is one connection: use it from
// one thread at a time; several connections (a Registry, JobStores, other processes) may share the
// database file and the content folder.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "ironroot/core/bytes.hpp"
#include "ironroot/core/result.hpp"
#include "ironroot/core/unique_fd.hpp"
#include "ironroot/crypto/key.hpp"
#include "ironroot/fleet/database.hpp"
#include "ironroot/fleet/records.hpp"
#include "ironroot/fleet/registry.hpp"
#include "ironroot/image/format.hpp"

namespace ironroot::fleet {

// Enough for the debug build of the reference firmware (tens of MB under the sanitizers) and for
// application-processor images; MCU images are far smaller.
inline constexpr std::uint64_t kDefaultMaxFirmwareSize = 64 * 1024 * 1024;
inline constexpr std::size_t kMaxFirmwareNameLength = 128;
inline constexpr std::size_t kMaxFirmwareDescriptionLength = 2028;
inline constexpr std::size_t kMaxCodeSigningKeyNameLength = 128;
// The most FirmwareContent::read_range returns at once.
inline constexpr std::size_t kMaxFirmwareReadLength = 1024 * 1024;

// The MQTT file stream that serves an image (the OTA job document's streamname): "fw-" and the
// first 40 hex digits (160 bits) of the image's id, 43 characters in all, short enough for the
// stream-name and topic buffers of AWS's device libraries.
inline constexpr std::string_view kFirmwareStreamPrefix = "fw-";
inline constexpr std::size_t kFirmwareStreamIdDigits = 40;
// REQUIRES: `image_id` is 64 lower-case hex digits (a FirmwareImage id).
std::string firmware_stream_id(std::string_view image_id);
// The id prefix (40 lower-case hex digits) that a firmware stream id names; nullopt for any
// other string.
std::optional<std::string> firmware_id_prefix_of_stream(std::string_view stream_id);

// The HTTPS download of a firmware stream's image (ironrootd's download listener,
// docs/ota-download.md), for an OTA job document's HTTP form: files[0].update_data_url is
// firmware_download_url(<the listener's public base URL>, <stream id>), that is
// "<base>/ota/streams/<stream id>", and files[0].auth_scheme is kFirmwareDownloadAuthScheme (the
// device authenticates with its certificate, mutual TLS; the URL carries no secret).
inline constexpr std::string_view kFirmwareDownloadPath = "/ota/streams/";
inline constexpr std::string_view kFirmwareDownloadAuthScheme = "ironroot.mtls";
// `base_url` without a trailing slash ("https://fleet.example:8885"); one is dropped.
std::string firmware_download_url(std::string_view base_url, std::string_view stream_id);

// ACTIVE: images it signed are accepted. REVOKED (final): new uploads it signed are refused;
// images already uploaded stay listed, flagged (FirmwareImage::signing_key_revoked).
enum class CodeSigningKeyStatus { active, revoked };
std::string_view code_signing_key_status_name(CodeSigningKeyStatus status);  // "ACTIVE", ...
std::optional<CodeSigningKeyStatus> parse_code_signing_key_status(std::string_view name);

// A public key that signs firmware: ECDSA P-256 (ironroot's default) or Ed25519, the signature
// types libs/image verifies.
struct CodeSigningKey {
  // Lower-case hex SHA-256 of the key's DER SubjectPublicKeyInfo: MCUboot's KEYHASH, what
  // `ironroot image getpubhash` prints and what devices fuse.
  std::string id;
  std::string name;        // 1 to 128 of [a-zA-Z0-9._+-], unique
  crypto::KeyType type{};  // ecdsa_p256 or ed25519
  std::string pem;         // the public key, PEM "PUBLIC KEY"
  CodeSigningKeyStatus status = CodeSigningKeyStatus::active;
  Time created_at{};
  std::optional<Time> revoked_at;

  friend bool operator==(const CodeSigningKey&, const CodeSigningKey&) = default;
};

struct NewCodeSigningKey {
  std::string name;
  std::string
      public_key_pem;  // one PEM public key, at most kMaxPemLength bytes; never a private key
};

// One uploaded image, as its MCUboot header and TLVs describe it.
struct FirmwareImage {
  std::string id;  // lower-case hex SHA-256 of the whole file: its name in the content folder
  std::optional<std::string> name;         // the operator's label, 1 to 128 of [a-zA-Z0-9._+-]
  std::optional<std::string> description;  // check_text, at most 2028 bytes
  image::ImageVersion version;             // the header's major.minor.revision+build
  std::optional<std::uint32_t> security_counter;  // the protected SEC_CNT TLV, when present
  std::string image_hash;                         // the SHA256 TLV (MCUboot's image hash), hex
  std::string signing_key_id;                     // the CodeSigningKey whose signature verified
  bool signing_key_revoked = false;               // that key is REVOKED now
  std::uint64_t size = 0;                         // bytes in the file
  std::uint32_t load_addr = 0;                    // header load_addr
  std::uint32_t flags = 0;                        // header flags (IMAGE_F_*)
  Time uploaded_at{};
  std::string uploaded_by;

  friend bool operator==(const FirmwareImage&, const FirmwareImage&) = default;
};

struct FirmwareUpload {
  std::optional<std::string> name;
  std::optional<std::string> description;
};

struct UploadedFirmware {
  FirmwareImage image;
  // false: the same bytes were uploaded before, and `image` is that record, unchanged (the name
  // and description of this upload are not applied).
  bool created = true;
};

enum class FirmwareOrder {
  newest_first,  // by upload, the latest first
  by_version,    // highest version first (major, minor, revision, build), then newest first
};

struct FirmwareStoreOptions {
  std::uint64_t max_image_size = kDefaultMaxFirmwareSize;  // per upload; at least 1
  DatabaseOptions database;
};

// An image's bytes, opened and checked: the file's SHA-256 matched the image's id when it was
// opened, and reads come from that same open file, so replacing the file afterwards does not
// change what is served. Movable; holds the file open.
class FirmwareContent {
 public:
  const FirmwareImage& image() const { return image_; }
  std::uint64_t size() const { return image_.size; }

  // Up to `length` bytes from `offset`: fewer only at the end of the image. Refused (invalid):
  // offset at or past the end, length 0 or over kMaxFirmwareReadLength. A file that shrank since
  // it was opened is an internal error.
  RegistryResult<Bytes> read_range(std::uint64_t offset, std::size_t length) const;

 private:
  friend class FirmwareStore;
  FirmwareContent(FirmwareImage image, UniqueFd fd)
      : image_(std::move(image)), fd_(std::move(fd)) {}

  FirmwareImage image_;
  UniqueFd fd_;
};

class FirmwareStore {
 public:
  using Clock = Registry::Clock;

  // Opens (or creates) the registry database at `database` (bringing its schema up to date) on a
  // connection of its own, and the content folder `content_dir` (created with its sha256/
  // folder when missing). Temporary files that an interrupted write left in the content folder
  // for more than kStaleTemporaryAge are removed (younger ones may belong to another process's
  // upload in progress; they are never read either way). Default clock: the system clock.
  static RegistryResult<FirmwareStore> open(const std::filesystem::path& database,
                                            const std::filesystem::path& content_dir,
                                            Clock clock = nullptr,
                                            const FirmwareStoreOptions& options = {});
  static constexpr std::chrono::minutes kStaleTemporaryAge{10};

  std::uint64_t max_image_size() const { return options_.max_image_size; }
  // Where the image with this id is (or would be) kept. REQUIRES: `id` is 64 lower-case hex.
  std::filesystem::path content_path(std::string_view id) const;

  // --- Code-signing keys (actor: who, as the audit log shows it; check_actor) ---

  // Refused: a bad name, a PEM that is not one ECDSA P-256 or Ed25519 public key, a private key
  // (invalid); the same key, or a key of that name, registered already (already_exists).
  RegistryResult<CodeSigningKey> register_key(std::string_view actor, const NewCodeSigningKey& key);
  // `id`: 64 hex digits, either case.
  RegistryResult<CodeSigningKey> describe_key(std::string_view id);
  // In id order.
  RegistryResult<Listing<CodeSigningKey>> list_keys(const Page& page);
  // The key becomes REVOKED. Revoking a revoked key returns it unchanged (no audit row).
  RegistryResult<CodeSigningKey> revoke_key(std::string_view actor, std::string_view id);

  // --- Firmware images ---

  // Checks and keeps an image. Refused (invalid): empty or over max_image_size(); not an MCUboot
  // image (the parser's reason); bytes after the image's TLV area; no signature; signed by a key
  // that is not registered, with a signature that does not verify, or with an image hash that
  // does not match (libs/image's reason). Refused (conflict): signed by a REVOKED key. The same
  // bytes uploaded again return the existing record (created = false), after rewriting its file
  // if the stored one is missing or damaged.
  RegistryResult<UploadedFirmware> upload(std::string_view actor, ByteView bytes,
                                          const FirmwareUpload& options = {});
  RegistryResult<FirmwareImage> describe(std::string_view id);
  RegistryResult<Listing<FirmwareImage>> list(const Page& page,
                                              FirmwareOrder order = FirmwareOrder::newest_first);
  // Deletes the record and then its file, under the database's write lock (so that a
  // concurrent upload of the same bytes cannot lose its file). Jobs that name the image are not
  // checked: a device told to fetch it afterwards is refused by the stream service.
  RegistryResult<void> remove(std::string_view actor, std::string_view id);

  // Opens the image's file and checks that its SHA-256 is the image's id and its size the
  // record's, reading it in bounded blocks. Refused: no such image (not_found); a missing,
  // altered or truncated file (internal, naming the file and saying how to repair it).
  RegistryResult<FirmwareContent> open_content(std::string_view id);

  // --- MQTT file streams (docs/ota-streams.md) ---

  // The image a firmware stream serves: the image whose id starts with the 40 hex digits that
  // `stream_id` names (firmware_id_prefix_of_stream). Refused (not_found): a stream id that is
  // not a firmware stream's, or no such image (never uploaded, or deleted since). One indexed
  // query; reads no image bytes.
  RegistryResult<FirmwareImage> describe_stream(std::string_view stream_id);
  // describe_stream, then open_content: the checked bytes the stream serves. Hashes the whole
  // file, so a server keeps what it opened rather than calling this per request.
  RegistryResult<FirmwareContent> open_stream(std::string_view stream_id);

 private:
  FirmwareStore(Database db, std::filesystem::path content_dir, Clock clock,
                FirmwareStoreOptions options)
      : db_(std::move(db)),
        content_dir_(std::move(content_dir)),
        clock_(std::move(clock)),
        options_(options) {}

  Database db_;
  std::filesystem::path content_dir_;
  Clock clock_;
  FirmwareStoreOptions options_;
};

}  // namespace ironroot::fleet
