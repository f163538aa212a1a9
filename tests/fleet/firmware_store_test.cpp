// The firmware repository (firmware.hpp) over a real SQLite registry and a real content folder,
// with images signed by libs/image (sign.hpp) and keys from libs/crypto: key registration and
// revocation, verified uploads and every refusal, checked reads of stored bytes, and the write
// order that keeps a committed record with its file through a crash (a child process that dies
// between the two).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "ironroot/core/file.hpp"
#include "ironroot/fleet/firmware.hpp"
#include "ironroot/image/image.hpp"
#include "ironroot/image/sign.hpp"
#include "support/temp_dir.hpp"

namespace ironroot::fleet {
namespace {

namespace fs = std::filesystem;
using ironroot::testing::TempDir;

const Time kNow = Time(std::chrono::seconds(1'750'000'000));

// A signed image of `version`, with `counter` as its security counter when given.
Bytes signed_image(crypto::Signer& key, std::string_view version,
                   std::optional<std::uint32_t> counter = {}, std::size_t payload = 1000) {
  image::SignOptions o;
  o.version = *image::ImageVersion::parse(version);
  o.slot_size = 0x20000;
  o.security_counter = counter;
  Bytes firmware(32, std::byte{0});
  for (std::size_t i = 0; i < payload; ++i) firmware.push_back(std::byte(i * 13 + 1));
  auto signed_bytes = image::sign_image(firmware, o, key);
  EXPECT_TRUE(signed_bytes) << signed_bytes.error().message;
  return *signed_bytes;
}

// A well-formed image with its SHA256 TLV and no signature (what `imgtool sign` without a key
// writes).
Bytes unsigned_image() {
  image::ImageHeader h;
  h.img_size = 8;
  h.version = *image::ImageVersion::parse("1.0.0");
  auto hb = h.encode();
  Bytes img(hb.begin(), hb.end());
  append(img, as_bytes("payload!"));
  const crypto::Sha256Digest digest = crypto::sha256(img);
  append_le16(img, image::kTlvInfoMagic);
  append_le16(img, 4 + 4 + 32);
  append_le16(img, image::tlv::kSha256);
  append_le16(img, 32);
  append(img, digest);
  return img;
}

std::string public_pem(const crypto::PrivateKey& key) {
  return key.public_key().pem();
}

class FirmwareStoreTest : public ::testing::Test {
 protected:
  FirmwareStoreTest()
      : ecdsa_(*crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256)),
        ed25519_(*crypto::PrivateKey::generate(crypto::KeyType::ed25519)) {
    store_.emplace(open_store());
  }

  FirmwareStore open_store(FirmwareStoreOptions options = {}) {
    auto store = FirmwareStore::open(
        database(), content(), [] { return kNow; }, options);
    if (!store) throw std::runtime_error(store.error().message);
    return std::move(*store);
  }

  fs::path database() const { return dir_ / "registry.db"; }
  fs::path content() const { return dir_ / "firmware"; }

  CodeSigningKey register_key(const std::string& name, const crypto::PrivateKey& key) {
    auto registered = store_->register_key("ops", {name, public_pem(key)});
    EXPECT_TRUE(registered) << registered.error().message;
    return *registered;
  }

  // The audit rows of `action`, through the registry on the same file.
  std::vector<AuditEntry> audit(const std::string& action) {
    auto registry = Registry::open(database());
    EXPECT_TRUE(registry);
    auto all = registry->list_audit({}, Page{250, ""});
    EXPECT_TRUE(all);
    std::vector<AuditEntry> out;
    for (const AuditEntry& e : all->items) {
      if (e.action == action) out.push_back(e);
    }
    return out;
  }

  std::size_t files_in_store() const {
    std::size_t n = 0;
    for (const auto& entry : fs::directory_iterator(content() / "sha256")) {
      (void)entry;
      ++n;
    }
    return n;
  }

  static void expect_refused(const RegistryResult<UploadedFirmware>& r, RegistryErrorCode code,
                             const std::string& message_part) {
    ASSERT_FALSE(r) << "accepted: " << r->image.id;
    EXPECT_EQ(r.error().code, code) << r.error().message;
    EXPECT_NE(r.error().message.find(message_part), std::string::npos) << r.error().message;
  }

  TempDir dir_;
  crypto::PrivateKey ecdsa_;
  crypto::PrivateKey ed25519_;
  std::optional<FirmwareStore> store_;
};

TEST_F(FirmwareStoreTest, KeysAreRegisteredByTheirMcubootKeyHash) {
  CodeSigningKey key = register_key("release-2026", ecdsa_);
  EXPECT_EQ(key.id, to_hex(ecdsa_.public_key().key_hash()));
  EXPECT_EQ(key.type, crypto::KeyType::ecdsa_p256);
  EXPECT_EQ(key.status, CodeSigningKeyStatus::active);
  EXPECT_EQ(key.created_at, kNow);
  CodeSigningKey ed = register_key("ed-key", ed25519_);
  EXPECT_EQ(ed.type, crypto::KeyType::ed25519);

  // Upper-case ids are the same key.
  std::string upper = key.id;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(store_->describe_key(upper).value(), key);

  auto twice = store_->register_key("another-name", {"another-name", public_pem(ecdsa_)});
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().code, RegistryErrorCode::already_exists);
  EXPECT_NE(twice.error().message.find("release-2026"), std::string::npos);
  auto fresh = *crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256);
  auto same_name = store_->register_key("ops", {"release-2026", public_pem(fresh)});
  ASSERT_FALSE(same_name);
  EXPECT_EQ(same_name.error().code, RegistryErrorCode::already_exists);

