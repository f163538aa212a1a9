#include "ironroot/core/file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "ironroot/core/unique_fd.hpp"

namespace ironroot {
namespace {

std::string errno_text() {
  return std::strerror(errno);
}

}  // namespace

Result<Bytes> read_file(const std::filesystem::path& path, std::uintmax_t max_size) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return fail("cannot open " + path.string() + ": " + errno_text());
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0)
    return fail("cannot stat " + path.string() + ": " + errno_text());
  if (!S_ISREG(st.st_mode)) return fail(path.string() + " is not a regular file");
  auto size = static_cast<std::uintmax_t>(st.st_size);
  if (size > max_size) {
    return fail(path.string() + " is " + std::to_string(size) + " bytes, more than the " +
                std::to_string(max_size) + " bytes allowed");
  }
  Bytes data(static_cast<std::size_t>(size));
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::read(fd.get(), data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("cannot read " + path.string() + ": " + errno_text());
    if (n == 0) break;  // the file shrank while we read it
    done += static_cast<std::size_t>(n);
  }
  data.resize(done);
  return data;
}

Status write_all_at(int fd, std::uint64_t offset, ByteView data) {
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n =
        ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(errno_text());
    if (n == 0) return fail("no bytes written");
    done += static_cast<std::size_t>(n);
  }
  return {};
}

Status write_file_atomic(const std::filesystem::path& path, ByteView data, unsigned mode) {
  std::filesystem::path dir = path.parent_path().empty() ? "." : path.parent_path();
  std::string tmpl = (dir / ("." + path.filename().string() + ".tmp-XXXXXX")).string();
  UniqueFd fd(::mkstemp(tmpl.data()));
  if (fd.get() < 0)
    return fail("cannot create a temporary file in " + dir.string() + ": " + errno_text());
  auto discard = [&](const std::string& why) {
    ::unlink(tmpl.c_str());
    return fail("cannot write " + path.string() + ": " + why);
  };
  mode_t mask = ::umask(0);
  ::umask(mask);
  if (::fchmod(fd.get(), static_cast<mode_t>(mode) & ~mask) != 0) return discard(errno_text());
  if (auto written = write_all_at(fd.get(), 0, data); !written)
    return discard(written.error().message);
  if (::fsync(fd.get()) != 0) return discard(errno_text());
  if (!fd.close()) return discard(errno_text());
  if (::rename(tmpl.c_str(), path.c_str()) != 0) return discard(errno_text());
  UniqueFd dirfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dirfd.get() >= 0) ::fsync(dirfd.get());
  return {};
}

}  // namespace ironroot
