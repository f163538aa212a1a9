// The OTA agent's RAM while it downloads: never proportional to the image. Every operator new in
// this test binary is counted (this file replaces the global allocation functions); the peak of
// live bytes from the start of the job to the moment the image is verified (which, as at boot,
// reads the image into RAM inside OtaDevice::verify_update_image) stays within a few blocks.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <new>

#include "ota_world.hpp"

namespace {

std::atomic<std::size_t> live_bytes{0};
std::atomic<std::size_t> peak_bytes{0};
constexpr std::size_t kHeader = alignof(std::max_align_t);

void* counted_new(std::size_t size) {
  auto* base = static_cast<unsigned char*>(std::malloc(size + kHeader));
  if (!base) throw std::bad_alloc();
  *reinterpret_cast<std::size_t*>(base) = size;
  const std::size_t now = live_bytes.fetch_add(size) + size;
  std::size_t peak = peak_bytes.load();
  while (now > peak && !peak_bytes.compare_exchange_weak(peak, now)) {
  }
  return base + kHeader;
}

void counted_delete(void* p) noexcept {
  if (!p) return;
  auto* base = static_cast<unsigned char*>(p) - kHeader;
  live_bytes.fetch_sub(*reinterpret_cast<std::size_t*>(base));
  std::free(base);
}

}  // namespace

void* operator new(std::size_t size) {
  return counted_new(size);
}
void* operator new[](std::size_t size) {
  return counted_new(size);
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return counted_new(size);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return counted_new(size);
  } catch (...) {
    return nullptr;
  }
}
void operator delete(void* p) noexcept {
  counted_delete(p);
}
void operator delete[](void* p) noexcept {
  counted_delete(p);
}
void operator delete(void* p, std::size_t) noexcept {
  counted_delete(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  counted_delete(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  counted_delete(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  counted_delete(p);
}

namespace ironroot::testing {
namespace {

// The real device, noting the peak before the verification reads the image.
class MeasuredDevice final : public agent::OtaDevice {
 public:
  explicit MeasuredDevice(agent::OtaDevice& real) : real_(real) {}
  std::size_t peak_before_verification = 0;

  agent::RunningFirmware running_firmware() override { return real_.running_firmware(); }
  flash::FlashArea& running_slot() override { return real_.running_slot(); }
  flash::FlashArea& update_slot() override { return real_.update_slot(); }
  std::uint32_t fused_security_counter() override { return real_.fused_security_counter(); }
  std::vector<crypto::Sha256Digest> trusted_key_hashes() override {
    return real_.trusted_key_hashes();
  }
  Result<boot::SlotImage> verify_update_image() override {
    peak_before_verification = peak_bytes.load();
    return real_.verify_update_image();
  }
  Status mark_update_pending() override { return real_.mark_update_pending(); }
  Status confirm_running_image() override { return real_.confirm_running_image(); }
  Status run_self_test() override { return real_.run_self_test(); }

 private:
  agent::OtaDevice& real_;
};

TEST(OtaAgentMemoryTest, TheDownloadHoldsAFewBlocksNotTheImage) {
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
  EXPECT_EQ(agent->stats().blocks_written, (update.size() + 4095) / 4096);
}

}  // namespace
}  // namespace ironroot::testing
