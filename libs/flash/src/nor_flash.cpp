#include "ironroot/flash/nor_flash.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <optional>
#include <random>
#include <utility>

#include "ironroot/core/file.hpp"
#include "ironroot/core/unique_fd.hpp"
#include "sector_map.hpp"

namespace ironroot::flash {
namespace {

std::string hex(std::uint64_t value) {
  char text[24];
  std::snprintf(text, sizeof text, "0x%llx", static_cast<unsigned long long>(value));
  return text;
}

std::string errno_text() {
  return std::strerror(errno);
}

tl::unexpected<FlashError> refuse(FlashFault fault, std::string message) {
  return tl::unexpected<FlashError>(FlashError{fault, std::move(message)});
}

bool is_supported_align(std::uint32_t align) {
  return align == 1 || align == 2 || align == 4 || align == 8 || align == 16 || align == 32;
}

// A window on the device: the whole of it, or a partition. Offsets passed to Device's operations
// are relative to `base` and are checked against this window's size and sector map, so that a
// partition enforces its own bounds and reports offsets as its user sees them.
struct Window {
  bool is_area = false;
  std::uint64_t base = 0;
  std::uint64_t size = 0;
  std::vector<Sector> sectors;  // relative to base
  std::string name;             // "flash.bin", or "flash.bin area [0x20000, 0x40000)"

  // "0x100", or "0x100 (device 0x20100)" in a partition.
  std::string at(std::uint64_t offset) const {
    if (!is_area) return hex(offset);
    return hex(offset) + " (device " + hex(base + offset) + ")";
  }
  std::string sector_text(const Sector& s) const {
    return "[" + hex(s.offset) + ", " + hex(s.offset + s.size) + ")";
  }
  const Sector& sector_containing(std::uint64_t offset) const {
    return sectors[sector_index(sectors, offset)];
  }
};

// The flash chip: contents, which write units are programmed, the backing file, counters and the
// armed power cut. Shared by the NorFlash and every area cut from it.
class Device {
 public:
  Device(FlashGeometry geometry, Bytes contents, UniqueFd file, std::string name)
      : geometry_(std::move(geometry)), contents_(std::move(contents)), file_(std::move(file)) {
    whole_.size = geometry_.size();
    whole_.sectors = geometry_.sectors;
    whole_.name = std::move(name);
    // After a reopen, or from initial contents, a unit that differs from the erased value is the
    // only evidence of programming there is.
    programmed_.resize(contents_.size() / geometry_.write_align);
    mark_programmed_where_not_erased(0, contents_.size());
  }

  const FlashGeometry& geometry() const { return geometry_; }
  const Window& whole() const { return whole_; }
  const Bytes& contents() const { return contents_; }

  void arm(const PowerCut& cut) { cut_ = cut; }
  void restore_power() {
    power_lost_ = false;
    cut_ = PowerCut{};
  }
  bool power_lost() const { return power_lost_; }
  std::uint64_t operations() const { return erases_ + writes_; }
  std::uint64_t erases() const { return erases_; }
  std::uint64_t writes() const { return writes_; }
  std::uint64_t bytes_written() const { return bytes_written_; }

  FlashResult<void> read(const Window& w, std::uint64_t offset, std::span<std::byte> out) const {
    auto what = [&] {
      return w.name + ": read of " + std::to_string(out.size()) + " bytes at " + w.at(offset);
    };
    if (auto in = check_bounds(w, offset, out.size(), what); !in) return in;
    auto first = contents_.begin() + static_cast<std::ptrdiff_t>(w.base + offset);
    std::copy(first, first + static_cast<std::ptrdiff_t>(out.size()), out.begin());
    return {};
  }

