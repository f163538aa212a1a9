#include "ironroot/boot/bootloader.hpp"

#include <algorithm>

#include "ironroot/boot/slot_state.hpp"
#include "ironroot/image/image.hpp"

namespace ironroot::boot {

namespace {

constexpr std::size_t kChunk = 4096;  // RAM used to copy flash

using image::SwapType;

std::string hex8(const crypto::Sha256Digest& d) {
  return to_hex(ByteView(d).first(8));
}

std::string_view operation_name(Operation op) {
  switch (op) {
    case Operation::swap:
      return "swap";
    case Operation::overwrite:
      return "overwrite";
    case Operation::none:
      return "none";
  }
  return "none";
}

BootFailure flash_failure(const flash::FlashError& e, std::vector<std::string> events) {
  return BootFailure{e.fault == flash::FlashFault::power_cut ? BootFailureKind::power_cut
                                                             : BootFailureKind::flash_error,
                     e.message, std::move(events)};
}

}  // namespace

Result<Bootloader> Bootloader::create(BootAreas areas, Otp& otp, UpgradeStrategy strategy) {
  if (!areas.primary || !areas.secondary || !areas.scratch || !areas.status) {
    return fail("the bootloader needs primary, secondary, scratch and status areas");
  }
  if (areas.primary->size() != areas.secondary->size()) {
    return fail("the slots differ in size (" + std::to_string(areas.primary->size()) + " and " +
                std::to_string(areas.secondary->size()) + " bytes)");
  }
  // Swap units: the stretches between sector boundaries the two slots share (both sector lists are
  // sorted, so one merge finds them).
  const auto p = areas.primary->sectors();
  const auto q = areas.secondary->sectors();
  std::vector<Unit> units;
  std::uint64_t largest = 0;
  std::uint64_t unit_start = 0;
  for (std::size_t i = 0, j = 0; i < p.size() && j < q.size();) {
    const std::uint64_t end_p = p[i].offset + p[i].size;
    const std::uint64_t end_q = q[j].offset + q[j].size;
    if (end_p == end_q) {
      units.push_back(Unit{unit_start, end_p - unit_start});
      largest = std::max(largest, end_p - unit_start);
      unit_start = end_p;
      ++i;
      ++j;
    } else if (end_p < end_q) {
      ++i;
    } else {
      ++j;
    }
  }
  if (strategy == UpgradeStrategy::swap && largest > areas.scratch->size()) {
    return fail("the scratch area (" + std::to_string(areas.scratch->size()) +
                " bytes) is smaller than the largest swap unit (" + std::to_string(largest) +
                " bytes)");
  }
  if (areas.status->sectors().size() < 2) return fail("the status area needs at least two sectors");
  for (const auto& s : areas.status->sectors()) {
    if (s.size < kStatusRecordSize)
      return fail("the status area's sectors are too small for a record");
  }
  if (kStatusRecordSize % areas.status->write_align() != 0) {
    return fail("the status area's write alignment does not divide its 32-byte records");
  }
  return Bootloader(areas, otp, strategy, std::move(units));
}

Bootloader::Bootloader(BootAreas areas, Otp& otp, UpgradeStrategy strategy, std::vector<Unit> units)
    : areas_(areas),
      otp_(&otp),
      strategy_(strategy),
      units_(std::move(units)),
      log_(*areas.status) {}

std::uint64_t Bootloader::trailer_size() const {
  return slot_trailer_layout(*areas_.primary).size();
}

flash::FlashResult<BootState> Bootloader::state() {
  return log_.read();
}

Result<SlotImage> Bootloader::inspect(flash::FlashArea& slot, bool check_counter) {
  return validate(slot, check_counter, nullptr);
}

namespace {

// What validate() concludes from a verification of the image `parsed` (when it parsed): why a
// refused key is refused, then the security counter, then the slot's description.
Result<SlotImage> conclude(const Result<image::VerifiedImage, image::ImageError>& verified,
                           const image::ImageView* parsed, const Otp& otp,
                           std::span<const unsigned> trusted_slots, bool check_counter) {
  if (!verified) {
    if (verified.error().fault == image::ImageFault::key_not_trusted && parsed) {
      // Say so when the key is one the device once trusted and has revoked.
      for (unsigned k = 0; k < kFirmwareKeySlots; ++k) {
        auto fused = otp.firmware_key(k);
        if (!fused || !otp.is_revoked(k)) continue;
        for (const image::Tlv& t : parsed->tlvs) {
          if (t.type == image::tlv::kPubKey && crypto::sha256(t.value) == *fused) {
            return fail("image " + parsed->header.version.to_string() +
                        " is signed with revoked key " + std::to_string(k) + " (" + hex8(*fused) +
                        "...)");
          }
        }
      }
    }
    return fail(verified.error().message);
  }
  const image::ImageView& view = verified->image;
  auto counter = view.security_counter();
  if (!counter) {
    return fail("image " + view.header.version.to_string() +
                " has no security counter; sign it with -s (e.g. -s auto)");
  }
  const std::uint32_t fused = otp.security_counter(kFirmwareCounter);
  if (check_counter && *counter < fused) {
    return fail("image " + view.header.version.to_string() + " has security counter " +
                std::to_string(*counter) + ", below the fused " + std::to_string(fused) +
                ": rollback refused");
  }
  SlotImage info;
  info.version = view.header.version;
  info.hash = verified->hash;
  info.key_hash = verified->key_hash;
  info.key_slot = trusted_slots[verified->key_index];
  info.security_counter = *counter;
  info.header_size = view.header.hdr_size;
  info.payload_size = view.header.img_size;
  info.size = view.size;
  return info;
}

}  // namespace

Result<SlotImage> Bootloader::validate(flash::FlashArea& slot, bool check_counter, Bytes* bytes) {
  const std::uint64_t usable = slot.size() - trailer_size();
  auto size = image_size(slot, usable);
  if (!size) return tl::unexpected(size.error());
  std::vector<crypto::Sha256Digest> trusted;
  std::vector<unsigned> trusted_slots;
  for (unsigned k = 0; k < kFirmwareKeySlots; ++k) {
    auto key = otp_->firmware_key(k);
    if (key && !otp_->is_revoked(k)) {
      trusted.push_back(*key);
      trusted_slots.push_back(k);
    }
  }
  const image::VerifyOptions options{slot.size(), trailer_size()};
  if (bytes) {
    // The caller runs these bytes: they are read once and verified in RAM, never re-read.
    Bytes data(static_cast<std::size_t>(*size));
    if (auto r = slot.read(0, data); !r) return fail(r.error().message);
    auto parsed = image::parse_image(data);
    auto info = conclude(image::verify_image_by_key_hash(data, trusted, options),
                         parsed ? &*parsed : nullptr, *otp_, trusted_slots, check_counter);
    if (info) *bytes = std::move(data);
    return info;
  }
  // Only a judgement is needed: verified from flash, a TLV area or 4 KiB chunk at a time.
  SlotImageSource source(slot, *size);
  auto stored = image::StoredImage::read(source);
  if (!stored) return fail(stored.error().message);
  return conclude(image::verify_image_by_key_hash(*stored, source, trusted, options),
                  &stored->view(), *otp_, trusted_slots, check_counter);
}

std::uint32_t Bootloader::image_extent(flash::FlashArea& slot) {
  const std::uint64_t usable = slot.size() - trailer_size();
  auto size = image_size(slot, usable);
  return static_cast<std::uint32_t>(size ? *size : usable);
}

// The units an operation covers are every unit holding image bytes (a prefix of the slot) and the
// last one, which holds the trailer: position p of that list, counted from the first unit or, when
// `descending`, from the last. O(log n), so that an operation's steps cost the same each.
std::size_t Bootloader::unit_count(std::uint32_t extent) const {
  auto first_beyond = std::lower_bound(units_.begin(), units_.end(), extent,
                                       [](const Unit& u, std::uint32_t e) { return u.offset < e; });
  const auto prefix = static_cast<std::size_t>(first_beyond - units_.begin());
  return prefix == units_.size() ? prefix : prefix + 1;
}

const Bootloader::Unit& Bootloader::unit_at(std::uint32_t extent, std::size_t position,
                                            bool descending) const {
  const std::size_t count = unit_count(extent);
  const std::size_t ascending = descending ? count - 1 - position : position;
  return ascending + 1 == count ? units_.back() : units_[ascending];
}

std::uint32_t Bootloader::steps_for(const BootState& state) const {
  const auto units = unit_count(state.extent);
  return static_cast<std::uint32_t>(state.operation == Operation::swap ? 3 * units : units + 1);
}

flash::FlashResult<void> Bootloader::erase_range(flash::FlashArea& area, std::uint64_t offset,
                                                 std::uint64_t length) {
  for (const flash::Sector& s : area.sectors()) {
    if (s.offset + s.size <= offset || s.offset >= offset + length) continue;
    if (auto r = area.erase(s.offset, s.size); !r) return r;
  }
  return {};
}

flash::FlashResult<void> Bootloader::copy(flash::FlashArea& from, std::uint64_t from_offset,
                                          flash::FlashArea& to, std::uint64_t to_offset,
                                          std::uint64_t length) {
  Bytes chunk(kChunk);
  const std::byte erased = to.erased_value();
  const std::size_t unit = to.write_align();
  auto is_erased = [&](std::size_t begin, std::size_t end) {
    return std::all_of(chunk.begin() + static_cast<std::ptrdiff_t>(begin),
                       chunk.begin() + static_cast<std::ptrdiff_t>(end),
                       [&](std::byte b) { return b == erased; });
  };
  for (std::uint64_t done = 0; done < length; done += chunk.size()) {
    chunk.resize(static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, length - done)));
    if (auto r = from.read(from_offset + done, chunk); !r) return r;
    // The destination was just erased. Only write units holding data are programmed: an erased
    // unit (a trailer flag not yet set, say) must stay programmable.
    std::size_t run = 0;
    for (std::size_t at = 0; at <= chunk.size(); at += unit) {
      const bool end = at == chunk.size();
      if (!end && !is_erased(at, at + unit)) continue;
      if (at > run) {
        ByteView data = ByteView(chunk).subspan(run, at - run);
        if (auto r = to.write(to_offset + done + run, data); !r) return r;
      }
      run = at + unit;
    }
  }
  return {};
}

