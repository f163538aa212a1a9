// The bootloader's RAM while it verifies a slot: bounded, not the image's size. Every operator new
// in this binary is counted (heap_meter.hpp), so it is a binary of its own.
#include <gtest/gtest.h>

#include <iostream>

#include "device_fixture.hpp"
#include "heap_meter.hpp"
#include "ironroot/boot/bootloader.hpp"

namespace ironroot::testing {
namespace {

constexpr std::size_t kBound = 64 * 1024;

TEST(VerifyMemoryTest, InspectingASlotHoldsChunksNotTheImage) {
  DeviceConfig config;
  config.slot_size = 2 * 1024 * 1024;
  SimulatedDevice device(config);
  auto otp = boot::Otp::in_memory();
  auto key = *crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256);
  ASSERT_TRUE(otp.fuse_firmware_key(0, key.public_key().key_hash()));
  {
    const Bytes update = device_image(key, "1.1.0", 2, 1536 * 1024, config.slot_size);
    ASSERT_TRUE(boot::stage_image(device.secondary(), update, false));
  }
  auto loader = device.bootloader(otp);

  const std::size_t baseline = heap_meter::mark();
  auto info = loader.inspect(device.secondary(), true);
  const std::size_t growth = heap_meter::peak_growth(baseline);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_GT(info->size, 1536u * 1024);
  std::cout << "peak heap growth verifying " << info->size << " bytes from flash: " << growth
            << " bytes\n";
  // A 4 KiB chunk, the header and TLV copies, the parsed TLV list, OpenSSL's key and digest state.
  EXPECT_LT(growth, kBound);
  EXPECT_GT(growth, 0u);

  // The meter sees a whole image when one is read: this test would notice a RAM copy.
  const std::size_t before_read = heap_meter::mark();
  auto bytes = boot::read_image(device.secondary(), device.secondary().size());
  ASSERT_TRUE(bytes) << bytes.error().message;
  EXPECT_GE(heap_meter::peak_growth(before_read), info->size);
}

}  // namespace
}  // namespace ironroot::testing