  FlashResult<void> write(const Window& w, std::uint64_t offset, ByteView data) {
    auto what = [&] {
      return w.name + ": write of " + std::to_string(data.size()) + " bytes at " + w.at(offset);
    };
    if (auto on = check_power(what); !on) return on;
    if (auto in = check_bounds(w, offset, data.size(), what); !in) return in;
    const std::uint32_t align = geometry_.write_align;
    if (offset % align != 0 || data.size() % align != 0) {
      return refuse(FlashFault::misaligned, what() + ": the " +
                                                (offset % align != 0 ? "offset" : "length") +
                                                " is not a multiple of the write alignment (" +
                                                std::to_string(align) + " bytes)");
    }
    if (data.empty()) return {};
    const std::uint64_t start = w.base + offset;
    for (std::uint64_t unit = start; unit < start + data.size(); unit += align) {
      if (!programmed_[unit / align]) continue;
      auto held = ByteView(contents_).subspan(unit, align);
      return refuse(FlashFault::not_erased,
                    what() + ": the write unit at " + w.at(unit - w.base) + " (now " +
                        to_hex(held) +
                        ") has been programmed since it was last erased, and NOR flash programs "
                        "a write unit once per erase; erase sector " +
                        w.sector_text(w.sector_containing(unit - w.base)) + " first");
    }

    const std::uint64_t number = operations() + 1;
    if (cut_.before_operation == number) {
      power_lost_ = true;
      cut_operation_ = number;
      if (!cut_.torn) {
        return refuse(FlashFault::power_cut, what() + ": the power failed before operation " +
                                                 std::to_string(number) + "; nothing was written");
      }
      // Each bit the data would change in the first write unit changes or not, at random: bits
      // move only from the erased value toward the data.
      std::mt19937_64 random(cut_.seed);
      const std::byte erased = geometry_.erased_value;
      Bytes torn(align);
      for (std::size_t i = 0; i < align; ++i) {
        auto mask = static_cast<std::byte>(random() & 0xff);
        torn[i] = erased ^ ((erased ^ data[i]) & mask);
      }
      if (auto stored = persist(start, torn, what); !stored) return stored;
      std::copy(torn.begin(), torn.end(), contents_.begin() + static_cast<std::ptrdiff_t>(start));
      programmed_[start / align] = true;
      return refuse(FlashFault::power_cut, what() + ": the power failed during operation " +
                                               std::to_string(number) +
                                               "; the first write unit is partly programmed");
    }

    if (auto stored = persist(start, data, what); !stored) return stored;
    std::copy(data.begin(), data.end(), contents_.begin() + static_cast<std::ptrdiff_t>(start));
    for (std::uint64_t unit = start; unit < start + data.size(); unit += align) {
      programmed_[unit / align] = true;
    }
    ++writes_;
    bytes_written_ += data.size();
    return {};
  }

  FlashResult<void> erase(const Window& w, std::uint64_t offset, std::uint64_t length) {
    auto what = [&] { return w.name + ": erase of " + hex(length) + " bytes at " + w.at(offset); };
    if (auto on = check_power(what); !on) return on;
    if (auto in = check_bounds(w, offset, length, what); !in) return in;
    for (std::uint64_t edge : {offset, offset + length}) {
      if (edge == w.size) continue;
      const Sector& s = w.sector_containing(edge);
      if (s.offset == edge) continue;
      return refuse(FlashFault::misaligned, what() + ": its " +
                                                (edge == offset ? "start " : "end ") + w.at(edge) +
                                                " is inside sector " + w.sector_text(s) +
                                                ", and flash erases whole sectors only");
    }
    if (length == 0) return {};
    const std::uint64_t start = w.base + offset;

    const std::uint64_t number = operations() + 1;
    if (cut_.before_operation == number) {
      power_lost_ = true;
      cut_operation_ = number;
      if (!cut_.torn) {
        return refuse(FlashFault::power_cut, what() + ": the power failed before operation " +
                                                 std::to_string(number) + "; nothing was erased");
      }
      // The first sector is left holding random bytes.
      std::mt19937_64 random(cut_.seed);
      Bytes torn(w.sector_containing(offset).size);
      for (std::byte& b : torn) b = static_cast<std::byte>(random() & 0xff);
      if (auto stored = persist(start, torn, what); !stored) return stored;
      std::copy(torn.begin(), torn.end(), contents_.begin() + static_cast<std::ptrdiff_t>(start));
      mark_programmed_where_not_erased(start, torn.size());
      return refuse(FlashFault::power_cut, what() + ": the power failed during operation " +
                                               std::to_string(number) + "; sector " +
                                               w.sector_text(w.sector_containing(offset)) +
                                               " is left with random contents");
    }

    Bytes erased(length, geometry_.erased_value);
    if (auto stored = persist(start, erased, what); !stored) return stored;
    std::fill_n(contents_.begin() + static_cast<std::ptrdiff_t>(start), length,
                geometry_.erased_value);
    const std::uint32_t align = geometry_.write_align;
    std::fill_n(programmed_.begin() + static_cast<std::ptrdiff_t>(start / align), length / align,
                false);
    ++erases_;
    return {};
  }