flash::FlashResult<void> Bootloader::write_primary_trailer(SwapType type) {
  // Written in the same journaled step that erased and refilled the primary's last unit, so a
  // write torn by a power cut is erased and written again when the step is repeated.
  flash::FlashArea& primary = *areas_.primary;
  const image::TrailerLayout layout = slot_trailer_layout(primary);
  const std::uint64_t size = primary.size();
  if (auto r =
          write_trailer_byte(primary, layout.swap_info_offset(size), static_cast<std::byte>(type));
      !r) {
    return r;
  }
  if (auto r = write_trailer_byte(primary, layout.copy_done_offset(size), image::kFlagSet); !r)
    return r;
  if (type != SwapType::test) {
    if (auto r = write_trailer_byte(primary, layout.image_ok_offset(size), image::kFlagSet); !r)
      return r;
  }
  return write_trailer_magic(primary);
}

flash::FlashResult<void> Bootloader::run_step(const BootState& state, std::uint32_t step) {
  flash::FlashArea& primary = *areas_.primary;
  flash::FlashArea& secondary = *areas_.secondary;
  flash::FlashArea& scratch = *areas_.scratch;
  const std::uint64_t trailer_start = primary.size() - trailer_size();
  auto image_part = [&](const Unit& u) {
    return u.offset >= trailer_start ? 0 : std::min(u.size, trailer_start - u.offset);
  };
  auto is_last = [&](const Unit& u) { return &u == &units_.back(); };
  if (state.operation == Operation::swap) {
    const Unit& u = unit_at(state.extent, step / 3, true);
    switch (step % 3) {
      case 0:  // secondary -> scratch
        if (auto r = erase_range(scratch, 0, u.size); !r) return r;
        return copy(secondary, u.offset, scratch, 0, u.size);
      case 1:  // primary -> secondary, leaving the secondary's trailer erased (no longer pending)
        if (auto r = erase_range(secondary, u.offset, u.size); !r) return r;
        return copy(primary, u.offset, secondary, u.offset, image_part(u));
      default:  // scratch -> primary; the trailer is written afresh
        if (auto r = erase_range(primary, u.offset, u.size); !r) return r;
        if (auto r = copy(scratch, 0, primary, u.offset, image_part(u)); !r) return r;
        return is_last(u) ? write_primary_trailer(static_cast<SwapType>(state.swap_type))
                          : flash::FlashResult<void>{};
    }
  }
  if (step < unit_count(state.extent)) {
    const Unit& u = unit_at(state.extent, step, false);
    if (auto r = erase_range(primary, u.offset, u.size); !r) return r;
    if (auto r = copy(secondary, u.offset, primary, u.offset, image_part(u)); !r) return r;
    return is_last(u) ? write_primary_trailer(static_cast<SwapType>(state.swap_type))
                      : flash::FlashResult<void>{};
  }
  // Last step: the update is installed; its trailer sector goes, so it is not installed again.
  const image::TrailerLayout layout = slot_trailer_layout(secondary);
  const flash::Sector& s = flash::sector_at(secondary, layout.magic_offset(secondary.size()));
  return secondary.erase(s.offset, s.size);
}

