// Device certificates: registration, status, and attachment to things as principals.
#include "ironroot/crypto/certificate_authority.hpp"
#include "registry_internal.hpp"

namespace ironroot::fleet {

namespace {

constexpr std::string_view kCertificateColumns =
    "id, pem, status, ca_id, subject, common_name, serial_hex, not_before, not_after, created_at";

RegistryResult<CertificateRecord> read_certificate(Statement& row) {
  CertificateRecord record;
  record.id = row.text(0);
  record.pem = row.text(1);
  auto status = parse_certificate_status(row.text(2));
  if (!status) {
    return internal(Error{"certificate " + record.id + ": unknown stored status " + row.text(2)});
  }
  record.status = *status;
  record.ca_id = row.optional_text(3);
  record.subject = row.text(4);
  record.common_name = row.text(5);
  record.serial_hex = row.text(6);
  record.not_before = from_db(row.integer(7));
  record.not_after = from_db(row.integer(8));
  record.created_at = from_db(row.integer(9));
  return record;
}

// The registered CA that issued `cert`: `ca_id` when given (it must have signed it), otherwise
// the first registered CA with the certificate's issuer as subject whose key verifies it.
RegistryResult<std::optional<std::string>> find_issuer(Database& db,
                                                       const crypto::Certificate& cert,
                                                       const std::optional<std::string>& ca_id) {
  auto stmt = db.prepare(ca_id ? "SELECT id, pem FROM ca_certificates WHERE id = ?1"
                               : "SELECT id, pem FROM ca_certificates WHERE subject = ?1 "
                                 "ORDER BY id");
  if (!stmt) return internal(stmt.error());
  stmt->bind(1, ca_id ? *ca_id : cert.issuer());
  for (;;) {
    auto row = stmt->step();
    if (!row) return internal(row.error());
    if (!*row) break;
    auto ca = crypto::Certificate::from_pem(as_bytes(stmt->text(1)));
    if (!ca) return internal(Error{"stored CA " + stmt->text(0) + ": " + ca.error().message});
    auto key = ca->public_key();
    if (key && cert.verify_signature(*key)) return std::optional<std::string>(stmt->text(0));
    if (ca_id) {
      return invalid("the certificate (issuer " + cert.issuer() + ") was not signed by CA " +
                     *ca_id + " (" + ca->subject() + ")");
    }
  }
  if (ca_id) return not_found("no registered CA " + *ca_id);
  return std::optional<std::string>();
}

RegistryResult<CertificateRecord> require_certificate(Database& db, std::string_view id) {
  auto loaded = load_certificate(db, id);
  if (!loaded) return tl::unexpected(loaded.error());
  if (!*loaded) return not_found("no certificate " + std::string(id));
  return std::move(**loaded);
}

}  // namespace

RegistryResult<crypto::Certificate> parse_one_certificate(std::string_view what,
                                                          std::string_view pem) {
  if (pem.size() > kMaxPemLength) {
    return invalid(std::string(what) + " PEM is " + std::to_string(pem.size()) +
                   " bytes long; the limit is " + std::to_string(kMaxPemLength));
  }
  auto certs = crypto::Certificate::all_from_pem(as_bytes(pem));
  if (!certs) return invalid(std::string(what) + ": " + certs.error().message);
  if (certs->size() != 1) {
    return invalid(std::string(what) + " PEM holds " + std::to_string(certs->size()) +
                   " certificates; give exactly one");
  }
  return std::move(certs->front());
}

RegistryResult<std::optional<CertificateRecord>> load_certificate(Database& db,
                                                                  std::string_view id) {
  auto stmt =
      db.prepare("SELECT " + std::string(kCertificateColumns) + " FROM certificates WHERE id = ?1");
  if (!stmt) return internal(stmt.error());
  auto row = stmt->bind(1, id).step();
  if (!row) return internal(row.error());
  if (!*row) return std::optional<CertificateRecord>();
  auto record = read_certificate(*stmt);
  if (!record) return tl::unexpected(record.error());
  return std::optional<CertificateRecord>(std::move(*record));
}

RegistryResult<CertificateRecord> insert_certificate(Database& db, const crypto::Certificate& cert,
                                                     const std::optional<std::string>& ca_id,
                                                     CertificateStatus status, Time now,
                                                     Change& change) {
  auto constraints = cert.extensions().basic_constraints;
  if (constraints && constraints->ca) {
    return invalid("certificate " + cert.subject() +
                   " is a CA certificate (basicConstraints CA:TRUE): register it as a CA");
  }
  auto name = cert.subject_name();
  if (!name) return invalid("certificate subject: " + name.error().message);
  CertificateRecord record;
  record.id = to_hex(cert.fingerprint());
  auto existing = load_certificate(db, record.id);
  if (!existing) return tl::unexpected(existing.error());
  if (*existing) return already_exists("certificate " + record.id + " is already registered");
  auto issuer = find_issuer(db, cert, ca_id);
  if (!issuer) return tl::unexpected(issuer.error());
  record.pem = cert.pem();
  record.status = status;
  record.ca_id = *issuer;
  record.subject = cert.subject();
  record.common_name = name->common_name;
  record.serial_hex = cert.serial_hex();
  record.not_before = cert.not_before();
  record.not_after = cert.not_after();
  record.created_at = now;
  auto stmt = db.prepare("INSERT INTO certificates (" + std::string(kCertificateColumns) +
                         ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
  if (!stmt) return internal(stmt.error());
  stmt->bind(1, record.id)
      .bind(2, record.pem)
      .bind(3, certificate_status_name(record.status))
      .bind(4, record.ca_id)
      .bind(5, record.subject)
      .bind(6, record.common_name)
      .bind(7, record.serial_hex)
      .bind(8, to_db(record.not_before))
      .bind(9, to_db(record.not_after))
      .bind(10, to_db(record.created_at));
  if (auto ok = stmt->run(); !ok) return internal(ok.error());
  change = {"certificate.register",
            "certificate",
            record.id,
            {{"status", certificate_status_name(record.status)},
             {"caId", record.ca_id.value_or("")},
             {"subject", record.subject},
             {"serial", record.serial_hex}}};
  return record;
}

RegistryResult<CertificateRecord> Registry::register_certificate(std::string_view actor,
                                                                 std::string_view pem,
                                                                 CertificateStatus status,
                                                                 std::optional<std::string> ca_id) {
  auto cert = parse_one_certificate("certificate", pem);
  if (!cert) return tl::unexpected(cert.error());
  if (ca_id) {
    auto normalized = normalize_certificate_id(*ca_id);
    if (!normalized) return invalid(normalized.error());
    ca_id = *normalized;
  }
  return mutate<CertificateRecord>(actor, [&](Change& change) {
    return insert_certificate(db_, *cert, ca_id, status, clock_(), change);
  });
}

RegistryResult<CertificateRecord> Registry::describe_certificate(std::string_view id) {
  auto normalized = normalize_certificate_id(id);
  if (!normalized) return invalid(normalized.error());
  return require_certificate(db_, *normalized);
}

RegistryResult<std::optional<CaRecord>> Registry::issuing_ca(
    const crypto::Certificate& certificate) {
  auto id = find_issuer(db_, certificate, std::nullopt);
  if (!id) return tl::unexpected(id.error());
  if (!*id) return std::optional<CaRecord>();
  auto ca = describe_ca(**id);
  if (!ca) return tl::unexpected(ca.error());
  return std::optional<CaRecord>(std::move(*ca));
}

RegistryResult<Listing<CertificateRecord>> Registry::list_certificates(
    const CertificateFilter& filter, const Page& page) {
  auto limit = page_limit(page);
  if (!limit) return tl::unexpected(limit.error());
  std::optional<std::string> ca_id;
  if (filter.ca_id) {
    auto normalized = normalize_certificate_id(*filter.ca_id);
    if (!normalized) return invalid(normalized.error());
    ca_id = *normalized;
  }
  std::optional<std::string> status;
  if (filter.status) status = std::string(certificate_status_name(*filter.status));
  auto stmt = db_.prepare("SELECT " + std::string(kCertificateColumns) +
                          " FROM certificates WHERE id > ?1 AND (?2 IS NULL OR status = ?2) "
                          "AND (?3 IS NULL OR ca_id = ?3) ORDER BY id LIMIT ?4");
  if (!stmt) return internal(stmt.error());
  stmt->bind(1, page.next_token).bind(2, status).bind(3, ca_id);
  stmt->bind(4, static_cast<std::int64_t>(*limit + 1));
  return collect<CertificateRecord>(*stmt, *limit, read_certificate,
                                    [](const CertificateRecord& c) { return c.id; });
}

RegistryResult<CertificateRecord> Registry::set_certificate_status(std::string_view actor,
                                                                   std::string_view id,
                                                                   CertificateStatus status) {
  auto normalized = normalize_certificate_id(id);
  if (!normalized) return invalid(normalized.error());
  return mutate<CertificateRecord>(actor, [&](Change& change) -> RegistryResult<CertificateRecord> {
    auto record = require_certificate(db_, *normalized);
    if (!record) return record;
    if (record->status == CertificateStatus::revoked && status != CertificateStatus::revoked) {
      return conflict("certificate " + record->id +
                      " is REVOKED, which is final; it cannot become " +
                      std::string(certificate_status_name(status)));
    }
    auto stmt = db_.prepare("UPDATE certificates SET status = ?2 WHERE id = ?1");
    if (!stmt) return internal(stmt.error());
    if (auto ok = stmt->bind(1, record->id).bind(2, certificate_status_name(status)).run(); !ok) {
      return internal(ok.error());
    }
    change = {"certificate.set-status",
              "certificate",
              record->id,
              {{"from", certificate_status_name(record->status)},
               {"to", certificate_status_name(status)}}};
    record->status = status;
    return record;
  });
}

RegistryResult<void> Registry::attach_certificate(std::string_view actor, std::string_view id,
                                                  std::string_view thing_name) {
  auto normalized = normalize_certificate_id(id);
  if (!normalized) return invalid(normalized.error());
  return mutate<void>(actor, [&](Change& change) -> RegistryResult<void> {
    auto record = require_certificate(db_, *normalized);
    if (!record) return tl::unexpected(record.error());
    if (record->status == CertificateStatus::revoked) {
      return conflict("certificate " + record->id + " is REVOKED: it cannot be attached");
    }
    auto thing = load_thing(db_, thing_name);
    if (!thing) return tl::unexpected(thing.error());
    if (!*thing) return not_found("no " + quoted("thing", thing_name));
    auto attached =
        exists(db_, "SELECT 1 FROM thing_principals WHERE certificate_id = ?1 AND thing_name = ?2",
               record->id, thing_name);
    if (!attached) return tl::unexpected(attached.error());
    if (*attached) {
      return already_exists("certificate " + record->id + " is already attached to " +
                            quoted("thing", thing_name));
    }
    auto stmt =
        db_.prepare("INSERT INTO thing_principals (certificate_id, thing_name) VALUES (?1, ?2)");
    if (!stmt) return internal(stmt.error());
    if (auto ok = stmt->bind(1, record->id).bind(2, thing_name).run(); !ok) {
      return internal(ok.error());
    }
    change = {"certificate.attach-thing", "certificate", record->id, {{"thing", thing_name}}};
    return {};
  });
}

RegistryResult<void> Registry::detach_certificate(std::string_view actor, std::string_view id,
                                                  std::string_view thing_name) {
  auto normalized = normalize_certificate_id(id);
  if (!normalized) return invalid(normalized.error());
  return mutate<void>(actor, [&](Change& change) -> RegistryResult<void> {
    auto stmt =
        db_.prepare("DELETE FROM thing_principals WHERE certificate_id = ?1 AND thing_name = ?2");
    if (!stmt) return internal(stmt.error());
    if (auto ok = stmt->bind(1, *normalized).bind(2, thing_name).run(); !ok) {
      return internal(ok.error());
    }
    if (db_.changes() == 0) {
      return not_found("certificate " + *normalized + " is not attached to " +
                       quoted("thing", thing_name));
    }
    change = {"certificate.detach-thing", "certificate", *normalized, {{"thing", thing_name}}};
    return {};
  });
}

RegistryResult<std::vector<std::string>> Registry::things_of(std::string_view certificate_id) {
  auto normalized = normalize_certificate_id(certificate_id);
  if (!normalized) return invalid(normalized.error());
  auto txn = db_.begin_read();
  if (!txn) return internal(txn.error());
  if (auto record = require_certificate(db_, *normalized); !record) {
    return tl::unexpected(record.error());
  }
  return strings(db_,
                 "SELECT thing_name FROM thing_principals WHERE certificate_id = ?1 "
                 "ORDER BY thing_name",
                 *normalized);
}

RegistryResult<std::vector<std::string>> Registry::certificates_of(std::string_view thing_name) {
  auto txn = db_.begin_read();
  if (!txn) return internal(txn.error());
  auto thing = load_thing(db_, thing_name);
  if (!thing) return tl::unexpected(thing.error());
  if (!*thing) return not_found("no " + quoted("thing", thing_name));
  return strings(db_,
                 "SELECT certificate_id FROM thing_principals WHERE thing_name = ?1 "
                 "ORDER BY certificate_id",
                 thing_name);
}

}  // namespace ironroot::fleet
