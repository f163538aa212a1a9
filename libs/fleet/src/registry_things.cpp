// Things: create, describe, list, update, delete.
#include "ironroot/crypto/certificate_authority.hpp"
#include "registry_internal.hpp"

namespace ironroot::fleet {

namespace {

constexpr std::string_view kThingColumns =
    "name, thing_type, attributes, firmware_version, version, created_at, updated_at";

RegistryResult<Thing> read_thing(Statement& row) {
  Thing thing;
  thing.name = row.text(0);
  thing.thing_type = row.optional_text(1);
  auto attributes = nlohmann::json::parse(row.text(2), nullptr, /*allow_exceptions=*/false);
  if (!attributes.is_object()) {
    return internal(Error{"thing '" + thing.name + "': stored attributes are not a JSON object"});
  }
  for (const auto& [name, value] : attributes.items()) {
    if (!value.is_string()) {
      return internal(Error{"thing '" + thing.name + "': stored attribute is not a string"});
    }
    thing.attributes.emplace(name, value.get<std::string>());
  }
  thing.firmware_version = row.optional_text(3);
  thing.version = row.integer(4);
  thing.created_at = from_db(row.integer(5));
  thing.updated_at = from_db(row.integer(6));
  return thing;
}

nlohmann::json attributes_json(const Attributes& attributes) {
  nlohmann::json object = nlohmann::json::object();
  for (const auto& [name, value] : attributes) object[name] = value;
  return object;
}

RegistryResult<void> check_new_thing(const NewThing& thing) {
  if (auto ok = crypto::check_thing_name(thing.name); !ok) return invalid(ok.error());
  if (thing.thing_type) {
    if (auto ok = check_thing_type_name(*thing.thing_type); !ok) return invalid(ok.error());
  }
  if (auto ok = check_attributes(thing.attributes); !ok) return invalid(ok.error());
  if (thing.firmware_version) {
    if (auto ok = check_firmware_version(*thing.firmware_version); !ok) {
      return invalid(ok.error());
    }
  }
  return {};
}

// Applies `update` to `thing`, checking the result.
RegistryResult<void> apply(const ThingUpdate& update, Thing& thing) {
  if (update.thing_type && update.remove_thing_type) {
    return invalid("an update cannot both set and remove the thing type");
  }
  if (update.thing_type) {
    if (auto ok = check_thing_type_name(*update.thing_type); !ok) return invalid(ok.error());
    thing.thing_type = update.thing_type;
  }
  if (update.remove_thing_type) thing.thing_type.reset();
  if (update.attributes) {
    if (!update.merge_attributes) thing.attributes.clear();
    for (const auto& [name, value] : *update.attributes) {
      if (auto ok = check_attribute_name(name); !ok) return invalid(ok.error());
      if (update.merge_attributes && value.empty()) {
        thing.attributes.erase(name);
      } else {
        thing.attributes[name] = value;
      }
    }
    if (auto ok = check_attributes(thing.attributes); !ok) return invalid(ok.error());
  }
  if (update.firmware_version) {
    if (auto ok = check_firmware_version(*update.firmware_version); !ok) {
      return invalid(ok.error());
    }
    thing.firmware_version = update.firmware_version;
  }
  return {};
}

RegistryResult<void> check_version(const Thing& thing, std::optional<std::int64_t> expected) {
  if (expected && *expected != thing.version) {
    return conflict(quoted("thing", thing.name) + " is at version " +
                    std::to_string(thing.version) + ", not " + std::to_string(*expected) +
                    ": someone changed it meanwhile; read it again");
  }
  return {};
}

}  // namespace

RegistryResult<std::optional<Thing>> load_thing(Database& db, std::string_view name) {
  auto stmt = db.prepare("SELECT " + std::string(kThingColumns) + " FROM things WHERE name = ?1");
  if (!stmt) return internal(stmt.error());
  auto row = stmt->bind(1, name).step();
  if (!row) return internal(row.error());
  if (!*row) return std::optional<Thing>();
  auto thing = read_thing(*stmt);
  if (!thing) return tl::unexpected(thing.error());
  return std::optional<Thing>(std::move(*thing));
}

RegistryResult<Thing> Registry::create_thing(std::string_view actor, const NewThing& spec) {
  if (auto ok = check_new_thing(spec); !ok) return tl::unexpected(ok.error());
  return mutate<Thing>(actor, [&](Change& change) -> RegistryResult<Thing> {
    auto existing = load_thing(db_, spec.name);
    if (!existing) return tl::unexpected(existing.error());
    if (*existing) return already_exists(quoted("thing", spec.name) + " already exists");
    const Time now = clock_();
    Thing thing{spec.name, spec.thing_type, spec.attributes, spec.firmware_version, 1, now, now};
    auto stmt = db_.prepare("INSERT INTO things (" + std::string(kThingColumns) +
                            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    if (!stmt) return internal(stmt.error());
    stmt->bind(1, thing.name)
        .bind(2, thing.thing_type)
        .bind(3, attributes_json(thing.attributes).dump())
        .bind(4, thing.firmware_version)
        .bind(5, thing.version)
        .bind(6, to_db(now))
        .bind(7, to_db(now));
    if (auto ok = stmt->run(); !ok) return internal(ok.error());
    change = {"thing.create",
              "thing",
              thing.name,
              {{"thingType", thing.thing_type.value_or("")},
               {"attributes", attributes_json(thing.attributes)},
               {"firmwareVersion", thing.firmware_version.value_or("")}}};
    return thing;
  });
}

RegistryResult<Thing> Registry::describe_thing(std::string_view name) {
  auto thing = load_thing(db_, name);
  if (!thing) return tl::unexpected(thing.error());
  if (!*thing) return not_found("no " + quoted("thing", name));
  return std::move(**thing);
}

RegistryResult<Listing<Thing>> Registry::list_things(const Page& page) {
  auto limit = page_limit(page);
  if (!limit) return tl::unexpected(limit.error());
  auto stmt = db_.prepare("SELECT " + std::string(kThingColumns) +
                          " FROM things WHERE name > ?1 ORDER BY name LIMIT ?2");
  if (!stmt) return internal(stmt.error());
  stmt->bind(1, page.next_token).bind(2, static_cast<std::int64_t>(*limit + 1));
  return collect<Thing>(*stmt, *limit, read_thing, [](const Thing& t) { return t.name; });
}

RegistryResult<Thing> Registry::update_thing(std::string_view actor, std::string_view name,
                                             const ThingUpdate& update) {
  return mutate<Thing>(actor, [&](Change& change) -> RegistryResult<Thing> {
    auto loaded = load_thing(db_, name);
    if (!loaded) return tl::unexpected(loaded.error());
    if (!*loaded) return not_found("no " + quoted("thing", name));
    Thing thing = std::move(**loaded);
    if (auto ok = check_version(thing, update.expected_version); !ok) {
      return tl::unexpected(ok.error());
    }
    if (auto ok = apply(update, thing); !ok) return tl::unexpected(ok.error());
    thing.version += 1;
    thing.updated_at = clock_();
    auto stmt = db_.prepare(
        "UPDATE things SET thing_type = ?2, attributes = ?3, firmware_version = ?4, "
        "version = ?5, updated_at = ?6 WHERE name = ?1");
    if (!stmt) return internal(stmt.error());
    stmt->bind(1, thing.name)
        .bind(2, thing.thing_type)
        .bind(3, attributes_json(thing.attributes).dump())
        .bind(4, thing.firmware_version)
        .bind(5, thing.version)
        .bind(6, to_db(thing.updated_at));
    if (auto ok = stmt->run(); !ok) return internal(ok.error());
    change = {"thing.update",
              "thing",
              thing.name,
              {{"version", thing.version},
               {"thingType", thing.thing_type.value_or("")},
               {"attributes", attributes_json(thing.attributes)},
               {"firmwareVersion", thing.firmware_version.value_or("")}}};
    return thing;
  });
}

RegistryResult<void> Registry::delete_thing(std::string_view actor, std::string_view name,
                                            std::optional<std::int64_t> expected_version) {
  return mutate<void>(actor, [&](Change& change) -> RegistryResult<void> {
    auto loaded = load_thing(db_, name);
    if (!loaded) return tl::unexpected(loaded.error());
    if (!*loaded) return not_found("no " + quoted("thing", name));
    if (auto ok = check_version(**loaded, expected_version); !ok) return ok;
    auto principals =
        strings(db_, "SELECT certificate_id FROM thing_principals WHERE thing_name = ?1", name);
    if (!principals) return tl::unexpected(principals.error());
    if (!principals->empty()) {
      return conflict(quoted("thing", name) + " has " + std::to_string(principals->size()) +
                      " certificate(s) attached (" + principals->front() +
                      (principals->size() > 1 ? ", ..." : "") + "): detach them first");
    }
    auto stmt = db_.prepare("DELETE FROM things WHERE name = ?1");
    if (!stmt) return internal(stmt.error());
    if (auto ok = stmt->bind(1, name).run(); !ok) return internal(ok.error());
    change = {"thing.delete", "thing", std::string(name), {{"version", (*loaded)->version}}};
    return {};
  });
}

}  // namespace ironroot::fleet
