// The device OTA agent's peak heap during one whole update: the real OtaAgent over a real
// in-memory device::Board (tests/agent/ota_world.hpp) downloads a 1 MiB image from the tests'
// in-process stream service (tests/agent/stream_server.hpp), verifies it as the bootloader will
// (from flash, a chunk at a time) and marks it pending. Run it under Valgrind's massif;
// scripts/bench-ota-heap does, for several block sizes, and reports the JSON.
//
//   ota_agent_heap [BLOCK_SIZE [BASELINE_SNAPSHOT_FILE]]
//
// BLOCK_SIZE: bytes per block (default 4096). The simulated flash, the image and the stream
// service's copy of it are heap too, so the program marks where the update starts: under massif
// it writes a snapshot to BASELINE_SNAPSHOT_FILE (massif's `snapshot` monitor command) just before
// OtaAgent::handle and another to BASELINE_SNAPSHOT_FILE.end just after. Before the first it
// allocates a ballast larger than anything the setup held only for a while (signing the image),
// so that the run's peak falls inside the update: the runner checks that it does (the peak comes
// after the baseline snapshot) and reports the peak minus the baseline.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include "agent/ota_world.hpp"

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define IRONROOT_HAVE_VALGRIND 1
#endif

namespace {

using namespace ironroot;
using namespace ironroot::testing;

constexpr std::size_t kPayloadSize = 1024 * 1024;
constexpr std::uint64_t kSlotSize = 2 * 1024 * 1024;

// Writes a massif snapshot to `file`; false when not running under massif.
bool massif_snapshot(const std::string& file) {
#ifdef IRONROOT_HAVE_VALGRIND
  if (file.empty() || !RUNNING_ON_VALGRIND) return false;
  std::string command = "snapshot " + file;
  // The macro takes a char*; the command is only read.
  return VALGRIND_MONITOR_COMMAND(command.data()) == 0;
#else
  (void)file;
  return false;
#endif
}

int run(std::uint32_t block_size, const std::string& snapshot_file) {
  OtaWorld world(kSlotSize);
  Bytes update = world.image("1.1.0", 2, kPayloadSize);
  const std::size_t image_size = update.size();
  const auto document = world.document(update, "1.1.0", 2);
  StreamServer server{std::string(kThing), std::string(kStream), std::move(update)};
  server.keep_history = false;
  auto device = world.device();
  auto settings = OtaWorld::settings();
  settings.block_size = block_size;
  settings.window_blocks = std::min<std::uint32_t>(8, 131072 / block_size);
  auto agent = world.agent(server, *device, settings);
  if (!agent) return 1;
  RecordedProgress progress;
  const auto job = OtaWorld::job(document);

  // Larger than the setup's passing allocations (the payload and its signed copy): the peak of
  // the run is then the baseline plus what the update adds.
  Bytes ballast(4 * image_size);
  asm volatile("" : : "r"(ballast.data()) : "memory");  // kept: the compiler may not elide it
  const bool marked = massif_snapshot(snapshot_file);
  const agent::JobOutcome outcome = agent->handle(job, progress);
  if (marked) massif_snapshot(snapshot_file + ".end");

  if (outcome.kind != agent::JobOutcome::Kind::continue_after_restart || !world.update_pending()) {
    std::cerr << "ota_agent_heap: the update did not complete: ";
    for (const auto& [k, v] : outcome.status_details) std::cerr << k << "=" << v << " ";
    std::cerr << "\n";
    return 1;
  }
  std::cout << "{\"block_size\": " << block_size << ", \"image_bytes\": " << image_size
            << ", \"blocks_written\": " << agent->stats().blocks_written
            << ", \"baseline_snapshot\": " << (marked ? "true" : "false") << "}\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint32_t block_size = 4096;
  if (argc > 1) {
    char* end = nullptr;
    const unsigned long value = std::strtoul(argv[1], &end, 10);
    if (*argv[1] == '\0' || *end != '\0' || value < 256 || value > 131072) {
      std::cerr << "usage: ota_agent_heap [BLOCK_SIZE (256 to 131072)] [SNAPSHOT_FILE]\n";
      return 2;
    }
    block_size = static_cast<std::uint32_t>(value);
  }
  return run(block_size, argc > 2 ? argv[2] : "");
}
