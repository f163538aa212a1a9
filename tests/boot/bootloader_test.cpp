// The bootloader's decisions, on simulated flash and fuses: upgrades, confirmation, revert,
// anti-rollback, recovery, and every attack refused while the previous firmware still boots.
#include "ironroot/boot/bootloader.hpp"

#include <gtest/gtest.h>

#include "device_fixture.hpp"
#include "ironroot/boot/rom.hpp"
#include "ironroot/image/image.hpp"

namespace ironroot::testing {
namespace {

using boot::BootFailureKind;

std::string joined(const std::vector<std::string>& events) {
  std::string all;
  for (const auto& e : events) all += e + "\n";
  return all;
}

class BootloaderTest : public ::testing::TestWithParam<boot::UpgradeStrategy> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(otp_.fuse_firmware_key(0, key_.public_key().key_hash()));
    v1_ = device_image(key_, "1.0.0", 1);
    ASSERT_TRUE(boot::install_image(device_.primary(), v1_));
  }
  DeviceConfig config() const {
    DeviceConfig c;
    c.strategy = GetParam();
    return c;
  }
  bool swapping() const { return GetParam() == boot::UpgradeStrategy::swap; }

  boot::BootResult boot_ok() {
    auto b = device_.bootloader(otp_);
    auto r = b.boot();
    EXPECT_TRUE(r) << r.error().reason;
    return r ? std::move(*r) : boot::BootResult{};
  }
  // Stages `img`, boots, and expects the update refused with `reason` while 1.0.0 still runs.
  void expect_refused(ByteView img, const std::string& reason) {
    ASSERT_TRUE(boot::stage_image(device_.secondary(), img, false));
    auto r = boot_ok();
    EXPECT_EQ(r.firmware.version.to_string(), "1.0.0+0");
    EXPECT_NE(joined(r.events).find("update refused: "), std::string::npos) << joined(r.events);
    EXPECT_NE(joined(r.events).find(reason), std::string::npos) << joined(r.events);
    // The refused update is no longer pending, and 1.0.0 boots again.
    auto trailer = boot::read_slot_trailer(device_.secondary());
    ASSERT_TRUE(trailer);
    EXPECT_NE(trailer->magic, image::MagicState::good);
    auto again = boot_ok();
    EXPECT_EQ(again.firmware.version.to_string(), "1.0.0+0");
    EXPECT_EQ(joined(again.events), "");
  }

  crypto::PrivateKey key_ = *crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256);
  boot::Otp otp_ = boot::Otp::in_memory();
  SimulatedDevice device_{config()};
  Bytes v1_;
};

TEST_P(BootloaderTest, BootsTheInstalledImageAndReportsIt) {
  auto r = boot_ok();
  EXPECT_EQ(r.firmware.version.to_string(), "1.0.0+0");
  EXPECT_EQ(r.firmware.security_counter, 1u);
  EXPECT_EQ(r.firmware.key_hash, key_.public_key().key_hash());
  EXPECT_FALSE(r.test_boot);
  EXPECT_EQ(r.image, v1_);
  EXPECT_EQ(r.events.size(), 0u);
}

TEST_P(BootloaderTest, TestUpgradeThenConfirm) {
  Bytes v2 = device_image(key_, "1.1.0", 2);
  ASSERT_TRUE(boot::stage_image(device_.secondary(), v2, false));
  auto first = boot_ok();
  EXPECT_EQ(first.firmware.version.to_string(), "1.1.0+0");
  EXPECT_EQ(first.image, v2);
  if (!swapping()) {
    EXPECT_FALSE(first.test_boot);  // overwrite-only: every update is permanent
    EXPECT_EQ(otp_.security_counter(boot::kFirmwareCounter), 2u);
    return;
  }
  EXPECT_TRUE(first.test_boot);
  EXPECT_EQ(otp_.security_counter(boot::kFirmwareCounter), 0u);         // not before confirmation
  EXPECT_EQ(device_.slot_bytes(device_.secondary(), v1_.size()), v1_);  // the old image is kept
  ASSERT_TRUE(boot::set_confirmed(device_.primary()));
  auto second = boot_ok();
  EXPECT_EQ(second.firmware.version.to_string(), "1.1.0+0");
  EXPECT_FALSE(second.test_boot);
  EXPECT_EQ(otp_.security_counter(boot::kFirmwareCounter), 2u);
  EXPECT_NE(joined(second.events).find("confirmed itself"), std::string::npos);
}

