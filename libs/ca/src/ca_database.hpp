// ca.json, the database of a CA folder, and the lock that guards its read-modify-write cycles.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "ironroot/ca/ca_folder.hpp"
#include "ironroot/core/result.hpp"
#include "ironroot/core/unique_fd.hpp"

namespace ironroot::ca {

struct CaKeyPair {
  std::string certificate;  // a file in the CA folder
  std::string key;          // a file in the CA folder, or a pkcs11: URI (never with its PIN)
};

struct CaDatabase {
  std::string name;
  CaKeyPair root;
  CaKeyPair device_ca;
  std::uint64_t crl_number = 0;  // of the last CRL issued
  std::vector<IssuedCertificate> certificates;

  IssuedCertificate* find(const std::string& serial);
};

// ca.json's text: the database as indented JSON.
std::string database_text(const CaDatabase& db);

// Reads `dir`/ca.json whole (bounded), checking every field, so that a damaged file is reported
// rather than half used. REQUIRES: the caller holds the folder's lock when it will write back.
Result<CaDatabase> read_database(const std::filesystem::path& dir);

// Replaces `dir`/ca.json atomically.
Status write_database(const std::filesystem::path& dir, const CaDatabase& db);

// An exclusive lock (flock) on a CA folder for one read-modify-write of ca.json: two issuers at
// once must not lose a record. Released when destroyed (the process ending releases it too).
class FolderLock {
 public:
  static Result<FolderLock> acquire(const std::filesystem::path& dir);

 private:
  explicit FolderLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

}  // namespace ironroot::ca
