// /v1/certificates and /v1/cas: device certificates, their things, and registered device CAs.
#include "rest_api_internal.hpp"

namespace ironroot::fleet::rest {

namespace {

using nlohmann::json;

constexpr const char* kCertificateStatuses = "ACTIVE, INACTIVE, REVOKED or PENDING_ACTIVATION";
constexpr const char* kCaStatuses = "ACTIVE or INACTIVE";

Result<std::optional<CertificateStatus>, ApiError> certificate_status(
    const std::optional<std::string>& text, std::string_view where) {
  if (!text) return std::optional<CertificateStatus>{};
  auto status = parse_certificate_status(*text);
  if (!status) {
    return bad_request(std::string(where) + " must be " + kCertificateStatuses + ", not '" +
                       text->substr(0, 64) + "'");
  }
  return std::optional<CertificateStatus>{*status};
}

Result<std::optional<CaStatus>, ApiError> ca_status(const std::optional<std::string>& text) {
  if (!text) return std::optional<CaStatus>{};
  auto status = parse_ca_status(*text);
  if (!status) {
    return bad_request(std::string("field 'status' must be ") + kCaStatuses + ", not '" +
                       text->substr(0, 64) + "'");
  }
  return std::optional<CaStatus>{*status};
}

json certificate_summary(const CertificateRecord& cert) {
  return certificate_json(cert, false);
}
json ca_summary(const CaRecord& ca) {
  return ca_json(ca, false);
}
json ca_in_full(const CaRecord& ca) {
  return ca_json(ca, true);
}

// ---- certificates -----------------------------------------------------------------------------

Answer register_certificate(Call& call) {
  Fields f(call.body, {"certificatePem", "status", "caCertificateId"});
  auto pem = f.text("certificatePem", true);
  auto status_text = f.text("status");
  auto ca_id = f.text("caCertificateId");
  if (f.error()) return tl::unexpected(*f.error());
  auto status = certificate_status(status_text, "field 'status'");
  if (!status) return tl::unexpected(status.error());
  return answer(call.registry.register_certificate(
                    call.actor, *pem, status->value_or(CertificateStatus::active), ca_id),
                201, [](const CertificateRecord& cert) { return certificate_json(cert, true); });
}

Answer list_certificates(Call& call) {
  auto page = page_of(call);
  if (!page) return tl::unexpected(page.error());
  CertificateFilter filter;
  auto status = certificate_status(query_value(call, "status"), "query parameter 'status'");
  if (!status) return tl::unexpected(status.error());
  filter.status = *status;
  filter.ca_id = query_value(call, "caCertificateId");
  return answer(
      call.registry.list_certificates(filter, *page), 200,
      [](const Listing<CertificateRecord>& l) { return listing_json(l, certificate_summary); });
}

// The certificate with its PEM and the things it is attached to.
Answer describe_certificate(Call& call) {
  auto cert = call.registry.describe_certificate(call.segments[0]);
  if (!cert) return refused(cert.error());
  auto things = call.registry.things_of(cert->id);
  if (!things) return refused(things.error());
  json out = certificate_json(*cert, true);
  out["things"] = *things;
  return Reply{200, std::move(out)};
}

Answer set_certificate_status(Call& call) {
  Fields f(call.body, {"status"});
  auto text = f.text("status", true);
  if (f.error()) return tl::unexpected(*f.error());
  auto status = certificate_status(text, "field 'status'");
  if (!status) return tl::unexpected(status.error());
  return answer(call.registry.set_certificate_status(call.actor, call.segments[0], **status), 200,
                [](const CertificateRecord& cert) { return certificate_json(cert, true); });
}

Answer attach_certificate(Call& call) {
  return no_content(
      call.registry.attach_certificate(call.actor, call.segments[0], call.segments[1]));
}

Answer detach_certificate(Call& call) {
  return no_content(
      call.registry.detach_certificate(call.actor, call.segments[0], call.segments[1]));
}

Answer effective_policies(Call& call) {
  return answer(call.registry.policies_for(call.segments[0]), 200,
                [](const std::vector<Policy>& policies) {
                  json items = json::array();
                  for (const Policy& p : policies) items.push_back(policy_json(p));
                  return json{{"items", std::move(items)}};
                });
}

// ---- CAs --------------------------------------------------------------------------------------

Answer register_ca(Call& call) {
  Fields f(call.body, {"caCertificatePem", "status", "templateName", "autoRegistration"});
  NewCa ca;
  ca.pem = f.text("caCertificatePem", true).value_or("");
  auto status_text = f.text("status");
  ca.provisioning_template = f.text("templateName");
  ca.auto_registration = f.boolean("autoRegistration").value_or(false);
  if (f.error()) return tl::unexpected(*f.error());
  auto status = ca_status(status_text);
  if (!status) return tl::unexpected(status.error());
  ca.status = status->value_or(CaStatus::active);
  return answer(call.registry.register_ca(call.actor, ca), 201, ca_in_full);
}

Answer list_cas(Call& call) {
  auto page = page_of(call);
  if (!page) return tl::unexpected(page.error());
  return answer(call.registry.list_cas(*page), 200,
                [](const Listing<CaRecord>& l) { return listing_json(l, ca_summary); });
}

Answer describe_ca(Call& call) {
  return answer(call.registry.describe_ca(call.segments[0]), 200, ca_in_full);
}

Answer set_ca_status(Call& call) {
  Fields f(call.body, {"status"});
  auto text = f.text("status", true);
  if (f.error()) return tl::unexpected(*f.error());
  auto status = ca_status(text);
  if (!status) return tl::unexpected(status.error());
  return answer(call.registry.set_ca_status(call.actor, call.segments[0], **status), 200,
                ca_in_full);
}

Answer set_ca_template(Call& call) {
  Fields f(call.body, {"templateName"});
  auto name = f.nullable_text("templateName");
  if (!f.error() && !name) {
    return bad_request("field 'templateName' is required (a template name, or null for none)");
  }
  if (f.error()) return tl::unexpected(*f.error());
  return answer(call.registry.set_ca_template(call.actor, call.segments[0], *name), 200,
                ca_in_full);
}

Answer set_ca_auto_registration(Call& call) {
  Fields f(call.body, {"enabled"});
  auto enabled = f.boolean("enabled");
  if (!f.error() && !enabled) return bad_request("field 'enabled' is required (true or false)");
  if (f.error()) return tl::unexpected(*f.error());
  return answer(call.registry.set_ca_auto_registration(call.actor, call.segments[0], *enabled), 200,
                ca_in_full);
}

}  // namespace

std::vector<Route> certificate_routes() {
  return {
      {"POST", "/v1/certificates", {}, kBody, register_certificate},
      {"GET",
       "/v1/certificates",
       {"status", "caCertificateId", "limit", "next"},
       kNoBody,
       list_certificates},
      {"GET", "/v1/certificates/*", {}, kNoBody, describe_certificate},
      {"PUT", "/v1/certificates/*/status", {}, kBody, set_certificate_status},
      {"PUT", "/v1/certificates/*/things/*", {}, kNoBody, attach_certificate},
      {"DELETE", "/v1/certificates/*/things/*", {}, kNoBody, detach_certificate},
      {"GET", "/v1/certificates/*/policies", {}, kNoBody, effective_policies},
  };
}

std::vector<Route> ca_routes() {
  return {
      {"POST", "/v1/cas", {}, kBody, register_ca},
      {"GET", "/v1/cas", {"limit", "next"}, kNoBody, list_cas},
      {"GET", "/v1/cas/*", {}, kNoBody, describe_ca},
      {"PUT", "/v1/cas/*/status", {}, kBody, set_ca_status},
      {"PUT", "/v1/cas/*/template", {}, kBody, set_ca_template},
      {"PUT", "/v1/cas/*/auto-registration", {}, kBody, set_ca_auto_registration},
  };
}

}  // namespace ironroot::fleet::rest
