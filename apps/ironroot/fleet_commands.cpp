#include "fleet_commands.hpp"

#include <algorithm>
#include <cstdio>

#include "fleet_command_support.hpp"
#include "ironroot/core/file.hpp"

namespace ironroot::cli {

namespace {

using nlohmann::json;

constexpr std::uintmax_t kMaxInputFileSize = 1024 * 1024;

std::string thing_path(const std::string& name) {
  return "/v1/things/" + path_segment(name);
}
std::string group_path(const std::string& name) {
  return "/v1/groups/" + path_segment(name);
}

// --attr NAME=VALUE options as a JSON object.
Result<json> attributes_of(const std::vector<std::string>& pairs) {
  json attributes = json::object();
  for (const std::string& pair : pairs) {
    std::size_t eq = pair.find('=');
    if (eq == std::string::npos || eq == 0) {
      return fail("--attr '" + pair + "' must be NAME=VALUE");
    }
    attributes[pair.substr(0, eq)] = pair.substr(eq + 1);
  }
  return attributes;
}

std::string attributes_text(const json& thing) {
  std::string text;
  const json attributes = thing.value("attributes", json::object());
  for (const auto& [name, value] : attributes.items()) {
    text += (text.empty() ? "" : ", ") + name + "=" +
            (value.is_string() ? value.get<std::string>() : value.dump());
  }
  return text.empty() ? "-" : text;
}

// ---- thing ------------------------------------------------------------------------------------

void add_thing_commands(CLI::App& app, const FleetContext& context) {
  auto* thing = app.add_subcommand("thing", "Things (devices) in the fleet registry");
  thing->require_subcommand(1);

  {
    struct Args {
      std::string name, type, firmware;
      std::vector<std::string> attributes;
    };
    auto a = std::make_shared<Args>();
    auto* cmd = thing->add_subcommand("create", "Register a thing");
    cmd->add_option("name", a->name, "Thing name (its certificate's CN)")->required();
    cmd->add_option("--type", a->type, "Thing type name");
    cmd->add_option("--attr", a->attributes, "Attribute NAME=VALUE (repeatable)")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    cmd->add_option("--firmware-version", a->firmware, "Firmware version the device runs");
    cmd->callback([a, context] {
      auto attributes = attributes_of(a->attributes);
      if (!attributes) return context.usage_error(attributes.error().message);
      json body = {{"thingName", a->name}, {"attributes", *attributes}};
      if (!a->type.empty()) body["thingTypeName"] = a->type;
      if (!a->firmware.empty()) body["firmwareVersion"] = a->firmware;
      context.run([&](FleetClient& client) -> Result<Printed> {
        auto created = client.post("/v1/things", body);
        if (!created) return tl::unexpected(created.error());
        return Printed{"created thing " + field(*created, "thingName"), *created};
      });
    });
  }
  {
    auto limit = std::make_shared<std::size_t>(0);
    auto* cmd = thing->add_subcommand("list", "List things in name order");
    add_limit_option(*cmd, *limit);
    cmd->callback([limit, context] {
      context.run([&](FleetClient& client) -> Result<Printed> {
        auto listed = client.list("/v1/things", {}, limit_of(*limit));
        if (!listed) return tl::unexpected(listed.error());
        std::vector<std::vector<std::string>> rows;
        for (const json& t : (*listed)["items"]) {
          rows.push_back({field(t, "thingName"), field(t, "thingTypeName"),
                          field(t, "firmwareVersion"), field(t, "version"), attributes_text(t)});
        }
        return Printed{table({"NAME", "TYPE", "FIRMWARE", "VERSION", "ATTRIBUTES"}, rows), *listed};
      });
    });
  }
  {
    auto name = std::make_shared<std::string>();
    auto* cmd = thing->add_subcommand("describe", "Show a thing, its groups and certificates");
    cmd->add_option("name", *name, "Thing name")->required();
    cmd->callback([name, context] {
      context.run([&](FleetClient& client) -> Result<Printed> {
        auto t = client.get(thing_path(*name));
        if (!t) return tl::unexpected(t.error());
        return Printed{summary({{"thing", field(*t, "thingName")},
                                {"type", field(*t, "thingTypeName")},
                                {"firmware", field(*t, "firmwareVersion")},
                                {"version", field(*t, "version")},
                                {"attributes", attributes_text(*t)},
                                {"groups", joined(t->value("groups", json::array()))},
                                {"certificates", joined(t->value("certificateIds", json::array()))},
                                {"created", field(*t, "createdAt")},
                                {"updated", field(*t, "updatedAt")}}),
                       *t};
      });
    });
  }
  {
    struct Args {
      std::string name, type, firmware;
      bool remove_type = false, replace = false;
      std::vector<std::string> attributes;
      std::int64_t expected = 0;
    };
    auto a = std::make_shared<Args>();
    auto* cmd = thing->add_subcommand("update", "Change a thing's type, attributes or firmware");
    cmd->add_option("name", a->name, "Thing name")->required();
    auto* type = cmd->add_option("--type", a->type, "New thing type name");
    cmd->add_flag("--remove-type", a->remove_type, "Remove the thing type")->excludes(type);
    cmd->add_option("--attr", a->attributes,
                    "Attribute NAME=VALUE (repeatable; an empty VALUE removes it)")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    cmd->add_flag("--replace-attributes", a->replace,
                  "Replace all attributes with the --attr ones instead of merging");
    cmd->add_option("--firmware-version", a->firmware, "Firmware version the device runs");
    cmd->add_option("--expected-version", a->expected,
                    "Refuse the update unless the thing is at this version")
        ->check(CLI::PositiveNumber);
    cmd->callback([a, context] {
      auto attributes = attributes_of(a->attributes);
      if (!attributes) return context.usage_error(attributes.error().message);
      json body = json::object();
      if (!a->type.empty()) body["thingTypeName"] = a->type;
      if (a->remove_type) body["thingTypeName"] = nullptr;
      if (!a->attributes.empty() || a->replace) {
        body["attributes"] = *attributes;
        body["mergeAttributes"] = !a->replace;
      }
      if (!a->firmware.empty()) body["firmwareVersion"] = a->firmware;
      if (a->expected > 0) body["expectedVersion"] = a->expected;
      if (body.empty()) {
        return context.usage_error(
            "nothing to update: give --type, --remove-type, --attr or --firmware-version");
      }
      context.run([&](FleetClient& client) -> Result<Printed> {
        auto updated = client.patch(thing_path(a->name), body);
        if (!updated) return tl::unexpected(updated.error());
        return Printed{"updated thing " + a->name + " (version " + field(*updated, "version") + ")",
                       *updated};
      });
    });
  }
  {
    struct Args {
      std::string name;
      std::int64_t expected = 0;
    };
    auto a = std::make_shared<Args>();
    auto* cmd = thing->add_subcommand("delete", "Delete a thing (detach its certificates first)");
    cmd->add_option("name", a->name, "Thing name")->required();
    cmd->add_option("--expected-version", a->expected, "Refuse unless the thing is at this version")
        ->check(CLI::PositiveNumber);
    cmd->callback([a, context] {
      context.run([&](FleetClient& client) -> Result<Printed> {
        Query query;
        if (a->expected > 0) query.emplace_back("expectedVersion", std::to_string(a->expected));
        auto deleted = client.remove(thing_path(a->name), query);
        if (!deleted) return tl::unexpected(deleted.error());
        return Printed{"deleted thing " + a->name, {{"deleted", a->name}}};
      });
    });
  }
}

// ---- group ------------------------------------------------------------------------------------

void add_group_commands(CLI::App& app, const FleetContext& context) {
  auto* group = app.add_subcommand("group", "Thing groups: static, or dynamic by a query");
  group->require_subcommand(1);
  {
    struct Args {
      std::string name, description, query;
    };
    auto a = std::make_shared<Args>();
    auto* cmd =
        group->add_subcommand("create", "Create a static group, or a dynamic one (--query)");
    cmd->add_option("name", a->name, "Group name")->required();
    cmd->add_option("--description", a->description, "What the group is for");
    cmd->add_option("--query", a->query,
                    "Dynamic group: members are the things this query matches, e.g. "
                    "'attributes.site:hall-b AND firmwareVersion<2.0'");
    cmd->callback([a, context] {
      json body = {{"groupName", a->name}, {"description", a->description}};
      if (!a->query.empty()) body["queryString"] = a->query;
      context.run([&](FleetClient& client) -> Result<Printed> {
        auto created = client.post("/v1/groups", body);
        if (!created) return tl::unexpected(created.error());
        bool dynamic = created->value("dynamic", false);
        return Printed{
            std::string("created ") + (dynamic ? "dynamic" : "static") + " group " + a->name,
            *created};
      });
    });
  }
  {
    auto limit = std::make_shared<std::size_t>(0);
    auto* cmd = group->add_subcommand("list", "List groups in name order");
    add_limit_option(*cmd, *limit);
    cmd->callback([limit, context] {
      context.run([&](FleetClient& client) -> Result<Printed> {
        auto listed = client.list("/v1/groups", {}, limit_of(*limit));
        if (!listed) return tl::unexpected(listed.error());
        std::vector<std::vector<std::string>> rows;
        for (const json& g : (*listed)["items"]) {
          rows.push_back({field(g, "groupName"), g.value("dynamic", false) ? "dynamic" : "static",
                          field(g, "queryString"), field(g, "description")});
        }
        return Printed{table({"NAME", "KIND", "QUERY", "DESCRIPTION"}, rows), *listed};
      });
    });
  }
  {
    auto name = std::make_shared<std::string>();
    auto* cmd = group->add_subcommand("describe", "Show a group");
    cmd->add_option("name", *name, "Group name")->required();
    cmd->callback([name, context] {
      context.run([&](FleetClient& client) -> Result<Printed> {
        auto g = client.get(group_path(*name));
        if (!g) return tl::unexpected(g.error());
        return Printed{summary({{"group", field(*g, "groupName")},
                                {"kind", g->value("dynamic", false) ? "dynamic" : "static"},
                                {"query", field(*g, "queryString")},
                                {"description", field(*g, "description")},
                                {"created", field(*g, "createdAt")}}),
                       *g};
      });
    });
  }
  {
    auto name = std::make_shared<std::string>();
    auto* cmd = group->add_subcommand("delete", "Delete a group (its memberships and policies go)");
    cmd->add_option("name", *name, "Group name")->required();
    cmd->callback([name, context] {
      context.run([&](FleetClient& client) -> Result<Printed> {
        auto deleted = client.remove(group_path(*name));
        if (!deleted) return tl::unexpected(deleted.error());
        return Printed{"deleted group " + *name, {{"deleted", *name}}};
      });
    });
  }
  for (bool add : {true, false}) {
    struct Args {
      std::string group, thing;
    };
    auto a = std::make_shared<Args>();
    auto* cmd =
        group->add_subcommand(add ? "add" : "remove", add ? "Add a thing to a static group"
                                                          : "Remove a thing from a static group");
    cmd->add_option("group", a->group, "Group name")->required();
    cmd->add_option("thing", a->thing, "Thing name")->required();
    cmd->callback([a, add, context] {
      context.run([&](FleetClient& client) -> Result<Printed> {
        std::string path = group_path(a->group) + "/members/" + path_segment(a->thing);
        auto done = add ? client.put(path) : client.remove(path);
        if (!done) return tl::unexpected(done.error());
        return Printed{std::string(add ? "added " : "removed ") + a->thing +
                           (add ? " to group " : " from group ") + a->group,
                       {{"group", a->group}, {"thing", a->thing}, {"member", add}}};
      });
    });
  }
  {
    struct Args {
      std::string name;
      std::size_t limit = 0;
    };
    auto a = std::make_shared<Args>();
    auto* cmd = group->add_subcommand("members", "List a group's things (a dynamic group's now)");
    cmd->add_option("name", a->name, "Group name")->required();
    add_limit_option(*cmd, a->limit);
    cmd->callback([a, context] {
      context.run([&](FleetClient& client) -> Result<Printed> {
        auto listed = client.list(group_path(a->name) + "/members", {}, limit_of(a->limit));
        if (!listed) return tl::unexpected(listed.error());
        std::string text;
        for (const json& name : (*listed)["items"]) {
          text += (name.is_string() ? name.get<std::string>() : name.dump()) + "\n";
        }
        return Printed{text.empty() ? "(none)" : text, *listed};
      });
    });
  }
}

// ---- audit ------------------------------------------------------------------------------------

void add_audit_commands(CLI::App& app, const FleetContext& context) {
  auto* audit = app.add_subcommand("audit", "The registry's audit log: who changed what, when");
  audit->require_subcommand(1);
  struct Args {
    std::string target_type, target_id, since;
    std::size_t limit = 0;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = audit->add_subcommand("list", "List changes, oldest first");
  cmd->add_option("--target-type", a->target_type,
                  "Only changes to this kind of object: thing, thing-group, certificate, ca, "
                  "policy, template");
  cmd->add_option("--target-id", a->target_id, "Only changes to this object (name or id)");
  cmd->add_option("--since", a->since,
                  "Only changes at or after this time (YYYY-MM-DD or "
                  "YYYY-MM-DDTHH:MM:SSZ)");
  add_limit_option(*cmd, a->limit);
  cmd->callback([a, context] {
    Query query;
    if (!a->target_type.empty()) query.emplace_back("targetType", a->target_type);
    if (!a->target_id.empty()) query.emplace_back("targetId", a->target_id);
    if (!a->since.empty()) query.emplace_back("since", a->since);
    context.run([&](FleetClient& client) -> Result<Printed> {
      auto listed = client.list("/v1/audit", query, limit_of(a->limit));
      if (!listed) return tl::unexpected(listed.error());
      std::vector<std::vector<std::string>> rows;
      for (const json& e : (*listed)["items"]) {
        rows.push_back({field(e, "at"), field(e, "actor"), field(e, "action"),
                        field(e, "targetType") + " " + field(e, "targetId")});
      }
      return Printed{table({"AT", "ACTOR", "ACTION", "TARGET"}, rows), *listed};
    });
  });
}

}  // namespace

// ---- shared -----------------------------------------------------------------------------------

void FleetContext::run(const std::function<Result<Printed>(FleetClient&)>& command) const {
  auto endpoint = resolve_endpoint(*options);
  if (!endpoint) {
    exit_code = out.failure(endpoint.error().message);
    return;
  }
  auto client = FleetClient::open(std::move(*endpoint));
  if (!client) {
    exit_code = out.usage_error(client.error().message);
    return;
  }
  auto printed = command(*client);
  if (!printed) {
    exit_code = out.failure(printed.error().message);
    return;
  }
  out.result(printed->text, printed->document);
  exit_code = kExitOk;
}

void FleetContext::run_and_check(
    const std::function<Result<Printed>(FleetClient&, std::string& failure)>& command) const {
  std::string failure;
  run([&](FleetClient& client) { return command(client, failure); });
  if (exit_code == kExitOk && !failure.empty()) {
    std::fprintf(stderr, "error: %s\n", failure.c_str());
    exit_code = kExitFailure;
  }
}

void FleetContext::usage_error(const std::string& message) const {
  exit_code = out.usage_error(message);
}

FleetOptions fleet_options(CLI::App& app) {
  FleetOptions options;
  auto value = [&](const char* name) {
    CLI::Option* option = app.get_option_no_throw(name);
    return option != nullptr && option->count() > 0 ? option->as<std::string>() : std::string();
  };
  options.server = value("--server");
  options.token = value("--token");
  options.token_file = value("--token-file");
  return options;
}

void add_limit_option(CLI::App& cmd, std::size_t& limit) {
  cmd.add_option("--limit", limit, "At most this many items (default: all)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1000000}));
}

std::optional<std::size_t> limit_of(std::size_t limit) {
  if (limit == 0) return std::nullopt;
  return limit;
}

std::string field(const json& object, const std::string& key) {
  if (!object.is_object()) return "-";
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return "-";
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

std::string table(const std::vector<std::string>& header,
                  const std::vector<std::vector<std::string>>& rows) {
  if (rows.empty()) return "(none)";
  std::vector<std::size_t> widths(header.size());
  for (std::size_t c = 0; c < header.size(); ++c) widths[c] = header[c].size();
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < row.size() && c < widths.size(); ++c) {
      widths[c] = std::max(widths[c], row[c].size());
    }
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string text;
    for (std::size_t c = 0; c < cells.size(); ++c) {
      text += cells[c];
      if (c + 1 < cells.size()) text += std::string(widths[c] - cells[c].size() + 2, ' ');
    }
    return text + "\n";
  };
  std::string text = line(header);
  for (const auto& row : rows) text += line(row);
  return text;
}

std::string summary(const std::vector<std::pair<std::string, std::string>>& lines) {
  std::size_t width = 0;
  for (const auto& [name, value] : lines) width = std::max(width, name.size());
  std::string text;
  for (const auto& [name, value] : lines) {
    text += name + ":" + std::string(width - name.size() + 2, ' ') + value + "\n";
  }
  return text;
}

std::string joined(const json& strings) {
  std::string text;
  if (!strings.is_array()) return "-";
  for (const json& s : strings) {
    text += (text.empty() ? "" : ", ") + (s.is_string() ? s.get<std::string>() : s.dump());
  }
  return text.empty() ? "-" : text;
}

Result<std::string> read_text_file(const std::string& path, const std::string& option) {
  auto data = read_file(path, kMaxInputFileSize);
  if (!data) return prefixed(data.error(), option);
  return std::string(as_chars(*data));
}

void add_fleet_commands(CLI::App& app, const Output& out, int& exit_code) {
  auto options = std::make_shared<FleetOptions>();
  app.add_option("--server", options->server,
                 std::string("ironrootd's REST API (default: $") + kServerVariable + ", else " +
                     kDefaultServer + ")");
  app.add_option("--token", options->token,
                 std::string("Operator token (default: --token-file, $") + kTokenVariable +
                     ", else $" + kDataDirVariable + "/" + kTokenFileName + ")");
  app.add_option("--token-file", options->token_file, "File holding the operator token");

  FleetContext context{out, exit_code, options};
  add_thing_commands(app, context);
  add_group_commands(app, context);
  add_cert_commands(app, context);
  CLI::App* ca = nullptr;
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    if (sub->get_name() == "ca") ca = sub;
  }
  if (ca == nullptr) {
    ca = app.add_subcommand("ca", "Certificate authorities");
    ca->require_subcommand(1);
  }
  add_ca_registry_commands(*ca, context);
  add_policy_commands(app, context);
  add_template_commands(app, context);
  add_audit_commands(app, context);
}

}  // namespace ironroot::cli
