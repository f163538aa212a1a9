// The OTA agent's download journal (docs/ota-agent.md, "The download journal"): a region at the end
// of the update slot, just below MCUboot's trailer, that says which blocks of which download are
// already in flash, whether the download was staged, and why the image failed its self-test.
// From the end of the slot down:
//
//   MCUboot trailer                                       slot_trailer_layout(slot).size()
//   reason record   256 bytes   written once, by a test boot whose self-test failed
//   header          64 bytes    magic, block size, block count, file size, download id, check
//   staged          1 unit      programmed once the update was marked pending
//   block records   1 unit per block, record k for block k, programmed after the block's data
//
// A unit is the slot's write alignment: each is programmed once between erases, as NOR flash wants.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "ironroot/crypto/digest.hpp"
#include "ironroot/flash/flash_area.hpp"

namespace ironroot::agent {

// What one download is: a journal whose header names another download is never trusted.
struct DownloadIdentity {
  crypto::Sha256Digest id{};  // SHA-256 over the job id, stream, file id, file size, signature
  std::uint32_t file_size = 0;
  std::uint32_t block_size = 0;
  std::uint32_t block_count = 0;
};

DownloadIdentity identify_download(std::string_view job_id, std::string_view stream_id,
                                   std::int64_t file_id, std::uint32_t file_size,
                                   std::uint32_t block_size, ByteView signature);

inline constexpr std::uint64_t kJournalReasonSize = 256;
inline constexpr std::uint64_t kJournalHeaderSize = 64;
// The longest self-test failure reason the journal keeps, in bytes.
inline constexpr std::size_t kMaxJournalReasonText = 206;

// Where the MCUboot trailer starts in `slot`.
std::uint64_t trailer_start(const flash::FlashArea& slot);
// The journal's size for `block_count` blocks.
std::uint64_t journal_size(const flash::FlashArea& slot, std::uint64_t block_count);

class DownloadJournal {
 public:
  // REQUIRES: the file (rounded up to the write alignment) and the journal fit below the trailer.
  DownloadJournal(flash::FlashArea& slot, const DownloadIdentity& identity);

  // Whether the slot holds this download's journal: a complete header naming it.
  flash::FlashResult<bool> matches();
  // Clears the bit of every block already recorded in `missing` (AWS bit order, 1 = missing);
  // returns how many were recorded. REQUIRES: matches().
  flash::FlashResult<std::uint32_t> read_received(std::span<std::byte> missing);
  flash::FlashResult<bool> staged();

  // A new download: erases the journal and the trailer first (so nothing stays pending), then
  // what the file needs, and writes the header.
  flash::FlashResult<void> start();
  flash::FlashResult<void> record_block(std::uint32_t index);
  flash::FlashResult<void> record_staged();
  // Erases the sectors that hold the header: the download is forgotten.
  flash::FlashResult<void> discard();

  std::uint64_t file_end() const;  // the file's size rounded up to the write alignment

 private:
  flash::FlashArea& slot_;
  DownloadIdentity identity_;
  std::uint64_t unit_;
  std::uint64_t header_at_;
  std::uint64_t staged_at_;
  std::uint64_t records_at_;
};

// The reason a test boot's self-test failed, in the reason record of `slot` (the slot the test
// image runs from; the revert swaps it back into the update slot with the rest of the journal).
flash::FlashResult<void> write_failure_reason(flash::FlashArea& slot,
                                              const crypto::Sha256Digest& download,
                                              std::string_view reason);
// The reason recorded for `download` in `slot`, if any (a torn or foreign record reads as none).
flash::FlashResult<std::optional<std::string>> read_failure_reason(
    flash::FlashArea& slot, const crypto::Sha256Digest& download);

// Erases every sector of `slot` that intersects [begin, end).
flash::FlashResult<void> erase_covering(flash::FlashArea& slot, std::uint64_t begin,
                                        std::uint64_t end);

}  // namespace ironroot::agent