  auto listing = store_->list_keys(Page{1, ""});
  ASSERT_TRUE(listing);
  ASSERT_EQ(listing->items.size(), 1u);
  auto rest = store_->list_keys(Page{1, listing->next_token});
  ASSERT_TRUE(rest);
  ASSERT_EQ(rest->items.size(), 1u);
  EXPECT_TRUE(rest->next_token.empty());
  EXPECT_NE(listing->items[0].id, rest->items[0].id);
  EXPECT_EQ(audit("code-signing-key.register").size(), 2u);
}

TEST_F(FirmwareStoreTest, RefusesPrivateKeysAndWhatIsNotAPublicKey) {
  auto private_pem = ecdsa_.pem();
  ASSERT_TRUE(private_pem);
  auto r = store_->register_key("ops", {"k", *private_pem});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, RegistryErrorCode::invalid);
  EXPECT_NE(r.error().message.find("private key"), std::string::npos) << r.error().message;

  for (const std::string& pem :
       {std::string("not a key"), public_pem(ecdsa_) + public_pem(ed25519_),
        std::string("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")}) {
    auto bad = store_->register_key("ops", {"k", pem});
    ASSERT_FALSE(bad) << pem;
    EXPECT_EQ(bad.error().code, RegistryErrorCode::invalid);
  }
  auto bad_name = store_->register_key("ops", {"has space", public_pem(ecdsa_)});
  ASSERT_FALSE(bad_name);
  EXPECT_EQ(bad_name.error().code, RegistryErrorCode::invalid);
  EXPECT_EQ(store_->list_keys({}).value().items.size(), 0u);
  EXPECT_EQ(store_->describe_key("zz").error().code, RegistryErrorCode::invalid);
  EXPECT_EQ(store_->describe_key(std::string(64, 'a')).error().code, RegistryErrorCode::not_found);
}

TEST_F(FirmwareStoreTest, UploadVerifiesStoresAndRecordsTheImage) {
  CodeSigningKey key = register_key("release", ecdsa_);
  Bytes img = signed_image(ecdsa_, "2.1.3+7", 42);
  auto uploaded = store_->upload("ops", img, {std::string("lamp-fw"), std::string("spring")});
  ASSERT_TRUE(uploaded) << uploaded.error().message;
  EXPECT_TRUE(uploaded->created);
  const FirmwareImage& fw = uploaded->image;
  EXPECT_EQ(fw.id, to_hex(crypto::sha256(img)));
  EXPECT_EQ(fw.version.to_string(), "2.1.3+7");
  EXPECT_EQ(fw.security_counter, 42u);
  auto verified = image::verify_image(img, std::vector{ecdsa_.public_key()});
  ASSERT_TRUE(verified);
  EXPECT_EQ(fw.image_hash, to_hex(verified->hash));
  EXPECT_EQ(fw.signing_key_id, key.id);
  EXPECT_FALSE(fw.signing_key_revoked);
  EXPECT_EQ(fw.size, img.size());
  EXPECT_EQ(fw.name, "lamp-fw");
  EXPECT_EQ(fw.description, "spring");
  EXPECT_EQ(fw.uploaded_by, "ops");
  EXPECT_EQ(fw.uploaded_at, kNow);
  EXPECT_EQ(store_->describe(fw.id).value(), fw);
  EXPECT_EQ(read_file(store_->content_path(fw.id), 1 << 20).value(), img);

  // The same bytes again: the existing record, not an error, and no second audit row.
  auto again = store_->upload("bob", img, {std::string("other-name"), std::nullopt});
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->image, fw);
  EXPECT_EQ(store_->list({}).value().items.size(), 1u);
  auto rows = audit("firmware.upload");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].target_id, fw.id);
  EXPECT_EQ(rows[0].actor, "ops");

  // Ed25519 images, without a security counter.
  register_key("ed", ed25519_);
  auto ed = store_->upload("ops", signed_image(ed25519_, "3.0.0"));
  ASSERT_TRUE(ed) << ed.error().message;
  EXPECT_FALSE(ed->image.security_counter);
  EXPECT_EQ(ed->image.signing_key_id, to_hex(ed25519_.public_key().key_hash()));
}

