// Runs the real `ironroot` binary built by this tree.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ironroot/core/file.hpp"
#include "support/process.hpp"

namespace ironroot::testing {

inline ProcessResult ironroot_cli(std::vector<std::string> args,
                                  const std::vector<std::string>& env = {}) {
  args.insert(args.begin(), IRONROOT_CLI);
  return run_process(args, env);
}

inline nlohmann::json json_of(const ProcessResult& r) {
  return nlohmann::json::parse(r.out);
}

inline Bytes file_bytes(const std::filesystem::path& path) {
  return *read_file(path, 1 << 30);
}

inline void write_bytes(const std::filesystem::path& path, ByteView data) {
  (void)write_file_atomic(path, data);
}

// Counts the lines of `text` (a final line without a newline counts too).
inline int line_count(const std::string& text) {
  int lines = 0;
  for (char c : text) lines += c == '\n';
  return lines + (!text.empty() && text.back() != '\n');
}

}  // namespace ironroot::testing
