// What the ironroot-device verbs share: the --dir and --power-cut-after options, reading input
// files with a bound, and short forms of hashes for text output.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <filesystem>
#include <string>

#include "ironroot/core/bytes.hpp"
#include "ironroot/core/result.hpp"
#include "ironroot/crypto/digest.hpp"

namespace ironroot::cli {

// --dir D, required: the device folder.
CLI::Option* add_dir_option(CLI::App& cmd, std::string& dir);

// --power-cut-after N (N >= 1): 0 when not given.
CLI::Option* add_power_cut_option(CLI::App& cmd, std::uint64_t& operations,
                                  const std::string& what);

// Reads an input file of at most `max_size` bytes; the error names the option it came from.
Result<Bytes> read_input(const std::string& option, const std::filesystem::path& path,
                         std::uintmax_t max_size);

// The first 8 bytes of a digest in hex, with an ellipsis: enough to tell keys apart in text.
std::string short_hash(const crypto::Sha256Digest& digest);

// The current time, UTC, ISO 8601 ("2024-05-01T12:00:00Z").
std::string utc_now();

}  // namespace ironroot::cli