TEST_F(FirmwareStoreTest, ImagesNamingTheirKeyInFullAreAccepted) {
  register_key("release", ecdsa_);
  image::SignOptions o;
  o.version = *image::ImageVersion::parse("1.0.0");
  o.slot_size = 0x10000;
  o.public_key_format = image::PublicKeyFormat::full;
  Bytes fw(32 + 100, std::byte{0});
  auto img = image::sign_image(fw, o, ecdsa_);
  ASSERT_TRUE(img);
  auto uploaded = store_->upload("ops", *img);
  ASSERT_TRUE(uploaded) << uploaded.error().message;
  EXPECT_EQ(uploaded->image.signing_key_id, to_hex(ecdsa_.public_key().key_hash()));
}

TEST_F(FirmwareStoreTest, RefusesUnsignedImagesAndUnknownKeys) {
  register_key("release", ecdsa_);
  expect_refused(store_->upload("ops", unsigned_image()), RegistryErrorCode::invalid,
                 "the image has no signature: sign it with `ironroot image sign`");

  auto stranger = *crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256);
  const std::string stranger_id = to_hex(stranger.public_key().key_hash());
  expect_refused(store_->upload("ops", signed_image(stranger, "1.0.0")), RegistryErrorCode::invalid,
                 "signed by key " + stranger_id + ", which is not a registered code-signing key");
  EXPECT_EQ(store_->list({}).value().items.size(), 0u);
  EXPECT_EQ(files_in_store(), 0u);
  EXPECT_EQ(audit("firmware.upload").size(), 0u);
}

TEST_F(FirmwareStoreTest, RevokedKeysRefuseNewUploadsAndFlagTheirImages) {
  CodeSigningKey key = register_key("release", ecdsa_);
  auto before = store_->upload("ops", signed_image(ecdsa_, "1.0.0"));
  ASSERT_TRUE(before);

  auto revoked = store_->revoke_key("ops", key.id);
  ASSERT_TRUE(revoked) << revoked.error().message;
  EXPECT_EQ(revoked->status, CodeSigningKeyStatus::revoked);
  EXPECT_EQ(revoked->revoked_at, kNow);
  // Again: unchanged, no second audit row.
  EXPECT_EQ(store_->revoke_key("ops", key.id).value(), *revoked);
  EXPECT_EQ(audit("code-signing-key.revoke").size(), 1u);
  EXPECT_EQ(store_->revoke_key("ops", std::string(64, 'b')).error().code,
            RegistryErrorCode::not_found);

  expect_refused(store_->upload("ops", signed_image(ecdsa_, "1.1.0")), RegistryErrorCode::conflict,
                 "REVOKED");
  auto listed = store_->list({});
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->items.size(), 1u);
  EXPECT_EQ(listed->items[0].id, before->image.id);
  EXPECT_TRUE(listed->items[0].signing_key_revoked);
}

TEST_F(FirmwareStoreTest, RefusesMalformedImagesWithTheParsersReason) {
  register_key("release", ecdsa_);
  Bytes img = signed_image(ecdsa_, "1.0.0");

  Bytes truncated(img.begin(), img.end() - 10);
  expect_refused(store_->upload("ops", truncated), RegistryErrorCode::invalid,
                 "not a valid MCUboot image: image is truncated");
  expect_refused(store_->upload("ops", as_bytes("hello, this is not firmware at all")),
                 RegistryErrorCode::invalid, "bad magic");
  Bytes padded = img;
  padded.resize(img.size() + 16, std::byte{0xff});
  expect_refused(store_->upload("ops", padded), RegistryErrorCode::invalid,
                 "16 bytes after the image's TLV area");
  Bytes altered = img;
  altered[40] ^= std::byte{1};  // in the payload: the image hash no longer matches
  expect_refused(store_->upload("ops", altered), RegistryErrorCode::invalid, "hash mismatch");
  expect_refused(store_->upload("ops", {}), RegistryErrorCode::invalid, "the image is empty");
  EXPECT_EQ(store_->list({}).value().items.size(), 0u);
  EXPECT_EQ(files_in_store(), 0u);
}