flash::FlashResult<void> Bootloader::start_operation(Operation op, SwapType type,
                                                     std::uint32_t extent,
                                                     std::vector<std::string>& events) {
  BootState state{op, static_cast<std::uint8_t>(type), 0, extent, false};
  if (auto r = log_.write(state); !r) return r;
  return run_operation(state, events);
}

flash::FlashResult<void> Bootloader::run_operation(BootState state,
                                                   std::vector<std::string>& events) {
  const std::uint32_t total = steps_for(state);
  for (std::uint32_t step = state.steps_done; step < total; ++step) {
    if (auto r = run_step(state, step); !r) return r;
    state.steps_done = step + 1;
    if (auto r = log_.write(state); !r) return r;
  }
  return finish_operation(state, events);
}

flash::FlashResult<void> Bootloader::finish_operation(const BootState& state,
                                                      std::vector<std::string>& events) {
  const auto type = static_cast<SwapType>(state.swap_type);
  auto installed = validate(*areas_.primary, false, nullptr);
  if (!installed) {
    events.push_back("after the " + std::string(operation_name(state.operation)) +
                     ", the primary slot holds no valid image: " + installed.error().message);
    return log_.write(BootState{});
  }
  const std::string version = installed->version.to_string();
  if (type == SwapType::test) {
    events.push_back("installed " + version +
                     " as a test: it runs once and is reverted unless it confirms itself");
  } else {
    if (auto advanced =
            otp_->advance_security_counter(kFirmwareCounter, installed->security_counter);
        !advanced) {
      events.push_back("could not advance the fused security counter: " + advanced.error().message);
    }
    events.push_back(type == SwapType::revert ? "reverted to " + version
                                              : "installed " + version + " permanently");
  }
  BootState done;
  done.awaiting_confirmation = type == SwapType::test;
  return log_.write(done);
}

