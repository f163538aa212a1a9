#include "ironroot/boot/status_log.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>

namespace ironroot::boot {

namespace {

constexpr std::uint32_t kRecordMagic = 0x53425249;  // "IRBS"

std::array<std::byte, kStatusRecordSize> encode(const BootState& s, std::uint32_t sequence) {
  std::array<std::byte, kStatusRecordSize> r{};
  std::span<std::byte> b(r);
  store_le32(b.subspan(0), kRecordMagic);
  store_le32(b.subspan(4), sequence);
  r[8] = static_cast<std::byte>(s.operation);
  r[9] = static_cast<std::byte>(s.swap_type);
  r[10] = static_cast<std::byte>(s.awaiting_confirmation ? 1 : 0);
  store_le32(b.subspan(12), s.steps_done);
  store_le32(b.subspan(16), s.extent);
  auto crc = static_cast<std::uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(r.data()), 28));
  store_le32(b.subspan(28), crc);
  return r;
}

std::optional<std::pair<BootState, std::uint32_t>> decode(ByteView r) {
  if (load_le32(r) != kRecordMagic) return std::nullopt;
  auto crc = static_cast<std::uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(r.data()), 28));
  if (load_le32(r.subspan(28)) != crc) return std::nullopt;
  auto op = std::to_integer<std::uint8_t>(r[8]);
  if (op > static_cast<std::uint8_t>(Operation::overwrite)) return std::nullopt;
  BootState s;
  s.operation = static_cast<Operation>(op);
  s.swap_type = std::to_integer<std::uint8_t>(r[9]);
  s.awaiting_confirmation = r[10] == std::byte{1};
  s.steps_done = load_le32(r.subspan(12));
  s.extent = load_le32(r.subspan(16));
  return std::make_pair(s, load_le32(r.subspan(4)));
}

}  // namespace

StatusLog::StatusLog(flash::FlashArea& area) : area_(area) {}

flash::FlashResult<void> StatusLog::scan() {
  current_ = BootState{};
  sequence_ = 0;
  newest_.reset();
  next_free_ = 0;
  const auto sectors = area_.sectors();
  const std::byte erased = area_.erased_value();
  std::array<std::byte, kStatusRecordSize> buf{};
  for (std::size_t i = 0; i < sectors.size(); ++i) {
    const flash::Sector& sector = sectors[i];
    for (std::uint64_t at = sector.offset; at + kStatusRecordSize <= sector.offset + sector.size;
         at += kStatusRecordSize) {
      if (auto r = area_.read(at, buf); !r) return r;
      if (std::all_of(buf.begin(), buf.end(), [&](std::byte b) { return b == erased; })) continue;
      auto record = decode(buf);
      if (!record) continue;  // torn or damaged: ignored
      if (!newest_ || record->second > sequence_) {
        current_ = record->first;
        sequence_ = record->second;
        newest_ = Position{i, at};
      }
    }
  }
  if (newest_) {
    // The next free position: after the last used one in the newest record's sector.
    const flash::Sector& sector = sectors[newest_->sector];
    next_free_ = newest_->offset + kStatusRecordSize;
    for (std::uint64_t at = next_free_; at + kStatusRecordSize <= sector.offset + sector.size;
         at += kStatusRecordSize) {
      if (auto r = area_.read(at, buf); !r) return r;
      if (!std::all_of(buf.begin(), buf.end(), [&](std::byte b) { return b == erased; })) {
        next_free_ = at + kStatusRecordSize;
      }
    }
  }
  scanned_ = true;
  return {};
}

flash::FlashResult<BootState> StatusLog::read() {
  if (!scanned_) {
    if (auto r = scan(); !r) return tl::unexpected(r.error());
  }
  return current_;
}

flash::FlashResult<void> StatusLog::write(const BootState& state) {
  if (!scanned_) {
    if (auto r = scan(); !r) return r;
  }
  const auto sectors = area_.sectors();
  std::size_t sector_index = newest_ ? newest_->sector : sectors.size() - 1;
  std::uint64_t at =
      newest_ ? next_free_ : sectors[sector_index].offset + sectors[sector_index].size;
  const auto record = encode(state, sequence_ + 1);
  std::array<std::byte, kStatusRecordSize> check{};
  // A position after the newest record can still be unusable: a record torn by a power cut may read
  // as erased while partly programmed. Such a position is passed over, never programmed twice.
  for (std::size_t attempts = 0; attempts < 2 * sectors.size() * 256; ++attempts) {
    if (at + kStatusRecordSize > sectors[sector_index].offset + sectors[sector_index].size) {
      // Move on to the next sector: erase it first. The newest record stays where it is until the
      // new one is written, so a power cut here loses nothing.
      sector_index = (sector_index + 1) % sectors.size();
      const flash::Sector& next = sectors[sector_index];
      if (auto r = area_.erase(next.offset, next.size); !r) {
        scanned_ = false;
        return r;
      }
      at = next.offset;
    }
    auto written = area_.write(at, record);
    if (!written && written.error().fault != flash::FlashFault::not_erased) {
      scanned_ = false;  // what reached the flash is uncertain: scan again on the next call
      return written;
    }
    if (written) {
      if (auto r = area_.read(at, check); !r) return r;
      if (std::equal(check.begin(), check.end(), record.begin())) {
        current_ = state;
        sequence_ += 1;
        newest_ = Position{sector_index, at};
        next_free_ = at + kStatusRecordSize;
        return {};
      }
    }
    at += kStatusRecordSize;
  }
  return tl::unexpected(
      flash::FlashError{flash::FlashFault::io, "the status area has no usable record position"});
}

}  // namespace ironroot::boot
