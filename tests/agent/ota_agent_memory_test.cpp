// The OTA agent's RAM through a whole update: never proportional to the image. Every operator new
// in this test binary is counted (tests/boot/heap_meter.hpp replaces the global allocation
// functions); the peak of live bytes from the start of the job to the moment the image is
// verified, and then through the verification (which reads the update slot from flash in 4 KiB
// chunks, as the bootloader does) and marking it pending, stays within a few blocks.
#include <gtest/gtest.h>

#include <iostream>

#include "../boot/heap_meter.hpp"
#include "ota_world.hpp"

namespace ironroot::testing {
namespace {

using heap_meter::live_bytes;
using heap_meter::peak_bytes;

// The real device, noting the peak before the verification and the peak through it.
class MeasuredDevice final : public agent::OtaDevice {
 public:
  explicit MeasuredDevice(agent::OtaDevice& real) : real_(real) {}
  std::size_t peak_before_verification = 0;
  std::size_t peak_through_verification = 0;

  agent::RunningFirmware running_firmware() override { return real_.running_firmware(); }
  flash::FlashArea& running_slot() override { return real_.running_slot(); }
  flash::FlashArea& update_slot() override { return real_.update_slot(); }
  std::uint32_t fused_security_counter() override { return real_.fused_security_counter(); }
  std::vector<crypto::Sha256Digest> trusted_key_hashes() override {
    return real_.trusted_key_hashes();
  }
  Result<boot::SlotImage> verify_update_image() override {
    peak_before_verification = peak_bytes.load();
    auto verified = real_.verify_update_image();
    peak_through_verification = peak_bytes.load();
    return verified;
  }
  Status mark_update_pending() override { return real_.mark_update_pending(); }
  Status confirm_running_image() override { return real_.confirm_running_image(); }
  Status run_self_test() override { return real_.run_self_test(); }

 private:
  agent::OtaDevice& real_;
};

TEST(OtaAgentMemoryTest, TheUpdateHoldsAFewBlocksNotTheImage) {
  OtaWorld world(2 * 1024 * 1024);
  const Bytes update = world.image("1.1.0", 2, 1536 * 1024);
  const auto document = world.document(update, "1.1.0", 2);
  StreamServer server{std::string(kThing), std::string(kStream), update};
  server.keep_history = false;
  auto real = world.device();
  MeasuredDevice device(*real);
  auto agent = world.agent(server, device);
  RecordedProgress progress;
  const auto job = OtaWorld::job(document);

  const std::size_t baseline = live_bytes.load();
  peak_bytes.store(baseline);
  ASSERT_EQ(agent->handle(job, progress).kind, agent::JobOutcome::Kind::continue_after_restart);
  const std::size_t growth = device.peak_before_verification - baseline;
  // One block in flight, decoded (the message, its CBOR document and the block: ~3 x 4 KiB), the
  // test server's copy of it, the bitmap (48 bytes) and the request: well under 64 KiB, against
  // a 1.5 MiB image.
  std::cout << "peak heap growth while downloading " << update.size() << " bytes: " << growth
            << " bytes\n";
  EXPECT_LT(growth, 64u * 1024) << "peak growth " << growth << " bytes";
  EXPECT_GT(device.peak_before_verification, 0u);
  // Through the verification (a 4 KiB chunk, the header and TLV copies, OpenSSL's state) and
  // marking the update pending: still within 64 KiB beyond the block buffer.
  ASSERT_GT(device.peak_through_verification, 0u) << "the image was never verified";
  const std::size_t verification_growth = device.peak_through_verification - baseline;
  const std::size_t whole_growth = peak_bytes.load() - baseline;
  std::cout << "peak heap growth through verification: " << verification_growth
            << " bytes; through the whole job: " << whole_growth << " bytes\n";
  EXPECT_LT(verification_growth, 64u * 1024 + OtaWorld::settings().block_size)
      << "peak growth through verification " << verification_growth << " bytes";
  EXPECT_LT(whole_growth, 64u * 1024 + OtaWorld::settings().block_size)
      << "peak growth through the job " << whole_growth << " bytes";
  EXPECT_TRUE(world.update_pending());
  EXPECT_EQ(agent->stats().blocks_written, (update.size() + 4095) / 4096);
}

}  // namespace
}  // namespace ironroot::testing
