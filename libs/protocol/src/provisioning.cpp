#include "ironroot/protocol/provisioning.hpp"

#include <algorithm>
#include <initializer_list>

#include "json_fields.hpp"

namespace ironroot::protocol {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxErrorCodeSize = 256;
constexpr std::size_t kMaxErrorMessageSize = 4096;

Status require_object(const json& document) {
  if (document.is_object()) return {};
  return fail(std::string("the payload is ") + fields::type_name(document) + ", not an object");
}

std::string_view trim(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n";
  const auto first = text.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(kSpace) - first + 1);
}

// Whether `text`, without surrounding white space, starts with "-----BEGIN <label>-----" and ends
// with "-----END <label>-----" for one of `labels`. A chain of blocks with the same label passes.
bool is_pem(std::string_view text, std::initializer_list<std::string_view> labels) {
  constexpr std::string_view kBegin = "-----BEGIN ";
  constexpr std::string_view kEnd = "-----END ";
  constexpr std::string_view kDashes = "-----";
  text = trim(text);
  if (!text.starts_with(kBegin)) return false;
  const auto close = text.find(kDashes, kBegin.size());
  if (close == std::string_view::npos) return false;
  const std::string_view label = text.substr(kBegin.size(), close - kBegin.size());
  if (std::find(labels.begin(), labels.end(), label) == labels.end()) return false;
  const std::string end = std::string(kEnd) + std::string(label) + std::string(kDashes);
  const std::size_t begin_line = close + kDashes.size();
  return text.size() >= begin_line + end.size() && text.ends_with(end);
}

Result<std::string> certificate_id_field(const json& document) {
  auto id = fields::required_string(document, "certificateId", 64);
  if (id && !is_certificate_id(*id))
    return fail("certificateId: expected 64 lower-case hex digits");
  return id;
}

Result<std::string> certificate_pem_field(const json& document) {
  auto pem = fields::required_string(document, "certificatePem", kMaxCertificatePemSize);
  if (pem && !is_pem(*pem, {"CERTIFICATE"})) {
    return fail("certificatePem: not a PEM certificate (-----BEGIN CERTIFICATE----- ...)");
  }
  return pem;
}

Result<std::string> ownership_token_field(const json& document) {
  return fields::required_string(document, "certificateOwnershipToken", kMaxOwnershipTokenSize);
}

json string_map_to_json(const std::map<std::string, std::string>& map) {
  json out = json::object();
  for (const auto& [key, value] : map) out[key] = value;
  return out;
}

}  // namespace

bool is_certificate_id(std::string_view id) {
  return id.size() == 64 && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

bool is_valid_thing_name(std::string_view name) {
  return !name.empty() && name.size() <= kMaxThingNameSize &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                  c == ':' || c == '_' || c == '-';
         });
}

// CreateKeysAndCertificate

Result<CreateKeysAndCertificateRequest> CreateKeysAndCertificateRequest::decode(
    const json& document) {
  if (auto ok = require_object(document); !ok) return tl::unexpected(ok.error());
  return CreateKeysAndCertificateRequest{};
}

json CreateKeysAndCertificateRequest::encode() const {
  return json::object();
}

Result<CreateKeysAndCertificateResponse> CreateKeysAndCertificateResponse::decode(
    const json& document) {
  if (auto ok = require_object(document); !ok) return tl::unexpected(ok.error());
  CreateKeysAndCertificateResponse out;
  auto id = certificate_id_field(document);
  if (!id) return tl::unexpected(id.error());
  auto pem = certificate_pem_field(document);
  if (!pem) return tl::unexpected(pem.error());
  auto key = fields::required_string(document, "privateKey", kMaxPrivateKeyPemSize);
  if (!key) return tl::unexpected(key.error());
  if (!is_pem(*key, {"PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"})) {
    return fail("privateKey: not a PEM private key (-----BEGIN PRIVATE KEY----- ...)");
  }
  auto token = ownership_token_field(document);
  if (!token) return tl::unexpected(token.error());
  out.certificate_id = std::move(*id);
  out.certificate_pem = std::move(*pem);
  out.private_key = std::move(*key);
  out.certificate_ownership_token = std::move(*token);
  return out;
}

json CreateKeysAndCertificateResponse::encode() const {
  return json{{"certificateId", certificate_id},
              {"certificatePem", certificate_pem},
              {"privateKey", private_key},
              {"certificateOwnershipToken", certificate_ownership_token}};
}

// CreateCertificateFromCsr