 private:
  template <class What>
  FlashResult<void> check_power(const What& what) const {
    if (!power_lost_) return {};
    return refuse(FlashFault::power_cut, what() +
                                             ": the power has been off since it failed at "
                                             "operation " +
                                             std::to_string(cut_operation_) +
                                             "; restore_power() first");
  }

  template <class What>
  static FlashResult<void> check_bounds(const Window& w, std::uint64_t offset, std::uint64_t length,
                                        const What& what) {
    if (offset <= w.size && length <= w.size - offset) return {};
    return refuse(FlashFault::out_of_bounds, what() + " goes past the end of the " +
                                                 (w.is_area ? "area" : "flash") + " (" +
                                                 hex(w.size) + " bytes)");
  }

  // Applies bytes to the backing file before the operation returns, so that a process killed at
  // any moment leaves the file as the flash would be.
  template <class What>
  FlashResult<void> persist(std::uint64_t device_offset, ByteView bytes, const What& what) {
    if (file_.get() < 0) return {};
    if (auto written = write_all_at(file_.get(), device_offset, bytes); !written) {
      return refuse(FlashFault::io,
                    what() + ": cannot update " + whole_.name + ": " + written.error().message);
    }
    return {};
  }

  // REQUIRES: start and length multiples of write_align. Whole erased blocks are skipped with
  // memcmp: a device opened from a large flash.bin is mostly erased, and this runs on every open.
  void mark_programmed_where_not_erased(std::uint64_t start, std::uint64_t length) {
    const std::uint32_t align = geometry_.write_align;
    constexpr std::size_t kBlock = 4096;  // a multiple of every write alignment
    static thread_local Bytes erased_block;
    erased_block.assign(kBlock, geometry_.erased_value);
    const std::byte* base = contents_.data();
    for (std::uint64_t at = start; at < start + length;) {
      const std::uint64_t block = std::min<std::uint64_t>(kBlock, start + length - at);
      if (block % align == 0 && std::memcmp(base + at, erased_block.data(), block) == 0) {
        std::fill_n(programmed_.begin() + static_cast<std::ptrdiff_t>(at / align), block / align,
                    false);
        at += block;
        continue;
      }
      for (const std::uint64_t end = at + block; at < end; at += align) {
        programmed_[at / align] = std::memcmp(base + at, erased_block.data(), align) != 0;
      }
    }
  }

  FlashGeometry geometry_;
  Window whole_;
  Bytes contents_;
  std::vector<bool> programmed_;  // one entry per write unit
  UniqueFd file_;
  PowerCut cut_;
  bool power_lost_ = false;
  std::uint64_t cut_operation_ = 0;
  std::uint64_t erases_ = 0;
  std::uint64_t writes_ = 0;
  std::uint64_t bytes_written_ = 0;
};

// A partition of a NorFlash. Holds the device, so the flash outlives the NorFlash object.
class Partition final : public FlashArea {
 public:
  Partition(std::shared_ptr<Device> device, Window window)
      : device_(std::move(device)), window_(std::move(window)) {}

  std::uint64_t size() const override { return window_.size; }
  std::uint32_t write_align() const override { return device_->geometry().write_align; }
  std::byte erased_value() const override { return device_->geometry().erased_value; }
  std::span<const Sector> sectors() const override { return window_.sectors; }

  FlashResult<void> read(std::uint64_t offset, std::span<std::byte> out) override {
    return device_->read(window_, offset, out);
  }
  FlashResult<void> write(std::uint64_t offset, ByteView data) override {
    return device_->write(window_, offset, data);
  }
  FlashResult<void> erase(std::uint64_t offset, std::uint64_t length) override {
    return device_->erase(window_, offset, length);
  }

