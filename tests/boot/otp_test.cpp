#include "ironroot/boot/otp.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <limits>
#include <random>

#include "ironroot/core/file.hpp"
#include "support/temp_dir.hpp"

namespace ironroot::boot {
namespace {

// Offsets from the layout documented at the top of libs/boot/src/otp.cpp.
constexpr std::size_t kOtpSize = 1376;
constexpr std::size_t kRomAnchor = 0x010;
constexpr std::size_t kFirmwareKeys = 0x050;
constexpr std::size_t kRevocation = 0x150;
constexpr std::size_t kCounters = 0x160;
constexpr std::size_t kCounterSize = 512;

crypto::Sha256Digest hash_of(std::string_view name) {
  return crypto::sha256(as_bytes(name));
}

Bytes key_field(const crypto::Sha256Digest& digest) {
  Bytes field(digest.begin(), digest.end());
  for (std::byte b : digest) field.push_back(~b);
  return field;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(Otp, NewFusesAreBlank) {
  Otp otp = Otp::in_memory();
  EXPECT_FALSE(otp.rom_trust_anchor());
  for (unsigned slot = 0; slot < kFirmwareKeySlots; ++slot) {
    EXPECT_FALSE(otp.firmware_key(slot));
    EXPECT_FALSE(otp.is_revoked(slot));
  }
  for (unsigned counter = 0; counter < kSecurityCounters; ++counter) {
    EXPECT_EQ(otp.security_counter(counter), 0u);
    EXPECT_EQ(otp.security_counter_entries_left(counter), 64u);
  }
}

TEST(Otp, AFieldIsFusedOnceThenRefused) {
  Otp otp = Otp::in_memory();
  ASSERT_TRUE(otp.fuse_rom_trust_anchor(hash_of("rom key")));
  EXPECT_EQ(otp.rom_trust_anchor(), hash_of("rom key"));
  auto same = otp.fuse_rom_trust_anchor(hash_of("rom key"));
  ASSERT_FALSE(same);
  EXPECT_TRUE(contains(same.error().message, "the ROM trust anchor is already fused"))
      << same.error().message;
  EXPECT_FALSE(otp.fuse_rom_trust_anchor(hash_of("other key")));
  EXPECT_EQ(otp.rom_trust_anchor(), hash_of("rom key"));

  ASSERT_TRUE(otp.fuse_firmware_key(2, hash_of("fw key")));
  EXPECT_EQ(otp.firmware_key(2), hash_of("fw key"));
  EXPECT_FALSE(otp.firmware_key(1));
  EXPECT_FALSE(otp.fuse_firmware_key(2, hash_of("fw key 2")));
  EXPECT_EQ(otp.firmware_key(2), hash_of("fw key"));
  // The slots are independent of each other and of the trust anchor.
  ASSERT_TRUE(otp.fuse_firmware_key(3, hash_of("rom key")));
  EXPECT_EQ(otp.firmware_key(3), hash_of("rom key"));

  auto no_slot = otp.fuse_firmware_key(kFirmwareKeySlots, hash_of("fw key"));
  ASSERT_FALSE(no_slot);
  EXPECT_TRUE(contains(no_slot.error().message, "slot 4 does not exist"))
      << no_slot.error().message;
  EXPECT_FALSE(otp.firmware_key(kFirmwareKeySlots));
}

TEST(Otp, RevocationRetiresASlotForGood) {
  Otp otp = Otp::in_memory();
  ASSERT_TRUE(otp.fuse_firmware_key(0, hash_of("A")));
  ASSERT_TRUE(otp.fuse_firmware_key(1, hash_of("B")));
  ASSERT_TRUE(otp.revoke_firmware_key(1));
  EXPECT_TRUE(otp.is_revoked(1));
  EXPECT_FALSE(otp.is_revoked(0));
  EXPECT_EQ(otp.firmware_key(1), hash_of("B"));  // still readable, no longer trusted
  EXPECT_TRUE(otp.revoke_firmware_key(1));       // already revoked: nothing to do
  EXPECT_TRUE(otp.is_revoked(1));

  // An empty slot can be retired too, and then never holds a key.
  ASSERT_TRUE(otp.revoke_firmware_key(3));
  auto into_revoked = otp.fuse_firmware_key(3, hash_of("C"));
  ASSERT_FALSE(into_revoked);
  EXPECT_TRUE(contains(into_revoked.error().message, "slot 3 is revoked"))
      << into_revoked.error().message;
  EXPECT_FALSE(otp.firmware_key(3));

  EXPECT_FALSE(otp.revoke_firmware_key(kFirmwareKeySlots));
  EXPECT_TRUE(otp.is_revoked(kFirmwareKeySlots));  // a slot that does not exist is not usable
}

TEST(Otp, TrustedFirmwareKeyHonoursRevocation) {
  Otp otp = Otp::in_memory();
  ASSERT_TRUE(otp.fuse_firmware_key(0, hash_of("A")));
  ASSERT_TRUE(otp.fuse_firmware_key(1, hash_of("B")));
  ASSERT_TRUE(otp.fuse_firmware_key(2, hash_of("A")));
  EXPECT_EQ(otp.trusted_firmware_key(hash_of("A")), 0u);
  EXPECT_EQ(otp.trusted_firmware_key(hash_of("B")), 1u);
  EXPECT_FALSE(otp.trusted_firmware_key(hash_of("C")));

  ASSERT_TRUE(otp.revoke_firmware_key(1));
  EXPECT_FALSE(otp.trusted_firmware_key(hash_of("B")));
  ASSERT_TRUE(otp.revoke_firmware_key(0));
  EXPECT_EQ(otp.trusted_firmware_key(hash_of("A")), 2u);  // the same key, fused again elsewhere
  ASSERT_TRUE(otp.revoke_firmware_key(2));
  EXPECT_FALSE(otp.trusted_firmware_key(hash_of("A")));
  // The ROM trust anchor is not a firmware key.
  ASSERT_TRUE(otp.fuse_rom_trust_anchor(hash_of("R")));
  EXPECT_FALSE(otp.trusted_firmware_key(hash_of("R")));
}

TEST(Otp, SecurityCountersOnlyGoUp) {
  Otp otp = Otp::in_memory();
  ASSERT_TRUE(otp.advance_security_counter(kFirmwareCounter, 5));
  EXPECT_EQ(otp.security_counter(kFirmwareCounter), 5u);
  EXPECT_EQ(otp.security_counter_entries_left(kFirmwareCounter), 63u);
  // Lower or equal: nothing to do, no entry used.
  EXPECT_TRUE(otp.advance_security_counter(kFirmwareCounter, 3));
  EXPECT_TRUE(otp.advance_security_counter(kFirmwareCounter, 5));
  EXPECT_TRUE(otp.advance_security_counter(kFirmwareCounter, 0));
  EXPECT_EQ(otp.security_counter(kFirmwareCounter), 5u);
  EXPECT_EQ(otp.security_counter_entries_left(kFirmwareCounter), 63u);
  ASSERT_TRUE(otp.advance_security_counter(kFirmwareCounter, 0xfffffffe));
  EXPECT_EQ(otp.security_counter(kFirmwareCounter), 0xfffffffeu);
  ASSERT_TRUE(otp.advance_security_counter(kFirmwareCounter, 0xffffffff));
  EXPECT_EQ(otp.security_counter(kFirmwareCounter), 0xffffffffu);
  // Counters are independent.
  EXPECT_EQ(otp.security_counter(kBootloaderCounter), 0u);
  EXPECT_EQ(otp.security_counter_entries_left(kBootloaderCounter), 64u);

  auto no_counter = otp.advance_security_counter(kSecurityCounters, 1);
  ASSERT_FALSE(no_counter);
  EXPECT_TRUE(contains(no_counter.error().message, "security counter 2 does not exist"))
      << no_counter.error().message;
  // A counter that does not exist lets nothing pass an anti-rollback check.
  EXPECT_EQ(otp.security_counter(kSecurityCounters), std::numeric_limits<std::uint32_t>::max());
  EXPECT_EQ(otp.security_counter_entries_left(kSecurityCounters), 0u);
}

TEST(Otp, ExhaustedCounterSaysSoAndKeepsItsValue) {
  Otp otp = Otp::in_memory();
  for (std::uint32_t v = 1; v <= 64; ++v) {
    ASSERT_TRUE(otp.advance_security_counter(kBootloaderCounter, v * 10)) << v;
  }
  EXPECT_EQ(otp.security_counter(kBootloaderCounter), 640u);
  EXPECT_EQ(otp.security_counter_entries_left(kBootloaderCounter), 0u);
  auto full = otp.advance_security_counter(kBootloaderCounter, 641);
  ASSERT_FALSE(full);
  EXPECT_TRUE(contains(full.error().message,
                       "security counter 0 (bootloader) has used all 64 of its fuse entries: it "
                       "stays at 640 and cannot advance to 641"))
      << full.error().message;
  EXPECT_EQ(otp.security_counter(kBootloaderCounter), 640u);
  EXPECT_TRUE(otp.advance_security_counter(kBootloaderCounter, 600));  // no step needed
  EXPECT_TRUE(otp.advance_security_counter(kFirmwareCounter, 1));
}

class OtpFile : public ::testing::Test {
 protected:
  Bytes fuses() const {
    auto data = read_file(path_, 1 << 20);
    if (!data) throw std::runtime_error(data.error().message);
    return *data;
  }
  // Rewrites otp.bin in place, behind the Otp's back, as a torn write or a tamperer would leave it.
  void set_fuses(const Bytes& data) const {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data.data()),
              static_cast<std::streamsize>(data.size()));
    if (!out.flush()) throw std::runtime_error("cannot rewrite " + path_.string());
  }
  Otp reopen() const {
    auto otp = Otp::open(path_);
    if (!otp) throw std::runtime_error(otp.error().message);
    return std::move(*otp);
  }
  std::string open_error() const {
    auto otp = Otp::open(path_);
    return otp ? std::string() : otp.error().message;
  }

