// Whole-file reads with a size bound, and crash-safe whole-file writes.
#pragma once

#include <cstdint>
#include <filesystem>

#include "ironroot/core/bytes.hpp"
#include "ironroot/core/result.hpp"

namespace ironroot {

// Reads a regular file whole. Fails, without reading it, if the file is larger than `max_size`
// bytes, so an untrusted path cannot make ironroot allocate without bound.
Result<Bytes> read_file(const std::filesystem::path& path, std::uintmax_t max_size);

// Writes all of `data` at `offset` of an open file (pwrite, retried on short writes and EINTR).
// The error message is the system's reason.
Status write_all_at(int fd, std::uint64_t offset, ByteView data);

// Replaces `path` with `data` atomically: writes a temporary file in the same folder, syncs it,
// renames it over `path` and syncs the folder. After a crash `path` holds either the old content
// or the new, never a part. The file is created with `mode` (before the umask).
Status write_file_atomic(const std::filesystem::path& path, ByteView data, unsigned mode = 0644);

}  // namespace ironroot