TEST_F(FirmwareStoreTest, ImagesOverTheSizeBoundAreRefused) {
  register_key("release", ecdsa_);
  FirmwareStoreOptions options;
  options.max_image_size = 1024;
  FirmwareStore small = open_store(options);
  EXPECT_EQ(small.max_image_size(), 1024u);
  Bytes big = signed_image(ecdsa_, "1.0.0", {}, 2000);
  expect_refused(small.upload("ops", big), RegistryErrorCode::invalid, "at most 1024 bytes");
  auto fits = small.upload("ops", signed_image(ecdsa_, "1.0.0", {}, 500));
  EXPECT_TRUE(fits) << fits.error().message;
}

TEST_F(FirmwareStoreTest, AlteredOrMissingStoredFilesAreDetectedBeforeServing) {
  register_key("release", ecdsa_);
  Bytes img = signed_image(ecdsa_, "1.0.0", {}, 3000);
  auto uploaded = store_->upload("ops", img);
  ASSERT_TRUE(uploaded);
  const std::string id = uploaded->image.id;

  auto content = store_->open_content(id);
  ASSERT_TRUE(content) << content.error().message;
  EXPECT_EQ(content->size(), img.size());
  auto first = content->read_range(0, 100);
  ASSERT_TRUE(first);
  EXPECT_EQ(*first, Bytes(img.begin(), img.begin() + 100));
  auto last = content->read_range(img.size() - 10, 100);  // short at the end
  ASSERT_TRUE(last);
  EXPECT_EQ(*last, Bytes(img.end() - 10, img.end()));
  EXPECT_EQ(content->read_range(img.size(), 1).error().code, RegistryErrorCode::invalid);
  EXPECT_EQ(content->read_range(0, 0).error().code, RegistryErrorCode::invalid);
  EXPECT_EQ(content->read_range(0, kMaxFirmwareReadLength + 1).error().code,
            RegistryErrorCode::invalid);

  // One byte changed in the store, size unchanged.
  const fs::path path = store_->content_path(id);
  {
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(200);
    file.put('\x5a');
  }
  auto damaged = store_->open_content(id);
  ASSERT_FALSE(damaged);
  EXPECT_EQ(damaged.error().code, RegistryErrorCode::internal);
  EXPECT_NE(damaged.error().message.find("altered"), std::string::npos) << damaged.error().message;

  // A new upload of the same image repairs it.
  auto repaired = store_->upload("ops", img);
  ASSERT_TRUE(repaired) << repaired.error().message;
  EXPECT_FALSE(repaired->created);
  ASSERT_TRUE(store_->open_content(id)) << "not repaired";

  fs::remove(path);
  auto missing = store_->open_content(id);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("cannot open"), std::string::npos);
  EXPECT_EQ(store_->open_content(std::string(64, 'c')).error().code, RegistryErrorCode::not_found);
}

TEST_F(FirmwareStoreTest, DeleteRemovesTheRecordAndTheFile) {
  register_key("release", ecdsa_);
  auto uploaded = store_->upload("ops", signed_image(ecdsa_, "1.0.0"));
  ASSERT_TRUE(uploaded);
  const std::string id = uploaded->image.id;
  ASSERT_TRUE(fs::exists(store_->content_path(id)));
  ASSERT_TRUE(store_->remove("ops", id));
  EXPECT_EQ(store_->describe(id).error().code, RegistryErrorCode::not_found);
  EXPECT_FALSE(fs::exists(store_->content_path(id)));
  EXPECT_EQ(audit("firmware.delete").size(), 1u);
  EXPECT_EQ(store_->remove("ops", id).error().code, RegistryErrorCode::not_found);
  EXPECT_EQ(store_->remove("ops", "../../etc").error().code, RegistryErrorCode::invalid);
}

