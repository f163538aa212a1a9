// otp.bin, byte for byte (every multi-byte number little-endian; every fuse starts at 0x00):
//
//   offset  size  field
//   0x000     16  header: ASCII "ironroot-otp" (12 bytes) + u32 layout version (1), fused by
//   create() 0x010     64  ROM trust anchor: SHA-256 (32 bytes) followed by its bitwise complement
//   (32 bytes) 0x050    256  firmware keys 0..3, 64 bytes each, encoded like the trust anchor 0x150
//   4  revocation, one byte per firmware key slot: 0x00 in force, fused to 0xff 0x154     12
//   reserved, 0x00 0x160   1024  security counters 0 (bootloader) and 1 (firmware), 512 bytes each:
//                 64 entries of {u32 value, u32 ~value}, used in order
//   0x560         end: the file is exactly 1376 bytes
//
// Why it survives a torn fuse write: fuse bits only go from 0 to 1, so an interrupted write leaves
// a subset of the bits it meant to set. A digest/complement or value/complement pair is valid only
// when every bit position is set in exactly one of its halves, which takes all of the intended
// bits; a proper subset is never valid, so it cannot read as a different hash or counter value.
//   - key field: all zero = not fused; valid pair = fused; anything else = damaged, which reads as
//     not fused (so it is never trusted). Fusing it again succeeds only if the new value needs no
//     set bit cleared, i.e. the interrupted write is completed.
//   - revocation byte: any set bit revokes (a torn revocation errs on the safe side).
//   - counter entry: all zero = unused; valid pair = a value; anything else = damaged and ignored,
//     but used up. The counter is the largest valid value (0 when there is none); an advance
//     writes the entry after the last one that holds any set bit.
// open() checks the size, the header and that reserved bytes are clear. Accessors asked about a
// slot or counter that does not exist answer on the safe side: no key, revoked, a counter of
// UINT32_MAX (nothing passes an anti-rollback check against it), no entries left.
#include "ironroot/boot/otp.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

#include "ironroot/core/bytes.hpp"
#include "ironroot/core/file.hpp"
#include "ironroot/core/unique_fd.hpp"

namespace ironroot::boot {

namespace {

constexpr std::string_view kMagic = "ironroot-otp";
constexpr std::uint32_t kLayoutVersion = 1;
constexpr std::size_t kHeaderSize = 16;
constexpr std::size_t kDigestSize = std::tuple_size_v<crypto::Sha256Digest>;
constexpr std::size_t kKeyFieldSize = 2 * kDigestSize;
constexpr std::size_t kRomAnchorOffset = kHeaderSize;
constexpr std::size_t kFirmwareKeysOffset = kRomAnchorOffset + kKeyFieldSize;
constexpr std::size_t kRevocationOffset = kFirmwareKeysOffset + kFirmwareKeySlots * kKeyFieldSize;
constexpr std::size_t kReservedOffset = kRevocationOffset + kFirmwareKeySlots;
constexpr std::size_t kCountersOffset = 0x160;
constexpr std::size_t kCounterEntries = 64;
constexpr std::size_t kEntrySize = 8;
constexpr std::size_t kCounterSize = kCounterEntries * kEntrySize;
constexpr std::size_t kOtpSize = kCountersOffset + kSecurityCounters * kCounterSize;
static_assert(kReservedOffset <= kCountersOffset);
static_assert(kOtpSize == 1376);

constexpr std::byte kRevoked{0xff};

std::string hex(std::size_t value) {
  char text[24];
  std::snprintf(text, sizeof text, "0x%zx", value);
  return text;
}

std::string counter_name(unsigned counter) {
  switch (counter) {
    case kBootloaderCounter:
      return "security counter 0 (bootloader)";
    case kFirmwareCounter:
      return "security counter 1 (firmware)";
    default:
      return "security counter " + std::to_string(counter);
  }
}

std::size_t key_field_offset(unsigned slot) {
  return kFirmwareKeysOffset + slot * kKeyFieldSize;
}

std::size_t entry_offset(unsigned counter, std::size_t entry) {
  return kCountersOffset + counter * kCounterSize + entry * kEntrySize;
}

Bytes blank_fuses() {
  Bytes fuses(kOtpSize);
  std::copy(kMagic.begin(), kMagic.end(), reinterpret_cast<char*>(fuses.data()));
  store_le32(std::span(fuses).subspan(kMagic.size(), 4), kLayoutVersion);
  return fuses;
}

bool all_zero(ByteView bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](std::byte b) { return b == std::byte{0}; });
}

enum class FieldState { blank, valid, damaged };

// A key field: the digest, then its complement.
FieldState key_field_state(ByteView field) {
  if (all_zero(field)) return FieldState::blank;
  for (std::size_t i = 0; i < kDigestSize; ++i) {
    if ((field[i] ^ field[kDigestSize + i]) != std::byte{0xff}) return FieldState::damaged;
  }
  return FieldState::valid;
}

Bytes encode_key_field(const crypto::Sha256Digest& digest) {
  Bytes field(digest.begin(), digest.end());
  for (std::byte b : digest) field.push_back(~b);
  return field;
}

