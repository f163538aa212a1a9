// The second-stage bootloader: pure logic over flash areas and fuses (STYLE.md: inject the outside
// world). Each boot() completes or resumes any upgrade a power cut interrupted, acts on what the
// firmware asked for (a pending update in the secondary slot, a confirmation, or none, which means
// revert), validates the primary image (signature by a fused, unrevoked key; security counter not
// below the fused one) and says what to start, or why nothing can start.
//
// Upgrade strategies (docs/secure-boot.md says why):
//   swap       MCUboot's swap-scratch semantics with revert: the slots are exchanged unit by unit
//              through the scratch area, so the old image stays in the secondary slot; a test image
//              that does not confirm itself is swapped back on the next boot.
//   overwrite  MCUboot's overwrite-only: the secondary image is copied over the primary; no revert.
// Progress is journaled in the status area after every step; each step reads only data that no
// earlier step of the same unit destroyed, so repeating an interrupted step is always safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ironroot/boot/otp.hpp"
#include "ironroot/boot/status_log.hpp"
#include "ironroot/core/result.hpp"
#include "ironroot/flash/flash_area.hpp"
#include "ironroot/image/format.hpp"
#include "ironroot/image/trailer.hpp"

namespace ironroot::boot {

enum class UpgradeStrategy { swap, overwrite };

std::string_view to_string(UpgradeStrategy strategy);
std::optional<UpgradeStrategy> parse_upgrade_strategy(std::string_view name);

// A verified image in a slot.
struct SlotImage {
  image::ImageVersion version;
  crypto::Sha256Digest hash{};      // the image hash: the firmware's measurement
  crypto::Sha256Digest key_hash{};  // the signer
  unsigned key_slot = 0;            // which fused key
  std::uint32_t security_counter = 0;
  std::uint32_t header_size = 0;
  std::uint32_t payload_size = 0;
  std::uint64_t size = 0;  // header + payload + TLVs
};

struct BootResult {
  SlotImage firmware;
  // The verified image bytes: start the payload from these, never re-read. The one step of boot()
  // that holds an image in RAM (every other step verifies from flash), because these are what run.
  Bytes image;
  bool test_boot = false;           // not yet confirmed: it is reverted unless it confirms itself
  std::vector<std::string> events;  // what this boot did, oldest first
};

enum class BootFailureKind {
  no_valid_image,  // halted in a benign state: nothing may run
  power_cut,       // the (simulated) power failed during the boot
  flash_error,     // the flash refused an operation the bootloader needed
};

struct BootFailure {
  BootFailureKind kind;
  std::string reason;
  std::vector<std::string> events;
};

struct BootAreas {
  flash::FlashArea* primary = nullptr;
  flash::FlashArea* secondary = nullptr;
  flash::FlashArea* scratch = nullptr;
  flash::FlashArea* status = nullptr;
};

class Bootloader {
 public:
  // Checks the areas fit together: slots of equal size with a common set of sector boundaries,
  // a scratch area as large as the largest swap unit, a status area of two or more sectors.
  // The areas and the fuses must outlive the bootloader.
  static Result<Bootloader> create(BootAreas areas, Otp& otp, UpgradeStrategy strategy);

  Result<BootResult, BootFailure> boot();

  // Validates the image in a slot as boot() would (without the security counter check when
  // `check_counter` is false), from flash: header and TLV areas copied, the hashed bytes read in
  // image::kImageReadChunk chunks, so RAM does not grow with the image. For `ironroot-device
  // status` and the OTA agent's check of a downloaded update.
  Result<SlotImage> inspect(flash::FlashArea& slot, bool check_counter);

  // The journaled state (for status displays).
  flash::FlashResult<BootState> state();

  // The trailer bytes every image must leave free at the end of a slot.
  std::uint64_t trailer_size() const;

 private:
  struct Unit {
    std::uint64_t offset;
    std::uint64_t size;
  };
  Bootloader(BootAreas areas, Otp& otp, UpgradeStrategy strategy, std::vector<Unit> units);

  Result<SlotImage> validate(flash::FlashArea& slot, bool check_counter, Bytes* bytes);
  std::size_t unit_count(std::uint32_t extent) const;
  const Unit& unit_at(std::uint32_t extent, std::size_t position, bool descending) const;
  std::uint32_t steps_for(const BootState& state) const;
  flash::FlashResult<void> run_step(const BootState& state, std::uint32_t step);
  flash::FlashResult<void> write_primary_trailer(image::SwapType type);
  flash::FlashResult<void> run_operation(BootState state, std::vector<std::string>& events);
  flash::FlashResult<void> finish_operation(const BootState& state,
                                            std::vector<std::string>& events);
  flash::FlashResult<void> start_operation(Operation op, image::SwapType type, std::uint32_t extent,
                                           std::vector<std::string>& events);
  flash::FlashResult<void> copy(flash::FlashArea& from, std::uint64_t from_offset,
                                flash::FlashArea& to, std::uint64_t to_offset,
                                std::uint64_t length);
  flash::FlashResult<void> erase_range(flash::FlashArea& area, std::uint64_t offset,
                                       std::uint64_t length);
  std::uint32_t image_extent(flash::FlashArea& slot);

  BootAreas areas_;
  Otp* otp_;
  UpgradeStrategy strategy_;
  std::vector<Unit> units_;
  StatusLog log_;
};

}  // namespace ironroot::boot
