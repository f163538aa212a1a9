// The firmware repository's images: the content folder, upload (parse, verify against the
// registered keys, store the file, then commit the record), listing, deletion and checked reads.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <system_error>

#include "firmware_internal.hpp"
#include "ironroot/core/file.hpp"
#include "ironroot/image/image.hpp"
#include "ironroot/protocol/streams.hpp"

namespace ironroot::fleet {

using namespace firmware_detail;

namespace {

namespace fs = std::filesystem;

constexpr std::size_t kHashBlock = 64 * 1024;

// Columns of an image with its key's status, in the order read_image reads them.
constexpr std::string_view kImageSelect =
    "SELECT f.id, f.name, f.description, f.version_major, f.version_minor, f.version_revision, "
    "f.version_build, f.security_counter, f.image_hash, f.signing_key_id, k.status, f.size, "
    "f.load_addr, f.flags, f.uploaded_at, f.uploaded_by, f.seq "
    "FROM firmware_images f JOIN code_signing_keys k ON k.id = f.signing_key_id ";

// An image and its position in upload order (the paging key).
struct ImageRow {
  FirmwareImage image;
  std::int64_t seq = 0;
};

RegistryResult<ImageRow> read_image(Statement& row) {
  ImageRow out;
  FirmwareImage& image = out.image;
  image.id = row.text(0);
  image.name = row.optional_text(1);
  image.description = row.optional_text(2);
  image.version.major = static_cast<std::uint8_t>(row.integer(3));
  image.version.minor = static_cast<std::uint8_t>(row.integer(4));
  image.version.revision = static_cast<std::uint16_t>(row.integer(5));
  image.version.build = static_cast<std::uint32_t>(row.integer(6));
  if (!row.is_null(7)) image.security_counter = static_cast<std::uint32_t>(row.integer(7));
  image.image_hash = row.text(8);
  image.signing_key_id = row.text(9);
  image.signing_key_revoked =
      row.text(10) == code_signing_key_status_name(CodeSigningKeyStatus::revoked);
  image.size = static_cast<std::uint64_t>(row.integer(11));
  image.load_addr = static_cast<std::uint32_t>(row.integer(12));
  image.flags = static_cast<std::uint32_t>(row.integer(13));
  image.uploaded_at = from_db(row.integer(14));
  image.uploaded_by = row.text(15);
  out.seq = row.integer(16);
  return out;
}

RegistryResult<std::optional<FirmwareImage>> load_image(Database& db, std::string_view id) {
  auto stmt = db.prepare(std::string(kImageSelect) + "WHERE f.id = ?1");
  if (!stmt) return internal(stmt.error());
  auto row = stmt->bind(1, id).step();
  if (!row) return internal(row.error());
  if (!*row) return std::optional<FirmwareImage>();
  auto image = read_image(*stmt);
  if (!image) return tl::unexpected(image.error());
  return std::optional<FirmwareImage>(std::move(image->image));
}

std::string errno_text() {
  return std::strerror(errno);
}

// Makes a folder's entries (a file renamed or removed in it, a folder created in it) durable.
Status sync_folder(const fs::path& folder) {
  UniqueFd fd(::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid() || ::fsync(fd.get()) != 0) {
    return fail("cannot sync folder " + folder.string() + ": " + errno_text());
  }
  return {};
}

// Opens a stored file and checks it against its record: its size and the SHA-256 of its bytes,
// read in blocks. The error says what is wrong with the file.
Result<UniqueFd> open_checked(const fs::path& path, std::string_view id, std::uint64_t size) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return fail("cannot open " + path.string() + ": " + errno_text());
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0)
    return fail("cannot stat " + path.string() + ": " + errno_text());
  if (!S_ISREG(st.st_mode)) return fail(path.string() + " is not a regular file");
  if (static_cast<std::uint64_t>(st.st_size) != size) {
    return fail(path.string() + " is " + std::to_string(st.st_size) + " bytes, the image " +
                std::to_string(size));
  }
  crypto::Sha256 hash;
  Bytes block(kHashBlock);
  std::uint64_t done = 0;
  while (done < size) {
    const std::size_t want =
        static_cast<std::size_t>(std::min<std::uint64_t>(kHashBlock, size - done));
    ssize_t n = ::pread(fd.get(), block.data(), want, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("cannot read " + path.string() + ": " + errno_text());
    if (n == 0) return fail(path.string() + " ended after " + std::to_string(done) + " bytes");
    hash.update(ByteView(block).first(static_cast<std::size_t>(n)));
    done += static_cast<std::uint64_t>(n);
  }
  const std::string actual = to_hex(hash.finish());
  if (actual != id) {
    return fail(path.string() + " has been altered: its content hashes to " + actual);
  }
  return fd;
}

bool is_signature_tlv(std::uint16_t type) {
  return type == image::tlv::kEcdsaSig || type == image::tlv::kEd25519 ||
         type == image::tlv::kRsa2048Pss || type == image::tlv::kRsa3072Pss ||
         type == image::tlv::kEcdsa224 || type == image::tlv::kSigPure;
}

// The keys (by hash) that the image's KEYHASH and PUBKEY TLVs name, in image order, once each.
std::vector<std::string> named_keys(const image::ImageView& view) {
  std::vector<std::string> ids;
  for (const image::Tlv& t : view.tlvs) {
    if (t.is_protected) continue;
    std::string id;
    if (t.type == image::tlv::kKeyHash && t.value.size() == image::kSha256Size) {
      id = to_hex(t.value);
    } else if (t.type == image::tlv::kPubKey) {
      id = to_hex(crypto::sha256(t.value));
    } else {
      continue;
    }
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  }
  return ids;
}

// Structural checks that need no database: size, format, nothing after the TLVs, a signature.
RegistryResult<image::ImageView> check_image(ByteView bytes, std::uint64_t max_size) {
  if (bytes.empty()) return invalid("the image is empty");
  if (bytes.size() > max_size) {
    return invalid("the image is " + std::to_string(bytes.size()) +
                   " bytes; this repository takes images of at most " + std::to_string(max_size) +
                   " bytes");
  }
  auto parsed = image::parse_image(bytes);
  if (!parsed) return invalid("not a valid MCUboot image: " + parsed.error().message);
  if (parsed->size != bytes.size()) {
    return invalid("the file has " + std::to_string(bytes.size() - parsed->size) +
                   " bytes after the image's TLV area (which ends at offset " +
                   std::to_string(parsed->size) +
                   "); they are not covered by the signature: upload the image without padding "
                   "or a trailer (sign without --pad)");
  }
  const bool is_signed =
      std::any_of(parsed->tlvs.begin(), parsed->tlvs.end(),
                  [](const image::Tlv& t) { return !t.is_protected && is_signature_tlv(t.type); });
  if (!is_signed) {
    return invalid("the image has no signature: sign it with `ironroot image sign`");
  }
  return std::move(*parsed);
}

// Parses a listing's next token: "n<seq>" (newest first) or "v<major>.<minor>.<revision>.<build>.
// <seq>" (by version), as list() makes them.
std::optional<std::vector<std::int64_t>> parse_token(std::string_view token, FirmwareOrder order) {
  const char prefix = order == FirmwareOrder::newest_first ? 'n' : 'v';
  const std::size_t fields = order == FirmwareOrder::newest_first ? 1 : 5;
  if (token.empty() || token.front() != prefix) return std::nullopt;
  token.remove_prefix(1);
  std::vector<std::int64_t> values;
  while (values.size() < fields) {
    std::int64_t value = 0;
    auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), value);
    if (ec != std::errc() || value < 0) return std::nullopt;
    values.push_back(value);
    token.remove_prefix(static_cast<std::size_t>(end - token.data()));
    if (values.size() < fields) {
      if (token.empty() || token.front() != '.') return std::nullopt;
      token.remove_prefix(1);
    }
  }
  if (!token.empty()) return std::nullopt;
  return values;
}

