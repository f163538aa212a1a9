// The bootloader verifies a slot from flash a chunk at a time (Bootloader::inspect, every boot
// step that only judges a slot, the ROM stage), and reaches exactly the verdict the in-RAM
// verification of the same bytes reaches: the boot step that keeps the bytes it starts still
// verifies them in RAM, and both say the same thing about every tampered image.
#include <gtest/gtest.h>

#include "device_fixture.hpp"
#include "ironroot/boot/bootloader.hpp"
#include "ironroot/boot/rom.hpp"
#include "ironroot/image/image.hpp"

namespace ironroot::testing {
namespace {

// A FlashArea that passes everything to another and records the reads.
class ReadRecorder final : public flash::FlashArea {
 public:
  explicit ReadRecorder(flash::FlashArea& area) : area_(area) {}

  std::uint64_t size() const override { return area_.size(); }
  std::uint32_t write_align() const override { return area_.write_align(); }
  std::byte erased_value() const override { return area_.erased_value(); }
  std::span<const flash::Sector> sectors() const override { return area_.sectors(); }
  flash::FlashResult<void> read(std::uint64_t offset, std::span<std::byte> out) override {
    largest_read = std::max(largest_read, out.size());
    bytes_read += out.size();
    return area_.read(offset, out);
  }
  flash::FlashResult<void> write(std::uint64_t offset, ByteView data) override {
    return area_.write(offset, data);
  }
  flash::FlashResult<void> erase(std::uint64_t offset, std::uint64_t length) override {
    return area_.erase(offset, length);
  }

  std::size_t largest_read = 0;
  std::uint64_t bytes_read = 0;

 private:
  flash::FlashArea& area_;
};

// Writes `img` at the start of `area` without a trailer: there, but not pending.
void write_raw(flash::FlashArea& area, ByteView img) {
  for (const auto& s : area.sectors()) ASSERT_TRUE(area.erase(s.offset, s.size));
  Bytes padded(img.begin(), img.end());
  padded.resize((padded.size() + area.write_align() - 1) / area.write_align() * area.write_align(),
                area.erased_value());
  ASSERT_TRUE(area.write(0, padded));
}

class SlotVerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(otp_.fuse_firmware_key(0, key_.public_key().key_hash()));
    ASSERT_TRUE(otp_.advance_security_counter(boot::kFirmwareCounter, 2));
  }
  static DeviceConfig config() {
    DeviceConfig c;
    c.slot_size = 256 * 1024;
    return c;
  }

  crypto::PrivateKey key_ = *crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256);
  boot::Otp otp_ = boot::Otp::in_memory();
  SimulatedDevice device_{config()};
};

TEST_F(SlotVerifyTest, InspectReadsTheSlotInBoundedChunks) {
  const Bytes img = device_image(key_, "1.1.0", 2, 200 * 1024, 256 * 1024);
  write_raw(device_.secondary(), img);
  ReadRecorder recorded(device_.secondary());
  auto loader = device_.bootloader(otp_);
  auto info = loader.inspect(recorded, true);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->version.to_string(), "1.1.0+0");
  EXPECT_EQ(info->size, img.size());
  EXPECT_EQ(info->hash, crypto::sha256(ByteView(img).first(image::parse_image(img)->hashed_size)));
  EXPECT_LE(recorded.largest_read, image::kImageReadChunk);
  // Each byte about once: the header and TLV info to size the image, then header, TLVs, payload.
  EXPECT_LE(recorded.bytes_read, img.size() + 2048);
}

TEST_F(SlotVerifyTest, TheRomStageReadsTheBootloaderInBoundedChunks) {
  auto area =
      *device_.flash().area(device_.layout().bootloader.offset, device_.layout().bootloader.size);
  auto rom_key = *crypto::PrivateKey::generate(crypto::KeyType::ed25519);
  ASSERT_TRUE(otp_.fuse_rom_trust_anchor(rom_key.public_key().key_hash()));
  const Bytes img = device_image(rom_key, "0.3.0", 1, 12000, area->size());
  write_raw(*area, img);
  ReadRecorder recorded(*area);
  auto ok = boot::rom_verify_bootloader(recorded, otp_);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->version.to_string(), "0.3.0+0");
  EXPECT_LE(recorded.largest_read, image::kImageReadChunk);
  Bytes tampered = img;
  tampered[0x100 + 6000] ^= std::byte{1};
  write_raw(*area, tampered);
  auto refused = boot::rom_verify_bootloader(*area, otp_);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("hash mismatch"), std::string::npos)
      << refused.error().message;
}

// The same tampered image in both slots: boot() judges the primary in RAM (it keeps the bytes it
// starts) and the secondary from flash, and must give the same reason for both.
TEST_F(SlotVerifyTest, FlashAndRamVerificationRefuseTheSameImagesForTheSameReason) {
  const Bytes good = device_image(key_, "1.1.0", 2, 30000, 256 * 1024);
  const image::ImageView parsed = *image::parse_image(good);
  auto stranger = *crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256);
  auto revoked = *crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256);
  ASSERT_TRUE(otp_.fuse_firmware_key(1, revoked.public_key().key_hash()));
  ASSERT_TRUE(otp_.revoke_firmware_key(1));
  auto flipped = [&](std::size_t at) {
    Bytes copy = good;
    copy[at] ^= std::byte{0x01};
    return copy;
  };
  struct Case {
    const char* what;
    Bytes image;
    const char* reason;
  };
  const std::vector<Case> cases = {
      {"a payload byte", flipped(0x100 + 20000), "hash mismatch"},
      {"a header byte", flipped(20), "hash mismatch"},
      {"a protected TLV byte", flipped(parsed.find(image::tlv::kSecCnt)->offset + 4),
       "hash mismatch"},
      {"a signature byte", flipped(parsed.find(image::tlv::kEcdsaSig)->offset + 4 + 30),
       "signature"},
      // Cut short: the erased flash after it reads as a malformed TLV area.
      {"truncated", Bytes(good.begin(), good.end() - 40), ""},
      {"a wrong key", device_image(stranger, "1.1.0", 2, 30000, 256 * 1024), "key not trusted"},
      {"a revoked key", device_image(revoked, "1.1.0", 2, 30000, 256 * 1024), "revoked key 1"},
      {"a security counter below the fused one", device_image(key_, "1.1.0", 1, 30000, 256 * 1024),
       "rollback refused"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    write_raw(device_.primary(), c.image);
    write_raw(device_.secondary(), c.image);
    auto loader = device_.bootloader(otp_);
    auto from_flash = loader.inspect(device_.primary(), true);
    ASSERT_FALSE(from_flash);
    EXPECT_NE(from_flash.error().message.find(c.reason), std::string::npos)
        << from_flash.error().message;
    auto r = loader.boot();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().reason,
              "no valid image to boot: primary slot: " + from_flash.error().message +
                  "; secondary slot: " + from_flash.error().message);
  }
  // And the good image, from flash and from RAM alike.
  write_raw(device_.primary(), good);
  auto loader = device_.bootloader(otp_);
  auto inspected = loader.inspect(device_.primary(), true);
  ASSERT_TRUE(inspected) << inspected.error().message;
  auto booted = loader.boot();
  ASSERT_TRUE(booted) << booted.error().reason;
  EXPECT_EQ(booted->firmware.hash, inspected->hash);
  EXPECT_EQ(booted->firmware.key_hash, inspected->key_hash);
  EXPECT_EQ(booted->firmware.size, inspected->size);
  EXPECT_EQ(booted->image, good);
}

}  // namespace
}  // namespace ironroot::testing
