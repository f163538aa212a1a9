// Thing groups: static membership, and dynamic membership by a query over the things.
#include <algorithm>

#include "ironroot/crypto/certificate_authority.hpp"
#include "ironroot/fleet/thing_query.hpp"
#include "registry_internal.hpp"

namespace ironroot::fleet {

namespace {

constexpr std::string_view kGroupColumns = "name, description, query, created_at";

RegistryResult<ThingGroup> read_group(Statement& row) {
  return ThingGroup{row.text(0), row.text(1), row.optional_text(2), from_db(row.integer(3))};
}

RegistryResult<std::optional<ThingGroup>> load_group(Database& db, std::string_view name) {
  auto stmt =
      db.prepare("SELECT " + std::string(kGroupColumns) + " FROM thing_groups WHERE name = ?1");
  if (!stmt) return internal(stmt.error());
  auto row = stmt->bind(1, name).step();
  if (!row) return internal(row.error());
  if (!*row) return std::optional<ThingGroup>();
  auto group = read_group(*stmt);
  if (!group) return tl::unexpected(group.error());
  return std::optional<ThingGroup>(std::move(*group));
}

// A stored query; it was checked when the group was created.
RegistryResult<ThingQuery> stored_query(const ThingGroup& group) {
  auto query = ThingQuery::parse(group.query.value_or(""));
  if (!query) {
    return internal(Error{"stored query of thing group '" + group.name +
                          "' no longer parses: " + query.error().message});
  }
  return std::move(*query);
}

}  // namespace

RegistryResult<std::vector<std::string>> load_groups_of(Database& db, const Thing& thing) {
  auto groups =
      strings(db, "SELECT group_name FROM group_members WHERE thing_name = ?1", thing.name);
  if (!groups) return groups;
  auto stmt = db.prepare("SELECT " + std::string(kGroupColumns) +
                         " FROM thing_groups WHERE query IS NOT NULL ORDER BY name");
  if (!stmt) return internal(stmt.error());
  for (;;) {
    auto row = stmt->step();
    if (!row) return internal(row.error());
    if (!*row) break;
    auto group = read_group(*stmt);
    if (!group) return tl::unexpected(group.error());
    auto query = stored_query(*group);
    if (!query) return tl::unexpected(query.error());
    if (query->matches(thing)) groups->push_back(group->name);
  }
  std::sort(groups->begin(), groups->end());
  return groups;
}

RegistryResult<ThingGroup> Registry::create_group(std::string_view actor,
                                                  const NewThingGroup& spec) {
  if (auto ok = check_group_name(spec.name); !ok) return invalid(ok.error());
  if (auto ok = check_text("thing group description", spec.description, kMaxGroupDescriptionLength);
      !ok) {
    return invalid(ok.error());
  }
  if (spec.query) {
    if (auto query = ThingQuery::parse(*spec.query); !query) return invalid(query.error());
  }
  return mutate<ThingGroup>(actor, [&](Change& change) -> RegistryResult<ThingGroup> {
    auto existing = load_group(db_, spec.name);
    if (!existing) return tl::unexpected(existing.error());
    if (*existing) return already_exists(quoted("thing group", spec.name) + " already exists");
    ThingGroup group{spec.name, spec.description, spec.query, clock_()};
    auto stmt = db_.prepare("INSERT INTO thing_groups (" + std::string(kGroupColumns) +
                            ") VALUES (?1, ?2, ?3, ?4)");
    if (!stmt) return internal(stmt.error());
    stmt->bind(1, group.name).bind(2, group.description).bind(3, group.query);
    stmt->bind(4, to_db(group.created_at));
    if (auto ok = stmt->run(); !ok) return internal(ok.error());
    change = {"thing-group.create",
              "thing-group",
              group.name,
              {{"description", group.description},
               {"kind", group.is_dynamic() ? "dynamic" : "static"},
               {"query", group.query.value_or("")}}};
    return group;
  });
}

RegistryResult<ThingGroup> Registry::describe_group(std::string_view name) {
  auto group = load_group(db_, name);
  if (!group) return tl::unexpected(group.error());
  if (!*group) return not_found("no " + quoted("thing group", name));
  return std::move(**group);
}

RegistryResult<Listing<ThingGroup>> Registry::list_groups(const Page& page) {
  auto limit = page_limit(page);
  if (!limit) return tl::unexpected(limit.error());
  auto stmt = db_.prepare("SELECT " + std::string(kGroupColumns) +
                          " FROM thing_groups WHERE name > ?1 ORDER BY name LIMIT ?2");
  if (!stmt) return internal(stmt.error());
  stmt->bind(1, page.next_token).bind(2, static_cast<std::int64_t>(*limit + 1));
  return collect<ThingGroup>(*stmt, *limit, read_group, [](const ThingGroup& g) { return g.name; });
}

RegistryResult<void> Registry::delete_group(std::string_view actor, std::string_view name) {
  return mutate<void>(actor, [&](Change& change) -> RegistryResult<void> {
    auto group = load_group(db_, name);
    if (!group) return tl::unexpected(group.error());
    if (!*group) return not_found("no " + quoted("thing group", name));
    auto stmt = db_.prepare("DELETE FROM thing_groups WHERE name = ?1");
    if (!stmt) return internal(stmt.error());
    if (auto ok = stmt->bind(1, name).run(); !ok) return internal(ok.error());
    change = {"thing-group.delete", "thing-group", std::string(name), nlohmann::json::object()};
    return {};
  });
}

RegistryResult<void> Registry::add_to_group(std::string_view actor, std::string_view group_name,
                                            std::string_view thing_name) {
  return mutate<void>(actor, [&](Change& change) -> RegistryResult<void> {
    auto group = load_group(db_, group_name);
    if (!group) return tl::unexpected(group.error());
    if (!*group) return not_found("no " + quoted("thing group", group_name));
    if ((*group)->is_dynamic()) {
      return invalid(quoted("thing group", group_name) +
                     " is dynamic: its members are the things its query matches");
    }
    auto thing = load_thing(db_, thing_name);
    if (!thing) return tl::unexpected(thing.error());
    if (!*thing) return not_found("no " + quoted("thing", thing_name));
    auto member =
        exists(db_, "SELECT 1 FROM group_members WHERE group_name = ?1 AND thing_name = ?2",
               group_name, thing_name);
    if (!member) return tl::unexpected(member.error());
    if (*member) {
      return already_exists(quoted("thing", thing_name) + " is already in " +
                            quoted("thing group", group_name));
    }
    auto stmt = db_.prepare("INSERT INTO group_members (group_name, thing_name) VALUES (?1, ?2)");
    if (!stmt) return internal(stmt.error());
    if (auto ok = stmt->bind(1, group_name).bind(2, thing_name).run(); !ok) {
      return internal(ok.error());
    }
    change = {
        "thing-group.add-thing", "thing-group", std::string(group_name), {{"thing", thing_name}}};
    return {};
  });
}

RegistryResult<void> Registry::remove_from_group(std::string_view actor,
                                                 std::string_view group_name,
                                                 std::string_view thing_name) {
  return mutate<void>(actor, [&](Change& change) -> RegistryResult<void> {
    auto stmt = db_.prepare("DELETE FROM group_members WHERE group_name = ?1 AND thing_name = ?2");
    if (!stmt) return internal(stmt.error());
    if (auto ok = stmt->bind(1, group_name).bind(2, thing_name).run(); !ok) {
      return internal(ok.error());
    }
    if (db_.changes() == 0) {
      return not_found(quoted("thing", thing_name) + " is not a static member of " +
                       quoted("thing group", group_name));
    }
    change = {"thing-group.remove-thing",
              "thing-group",
              std::string(group_name),
              {{"thing", thing_name}}};
    return {};
  });
}

RegistryResult<std::vector<std::string>> Registry::groups_of(std::string_view thing_name) {
  auto txn = db_.begin_read();
  if (!txn) return internal(txn.error());
  auto thing = load_thing(db_, thing_name);
  if (!thing) return tl::unexpected(thing.error());
  if (!*thing) return not_found("no " + quoted("thing", thing_name));
  return load_groups_of(db_, **thing);
}

RegistryResult<Listing<std::string>> Registry::members(std::string_view group_name,
                                                       const Page& page) {
  auto limit = page_limit(page);
  if (!limit) return tl::unexpected(limit.error());
  auto txn = db_.begin_read();
  if (!txn) return internal(txn.error());
  auto group = load_group(db_, group_name);
  if (!group) return tl::unexpected(group.error());
  if (!*group) return not_found("no " + quoted("thing group", group_name));
  const auto wanted = static_cast<std::int64_t>(*limit + 1);
  auto name_of = [](const std::string& name) { return name; };
  if (!(*group)->is_dynamic()) {
    auto stmt = db_.prepare(
        "SELECT thing_name FROM group_members WHERE group_name = ?1 AND thing_name > ?2 "
        "ORDER BY thing_name LIMIT ?3");
    if (!stmt) return internal(stmt.error());
    stmt->bind(1, group_name).bind(2, page.next_token).bind(3, wanted);
    auto read = [](Statement& row) -> RegistryResult<std::string> { return row.text(0); };
    return collect<std::string>(*stmt, *limit, read, name_of);
  }
  auto query = stored_query(**group);
  if (!query) return tl::unexpected(query.error());
  // Things in name order, each read once; only the matching ones count towards the page.
  Listing<std::string> listing;
  std::string after = page.next_token;
  for (;;) {
    auto batch = list_things(Page{kMaxPageLimit, after});
    if (!batch) return tl::unexpected(batch.error());
    for (const Thing& thing : batch->items) {
      if (!query->matches(thing)) continue;
      if (listing.items.size() == *limit) {
        listing.next_token = listing.items.back();
        return listing;
      }
      listing.items.push_back(thing.name);
    }
    if (batch->next_token.empty()) return listing;
    after = batch->next_token;
  }
}

}  // namespace ironroot::fleet