std::string token_of(const ImageRow& row, FirmwareOrder order) {
  if (order == FirmwareOrder::newest_first) return "n" + std::to_string(row.seq);
  const image::ImageVersion& v = row.image.version;
  return "v" + std::to_string(v.major) + "." + std::to_string(v.minor) + "." +
         std::to_string(v.revision) + "." + std::to_string(v.build) + "." + std::to_string(row.seq);
}

}  // namespace

RegistryResult<FirmwareStore> FirmwareStore::open(const fs::path& database,
                                                  const fs::path& content_dir, Clock clock,
                                                  const FirmwareStoreOptions& options) {
  if (options.max_image_size == 0) {
    return invalid("the largest firmware image must be 1 byte or more");
  }
  auto db = Database::open(database, registry_migrations(), options.database);
  if (!db) return internal(db.error());
  const fs::path files = content_dir / "sha256";
  std::error_code ec;
  const bool created = fs::create_directories(files, ec);
  if (ec) {
    return internal(
        Error{"cannot create the firmware folder " + files.string() + ": " + ec.message()});
  }
  if (created) {
    for (const fs::path& folder : {content_dir, content_dir.parent_path()}) {
      if (folder.empty()) continue;
      if (auto ok = sync_folder(folder); !ok) return internal(ok.error());
    }
  }
  // write_file_atomic's temporary files are ".<name>.tmp-XXXXXX".
  const auto stale_before = fs::file_time_type::clock::now() - kStaleTemporaryAge;
  for (const fs::directory_entry& entry : fs::directory_iterator(files, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.front() != '.' || name.find(".tmp-") == std::string::npos) continue;
    std::error_code entry_ec;
    if (entry.last_write_time(entry_ec) < stale_before && !entry_ec) {
      fs::remove(entry.path(), entry_ec);
    }
  }
  if (ec) {
    return internal(
        Error{"cannot read the firmware folder " + files.string() + ": " + ec.message()});
  }
  if (!clock) clock = system_time_now;
  return FirmwareStore(std::move(*db), content_dir, std::move(clock), options);
}