FieldState entry_state(ByteView entry) {
  if (all_zero(entry)) return FieldState::blank;
  return (load_le32(entry) ^ load_le32(entry.subspan(4))) == 0xffffffffu ? FieldState::valid
                                                                         : FieldState::damaged;
}

// Writes all of `bytes` at `offset` and syncs; an empty string on success, or why not.
std::string pwrite_synced(int fd, std::size_t offset, ByteView bytes) {
  if (auto written = write_all_at(fd, offset, bytes); !written) return written.error().message;
  if (::fsync(fd) != 0) return std::strerror(errno);
  return {};
}

}  // namespace

struct Otp::State {
  std::filesystem::path path;  // empty in memory
  UniqueFd file;               // invalid for fuses in memory only
  Bytes fuses = blank_fuses();

  std::string name() const { return path.empty() ? "in-memory OTP" : path.string(); }

  // Programs `bits` at `offset`. Refuses, as a bug, anything that would clear a set fuse bit.
  Status program(std::size_t offset, ByteView bits, const std::string& what) {
    for (std::size_t i = 0; i < bits.size(); ++i) {
      if ((fuses[offset + i] & ~bits[i]) != std::byte{0}) {
        return fail("refusing to fuse " + what + ": the write would clear set bits at " +
                    hex(offset + i) + " of " + name() + ", and fuse bits only go from 0 to 1");
      }
    }
    if (file.get() >= 0) {
      if (auto why = pwrite_synced(file.get(), offset, bits); !why.empty()) {
        return fail("cannot fuse " + what + " in " + name() + ": " + why);
      }
    }
    std::copy(bits.begin(), bits.end(), fuses.begin() + static_cast<std::ptrdiff_t>(offset));
    return {};
  }

  std::optional<crypto::Sha256Digest> read_key_field(std::size_t offset) const {
    ByteView field = ByteView(fuses).subspan(offset, kKeyFieldSize);
    if (key_field_state(field) != FieldState::valid) return std::nullopt;
    crypto::Sha256Digest digest;
    std::copy_n(field.begin(), kDigestSize, digest.begin());
    return digest;
  }

  Status fuse_key_field(std::size_t offset, const crypto::Sha256Digest& digest,
                        const std::string& what) {
    ByteView field = ByteView(fuses).subspan(offset, kKeyFieldSize);
    Bytes wanted = encode_key_field(digest);
    switch (key_field_state(field)) {
      case FieldState::valid:
        return fail(what + " is already fused (to " + to_hex(field.first(8)) +
                    "...); a fuse is written once");
      case FieldState::damaged:
        for (std::size_t i = 0; i < kKeyFieldSize; ++i) {
          if ((field[i] & ~wanted[i]) != std::byte{0}) {
            return fail(what + " is damaged (an interrupted fuse write left bits that " +
                        to_hex(digest).substr(0, 16) +
                        "... does not have), so it can never hold this hash");
          }
        }
        break;  // the interrupted write was of this hash: complete it
      case FieldState::blank:
        break;
    }
    return program(offset, wanted, what);
  }

  std::uint32_t counter_value(unsigned counter) const {
    std::uint32_t value = 0;
    for (std::size_t e = 0; e < kCounterEntries; ++e) {
      ByteView entry = ByteView(fuses).subspan(entry_offset(counter, e), kEntrySize);
      if (entry_state(entry) == FieldState::valid) value = std::max(value, load_le32(entry));
    }
    return value;
  }

  // The first entry after the last one with any bit set.
  std::size_t next_entry(unsigned counter) const {
    std::size_t next = 0;
    for (std::size_t e = 0; e < kCounterEntries; ++e) {
      if (!all_zero(ByteView(fuses).subspan(entry_offset(counter, e), kEntrySize))) next = e + 1;
    }
    return next;
  }
};

Otp::Otp(std::unique_ptr<State> state) : state_(std::move(state)) {}
Otp::Otp(Otp&&) noexcept = default;
Otp& Otp::operator=(Otp&&) noexcept = default;
Otp::~Otp() = default;

Result<Otp> Otp::create(const std::filesystem::path& path) {
  auto state = std::make_unique<State>();
  state->path = path;
  state->file.reset(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (state->file.get() < 0) {
    if (errno == EEXIST) {
      return fail("cannot create fuses " + path.string() +
                  ": it already exists, and fuses are created once per device");
    }
    return fail("cannot create fuses " + path.string() + ": " + std::strerror(errno));
  }
  if (auto why = pwrite_synced(state->file.get(), 0, state->fuses); !why.empty()) {
    ::unlink(path.c_str());
    return fail("cannot write fuses " + path.string() + ": " + why);
  }
  std::filesystem::path dir = path.parent_path().empty() ? "." : path.parent_path();
  UniqueFd dirfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dirfd.get() >= 0) ::fsync(dirfd.get());
  return Otp(std::move(state));
}

