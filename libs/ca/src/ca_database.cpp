#include "ca_database.hpp"

#include <fcntl.h>
#include <sys/file.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <utility>

#include "ironroot/core/file.hpp"

namespace ironroot::ca {

namespace {

namespace fs = std::filesystem;

constexpr std::uintmax_t kMaxDatabaseSize = 256ull * 1024 * 1024;
constexpr int kDatabaseFormat = 1;
constexpr const char* kLockFile = ".lock";

nlohmann::json key_pair_json(const CaKeyPair& pair) {
  return {{"certificate", pair.certificate}, {"key", pair.key}};
}

Result<CaDatabase> parse_database(const nlohmann::json& j) {
  try {
    if (j.at("format").get<int>() != kDatabaseFormat) {
      return fail("format " + j.at("format").dump() + " is not supported (this ironroot reads " +
                  std::to_string(kDatabaseFormat) + ")");
    }
    CaDatabase db;
    db.name = j.at("name").get<std::string>();
    for (auto [field, pair] : {std::pair{"root_ca", &db.root}, {"device_ca", &db.device_ca}}) {
      pair->certificate = j.at(field).at("certificate").get<std::string>();
      pair->key = j.at(field).at("key").get<std::string>();
    }
    db.crl_number = j.at("crl_number").get<std::uint64_t>();
    for (const nlohmann::json& e : j.at("certificates")) {
      IssuedCertificate r;
      r.serial = e.at("serial").get<std::string>();
      if (crypto::normalize_serial_hex(r.serial) != r.serial) {
        return fail("certificate serial '" + r.serial + "' is not lower-case hex");
      }
      r.subject = e.at("subject").get<std::string>();
      r.not_before = e.at("not_before").get<std::string>();
      r.not_after = e.at("not_after").get<std::string>();
      r.sha256 = e.at("sha256").get<std::string>();
      r.issued_at = e.at("issued_at").get<std::string>();
      if (e.contains("revoked")) {
        const nlohmann::json& rev = e.at("revoked");
        auto at = crypto::parse_time(rev.at("at").get<std::string>());
        if (!at) return prefixed(at.error(), "certificate " + r.serial + ": revoked.at");
        auto reason = crypto::parse_revocation_reason(rev.at("reason").get<std::string>());
        if (!reason) {
          return fail("certificate " + r.serial + ": unknown revocation reason " +
                      rev.at("reason").dump());
        }
        r.revocation = crypto::RevokedCertificate{r.serial, *at, *reason};
      }
      db.certificates.push_back(std::move(r));
    }
    return db;
  } catch (const nlohmann::json::exception& e) {
    return fail(e.what());
  }
}

}  // namespace

IssuedCertificate* CaDatabase::find(const std::string& serial) {
  for (IssuedCertificate& r : certificates) {
    if (r.serial == serial) return &r;
  }
  return nullptr;
}

std::string database_text(const CaDatabase& db) {
  nlohmann::json certificates = nlohmann::json::array();
  for (const IssuedCertificate& r : db.certificates) {
    nlohmann::json entry = {{"serial", r.serial},         {"subject", r.subject},
                            {"not_before", r.not_before}, {"not_after", r.not_after},
                            {"sha256", r.sha256},         {"issued_at", r.issued_at}};
    if (r.revocation) {
      entry["revoked"] = {
          {"at", crypto::format_time(r.revocation->revoked_at)},
          {"reason", std::string(crypto::revocation_reason_name(r.revocation->reason))}};
    }
    certificates.push_back(std::move(entry));
  }
  nlohmann::json j = {
      {"format", kDatabaseFormat},         {"name", db.name},
      {"root_ca", key_pair_json(db.root)}, {"device_ca", key_pair_json(db.device_ca)},
      {"crl_number", db.crl_number},       {"certificates", std::move(certificates)}};
  return j.dump(2) + "\n";
}

Result<CaDatabase> read_database(const fs::path& dir) {
  fs::path path = dir / kDatabaseFile;
  auto data = read_file(path, kMaxDatabaseSize);
  if (!data) return tl::unexpected(data.error());
  nlohmann::json j = nlohmann::json::parse(as_chars(*data), nullptr, false);
  if (j.is_discarded()) return fail(path.string() + " is not valid JSON");
  auto db = parse_database(j);
  if (!db) return prefixed(db.error(), path.string() + " is damaged");
  return db;
}

Status write_database(const fs::path& dir, const CaDatabase& db) {
  return write_file_atomic(dir / kDatabaseFile, as_bytes(database_text(db)));
}

Result<FolderLock> FolderLock::acquire(const fs::path& dir) {
  fs::path path = dir / kLockFile;
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd.valid()) return fail("cannot open " + path.string() + ": " + std::strerror(errno));
  while (::flock(fd.get(), LOCK_EX) != 0) {
    if (errno != EINTR) return fail("cannot lock " + path.string() + ": " + std::strerror(errno));
  }
  return FolderLock(std::move(fd));
}

}  // namespace ironroot::ca