fs::path FirmwareStore::content_path(std::string_view id) const {
  return content_dir_ / "sha256" / std::string(id);
}

RegistryResult<UploadedFirmware> FirmwareStore::upload(std::string_view actor, ByteView bytes,
                                                       const FirmwareUpload& options) {
  if (auto ok = check_actor(actor); !ok) return invalid(ok.error());
  if (options.name) {
    if (auto ok = check_label("firmware name", *options.name, kMaxFirmwareNameLength); !ok) {
      return invalid(ok.error());
    }
  }
  if (options.description) {
    if (auto ok =
            check_text("firmware description", *options.description, kMaxFirmwareDescriptionLength);
        !ok) {
      return invalid(ok.error());
    }
  }
  auto view = check_image(bytes, options_.max_image_size);
  if (!view) return tl::unexpected(view.error());
  const std::string id = to_hex(crypto::sha256(bytes));

  // Keys are looked up and the record written under the write lock, so that a key revoked or
  // an image deleted concurrently cannot slip between the check and the commit.
  return jobs_detail::in_write<UploadedFirmware>(db_, [&]() -> RegistryResult<UploadedFirmware> {
    std::vector<crypto::PublicKey> active;
    std::vector<std::string> active_ids;
    std::optional<CodeSigningKey> revoked;
    const std::vector<std::string> named = named_keys(*view);
    if (named.empty()) {
      return invalid(
          "the image's signature names no key (it has no KEYHASH or PUBKEY TLV): sign it with "
          "`ironroot image sign`");
    }
    for (const std::string& key_id : named) {
      auto key = load_key(db_, key_id);
      if (!key) return tl::unexpected(key.error());
      if (!*key) continue;
      if ((*key)->status == CodeSigningKeyStatus::revoked) {
        revoked = std::move(**key);
        continue;
      }
      auto parsed = crypto::PublicKey::from_pem(as_bytes((*key)->pem));
      if (!parsed) {
        return internal(Error{"stored code-signing key " + key_id + ": " + parsed.error().message});
      }
      active.push_back(std::move(*parsed));
      active_ids.push_back(key_id);
    }
    if (active.empty() && revoked) {
      return conflict("the image is signed by code-signing key " + revoked->id + " ('" +
                      revoked->name + "'), which is REVOKED: sign it with an active key");
    }
    if (active.empty()) {
      return invalid("the image is signed by key " + named.front() +
                     ", which is not a registered code-signing key: register its public key "
                     "first (POST /v1/code-signing-keys; `ironroot image getpub -k KEY -e pem` "
                     "prints it)");
    }
    auto verified = image::verify_image(bytes, active);
    if (!verified) return invalid("the image is refused: " + verified.error().message);

    if (auto existing = load_image(db_, id); !existing) {
      return tl::unexpected(existing.error());
    } else if (*existing) {
      // The same bytes again: make sure its file is there (a crash or an operator may have
      // lost it), and answer with the record as it is.
      const fs::path path = content_path(id);
      if (!open_checked(path, id, bytes.size())) {
        if (auto ok = write_file_atomic(path, bytes, 0600); !ok) return internal(ok.error());
      }
      return UploadedFirmware{std::move(**existing), false};
    }

    FirmwareImage image;
    image.id = id;
    image.name = options.name;
    image.description = options.description;
    image.version = view->header.version;
    image.security_counter = view->security_counter();
    image.image_hash = to_hex(verified->hash);
    image.signing_key_id = active_ids[verified->key_index];
    image.size = bytes.size();
    image.load_addr = view->header.load_addr;
    image.flags = view->header.flags;
    image.uploaded_by = std::string(actor);

    // The file first: once the record is committed, its file must exist. A file left by an
    // earlier attempt that crashed before its commit is reused when it checks out.
    const fs::path path = content_path(id);
    if (!open_checked(path, id, bytes.size())) {
      if (auto ok = write_file_atomic(path, bytes, 0600); !ok) return internal(ok.error());
    }
    image.uploaded_at = clock_();

    auto stmt = db_.prepare(
        "INSERT INTO firmware_images (id, name, description, version_major, version_minor, "
        "version_revision, version_build, security_counter, image_hash, signing_key_id, size, "
        "load_addr, flags, uploaded_at, uploaded_by) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)");
    if (!stmt) return internal(stmt.error());
    stmt->bind(1, image.id)
        .bind(2, image.name)
        .bind(3, image.description)
        .bind(4, std::int64_t{image.version.major})
        .bind(5, std::int64_t{image.version.minor})
        .bind(6, std::int64_t{image.version.revision})
        .bind(7, std::int64_t{image.version.build})
        .bind(9, image.image_hash)
        .bind(10, image.signing_key_id)
        .bind(11, static_cast<std::int64_t>(image.size))
        .bind(12, std::int64_t{image.load_addr})
        .bind(13, std::int64_t{image.flags})
        .bind(14, to_db(image.uploaded_at))
        .bind(15, image.uploaded_by);
    if (image.security_counter) {
      stmt->bind(8, std::int64_t{*image.security_counter});
    } else {
      stmt->bind_null(8);
    }
    if (auto ok = stmt->run(); !ok) return internal(ok.error());
    nlohmann::json details = {{"version", image.version.to_string()},
                              {"imageHash", image.image_hash},
                              {"signingKeyId", image.signing_key_id},
                              {"size", image.size}};
    if (image.name) details["name"] = *image.name;
    if (image.security_counter) details["securityCounter"] = *image.security_counter;
    Change change{"firmware.upload", "firmware", image.id, std::move(details)};
    if (auto ok = record(db_, image.uploaded_at, actor, change); !ok) {
      return tl::unexpected(ok.error());
    }
    return UploadedFirmware{std::move(image), true};
  });
}