TEST_P(BootloaderTest, UnconfirmedTestImageReverts) {
  if (!swapping()) GTEST_SKIP() << "overwrite-only has no revert";
  Bytes v2 = device_image(key_, "1.2.0", 3);
  ASSERT_TRUE(boot::stage_image(device_.secondary(), v2, false));
  EXPECT_EQ(boot_ok().firmware.version.to_string(), "1.2.0+0");
  auto reverted = boot_ok();  // the test image did not confirm itself
  EXPECT_EQ(reverted.firmware.version.to_string(), "1.0.0+0");
  EXPECT_FALSE(reverted.test_boot);
  EXPECT_NE(joined(reverted.events).find("was not confirmed: reverting to 1.0.0"),
            std::string::npos);
  EXPECT_EQ(device_.slot_bytes(device_.primary(), v1_.size()), v1_);
  EXPECT_EQ(device_.slot_bytes(device_.secondary(), v2.size()), v2);
  EXPECT_EQ(otp_.security_counter(boot::kFirmwareCounter), 1u);
  auto steady = boot_ok();  // and it stays reverted
  EXPECT_EQ(steady.firmware.version.to_string(), "1.0.0+0");
  EXPECT_EQ(steady.events.size(), 0u) << joined(steady.events);
}

TEST_P(BootloaderTest, PermanentUpgradeAdvancesTheCounterAtOnce) {
  Bytes v2 = device_image(key_, "2.0.0", 5);
  ASSERT_TRUE(boot::stage_image(device_.secondary(), v2, true));
  auto r = boot_ok();
  EXPECT_EQ(r.firmware.version.to_string(), "2.0.0+0");
  EXPECT_FALSE(r.test_boot);
  EXPECT_EQ(otp_.security_counter(boot::kFirmwareCounter), 5u);
  EXPECT_EQ(boot_ok().firmware.version.to_string(), "2.0.0+0");
}

TEST_P(BootloaderTest, RefusesTamperedPayload) {
  Bytes img = device_image(key_, "1.1.0", 2);
  img[0x100 + 500] ^= std::byte{1};
  expect_refused(img, "hash mismatch");
}

TEST_P(BootloaderTest, RefusesTamperedHeader) {
  Bytes img = device_image(key_, "1.1.0", 2);
  img[20] = std::byte{9};  // the version's major number
  expect_refused(img, "hash mismatch");
}

TEST_P(BootloaderTest, RefusesUntrustedKey) {
  auto stranger = *crypto::PrivateKey::generate(crypto::KeyType::ed25519);
  expect_refused(device_image(stranger, "1.1.0", 2), "key not trusted");
}

TEST_P(BootloaderTest, RefusesUnsignedImage) {
  // Strip the signature TLV: the image keeps its hash but nothing vouches for it.
  Bytes img = device_image(key_, "1.1.0", 2);
  auto parsed = image::parse_image(img);
  ASSERT_TRUE(parsed);
  const image::Tlv* sig = parsed->find(image::tlv::kEcdsaSig);
  ASSERT_NE(sig, nullptr);
  const std::size_t info = parsed->hashed_size;
  const std::size_t cut = sig->offset;
  Bytes unsigned_img(img.begin(), img.begin() + static_cast<std::ptrdiff_t>(cut));
  store_le16(std::span<std::byte>(unsigned_img).subspan(info + 2),
             static_cast<std::uint16_t>(cut - info));
  expect_refused(unsigned_img, "not signed");
}

TEST_P(BootloaderTest, RefusesRevokedKey) {
  auto second = *crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256);
  ASSERT_TRUE(otp_.fuse_firmware_key(1, second.public_key().key_hash()));
  ASSERT_TRUE(otp_.revoke_firmware_key(1));
  expect_refused(device_image(second, "1.1.0", 2), "revoked key 1");
}

TEST_P(BootloaderTest, RefusesOlderSecurityCounter) {
  ASSERT_TRUE(otp_.advance_security_counter(boot::kFirmwareCounter, 4));
  Bytes v1_again = device_image(key_, "1.0.0", 4);
  ASSERT_TRUE(boot::install_image(device_.primary(), v1_again));
  v1_ = v1_again;
  expect_refused(device_image(key_, "0.9.0", 3), "rollback refused");
}

TEST_P(BootloaderTest, RefusesTruncatedImage) {
  Bytes img = device_image(key_, "1.1.0", 2);
  img.resize(img.size() - 40);
  expect_refused(img, "");
}

TEST_P(BootloaderTest, RefusesImageTooLargeForTheSlot) {
  // Signed for a bigger slot: its TLVs reach into the trailer of this one.
  Bytes img = device_image(key_, "1.1.0", 2, 32 * 1024 - 0x100 - 200, 64 * 1024);
  ASSERT_FALSE(boot::stage_image(device_.secondary(), img, false));  // the stager refuses it first
  // Written by hand anyway (as a malicious stager might), the bootloader still refuses it.
  Bytes head(img.begin(), img.begin() + 0x100);
  store_le32(std::span<std::byte>(head).subspan(12), 40000);  // img_size beyond the slot
  ASSERT_TRUE(boot::stage_image(device_.secondary(), head, false));
  auto r = boot_ok();
  EXPECT_EQ(r.firmware.version.to_string(), "1.0.0+0");
  EXPECT_NE(joined(r.events).find("too large for the slot"), std::string::npos) << joined(r.events);
}

