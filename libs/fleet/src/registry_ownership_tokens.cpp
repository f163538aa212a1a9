// Fleet provisioning in the registry: certificates issued with an ownership token, and the one
// transaction that applies a provisioning template's plan (token, certificate, thing, groups,
// policies) with an audit entry for every change.
#include <algorithm>
#include <set>

#include "ironroot/crypto/certificate_authority.hpp"
#include "registry_internal.hpp"

namespace ironroot::fleet {

namespace {

constexpr std::string_view kTokenColumns =
    "token_hash, certificate_id, claim_certificate_id, expires_at, used_at, created_at";

bool is_hex64(std::string_view text) {
  return text.size() == 64 && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

nlohmann::json attributes_json(const Attributes& attributes) {
  nlohmann::json object = nlohmann::json::object();
  for (const auto& [name, value] : attributes) object[name] = value;
  return object;
}

RegistryResult<std::optional<OwnershipToken>> load_token(Database& db, std::string_view hash) {
  auto stmt = db.prepare("SELECT " + std::string(kTokenColumns) +
                         " FROM certificate_ownership_tokens WHERE token_hash = ?1");
  if (!stmt) return internal(stmt.error());
  auto row = stmt->bind(1, hash).step();
  if (!row) return internal(row.error());
  if (!*row) return std::optional<OwnershipToken>();
  OwnershipToken token;
  token.token_hash = stmt->text(0);
  token.certificate_id = stmt->text(1);
  token.claim_certificate_id = stmt->text(2);
  token.expires_at = from_db(stmt->integer(3));
  if (!stmt->is_null(4)) token.used_at = from_db(stmt->integer(4));
  token.created_at = from_db(stmt->integer(5));
  return std::optional<OwnershipToken>(std::move(token));
}

RegistryResult<void> run(Database& db, std::string_view sql, std::string_view a,
                         std::string_view b) {
  auto stmt = db.prepare(sql);
  if (!stmt) return internal(stmt.error());
  if (auto ok = stmt->bind(1, a).bind(2, b).run(); !ok) return internal(ok.error());
  return {};
}

// The checks a plan must pass before the transaction starts.
RegistryResult<void> check_plan(const ProvisioningPlan& plan) {
  if (!is_hex64(plan.certificate_id)) {
    return invalid("certificate id must be 64 lower-case hex digits, not '" + plan.certificate_id +
                   "'");
  }
  if (plan.token && !is_hex64(plan.token->token_hash)) {
    return invalid("certificate ownership token hash must be 64 lower-case hex digits");
  }
  if (plan.certificate_status != CertificateStatus::active &&
      plan.certificate_status != CertificateStatus::inactive) {
    return invalid("provisioning sets a certificate ACTIVE or INACTIVE, not " +
                   std::string(certificate_status_name(plan.certificate_status)));
  }
  if (plan.status_override == OverrideAction::merge) {
    return invalid("MERGE is valid only for a thing's attributes and groups");
  }
  const ThingProvisioning& thing = plan.thing;
  if (auto ok = crypto::check_thing_name(thing.name); !ok) return invalid(ok.error());
  if (thing.thing_type) {
    if (auto ok = check_thing_type_name(*thing.thing_type); !ok) return invalid(ok.error());
  }
  if (thing.thing_type_override == OverrideAction::merge) {
    return invalid("MERGE is valid only for a thing's attributes and groups, not its type");
  }
  if (thing.attributes) {
    if (auto ok = check_attributes(*thing.attributes); !ok) return invalid(ok.error());
  }
  if (thing.groups) {
    for (const std::string& group : *thing.groups) {
      if (auto ok = check_group_name(group); !ok) return invalid(ok.error());
    }
  }
  for (const PolicyProvisioning& policy : plan.policies) {
    if (auto ok = check_policy_name(policy.name); !ok) return invalid(ok.error());
    if (policy.document) {
      if (auto ok = check_policy_document(*policy.document); !ok) return invalid(ok.error());
    }
  }
  return {};
}

RegistryResult<void> apply_token(Database& db, const ProvisioningPlan& plan, Time now,
                                 std::vector<Change>& changes) {
  const auto& use = *plan.token;
  auto token = load_token(db, use.token_hash);
  if (!token) return tl::unexpected(token.error());
  if (!*token) {
    return conflict("certificate ownership token is unknown: it was never issued, or it expired");
  }
  if ((*token)->used_at) {
    return conflict("certificate ownership token has already been used (at " +
                    crypto::format_time(*(*token)->used_at) + "); each token works once");
  }
  if ((*token)->expires_at <= now) {
    return conflict("certificate ownership token expired at " +
                    crypto::format_time((*token)->expires_at) + "; create a new certificate");
  }
  if ((*token)->certificate_id != plan.certificate_id) {
    return conflict("certificate ownership token is for certificate " + (*token)->certificate_id +
                    ", not " + plan.certificate_id);
  }
  if ((*token)->claim_certificate_id != use.claim_certificate_id) {
    return conflict("certificate ownership token was issued to another claim certificate");
  }
  auto stmt = db.prepare(
      "UPDATE certificate_ownership_tokens SET used_at = ?2 WHERE token_hash = ?1 AND used_at IS "
      "NULL");
  if (!stmt) return internal(stmt.error());
  if (auto ok = stmt->bind(1, use.token_hash).bind(2, to_db(now)).run(); !ok) {
    return internal(ok.error());
  }
  if (db.changes() != 1) return conflict("certificate ownership token has already been used");
  changes.push_back({"certificate.use-ownership-token",
                     "certificate",
                     plan.certificate_id,
                     {{"claimCertificateId", use.claim_certificate_id}}});
  return {};
}

RegistryResult<CertificateRecord> apply_certificate_status(Database& db,
                                                           const ProvisioningPlan& plan,
                                                           std::vector<Change>& changes) {
  auto loaded = load_certificate(db, plan.certificate_id);
  if (!loaded) return tl::unexpected(loaded.error());
  if (!*loaded) return not_found("no certificate " + plan.certificate_id);
  CertificateRecord record = std::move(**loaded);
  if (record.status == CertificateStatus::revoked) {
    return conflict("certificate " + record.id + " is REVOKED: it cannot be provisioned");
  }
  CertificateStatus target = record.status;
  if (record.status == CertificateStatus::pending_activation) {
    target = plan.certificate_status;
  } else if (plan.status_override == OverrideAction::replace) {
    target = plan.certificate_status;
  } else if (plan.status_override == OverrideAction::fail &&
             record.status != plan.certificate_status) {
    return conflict("certificate " + record.id + " is " +
                    std::string(certificate_status_name(record.status)) +
                    " and the template (OverrideSettings Status FAIL) wants " +
                    std::string(certificate_status_name(plan.certificate_status)));
  }
  if (target != record.status) {
    if (auto ok = run(db, "UPDATE certificates SET status = ?2 WHERE id = ?1", record.id,
                      certificate_status_name(target));
        !ok) {
      return tl::unexpected(ok.error());
    }
    changes.push_back({"certificate.set-status",
                       "certificate",
                       record.id,
                       {{"from", certificate_status_name(record.status)},
                        {"to", certificate_status_name(target)}}});
    record.status = target;
  }
  return record;
}

// The value a thing property takes: the template's (`wanted`) or the thing's (`current`), by
// `action`. `merged` is what MERGE gives.
template <class T>
RegistryResult<T> resolve(std::string_view what, const std::string& thing, const T& current,
                          const T& wanted, OverrideAction action, const T& merged) {
  switch (action) {
    case OverrideAction::do_nothing:
      return current;
    case OverrideAction::replace:
      return wanted;
    case OverrideAction::merge:
      return merged;
    case OverrideAction::fail:
      if (!(current == wanted)) {
        return conflict(quoted("thing", thing) + " exists and its " + std::string(what) +
                        " differs from the template's (OverrideSettings " + std::string(what) +
                        " FAIL)");
      }
      return current;
  }
  return current;
}

RegistryResult<void> check_static_group(Database& db, const std::string& group) {
  auto stmt = db.prepare("SELECT query FROM thing_groups WHERE name = ?1");
  if (!stmt) return internal(stmt.error());
  auto row = stmt->bind(1, group).step();
  if (!row) return internal(row.error());
  if (!*row) return not_found("no " + quoted("thing group", group));
  if (!stmt->is_null(0)) {
    return invalid(quoted("thing group", group) +
                   " is dynamic: its members are the things its query matches");
  }
  return {};
}

RegistryResult<Thing> apply_thing(Database& db, const ThingProvisioning& spec, Time now,
                                  std::vector<Change>& changes) {
  auto loaded = load_thing(db, spec.name);
  if (!loaded) return tl::unexpected(loaded.error());
  if (!*loaded) {
    Thing thing{
        spec.name, spec.thing_type, spec.attributes.value_or(Attributes{}), std::nullopt, 1, now,
        now};
    auto stmt = db.prepare(
        "INSERT INTO things (name, thing_type, attributes, firmware_version, version, "
        "created_at, updated_at) VALUES (?1, ?2, ?3, NULL, 1, ?4, ?4)");
    if (!stmt) return internal(stmt.error());
    stmt->bind(1, thing.name)
        .bind(2, thing.thing_type)
        .bind(3, attributes_json(thing.attributes).dump())
        .bind(4, to_db(now));
    if (auto ok = stmt->run(); !ok) return internal(ok.error());
    changes.push_back({"thing.create",
                       "thing",
                       thing.name,
                       {{"thingType", thing.thing_type.value_or("")},
                        {"attributes", attributes_json(thing.attributes)},
                        {"firmwareVersion", ""}}});
    return thing;
  }
  Thing thing = std::move(**loaded);
  Thing updated = thing;
  if (spec.thing_type) {
    auto type = resolve<std::optional<std::string>>("ThingTypeName", thing.name, thing.thing_type,
                                                    spec.thing_type, spec.thing_type_override,
                                                    spec.thing_type);
    if (!type) return tl::unexpected(type.error());
    updated.thing_type = *type;
  }
  if (spec.attributes) {
    Attributes merged = thing.attributes;
    for (const auto& [name, value] : *spec.attributes) merged[name] = value;
    auto attributes = resolve<Attributes>("AttributePayload", thing.name, thing.attributes,
                                          *spec.attributes, spec.attributes_override, merged);
    if (!attributes) return tl::unexpected(attributes.error());
    if (auto ok = check_attributes(*attributes); !ok) return invalid(ok.error());
    updated.attributes = std::move(*attributes);
  }
  if (updated.thing_type != thing.thing_type || updated.attributes != thing.attributes) {
    updated.version += 1;
    updated.updated_at = now;
    auto stmt = db.prepare(
        "UPDATE things SET thing_type = ?2, attributes = ?3, version = ?4, updated_at = ?5 "
        "WHERE name = ?1");
    if (!stmt) return internal(stmt.error());
    stmt->bind(1, updated.name)
        .bind(2, updated.thing_type)
        .bind(3, attributes_json(updated.attributes).dump())
        .bind(4, updated.version)
        .bind(5, to_db(now));
    if (auto ok = stmt->run(); !ok) return internal(ok.error());
    changes.push_back({"thing.update",
                       "thing",
                       updated.name,
                       {{"version", updated.version},
                        {"thingType", updated.thing_type.value_or("")},
                        {"attributes", attributes_json(updated.attributes)},
                        {"firmwareVersion", updated.firmware_version.value_or("")}}});
  }
  return updated;
}

// Makes the thing's static groups what `spec` says; returns them, sorted.
RegistryResult<std::vector<std::string>> apply_groups(Database& db, const ThingProvisioning& spec,
                                                      bool created, std::vector<Change>& changes) {
  auto current_list =
      strings(db, "SELECT group_name FROM group_members WHERE thing_name = ?1", spec.name);
  if (!current_list) return tl::unexpected(current_list.error());
  const std::set<std::string> current(current_list->begin(), current_list->end());
  if (!spec.groups) return std::vector<std::string>(current.begin(), current.end());
  const std::set<std::string> wanted(spec.groups->begin(), spec.groups->end());
  for (const std::string& group : wanted) {
    if (auto ok = check_static_group(db, group); !ok) return tl::unexpected(ok.error());
  }
  std::set<std::string> merged = current;
  merged.insert(wanted.begin(), wanted.end());
  auto target = created ? RegistryResult<std::set<std::string>>(wanted)
                        : resolve<std::set<std::string>>("ThingGroups", spec.name, current, wanted,
                                                         spec.groups_override, merged);
  if (!target) return tl::unexpected(target.error());
  for (const std::string& group : current) {
    if (target->count(group)) continue;
    if (auto ok = run(db, "DELETE FROM group_members WHERE group_name = ?1 AND thing_name = ?2",
                      group, spec.name);
        !ok) {
      return tl::unexpected(ok.error());
    }
    changes.push_back({"thing-group.remove-thing", "thing-group", group, {{"thing", spec.name}}});
  }
  for (const std::string& group : *target) {
    if (current.count(group)) continue;
    if (auto ok = run(db, "INSERT INTO group_members (group_name, thing_name) VALUES (?1, ?2)",
                      group, spec.name);
        !ok) {
      return tl::unexpected(ok.error());
    }
    changes.push_back({"thing-group.add-thing", "thing-group", group, {{"thing", spec.name}}});
  }
  return std::vector<std::string>(target->begin(), target->end());
}

RegistryResult<void> apply_policy(Database& db, const PolicyProvisioning& policy,
                                  const std::string& certificate_id, Time now,
                                  std::vector<Change>& changes) {
  auto stmt = db.prepare("SELECT document FROM policies WHERE name = ?1");
  if (!stmt) return internal(stmt.error());
  auto row = stmt->bind(1, policy.name).step();
  if (!row) return internal(row.error());
  if (*row) {
    if (policy.document && stmt->text(0) != *policy.document) {
      return conflict(quoted("policy", policy.name) +
                      " exists with another document; the template's document differs");
    }
  } else if (!policy.document) {
    return not_found("no " + quoted("policy", policy.name) +
                     " (a template that names a policy without a document needs it to exist)");
  } else {
    auto insert = db.prepare(
        "INSERT INTO policies (name, document, version, created_at, updated_at) VALUES (?1, ?2, "
        "1, ?3, ?3)");
    if (!insert) return internal(insert.error());
    insert->bind(1, policy.name).bind(2, *policy.document).bind(3, to_db(now));
    if (auto ok = insert->run(); !ok) return internal(ok.error());
    changes.push_back({"policy.create", "policy", policy.name, {{"version", 1}}});
  }
  if (auto ok = run(db,
                    "INSERT OR IGNORE INTO certificate_policies (policy_name, certificate_id) "
                    "VALUES (?1, ?2)",
                    policy.name, certificate_id);
      !ok) {
    return ok;
  }
  if (db.changes() == 1) {
    changes.push_back(
        {"policy.attach-certificate", "policy", policy.name, {{"certificate", certificate_id}}});
  }
  return {};
}

}  // namespace

RegistryResult<CertificateRecord> Registry::register_certificate_with_token(
    std::string_view actor, std::string_view pem, std::string_view ca_id,
    const NewOwnershipToken& token) {
  auto cert = parse_one_certificate("certificate", pem);
  if (!cert) return tl::unexpected(cert.error());
  auto ca = normalize_certificate_id(ca_id);
  if (!ca) return invalid(ca.error());
  auto claim = normalize_certificate_id(token.claim_certificate_id);
  if (!claim) return invalid("claim " + claim.error().message);
  if (!is_hex64(token.token_hash)) {
    return invalid("certificate ownership token hash must be 64 lower-case hex digits");
  }
  if (auto ok = check_actor(actor); !ok) return invalid(ok.error());
  auto txn = db_.begin_write();
  if (!txn) return internal(txn.error());
  const Time now = clock_();
  if (token.expires_at <= now) {
    return invalid("certificate ownership token would expire at " +
                   crypto::format_time(token.expires_at) + ", which is not after now");
  }
  auto purge = db_.prepare("DELETE FROM certificate_ownership_tokens WHERE expires_at <= ?1");
  if (!purge) return internal(purge.error());
  if (auto ok = purge->bind(1, to_db(now)).run(); !ok) return internal(ok.error());
  auto claim_exists = exists(db_, "SELECT 1 FROM certificates WHERE id = ?1", *claim);
  if (!claim_exists) return tl::unexpected(claim_exists.error());
  if (!*claim_exists) return not_found("no claim certificate " + *claim);
  Change registered;
  auto certificate = insert_certificate(db_, *cert, std::optional<std::string>(*ca),
                                        CertificateStatus::pending_activation, now, registered);
  if (!certificate) return certificate;
  auto stmt = db_.prepare("INSERT INTO certificate_ownership_tokens (" +
                          std::string(kTokenColumns) + ") VALUES (?1, ?2, ?3, ?4, NULL, ?5)");
  if (!stmt) return internal(stmt.error());
  stmt->bind(1, token.token_hash)
      .bind(2, certificate->id)
      .bind(3, *claim)
      .bind(4, to_db(token.expires_at))
      .bind(5, to_db(now));
  if (auto ok = stmt->run(); !ok) return internal(ok.error());
  registered.details["claimCertificateId"] = *claim;
  registered.details["ownershipTokenExpiresAt"] = crypto::format_time(token.expires_at);
  if (auto ok = record(actor, registered); !ok) return tl::unexpected(ok.error());
  if (auto ok = txn->commit(); !ok) return internal(ok.error());
  return certificate;
}

RegistryResult<std::optional<OwnershipToken>> Registry::find_ownership_token(
    std::string_view token_hash) {
  if (!is_hex64(token_hash)) {
    return invalid("certificate ownership token hash must be 64 lower-case hex digits");
  }
  return load_token(db_, token_hash);
}

RegistryResult<ProvisionedThing> Registry::provision(std::string_view actor,
                                                     const ProvisioningPlan& plan) {
  if (auto ok = check_actor(actor); !ok) return invalid(ok.error());
  if (auto ok = check_plan(plan); !ok) return tl::unexpected(ok.error());
  std::optional<crypto::Certificate> to_register;
  std::string registration_ca;
  if (plan.registration) {
    auto cert = parse_one_certificate("certificate", plan.registration->pem);
    if (!cert) return tl::unexpected(cert.error());
    if (to_hex(cert->fingerprint()) != plan.certificate_id) {
      return invalid("the certificate to register is " + to_hex(cert->fingerprint()) +
                     ", not the plan's " + plan.certificate_id);
    }
    auto ca = normalize_certificate_id(plan.registration->ca_id);
    if (!ca) return invalid(ca.error());
    to_register = std::move(*cert);
    registration_ca = *ca;
  }
  auto txn = db_.begin_write();
  if (!txn) return internal(txn.error());
  const Time now = clock_();
  std::vector<Change> changes;
  if (to_register) {
    Change registered;
    auto inserted =
        insert_certificate(db_, *to_register, std::optional<std::string>(registration_ca),
                           CertificateStatus::pending_activation, now, registered);
    if (!inserted) return tl::unexpected(inserted.error());
    changes.push_back(std::move(registered));
  }
  if (plan.token) {
    if (auto ok = apply_token(db_, plan, now, changes); !ok) return tl::unexpected(ok.error());
  }
  ProvisionedThing result;
  auto certificate = apply_certificate_status(db_, plan, changes);
  if (!certificate) return tl::unexpected(certificate.error());
  result.certificate = std::move(*certificate);
  auto existed = load_thing(db_, plan.thing.name);
  if (!existed) return tl::unexpected(existed.error());
  auto thing = apply_thing(db_, plan.thing, now, changes);
  if (!thing) return tl::unexpected(thing.error());
  result.thing = std::move(*thing);
  auto groups = apply_groups(db_, plan.thing, /*created=*/!existed->has_value(), changes);
  if (!groups) return tl::unexpected(groups.error());
  result.groups = std::move(*groups);
  auto attached =
      exists(db_, "SELECT 1 FROM thing_principals WHERE certificate_id = ?1 AND thing_name = ?2",
             plan.certificate_id, plan.thing.name);
  if (!attached) return tl::unexpected(attached.error());
  if (!*attached) {
    if (auto ok =
            run(db_, "INSERT INTO thing_principals (certificate_id, thing_name) VALUES (?1, ?2)",
                plan.certificate_id, plan.thing.name);
        !ok) {
      return tl::unexpected(ok.error());
    }
    changes.push_back({"certificate.attach-thing",
                       "certificate",
                       plan.certificate_id,
                       {{"thing", plan.thing.name}}});
  }
  for (const PolicyProvisioning& policy : plan.policies) {
    if (auto ok = apply_policy(db_, policy, plan.certificate_id, now, changes); !ok) {
      return tl::unexpected(ok.error());
    }
    result.policies.push_back(policy.name);
  }
  for (Change& change : changes) {
    if (auto ok = record(actor, change); !ok) return tl::unexpected(ok.error());
  }
  if (auto ok = txn->commit(); !ok) return internal(ok.error());
  return result;
}

}  // namespace ironroot::fleet
