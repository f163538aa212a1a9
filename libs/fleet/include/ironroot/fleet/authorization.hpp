// What a connected device may do, decided from the registry as AWS IoT Core decides it: the
// client's certificate must be registered and ACTIVE, the thing attached to it gives the policy
// variables, and the policies attached to the certificate (and to its things' groups) decide
// (ironroot/policy/authorizer.hpp). The Mosquitto plugin (broker/) asks this for every connect,
// subscribe, publish and delivery.
//
// Identity comes from the TLS client certificate alone. An MQTT username is never consulted: AWS
// IoT SDKs put a metrics string there ("?SDK=...&Version=...").
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ironroot/crypto/x509.hpp"
#include "ironroot/fleet/records.hpp"
#include "ironroot/fleet/registry.hpp"
#include "ironroot/policy/authorizer.hpp"

namespace ironroot::fleet {

// AWS IoT's certificate id: the lower-case hex SHA-256 of the certificate's DER encoding.
std::string certificate_id_of(const crypto::Certificate& certificate);

// Who asks: the connection's TLS client certificate and its MQTT client id.
struct ClientIdentity {
  std::string certificate_id;  // certificate_id_of(the client certificate)
  std::string client_id;
};

struct AuthorizationDecision {
  bool allowed = false;
  // Why, for the broker's log and audit: the policy statement that decided, or the certificate's
  // state ("certificate 3f2a... is REVOKED"), or "certificate 3f2a... is not registered".
  std::string reason;
  // Set (to the issuing CA's id) when the request was refused because the certificate is
  // PENDING_ACTIVATION and its issuer is a registered ACTIVE CA with auto-registration: the
  // certificate is eligible for just-in-time registration, and the fleet service should hear
  // about it (AWS IoT publishes $aws/events/certificates/registered/<caCertificateId>).
  std::optional<std::string> just_in_time_ca_id;
};

// Decides requests from the registry, caching what it read per certificate. The cache is
// dropped whenever the database changed (Registry::change_counter, checked on every call), so a
// change committed by the fleet service, or through `registry` itself, applies to the very next
// request. At most kMaxCachedCertificates certificates are cached; beyond that the cache starts
// over.
//
// Reads only. Not thread-safe: one thread at a time, like the Registry it uses.
class DeviceAuthorizer {
 public:
  static constexpr std::size_t kMaxCachedCertificates = 10000;

  // REQUIRES: `registry` outlives this authorizer.
  explicit DeviceAuthorizer(Registry& registry) : registry_(registry) {}

  // Decides `request` for `identity`. Refused (allowed = false, with the reason) when the
  // certificate is unknown or not ACTIVE, when an attached policy cannot be parsed (fail closed:
  // a broken Deny must not turn into an Allow), and whenever policy::evaluate says so. The policy
  // context: ${iot:ClientId} is the client id; the thing variables come from the thing attached
  // to the certificate whose name is the client id (AWS's rule; none when there is no such
  // thing); ${iot:CertificateId} is the certificate id; Certificate.Subject.* are the
  // certificate's CN, serialNumber and O, and Certificate.Issuer.* those of its registered CA
  // (other attributes stay unresolved, so they match nothing). Fails only when the registry
  // cannot be read (the caller refuses the request then).
  RegistryResult<AuthorizationDecision> authorize(const ClientIdentity& identity,
                                                  const policy::Request& request);

  // For a certificate the registry does not know: the id of the registered CA that issued it,
  // when that CA is ACTIVE and allows auto-registration, so the certificate is eligible for
  // just-in-time registration (the fleet service should hear about it); nullopt otherwise, and
  // for a registered certificate (authorize() reports those). Fails only when the registry cannot
  // be read.
  RegistryResult<std::optional<std::string>> just_in_time_issuer(
      const crypto::Certificate& certificate);

  // Checks whether the database changed since the last check and, if so, empties the cache.
  // Returns whether it changed. authorize() does this itself; call it to notice changes without
  // a request (e.g. before re-checking every connected client).
  RegistryResult<bool> refresh();

 private:
  // What the registry says about one certificate.
  struct CertificateView {
    std::optional<CertificateRecord> record;  // nullopt: not registered
    std::optional<std::string> just_in_time_ca_id;
    std::map<std::string, Thing, std::less<>> things;  // attached things, by name
    policy::DistinguishedName subject;
    policy::DistinguishedName issuer;
    std::vector<policy::NamedPolicy> policies;
    std::optional<std::string> unusable_policy;  // why a policy could not be used
  };

  RegistryResult<const CertificateView*> view_of(const std::string& certificate_id);
  RegistryResult<CertificateView> load(const std::string& certificate_id);

  Registry& registry_;
  std::optional<Registry::ChangeCounter> seen_;
  std::map<std::string, CertificateView, std::less<>> cache_;
};

}  // namespace ironroot::fleet
