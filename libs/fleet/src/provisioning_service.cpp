// ProvisioningService: fleet provisioning by claim and just-in-time registration.
#include <algorithm>

#include "ironroot/core/bytes.hpp"
#include "ironroot/crypto/digest.hpp"
#include "ironroot/crypto/random.hpp"
#include "ironroot/fleet/names.hpp"
#include "ironroot/fleet/provisioning.hpp"
#include "ironroot/fleet/provisioning_template.hpp"

namespace ironroot::fleet {

namespace {

namespace errors = protocol::provisioning_errors;
using protocol::ErrorResponse;

tl::unexpected<ErrorResponse> reject(const protocol::ProvisioningError& error,
                                     std::string message) {
  return tl::unexpected(ErrorResponse::make(error, std::move(message)));
}

std::string actor_for(std::string_view id) {
  return "provisioning:" + std::string(id);
}

std::int64_t milliseconds(Time time) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
}

std::string token_hash(std::string_view token) {
  return to_hex(crypto::sha256(as_bytes(token)));
}

bool is_token_error(const RegistryError& error) {
  return error.code == RegistryErrorCode::conflict &&
         error.message.rfind("certificate ownership token", 0) == 0;
}

tl::unexpected<ErrorResponse> reject_registry(const RegistryError& error) {
  switch (error.code) {
    case RegistryErrorCode::invalid:
    case RegistryErrorCode::not_found:
      return reject(errors::kInvalidPayload, error.message);
    case RegistryErrorCode::already_exists:
    case RegistryErrorCode::conflict:
      if (is_token_error(error)) {
        return reject(errors::kInvalidCertificateOwnershipToken, error.message);
      }
      return reject(kResourceConflict, error.message);
    case RegistryErrorCode::internal:
      break;
  }
  return reject(errors::kInternalError, error.message);
}

// The CSR checks that are the device's fault, before the CA is asked.
Status check_csr(const crypto::CertificateRequest& csr) {
  if (auto ok = csr.verify_signature(); !ok)
    return prefixed(ok.error(), "certificateSigningRequest");
  auto key = csr.public_key();
  if (!key) return prefixed(key.error(), "certificateSigningRequest");
  if (key->type() != crypto::KeyType::ecdsa_p256) {
    return fail("certificateSigningRequest: the key must be ECDSA P-256");
  }
  auto subject = csr.subject_name();
  if (!subject) return prefixed(subject.error(), "certificateSigningRequest subject");
  if (auto ok = crypto::check_thing_name(subject->common_name); !ok) {
    return prefixed(ok.error(), "certificateSigningRequest CN");
  }
  if (!subject->serial_number.empty()) {
    if (auto ok = crypto::check_device_serial(subject->serial_number); !ok) {
      return prefixed(ok.error(), "certificateSigningRequest serialNumber");
    }
  }
  return {};
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

TemplateParameters certificate_parameters(const crypto::Certificate& certificate) {
  static constexpr std::pair<std::string_view, std::string_view> kNames[] = {
      {"CN", "CommonName"},
      {"serialNumber", "SerialNumber"},
      {"C", "Country"},
      {"O", "Organization"},
      {"OU", "OrganizationalUnit"},
      {"dnQualifier", "DistinguishedNameQualifier"},
      {"ST", "StateName"}};
  TemplateParameters parameters;
  parameters[std::string(kCertificateIdParameter)] = to_hex(certificate.fingerprint());
  // OpenSSL's RFC 2253 text: attributes separated by unescaped ',' or '+', "type=value", with
  // '\' escaping one character or giving two hex digits of a byte.
  const std::string subject = certificate.subject();
  std::string type;
  std::string value;
  bool in_value = false;
  auto finish = [&] {
    if (!value.empty() && value.front() != '#') {
      for (const auto& [short_name, long_name] : kNames) {
        const std::string key = "AWS::IoT::Certificate::" + std::string(long_name);
        if (type == short_name && !parameters.count(key)) parameters[key] = value;
      }
    }
    type.clear();
    value.clear();
    in_value = false;
  };
  for (std::size_t i = 0; i < subject.size(); ++i) {
    const char c = subject[i];
    if (c == '\\' && i + 1 < subject.size()) {
      const int high = hex_value(subject[i + 1]);
      const int low = i + 2 < subject.size() ? hex_value(subject[i + 2]) : -1;
      char decoded = subject[i + 1];
      if (high >= 0 && low >= 0) {
        decoded = static_cast<char>(high * 16 + low);
        i += 2;
      } else {
        i += 1;
      }
      (in_value ? value : type) += decoded;
    } else if (c == ',' || c == '+') {
      finish();
    } else if (c == '=' && !in_value) {
      in_value = true;
    } else {
      (in_value ? value : type) += c;
    }
  }
  finish();
  return parameters;
}

ProvisioningService::ProvisioningService(Registry& registry, crypto::CertificateAuthority& ca,
                                         Clock clock, ProvisioningOptions options)
    : registry_(registry), ca_(ca), clock_(std::move(clock)), options_(std::move(options)) {
  if (!clock_) {
    clock_ = [] {
      return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
    };
  }
}

ProvisioningResult<std::string> ProvisioningService::active_claim(
    std::string_view claim_certificate_id) {
  auto id = normalize_certificate_id(claim_certificate_id);
  if (!id) return reject(errors::kAccessDenied, "claim " + id.error().message);
  auto claim = registry_.describe_certificate(*id);
  if (!claim) {
    if (claim.error().code == RegistryErrorCode::not_found) {
      return reject(errors::kAccessDenied, "claim certificate " + *id + " is not registered");
    }
    return reject(errors::kInternalError, claim.error().message);
  }
  if (claim->status != CertificateStatus::active) {
    return reject(errors::kAccessDenied, "claim certificate " + *id + " is " +
                                             std::string(certificate_status_name(claim->status)) +
                                             ", not ACTIVE");
  }
  return *id;
}

ProvisioningResult<ProvisioningService::Issued> ProvisioningService::issue_from_ca(
    const crypto::CertificateRequest& csr) {
  const std::string ca_id = to_hex(ca_.certificate().fingerprint());
  auto ca = registry_.describe_ca(ca_id);
  if (!ca) {
    return reject(errors::kInternalError,
                  ca.error().code == RegistryErrorCode::not_found
                      ? "the device CA " + ca_id + " is not registered: register it first"
                      : ca.error().message);
  }
  if (ca->status != CaStatus::active) {
    return reject(errors::kInternalError, "the device CA " + ca_id + " is INACTIVE");
  }
  const Time now = clock_();
  crypto::Validity validity = crypto::validity_from_now(options_.certificate_validity, now);
  validity.not_after = std::min(validity.not_after, ca_.certificate().not_after());
  if (validity.not_after <= now) {
    return reject(errors::kInternalError, "the device CA " + ca_id + " has expired");
  }
  auto certificate = ca_.issue_device_certificate(csr, validity);
  if (!certificate) return reject(errors::kInternalError, certificate.error().message);
  return Issued{std::move(*certificate), ca_id};
}

template <class T>
ProvisioningResult<T> ProvisioningService::issue(std::string_view claim_certificate_id,
                                                 const crypto::CertificateRequest& csr,
                                                 T response) {
  auto claim = active_claim(claim_certificate_id);
  if (!claim) return tl::unexpected(claim.error());
  if (auto ok = check_csr(csr); !ok) return reject(errors::kInvalidPayload, ok.error().message);
  auto issued = issue_from_ca(csr);
  if (!issued) return tl::unexpected(issued.error());
  auto secret = crypto::random_bytes(32);
  if (!secret) return reject(errors::kInternalError, secret.error().message);
  const std::string token = to_hex(*secret);
  auto record = registry_.register_certificate_with_token(
      actor_for(*claim), issued->certificate.pem(), issued->ca_id,
      NewOwnershipToken{token_hash(token), *claim, clock_() + options_.ownership_token_lifetime});
  if (!record) return reject(errors::kInternalError, record.error().message);
  response.certificate_id = record->id;
  response.certificate_pem = record->pem;
  response.certificate_ownership_token = token;
  return response;
}

ProvisioningResult<protocol::CreateCertificateFromCsrResponse>
ProvisioningService::create_certificate_from_csr(
    std::string_view claim_certificate_id,
    const protocol::CreateCertificateFromCsrRequest& request) {
  const std::string& pem = request.certificate_signing_request;
  if (pem.empty() || pem.size() > protocol::kMaxCsrPemSize) {
    return reject(errors::kInvalidPayload, "certificateSigningRequest: must be 1 to " +
                                               std::to_string(protocol::kMaxCsrPemSize) +
                                               " bytes of PEM");
  }
  auto csr = crypto::CertificateRequest::from_pem(as_bytes(pem));
  if (!csr) {
    return reject(errors::kInvalidPayload, "certificateSigningRequest: " + csr.error().message);
  }
  return issue(claim_certificate_id, *csr, protocol::CreateCertificateFromCsrResponse{});
}

ProvisioningResult<protocol::CreateKeysAndCertificateResponse>
ProvisioningService::create_keys_and_certificate(std::string_view claim_certificate_id) {
  if (auto claim = active_claim(claim_certificate_id); !claim) {
    return tl::unexpected(claim.error());
  }
  auto key = crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256);
  if (!key) return reject(errors::kInternalError, key.error().message);
  auto name = crypto::random_bytes(16);
  if (!name) return reject(errors::kInternalError, name.error().message);
  auto csr = crypto::CertificateRequest::create({"device-" + to_hex(*name), "", ""}, *key);
  if (!csr) return reject(errors::kInternalError, csr.error().message);
  auto pem = key->pem();
  if (!pem) return reject(errors::kInternalError, pem.error().message);
  protocol::CreateKeysAndCertificateResponse response;
  response.private_key = std::move(*pem);
  return issue(claim_certificate_id, *csr, std::move(response));
}

ProvisioningResult<ProvisioningTemplate> ProvisioningService::enabled_template(
    std::string_view template_name) {
  auto stored = registry_.describe_template(template_name);
  if (!stored) {
    if (stored.error().code == RegistryErrorCode::not_found) {
      return reject(errors::kResourceNotFound, stored.error().message);
    }
    return reject(errors::kInternalError, stored.error().message);
  }
  if (!stored->enabled) {
    return reject(errors::kResourceNotFound,
                  "provisioning template '" + stored->name + "' is disabled");
  }
  return std::move(*stored);
}

ProvisioningResult<protocol::RegisterThingResponse> ProvisioningService::register_thing(
    std::string_view claim_certificate_id, std::string_view template_name,
    const protocol::RegisterThingRequest& request, std::string_view client_id) {
  auto claim = active_claim(claim_certificate_id);
  if (!claim) return tl::unexpected(claim.error());
  auto stored = enabled_template(template_name);
  if (!stored) return tl::unexpected(stored.error());

  const std::string& token = request.certificate_ownership_token;
  if (token.empty() || token.size() > protocol::kMaxOwnershipTokenSize) {
    return reject(errors::kInvalidCertificateOwnershipToken,
                  "certificateOwnershipToken: must be 1 to " +
                      std::to_string(protocol::kMaxOwnershipTokenSize) + " bytes");
  }
  const std::string hash = token_hash(token);
  auto found = registry_.find_ownership_token(hash);
  if (!found) return reject(errors::kInternalError, found.error().message);
  const Time now = clock_();
  std::string problem;
  if (!*found) {
    problem = "is unknown: it was never issued, or it expired";
  } else if ((*found)->used_at) {
    problem = "has already been used; each token works once";
  } else if ((*found)->expires_at <= now) {
    problem = "expired at " + crypto::format_time((*found)->expires_at);
  } else if ((*found)->claim_certificate_id != *claim) {
    problem = "was issued to another claim certificate";
  }
  if (!problem.empty()) {
    return reject(errors::kInvalidCertificateOwnershipToken,
                  "certificate ownership token " + problem);
  }
  auto certificate = registry_.describe_certificate((*found)->certificate_id);
  if (!certificate) return reject(errors::kInternalError, certificate.error().message);

  auto body = ProvisioningTemplateBody::parse(stored->body);
  if (!body) {
    return reject(errors::kInternalError, "provisioning template '" + stored->name +
                                              "' is invalid: " + body.error().message);
  }
  TemplateParameters parameters;
  for (const auto& [name, value] : request.parameters) {
    if (name.rfind(kPseudoParameterPrefix, 0) != 0) parameters[name] = value;
  }
  if (stored->pre_provisioning_hook) {
    auto hook = PreProvisioningHook::parse(*stored->pre_provisioning_hook);
    if (!hook) return reject(errors::kAccessDenied, hook.error().message);
    auto decision = hook->call(HookRequest{*claim, certificate->id, certificate->pem,
                                           options_.template_arn_prefix + stored->name,
                                           std::string(client_id), parameters},
                               options_.hook_timeout);
    if (!decision) return reject(errors::kAccessDenied, decision.error().message);
    if (!decision->allow_provisioning) {
      return reject(errors::kAccessDenied, "the pre-provisioning hook did not allow provisioning");
    }
    for (const auto& [name, value] : decision->parameter_overrides) {
      if (name.rfind(kPseudoParameterPrefix, 0) != 0) parameters[name] = value;
    }
  }
  parameters[std::string(kCertificateIdParameter)] = certificate->id;
  auto outcome = body->apply(parameters);
  if (!outcome) return reject(errors::kInvalidPayload, outcome.error().message);
  ProvisioningPlan& plan = outcome->plan;
  if (plan.certificate_id != certificate->id) {
    return reject(errors::kAccessDenied, "the template's CertificateId is " + plan.certificate_id +
                                             ", not the certificate of this ownership token");
  }
  plan.token = ProvisioningPlan::TokenUse{hash, *claim};
  auto provisioned = registry_.provision(actor_for(*claim), plan);
  if (!provisioned) return reject_registry(provisioned.error());
  protocol::RegisterThingResponse response;
  response.thing_name = provisioned->thing.name;
  response.device_configuration = std::move(outcome->device_configuration);
  return response;
}

ProvisioningResult<OperatorProvisioning> ProvisioningService::provision_by_operator(
    std::string_view operator_name, std::string_view template_name,
    const TemplateParameters& parameters, const crypto::CertificateRequest& csr) {
  auto stored = enabled_template(template_name);
  if (!stored) return tl::unexpected(stored.error());
  auto body = ProvisioningTemplateBody::parse(stored->body);
  if (!body) {
    return reject(errors::kInternalError, "provisioning template '" + stored->name +
                                              "' is invalid: " + body.error().message);
  }
  for (const auto& [name, value] : parameters) {
    if (name.rfind(kPseudoParameterPrefix, 0) == 0) {
      return reject(errors::kInvalidPayload, "parameter '" + name + "': names starting with " +
                                                 std::string(kPseudoParameterPrefix) +
                                                 " are the service's to supply");
    }
  }
  if (auto ok = check_csr(csr); !ok) return reject(errors::kInvalidPayload, ok.error().message);
  auto key = csr.public_key();
  if (!key) return reject(errors::kInvalidPayload, key.error().message);

  // The template evaluated before the certificate exists, with two stand-in ids: the thing it
  // names is known now unless its name depends on the certificate id.
  auto evaluate = [&](const std::string& certificate_id) -> ProvisioningResult<TemplateOutcome> {
    TemplateParameters all = parameters;
    all[std::string(kCertificateIdParameter)] = certificate_id;
    auto outcome = body->apply(all);
    if (!outcome) {
      return reject(errors::kInvalidPayload,
                    "provisioning template '" + stored->name + "': " + outcome.error().message);
    }
    if (outcome->plan.certificate_id != certificate_id) {
      return reject(errors::kInvalidPayload,
                    "provisioning template '" + stored->name +
                        "': its certificate's CertificateId must be {\"Ref\": \"" +
                        std::string(kCertificateIdParameter) +
                        "\"} (the certificate issued for the CSR)");
    }
    return std::move(*outcome);
  };
  auto first = evaluate(std::string(64, 'a'));
  if (!first) return tl::unexpected(first.error());
  auto second = evaluate(std::string(64, 'b'));
  if (!second) return tl::unexpected(second.error());
  const std::string& thing_name = first->plan.thing.name;
  if (thing_name == second->plan.thing.name) {
    if (auto ok = crypto::check_thing_name(thing_name); !ok) {
      return reject(errors::kInvalidPayload, "provisioning template '" + stored->name +
                                                 "': ThingName: " + ok.error().message);
    }
    auto existing = find_certificate_for_key(thing_name, *key);
    if (!existing) return tl::unexpected(existing.error());
    if (*existing) {
      const CertificateRecord& record = **existing;
      return OperatorProvisioning{thing_name, record.id, record.pem, record.status, false};
    }
  }

  auto issued = issue_from_ca(csr);
  if (!issued) return tl::unexpected(issued.error());
  const std::string certificate_id = to_hex(issued->certificate.fingerprint());
  auto outcome = evaluate(certificate_id);
  if (!outcome) return tl::unexpected(outcome.error());
  ProvisioningPlan& plan = outcome->plan;
  plan.registration = ProvisioningPlan::Registration{issued->certificate.pem(), issued->ca_id};
  auto provisioned = registry_.provision(operator_name, plan);
  if (!provisioned) return reject_registry(provisioned.error());
  return OperatorProvisioning{provisioned->thing.name, provisioned->certificate.id,
                              provisioned->certificate.pem, provisioned->certificate.status, true};
}

ProvisioningResult<std::optional<CertificateRecord>> ProvisioningService::find_certificate_for_key(
    const std::string& thing_name, const crypto::PublicKey& key) {
  using Found = std::optional<CertificateRecord>;
  if (auto thing = registry_.describe_thing(thing_name); !thing) {
    if (thing.error().code == RegistryErrorCode::not_found) return Found();
    return reject(errors::kInternalError, thing.error().message);
  }
  auto attached = registry_.certificates_of(thing_name);
  if (!attached) return reject(errors::kInternalError, attached.error().message);
  for (const std::string& id : *attached) {
    auto record = registry_.describe_certificate(id);
    if (!record) return reject(errors::kInternalError, record.error().message);
    if (record->status == CertificateStatus::revoked) continue;
    auto certificate = crypto::Certificate::from_pem(as_bytes(record->pem));
    if (!certificate) {
      return reject(errors::kInternalError,
                    "certificate " + id + ": " + certificate.error().message);
    }
    auto certified = certificate->public_key();
    if (certified && certified->der() == key.der()) return Found(std::move(*record));
  }
  return Found();
}

Result<std::optional<JustInTimeRegistration>> ProvisioningService::register_just_in_time(
    const std::vector<crypto::Certificate>& chain) {
  if (chain.empty()) return fail("just-in-time registration: no certificate presented");
  const crypto::Certificate& leaf = chain.front();
  const std::string id = to_hex(leaf.fingerprint());
  const Time now = clock_();
  JustInTimeRegistration registration;
  registration.event.certificate_id = id;
  registration.event.timestamp = milliseconds(now);
  registration.event.aws_account_id = options_.account_id;

  if (auto known = registry_.describe_certificate(id); known) {
    if (known->status == CertificateStatus::revoked) {
      return fail("certificate " + id + " is REVOKED");
    }
    if (known->status != CertificateStatus::pending_activation) {
      return std::optional<JustInTimeRegistration>();
    }
    registration.event.ca_certificate_id = known->ca_id.value_or("");
    registration.event.certificate_status = "PENDING_ACTIVATION";
    registration.event.certificate_registration_timestamp = milliseconds(known->created_at);
    return std::optional<JustInTimeRegistration>(std::move(registration));
  } else if (known.error().code != RegistryErrorCode::not_found) {
    return fail(known.error().message);
  }

  auto found = registry_.issuing_ca(leaf);
  if (!found) return fail(found.error().message);
  if (!*found) {
    return fail("certificate " + id + " (issuer " + leaf.issuer() +
                ") was not issued by a registered CA");
  }
  const std::optional<CaRecord>& issuer = *found;
  if (issuer->status != CaStatus::active) return fail("CA " + issuer->id + " is INACTIVE");
  if (!issuer->auto_registration) {
    return fail("CA " + issuer->id + " does not allow auto-registration of its certificates");
  }
  if (now < leaf.not_before() || now > leaf.not_after()) {
    return fail("certificate " + id + " is valid from " + crypto::format_time(leaf.not_before()) +
                " to " + crypto::format_time(leaf.not_after()) + ", not now");
  }
  registration.event.ca_certificate_id = issuer->id;
  const std::string actor = actor_for(issuer->id);

  if (!issuer->provisioning_template) {
    auto record = registry_.register_certificate(actor, leaf.pem(),
                                                 CertificateStatus::pending_activation, issuer->id);
    if (!record) return fail(record.error().message);
    registration.event.certificate_status = "PENDING_ACTIVATION";
    registration.event.certificate_registration_timestamp = milliseconds(record->created_at);
    return std::optional<JustInTimeRegistration>(std::move(registration));
  }

  auto stored = registry_.describe_template(*issuer->provisioning_template);
  if (!stored) return fail(stored.error().message);
  if (!stored->enabled) {
    return fail("provisioning template '" + stored->name + "' of CA " + issuer->id +
                " is disabled");
  }
  auto body = ProvisioningTemplateBody::parse(stored->body);
  if (!body) {
    return fail("provisioning template '" + stored->name + "' is invalid: " + body.error().message);
  }
  auto outcome = body->apply(certificate_parameters(leaf));
  if (!outcome) {
    return prefixed(outcome.error(), "provisioning template '" + stored->name + "'");
  }
  ProvisioningPlan& plan = outcome->plan;
  if (plan.certificate_id != id) {
    return fail("provisioning template '" + stored->name + "': CertificateId is " +
                plan.certificate_id + ", not the connecting certificate " + id);
  }
  plan.registration = ProvisioningPlan::Registration{leaf.pem(), issuer->id};
  auto provisioned = registry_.provision(actor, plan);
  if (!provisioned) return fail(provisioned.error().message);
  registration.event.certificate_status =
      std::string(certificate_status_name(provisioned->certificate.status));
  registration.event.certificate_registration_timestamp =
      milliseconds(provisioned->certificate.created_at);
  registration.thing_name = provisioned->thing.name;
  return std::optional<JustInTimeRegistration>(std::move(registration));
}

}  // namespace ironroot::fleet
