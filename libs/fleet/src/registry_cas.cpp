// Registered device CAs: their status and just-in-time provisioning settings.
#include "registry_internal.hpp"

namespace ironroot::fleet {

namespace {

constexpr std::string_view kCaColumns =
    "id, pem, status, subject, not_before, not_after, provisioning_template, auto_registration, "
    "created_at";

RegistryResult<CaRecord> read_ca(Statement& row) {
  CaRecord record;
  record.id = row.text(0);
  record.pem = row.text(1);
  auto status = parse_ca_status(row.text(2));
  if (!status) return internal(Error{"CA " + record.id + ": unknown stored status " + row.text(2)});
  record.status = *status;
  record.subject = row.text(3);
  record.not_before = from_db(row.integer(4));
  record.not_after = from_db(row.integer(5));
  record.provisioning_template = row.optional_text(6);
  record.auto_registration = row.integer(7) != 0;
  record.created_at = from_db(row.integer(8));
  return record;
}

RegistryResult<CaRecord> require_ca(Database& db, std::string_view id) {
  auto stmt =
      db.prepare("SELECT " + std::string(kCaColumns) + " FROM ca_certificates WHERE id = ?1");
  if (!stmt) return internal(stmt.error());
  auto row = stmt->bind(1, id).step();
  if (!row) return internal(row.error());
  if (!*row) return not_found("no registered CA " + std::string(id));
  return read_ca(*stmt);
}

RegistryResult<void> require_template(Database& db, const std::optional<std::string>& name) {
  if (!name) return {};
  if (auto ok = check_template_name(*name); !ok) return invalid(ok.error());
  auto found = exists(db, "SELECT 1 FROM provisioning_templates WHERE name = ?1", *name);
  if (!found) return tl::unexpected(found.error());
  if (!*found) return not_found("no " + quoted("provisioning template", *name));
  return {};
}

}  // namespace

RegistryResult<CaRecord> Registry::register_ca(std::string_view actor, const NewCa& spec) {
  auto cert = parse_one_certificate("CA certificate", spec.pem);
  if (!cert) return tl::unexpected(cert.error());
  auto constraints = cert->extensions().basic_constraints;
  if (!constraints || !constraints->ca) {
    return invalid("certificate " + cert->subject() +
                   " is not a CA certificate: it needs basicConstraints CA:TRUE");
  }
  return mutate<CaRecord>(actor, [&](Change& change) -> RegistryResult<CaRecord> {
    CaRecord record;
    record.id = to_hex(cert->fingerprint());
    if (auto existing = require_ca(db_, record.id); existing) {
      return already_exists("CA " + record.id + " is already registered");
    } else if (existing.error().code != RegistryErrorCode::not_found) {
      return existing;
    }
    if (auto ok = require_template(db_, spec.provisioning_template); !ok) {
      return tl::unexpected(ok.error());
    }
    record.pem = cert->pem();
    record.status = spec.status;
    record.subject = cert->subject();
    record.not_before = cert->not_before();
    record.not_after = cert->not_after();
    record.provisioning_template = spec.provisioning_template;
    record.auto_registration = spec.auto_registration;
    record.created_at = clock_();
    auto stmt = db_.prepare("INSERT INTO ca_certificates (" + std::string(kCaColumns) +
                            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
    if (!stmt) return internal(stmt.error());
    stmt->bind(1, record.id)
        .bind(2, record.pem)
        .bind(3, ca_status_name(record.status))
        .bind(4, record.subject)
        .bind(5, to_db(record.not_before))
        .bind(6, to_db(record.not_after))
        .bind(7, record.provisioning_template)
        .bind(8, std::int64_t{record.auto_registration ? 1 : 0})
        .bind(9, to_db(record.created_at));
    if (auto ok = stmt->run(); !ok) return internal(ok.error());
    change = {"ca.register",
              "ca",
              record.id,
              {{"status", ca_status_name(record.status)},
               {"subject", record.subject},
               {"provisioningTemplate", record.provisioning_template.value_or("")},
               {"autoRegistration", record.auto_registration}}};
    return record;
  });
}

RegistryResult<CaRecord> Registry::describe_ca(std::string_view id) {
  auto normalized = normalize_certificate_id(id);
  if (!normalized) return invalid(normalized.error());
  return require_ca(db_, *normalized);
}

RegistryResult<Listing<CaRecord>> Registry::list_cas(const Page& page) {
  auto limit = page_limit(page);
  if (!limit) return tl::unexpected(limit.error());
  auto stmt = db_.prepare("SELECT " + std::string(kCaColumns) +
                          " FROM ca_certificates WHERE id > ?1 ORDER BY id LIMIT ?2");
  if (!stmt) return internal(stmt.error());
  stmt->bind(1, page.next_token).bind(2, static_cast<std::int64_t>(*limit + 1));
  return collect<CaRecord>(*stmt, *limit, read_ca, [](const CaRecord& ca) { return ca.id; });
}

RegistryResult<CaRecord> Registry::set_ca_status(std::string_view actor, std::string_view id,
                                                 CaStatus status) {
  auto normalized = normalize_certificate_id(id);
  if (!normalized) return invalid(normalized.error());
  return mutate<CaRecord>(actor, [&](Change& change) -> RegistryResult<CaRecord> {
    auto record = require_ca(db_, *normalized);
    if (!record) return record;
    auto stmt = db_.prepare("UPDATE ca_certificates SET status = ?2 WHERE id = ?1");
    if (!stmt) return internal(stmt.error());
    if (auto ok = stmt->bind(1, record->id).bind(2, ca_status_name(status)).run(); !ok) {
      return internal(ok.error());
    }
    change = {"ca.set-status",
              "ca",
              record->id,
              {{"from", ca_status_name(record->status)}, {"to", ca_status_name(status)}}};
    record->status = status;
    return record;
  });
}

RegistryResult<CaRecord> Registry::set_ca_template(std::string_view actor, std::string_view id,
                                                   std::optional<std::string> template_name) {
  auto normalized = normalize_certificate_id(id);
  if (!normalized) return invalid(normalized.error());
  return mutate<CaRecord>(actor, [&](Change& change) -> RegistryResult<CaRecord> {
    auto record = require_ca(db_, *normalized);
    if (!record) return record;
    if (auto ok = require_template(db_, template_name); !ok) return tl::unexpected(ok.error());
    auto stmt = db_.prepare("UPDATE ca_certificates SET provisioning_template = ?2 WHERE id = ?1");
    if (!stmt) return internal(stmt.error());
    if (auto ok = stmt->bind(1, record->id).bind(2, template_name).run(); !ok) {
      return internal(ok.error());
    }
    change = {"ca.set-template",
              "ca",
              record->id,
              {{"provisioningTemplate", template_name.value_or("")}}};
    record->provisioning_template = template_name;
    return record;
  });
}

RegistryResult<CaRecord> Registry::set_ca_auto_registration(std::string_view actor,
                                                            std::string_view id, bool enabled) {
  auto normalized = normalize_certificate_id(id);
  if (!normalized) return invalid(normalized.error());
  return mutate<CaRecord>(actor, [&](Change& change) -> RegistryResult<CaRecord> {
    auto record = require_ca(db_, *normalized);
    if (!record) return record;
    auto stmt = db_.prepare("UPDATE ca_certificates SET auto_registration = ?2 WHERE id = ?1");
    if (!stmt) return internal(stmt.error());
    if (auto ok = stmt->bind(1, record->id).bind(2, std::int64_t{enabled ? 1 : 0}).run(); !ok) {
      return internal(ok.error());
    }
    change = {"ca.set-auto-registration", "ca", record->id, {{"autoRegistration", enabled}}};
    record->auto_registration = enabled;
    return record;
  });
}

}  // namespace ironroot::fleet