RegistryResult<FirmwareImage> FirmwareStore::describe(std::string_view id) {
  auto normalized = normalize_sha256_id("firmware", id);
  if (!normalized) return invalid(normalized.error());
  auto image = load_image(db_, *normalized);
  if (!image) return tl::unexpected(image.error());
  if (!*image) return not_found("no firmware image " + *normalized);
  return std::move(**image);
}

RegistryResult<Listing<FirmwareImage>> FirmwareStore::list(const Page& page, FirmwareOrder order) {
  auto limit = page_limit(page);
  if (!limit) return tl::unexpected(limit.error());
  std::vector<std::int64_t> after;
  if (!page.next_token.empty()) {
    auto parsed = parse_token(page.next_token, order);
    if (!parsed) {
      return invalid("next token '" + page.next_token + "' is not one this listing gave");
    }
    after = std::move(*parsed);
  }
  const bool by_version = order == FirmwareOrder::by_version;
  std::string sql(kImageSelect);
  if (!after.empty()) {
    sql += by_version ? "WHERE (f.version_major, f.version_minor, f.version_revision, "
                        "f.version_build, f.seq) < (?2, ?3, ?4, ?5, ?6) "
                      : "WHERE f.seq < ?2 ";
  }
  sql += by_version ? "ORDER BY f.version_major DESC, f.version_minor DESC, "
                      "f.version_revision DESC, f.version_build DESC, f.seq DESC LIMIT ?1"
                    : "ORDER BY f.seq DESC LIMIT ?1";
  auto stmt = db_.prepare(sql);
  if (!stmt) return internal(stmt.error());
  stmt->bind(1, static_cast<std::int64_t>(*limit + 1));
  for (std::size_t i = 0; i < after.size(); ++i) stmt->bind(static_cast<int>(i) + 2, after[i]);
  auto rows = collect<ImageRow>(*stmt, *limit, read_image,
                                [order](const ImageRow& row) { return token_of(row, order); });
  if (!rows) return tl::unexpected(rows.error());
  Listing<FirmwareImage> listing;
  listing.next_token = std::move(rows->next_token);
  for (ImageRow& row : rows->items) listing.items.push_back(std::move(row.image));
  return listing;
}

