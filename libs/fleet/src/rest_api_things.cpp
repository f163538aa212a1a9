// /v1/things and /v1/groups: things, thing groups and their members.
#include "rest_api_internal.hpp"

namespace ironroot::fleet::rest {

namespace {

using nlohmann::json;

Answer create_thing(Call& call) {
  Fields f(call.body, {"thingName", "thingTypeName", "attributes", "firmwareVersion"});
  NewThing thing;
  thing.name = f.text("thingName", true).value_or("");
  thing.thing_type = f.text("thingTypeName");
  thing.attributes = f.attributes("attributes").value_or(Attributes{});
  thing.firmware_version = f.text("firmwareVersion");
  if (f.error()) return tl::unexpected(*f.error());
  return answer(call.registry.create_thing(call.actor, thing), 201, thing_json);
}

Answer list_things(Call& call) {
  auto page = page_of(call);
  if (!page) return tl::unexpected(page.error());
  return answer(call.registry.list_things(*page), 200,
                [](const Listing<Thing>& l) { return listing_json(l, thing_json); });
}

// The thing, with the groups it is in and the certificates attached to it.
Answer describe_thing(Call& call) {
  auto thing = call.registry.describe_thing(call.segments[0]);
  if (!thing) return refused(thing.error());
  auto groups = call.registry.groups_of(thing->name);
  if (!groups) return refused(groups.error());
  auto certificates = call.registry.certificates_of(thing->name);
  if (!certificates) return refused(certificates.error());
  json out = thing_json(*thing);
  out["groups"] = *groups;
  out["certificateIds"] = *certificates;
  return Reply{200, std::move(out)};
}

Answer update_thing(Call& call) {
  Fields f(call.body, {"thingTypeName", "attributes", "mergeAttributes", "firmwareVersion",
                       "expectedVersion"});
  ThingUpdate update;
  if (auto type = f.nullable_text("thingTypeName")) {
    update.thing_type = *type;
    update.remove_thing_type = !type->has_value();
  }
  update.attributes = f.attributes("attributes");
  update.merge_attributes = f.boolean("mergeAttributes").value_or(true);
  update.firmware_version = f.text("firmwareVersion");
  update.expected_version = f.integer("expectedVersion");
  if (f.error()) return tl::unexpected(*f.error());
  return answer(call.registry.update_thing(call.actor, call.segments[0], update), 200, thing_json);
}

Answer delete_thing(Call& call) {
  auto expected = integer_query(call, "expectedVersion");
  if (!expected) return tl::unexpected(expected.error());
  return no_content(call.registry.delete_thing(call.actor, call.segments[0], *expected));
}

Answer groups_of_thing(Call& call) {
  return answer(call.registry.groups_of(call.segments[0]), 200, names_json);
}

Answer certificates_of_thing(Call& call) {
  // certificates_of answers for an unknown thing too: tell the caller it does not exist.
  if (auto thing = call.registry.describe_thing(call.segments[0]); !thing) {
    return refused(thing.error());
  }
  return answer(call.registry.certificates_of(call.segments[0]), 200, names_json);
}

Answer create_group(Call& call) {
  Fields f(call.body, {"groupName", "description", "queryString"});
  NewThingGroup group;
  group.name = f.text("groupName", true).value_or("");
  group.description = f.text("description").value_or("");
  group.query = f.text("queryString");
  if (f.error()) return tl::unexpected(*f.error());
  return answer(call.registry.create_group(call.actor, group), 201, group_json);
}

Answer list_groups(Call& call) {
  auto page = page_of(call);
  if (!page) return tl::unexpected(page.error());
  return answer(call.registry.list_groups(*page), 200,
                [](const Listing<ThingGroup>& l) { return listing_json(l, group_json); });
}

Answer describe_group(Call& call) {
  return answer(call.registry.describe_group(call.segments[0]), 200, group_json);
}

Answer delete_group(Call& call) {
  return no_content(call.registry.delete_group(call.actor, call.segments[0]));
}

Answer group_members(Call& call) {
  auto page = page_of(call);
  if (!page) return tl::unexpected(page.error());
  return answer(call.registry.members(call.segments[0], *page), 200,
                [](const Listing<std::string>& l) {
                  return listing_json(l, [](const std::string& name) { return json(name); });
                });
}

Answer add_member(Call& call) {
  return no_content(call.registry.add_to_group(call.actor, call.segments[0], call.segments[1]));
}

Answer remove_member(Call& call) {
  return no_content(
      call.registry.remove_from_group(call.actor, call.segments[0], call.segments[1]));
}

}  // namespace

std::vector<Route> thing_routes() {
  return {
      {"POST", "/v1/things", {}, kBody, create_thing},
      {"GET", "/v1/things", {"limit", "next"}, kNoBody, list_things},
      {"GET", "/v1/things/*", {}, kNoBody, describe_thing},
      {"PATCH", "/v1/things/*", {}, kBody, update_thing},
      {"DELETE", "/v1/things/*", {"expectedVersion"}, kNoBody, delete_thing},
      {"GET", "/v1/things/*/groups", {}, kNoBody, groups_of_thing},
      {"GET", "/v1/things/*/certificates", {}, kNoBody, certificates_of_thing},
  };
}

std::vector<Route> group_routes() {
  return {
      {"POST", "/v1/groups", {}, kBody, create_group},
      {"GET", "/v1/groups", {"limit", "next"}, kNoBody, list_groups},
      {"GET", "/v1/groups/*", {}, kNoBody, describe_group},
      {"DELETE", "/v1/groups/*", {}, kNoBody, delete_group},
      {"GET", "/v1/groups/*/members", {"limit", "next"}, kNoBody, group_members},
      {"PUT", "/v1/groups/*/members/*", {}, kNoBody, add_member},
      {"DELETE", "/v1/groups/*/members/*", {}, kNoBody, remove_member},
  };
}

}  // namespace ironroot::fleet::rest
