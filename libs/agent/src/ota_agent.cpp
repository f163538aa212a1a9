#include "ironroot/agent/ota_agent.hpp"

#include <algorithm>
#include <array>
#include <condition_variable>
#include <mutex>
#include <optional>

#include "download_journal.hpp"
#include "image_signer.hpp"
#include "ironroot/boot/slot_state.hpp"
#include "ironroot/protocol/ota_job.hpp"
#include "ironroot/protocol/provisioning.hpp"
#include "ironroot/protocol/streams.hpp"

namespace ironroot::agent {

namespace {

using protocol::StatusDetails;
using std::chrono::milliseconds;

constexpr std::string_view kClientToken = "rdy";  // what AWS's agent sends as c
constexpr std::size_t kHashChunk = 4096;          // RAM used to hash the file in the slot
constexpr std::size_t kCompareChunk = 256;        // RAM used to compare a block with flash

StatusDetails reason(std::string text) {
  return {{"reason", protocol::bounded_status_details_value(std::move(text))}};
}

JobOutcome rejected(std::string why) {
  return JobOutcome::rejected(reason(std::move(why)));
}

JobOutcome failed(std::string why) {
  return JobOutcome::failed(reason(std::move(why)));
}

// A version as people and job documents write it: "1.1.0", with "+build" only when there is one.
std::string version_text(const image::ImageVersion& version) {
  std::string text = std::to_string(version.major) + "." + std::to_string(version.minor) + "." +
                     std::to_string(version.revision);
  if (version.build != 0) text += "+" + std::to_string(version.build);
  return text;
}

std::uint64_t align_up(std::uint64_t value, std::uint64_t unit) {
  return (value + unit - 1) / unit * unit;
}

std::uint64_t block_count_of(std::uint64_t file_size, std::uint32_t block_size) {
  return (file_size + block_size - 1) / block_size;
}

Status check_settings(const OtaAgentSettings& s, const flash::FlashArea& slot) {
  if (!protocol::is_valid_thing_name(s.thing_name)) {
    return fail("thing name \"" + s.thing_name +
                "\" is not 1 to 128 characters of a-z, A-Z, 0-9, ':', '_' and '-'");
  }
  if (s.block_size < protocol::kMinStreamBlockSize ||
      s.block_size > protocol::kMaxStreamBlockSize) {
    return fail("the block size must be 256 to 131072 bytes");
  }
  if (s.block_size % slot.write_align() != 0) {
    return fail("the block size (" + std::to_string(s.block_size) +
                ") must be a multiple of the update slot's write alignment (" +
                std::to_string(slot.write_align()) + ")");
  }
  if (s.window_blocks < 1 || s.window_blocks > protocol::kMaxBytesPerGetStream / s.block_size) {
    return fail("the window must be 1 to " +
                std::to_string(protocol::kMaxBytesPerGetStream / s.block_size) +
                " blocks (the service sends at most 128 KiB per request)");
  }
  if (s.block_timeout < milliseconds(1) || s.block_timeout > std::chrono::minutes(10)) {
    return fail("the block timeout must be 1 ms to 10 min");
  }
  if (s.max_requests_without_progress < 1 || s.max_requests_without_progress > 1000) {
    return fail("max requests without progress must be 1 to 1000");
  }
  if (s.report_every_blocks < 1 || s.report_every_blocks > 2147483647u) {
    return fail("report every blocks must be 1 to 2^31 - 1");
  }
  if (s.subscribe_timeout < milliseconds(100) || s.subscribe_timeout > std::chrono::minutes(10)) {
    return fail("the subscribe timeout must be 100 ms to 10 min");
  }
  return {};
}

// How writing one block went.
enum class BlockWrite { written, damaged };

// Writes `data` at `offset` of `slot`, padded with the erased value to the write alignment.
// `careful`: the area may hold this block already (written before a power cut that came before
// its journal record), so each write unit is compared first: units that hold the data are left
// alone, erased ones are programmed, and any other unit (torn by a power cut) makes the block
// `damaged`.
flash::FlashResult<BlockWrite> write_block(flash::FlashArea& slot, std::uint64_t offset,
                                           ByteView data, bool careful) {
  const std::size_t unit = slot.write_align();
  const std::byte erased = slot.erased_value();
  const std::size_t aligned = data.size() / unit * unit;
  const std::size_t total = static_cast<std::size_t>(align_up(data.size(), unit));
  // Writes [from, to) of the padded data; both multiples of `unit`.
  auto write_range = [&](std::size_t from, std::size_t to) -> flash::FlashResult<void> {
    const std::size_t direct_end = std::min(to, aligned);
    if (from < direct_end) {
      if (auto r = slot.write(offset + from, data.subspan(from, direct_end - from)); !r) return r;
    }
    if (to > aligned) {  // the last, partial unit
      std::array<std::byte, 32> pad{};
      pad.fill(erased);
      std::copy(data.begin() + static_cast<std::ptrdiff_t>(aligned), data.end(), pad.begin());
      return slot.write(offset + aligned, ByteView(pad).first(unit));
    }
    return {};
  };
  if (!careful) {
    if (auto r = write_range(0, total); !r) return tl::unexpected(r.error());
    return BlockWrite::written;
  }
  std::array<std::byte, kCompareChunk> chunk{};
  for (std::size_t at = 0; at < total; at += kCompareChunk) {
    const std::size_t length = std::min(kCompareChunk, total - at);
    auto current = std::span<std::byte>(chunk).first(length);
    if (auto r = slot.read(offset + at, current); !r) return tl::unexpected(r.error());
    std::size_t run = at;  // start of the units to program
    for (std::size_t u = at; u <= at + length; u += unit) {
      bool program = false;
      if (u < at + length) {
        bool same = true;
        bool is_erased = true;
        for (std::size_t k = u; k < u + unit; ++k) {
          const std::byte want = k < data.size() ? data[k] : erased;
          const std::byte have = current[k - at];
          same = same && have == want;
          is_erased = is_erased && have == erased;
        }
        if (!same && !is_erased) return BlockWrite::damaged;
        program = !same;
      }
      if (program) continue;
      if (u > run) {
        if (auto r = write_range(run, u); !r) return tl::unexpected(r.error());
      }
      run = u + unit;
    }
  }
  return BlockWrite::written;
}

}  // namespace

std::uint64_t download_journal_size(const flash::FlashArea& slot, std::uint64_t file_size,
                                    std::uint32_t block_size) {
  return journal_size(slot, block_count_of(file_size, block_size));
}

std::uint64_t max_update_file_size(const flash::FlashArea& slot, std::uint32_t block_size) {
  const std::uint64_t below_trailer = trailer_start(slot);
  const std::uint64_t fixed = journal_size(slot, 0);
  if (below_trailer <= fixed) return 0;
  // file + journal(blocks(file)) <= below_trailer, with the file rounded up to the write
  // alignment; the journal grows by one unit per block.
  const std::uint64_t unit = slot.write_align();
  std::uint64_t low = 0;
  std::uint64_t high = below_trailer - fixed;
  while (low < high) {
    const std::uint64_t mid = low + (high - low + 1) / 2;
    if (align_up(mid, unit) + journal_size(slot, block_count_of(mid, block_size)) <=
        below_trailer) {
      low = mid;
    } else {
      high = mid - 1;
    }
  }
  return low;
}

// ---------------------------------------------------------------------------------------------

struct OtaAgent::State {
  OtaAgentSettings settings;
  StreamTransport* transport = nullptr;
  OtaDevice* device = nullptr;

