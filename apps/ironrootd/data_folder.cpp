#include "data_folder.hpp"

#include <fcntl.h>
#include <sys/file.h>

#include <cerrno>
#include <cstring>

#include "ironroot/core/file.hpp"
#include "ironroot/crypto/random.hpp"

namespace ironroot::service {

namespace fs = std::filesystem;

namespace {
constexpr std::size_t kTokenBytes = 32;
constexpr std::uintmax_t kMaxTokenFileSize = 4096;
}  // namespace

Result<DataFolder> DataFolder::open(const fs::path& dir) {
  std::error_code ec;
  const fs::path absolute = fs::absolute(dir, ec).lexically_normal();
  if (ec) return fail("data folder " + dir.string() + ": " + ec.message());
  fs::create_directories(absolute, ec);
  if (ec) return fail("cannot create the data folder " + absolute.string() + ": " + ec.message());
  fs::permissions(absolute,
                  fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                      fs::perms::others_read | fs::perms::others_exec,
                  ec);
  const fs::path lock_path = absolute / kLockFile;
  UniqueFd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!lock.valid()) {
    return fail("cannot open " + lock_path.string() + ": " + std::strerror(errno));
  }
  if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    return fail("another ironrootd is running on " + absolute.string() +
                " (it holds ironrootd.lock); stop it first, or give another --data-dir");
  }
  return DataFolder(absolute, std::move(lock));
}

Result<std::string> DataFolder::operator_token() const {
  const fs::path file = dir_ / kOperatorTokenFile;
  std::error_code ec;
  if (fs::exists(file, ec)) {
    auto text = read_file(file, kMaxTokenFileSize);
    if (!text) return prefixed(text.error(), "reading the operator token");
    std::string token(as_chars(*text));
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
    if (token.empty()) return fail(file.string() + " is empty: remove it to have a new token made");
    return token;
  }
  auto random = crypto::random_bytes(kTokenBytes);
  if (!random) return tl::unexpected(random.error());
  const std::string token = to_hex(*random);
  if (auto ok = write_file_atomic(file, as_bytes(token + "\n"), 0600); !ok) {
    return prefixed(ok.error(), "writing " + file.string());
  }
  return token;
}

}  // namespace ironroot::service