Result<CreateCertificateFromCsrRequest> CreateCertificateFromCsrRequest::decode(
    const json& document) {
  if (auto ok = require_object(document); !ok) return tl::unexpected(ok.error());
  auto csr = fields::required_string(document, "certificateSigningRequest", kMaxCsrPemSize);
  if (!csr) return tl::unexpected(csr.error());
  if (!is_pem(*csr, {"CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"})) {
    return fail(
        "certificateSigningRequest: not a PEM certificate signing request "
        "(-----BEGIN CERTIFICATE REQUEST----- ... -----END CERTIFICATE REQUEST-----)");
  }
  return CreateCertificateFromCsrRequest{std::move(*csr)};
}

json CreateCertificateFromCsrRequest::encode() const {
  return json{{"certificateSigningRequest", certificate_signing_request}};
}

Result<CreateCertificateFromCsrResponse> CreateCertificateFromCsrResponse::decode(
    const json& document) {
  if (auto ok = require_object(document); !ok) return tl::unexpected(ok.error());
  auto id = certificate_id_field(document);
  if (!id) return tl::unexpected(id.error());
  auto pem = certificate_pem_field(document);
  if (!pem) return tl::unexpected(pem.error());
  auto token = ownership_token_field(document);
  if (!token) return tl::unexpected(token.error());
  return CreateCertificateFromCsrResponse{std::move(*id), std::move(*pem), std::move(*token)};
}

json CreateCertificateFromCsrResponse::encode() const {
  return json{{"certificateId", certificate_id},
              {"certificatePem", certificate_pem},
              {"certificateOwnershipToken", certificate_ownership_token}};
}

// RegisterThing

Result<RegisterThingRequest> RegisterThingRequest::decode(const json& document) {
  if (auto ok = require_object(document); !ok) return tl::unexpected(ok.error());
  auto token = ownership_token_field(document);
  if (!token) return tl::unexpected(token.error());
  auto parameters = fields::optional_string_map(document, "parameters");
  if (!parameters) return tl::unexpected(parameters.error());
  return RegisterThingRequest{std::move(*token), std::move(*parameters)};
}

json RegisterThingRequest::encode() const {
  json out{{"certificateOwnershipToken", certificate_ownership_token}};
  if (!parameters.empty()) out["parameters"] = string_map_to_json(parameters);
  return out;
}

Result<RegisterThingResponse> RegisterThingResponse::decode(const json& document) {
  if (auto ok = require_object(document); !ok) return tl::unexpected(ok.error());
  auto configuration = fields::optional_string_map(document, "deviceConfiguration");
  if (!configuration) return tl::unexpected(configuration.error());
  auto name = fields::required_string(document, "thingName", kMaxThingNameSize);
  if (!name) return tl::unexpected(name.error());
  if (!is_valid_thing_name(*name)) {
    return fail("thingName: \"" + *name +
                "\" is not a valid thing name (use a-z, A-Z, 0-9, ':', '_', '-')");
  }
  return RegisterThingResponse{std::move(*configuration), std::move(*name)};
}

json RegisterThingResponse::encode() const {
  return json{{"deviceConfiguration", string_map_to_json(device_configuration)},
              {"thingName", thing_name}};
}

// Errors

ErrorResponse ErrorResponse::make(const ProvisioningError& error, std::string message) {
  return ErrorResponse{error.status_code, std::string(error.error_code), std::move(message)};
}

Result<ErrorResponse> ErrorResponse::decode(const json& document) {
  if (auto ok = require_object(document); !ok) return tl::unexpected(ok.error());
  auto status = fields::required_integer(document, "statusCode", 100, 599);
  if (!status) return tl::unexpected(status.error());
  auto code = fields::required_string(document, "errorCode", kMaxErrorCodeSize);
  if (!code) return tl::unexpected(code.error());
  std::string message;
  if (const json* value = fields::find(document, "errorMessage"); value != nullptr) {
    if (!value->is_string()) {
      return fail(std::string("errorMessage: must be a string, not ") + fields::type_name(*value));
    }
    message = value->get<std::string>();
    if (message.size() > kMaxErrorMessageSize) {
      return fail("errorMessage: " + std::to_string(message.size()) + " bytes, more than the " +
                  std::to_string(kMaxErrorMessageSize) + " allowed");
    }
  }
  return ErrorResponse{static_cast<int>(*status), std::move(*code), std::move(message)};
}

json ErrorResponse::encode() const {
  return json{
      {"statusCode", status_code}, {"errorCode", error_code}, {"errorMessage", error_message}};
}

// Just-in-time registration

json CertificateRegisteredEvent::encode() const {
  return json{
      {"certificateId", certificate_id},
      {"caCertificateId", ca_certificate_id},
      {"timestamp", timestamp},
      {"certificateStatus", certificate_status},
      {"awsAccountId", aws_account_id},
      {"certificateRegistrationTimestamp", certificate_registration_timestamp
                                               ? std::to_string(*certificate_registration_timestamp)
                                               : std::string("null")}};
}

}  // namespace ironroot::protocol