Result<BootResult, BootFailure> Bootloader::boot() {
  std::vector<std::string> events;
  auto failed = [&](const flash::FlashError& e) {
    return tl::unexpected(flash_failure(e, events));
  };
  flash::FlashArea& primary = *areas_.primary;
  flash::FlashArea& secondary = *areas_.secondary;

  auto state = log_.read();
  if (!state) return failed(state.error());
  // An operation a power cut interrupted is finished first; what it installed then gets its boot
  // (a test image its one chance to confirm itself) before anything else is decided.
  const bool resumed = state->operation != Operation::none;
  if (resumed) {
    events.push_back("resuming the interrupted " + std::string(operation_name(state->operation)) +
                     " at step " + std::to_string(state->steps_done) + " of " +
                     std::to_string(steps_for(*state)));
    if (auto r = run_operation(*state, events); !r) return failed(r.error());
    state = log_.read();
    if (!state) return failed(state.error());
  }

  bool check_pending = !resumed;
  if (!resumed && state->awaiting_confirmation) {
    auto trailer = read_slot_trailer(primary);
    if (!trailer) return failed(trailer.error());
    auto running = validate(primary, false, nullptr);
    if (trailer->image_ok == image::FlagState::set && running) {
      auto advanced = otp_->advance_security_counter(kFirmwareCounter, running->security_counter);
      if (!advanced) {
        events.push_back("could not advance the fused security counter: " +
                         advanced.error().message);
      }
      events.push_back(running->version.to_string() +
                       " confirmed itself; fused security counter now " +
                       std::to_string(otp_->security_counter(kFirmwareCounter)));
      if (auto r = log_.write(BootState{}); !r) return failed(r.error());
    } else {
      check_pending = false;
      auto previous = validate(secondary, true, nullptr);
      std::string test_version =
          running ? running->version.to_string() : std::string("the test image");
      if (previous) {
        events.push_back(test_version + " was not confirmed: reverting to " +
                         previous->version.to_string());
        const std::uint32_t extent = std::max(image_extent(primary), image_extent(secondary));
        if (auto r = start_operation(Operation::swap, SwapType::revert, extent, events); !r) {
          return failed(r.error());
        }
      } else {
        events.push_back(test_version +
                         " was not confirmed, but the previous image cannot be restored (" +
                         previous.error().message + "): keeping it");
        if (auto r = log_.write(BootState{}); !r) return failed(r.error());
      }
    }
  }
  if (check_pending) {
    auto trailer = read_slot_trailer(secondary);
    if (!trailer) return failed(trailer.error());
    if (trailer->magic == image::MagicState::good) {
      auto candidate = validate(secondary, true, nullptr);
      if (candidate) {
        const bool permanent =
            strategy_ == UpgradeStrategy::overwrite || trailer->image_ok == image::FlagState::set;
        events.push_back("update " + candidate->version.to_string() + " is pending (" +
                         (permanent ? "permanent" : "test") + ")");
        const std::uint32_t extent =
            std::max(image_extent(primary), static_cast<std::uint32_t>(candidate->size));
        auto r = start_operation(
            strategy_ == UpgradeStrategy::swap ? Operation::swap : Operation::overwrite,
            permanent ? SwapType::perm : SwapType::test, extent, events);
        if (!r) return failed(r.error());
      } else {
        events.push_back("update refused: " + candidate.error().message);
        const image::TrailerLayout layout = slot_trailer_layout(secondary);
        const flash::Sector& s = flash::sector_at(secondary, layout.magic_offset(secondary.size()));
        if (auto r = secondary.erase(s.offset, s.size); !r) return failed(r.error());
      }
    }
  }

  Bytes bytes;
  auto firmware = validate(primary, true, &bytes);
  if (!firmware) {
    std::string primary_reason = firmware.error().message;
    auto fallback = validate(secondary, true, nullptr);
    if (!fallback) {
      return tl::unexpected(BootFailure{BootFailureKind::no_valid_image,
                                        "no valid image to boot: primary slot: " + primary_reason +
                                            "; secondary slot: " + fallback.error().message,
                                        events});
    }
    events.push_back("primary image invalid (" + primary_reason + "): restoring " +
                     fallback->version.to_string() + " from the secondary slot");
    const std::uint32_t extent =
        std::max(image_extent(primary), static_cast<std::uint32_t>(fallback->size));
    auto r =
        start_operation(strategy_ == UpgradeStrategy::swap ? Operation::swap : Operation::overwrite,
                        SwapType::perm, extent, events);
    if (!r) return failed(r.error());
    firmware = validate(primary, true, &bytes);
    if (!firmware) {
      return tl::unexpected(BootFailure{BootFailureKind::no_valid_image,
                                        "no valid image to boot: " + firmware.error().message,
                                        events});
    }
  }
  state = log_.read();
  if (!state) return failed(state.error());
  return BootResult{*firmware, std::move(bytes), state->awaiting_confirmation, std::move(events)};
}

}  // namespace ironroot::boot