TEST_P(BootloaderTest, RefusesAnImageThatNamesItsKeyOnlyByHash) {
  image::SignOptions o;
  o.version = *image::ImageVersion::parse("1.1.0");
  o.slot_size = 32 * 1024;
  o.pad_header = true;
  o.security_counter = 2;
  auto img = image::sign_image(Bytes(100), o, key_);
  ASSERT_TRUE(img);
  expect_refused(*img, "--public-key-format full");
}

TEST_P(BootloaderTest, RestoresFromTheSecondarySlotWhenThePrimaryIsCorrupt) {
  if (!swapping()) GTEST_SKIP() << "overwrite-only keeps no copy of the previous image";
  Bytes v2 = device_image(key_, "1.0.1", 1);  // same security counter: 1.0.0 stays allowed
  ASSERT_TRUE(boot::stage_image(device_.secondary(), v2, true));
  EXPECT_EQ(boot_ok().firmware.version.to_string(), "1.0.1+0");
  // Flash rot in the primary slot: erase its first sector.
  const auto& first = device_.primary().sectors()[0];
  ASSERT_TRUE(device_.primary().erase(first.offset, first.size));
  auto r = boot_ok();
  EXPECT_EQ(r.firmware.version.to_string(), "1.0.0+0");
  EXPECT_NE(joined(r.events).find("restoring 1.0.0"), std::string::npos) << joined(r.events);
}

TEST_P(BootloaderTest, NeverRestoresAnImageBelowTheFusedCounter) {
  if (!swapping()) GTEST_SKIP() << "overwrite-only keeps no copy of the previous image";
  ASSERT_TRUE(boot::stage_image(device_.secondary(), device_image(key_, "1.1.0", 2), true));
  EXPECT_EQ(boot_ok().firmware.version.to_string(), "1.1.0+0");
  const auto& first = device_.primary().sectors()[0];
  ASSERT_TRUE(device_.primary().erase(first.offset, first.size));
  auto r = device_.bootloader(otp_).boot();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, BootFailureKind::no_valid_image);
  EXPECT_NE(r.error().reason.find("rollback refused"), std::string::npos) << r.error().reason;
}

TEST_P(BootloaderTest, HaltsWhenNothingIsValid) {
  const auto& first = device_.primary().sectors()[0];
  ASSERT_TRUE(device_.primary().erase(first.offset, first.size));
  auto b = device_.bootloader(otp_);
  auto r = b.boot();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, BootFailureKind::no_valid_image);
  EXPECT_NE(r.error().reason.find("primary slot: the slot is empty"), std::string::npos)
      << r.error().reason;
}

INSTANTIATE_TEST_SUITE_P(Strategies, BootloaderTest,
                         ::testing::Values(boot::UpgradeStrategy::swap,
                                           boot::UpgradeStrategy::overwrite),
                         [](const ::testing::TestParamInfo<boot::UpgradeStrategy>& p) {
                           return std::string(boot::to_string(p.param));
                         });

TEST(RomStage, VerifiesTheBootloaderAgainstTheFusedAnchor) {
  DeviceConfig c;
  SimulatedDevice device(c);
  auto rom_key = *crypto::PrivateKey::generate(crypto::KeyType::ed25519);
  auto wrong = *crypto::PrivateKey::generate(crypto::KeyType::ed25519);
  auto otp = boot::Otp::in_memory();
  auto area =
      *device.flash().area(device.layout().bootloader.offset, device.layout().bootloader.size);
  auto write = [&](const Bytes& img) {
    const auto& sectors = area->sectors();
    for (const auto& s : sectors) ASSERT_TRUE(area->erase(s.offset, s.size));
    Bytes padded = img;
    padded.resize((padded.size() + 3) / 4 * 4, std::byte{0xff});
    ASSERT_TRUE(area->write(0, padded));
  };
  write(device_image(rom_key, "0.3.0", 1, 2000));
  auto unprovisioned = boot::rom_verify_bootloader(*area, otp);
  ASSERT_FALSE(unprovisioned);
  EXPECT_NE(unprovisioned.error().message.find("never provisioned"), std::string::npos);
  ASSERT_TRUE(otp.fuse_rom_trust_anchor(rom_key.public_key().key_hash()));
  auto ok = boot::rom_verify_bootloader(*area, otp);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->version.to_string(), "0.3.0+0");
  write(device_image(wrong, "0.3.0", 1, 2000));
  auto refused = boot::rom_verify_bootloader(*area, otp);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("key not trusted"), std::string::npos)
      << refused.error().message;
}

}  // namespace
}  // namespace ironroot::testing
