// /v1/policies, /v1/templates and /v1/audit: policy documents and where they are attached,
// provisioning templates, and the audit log.
#include "ironroot/crypto/x509.hpp"
#include "ironroot/policy/policy_document.hpp"
#include "rest_api_internal.hpp"

namespace ironroot::fleet::rest {

namespace {

using nlohmann::json;

json template_summary(const ProvisioningTemplate& spec) {
  return template_json(spec, false);
}
json template_in_full(const ProvisioningTemplate& spec) {
  return template_json(spec, true);
}

// A policy document the broker's authorizer will accept: checked here, so that a typo in an
// action or a resource is refused when the policy is written rather than silently allowing
// nothing when a device connects.
Result<void, ApiError> check_document(const std::string& document) {
  if (auto parsed = policy::PolicyDocument::parse(document); !parsed) {
    return bad_request("field 'policyDocument': " + parsed.error().message);
  }
  return {};
}

// ---- policies ---------------------------------------------------------------------------------

Answer create_policy(Call& call) {
  Fields f(call.body, {"policyName", "policyDocument"});
  auto name = f.text("policyName", true);
  auto document = f.document("policyDocument", true);
  if (f.error()) return tl::unexpected(*f.error());
  if (auto ok = check_document(*document); !ok) return tl::unexpected(ok.error());
  return answer(call.registry.create_policy(call.actor, *name, *document), 201, policy_json);
}

Answer list_policies(Call& call) {
  auto page = page_of(call);
  if (!page) return tl::unexpected(page.error());
  return answer(call.registry.list_policies(*page), 200,
                [](const Listing<Policy>& l) { return listing_json(l, policy_json); });
}

Answer describe_policy(Call& call) {
  return answer(call.registry.describe_policy(call.segments[0]), 200, policy_json);
}

Answer update_policy(Call& call) {
  Fields f(call.body, {"policyDocument", "expectedVersion"});
  auto document = f.document("policyDocument", true);
  auto expected = f.integer("expectedVersion");
  if (f.error()) return tl::unexpected(*f.error());
  if (auto ok = check_document(*document); !ok) return tl::unexpected(ok.error());
  return answer(call.registry.update_policy(call.actor, call.segments[0], *document, expected), 200,
                policy_json);
}

Answer delete_policy(Call& call) {
  return no_content(call.registry.delete_policy(call.actor, call.segments[0]));
}

Answer attach_to_certificate(Call& call) {
  return no_content(
      call.registry.attach_policy_to_certificate(call.actor, call.segments[0], call.segments[1]));
}

Answer detach_from_certificate(Call& call) {
  return no_content(
      call.registry.detach_policy_from_certificate(call.actor, call.segments[0], call.segments[1]));
}

Answer attach_to_group(Call& call) {
  return no_content(
      call.registry.attach_policy_to_group(call.actor, call.segments[0], call.segments[1]));
}

Answer detach_from_group(Call& call) {
  return no_content(
      call.registry.detach_policy_from_group(call.actor, call.segments[0], call.segments[1]));
}

// ---- provisioning templates -------------------------------------------------------------------

Answer create_template(Call& call) {
  Fields f(call.body,
           {"templateName", "description", "templateBody", "enabled", "preProvisioningHook"});
  NewProvisioningTemplate spec;
  spec.name = f.text("templateName", true).value_or("");
  spec.description = f.text("description").value_or("");
  spec.body = f.document("templateBody", true).value_or("");
  spec.enabled = f.boolean("enabled").value_or(true);
  spec.pre_provisioning_hook = f.text("preProvisioningHook");
  if (f.error()) return tl::unexpected(*f.error());
  return answer(call.registry.create_template(call.actor, spec), 201, template_in_full);
}

Answer list_templates(Call& call) {
  auto page = page_of(call);
  if (!page) return tl::unexpected(page.error());
  return answer(
      call.registry.list_templates(*page), 200,
      [](const Listing<ProvisioningTemplate>& l) { return listing_json(l, template_summary); });
}

Answer describe_template(Call& call) {
  return answer(call.registry.describe_template(call.segments[0]), 200, template_in_full);
}

Answer update_template(Call& call) {
  Fields f(call.body,
           {"description", "templateBody", "enabled", "preProvisioningHook", "expectedVersion"});
  ProvisioningTemplateUpdate update;
  update.description = f.text("description");
  update.body = f.document("templateBody");
  update.enabled = f.boolean("enabled");
  if (auto hook = f.nullable_text("preProvisioningHook")) {
    update.pre_provisioning_hook = *hook;
    update.remove_pre_provisioning_hook = !hook->has_value();
  }
  update.expected_version = f.integer("expectedVersion");
  if (f.error()) return tl::unexpected(*f.error());
  return answer(call.registry.update_template(call.actor, call.segments[0], update), 200,
                template_in_full);
}

Answer delete_template(Call& call) {
  return no_content(call.registry.delete_template(call.actor, call.segments[0]));
}

// ---- audit ------------------------------------------------------------------------------------

Answer list_audit(Call& call) {
  auto page = page_of(call);
  if (!page) return tl::unexpected(page.error());
  AuditFilter filter;
  filter.target_type = query_value(call, "targetType");
  filter.target_id = query_value(call, "targetId");
  if (auto since = query_value(call, "since")) {
    auto at = crypto::parse_time(*since);
    if (!at) return bad_request("query parameter 'since': " + at.error().message);
    filter.since = *at;
  }
  return answer(call.registry.list_audit(filter, *page), 200,
                [](const Listing<AuditEntry>& l) { return listing_json(l, audit_json); });
}

}  // namespace

std::vector<Route> policy_routes() {
  return {
      {"POST", "/v1/policies", {}, kBody, create_policy},
      {"GET", "/v1/policies", {"limit", "next"}, kNoBody, list_policies},
      {"GET", "/v1/policies/*", {}, kNoBody, describe_policy},
      {"PUT", "/v1/policies/*", {}, kBody, update_policy},
      {"DELETE", "/v1/policies/*", {}, kNoBody, delete_policy},
      {"PUT", "/v1/policies/*/certificates/*", {}, kNoBody, attach_to_certificate},
      {"DELETE", "/v1/policies/*/certificates/*", {}, kNoBody, detach_from_certificate},
      {"PUT", "/v1/policies/*/groups/*", {}, kNoBody, attach_to_group},
      {"DELETE", "/v1/policies/*/groups/*", {}, kNoBody, detach_from_group},
  };
}

std::vector<Route> template_routes() {
  return {
      {"POST", "/v1/templates", {}, kBody, create_template},
      {"GET", "/v1/templates", {"limit", "next"}, kNoBody, list_templates},
      {"GET", "/v1/templates/*", {}, kNoBody, describe_template},
      {"PATCH", "/v1/templates/*", {}, kBody, update_template},
      {"DELETE", "/v1/templates/*", {}, kNoBody, delete_template},
  };
}

std::vector<Route> audit_routes() {
  return {
      {"GET",
       "/v1/audit",
       {"targetType", "targetId", "since", "limit", "next"},
       kNoBody,
       list_audit},
  };
}

}  // namespace ironroot::fleet::rest
