// /v1/templates/{name}/provision and /v1/device-trust: operator (bulk) provisioning through a
// template, and the CA certificates a provisioned device needs to verify the broker.
#include "ironroot/core/bytes.hpp"
#include "ironroot/fleet/provisioning.hpp"
#include "rest_api_internal.hpp"

namespace ironroot::fleet::rest {

namespace {

using nlohmann::json;

// A provisioning rejection as the REST API's error.
tl::unexpected<ApiError> refused(const protocol::ErrorResponse& rejection) {
  namespace errors = protocol::provisioning_errors;
  const std::string& code = rejection.error_code;
  if (code == errors::kResourceNotFound.error_code) {
    return tl::unexpected(ApiError{404, "not_found", rejection.error_message});
  }
  if (code == errors::kInvalidPayload.error_code) {
    return tl::unexpected(ApiError{400, "invalid", rejection.error_message});
  }
  if (code == kResourceConflict.error_code) {
    return tl::unexpected(ApiError{409, "conflict", rejection.error_message});
  }
  return tl::unexpected(ApiError{500, "internal", rejection.error_message});
}

Answer provision(Call& call) {
  if (call.provisioning == nullptr) return unavailable("operator provisioning");
  Fields f(call.body, {"parameters", "certificateSigningRequest"});
  auto parameters = f.attributes("parameters").value_or(Attributes{});
  auto pem = f.text("certificateSigningRequest", true);
  if (f.error()) return tl::unexpected(*f.error());
  if (pem->empty() || pem->size() > protocol::kMaxCsrPemSize) {
    return bad_request("field 'certificateSigningRequest' must be 1 to " +
                       std::to_string(protocol::kMaxCsrPemSize) + " bytes of PEM");
  }
  auto csr = crypto::CertificateRequest::from_pem(as_bytes(*pem));
  if (!csr) return bad_request("field 'certificateSigningRequest': " + csr.error().message);
  auto done =
      call.provisioning->provision_by_operator(call.actor, call.segments[0], parameters, *csr);
  if (!done) return refused(done.error());
  return Reply{done->created ? 201 : 200,
               {{"thingName", done->thing_name},
                {"certificateId", done->certificate_id},
                {"certificatePem", done->certificate_pem},
                {"certificateStatus", certificate_status_name(done->certificate_status)},
                {"created", done->created}}};
}

Answer device_trust(Call& call) {
  if (call.device_trust_pem.empty()) return unavailable("the devices' trust anchors");
  return Reply{200, {{"certificatesPem", std::string(call.device_trust_pem)}}};
}

}  // namespace

std::vector<Route> provisioning_routes() {
  return {
      {"POST", "/v1/templates/*/provision", {}, kBody, provision},
      {"GET", "/v1/device-trust", {}, kNoBody, device_trust},
  };
}

}  // namespace ironroot::fleet::rest
