// trusted-cas/: the CAs registered with the fleet service, in the layout OpenSSL's hashed
// certificate directory lookup (CApath, `openssl rehash`) reads at each handshake.
#include <cstdio>
#include <map>
#include <set>

#include "ironroot/core/file.hpp"
#include "ironroot/mosquitto/broker_folder.hpp"

namespace ironroot::mosquitto {

namespace {

namespace fs = std::filesystem;

constexpr std::uintmax_t kMaxCertificateFileSize = 256 * 1024;

// "<8 lower-case hex digits>.<n>": OpenSSL tries .0, .1, ... for certificates whose subject
// names share a hash.
std::string hashed_name(std::uint32_t hash, std::size_t index) {
  char stem[9];
  std::snprintf(stem, sizeof stem, "%08x", hash);
  return std::string(stem) + "." + std::to_string(index);
}

}  // namespace

Status write_trusted_cas(const fs::path& dir, std::span<const crypto::Certificate> cas) {
  const fs::path folder = dir / kTrustedCasDir;
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) {
    return fail(folder.string() +
                " does not exist: the broker folder was written without the broker plugin, or by "
                "an older ironroot (remove the broker folder to have it written again)");
  }
  // What the folder must hold: file name -> PEM.
  std::map<std::string, std::string> wanted;
  std::map<std::uint32_t, std::size_t> per_hash;
  std::set<std::string> seen;
  for (const crypto::Certificate& ca : cas) {
    std::string pem = ca.pem();
    if (!seen.insert(pem).second) continue;  // the same CA twice
    const std::uint32_t hash = ca.subject_name_hash();
    wanted.emplace(hashed_name(hash, per_hash[hash]++), std::move(pem));
  }
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    const std::string name = entry.path().filename().string();
    auto found = wanted.find(name);
    if (found != wanted.end()) {
      auto current = read_file(entry.path(), kMaxCertificateFileSize);
      if (current && std::string_view(reinterpret_cast<const char*>(current->data()),
                                      current->size()) == found->second) {
        wanted.erase(found);  // already right
        continue;
      }
      continue;  // rewritten below
    }
    if (!fs::remove(entry.path(), ec) && ec) {
      return fail("cannot remove " + entry.path().string() + ": " + ec.message());
    }
  }
  if (ec) return fail("cannot list " + folder.string() + ": " + ec.message());
  for (const auto& [name, pem] : wanted) {
    if (auto ok = write_file_atomic(folder / name, as_bytes(pem), 0644); !ok) {
      return prefixed(ok.error(), "trusting a registered CA");
    }
  }
  return {};
}

}  // namespace ironroot::mosquitto