 private:
  std::shared_ptr<Device> device_;
  Window window_;
};

Status read_whole(int fd, const std::filesystem::path& path, Bytes& contents) {
  std::size_t done = 0;
  while (done < contents.size()) {
    ssize_t n =
        ::pread(fd, contents.data() + done, contents.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("cannot read " + path.string() + ": " + errno_text());
    if (n == 0) return fail("cannot read " + path.string() + ": it shrank while being read");
    done += static_cast<std::size_t>(n);
  }
  return {};
}

}  // namespace

std::uint64_t FlashGeometry::size() const {
  std::uint64_t total = 0;
  for (const Sector& s : sectors) total += s.size;
  return total;
}

Status FlashGeometry::validate() const {
  if (!is_supported_align(write_align)) {
    return fail("write alignment " + std::to_string(write_align) +
                " is not supported; use 1, 2, 4, 8, 16 or 32 bytes");
  }
  if (erased_value != std::byte{0xff} && erased_value != std::byte{0x00}) {
    return fail("erased value " + to_hex(ByteView(&erased_value, 1)) +
                " is not supported; NOR flash erases to 0xff (or to 0x00 on some parts)");
  }
  if (sectors.empty()) return fail("the sector map is empty");
  std::uint64_t end = 0;
  for (std::size_t i = 0; i < sectors.size(); ++i) {
    const Sector& s = sectors[i];
    if (s.offset != end) {
      return fail("sector " + std::to_string(i) + " starts at " + hex(s.offset) +
                  " but should start at " + hex(end) +
                  ": sectors must tile the device from 0, in order, without gaps or overlaps");
    }
    if (s.size == 0 || s.size % write_align != 0) {
      return fail("sector " + std::to_string(i) + " at " + hex(s.offset) + " is " +
                  std::to_string(s.size) + " bytes, not a positive multiple of the write " +
                  "alignment (" + std::to_string(write_align) + " bytes)");
    }
    if (s.size > std::numeric_limits<std::uint64_t>::max() - end) {
      return fail("sector " + std::to_string(i) + " ends past the largest 64-bit offset");
    }
    end += s.size;
  }
  return {};
}

FlashGeometry& FlashGeometry::add_sectors(std::uint32_t count, std::uint64_t size) {
  std::uint64_t end = sectors.empty() ? 0 : sectors.back().offset + sectors.back().size;
  for (std::uint32_t i = 0; i < count; ++i, end += size) sectors.push_back(Sector{end, size});
  return *this;
}

struct NorFlash::State {
  std::shared_ptr<Device> device;
};

NorFlash::NorFlash(std::unique_ptr<State> state) : state_(std::move(state)) {}
NorFlash::~NorFlash() = default;

Result<std::shared_ptr<NorFlash>> NorFlash::in_memory(const FlashGeometry& geometry,
                                                      ByteView contents) {
  if (auto valid = geometry.validate(); !valid) return prefixed(valid.error(), "flash geometry");
  if (!contents.empty() && contents.size() != geometry.size()) {
    return fail("initial flash contents are " + std::to_string(contents.size()) +
                " bytes, but the geometry describes " + std::to_string(geometry.size()));
  }
  Bytes initial = contents.empty() ? Bytes(geometry.size(), geometry.erased_value)
                                   : Bytes(contents.begin(), contents.end());
  auto device =
      std::make_shared<Device>(geometry, std::move(initial), UniqueFd(), "in-memory flash");
  return std::shared_ptr<NorFlash>(new NorFlash(std::make_unique<State>(State{device})));
}

Result<std::shared_ptr<NorFlash>> NorFlash::create_file(const std::filesystem::path& path,
                                                        const FlashGeometry& geometry) {
  if (auto valid = geometry.validate(); !valid) return prefixed(valid.error(), "flash geometry");
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (fd.get() < 0) {
    if (errno == EEXIST) {
      return fail("cannot create flash " + path.string() +
                  ": it already exists (open it, or remove it to start from erased flash)");
    }
    return fail("cannot create flash " + path.string() + ": " + errno_text());
  }
  Bytes erased(geometry.size(), geometry.erased_value);
  if (auto written = write_all_at(fd.get(), 0, erased); !written) {
    ::unlink(path.c_str());
    return fail("cannot write flash " + path.string() + ": " + written.error().message);
  }
  auto device = std::make_shared<Device>(geometry, std::move(erased), std::move(fd), path.string());
  return std::shared_ptr<NorFlash>(new NorFlash(std::make_unique<State>(State{device})));
}

Result<std::shared_ptr<NorFlash>> NorFlash::open_file(const std::filesystem::path& path,
                                                      const FlashGeometry& geometry) {
  if (auto valid = geometry.validate(); !valid) return prefixed(valid.error(), "flash geometry");
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (fd.get() < 0) return fail("cannot open flash " + path.string() + ": " + errno_text());
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0)
    return fail("cannot stat " + path.string() + ": " + errno_text());
  if (!S_ISREG(st.st_mode)) return fail("flash " + path.string() + " is not a regular file");
  if (static_cast<std::uint64_t>(st.st_size) != geometry.size()) {
    return fail("flash " + path.string() + " is " + std::to_string(st.st_size) +
                " bytes, but the geometry describes " + std::to_string(geometry.size()) +
                " bytes in " + std::to_string(geometry.sectors.size()) +
                " sectors; is it the flash of a different device?");
  }
  Bytes contents(geometry.size());
  if (auto read = read_whole(fd.get(), path, contents); !read) return tl::unexpected(read.error());
  auto device =
      std::make_shared<Device>(geometry, std::move(contents), std::move(fd), path.string());
  return std::shared_ptr<NorFlash>(new NorFlash(std::make_unique<State>(State{device})));
}

const FlashGeometry& NorFlash::geometry() const {
  return state_->device->geometry();
}

void NorFlash::arm(const PowerCut& cut) {
  state_->device->arm(cut);
}

std::uint64_t NorFlash::operations() const {
  return state_->device->operations();
}

std::uint64_t NorFlash::erase_count() const {
  return state_->device->erases();
}

std::uint64_t NorFlash::write_count() const {
  return state_->device->writes();
}

std::uint64_t NorFlash::bytes_written() const {
  return state_->device->bytes_written();
}

bool NorFlash::power_lost() const {
  return state_->device->power_lost();
}

void NorFlash::restore_power() {
  state_->device->restore_power();
}

Result<std::unique_ptr<FlashArea>> NorFlash::area(std::uint64_t offset, std::uint64_t size) {
  const Window& whole = state_->device->whole();
  std::string what = whole.name + ": area of " + hex(size) + " bytes at " + hex(offset);
  if (size == 0) return fail(what + " is empty");
  if (offset > whole.size || size > whole.size - offset) {
    return fail(what + " goes past the end of the flash, at " + hex(whole.size));
  }
  const std::uint64_t end = offset + size;
  const std::size_t first = sector_index(whole.sectors, offset);
  if (whole.sectors[first].offset != offset) {
    return fail(what + ": its start is inside sector " + whole.sector_text(whole.sectors[first]) +
                "; an area must start and end on sector boundaries");
  }
  std::size_t past = whole.sectors.size();
  if (end != whole.size) {
    past = sector_index(whole.sectors, end);
    if (whole.sectors[past].offset != end) {
      return fail(what + ": its end " + hex(end) + " is inside sector " +
                  whole.sector_text(whole.sectors[past]) +
                  "; an area must start and end on sector boundaries");
    }
  }
  Window window;
  window.is_area = true;
  window.base = offset;
  window.size = size;
  for (std::size_t i = first; i < past; ++i) {
    window.sectors.push_back(Sector{whole.sectors[i].offset - offset, whole.sectors[i].size});
  }
  window.name = whole.name + " area [" + hex(offset) + ", " + hex(end) + ")";
  return std::unique_ptr<FlashArea>(std::make_unique<Partition>(state_->device, std::move(window)));
}

FlashResult<void> NorFlash::read(std::uint64_t offset, std::span<std::byte> out) {
  return state_->device->read(state_->device->whole(), offset, out);
}

FlashResult<void> NorFlash::write(std::uint64_t offset, ByteView data) {
  return state_->device->write(state_->device->whole(), offset, data);
}

FlashResult<void> NorFlash::erase(std::uint64_t offset, std::uint64_t length) {
  return state_->device->erase(state_->device->whole(), offset, length);
}

Bytes NorFlash::snapshot() const {
  return state_->device->contents();
}

}  // namespace ironroot::flash
