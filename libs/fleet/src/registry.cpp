// Opening the registry, and the helpers its parts share.
#include "ironroot/fleet/registry.hpp"

#include "registry_internal.hpp"

namespace ironroot::fleet {

std::string_view registry_error_code_name(RegistryErrorCode code) {
  switch (code) {
    case RegistryErrorCode::invalid:
      return "invalid";
    case RegistryErrorCode::not_found:
      return "not_found";
    case RegistryErrorCode::already_exists:
      return "already_exists";
    case RegistryErrorCode::conflict:
      return "conflict";
    case RegistryErrorCode::internal:
      return "internal";
  }
  return "internal";
}

Time system_time_now() {
  return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
}

RegistryResult<Registry> Registry::open(const std::filesystem::path& path, Clock clock,
                                        const DatabaseOptions& options) {
  auto db = Database::open(path, registry_migrations(), options);
  if (!db) return internal(db.error());
  if (!clock) clock = system_time_now;
  return Registry(std::move(*db), std::move(clock));
}

RegistryResult<std::size_t> page_limit(const Page& page) {
  if (page.limit == 0 || page.limit > kMaxPageLimit) {
    return invalid("page limit must be 1 to " + std::to_string(kMaxPageLimit) + ", not " +
                   std::to_string(page.limit));
  }
  if (page.next_token.size() > 256) return invalid("next token is not one this registry gave");
  return page.limit;
}

RegistryResult<bool> exists(Database& db, std::string_view sql, std::string_view key) {
  auto stmt = db.prepare(sql);
  if (!stmt) return internal(stmt.error());
  auto row = stmt->bind(1, key).step();
  if (!row) return internal(row.error());
  return *row;
}

RegistryResult<bool> exists(Database& db, std::string_view sql, std::string_view key1,
                            std::string_view key2) {
  auto stmt = db.prepare(sql);
  if (!stmt) return internal(stmt.error());
  auto row = stmt->bind(1, key1).bind(2, key2).step();
  if (!row) return internal(row.error());
  return *row;
}

RegistryResult<std::vector<std::string>> strings(Database& db, std::string_view sql,
                                                 std::string_view key) {
  auto stmt = db.prepare(sql);
  if (!stmt) return internal(stmt.error());
  stmt->bind(1, key);
  std::vector<std::string> values;
  for (;;) {
    auto row = stmt->step();
    if (!row) return internal(row.error());
    if (!*row) return values;
    values.push_back(stmt->text(0));
  }
}

}  // namespace ironroot::fleet
