#include "download_journal.hpp"

#include <algorithm>
#include <array>
#include <cstring>

#include "ironroot/boot/slot_state.hpp"
#include "ironroot/core/bytes.hpp"
#include "ironroot/protocol/streams.hpp"

namespace ironroot::agent {

namespace {

constexpr std::array<char, 8> kHeaderMagic = {'I', 'R', 'O', 'T', 'A', 'J', 'N', '1'};
constexpr std::array<char, 8> kReasonMagic = {'I', 'R', 'O', 'T', 'A', 'R', 'S', '1'};
constexpr std::size_t kCheckSize = 8;
constexpr std::size_t kReadChunk = 256;  // RAM used to read records

std::uint64_t align_up(std::uint64_t value, std::uint64_t unit) {
  return (value + unit - 1) / unit * unit;
}

bool all_erased(ByteView bytes, std::byte erased) {
  return std::all_of(bytes.begin(), bytes.end(), [&](std::byte b) { return b == erased; });
}

// The first kCheckSize bytes of SHA-256 over `bytes`: tells a complete record from a torn one.
std::array<std::byte, kCheckSize> check_of(ByteView bytes) {
  const crypto::Sha256Digest digest = crypto::sha256(bytes);
  std::array<std::byte, kCheckSize> check{};
  std::copy_n(digest.begin(), kCheckSize, check.begin());
  return check;
}

bool check_matches(ByteView record) {
  const auto body = record.first(record.size() - kCheckSize);
  const auto check = check_of(body);
  return std::equal(check.begin(), check.end(), record.end() - kCheckSize);
}

void seal(std::span<std::byte> record) {
  const auto check = check_of(record.first(record.size() - kCheckSize));
  std::copy(check.begin(), check.end(), record.end() - kCheckSize);
}

std::byte programmed_value(const flash::FlashArea& slot) {
  return slot.erased_value() == std::byte{0xff} ? std::byte{0x00} : std::byte{0xff};
}

// A unit programmed to mark something done: every byte away from the erased value.
flash::FlashResult<void> program_unit(flash::FlashArea& slot, std::uint64_t offset) {
  std::array<std::byte, 32> unit{};
  unit.fill(programmed_value(slot));
  return slot.write(offset, ByteView(unit).first(slot.write_align()));
}

flash::FlashResult<bool> unit_programmed(flash::FlashArea& slot, std::uint64_t offset) {
  std::array<std::byte, 32> unit{};
  auto view = std::span<std::byte>(unit).first(slot.write_align());
  if (auto r = slot.read(offset, view); !r) return tl::unexpected(r.error());
  return !all_erased(view, slot.erased_value());
}

std::uint64_t reason_at(const flash::FlashArea& slot) {
  return trailer_start(slot) - kJournalReasonSize;
}

}  // namespace

DownloadIdentity identify_download(std::string_view job_id, std::string_view stream_id,
                                   std::int64_t file_id, std::uint32_t file_size,
                                   std::uint32_t block_size, ByteView signature) {
  crypto::Sha256 hash;
  Bytes fields = to_bytes("ironroot ota download 1");
  fields.push_back(std::byte{0});
  append(fields, as_bytes(job_id));
  fields.push_back(std::byte{0});
  append(fields, as_bytes(stream_id));
  fields.push_back(std::byte{0});
  append_le32(fields, static_cast<std::uint32_t>(file_id));
  append_le32(fields, file_size);
  hash.update(fields);
  hash.update(signature);
  DownloadIdentity identity;
  identity.id = hash.finish();
  identity.file_size = file_size;
  identity.block_size = block_size;
  identity.block_count =
      static_cast<std::uint32_t>((std::uint64_t{file_size} + block_size - 1) / block_size);
  return identity;
}

std::uint64_t trailer_start(const flash::FlashArea& slot) {
  return slot.size() - boot::slot_trailer_layout(slot).size();
}

std::uint64_t journal_size(const flash::FlashArea& slot, std::uint64_t block_count) {
  const std::uint64_t unit = slot.write_align();
  return kJournalReasonSize + kJournalHeaderSize + unit + block_count * unit;
}

flash::FlashResult<void> erase_covering(flash::FlashArea& slot, std::uint64_t begin,
                                        std::uint64_t end) {
  for (const flash::Sector& s : slot.sectors()) {
    if (s.offset + s.size <= begin || s.offset >= end) continue;
    if (auto r = slot.erase(s.offset, s.size); !r) return r;
  }
  return {};
}

DownloadJournal::DownloadJournal(flash::FlashArea& slot, const DownloadIdentity& identity)
    : slot_(slot), identity_(identity), unit_(slot.write_align()) {
  header_at_ = reason_at(slot) - kJournalHeaderSize;
  staged_at_ = header_at_ - unit_;
  records_at_ = staged_at_ - std::uint64_t{identity.block_count} * unit_;
}

std::uint64_t DownloadJournal::file_end() const {
  return align_up(identity_.file_size, unit_);
}

flash::FlashResult<bool> DownloadJournal::matches() {
  std::array<std::byte, kJournalHeaderSize> header{};
  if (auto r = slot_.read(header_at_, header); !r) return tl::unexpected(r.error());
  if (std::memcmp(header.data(), kHeaderMagic.data(), kHeaderMagic.size()) != 0) return false;
  if (!check_matches(header)) return false;
  const ByteView h(header);
  return load_le32(h.subspan(8)) == identity_.block_size &&
         load_le32(h.subspan(12)) == identity_.block_count &&
         load_le32(h.subspan(16)) == identity_.file_size &&
         std::equal(identity_.id.begin(), identity_.id.end(), h.begin() + 24);
}

flash::FlashResult<std::uint32_t> DownloadJournal::read_received(std::span<std::byte> missing) {
  std::array<std::byte, kReadChunk> chunk{};
  const std::uint64_t units_per_chunk = kReadChunk / unit_;
  std::uint32_t received = 0;
  for (std::uint32_t first = 0; first < identity_.block_count;) {
    const auto count = static_cast<std::uint32_t>(
        std::min<std::uint64_t>(units_per_chunk, identity_.block_count - first));
    auto view = std::span<std::byte>(chunk).first(count * unit_);
    if (auto r = slot_.read(records_at_ + first * unit_, view); !r) {
      return tl::unexpected(r.error());
    }
    for (std::uint32_t k = 0; k < count; ++k) {
      // Any bit away from the erased value: the record's write began, so the block's data, written
      // before it, is complete (a record torn by a power cut still counts).
      if (!all_erased(view.subspan(k * unit_, unit_), slot_.erased_value())) {
        protocol::set_block_requested(missing, first + k, false);
        ++received;
      }
    }
    first += count;
  }
  return received;
}

flash::FlashResult<bool> DownloadJournal::staged() {
  return unit_programmed(slot_, staged_at_);
}

flash::FlashResult<void> DownloadJournal::start() {
  if (auto r = erase_covering(slot_, records_at_, slot_.size()); !r) return r;
  if (auto r = erase_covering(slot_, 0, file_end()); !r) return r;
  std::array<std::byte, kJournalHeaderSize> header{};
  std::memcpy(header.data(), kHeaderMagic.data(), kHeaderMagic.size());
  const std::span<std::byte> h(header);
  store_le32(h.subspan(8), identity_.block_size);
  store_le32(h.subspan(12), identity_.block_count);
  store_le32(h.subspan(16), identity_.file_size);
  std::copy(identity_.id.begin(), identity_.id.end(), header.begin() + 24);
  seal(header);
  return slot_.write(header_at_, header);
}

flash::FlashResult<void> DownloadJournal::record_block(std::uint32_t index) {
  return program_unit(slot_, records_at_ + std::uint64_t{index} * unit_);
}

flash::FlashResult<void> DownloadJournal::record_staged() {
  return program_unit(slot_, staged_at_);
}

flash::FlashResult<void> DownloadJournal::discard() {
  return erase_covering(slot_, header_at_, header_at_ + kJournalHeaderSize);
}

flash::FlashResult<void> write_failure_reason(flash::FlashArea& slot,
                                              const crypto::Sha256Digest& download,
                                              std::string_view reason) {
  std::array<std::byte, kJournalReasonSize> record{};
  std::memcpy(record.data(), kReasonMagic.data(), kReasonMagic.size());
  std::copy(download.begin(), download.end(), record.begin() + 8);
  const std::size_t length = std::min(reason.size(), kMaxJournalReasonText);
  store_le16(std::span<std::byte>(record).subspan(40), static_cast<std::uint16_t>(length));
  std::memcpy(record.data() + 42, reason.data(), length);
  seal(record);
  return slot.write(reason_at(slot), record);
}

flash::FlashResult<std::optional<std::string>> read_failure_reason(
    flash::FlashArea& slot, const crypto::Sha256Digest& download) {
  std::array<std::byte, kJournalReasonSize> record{};
  if (auto r = slot.read(reason_at(slot), record); !r) return tl::unexpected(r.error());
  if (std::memcmp(record.data(), kReasonMagic.data(), kReasonMagic.size()) != 0 ||
      !check_matches(record) || !std::equal(download.begin(), download.end(), record.begin() + 8)) {
    return std::optional<std::string>();
  }
  const std::size_t length = load_le16(ByteView(record).subspan(40));
  if (length > kMaxJournalReasonText) return std::optional<std::string>();
  return std::optional<std::string>(std::string(as_chars(ByteView(record).subspan(42, length))));
}

}  // namespace ironroot::agent
