// Policies: documents by name, attached to certificates and thing groups.
#include <algorithm>
#include <set>

#include "registry_internal.hpp"

namespace ironroot::fleet {

namespace {

constexpr std::string_view kPolicyColumns = "name, document, version, created_at, updated_at";

RegistryResult<Policy> read_policy(Statement& row) {
  return Policy{row.text(0), row.text(1), row.integer(2), from_db(row.integer(3)),
                from_db(row.integer(4))};
}

RegistryResult<Policy> require_policy(Database& db, std::string_view name) {
  auto stmt =
      db.prepare("SELECT " + std::string(kPolicyColumns) + " FROM policies WHERE name = ?1");
  if (!stmt) return internal(stmt.error());
  auto row = stmt->bind(1, name).step();
  if (!row) return internal(row.error());
  if (!*row) return not_found("no " + quoted("policy", name));
  return read_policy(*stmt);
}

RegistryResult<void> require_exists(Database& db, std::string_view sql, std::string_view key,
                                    std::string message) {
  auto found = exists(db, sql, key);
  if (!found) return tl::unexpected(found.error());
  if (!*found) return not_found(std::move(message));
  return {};
}

}  // namespace

RegistryResult<Policy> Registry::create_policy(std::string_view actor, std::string_view name,
                                               std::string_view document) {
  if (auto ok = check_policy_name(name); !ok) return invalid(ok.error());
  if (auto ok = check_policy_document(document); !ok) return invalid(ok.error());
  return mutate<Policy>(actor, [&](Change& change) -> RegistryResult<Policy> {
    if (auto existing = require_policy(db_, name); existing) {
      return already_exists(quoted("policy", name) + " already exists");
    } else if (existing.error().code != RegistryErrorCode::not_found) {
      return existing;
    }
    const Time now = clock_();
    Policy policy{std::string(name), std::string(document), 1, now, now};
    auto stmt = db_.prepare("INSERT INTO policies (" + std::string(kPolicyColumns) +
                            ") VALUES (?1, ?2, ?3, ?4, ?5)");
    if (!stmt) return internal(stmt.error());
    stmt->bind(1, policy.name).bind(2, policy.document).bind(3, policy.version);
    stmt->bind(4, to_db(now)).bind(5, to_db(now));
    if (auto ok = stmt->run(); !ok) return internal(ok.error());
    change = {"policy.create", "policy", policy.name, {{"version", policy.version}}};
    return policy;
  });
}

RegistryResult<Policy> Registry::describe_policy(std::string_view name) {
  return require_policy(db_, name);
}

RegistryResult<Listing<Policy>> Registry::list_policies(const Page& page) {
  auto limit = page_limit(page);
  if (!limit) return tl::unexpected(limit.error());
  auto stmt = db_.prepare("SELECT " + std::string(kPolicyColumns) +
                          " FROM policies WHERE name > ?1 ORDER BY name LIMIT ?2");
  if (!stmt) return internal(stmt.error());
  stmt->bind(1, page.next_token).bind(2, static_cast<std::int64_t>(*limit + 1));
  return collect<Policy>(*stmt, *limit, read_policy, [](const Policy& p) { return p.name; });
}

RegistryResult<Policy> Registry::update_policy(std::string_view actor, std::string_view name,
                                               std::string_view document,
                                               std::optional<std::int64_t> expected_version) {
  if (auto ok = check_policy_document(document); !ok) return invalid(ok.error());
  return mutate<Policy>(actor, [&](Change& change) -> RegistryResult<Policy> {
    auto policy = require_policy(db_, name);
    if (!policy) return policy;
    if (expected_version && *expected_version != policy->version) {
      return conflict(quoted("policy", name) + " is at version " + std::to_string(policy->version) +
                      ", not " + std::to_string(*expected_version));
    }
    policy->document = std::string(document);
    policy->version += 1;
    policy->updated_at = clock_();
    auto stmt = db_.prepare(
        "UPDATE policies SET document = ?2, version = ?3, updated_at = ?4 WHERE name = ?1");
    if (!stmt) return internal(stmt.error());
    stmt->bind(1, policy->name).bind(2, policy->document).bind(3, policy->version);
    stmt->bind(4, to_db(policy->updated_at));
    if (auto ok = stmt->run(); !ok) return internal(ok.error());
    change = {"policy.update", "policy", policy->name, {{"version", policy->version}}};
    return policy;
  });
}

RegistryResult<void> Registry::delete_policy(std::string_view actor, std::string_view name) {
  return mutate<void>(actor, [&](Change& change) -> RegistryResult<void> {
    auto policy = require_policy(db_, name);
    if (!policy) return tl::unexpected(policy.error());
    auto certificates = strings(
        db_, "SELECT certificate_id FROM certificate_policies WHERE policy_name = ?1", name);
    if (!certificates) return tl::unexpected(certificates.error());
    auto groups =
        strings(db_, "SELECT group_name FROM group_policies WHERE policy_name = ?1", name);
    if (!groups) return tl::unexpected(groups.error());
    if (!certificates->empty() || !groups->empty()) {
      return conflict(quoted("policy", name) + " is attached to " +
                      std::to_string(certificates->size()) + " certificate(s) and " +
                      std::to_string(groups->size()) + " thing group(s): detach it first");
    }
    auto stmt = db_.prepare("DELETE FROM policies WHERE name = ?1");
    if (!stmt) return internal(stmt.error());
    if (auto ok = stmt->bind(1, name).run(); !ok) return internal(ok.error());
    change = {"policy.delete", "policy", std::string(name), {{"version", policy->version}}};
    return {};
  });
}

RegistryResult<void> Registry::attach_policy_to_certificate(std::string_view actor,
                                                            std::string_view policy,
                                                            std::string_view certificate_id) {
  auto id = normalize_certificate_id(certificate_id);
  if (!id) return invalid(id.error());
  return mutate<void>(actor, [&](Change& change) -> RegistryResult<void> {
    if (auto found = require_policy(db_, policy); !found) return tl::unexpected(found.error());
    if (auto ok = require_exists(db_, "SELECT 1 FROM certificates WHERE id = ?1", *id,
                                 "no certificate " + *id);
        !ok) {
      return ok;
    }
    auto stmt = db_.prepare(
        "INSERT OR IGNORE INTO certificate_policies (policy_name, certificate_id) VALUES (?1, ?2)");
    if (!stmt) return internal(stmt.error());
    if (auto ok = stmt->bind(1, policy).bind(2, *id).run(); !ok) return internal(ok.error());
    if (db_.changes() == 0) {
      return already_exists(quoted("policy", policy) + " is already attached to certificate " +
                            *id);
    }
    change = {"policy.attach-certificate", "policy", std::string(policy), {{"certificate", *id}}};
    return {};
  });
}

RegistryResult<void> Registry::detach_policy_from_certificate(std::string_view actor,
                                                              std::string_view policy,
                                                              std::string_view certificate_id) {
  auto id = normalize_certificate_id(certificate_id);
  if (!id) return invalid(id.error());
  return mutate<void>(actor, [&](Change& change) -> RegistryResult<void> {
    auto stmt = db_.prepare(
        "DELETE FROM certificate_policies WHERE policy_name = ?1 AND certificate_id = ?2");
    if (!stmt) return internal(stmt.error());
    if (auto ok = stmt->bind(1, policy).bind(2, *id).run(); !ok) return internal(ok.error());
    if (db_.changes() == 0) {
      return not_found(quoted("policy", policy) + " is not attached to certificate " + *id);
    }
    change = {"policy.detach-certificate", "policy", std::string(policy), {{"certificate", *id}}};
    return {};
  });
}

RegistryResult<void> Registry::attach_policy_to_group(std::string_view actor,
                                                      std::string_view policy,
                                                      std::string_view group) {
  return mutate<void>(actor, [&](Change& change) -> RegistryResult<void> {
    if (auto found = require_policy(db_, policy); !found) return tl::unexpected(found.error());
    if (auto ok = require_exists(db_, "SELECT 1 FROM thing_groups WHERE name = ?1", group,
                                 "no " + quoted("thing group", group));
        !ok) {
      return ok;
    }
    auto stmt = db_.prepare(
        "INSERT OR IGNORE INTO group_policies (policy_name, group_name) VALUES (?1, ?2)");
    if (!stmt) return internal(stmt.error());
    if (auto ok = stmt->bind(1, policy).bind(2, group).run(); !ok) return internal(ok.error());
    if (db_.changes() == 0) {
      return already_exists(quoted("policy", policy) + " is already attached to " +
                            quoted("thing group", group));
    }
    change = {"policy.attach-group", "policy", std::string(policy), {{"group", group}}};
    return {};
  });
}

RegistryResult<void> Registry::detach_policy_from_group(std::string_view actor,
                                                        std::string_view policy,
                                                        std::string_view group) {
  return mutate<void>(actor, [&](Change& change) -> RegistryResult<void> {
    auto stmt =
        db_.prepare("DELETE FROM group_policies WHERE policy_name = ?1 AND group_name = ?2");
    if (!stmt) return internal(stmt.error());
    if (auto ok = stmt->bind(1, policy).bind(2, group).run(); !ok) return internal(ok.error());
    if (db_.changes() == 0) {
      return not_found(quoted("policy", policy) + " is not attached to " +
                       quoted("thing group", group));
    }
    change = {"policy.detach-group", "policy", std::string(policy), {{"group", group}}};
    return {};
  });
}

RegistryResult<std::vector<Policy>> Registry::policies_for(std::string_view certificate_id) {
  auto id = normalize_certificate_id(certificate_id);
  if (!id) return invalid(id.error());
  auto txn = db_.begin_read();
  if (!txn) return internal(txn.error());
  auto certificate = load_certificate(db_, *id);
  if (!certificate) return tl::unexpected(certificate.error());
  if (!*certificate) return not_found("no certificate " + *id);
  auto direct =
      strings(db_, "SELECT policy_name FROM certificate_policies WHERE certificate_id = ?1", *id);
  if (!direct) return tl::unexpected(direct.error());
  std::set<std::string> names(direct->begin(), direct->end());
  auto things =
      strings(db_, "SELECT thing_name FROM thing_principals WHERE certificate_id = ?1", *id);
  if (!things) return tl::unexpected(things.error());
  std::set<std::string> groups;
  for (const std::string& name : *things) {
    auto thing = load_thing(db_, name);
    if (!thing) return tl::unexpected(thing.error());
    if (!*thing) continue;
    auto of = load_groups_of(db_, **thing);
    if (!of) return tl::unexpected(of.error());
    groups.insert(of->begin(), of->end());
  }
  for (const std::string& group : groups) {
    auto attached =
        strings(db_, "SELECT policy_name FROM group_policies WHERE group_name = ?1", group);
    if (!attached) return tl::unexpected(attached.error());
    names.insert(attached->begin(), attached->end());
  }
  std::vector<Policy> policies;
  for (const std::string& name : names) {
    auto policy = require_policy(db_, name);
    if (!policy) return internal(Error{policy.error().message});
    policies.push_back(std::move(*policy));
  }
  return policies;
}

}  // namespace ironroot::fleet
