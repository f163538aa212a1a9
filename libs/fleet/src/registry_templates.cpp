// Provisioning templates: the JSON bodies fleet and just-in-time provisioning apply.
#include "registry_internal.hpp"

namespace ironroot::fleet {

namespace {

constexpr std::string_view kTemplateColumns =
    "name, description, body, enabled, pre_provisioning_hook, version, created_at, updated_at";

RegistryResult<ProvisioningTemplate> read_template(Statement& row) {
  return ProvisioningTemplate{row.text(0),
                              row.text(1),
                              row.text(2),
                              row.integer(3) != 0,
                              row.optional_text(4),
                              row.integer(5),
                              from_db(row.integer(6)),
                              from_db(row.integer(7))};
}

RegistryResult<ProvisioningTemplate> require_template(Database& db, std::string_view name) {
  auto stmt = db.prepare("SELECT " + std::string(kTemplateColumns) +
                         " FROM provisioning_templates WHERE name = ?1");
  if (!stmt) return internal(stmt.error());
  auto row = stmt->bind(1, name).step();
  if (!row) return internal(row.error());
  if (!*row) return not_found("no " + quoted("provisioning template", name));
  return read_template(*stmt);
}

RegistryResult<void> check_fields(const std::optional<std::string>& description,
                                  const std::optional<std::string>& body,
                                  const std::optional<std::string>& hook) {
  if (description) {
    if (auto ok = check_text("template description", *description, kMaxTemplateDescriptionLength);
        !ok) {
      return invalid(ok.error());
    }
  }
  if (body) {
    if (auto ok = check_json_object("template body", *body, kMaxTemplateBodyLength); !ok) {
      return invalid(ok.error());
    }
  }
  if (hook) {
    if (hook->empty()) return invalid("a pre-provisioning hook cannot be empty");
    if (auto ok = check_text("pre-provisioning hook", *hook, kMaxHookLength); !ok) {
      return invalid(ok.error());
    }
  }
  return {};
}

Status write_template(Database& db, const ProvisioningTemplate& t, bool insert) {
  auto stmt = db.prepare(
      insert ? "INSERT INTO provisioning_templates (" + std::string(kTemplateColumns) +
                   ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
             : std::string("UPDATE provisioning_templates SET description = ?2, body = ?3, "
                           "enabled = ?4, pre_provisioning_hook = ?5, version = ?6, "
                           "created_at = ?7, updated_at = ?8 WHERE name = ?1"));
  if (!stmt) return tl::unexpected(stmt.error());
  stmt->bind(1, t.name)
      .bind(2, t.description)
      .bind(3, t.body)
      .bind(4, std::int64_t{t.enabled ? 1 : 0})
      .bind(5, t.pre_provisioning_hook)
      .bind(6, t.version)
      .bind(7, to_db(t.created_at))
      .bind(8, to_db(t.updated_at));
  return stmt->run();
}

}  // namespace

RegistryResult<ProvisioningTemplate> Registry::create_template(
    std::string_view actor, const NewProvisioningTemplate& spec) {
  if (auto ok = check_template_name(spec.name); !ok) return invalid(ok.error());
  if (auto ok = check_fields(spec.description, spec.body, spec.pre_provisioning_hook); !ok) {
    return tl::unexpected(ok.error());
  }
  return mutate<ProvisioningTemplate>(
      actor, [&](Change& change) -> RegistryResult<ProvisioningTemplate> {
        if (auto existing = require_template(db_, spec.name); existing) {
          return already_exists(quoted("provisioning template", spec.name) + " already exists");
        } else if (existing.error().code != RegistryErrorCode::not_found) {
          return existing;
        }
        const Time now = clock_();
        ProvisioningTemplate t{spec.name,
                               spec.description,
                               spec.body,
                               spec.enabled,
                               spec.pre_provisioning_hook,
                               1,
                               now,
                               now};
        if (auto ok = write_template(db_, t, /*insert=*/true); !ok) return internal(ok.error());
        change = {"template.create",
                  "template",
                  t.name,
                  {{"enabled", t.enabled}, {"version", t.version}}};
        return t;
      });
}

RegistryResult<ProvisioningTemplate> Registry::describe_template(std::string_view name) {
  return require_template(db_, name);
}

RegistryResult<Listing<ProvisioningTemplate>> Registry::list_templates(const Page& page) {
  auto limit = page_limit(page);
  if (!limit) return tl::unexpected(limit.error());
  auto stmt = db_.prepare("SELECT " + std::string(kTemplateColumns) +
                          " FROM provisioning_templates WHERE name > ?1 ORDER BY name LIMIT ?2");
  if (!stmt) return internal(stmt.error());
  stmt->bind(1, page.next_token).bind(2, static_cast<std::int64_t>(*limit + 1));
  return collect<ProvisioningTemplate>(*stmt, *limit, read_template,
                                       [](const ProvisioningTemplate& t) { return t.name; });
}

RegistryResult<ProvisioningTemplate> Registry::update_template(
    std::string_view actor, std::string_view name, const ProvisioningTemplateUpdate& update) {
  if (update.pre_provisioning_hook && update.remove_pre_provisioning_hook) {
    return invalid("an update cannot both set and remove the pre-provisioning hook");
  }
  if (auto ok = check_fields(update.description, update.body, update.pre_provisioning_hook); !ok) {
    return tl::unexpected(ok.error());
  }
  return mutate<ProvisioningTemplate>(
      actor, [&](Change& change) -> RegistryResult<ProvisioningTemplate> {
        auto t = require_template(db_, name);
        if (!t) return t;
        if (update.expected_version && *update.expected_version != t->version) {
          return conflict(quoted("provisioning template", name) + " is at version " +
                          std::to_string(t->version) + ", not " +
                          std::to_string(*update.expected_version));
        }
        if (update.description) t->description = *update.description;
        if (update.body) t->body = *update.body;
        if (update.enabled) t->enabled = *update.enabled;
        if (update.pre_provisioning_hook) t->pre_provisioning_hook = update.pre_provisioning_hook;
        if (update.remove_pre_provisioning_hook) t->pre_provisioning_hook.reset();
        t->version += 1;
        t->updated_at = clock_();
        if (auto ok = write_template(db_, *t, /*insert=*/false); !ok) return internal(ok.error());
        change = {"template.update",
                  "template",
                  t->name,
                  {{"enabled", t->enabled}, {"version", t->version}}};
        return t;
      });
}

RegistryResult<void> Registry::delete_template(std::string_view actor, std::string_view name) {
  return mutate<void>(actor, [&](Change& change) -> RegistryResult<void> {
    auto t = require_template(db_, name);
    if (!t) return tl::unexpected(t.error());
    auto users =
        strings(db_, "SELECT id FROM ca_certificates WHERE provisioning_template = ?1", name);
    if (!users) return tl::unexpected(users.error());
    if (!users->empty()) {
      return conflict(quoted("provisioning template", name) + " is the just-in-time template of " +
                      std::to_string(users->size()) + " registered CA(s) (" + users->front() +
                      (users->size() > 1 ? ", ..." : "") + "): change them first");
    }
    auto stmt = db_.prepare("DELETE FROM provisioning_templates WHERE name = ?1");
    if (!stmt) return internal(stmt.error());
    if (auto ok = stmt->bind(1, name).run(); !ok) return internal(ok.error());
    change = {"template.delete", "template", std::string(name), {{"version", t->version}}};
    return {};
  });
}

}  // namespace ironroot::fleet
