// What the registry's source files share: error makers, row readers, paging, and the transaction
// wrapper every mutation goes through.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "ironroot/crypto/x509.hpp"
#include "ironroot/fleet/names.hpp"
#include "ironroot/fleet/registry.hpp"

namespace ironroot::fleet {

namespace detail {
// One audit row, described by the mutation that makes the change.
struct Change {
  std::string action;  // "<target type>.<verb>"
  std::string target_type;
  std::string target_id;
  nlohmann::json details = nlohmann::json::object();
};
}  // namespace detail
using detail::Change;

// Writes one audit row for `change`, made by `actor` at `at`, on `db` (inside the caller's
// transaction). The registry and the jobs store both record their changes through it.
RegistryResult<void> record(Database& db, Time at, std::string_view actor, const Change& change);

// The default clock of the registry and the jobs store: the system clock, to the second.
Time system_time_now();

inline tl::unexpected<RegistryError> refuse(RegistryErrorCode code, std::string message) {
  return tl::unexpected(RegistryError{code, std::move(message)});
}
inline tl::unexpected<RegistryError> invalid(std::string message) {
  return refuse(RegistryErrorCode::invalid, std::move(message));
}
inline tl::unexpected<RegistryError> invalid(const Error& error) {
  return invalid(error.message);
}
inline tl::unexpected<RegistryError> not_found(std::string message) {
  return refuse(RegistryErrorCode::not_found, std::move(message));
}
inline tl::unexpected<RegistryError> already_exists(std::string message) {
  return refuse(RegistryErrorCode::already_exists, std::move(message));
}
inline tl::unexpected<RegistryError> conflict(std::string message) {
  return refuse(RegistryErrorCode::conflict, std::move(message));
}
inline tl::unexpected<RegistryError> internal(const Error& error) {
  return refuse(RegistryErrorCode::internal, error.message);
}

inline std::int64_t to_db(Time time) {
  return time.time_since_epoch().count();
}
inline Time from_db(std::int64_t seconds) {
  return Time(std::chrono::seconds(seconds));
}

// "thing 'lamp-1'".
inline std::string quoted(std::string_view kind, std::string_view name) {
  return std::string(kind) + " '" + std::string(name) + "'";
}

// A validated page limit.
RegistryResult<std::size_t> page_limit(const Page& page);

// Runs a prepared listing query (which must ask for up to limit + 1 rows), reading each row with
// `read`; when there are more than `limit` rows, the last one is dropped and its predecessor's
// key() becomes the next token.
template <class T, class Read, class Key>
RegistryResult<Listing<T>> collect(Statement& stmt, std::size_t limit, Read read, Key key) {
  Listing<T> listing;
  for (;;) {
    auto row = stmt.step();
    if (!row) return internal(row.error());
    if (!*row) break;
    if (listing.items.size() == limit) {
      listing.next_token = key(listing.items.back());
      break;
    }
    RegistryResult<T> item = read(stmt);
    if (!item) return tl::unexpected(item.error());
    listing.items.push_back(std::move(*item));
  }
  return listing;
}

// Whether `sql` (with `key` as ?1) returns a row.
RegistryResult<bool> exists(Database& db, std::string_view sql, std::string_view key);
RegistryResult<bool> exists(Database& db, std::string_view sql, std::string_view key1,
                            std::string_view key2);

// Every value of column 0 of `sql` (with `key` as ?1).
RegistryResult<std::vector<std::string>> strings(Database& db, std::string_view sql,
                                                 std::string_view key);

// Loads one thing; nullopt when there is none.
RegistryResult<std::optional<Thing>> load_thing(Database& db, std::string_view name);
// A thing's groups, static and dynamic, in name order. REQUIRES: the thing exists.
RegistryResult<std::vector<std::string>> load_groups_of(Database& db, const Thing& thing);
// Loads one certificate; nullopt when there is none. REQUIRES: `id` normalized.
RegistryResult<std::optional<CertificateRecord>> load_certificate(Database& db,
                                                                  std::string_view id);

// Registers a device certificate (inside the caller's transaction) and describes the change:
// refuses a CA certificate, one without a readable subject, and one already registered. Its CA is
// `ca_id` when given (which must have signed it), else the registered CA that did, if any.
// REQUIRES: `ca_id` normalized.
RegistryResult<CertificateRecord> insert_certificate(Database& db, const crypto::Certificate& cert,
                                                     const std::optional<std::string>& ca_id,
                                                     CertificateStatus status, Time now,
                                                     Change& change);

// Exactly one PEM certificate, at most kMaxPemLength bytes. `what`: "certificate", "CA
// certificate".
RegistryResult<crypto::Certificate> parse_one_certificate(std::string_view what,
                                                          std::string_view pem);

template <class T, class Body>
RegistryResult<T> Registry::mutate(std::string_view actor, Body&& body) {
  if (auto ok = check_actor(actor); !ok) return invalid(ok.error());
  auto txn = db_.begin_write();
  if (!txn) return internal(txn.error());
  Change change;
  RegistryResult<T> result = body(change);
  if (!result) return result;  // `txn` rolls back
  if (auto ok = record(actor, change); !ok) return tl::unexpected(ok.error());
  if (auto ok = txn->commit(); !ok) return internal(ok.error());
  return result;
}

}  // namespace ironroot::fleet