Result<Otp> Otp::open(const std::filesystem::path& path) {
  auto contents = read_file(path, kOtpSize);
  if (!contents) return prefixed(contents.error(), "cannot open fuses");
  const std::string what = "fuses " + path.string();
  if (contents->size() != kOtpSize) {
    return fail(what + " are " + std::to_string(contents->size()) +
                " bytes; an ironroot OTP file is " + std::to_string(kOtpSize));
  }
  ByteView fuses = *contents;
  if (as_chars(fuses.first(kMagic.size())) != kMagic) {
    return fail(what + " do not start with \"ironroot-otp\": not an ironroot OTP file");
  }
  if (std::uint32_t version = load_le32(fuses.subspan(kMagic.size(), 4));
      version != kLayoutVersion) {
    return fail(what + " have layout version " + std::to_string(version) + "; this build reads " +
                std::to_string(kLayoutVersion));
  }
  if (!all_zero(fuses.subspan(kReservedOffset, kCountersOffset - kReservedOffset))) {
    return fail(what + " are damaged: reserved fuses at " + hex(kReservedOffset) + " to " +
                hex(kCountersOffset) + " are set");
  }
  auto state = std::make_unique<State>();
  state->path = path;
  state->fuses = std::move(*contents);
  state->file.reset(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (state->file.get() < 0) {
    return fail("cannot open fuses " + path.string() + " for writing: " + std::strerror(errno));
  }
  return Otp(std::move(state));
}

Otp Otp::in_memory() {
  return Otp(std::make_unique<State>());
}

std::optional<crypto::Sha256Digest> Otp::rom_trust_anchor() const {
  return state_->read_key_field(kRomAnchorOffset);
}

Status Otp::fuse_rom_trust_anchor(const crypto::Sha256Digest& key_hash) {
  return state_->fuse_key_field(kRomAnchorOffset, key_hash, "the ROM trust anchor");
}

std::optional<crypto::Sha256Digest> Otp::firmware_key(unsigned slot) const {
  if (slot >= kFirmwareKeySlots) return std::nullopt;
  return state_->read_key_field(key_field_offset(slot));
}

Status Otp::fuse_firmware_key(unsigned slot, const crypto::Sha256Digest& key_hash) {
  const std::string what = "firmware key slot " + std::to_string(slot);
  if (slot >= kFirmwareKeySlots) {
    return fail(what + " does not exist; slots are 0 to " + std::to_string(kFirmwareKeySlots - 1));
  }
  if (is_revoked(slot)) return fail(what + " is revoked and can never hold a key");
  return state_->fuse_key_field(key_field_offset(slot), key_hash, what);
}

bool Otp::is_revoked(unsigned slot) const {
  if (slot >= kFirmwareKeySlots) return true;
  return state_->fuses[kRevocationOffset + slot] != std::byte{0};
}

Status Otp::revoke_firmware_key(unsigned slot) {
  const std::string what = "the revocation of firmware key slot " + std::to_string(slot);
  if (slot >= kFirmwareKeySlots) {
    return fail("cannot revoke firmware key slot " + std::to_string(slot) + ": slots are 0 to " +
                std::to_string(kFirmwareKeySlots - 1));
  }
  if (state_->fuses[kRevocationOffset + slot] == kRevoked) return {};
  const std::byte bits[] = {kRevoked};
  return state_->program(kRevocationOffset + slot, bits, what);
}

std::optional<unsigned> Otp::trusted_firmware_key(const crypto::Sha256Digest& key_hash) const {
  for (unsigned slot = 0; slot < kFirmwareKeySlots; ++slot) {
    if (firmware_key(slot) == key_hash && !is_revoked(slot)) return slot;
  }
  return std::nullopt;
}

std::uint32_t Otp::security_counter(unsigned counter) const {
  if (counter >= kSecurityCounters) return std::numeric_limits<std::uint32_t>::max();
  return state_->counter_value(counter);
}

Status Otp::advance_security_counter(unsigned counter, std::uint32_t value) {
  if (counter >= kSecurityCounters) {
    return fail(counter_name(counter) + " does not exist; counters are 0 (bootloader) and 1 " +
                "(firmware)");
  }
  const std::uint32_t current = state_->counter_value(counter);
  if (value <= current) return {};
  const std::size_t entry = state_->next_entry(counter);
  if (entry >= kCounterEntries) {
    return fail(counter_name(counter) + " has used all " + std::to_string(kCounterEntries) +
                " of its fuse entries: it stays at " + std::to_string(current) +
                " and cannot advance to " + std::to_string(value));
  }
  std::byte bits[kEntrySize];
  store_le32(std::span(bits).first(4), value);
  store_le32(std::span(bits).subspan(4), ~value);
  return state_->program(entry_offset(counter, entry), bits,
                         counter_name(counter) + " entry " + std::to_string(entry) + " (value " +
                             std::to_string(value) + ")");
}

unsigned Otp::security_counter_entries_left(unsigned counter) const {
  if (counter >= kSecurityCounters) return 0;
  return static_cast<unsigned>(kCounterEntries - state_->next_entry(counter));
}

}  // namespace ironroot::boot
