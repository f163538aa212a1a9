// The audit log: one row per change, written inside the change's transaction.
#include <charconv>

#include "registry_internal.hpp"

namespace ironroot::fleet {

RegistryResult<void> record(Database& db, Time at, std::string_view actor, const Change& change) {
  auto stmt = db.prepare(
      "INSERT INTO audit_log (at, actor, action, target_type, target_id, details) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  if (!stmt) return internal(stmt.error());
  stmt->bind(1, to_db(at))
      .bind(2, actor)
      .bind(3, change.action)
      .bind(4, change.target_type)
      .bind(5, change.target_id)
      .bind(6, change.details.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  if (auto ok = stmt->run(); !ok) return internal(ok.error());
  return {};
}

RegistryResult<void> Registry::record(std::string_view actor, const Change& change) {
  return fleet::record(db_, clock_(), actor, change);
}

RegistryResult<Listing<AuditEntry>> Registry::list_audit(const AuditFilter& filter,
                                                         const Page& page) {
  auto limit = page_limit(page);
  if (!limit) return tl::unexpected(limit.error());
  std::int64_t after = 0;
  if (!page.next_token.empty()) {
    const std::string& token = page.next_token;
    auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), after);
    if (ec != std::errc() || end != token.data() + token.size() || after < 0) {
      return invalid("next token '" + token + "' is not one this audit log gave");
    }
  }
  auto stmt = db_.prepare(
      "SELECT id, at, actor, action, target_type, target_id, details FROM audit_log "
      "WHERE id > ?1 AND (?2 IS NULL OR target_type = ?2) AND (?3 IS NULL OR target_id = ?3) "
      "AND (?4 IS NULL OR at >= ?4) ORDER BY id LIMIT ?5");
  if (!stmt) return internal(stmt.error());
  stmt->bind(1, after).bind(2, filter.target_type).bind(3, filter.target_id);
  if (filter.since) {
    stmt->bind(4, to_db(*filter.since));
  } else {
    stmt->bind_null(4);
  }
  stmt->bind(5, static_cast<std::int64_t>(*limit + 1));
  auto read = [](Statement& row) -> RegistryResult<AuditEntry> {
    return AuditEntry{
        row.integer(0), from_db(row.integer(1)), row.text(2), row.text(3), row.text(4), row.text(5),
        row.text(6)};
  };
  auto key = [](const AuditEntry& entry) { return std::to_string(entry.id); };
  return collect<AuditEntry>(*stmt, *limit, read, key);
}

}  // namespace ironroot::fleet
