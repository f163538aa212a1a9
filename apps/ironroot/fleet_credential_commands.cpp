// `ironroot cert|policy|template ...` and the registry verbs of `ironroot ca`: what devices
// prove themselves with and what they are allowed to do, over ironrootd's REST API.
#include "fleet_command_support.hpp"

namespace ironroot::cli {

namespace {

using nlohmann::json;

std::string cert_path(const std::string& id) {
  return "/v1/certificates/" + path_segment(id);
}
std::string ca_path(const std::string& id) {
  return "/v1/cas/" + path_segment(id);
}
std::string policy_path(const std::string& name) {
  return "/v1/policies/" + path_segment(name);
}
std::string template_path(const std::string& name) {
  return "/v1/templates/" + path_segment(name);
}

std::vector<std::vector<std::string>> certificate_rows(const json& items) {
  std::vector<std::vector<std::string>> rows;
  for (const json& c : items) {
    rows.push_back({field(c, "certificateId"), field(c, "status"), field(c, "commonName"),
                    field(c, "notAfter")});
  }
  return rows;
}

std::string certificate_text(const json& c) {
  return summary({{"certificate", field(c, "certificateId")},
                  {"status", field(c, "status")},
                  {"subject", field(c, "subject")},
                  {"serial", field(c, "serialNumber")},
                  {"issuing CA", field(c, "caCertificateId")},
                  {"not before", field(c, "notBefore")},
                  {"not after", field(c, "notAfter")},
                  {"things", joined(c.value("things", json::array()))},
                  {"registered", field(c, "createdAt")}});
}

std::string ca_text(const json& c) {
  return summary({{"CA", field(c, "caCertificateId")},
                  {"status", field(c, "status")},
                  {"subject", field(c, "subject")},
                  {"not before", field(c, "notBefore")},
                  {"not after", field(c, "notAfter")},
                  {"JIT template", field(c, "templateName")},
                  {"auto-registration", field(c, "autoRegistration")},
                  {"registered", field(c, "createdAt")}});
}

std::string template_text(const json& t) {
  std::string text = summary({{"template", field(t, "templateName")},
                              {"description", field(t, "description")},
                              {"enabled", field(t, "enabled")},
                              {"pre-provisioning hook", field(t, "preProvisioningHook")},
                              {"version", field(t, "version")},
                              {"updated", field(t, "updatedAt")}});
  if (t.contains("templateBody")) text += "body:\n" + field(t, "templateBody") + "\n";
  return text;
}

// A stored JSON text (policy document, template body) indented for reading.
std::string indented(const std::string& text) {
  json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
  return value.is_discarded() ? text : value.dump(2);
}

}  // namespace

// ---- cert -------------------------------------------------------------------------------------

void add_cert_commands(CLI::App& app, const FleetContext& context) {
  auto* cert = app.add_subcommand("cert", "Device certificates in the fleet registry");
  cert->require_subcommand(1);
  {
    struct Args {
      std::string pem, status, ca;
    };
    auto a = std::make_shared<Args>();
    auto* cmd = cert->add_subcommand("register", "Register a device certificate (PEM)");
    cmd->add_option("--pem", a->pem, "The certificate, a PEM file")->required();
    cmd->add_option("--status", a->status,
                    "ACTIVE (default), INACTIVE, REVOKED or PENDING_ACTIVATION");
    cmd->add_option("--ca", a->ca,
                    "Id of the registered CA that issued it (default: found by "
                    "its issuer)");
    cmd->callback([a, context] {
      auto pem = read_text_file(a->pem, "--pem");
      if (!pem) return context.usage_error(pem.error().message);
      json body = {{"certificatePem", *pem}};
      if (!a->status.empty()) body["status"] = a->status;
      if (!a->ca.empty()) body["caCertificateId"] = a->ca;
      context.run([&](FleetClient& client) -> Result<Printed> {
        auto c = client.post("/v1/certificates", body);
        if (!c) return tl::unexpected(c.error());
        return Printed{"registered certificate " + field(*c, "certificateId") + " (" +
                           field(*c, "status") + ") for " + field(*c, "commonName"),
                       *c};
      });
    });
  }
  {
    struct Args {
      std::string status, ca;
      std::size_t limit = 0;
    };
    auto a = std::make_shared<Args>();
    auto* cmd = cert->add_subcommand("list", "List certificates");
    cmd->add_option("--status", a->status, "Only this status (ACTIVE, INACTIVE, REVOKED, ...)");
    cmd->add_option("--ca", a->ca, "Only certificates issued by this registered CA (its id)");
    add_limit_option(*cmd, a->limit);
    cmd->callback([a, context] {
      Query query;
      if (!a->status.empty()) query.emplace_back("status", a->status);
      if (!a->ca.empty()) query.emplace_back("caCertificateId", a->ca);
      context.run([&](FleetClient& client) -> Result<Printed> {
        auto listed = client.list("/v1/certificates", query, limit_of(a->limit));
        if (!listed) return tl::unexpected(listed.error());
        return Printed{
            table({"ID", "STATUS", "CN", "NOT AFTER"}, certificate_rows((*listed)["items"])),
            *listed};
      });
    });
  }
  {
    auto id = std::make_shared<std::string>();
    auto* cmd = cert->add_subcommand("describe", "Show a certificate and its things");
    cmd->add_option("id", *id, "Certificate id (64 hex digits)")->required();
    cmd->callback([id, context] {
      context.run([&](FleetClient& client) -> Result<Printed> {
        auto c = client.get(cert_path(*id));
        if (!c) return tl::unexpected(c.error());
        return Printed{certificate_text(*c), *c};
      });
    });
  }
  const std::pair<const char*, const char*> transitions[] = {
      {"revoke", "REVOKED"}, {"activate", "ACTIVE"}, {"deactivate", "INACTIVE"}};
  for (const auto& [verb, status] : transitions) {
    auto id = std::make_shared<std::string>();
    std::string help = std::string("Set a certificate's status to ") + status +
                       (std::string(verb) == "revoke" ? " (final: its device is refused)" : "");
    auto* cmd = cert->add_subcommand(verb, help);
    cmd->add_option("id", *id, "Certificate id (64 hex digits)")->required();
    std::string to = status;
    cmd->callback([id, to, context] {
      context.run([&](FleetClient& client) -> Result<Printed> {
        auto c = client.put(cert_path(*id) + "/status", {{"status", to}});
        if (!c) return tl::unexpected(c.error());
        return Printed{"certificate " + field(*c, "certificateId") + " is " + field(*c, "status"),
                       *c};
      });
    });
  }
  for (bool attach : {true, false}) {
    struct Args {
      std::string id, thing;
    };
    auto a = std::make_shared<Args>();
    auto* cmd = cert->add_subcommand(
        attach ? "attach" : "detach",
        attach ? "Make a certificate a principal of a thing" : "Detach a certificate from a thing");
    cmd->add_option("id", a->id, "Certificate id (64 hex digits)")->required();
    cmd->add_option("thing", a->thing, "Thing name")->required();
    cmd->callback([a, attach, context] {
      context.run([&](FleetClient& client) -> Result<Printed> {
        std::string path = cert_path(a->id) + "/things/" + path_segment(a->thing);
        auto done = attach ? client.put(path) : client.remove(path);
        if (!done) return tl::unexpected(done.error());
        return Printed{std::string(attach ? "attached certificate " : "detached certificate ") +
                           a->id + (attach ? " to " : " from ") + a->thing,
                       {{"certificateId", a->id}, {"thing", a->thing}, {"attached", attach}}};
      });
    });
  }
}

// ---- ca (registry) ----------------------------------------------------------------------------

void add_ca_registry_commands(CLI::App& ca, const FleetContext& context) {
  {
    struct Args {
      std::string pem, template_name;
      bool inactive = false, auto_registration = false;
    };
    auto a = std::make_shared<Args>();
    auto* cmd = ca.add_subcommand("register",
                                  "Register a device CA with ironrootd: certificates it issued "
                                  "may connect");
    cmd->add_option("--pem", a->pem, "The CA certificate, a PEM file")->required();
    cmd->add_flag("--inactive", a->inactive, "Register it INACTIVE");
    cmd->add_option("--template", a->template_name,
                    "Just-in-time provisioning template for its devices");
    cmd->add_flag("--auto-registration", a->auto_registration,
                  "Register its devices' certificates on their first connection");
    cmd->callback([a, context] {
      auto pem = read_text_file(a->pem, "--pem");
      if (!pem) return context.usage_error(pem.error().message);
      json body = {{"caCertificatePem", *pem},
                   {"status", a->inactive ? "INACTIVE" : "ACTIVE"},
                   {"autoRegistration", a->auto_registration}};
      if (!a->template_name.empty()) body["templateName"] = a->template_name;
      context.run([&](FleetClient& client) -> Result<Printed> {
        auto c = client.post("/v1/cas", body);
        if (!c) return tl::unexpected(c.error());
        return Printed{"registered CA " + field(*c, "caCertificateId") + " (" +
                           field(*c, "status") + ") " + field(*c, "subject"),
                       *c};
      });
    });
  }
  {
    auto limit = std::make_shared<std::size_t>(0);
    auto* cmd = ca.add_subcommand("list", "List the device CAs registered with ironrootd");
    add_limit_option(*cmd, *limit);
    cmd->callback([limit, context] {
      context.run([&](FleetClient& client) -> Result<Printed> {
        auto listed = client.list("/v1/cas", {}, limit_of(*limit));
        if (!listed) return tl::unexpected(listed.error());
        std::vector<std::vector<std::string>> rows;
        for (const json& c : (*listed)["items"]) {
          rows.push_back({field(c, "caCertificateId"), field(c, "status"), field(c, "subject"),
                          field(c, "templateName")});
        }
        return Printed{table({"ID", "STATUS", "SUBJECT", "JIT TEMPLATE"}, rows), *listed};
      });
    });
  }
  {
    auto id = std::make_shared<std::string>();
    auto* cmd = ca.add_subcommand("describe", "Show a registered device CA");
    cmd->add_option("id", *id, "CA certificate id (64 hex digits)")->required();
    cmd->callback([id, context] {
      context.run([&](FleetClient& client) -> Result<Printed> {
        auto c = client.get(ca_path(*id));
        if (!c) return tl::unexpected(c.error());
        return Printed{ca_text(*c), *c};
      });
    });
  }
  {
    struct Args {
      std::string id, status;
    };
    auto a = std::make_shared<Args>();
    auto* cmd = ca.add_subcommand("set-status", "Activate or deactivate a registered device CA");
    cmd->add_option("id", a->id, "CA certificate id (64 hex digits)")->required();
    cmd->add_option("status", a->status, "ACTIVE or INACTIVE")->required();
    cmd->callback([a, context] {
      context.run([&](FleetClient& client) -> Result<Printed> {
        auto c = client.put(ca_path(a->id) + "/status", {{"status", a->status}});
        if (!c) return tl::unexpected(c.error());
        return Printed{"CA " + field(*c, "caCertificateId") + " is " + field(*c, "status"), *c};
      });
    });
  }
  {
    struct Args {
      std::string id, template_name;
      bool none = false;
    };
    auto a = std::make_shared<Args>();
    auto* cmd = ca.add_subcommand("set-template",
                                  "Set the just-in-time provisioning template of a device CA");
    cmd->add_option("id", a->id, "CA certificate id (64 hex digits)")->required();
    auto* name = cmd->add_option("template", a->template_name, "Provisioning template name");
    cmd->add_flag("--none", a->none, "Remove the template (no just-in-time provisioning)")
        ->excludes(name);
    cmd->callback([a, context] {
      if (a->template_name.empty() && !a->none) {
        return context.usage_error("give a template name, or --none to remove the template");
      }
      json body = {{"templateName", a->none ? json() : json(a->template_name)}};
      context.run([&](FleetClient& client) -> Result<Printed> {
        auto c = client.put(ca_path(a->id) + "/template", body);
        if (!c) return tl::unexpected(c.error());
        return Printed{"CA " + field(*c, "caCertificateId") +
                           " just-in-time template: " + field(*c, "templateName"),
                       *c};
      });
    });
  }
}

// ---- policy -----------------------------------------------------------------------------------

void add_policy_commands(CLI::App& app, const FleetContext& context) {
  auto* policy = app.add_subcommand("policy", "Authorization policies (AWS IoT policy documents)");
  policy->require_subcommand(1);
  for (bool create : {true, false}) {
    struct Args {
      std::string name, document;
      std::int64_t expected = 0;
    };
    auto a = std::make_shared<Args>();
    auto* cmd = policy->add_subcommand(
        create ? "create" : "update",
        create ? "Create a policy from a JSON document" : "Replace a policy's document");
    cmd->add_option("name", a->name, "Policy name")->required();
    cmd->add_option("--document", a->document, "The policy document, a JSON file")->required();
    if (!create) {
      cmd->add_option("--expected-version", a->expected,
                      "Refuse unless the policy is at this version")
          ->check(CLI::PositiveNumber);
    }
    cmd->callback([a, create, context] {
      auto document = read_text_file(a->document, "--document");
      if (!document) return context.usage_error(document.error().message);
      json body = {{"policyDocument", *document}};
      if (create) body["policyName"] = a->name;
      if (a->expected > 0) body["expectedVersion"] = a->expected;
      context.run([&](FleetClient& client) -> Result<Printed> {
        auto p =
            create ? client.post("/v1/policies", body) : client.put(policy_path(a->name), body);
        if (!p) return tl::unexpected(p.error());
        return Printed{std::string(create ? "created" : "updated") + " policy " + a->name +
                           " (version " + field(*p, "version") + ")",
                       *p};
      });
    });
  }
  {
    struct Args {
      std::string cert;
      std::size_t limit = 0;
    };
    auto a = std::make_shared<Args>();
    auto* cmd = policy->add_subcommand("list", "List policies");
    cmd->add_option("--cert", a->cert,
                    "Only the policies in effect for this certificate (attached to it, or to "
                    "the groups of its things)");
    add_limit_option(*cmd, a->limit);
    cmd->callback([a, context] {
      context.run([&](FleetClient& client) -> Result<Printed> {
        auto listed = a->cert.empty() ? client.list("/v1/policies", {}, limit_of(a->limit))
                                      : client.get(cert_path(a->cert) + "/policies");
        if (!listed) return tl::unexpected(listed.error());
        std::vector<std::vector<std::string>> rows;
        for (const json& p : (*listed)["items"]) {
          rows.push_back({field(p, "policyName"), field(p, "version"), field(p, "updatedAt")});
        }
        return Printed{table({"NAME", "VERSION", "UPDATED"}, rows), *listed};
      });
    });
  }
  {
    auto name = std::make_shared<std::string>();
    auto* cmd = policy->add_subcommand("describe", "Show a policy and its document");
    cmd->add_option("name", *name, "Policy name")->required();
    cmd->callback([name, context] {
      context.run([&](FleetClient& client) -> Result<Printed> {
        auto p = client.get(policy_path(*name));
        if (!p) return tl::unexpected(p.error());
        return Printed{summary({{"policy", field(*p, "policyName")},
                                {"version", field(*p, "version")},
                                {"updated", field(*p, "updatedAt")}}) +
                           indented(field(*p, "policyDocument")),
                       *p};
      });
    });
  }
  {
    auto name = std::make_shared<std::string>();
    auto* cmd = policy->add_subcommand("delete", "Delete a policy (detach it first)");
    cmd->add_option("name", *name, "Policy name")->required();
    cmd->callback([name, context] {
      context.run([&](FleetClient& client) -> Result<Printed> {
        auto deleted = client.remove(policy_path(*name));
        if (!deleted) return tl::unexpected(deleted.error());
        return Printed{"deleted policy " + *name, {{"deleted", *name}}};
      });
    });
  }
  for (bool attach : {true, false}) {
    struct Args {
      std::string name, cert, group;
    };
    auto a = std::make_shared<Args>();
    auto* cmd =
        policy->add_subcommand(attach ? "attach" : "detach",
                               attach ? "Attach a policy to a certificate or a thing group"
                                      : "Detach a policy from a certificate or a thing group");
    cmd->add_option("name", a->name, "Policy name")->required();
    auto* cert = cmd->add_option("--cert", a->cert, "Certificate id");
    auto* group = cmd->add_option("--group", a->group, "Thing group name");
    cert->excludes(group);
    cmd->callback([a, attach, context] {
      if (a->cert.empty() == a->group.empty()) {
        return context.usage_error("give --cert ID or --group NAME");
      }
      std::string target = a->cert.empty() ? "group " + a->group : "certificate " + a->cert;
      std::string path =
          policy_path(a->name) + (a->cert.empty() ? "/groups/" + path_segment(a->group)
                                                  : "/certificates/" + path_segment(a->cert));
      context.run([&](FleetClient& client) -> Result<Printed> {
        auto done = attach ? client.put(path) : client.remove(path);
        if (!done) return tl::unexpected(done.error());
        json doc = {{"policyName", a->name}, {"attached", attach}};
        if (!a->cert.empty()) doc["certificateId"] = a->cert;
        if (!a->group.empty()) doc["groupName"] = a->group;
        return Printed{std::string(attach ? "attached policy " : "detached policy ") + a->name +
                           (attach ? " to " : " from ") + target,
                       doc};
      });
    });
  }
}

// ---- template ---------------------------------------------------------------------------------

void add_template_commands(CLI::App& app, const FleetContext& context) {
  auto* tmpl = app.add_subcommand("template", "Provisioning templates (AWS IoT's format)");
  tmpl->require_subcommand(1);
  {
    struct Args {
      std::string name, body, description, hook;
      bool disabled = false;
    };
    auto a = std::make_shared<Args>();
    auto* cmd = tmpl->add_subcommand("create", "Create a provisioning template");
    cmd->add_option("name", a->name, "Template name")->required();
    cmd->add_option("--body", a->body, "The template body, a JSON file")->required();
    cmd->add_option("--description", a->description, "What the template is for");
    cmd->add_option("--hook", a->hook, "Pre-provisioning hook (HTTP endpoint or command)");
    cmd->add_flag("--disabled", a->disabled, "Create it disabled");
    cmd->callback([a, context] {
      auto body_text = read_text_file(a->body, "--body");
      if (!body_text) return context.usage_error(body_text.error().message);
      json body = {{"templateName", a->name},
                   {"templateBody", *body_text},
                   {"description", a->description},
                   {"enabled", !a->disabled}};
      if (!a->hook.empty()) body["preProvisioningHook"] = a->hook;
      context.run([&](FleetClient& client) -> Result<Printed> {
        auto t = client.post("/v1/templates", body);
        if (!t) return tl::unexpected(t.error());
        return Printed{"created template " + a->name, *t};
      });
    });
  }
  {
    auto limit = std::make_shared<std::size_t>(0);
    auto* cmd = tmpl->add_subcommand("list", "List provisioning templates");
    add_limit_option(*cmd, *limit);
    cmd->callback([limit, context] {
      context.run([&](FleetClient& client) -> Result<Printed> {
        auto listed = client.list("/v1/templates", {}, limit_of(*limit));
        if (!listed) return tl::unexpected(listed.error());
        std::vector<std::vector<std::string>> rows;
        for (const json& t : (*listed)["items"]) {
          rows.push_back({field(t, "templateName"), field(t, "enabled"), field(t, "version"),
                          field(t, "description")});
        }
        return Printed{table({"NAME", "ENABLED", "VERSION", "DESCRIPTION"}, rows), *listed};
      });
    });
  }
  {
    auto name = std::make_shared<std::string>();
    auto* cmd = tmpl->add_subcommand("describe", "Show a provisioning template and its body");
    cmd->add_option("name", *name, "Template name")->required();
    cmd->callback([name, context] {
      context.run([&](FleetClient& client) -> Result<Printed> {
        auto t = client.get(template_path(*name));
        if (!t) return tl::unexpected(t.error());
        json shown = *t;
        if (shown.contains("templateBody")) {
          shown["templateBody"] = indented(field(*t, "templateBody"));
        }
        return Printed{template_text(shown), *t};
      });
    });
  }
  {
    struct Args {
      std::string name, body, description, hook;
      bool enable = false, disable = false, remove_hook = false;
      std::int64_t expected = 0;
    };
    auto a = std::make_shared<Args>();
    auto* cmd = tmpl->add_subcommand("update", "Change a provisioning template");
    cmd->add_option("name", a->name, "Template name")->required();
    cmd->add_option("--body", a->body, "New template body, a JSON file");
    cmd->add_option("--description", a->description, "New description");
    auto* enable = cmd->add_flag("--enable", a->enable, "Enable it");
    cmd->add_flag("--disable", a->disable, "Disable it")->excludes(enable);
    auto* hook = cmd->add_option("--hook", a->hook, "New pre-provisioning hook");
    cmd->add_flag("--remove-hook", a->remove_hook, "Remove the pre-provisioning hook")
        ->excludes(hook);
    cmd->add_option("--expected-version", a->expected,
                    "Refuse unless the template is at this version")
        ->check(CLI::PositiveNumber);
    cmd->callback([a, context] {
      json body = json::object();
      if (!a->body.empty()) {
        auto text = read_text_file(a->body, "--body");
        if (!text) return context.usage_error(text.error().message);
        body["templateBody"] = *text;
      }
      if (!a->description.empty()) body["description"] = a->description;
      if (a->enable || a->disable) body["enabled"] = a->enable;
      if (!a->hook.empty()) body["preProvisioningHook"] = a->hook;
      if (a->remove_hook) body["preProvisioningHook"] = nullptr;
      if (body.empty()) {
        return context.usage_error(
            "nothing to update: give --body, --description, --enable, --disable, --hook or "
            "--remove-hook");
      }
      if (a->expected > 0) body["expectedVersion"] = a->expected;
      context.run([&](FleetClient& client) -> Result<Printed> {
        auto t = client.patch(template_path(a->name), body);
        if (!t) return tl::unexpected(t.error());
        return Printed{"updated template " + a->name + " (version " + field(*t, "version") + ")",
                       *t};
      });
    });
  }
  {
    auto name = std::make_shared<std::string>();
    auto* cmd = tmpl->add_subcommand("delete", "Delete a provisioning template");
    cmd->add_option("name", *name, "Template name")->required();
    cmd->callback([name, context] {
      context.run([&](FleetClient& client) -> Result<Printed> {
        auto deleted = client.remove(template_path(*name));
        if (!deleted) return tl::unexpected(deleted.error());
        return Printed{"deleted template " + *name, {{"deleted", *name}}};
      });
    });
  }
}

}  // namespace ironroot::cli
