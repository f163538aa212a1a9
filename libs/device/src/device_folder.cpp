#include "ironroot/device/device_folder.hpp"

#include <fcntl.h>
#include <sys/file.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "ironroot/core/file.hpp"
#include "ironroot/core/unique_fd.hpp"

namespace ironroot::device {

namespace fs = std::filesystem;

namespace {

// device.json is a few hundred bytes; the boot records a few KiB.
constexpr std::uintmax_t kMaxConfigSize = 64 * 1024;
constexpr std::uintmax_t kMaxLastBootSize = 1024 * 1024;

Result<nlohmann::json> read_json(const fs::path& path, std::uintmax_t max_size) {
  auto text = read_file(path, max_size);
  if (!text) return tl::unexpected(text.error());
  try {
    return nlohmann::json::parse(as_chars(*text));
  } catch (const nlohmann::json::parse_error& e) {
    return fail(path.string() + " is damaged: not valid JSON (" + e.what() + ")");
  }
}

Status write_json(const fs::path& path, const nlohmann::json& document) {
  return write_file_atomic(path, as_bytes(document.dump(2) + "\n"));
}

}  // namespace

struct DeviceFolder::Lock {
  UniqueFd fd;
};

DeviceFolder::DeviceFolder(fs::path dir, DeviceConfig config, Board board,
                           std::unique_ptr<Lock> lock, bool made_dir)
    : dir_(std::move(dir)),
      config_(std::move(config)),
      board_(std::move(board)),
      lock_(std::move(lock)),
      made_dir_(made_dir) {}

DeviceFolder::DeviceFolder(DeviceFolder&&) noexcept = default;
DeviceFolder& DeviceFolder::operator=(DeviceFolder&&) noexcept = default;
DeviceFolder::~DeviceFolder() = default;

Result<std::unique_ptr<DeviceFolder::Lock>> DeviceFolder::take_lock(const fs::path& dir) {
  const fs::path config = dir / kConfigFile;
  auto lock = std::make_unique<Lock>();
  lock->fd = UniqueFd(::open(config.c_str(), O_RDONLY | O_CLOEXEC));
  if (!lock->fd.valid())
    return fail("cannot open " + config.string() + ": " + std::strerror(errno));
  while (::flock(lock->fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    if (errno == EWOULDBLOCK) {
      return fail("device " + dir.string() +
                  " is in use by another process (an ironroot-device command or its firmware); "
                  "try again when it has finished");
    }
    return fail("cannot lock " + config.string() + ": " + std::strerror(errno));
  }
  return lock;
}

Result<DeviceFolder> DeviceFolder::create(const fs::path& dir_arg, const DeviceConfig& config) {
  auto layout = config.boot_layout();
  if (!layout) return tl::unexpected(layout.error());
  std::error_code ec;
  const fs::path dir = fs::absolute(dir_arg, ec);
  if (ec) return fail("cannot use " + dir_arg.string() + ": " + ec.message());

  bool made_dir = false;
  const auto st = fs::status(dir, ec);
  if (fs::exists(st)) {
    if (!fs::is_directory(st)) return fail(dir.string() + " exists and is not a folder");
    if (fs::exists(dir / kConfigFile)) {
      return fail(dir.string() + " already holds a device; remove the folder to make a new one");
    }
    if (!fs::is_empty(dir, ec) || ec) {
      return fail(dir.string() +
                  " is not empty; a new device needs a folder that does not exist or is empty");
    }
  } else {
    fs::create_directories(dir, ec);
    if (ec) return fail("cannot create the folder " + dir.string() + ": " + ec.message());
    made_dir = true;
  }

  // Until device.json exists the folder is not a device; on failure, leave nothing behind.
  std::vector<fs::path> created;
  auto undo = [&](const Error& error) {
    for (const fs::path& file : created) fs::remove(file, ec);
    if (made_dir) fs::remove(dir, ec);
    return tl::unexpected(error);
  };
  auto flash = flash::NorFlash::create_file(dir / kFlashFile, layout->geometry);
  if (!flash) return undo(flash.error());
  created.push_back(dir / kFlashFile);
  auto otp = boot::Otp::create(dir / kOtpFile);
  if (!otp) return undo(otp.error());
  created.push_back(dir / kOtpFile);
  if (auto written = write_json(dir / kConfigFile, to_json(config)); !written) {
    return undo(written.error());
  }
  created.push_back(dir / kConfigFile);
  auto lock = take_lock(dir);
  if (!lock) return undo(lock.error());
  auto board = Board::assemble(std::move(*layout), std::move(*flash), std::move(*otp));
  if (!board) return undo(board.error());
  return DeviceFolder(dir, config, std::move(*board), std::move(*lock), made_dir);
}

Result<DeviceFolder> DeviceFolder::open(const fs::path& dir_arg) {
  std::error_code ec;
  const fs::path dir = fs::absolute(dir_arg, ec);
  if (ec) return fail("cannot use " + dir_arg.string() + ": " + ec.message());
  const auto st = fs::status(dir, ec);
  if (!fs::exists(st)) {
    return fail("no device at " + dir.string() +
                ": the folder does not exist (make a device with `ironroot-device init`)");
  }
  if (!fs::is_directory(st)) return fail(dir.string() + " is not a device folder: not a folder");
  if (!fs::exists(dir / kConfigFile)) {
    return fail(dir.string() + " is not a device folder: it has no " + kConfigFile +
                " (make a device with `ironroot-device init`)");
  }
  auto lock = take_lock(dir);
  if (!lock) return tl::unexpected(lock.error());
  auto document = read_json(dir / kConfigFile, kMaxConfigSize);
  if (!document) return tl::unexpected(document.error());
  auto config = device_config_from_json(*document);
  if (!config) return prefixed(config.error(), (dir / kConfigFile).string() + " is damaged");
  auto layout = config->boot_layout();
  if (!layout) return prefixed(layout.error(), (dir / kConfigFile).string() + " is damaged");
  const std::string damaged = "device " + dir.string() + " is damaged";
  auto flash = flash::NorFlash::open_file(dir / kFlashFile, layout->geometry);
  if (!flash) return prefixed(flash.error(), damaged);
  auto otp = boot::Otp::open(dir / kOtpFile);
  if (!otp) return prefixed(otp.error(), damaged);
  auto board = Board::assemble(std::move(*layout), std::move(*flash), std::move(*otp));
  if (!board) return prefixed(board.error(), damaged);
  return DeviceFolder(dir, std::move(*config), std::move(*board), std::move(*lock), false);
}

Status DeviceFolder::write_boot_record(const fs::path& dir, const nlohmann::json& record) {
  return write_json(dir / kBootRecordFile, record);
}

Status DeviceFolder::write_last_boot(const fs::path& dir, const nlohmann::json& last_boot) {
  return write_json(dir / kLastBootFile, last_boot);
}

Result<std::optional<nlohmann::json>> DeviceFolder::read_last_boot(const fs::path& dir) {
  std::error_code ec;
  const fs::path path = dir / kLastBootFile;
  if (!fs::exists(path, ec)) return std::optional<nlohmann::json>();
  auto document = read_json(path, kMaxLastBootSize);
  if (!document) return tl::unexpected(document.error());
  return std::optional<nlohmann::json>(std::move(*document));
}

void DeviceFolder::discard(DeviceFolder&& folder) {
  DeviceFolder gone = std::move(folder);
  std::error_code ec;
  for (const char* file : {kConfigFile, kFlashFile, kOtpFile, kBootRecordFile, kLastBootFile}) {
    fs::remove(gone.dir_ / file, ec);
  }
  if (gone.made_dir_) fs::remove(gone.dir_, ec);
}

}  // namespace ironroot::device
