// Secure boot against its floor, in the same run:
//  - the boot chain (ROM stage verifying the bootloader, bootloader validating the primary image)
//    for 1 MiB and 4 MiB firmware, against OpenSSL's raw SHA-256 over the same image bytes;
//  - flash erases, writes and bytes written by one upgrade of a 1 MiB image, for each strategy,
//    reported as counters next to the minimum the strategy needs (scripts/bench makes the table).
#include <benchmark/benchmark.h>
#include <openssl/evp.h>

#include <random>

#include "ironroot/boot/bootloader.hpp"
#include "ironroot/boot/layout.hpp"
#include "ironroot/boot/rom.hpp"
#include "ironroot/boot/slot_state.hpp"
#include "ironroot/image/sign.hpp"

namespace {

using namespace ironroot;

constexpr std::uint64_t kMiB = 1024 * 1024;

Bytes signed_image(crypto::Signer& key, const char* version, std::uint32_t counter,
                   std::size_t payload, std::uint64_t slot) {
  Bytes firmware(payload);
  std::mt19937 rng(counter);
  for (auto& b : firmware) b = std::byte(rng() & 0xff);
  image::SignOptions o;
  o.version = *image::ImageVersion::parse(version);
  o.pad_header = true;
  o.header_size = 0x400;
  o.slot_size = slot;
  o.security_counter = counter;
  o.public_key_format = image::PublicKeyFormat::full;
  return *image::sign_image(firmware, o, key);
}

struct Device {
  boot::BootLayout layout;
  std::shared_ptr<flash::NorFlash> flash;
  std::unique_ptr<flash::FlashArea> bootloader, primary, secondary, scratch, status;
  boot::Otp otp = boot::Otp::in_memory();
  crypto::PrivateKey key = *crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256);
  Bytes firmware;

  Device(std::uint64_t slot, std::size_t payload) {
    layout = *boot::make_boot_layout("uniform-4k", {4, std::byte{0xff}, slot, 1});
    flash = *flash::NorFlash::in_memory(layout.geometry);
    bootloader = *flash->area(layout.bootloader.offset, layout.bootloader.size);
    primary = *flash->area(layout.primary.offset, layout.primary.size);
    secondary = *flash->area(layout.secondary.offset, layout.secondary.size);
    scratch = *flash->area(layout.scratch.offset, layout.scratch.size);
    status = *flash->area(layout.status.offset, layout.status.size);
    (void)otp.fuse_rom_trust_anchor(key.public_key().key_hash());
    (void)otp.fuse_firmware_key(0, key.public_key().key_hash());
    Bytes bl = signed_image(key, "0.1.0", 1, 16 * 1024, layout.bootloader.size);
    bl.resize((bl.size() + 3) / 4 * 4, std::byte{0xff});
    (void)bootloader->write(0, bl);
    firmware = signed_image(key, "1.0.0", 1, payload, slot);
    (void)boot::install_image(*primary, firmware);
  }
  boot::Bootloader loader(boot::UpgradeStrategy strategy) {
    return *boot::Bootloader::create({primary.get(), secondary.get(), scratch.get(), status.get()},
                                     otp, strategy);
  }
};

void BM_Sha256(benchmark::State& state) {
  Device device(8 * kMiB, static_cast<std::size_t>(state.range(0)) * kMiB);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  for (auto _ : state) {
    EVP_Digest(device.firmware.data(), device.firmware.size(), digest, &len, EVP_sha256(), nullptr);
    benchmark::DoNotOptimize(digest);
  }
}

void BM_BootChain(benchmark::State& state) {
  Device device(8 * kMiB, static_cast<std::size_t>(state.range(0)) * kMiB);
  for (auto _ : state) {
    auto bl = boot::rom_verify_bootloader(*device.bootloader, device.otp);
    auto loader = device.loader(boot::UpgradeStrategy::swap);
    auto result = loader.boot();
    if (!bl || !result) state.SkipWithError("boot failed");
    benchmark::DoNotOptimize(result);
  }
}

// One upgrade of a 1 MiB image (swap: a test install; overwrite: permanent), counted.
void BM_Upgrade(benchmark::State& state, boot::UpgradeStrategy strategy) {
  const std::size_t payload = kMiB - 0x400 - 512;  // a 1 MiB image
  std::uint64_t erases = 0, writes = 0, bytes = 0, image_size = 0, units = 0;
  for (auto _ : state) {
    state.PauseTiming();
    Device device(2 * kMiB, payload);
    Bytes update = signed_image(device.key, "1.1.0", 2, payload, 2 * kMiB);
    image_size = update.size();
    (void)boot::stage_image(*device.secondary, update, false);
    const auto e0 = device.flash->erase_count(), w0 = device.flash->write_count(),
               b0 = device.flash->bytes_written();
    auto loader = device.loader(strategy);
    state.ResumeTiming();
    auto result = loader.boot();
    state.PauseTiming();
    if (!result) state.SkipWithError("upgrade failed");
    erases = device.flash->erase_count() - e0;
    writes = device.flash->write_count() - w0;
    bytes = device.flash->bytes_written() - b0;
    units = (image_size + 4095) / 4096 + 1;  // the image's sectors and the trailer's
    state.ResumeTiming();
  }
  // The minimum: swap moves each unit three times (secondary->scratch, primary->secondary,
  // scratch->primary) and erases three sectors for it; overwrite erases and programs each once.
  const bool swap = strategy == boot::UpgradeStrategy::swap;
  state.counters["erases"] = static_cast<double>(erases);
  state.counters["writes"] = static_cast<double>(writes);
  state.counters["bytes_written"] = static_cast<double>(bytes);
  state.counters["min_erases"] = static_cast<double>((swap ? 3 : 1) * units);
  state.counters["min_bytes_written"] = static_cast<double>((swap ? 3 : 1) * image_size);
}

}  // namespace

BENCHMARK(BM_Sha256)->Name("boot_sha256_openssl")->Arg(1)->Arg(4)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_BootChain)->Name("boot_chain")->Arg(1)->Arg(4)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Upgrade, swap, ironroot::boot::UpgradeStrategy::swap)
    ->Name("upgrade_1MiB_swap")
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Upgrade, overwrite, ironroot::boot::UpgradeStrategy::overwrite)
    ->Name("upgrade_1MiB_overwrite")
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
