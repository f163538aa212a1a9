// DeviceAuthorizer: the registry's view of one certificate, cached until the database changes,
// and the policy decision over it.
#include "ironroot/fleet/authorization.hpp"

#include "ironroot/core/bytes.hpp"

namespace ironroot::fleet {

namespace {

// How many times a certificate's view is re-read when the database changes while it is read.
constexpr int kLoadAttempts = 3;

std::optional<std::string> present(const std::string& value) {
  return value.empty() ? std::nullopt : std::optional<std::string>(value);
}

// The attributes libs/crypto reads from a name (CN, serialNumber, O), as policy variables.
policy::DistinguishedName policy_name(const crypto::Certificate& certificate) {
  policy::DistinguishedName name;
  auto fields = certificate.subject_name();
  if (!fields) return name;  // a repeated attribute: leave them all unresolved
  name.common_name = present(fields->common_name);
  name.serial_number = present(fields->serial_number);
  name.organization = present(fields->organization);
  return name;
}

bool absent(const RegistryError& error) {
  return error.code == RegistryErrorCode::not_found || error.code == RegistryErrorCode::invalid;
}

std::string short_id(std::string_view id) {
  return std::string(id.substr(0, 12)) + (id.size() > 12 ? "..." : "");
}

}  // namespace

std::string certificate_id_of(const crypto::Certificate& certificate) {
  return to_hex(certificate.fingerprint());
}

RegistryResult<bool> DeviceAuthorizer::refresh() {
  auto now = registry_.change_counter();
  if (!now) return tl::unexpected(now.error());
  if (seen_ && *seen_ == *now) return false;
  seen_ = *now;
  cache_.clear();
  return true;
}

RegistryResult<DeviceAuthorizer::CertificateView> DeviceAuthorizer::load(
    const std::string& certificate_id) {
  CertificateView view;
  auto record = registry_.describe_certificate(certificate_id);
  if (!record) {
    if (absent(record.error())) return view;
    return tl::unexpected(record.error());
  }
  view.record = *record;
  if (auto parsed = crypto::Certificate::from_pem(as_bytes(record->pem))) {
    view.subject = policy_name(*parsed);
  }
  if (record->ca_id) {
    auto ca = registry_.describe_ca(*record->ca_id);
    if (!ca && !absent(ca.error())) return tl::unexpected(ca.error());
    if (ca) {
      if (auto parsed = crypto::Certificate::from_pem(as_bytes(ca->pem))) {
        view.issuer = policy_name(*parsed);
      }
      if (record->status == CertificateStatus::pending_activation &&
          ca->status == CaStatus::active && ca->auto_registration) {
        view.just_in_time_ca_id = ca->id;
      }
    }
  }
  if (record->status != CertificateStatus::active) return view;  // nothing else matters

  auto things = registry_.things_of(certificate_id);
  if (!things) return tl::unexpected(things.error());
  for (const std::string& name : *things) {
    auto thing = registry_.describe_thing(name);
    if (!thing) {
      if (absent(thing.error())) continue;
      return tl::unexpected(thing.error());
    }
    view.things.emplace(name, std::move(*thing));
  }
  auto policies = registry_.policies_for(certificate_id);
  if (!policies) return tl::unexpected(policies.error());
  for (const Policy& stored : *policies) {
    auto document = policy::PolicyDocument::parse(stored.document);
    if (!document) {
      view.unusable_policy =
          "attached policy '" + stored.name + "' cannot be used (" + document.error().message + ")";
      break;
    }
    view.policies.push_back(policy::NamedPolicy{stored.name, std::move(*document)});
  }
  return view;
}

RegistryResult<const DeviceAuthorizer::CertificateView*> DeviceAuthorizer::view_of(
    const std::string& certificate_id) {
  if (auto changed = refresh(); !changed) return tl::unexpected(changed.error());
  if (auto found = cache_.find(certificate_id); found != cache_.end()) return &found->second;
  // The registry's reads are separate snapshots: read again when a commit came in between.
  for (int attempt = 1;; ++attempt) {
    auto view = load(certificate_id);
    if (!view) return tl::unexpected(view.error());
    auto changed = refresh();
    if (!changed) return tl::unexpected(changed.error());
    if (!*changed || attempt == kLoadAttempts) {
      if (cache_.size() >= kMaxCachedCertificates) cache_.clear();
      auto [it, inserted] = cache_.insert_or_assign(certificate_id, std::move(*view));
      return &it->second;
    }
  }
}

RegistryResult<std::optional<std::string>> DeviceAuthorizer::just_in_time_issuer(
    const crypto::Certificate& certificate) {
  auto view = view_of(certificate_id_of(certificate));
  if (!view) return tl::unexpected(view.error());
  if ((*view)->record) return std::optional<std::string>();
  auto ca = registry_.issuing_ca(certificate);
  if (!ca) return tl::unexpected(ca.error());
  if (!*ca || (*ca)->status != CaStatus::active || !(*ca)->auto_registration) {
    return std::optional<std::string>();
  }
  return std::optional<std::string>((*ca)->id);
}

RegistryResult<AuthorizationDecision> DeviceAuthorizer::authorize(const ClientIdentity& identity,
                                                                  const policy::Request& request) {
  auto found = view_of(identity.certificate_id);
  if (!found) return tl::unexpected(found.error());
  const CertificateView& view = **found;
  const std::string action(policy::action_name(request.action));

  AuthorizationDecision decision;
  if (!view.record) {
    decision.reason = "refused " + action + ": certificate " + short_id(identity.certificate_id) +
                      " is not registered";
    return decision;
  }
  if (view.record->status != CertificateStatus::active) {
    decision.reason = "refused " + action + ": certificate " + short_id(identity.certificate_id) +
                      " is " + std::string(certificate_status_name(view.record->status));
    decision.just_in_time_ca_id = view.just_in_time_ca_id;
    if (decision.just_in_time_ca_id) {
      decision.reason += " (eligible for just-in-time registration by CA " +
                         short_id(*decision.just_in_time_ca_id) + ")";
    }
    return decision;
  }
  if (view.unusable_policy) {
    decision.reason = "refused " + action + ": " + *view.unusable_policy;
    return decision;
  }

  policy::ConnectionContext context;
  context.client_id = identity.client_id;
  context.certificate_id = view.record->id;
  context.certificate_subject = view.subject;
  context.certificate_issuer = view.issuer;
  if (auto thing = view.things.find(identity.client_id); thing != view.things.end()) {
    context.thing_name = thing->second.name;
    context.thing_type_name = thing->second.thing_type;
    context.thing_attributes.insert(thing->second.attributes.begin(),
                                    thing->second.attributes.end());
  }
  policy::Decision decided = policy::evaluate(view.policies, context, request);
  decision.allowed = decided.allowed;
  decision.reason = std::move(decided.reason);
  return decision;
}

}  // namespace ironroot::fleet