  mutable std::mutex mutex;
  std::condition_variable changed;
  OtaAgentStats stats;

  // The download in progress; on_message takes blocks only while `active`.
  bool active = false;
  std::string data_topic;
  std::string rejected_topic;
  std::int64_t file_id = 0;
  DownloadIdentity identity;
  std::optional<DownloadJournal> journal;
  Bytes missing;  // bit k set: block k is not in flash yet (AWS's bit order)
  std::uint32_t received = 0;
  bool careful = false;                // resumed: a missing block's area may hold it already
  bool damaged = false;                // a missing block's area holds something else: start over
  std::optional<std::string> failure;  // why writing to flash failed
  std::optional<protocol::StreamErrorResponse> rejection;
  std::uint64_t blocks_seen = 0;  // blocks taken so far (wakes the job thread)

  void take_block(ByteView payload);
  void take_rejection(ByteView payload);
  std::optional<std::uint32_t> first_missing() const;
  bool window_done(std::uint32_t offset) const;
};

std::optional<std::uint32_t> OtaAgent::State::first_missing() const {
  for (std::size_t byte = 0; byte < missing.size(); ++byte) {
    if (missing[byte] == std::byte{0}) continue;
    for (std::uint32_t bit = 0; bit < 8; ++bit) {
      const auto k = static_cast<std::uint32_t>(byte * 8 + bit);
      if (k < identity.block_count && protocol::is_block_requested(missing, k)) return k;
    }
  }
  return std::nullopt;
}

bool OtaAgent::State::window_done(std::uint32_t offset) const {
  const std::uint32_t end =
      std::min<std::uint32_t>(identity.block_count, offset + settings.window_blocks);
  for (std::uint32_t k = offset; k < end; ++k) {
    if (protocol::is_block_requested(missing, k)) return false;
  }
  return true;
}

void OtaAgent::State::take_block(ByteView payload) {
  if (failure || damaged) return;
  auto block = protocol::decode_stream_reply<protocol::DataBlockResponse>(
      payload, protocol::PayloadFormat::cbor, settings.block_size + std::size_t{1024});
  if (!block || block->file_id != file_id || block->block_id < 0 ||
      block->block_id >= identity.block_count) {
    ++stats.ignored_messages;
    return;
  }
  const auto index = static_cast<std::uint32_t>(block->block_id);
  const std::uint64_t offset = std::uint64_t{index} * identity.block_size;
  const std::uint64_t expected =
      std::min<std::uint64_t>(identity.block_size, identity.file_size - offset);
  if (block->payload.size() != expected) {
    ++stats.ignored_messages;
    return;
  }
  if (!protocol::is_block_requested(missing, index)) {
    ++stats.duplicate_blocks;
    return;
  }
  flash::FlashArea& slot = device->update_slot();
  auto written = write_block(slot, offset, block->payload, careful);
  if (!written && careful && written.error().fault == flash::FlashFault::not_erased) {
    // A unit that reads erased but was programmed (a torn write that moved no bit): as damaged.
    damaged = true;
  } else if (!written) {
    failure = "writing block " + std::to_string(index) +
              " to the update slot failed: " + written.error().message;
  } else if (*written == BlockWrite::damaged) {
    damaged = true;
  } else if (auto recorded = journal->record_block(index); !recorded) {
    failure = "recording block " + std::to_string(index) +
              " in the download journal failed: " + recorded.error().message;
  } else {
    protocol::set_block_requested(missing, index, false);
    ++received;
    ++stats.blocks_written;
    ++blocks_seen;
  }
  changed.notify_all();
}

void OtaAgent::State::take_rejection(ByteView payload) {
  auto error = protocol::decode_stream_reply<protocol::StreamErrorResponse>(
      payload, protocol::PayloadFormat::cbor, protocol::kMaxPayloadSize);
  if (!error) {
    ++stats.ignored_messages;
    return;
  }
  ++stats.rejections;
  rejection = std::move(*error);
  changed.notify_all();
}

// ---------------------------------------------------------------------------------------------

Result<std::unique_ptr<OtaAgent>> OtaAgent::create(OtaAgentSettings settings,
                                                   StreamTransport& transport, OtaDevice& device) {
  if (auto ok = check_settings(settings, device.update_slot()); !ok) {
    return prefixed(ok.error(), "OTA agent settings");
  }
  if (!settings.clock) settings.clock = [] { return std::chrono::system_clock::now(); };
  auto state = std::make_unique<State>();
  state->settings = std::move(settings);
  state->transport = &transport;
  state->device = &device;
  return std::unique_ptr<OtaAgent>(new OtaAgent(std::move(state)));
}

OtaAgent::OtaAgent(std::unique_ptr<State> state) : state_(std::move(state)) {}
OtaAgent::~OtaAgent() = default;

bool OtaAgent::takes(const nlohmann::json& job_document) {
  return job_document.is_object() && job_document.contains(protocol::kOtaJobKey);
}

OtaAgentStats OtaAgent::stats() const {
  std::lock_guard lock(state_->mutex);
  return state_->stats;
}

void OtaAgent::on_message(const mqtt::Message& message) {
  State& s = *state_;
  std::lock_guard lock(s.mutex);
  if (!s.active) return;
  if (message.topic == s.data_topic) {
    s.take_block(message.payload);
  } else if (message.topic == s.rejected_topic) {
    s.take_rejection(message.payload);
  }
}

JobOutcome OtaAgent::handle(const protocol::JobExecution& job, JobProgress& progress) {
  return run(job, progress, false);
}

JobOutcome OtaAgent::resume(const protocol::JobExecution& job, JobProgress& progress) {
  return run(job, progress, true);
}

namespace {

// The download session's lifetime on the State: on_message takes blocks only inside it.
class Session {
 public:
  Session(std::mutex& mutex, bool& active) : mutex_(mutex), active_(active) {}
  ~Session() {
    std::lock_guard lock(mutex_);
    active_ = false;
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

 private:
  std::mutex& mutex_;
  bool& active_;
};

std::string receive_text(std::uint32_t received, std::uint32_t total) {
  return std::to_string(received) + "/" + std::to_string(total);
}

}  // namespace

JobOutcome OtaAgent::run(const protocol::JobExecution& job, JobProgress& progress, bool resuming) {
  State& s = *state_;
  OtaDevice& device = *s.device;
  flash::FlashArea& slot = device.update_slot();

  // ---- The document.
  auto document = protocol::OtaJobDocument::decode(job.job_document.value_or(nlohmann::json{}));
  if (!document)
    return rejected("the job document is not a valid OTA document: " + document.error().message);
  const auto now =
      std::chrono::duration_cast<std::chrono::seconds>(s.settings.clock().time_since_epoch())
          .count();
  if (auto ok = protocol::check_ota_job_for_device(*document, s.settings.thing_name, now); !ok) {
    return rejected(ok.error().message);
  }
  const protocol::OtaRelease& release = *document->release;
  auto parsed_target = image::ImageVersion::parse(release.version);
  if (!parsed_target) return rejected("afr_ota.ironroot.version: " + parsed_target.error().message);
  const image::ImageVersion target = *parsed_target;
  const std::string target_text = version_text(target);
  const RunningFirmware running = device.running_firmware();
  const std::string running_text = version_text(running.version);
  const protocol::OtaFile& file = document->file;
  const auto file_size = static_cast<std::uint32_t>(file.file_size);
  const DownloadIdentity identity =
      identify_download(job.job_id, document->stream_name.value_or(""), file.file_id, file_size,
                        s.settings.block_size, file.signature);

  // ---- After a restart: how far did the update get?
  if (resuming) {
    auto updated_by = job.status_details.find("updatedBy");
    const std::string previous =
        updated_by != job.status_details.end() ? updated_by->second : std::string();
    auto succeeded = [&] {
      StatusDetails details = reason("accepted v" + target_text);
      if (!previous.empty()) details["updatedBy"] = previous;
      return JobOutcome::succeeded(std::move(details));
    };
    if (running.version == target) {
      if (!running.test_boot) return succeeded();
      StatusDetails active{{"self_test", "active"}, {"updatedBy", running_text}};
      if (auto ok = progress.report(active); !ok) {
        return failed("reporting the self-test of " + target_text + ": " + ok.error().message);
      }
      if (auto ok = device.run_self_test(); !ok) {
        // The bootloader reverts at the next boot; the old image reports the job, with this.
        (void)write_failure_reason(device.running_slot(), identity.id, ok.error().message);
        return JobOutcome::continue_after_restart();
      }
      if (auto ok = device.confirm_running_image(); !ok) return failed(ok.error().message);
      return succeeded();
    }
    DownloadJournal journal(slot, identity);
    bool staged = false;
    if (identity.block_count > 0 &&
        align_up(file_size, slot.write_align()) + journal_size(slot, identity.block_count) <=
            trailer_start(slot)) {
      auto ours = journal.matches();
      if (ours && *ours) {
        auto marked = journal.staged();
        staged = marked && *marked;
      }
    }
    auto self_test = job.status_details.find("self_test");
    if (staged || (self_test != job.status_details.end() && self_test->second == "ready")) {
      auto recorded = read_failure_reason(slot, identity.id);
      if (recorded && *recorded) {
        return failed("the self-test of " + target_text + " failed (" + **recorded +
                      "); the bootloader reverted to " + running_text);
      }
      return failed(target_text +
                    " did not confirm itself (its self-test failed, or it did not run); the "
                    "bootloader reverted to " +
                    running_text);
    }
  }

  // ---- Before any block is asked for.
  const auto& protocols = document->protocols;
  if (std::find(protocols.begin(), protocols.end(), protocol::OtaProtocol::mqtt) ==
          protocols.end() ||
      !document->stream_name) {
    return rejected("the job offers no MQTT stream; this device downloads over MQTT only");
  }
  if (!(running.version < target)) {
    return rejected("version " + target_text + " is not newer than the running " + running_text +
                    ": downgrade refused");
  }
  const std::uint32_t fused = device.fused_security_counter();
  if (release.security_counter && *release.security_counter < fused) {
    return rejected("security counter " + std::to_string(*release.security_counter) +
                    " is below the device's fused " + std::to_string(fused) +
                    ": downgrade refused");
  }
  const std::uint64_t max_size = max_update_file_size(slot, s.settings.block_size);
  if (file_size > max_size || identity.block_count > protocol::kMaxStreamBlockOffset + 1) {
    return rejected("the image (" + std::to_string(file_size) +
                    " bytes) does not fit the update slot: its " + std::to_string(slot.size()) +
                    " bytes hold at most " + std::to_string(max_size) +
                    " bytes of image beside MCUboot's trailer and the download journal");
  }
  auto data_topic = protocol::stream_topic(
      s.settings.topic_prefix, {s.settings.thing_name, *document->stream_name,
                                protocol::StreamMessage::data, protocol::PayloadFormat::cbor});
  auto rejected_topic = protocol::stream_topic(
      s.settings.topic_prefix, {s.settings.thing_name, *document->stream_name,
                                protocol::StreamMessage::rejected, protocol::PayloadFormat::cbor});
  auto request_topic = protocol::stream_topic(
      s.settings.topic_prefix, {s.settings.thing_name, *document->stream_name,
                                protocol::StreamMessage::get, protocol::PayloadFormat::cbor});
  if (!data_topic || !rejected_topic || !request_topic) {
    return rejected("afr_ota.streamname: " +
                    (data_topic ? rejected_topic : data_topic).error().message);
  }

  // ---- The download.
  for (const std::string& filter : {*data_topic, *rejected_topic}) {
    if (auto ok = s.transport->subscribe(filter, 0, s.settings.subscribe_timeout); !ok) {
      return failed("subscribing to " + filter + ": " + ok.error().message);
    }
  }
  Session session(s.mutex, s.active);
  {
    std::lock_guard lock(s.mutex);
    s.data_topic = *data_topic;
    s.rejected_topic = *rejected_topic;
    s.file_id = file.file_id;
    s.identity = identity;
    s.journal.emplace(slot, identity);
    s.missing = protocol::full_block_bitmap(identity.block_count);
    s.received = 0;
    s.failure.reset();
    s.rejection.reset();
    s.damaged = false;
    auto ours = s.journal->matches();
    if (!ours) return failed("reading the download journal: " + ours.error().message);
    if (*ours) {
      auto received = s.journal->read_received(s.missing);
      if (!received) return failed("reading the download journal: " + received.error().message);
      s.received = *received;
      s.careful = true;
      s.stats.resumed_blocks += *received;
    } else {
      if (auto started = s.journal->start(); !started) {
        return failed("preparing the update slot: " + started.error().message);
      }
      s.careful = false;
    }
    s.active = true;
  }

  int without_progress = 0;
  std::string last_refusal;  // the last InternalError, for the message if the download gives up
  bool restarted = false;
  std::uint32_t reported = 0;
  {
    std::lock_guard lock(s.mutex);
    reported = s.received / s.settings.report_every_blocks;
  }
  for (;;) {
    std::unique_lock lock(s.mutex);
    if (s.failure) return failed(*s.failure);
    if (s.damaged) {
      // A block's area holds neither the block nor erased flash (a write torn by a power cut):
      // the download starts over, once.
      if (restarted) return failed("the update slot keeps damaging blocks; giving up");
      restarted = true;
      ++s.stats.restarts;
      if (auto started = s.journal->start(); !started) {
        return failed("preparing the update slot: " + started.error().message);
      }
      s.missing = protocol::full_block_bitmap(identity.block_count);
      s.received = 0;
      s.careful = false;
      s.damaged = false;
    }
    const std::uint32_t received = s.received;
    if (received / s.settings.report_every_blocks != reported) {
      reported = received / s.settings.report_every_blocks;
      lock.unlock();
      if (auto ok = progress.report({{"receive", receive_text(received, identity.block_count)}});
          !ok) {
        return failed("reporting progress: " + ok.error().message);
      }
      lock.lock();
    }
    const std::optional<std::uint32_t> offset = s.first_missing();
    if (!offset) break;

    protocol::GetStreamRequest request;
    request.client_token = std::string(kClientToken);
    request.file_id = file.file_id;
    request.block_size = s.settings.block_size;
    request.block_offset = *offset;
    request.block_count = s.settings.window_blocks;
    Bytes bitmap((s.settings.window_blocks + 7) / 8);
    std::uint32_t asked = 0;
    for (std::uint32_t k = 0; k < s.settings.window_blocks; ++k) {
      if (*offset + k < identity.block_count &&
          protocol::is_block_requested(s.missing, *offset + k)) {
        protocol::set_block_requested(bitmap, k, true);
        ++asked;
      }
    }
    request.block_bitmap = std::move(bitmap);
    ++s.stats.requests;
    s.stats.blocks_requested += asked;
    s.rejection.reset();
    const std::uint64_t seen_before = s.blocks_seen;
    lock.unlock();
    const Bytes payload = protocol::encode_stream_message(request, protocol::PayloadFormat::cbor);
    if (auto ok = s.transport->publish(*request_topic, payload, 0); !ok) {
      return failed("requesting blocks: " + ok.error().message);
    }
    lock.lock();
    // Wait for the window, as long as blocks keep coming within the block timeout.
    bool timed_out = false;
    std::uint64_t seen = s.blocks_seen;
    while (!s.failure && !s.damaged && !s.rejection && !s.window_done(*offset)) {
      const bool woke = s.changed.wait_for(lock, s.settings.block_timeout, [&] {
        return s.failure || s.damaged || s.rejection || s.blocks_seen != seen;
      });
      if (!woke) {
        timed_out = true;
        break;
      }
      seen = s.blocks_seen;
    }
    if (s.failure || s.damaged) continue;
    if (s.rejection) {
      const protocol::StreamErrorResponse refusal = *s.rejection;
      s.rejection.reset();
      const std::string refused =
          refusal.code + (refusal.message.empty() ? std::string() : ": " + refusal.message);
      if (refusal.code != protocol::stream_errors::kInternalError) {
        return failed("the stream service refused the request: " + refused);
      }
      last_refusal = refused;
    } else if (timed_out) {
      ++s.stats.timeouts;
    }
    if (s.blocks_seen != seen_before) {
      without_progress = 0;
    } else if (++without_progress >= s.settings.max_requests_without_progress) {
      return failed("the stream sent no block for " + std::to_string(without_progress) +
                    " requests in a row (" + std::to_string(s.settings.block_timeout.count()) +
                    " ms each); received " + receive_text(s.received, identity.block_count) +
                    (last_refusal.empty() ? std::string() : "; last refusal: " + last_refusal));
    }
  }
  {
    std::lock_guard lock(s.mutex);
    s.active = false;
  }
  DownloadJournal& journal = *s.journal;

  // ---- Verification: the file's signature, then the image as the bootloader will judge it.
  auto refuse = [&](std::string why) {
    (void)journal.discard();  // a retry downloads afresh
    return failed(std::move(why));
  };
  const auto trusted = device.trusted_key_hashes();
  auto key = trusted_image_key(slot, file_size, trusted);
  if (!key)
    return refuse("the file's signature (sig-sha256-ecdsa) cannot be checked: " +
                  key.error().message);
  if (key->type() != crypto::KeyType::ecdsa_p256) {
    return refuse("the file's signature (sig-sha256-ecdsa) cannot be checked: the image's key is " +
                  std::string(crypto::key_type_name(key->type())) + ", not ECDSA P-256");
  }
  crypto::Sha256 hash;
  {
    Bytes chunk(std::min<std::size_t>(kHashChunk, file_size));
    for (std::uint64_t at = 0; at < file_size; at += chunk.size()) {
      auto part = std::span<std::byte>(chunk).first(
          static_cast<std::size_t>(std::min<std::uint64_t>(chunk.size(), file_size - at)));
      if (auto r = slot.read(at, part); !r) {
        return failed("reading the update slot: " + r.error().message);
      }
      hash.update(part);
    }
  }
  if (auto ok = key->verify_digest(hash.finish(), file.signature); !ok) {
    return refuse("the file's signature (sig-sha256-ecdsa) does not verify: " + ok.error().message);
  }
  auto image = device.verify_update_image();
  if (!image) return refuse("the image does not verify: " + image.error().message);
  if (image->version != target) {
    return refuse("the image is version " + version_text(image->version) +
                  ", the job document says " + target_text);
  }
  if (release.security_counter && image->security_counter != *release.security_counter) {
    return refuse("the image's security counter is " + std::to_string(image->security_counter) +
                  ", the job document says " + std::to_string(*release.security_counter));
  }

  // ---- Stage it, and restart.
  auto unstage = [&] {
    const image::TrailerLayout layout = boot::slot_trailer_layout(slot);
    const std::uint64_t magic = layout.magic_offset(slot.size());
    (void)erase_covering(slot, magic, magic + 1);
  };
  if (auto ok = device.mark_update_pending(); !ok) {
    unstage();
    return failed(ok.error().message);
  }
  if (auto ok = journal.record_staged(); !ok) {
    unstage();
    return failed("recording the staged update in the download journal: " + ok.error().message);
  }
  if (auto ok = progress.report({{"self_test", "ready"}, {"updatedBy", running_text}}); !ok) {
    unstage();
    return failed("reporting the staged update: " + ok.error().message);
  }
  return JobOutcome::continue_after_restart();
}

}  // namespace ironroot::agent
