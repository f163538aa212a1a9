// Image verification against its floor: OpenSSL's raw SHA-256 over the same bytes, in the same
// run. verify_image must hash the image once and add only a signature check; the goal is a ratio
// <= 1.10 on a 4 MiB image (scripts/bench computes it into docs/BENCHMARKS.md).
#include <benchmark/benchmark.h>
#include <openssl/evp.h>

#include <random>

#include "ironroot/image/image.hpp"
#include "ironroot/image/sign.hpp"

namespace {

using namespace ironroot;

constexpr std::size_t kPayloadSize = 4 * 1024 * 1024;

struct Fixture {
  crypto::PrivateKey key;
  Bytes image;
  std::vector<crypto::PublicKey> trusted;

  explicit Fixture(crypto::KeyType type) : key(*crypto::PrivateKey::generate(type)) {
    Bytes firmware(kPayloadSize);
    std::mt19937 rng(42);
    for (auto& b : firmware) b = std::byte(rng() & 0xff);
    image::SignOptions options;
    options.version = *image::ImageVersion::parse("1.0.0");
    options.pad_header = true;
    options.slot_size = kPayloadSize + 0x10000;
    image = *image::sign_image(firmware, options, key);
    trusted = {key.public_key()};
  }
};

Fixture& fixture(crypto::KeyType type) {
  static Fixture ecdsa(crypto::KeyType::ecdsa_p256);
  static Fixture ed25519(crypto::KeyType::ed25519);
  return type == crypto::KeyType::ed25519 ? ed25519 : ecdsa;
}

void BM_OpensslSha256(benchmark::State& state) {
  const Bytes& data = fixture(crypto::KeyType::ecdsa_p256).image;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  for (auto _ : state) {
    EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
    benchmark::DoNotOptimize(digest);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * data.size()));
}

void BM_VerifyImage(benchmark::State& state, crypto::KeyType type) {
  Fixture& f = fixture(type);
  for (auto _ : state) {
    auto verified = image::verify_image(f.image, f.trusted);
    if (!verified) state.SkipWithError(verified.error().message.c_str());
    benchmark::DoNotOptimize(verified);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * f.image.size()));
}

}  // namespace

BENCHMARK(BM_OpensslSha256)->Name("sha256_openssl_4MiB")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_VerifyImage, ecdsa, ironroot::crypto::KeyType::ecdsa_p256)
    ->Name("verify_image_ecdsa_p256_4MiB")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_VerifyImage, ed25519, ironroot::crypto::KeyType::ed25519)
    ->Name("verify_image_ed25519_4MiB")
    ->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