TEST_F(FirmwareStoreTest, ListsNewestFirstOrByVersionInPages) {
  register_key("release", ecdsa_);
  std::vector<std::string> ids;
  for (const char* version : {"1.2.0", "3.0.0", "1.10.0", "3.0.0+1"}) {
    auto uploaded = store_->upload("ops", signed_image(ecdsa_, version));
    ASSERT_TRUE(uploaded) << uploaded.error().message;
    ids.push_back(uploaded->image.id);
  }
  auto all_pages = [&](FirmwareOrder order) {
    std::vector<std::string> versions;
    Page page{1, ""};
    for (int guard = 0; guard < 10; ++guard) {
      auto listing = store_->list(page, order);
      EXPECT_TRUE(listing) << listing.error().message;
      if (!listing) break;
      for (const FirmwareImage& fw : listing->items) versions.push_back(fw.version.to_string());
      if (listing->next_token.empty()) break;
      page.next_token = listing->next_token;
    }
    return versions;
  };
  EXPECT_EQ(all_pages(FirmwareOrder::newest_first),
            (std::vector<std::string>{"3.0.0+1", "1.10.0+0", "3.0.0+0", "1.2.0+0"}));
  EXPECT_EQ(all_pages(FirmwareOrder::by_version),
            (std::vector<std::string>{"3.0.0+1", "3.0.0+0", "1.10.0+0", "1.2.0+0"}));

  auto first = store_->list(Page{1, ""}, FirmwareOrder::newest_first);
  ASSERT_TRUE(first);
  auto mixed = store_->list(Page{1, first->next_token}, FirmwareOrder::by_version);
  ASSERT_FALSE(mixed);
  EXPECT_EQ(mixed.error().code, RegistryErrorCode::invalid);
  EXPECT_EQ(store_->list(Page{0, ""}).error().code, RegistryErrorCode::invalid);
}

// A child process uploads and dies (_exit, no unwinding, no commit) at the moment the record is
// about to be written: the file is already there, the record is not, and the next upload of the
// same image completes normally.
TEST_F(FirmwareStoreTest, ACrashBetweenFileAndRecordLeavesOnlyAHarmlessFile) {
  register_key("release", ecdsa_);
  Bytes img = signed_image(ecdsa_, "1.0.0");
  const std::string id = to_hex(crypto::sha256(img));
  const fs::path path = store_->content_path(id);
  store_.reset();

  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The clock is read after the file is written, just before the record is inserted.
    auto store = FirmwareStore::open(database(), content(),
                                     [path]() -> Time { _exit(fs::exists(path) ? 42 : 43); });
    if (!store) _exit(2);
    (void)store->upload("ops", img);
    _exit(3);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 42) << "the file was not written before the record";

  store_.emplace(open_store());
  EXPECT_EQ(store_->describe(id).error().code, RegistryErrorCode::not_found);
  EXPECT_TRUE(fs::exists(path));
  EXPECT_EQ(store_->list({}).value().items.size(), 0u);
  auto uploaded = store_->upload("ops", img);
  ASSERT_TRUE(uploaded) << uploaded.error().message;
  EXPECT_TRUE(uploaded->created);
  ASSERT_TRUE(store_->open_content(id));
  EXPECT_EQ(audit("firmware.upload").size(), 1u);
}

TEST_F(FirmwareStoreTest, StaleTemporaryFilesAreRemovedAtOpenAndNeverRead) {
  const fs::path folder = content() / "sha256";
  const fs::path stale = folder / ("." + std::string(64, 'd') + ".tmp-AbC123");
  const fs::path young = folder / ("." + std::string(64, 'e') + ".tmp-XyZ789");
  for (const fs::path& p : {stale, young}) {
    ASSERT_TRUE(write_file_atomic(p, as_bytes("partial")));
  }
  fs::last_write_time(stale, fs::file_time_type::clock::now() - std::chrono::hours(2));
  store_.reset();
  store_.emplace(open_store());
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(young)) << "may belong to an upload in progress";
  EXPECT_EQ(store_->list({}).value().items.size(), 0u);
}

TEST(FirmwareStreamId, NamesTheImageInFortyThreeCharactersAndReadsBack) {
  const std::string id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  const std::string stream = firmware_stream_id(id);
  EXPECT_EQ(stream, "fw-0123456789abcdef0123456789abcdef01234567");
  EXPECT_EQ(stream.size(), 43u);
  EXPECT_EQ(firmware_id_prefix_of_stream(stream), id.substr(0, 40));
  for (const char* other : {"", "fw-", "fw-0123", "xx-0123456789abcdef0123456789abcdef01234567",
                            "fw-0123456789ABCDEF0123456789abcdef01234567",
                            "fw-0123456789abcdef0123456789abcdef012345678"}) {
    EXPECT_EQ(firmware_id_prefix_of_stream(other), std::nullopt) << other;
  }
}

}  // namespace
}  // namespace ironroot::fleet