RegistryResult<void> FirmwareStore::remove(std::string_view actor, std::string_view id) {
  if (auto ok = check_actor(actor); !ok) return invalid(ok.error());
  auto normalized = normalize_sha256_id("firmware", id);
  if (!normalized) return invalid(normalized.error());
  return jobs_detail::in_write<void>(db_, [&]() -> RegistryResult<void> {
    auto image = load_image(db_, *normalized);
    if (!image) return tl::unexpected(image.error());
    if (!*image) return not_found("no firmware image " + *normalized);
    auto stmt = db_.prepare("DELETE FROM firmware_images WHERE id = ?1");
    if (!stmt) return internal(stmt.error());
    if (auto ok = stmt->bind(1, *normalized).run(); !ok) return internal(ok.error());
    nlohmann::json details = {{"version", (*image)->version.to_string()}};
    if ((*image)->name) details["name"] = *(*image)->name;
    Change change{"firmware.delete", "firmware", *normalized, std::move(details)};
    if (auto ok = record(db_, clock_(), actor, change); !ok) return tl::unexpected(ok.error());
    // Under the write lock: an upload of the same bytes waits for it, and then writes the file
    // again. If the commit fails after this, the record stays without its file, which
    // open_content reports and a new upload of the image repairs.
    const fs::path path = content_path(*normalized);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return internal(Error{"cannot remove " + path.string() + ": " + errno_text()});
    }
    if (auto ok = sync_folder(path.parent_path()); !ok) return internal(ok.error());
    return {};
  });
}

std::string firmware_stream_id(std::string_view image_id) {
  return std::string(kFirmwareStreamPrefix) +
         std::string(image_id.substr(0, kFirmwareStreamIdDigits));
}

std::string firmware_download_url(std::string_view base_url, std::string_view stream_id) {
  if (base_url.ends_with('/')) base_url.remove_suffix(1);
  return std::string(base_url) + std::string(kFirmwareDownloadPath) + std::string(stream_id);
}

