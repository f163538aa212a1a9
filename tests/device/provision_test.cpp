// Factory provisioning: fuses and images go in only when the device will boot them.
#include "ironroot/device/provision.hpp"

#include <gtest/gtest.h>

#include "ironroot/boot/rom.hpp"
#include "ironroot/crypto/key.hpp"
#include "ironroot/image/sign.hpp"

namespace ironroot::testing {
namespace {

using device::Board;
using device::Provisioning;

constexpr std::uint64_t kSlot = 64 * 1024;

Bytes elf_payload(std::size_t size) {
  Bytes payload = to_bytes(
      "\x7f"
      "ELF");
  for (std::size_t i = payload.size(); i < size; ++i) payload.push_back(std::byte(i * 13));
  return payload;
}

Bytes sign(crypto::Signer& key, const std::string& version, ByteView payload,
           std::optional<std::uint32_t> counter = 7, std::uint64_t slot = kSlot) {
  image::SignOptions o;
  o.version = *image::ImageVersion::parse(version);
  o.header_size = 0x200;
  o.pad_header = true;
  o.slot_size = slot;
  o.security_counter = counter;
  o.public_key_format = image::PublicKeyFormat::full;
  auto img = image::sign_image(payload, o, key);
  EXPECT_TRUE(img) << img.error().message;
  return img ? *img : Bytes{};
}

class ProvisionTest : public ::testing::Test {
 protected:
  Board board() {
    device::DeviceConfig config;
    config.slot_size = kSlot;
    auto b = Board::in_memory(config);
    EXPECT_TRUE(b) << b.error().message;
    return std::move(*b);
  }
  Provisioning provisioning() {
    Provisioning p;
    p.rom_key_hash = rom_.public_key().key_hash();
    p.firmware_key_hashes = {fw_.public_key().key_hash(), fw2_.public_key().key_hash()};
    p.bootloader_image = bootloader_;
    p.firmware_image = firmware_;
    return p;
  }
  std::string error_of(const Provisioning& p) {
    Board b = board();
    auto r = device::provision(b, p);
    return r ? "" : r.error().message;
  }

  crypto::PrivateKey rom_ = *crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256);
  crypto::PrivateKey fw_ = *crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256);
  crypto::PrivateKey fw2_ = *crypto::PrivateKey::generate(crypto::KeyType::ed25519);
  Bytes bootloader_ = sign(rom_, "2.0.0", to_bytes("second-stage bootloader"), 3, 0x8000);
  Bytes firmware_ = sign(fw2_, "1.0.0", elf_payload(5000), 9);
};

TEST_F(ProvisionTest, FusesProgramsAndBoots) {
  Board b = board();
  auto done = device::provision(b, provisioning());
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_EQ(done->bootloader.version.to_string(), "2.0.0+0");
  EXPECT_EQ(done->firmware.version.to_string(), "1.0.0+0");
  EXPECT_EQ(done->firmware.key_slot, 1u);
  boot::Otp& otp = b.otp();
  EXPECT_EQ(otp.rom_trust_anchor(), rom_.public_key().key_hash());
  EXPECT_EQ(otp.firmware_key(0), fw_.public_key().key_hash());
  EXPECT_EQ(otp.firmware_key(1), fw2_.public_key().key_hash());
  EXPECT_FALSE(otp.firmware_key(2));
  EXPECT_EQ(otp.security_counter(boot::kBootloaderCounter), 3u);
  EXPECT_EQ(otp.security_counter(boot::kFirmwareCounter), 9u);

  // The first boot starts exactly the installed image, confirmed.
  ASSERT_TRUE(boot::rom_verify_bootloader(b.bootloader(), otp));
  auto loader = boot::Bootloader::create(b.boot_areas(), otp, boot::UpgradeStrategy::swap);
  ASSERT_TRUE(loader);
  auto booted = loader->boot();
  ASSERT_TRUE(booted) << booted.error().reason;
  EXPECT_FALSE(booted->test_boot);
  EXPECT_EQ(ByteView(booted->image)
                .subspan(booted->firmware.header_size, booted->firmware.payload_size)
                .size(),
            5000u);
}

TEST_F(ProvisionTest, RefusesABootloaderTheRomWouldNotBoot) {
  Provisioning p = provisioning();
  Bytes wrong = sign(fw_, "2.0.0", to_bytes("second-stage bootloader"), 3, 0x8000);
  p.bootloader_image = wrong;
  const std::string message = error_of(p);
  EXPECT_NE(message.find("the bootloader image would not boot: ROM: bootloader image refused"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find(to_hex(ByteView(rom_.public_key().key_hash()).first(8))),
            std::string::npos)
      << message;
}

TEST_F(ProvisionTest, RefusesFirmwareTheBootloaderWouldNotBoot) {
  crypto::PrivateKey stranger = *crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256);
  Provisioning p = provisioning();
  Bytes foreign = sign(stranger, "1.0.0", elf_payload(5000));
  p.firmware_image = foreign;
  EXPECT_NE(error_of(p).find("the firmware image would not boot"), std::string::npos)
      << error_of(p);

  Bytes no_counter = sign(fw_, "1.0.0", elf_payload(5000), std::nullopt);
  p.firmware_image = no_counter;
  EXPECT_NE(error_of(p).find("has no security counter"), std::string::npos) << error_of(p);

  Bytes script = sign(fw_, "1.0.0", to_bytes("#!/bin/sh\necho hi\n"));
  p.firmware_image = script;
  EXPECT_NE(error_of(p).find("payload is not an ELF executable"), std::string::npos) << error_of(p);

  Bytes big = sign(fw_, "1.0.0", elf_payload(70000), 7, 1 << 20);
  p.firmware_image = big;
  EXPECT_NE(error_of(p).find("do not fit the"), std::string::npos) << error_of(p);
}

TEST_F(ProvisionTest, RefusesBadKeyLists) {
  Provisioning p = provisioning();
  p.firmware_key_hashes.clear();
  EXPECT_NE(error_of(p).find("trusts 1 to 4 firmware keys, not 0"), std::string::npos);
  p.firmware_key_hashes.assign(5, fw_.public_key().key_hash());
  EXPECT_NE(error_of(p).find("not 5"), std::string::npos);
  p.firmware_key_hashes = {fw_.public_key().key_hash(), fw_.public_key().key_hash()};
  EXPECT_NE(error_of(p).find("is given twice"), std::string::npos) << error_of(p);
}

}  // namespace
}  // namespace ironroot::testing
