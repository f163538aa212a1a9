#include "device_cli.hpp"

#include <chrono>
#include <ctime>
#include <limits>

#include "ironroot/core/file.hpp"

namespace ironroot::cli {

CLI::Option* add_dir_option(CLI::App& cmd, std::string& dir) {
  return cmd.add_option("--dir", dir, "The device folder")->required();
}

CLI::Option* add_power_cut_option(CLI::App& cmd, std::uint64_t& operations,
                                  const std::string& what) {
  return cmd
      .add_option("--power-cut-after", operations,
                  "Cut the power before the Nth flash write or erase of " + what +
                      " (N >= 1; the flash keeps what was done before it)")
      ->check(CLI::Range(std::uint64_t{1}, std::numeric_limits<std::uint64_t>::max()));
}

Result<Bytes> read_input(const std::string& option, const std::filesystem::path& path,
                         std::uintmax_t max_size) {
  auto data = read_file(path, max_size);
  if (!data) return prefixed(data.error(), option);
  return data;
}

std::string short_hash(const crypto::Sha256Digest& digest) {
  return to_hex(ByteView(digest).first(8)) + "...";
}

std::string utc_now() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  ::gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

}  // namespace ironroot::cli