  ironroot::testing::TempDir temp_;
  std::filesystem::path path_ = temp_ / "otp.bin";
};

TEST_F(OtpFile, CreateWritesTheDocumentedLayoutOnce) {
  ASSERT_TRUE(Otp::create(path_));
  Bytes data = fuses();
  ASSERT_EQ(data.size(), kOtpSize);
  EXPECT_EQ(as_chars(ByteView(data).first(12)), "ironroot-otp");
  EXPECT_EQ(load_le32(ByteView(data).subspan(12)), 1u);
  for (std::size_t i = 16; i < data.size(); ++i) ASSERT_EQ(data[i], std::byte{0}) << i;

  auto again = Otp::create(path_);
  ASSERT_FALSE(again);
  EXPECT_TRUE(contains(again.error().message, "already exists")) << again.error().message;
  EXPECT_FALSE(Otp::create(temp_ / "missing" / "otp.bin"));
}

TEST_F(OtpFile, EveryFuseReachesTheFileAndSurvivesAReopen) {
  {
    auto otp = Otp::create(path_);
    ASSERT_TRUE(otp) << otp.error().message;
    ASSERT_TRUE(otp->fuse_rom_trust_anchor(hash_of("rom")));
    ASSERT_TRUE(otp->fuse_firmware_key(1, hash_of("fw")));
    ASSERT_TRUE(otp->revoke_firmware_key(2));
    ASSERT_TRUE(otp->advance_security_counter(kFirmwareCounter, 7));
    ASSERT_TRUE(otp->advance_security_counter(kFirmwareCounter, 9));
    // Already in the file while the Otp is open.
    Bytes data = fuses();
    EXPECT_EQ(Bytes(data.begin() + kRomAnchor, data.begin() + kRomAnchor + 64),
              key_field(hash_of("rom")));
    EXPECT_EQ(Bytes(data.begin() + kFirmwareKeys + 64, data.begin() + kFirmwareKeys + 128),
              key_field(hash_of("fw")));
    EXPECT_EQ(data[kRevocation + 2], std::byte{0xff});
    const std::size_t firmware = kCounters + kCounterSize;
    EXPECT_EQ(load_le32(ByteView(data).subspan(firmware)), 7u);
    EXPECT_EQ(load_le32(ByteView(data).subspan(firmware + 4)), ~7u);
    EXPECT_EQ(load_le32(ByteView(data).subspan(firmware + 8)), 9u);
    EXPECT_EQ(load_le32(ByteView(data).subspan(firmware + 12)), ~9u);
  }
  Otp otp = reopen();
  EXPECT_EQ(otp.rom_trust_anchor(), hash_of("rom"));
  EXPECT_EQ(otp.firmware_key(1), hash_of("fw"));
  EXPECT_EQ(otp.trusted_firmware_key(hash_of("fw")), 1u);
  EXPECT_TRUE(otp.is_revoked(2));
  EXPECT_FALSE(otp.is_revoked(1));
  EXPECT_EQ(otp.security_counter(kFirmwareCounter), 9u);
  EXPECT_EQ(otp.security_counter_entries_left(kFirmwareCounter), 62u);
  EXPECT_EQ(otp.security_counter(kBootloaderCounter), 0u);
  // Still write-once after the reopen.
  EXPECT_FALSE(otp.fuse_rom_trust_anchor(hash_of("rom")));
  EXPECT_FALSE(otp.fuse_firmware_key(1, hash_of("other")));
  ASSERT_TRUE(otp.advance_security_counter(kFirmwareCounter, 10));
  EXPECT_EQ(reopen().security_counter(kFirmwareCounter), 10u);
}

TEST_F(OtpFile, FuseBitsOnlyEverGoFromZeroToOne) {
  auto created = Otp::create(path_);
  ASSERT_TRUE(created);
  Otp otp = std::move(*created);
  Bytes before = fuses();
  auto check = [&](const char* step) {
    Bytes after = fuses();
    ASSERT_EQ(after.size(), before.size());
    for (std::size_t i = 0; i < after.size(); ++i) {
      ASSERT_EQ(after[i] & before[i], before[i]) << step << ": a bit was cleared at " << i;
    }
    before = after;
  };
  ASSERT_TRUE(otp.fuse_rom_trust_anchor(hash_of("rom")));
  check("trust anchor");
  for (unsigned slot = 0; slot < kFirmwareKeySlots; ++slot) {
    ASSERT_TRUE(otp.fuse_firmware_key(slot, hash_of("key " + std::to_string(slot))));
    check("firmware key");
    ASSERT_TRUE(otp.revoke_firmware_key(slot));
    check("revocation");
  }
  for (std::uint32_t v : {1u, 2u, 0x80000000u, 0xffffffffu}) {
    ASSERT_TRUE(otp.advance_security_counter(kBootloaderCounter, v));
    check("counter");
  }
}

TEST_F(OtpFile, ATornKeyFuseNeverReadsAsAnotherHash) {
  ASSERT_TRUE(Otp::create(path_));
  const Bytes blank = fuses();
  const crypto::Sha256Digest rom = hash_of("rom");
  const Bytes wanted = key_field(rom);
  // Every way a write of the field can stop part way: byte by byte in order, and 200 random
  // subsets of its bits (a reproducible seed).
  std::vector<Bytes> torn;
  for (std::size_t n = 1; n < wanted.size(); ++n) {
    Bytes field(wanted.size());
    std::copy_n(wanted.begin(), n, field.begin());
    torn.push_back(field);
  }
  std::mt19937_64 random(42);
  for (int i = 0; i < 200; ++i) {
    Bytes field(wanted.size());
    for (std::size_t b = 0; b < field.size(); ++b) {
      field[b] = wanted[b] & static_cast<std::byte>(random() & 0xff);
    }
    if (field != wanted) torn.push_back(field);
  }
  for (const Bytes& field : torn) {
    Bytes data = blank;
    std::copy(field.begin(), field.end(), data.begin() + kRomAnchor);
    std::copy(field.begin(), field.end(), data.begin() + kFirmwareKeys);
    set_fuses(data);
    Otp otp = reopen();
    ASSERT_FALSE(otp.rom_trust_anchor()) << to_hex(field);
    ASSERT_FALSE(otp.firmware_key(0)) << to_hex(field);
    ASSERT_FALSE(otp.trusted_firmware_key(rom)) << to_hex(field);
  }
}

TEST_F(OtpFile, ATornKeyFuseCanBeCompletedButNotOverwritten) {
  ASSERT_TRUE(Otp::create(path_));
  Bytes data = fuses();
  const Bytes wanted = key_field(hash_of("fw"));
  std::copy_n(wanted.begin(), 40, data.begin() + kFirmwareKeys);  // cut after 40 of 64 bytes
  set_fuses(data);
  Otp otp = reopen();
  EXPECT_FALSE(otp.firmware_key(0));
  // Another hash would need set bits cleared.
  auto other = otp.fuse_firmware_key(0, hash_of("something else"));
  ASSERT_FALSE(other);
  EXPECT_TRUE(contains(other.error().message, "firmware key slot 0 is damaged"))
      << other.error().message;
  EXPECT_FALSE(otp.firmware_key(0));
  // Repeating the interrupted write finishes it.
  ASSERT_TRUE(otp.fuse_firmware_key(0, hash_of("fw")));
  EXPECT_EQ(otp.firmware_key(0), hash_of("fw"));
  EXPECT_EQ(reopen().trusted_firmware_key(hash_of("fw")), 0u);
}

TEST_F(OtpFile, ATornCounterEntryIsIgnoredAndUsedUp) {
  {
    auto otp = Otp::create(path_);
    ASSERT_TRUE(otp);
    ASSERT_TRUE(otp->advance_security_counter(kFirmwareCounter, 5));
  }
  Bytes data = fuses();
  const std::size_t entry1 = kCounters + kCounterSize + 8;
  // A write of 0x90000009 cut part way: the value complete, its complement not yet.
  store_le32(std::span(data).subspan(entry1), 0x90000009);
  store_le32(std::span(data).subspan(entry1 + 4), ~0x90000009u & 0x0000ffffu);
  set_fuses(data);
  {
    Otp otp = reopen();
    EXPECT_EQ(otp.security_counter(kFirmwareCounter), 5u);
    EXPECT_EQ(otp.security_counter_entries_left(kFirmwareCounter), 62u);
    ASSERT_TRUE(otp.advance_security_counter(kFirmwareCounter, 6));
    EXPECT_EQ(otp.security_counter(kFirmwareCounter), 6u);
  }
  EXPECT_EQ(load_le32(ByteView(fuses()).subspan(entry1 + 8)), 6u);  // the entry after the torn one

  // Only some bits of a value, and no complement: still ignored.
  data = fuses();
  store_le32(std::span(data).subspan(entry1 + 16), 0x7f000000);
  set_fuses(data);
  EXPECT_EQ(reopen().security_counter(kFirmwareCounter), 6u);
}

TEST_F(OtpFile, ATornRevocationStillRevokes) {
  {
    auto otp = Otp::create(path_);
    ASSERT_TRUE(otp);
    ASSERT_TRUE(otp->fuse_firmware_key(1, hash_of("fw")));
  }
  Bytes data = fuses();
  data[kRevocation + 1] = std::byte{0x10};
  set_fuses(data);
  Otp otp = reopen();
  EXPECT_TRUE(otp.is_revoked(1));
  EXPECT_FALSE(otp.trusted_firmware_key(hash_of("fw")));
  // Revoking again completes the byte.
  ASSERT_TRUE(otp.revoke_firmware_key(1));
  EXPECT_EQ(fuses()[kRevocation + 1], std::byte{0xff});
}

TEST_F(OtpFile, OpenRefusesWhatIsNotAnOtpFile) {
  EXPECT_TRUE(contains(open_error(), "cannot open fuses")) << open_error();
  ASSERT_TRUE(Otp::create(path_));
  const Bytes good = fuses();

  set_fuses(Bytes(good.begin(), good.end() - 8));
  EXPECT_TRUE(contains(open_error(), "are 1368 bytes; an ironroot OTP file is 1376"))
      << open_error();
  Bytes longer = good;
  longer.resize(good.size() + 1);
  set_fuses(longer);
  EXPECT_TRUE(contains(open_error(), "more than the 1376 bytes allowed")) << open_error();

  Bytes magic = good;
  magic[0] = std::byte{'X'};
  set_fuses(magic);
  EXPECT_TRUE(contains(open_error(), "not an ironroot OTP file")) << open_error();

  Bytes version = good;
  version[12] = std::byte{2};
  set_fuses(version);
  EXPECT_TRUE(contains(open_error(), "layout version 2")) << open_error();

  Bytes reserved = good;
  reserved[0x15a] = std::byte{0x04};
  set_fuses(reserved);
  EXPECT_TRUE(contains(open_error(), "reserved fuses at 0x154 to 0x160 are set")) << open_error();

  set_fuses(good);
  EXPECT_EQ(open_error(), "");
}

TEST(Otp, MovesKeepTheFuses) {
  Otp otp = Otp::in_memory();
  ASSERT_TRUE(otp.fuse_rom_trust_anchor(hash_of("rom")));
  Otp moved = std::move(otp);
  EXPECT_EQ(moved.rom_trust_anchor(), hash_of("rom"));
  Otp other = Otp::in_memory();
  other = std::move(moved);
  EXPECT_EQ(other.rom_trust_anchor(), hash_of("rom"));
  // In-memory fuses are per object.
  EXPECT_FALSE(Otp::in_memory().rom_trust_anchor());
}

}  // namespace
}  // namespace ironroot::boot
