// One-time-programmable fuses (otp.bin): the device's immutable trust anchors and monotonic
// counters. Fuse bits start at 0 and can only be set to 1; a field, once written, cannot change.
//
//   rom trust anchor         SHA-256 of the key that signs the second-stage bootloader
//   firmware keys [0..3]     SHA-256 of each code-signing key the bootloader trusts
//   revocation bits [0..3]   a set bit retires that key for good (a leaked key can be retired in
//   the
//                            field, MCUboot issue 221)
//   security counters        one monotonic counter per image (0: bootloader, 1: firmware); each is
//   a
//                            run of write-once entries, and the counter is the largest valid entry
//
// Every field carries its own check (a value and its complement, or a digest and a marker), so a
// fuse write interrupted by a power cut reads as "not written" or fails loudly, never as a wrong
// value. Not thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>

#include "ironroot/core/result.hpp"
#include "ironroot/crypto/digest.hpp"

namespace ironroot::boot {

inline constexpr unsigned kFirmwareKeySlots = 4;
inline constexpr unsigned kSecurityCounters = 2;
inline constexpr unsigned kBootloaderCounter = 0;
inline constexpr unsigned kFirmwareCounter = 1;

class Otp {
 public:
  // Creates `path` with every fuse unprogrammed; fails if it exists.
  static Result<Otp> create(const std::filesystem::path& path);
  // Opens an existing fuse file; fails on a wrong size or a damaged layout.
  static Result<Otp> open(const std::filesystem::path& path);
  // Fuses in memory only (tests).
  static Otp in_memory();

  Otp(Otp&&) noexcept;
  Otp& operator=(Otp&&) noexcept;
  ~Otp();

  std::optional<crypto::Sha256Digest> rom_trust_anchor() const;
  // Fails if already fused (even with the same value: fusing is an explicit, one-time act).
  Status fuse_rom_trust_anchor(const crypto::Sha256Digest& key_hash);

  std::optional<crypto::Sha256Digest> firmware_key(unsigned slot) const;
  Status fuse_firmware_key(unsigned slot, const crypto::Sha256Digest& key_hash);
  bool is_revoked(unsigned slot) const;
  Status revoke_firmware_key(unsigned slot);
  // The slot of a fused, unrevoked firmware key with this hash, if any.
  std::optional<unsigned> trusted_firmware_key(const crypto::Sha256Digest& key_hash) const;

  std::uint32_t security_counter(unsigned counter) const;
  // Raises the counter to `value`; does nothing when it is already >= value. Fails when the
  // counter's entries are used up (the device can take no more anti-rollback steps).
  Status advance_security_counter(unsigned counter, std::uint32_t value);
  // How many more advances `counter` can take.
  unsigned security_counter_entries_left(unsigned counter) const;

 private:
  struct State;
  explicit Otp(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace ironroot::boot