std::optional<std::string> firmware_id_prefix_of_stream(std::string_view stream_id) {
  if (!stream_id.starts_with(kFirmwareStreamPrefix)) return std::nullopt;
  const std::string_view digits = stream_id.substr(kFirmwareStreamPrefix.size());
  if (digits.size() != kFirmwareStreamIdDigits) return std::nullopt;
  for (char c : digits) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return std::nullopt;
  }
  return std::string(digits);
}

RegistryResult<FirmwareContent> FirmwareStore::open_content(std::string_view id) {
  auto image = describe(id);
  if (!image) return tl::unexpected(image.error());
  const fs::path path = content_path(image->id);
  auto fd = open_checked(path, image->id, image->size);
  if (!fd) {
    return internal(Error{"stored firmware image " + image->id + " is damaged: " +
                          fd.error().message + "; upload the image again to repair it"});
  }
  return FirmwareContent(std::move(*image), std::move(*fd));
}

namespace firmware_detail {

RegistryResult<std::optional<FirmwareImage>> load_stream_image(Database& db,
                                                               std::string_view id_prefix) {
  // Ids are lower-case hex: every id that starts with the prefix sorts below prefix + "g".
  auto stmt = db.prepare(std::string(kImageSelect) + "WHERE f.id >= ?1 AND f.id < ?2 LIMIT 2");
  if (!stmt) return internal(stmt.error());
  stmt->bind(1, id_prefix).bind(2, std::string(id_prefix) + "g");
  std::optional<FirmwareImage> found;
  for (;;) {
    auto row = stmt->step();
    if (!row) return internal(row.error());
    if (!*row) break;
    auto image = read_image(*stmt);
    if (!image) return tl::unexpected(image.error());
    if (found) {
      return internal(Error{"firmware images " + found->id + " and " + image->image.id +
                            " share the stream id " + firmware_stream_id(found->id) +
                            ": delete one of them"});
    }
    found = std::move(image->image);
  }
  return found;
}

}  // namespace firmware_detail

RegistryResult<FirmwareImage> FirmwareStore::describe_stream(std::string_view stream_id) {
  auto prefix = firmware_id_prefix_of_stream(stream_id);
  if (!prefix) {
    return not_found("'" + std::string(stream_id.substr(0, protocol::kMaxStreamIdSize)) +
                     "' is not a firmware stream (fw- and 40 lower-case hex digits)");
  }
  auto image = load_stream_image(db_, *prefix);
  if (!image) return tl::unexpected(image.error());
  if (!*image) return not_found("no firmware image serves stream " + std::string(stream_id));
  return std::move(**image);
}

RegistryResult<FirmwareContent> FirmwareStore::open_stream(std::string_view stream_id) {
  auto image = describe_stream(stream_id);
  if (!image) return tl::unexpected(image.error());
  return open_content(image->id);
}

RegistryResult<Bytes> FirmwareContent::read_range(std::uint64_t offset, std::size_t length) const {
  if (offset >= image_.size) {
    return invalid("offset " + std::to_string(offset) + " is past the end of firmware image " +
                   image_.id + " (" + std::to_string(image_.size) + " bytes)");
  }
  if (length == 0 || length > kMaxFirmwareReadLength) {
    return invalid("a read takes 1 to " + std::to_string(kMaxFirmwareReadLength) + " bytes, not " +
                   std::to_string(length));
  }
  Bytes out(static_cast<std::size_t>(std::min<std::uint64_t>(length, image_.size - offset)));
  std::size_t done = 0;
  while (done < out.size()) {
    ssize_t n =
        ::pread(fd_.get(), out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      return internal(Error{"cannot read firmware image " + image_.id + ": " + errno_text()});
    if (n == 0) {
      return internal(Error{"firmware image " + image_.id + " shrank while it was served"});
    }
    done += static_cast<std::size_t>(n);
  }
  return out;
}

}  // namespace ironroot::fleet
