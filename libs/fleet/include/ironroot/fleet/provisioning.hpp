// Device provisioning, as AWS IoT does it (developer guide: "Device provisioning MQTT API",
// "Provisioning templates", "Pre-provisioning hooks", "Just-in-time provisioning"), as pure logic
// over the registry, the device CA and a clock. No MQTT: the fleet service decodes requests from
// the broker, calls these, and publishes the replies (or the rejection) itself.
//
// Fleet provisioning by claim: a device connected with a shared claim certificate (registered,
// ACTIVE) asks for a certificate (from its CSR, or with a key made here) and gets it
// PENDING_ACTIVATION with a certificate ownership token; it then asks RegisterThing of a template
// with that token, which applies the template in one registry transaction (thing, groups,
// certificate status and attachment, policies) and consumes the token.
//
// Just in time: a device whose certificate the registry does not know connects with a
// certificate from a registered CA that allows auto-registration; with the CA's template the
// certificate is provisioned at once (JITP), without one it is registered PENDING_ACTIVATION for
// an operator or a rule to decide (JITR).
//
// Operator (bulk) provisioning: an operator holding a device's CSR provisions it through a
// template directly, idempotently (provision_by_operator).
//
// Every registry change is audited with actor "provisioning:<claim certificate id>" (fleet),
// "provisioning:<CA id>" (just in time) or the operator's name (operator provisioning). Not
// thread-safe: the Registry and the CA are one connection and one signer; use one service per
// thread.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ironroot/core/result.hpp"
#include "ironroot/crypto/certificate_authority.hpp"
#include "ironroot/crypto/x509.hpp"
#include "ironroot/fleet/pre_provisioning_hook.hpp"
#include "ironroot/fleet/provisioning_template.hpp"
#include "ironroot/fleet/registry.hpp"
#include "ironroot/protocol/provisioning.hpp"

namespace ironroot::fleet {

// A template's FAIL override met an existing thing whose value differs (AWS's
// ResourceConflictsException); a policy of the template's name with another document. ironroot's
// code, with the status AWS uses for conflicts.
inline constexpr protocol::ProvisioningError kResourceConflict{409, "ResourceConflict"};

// AWS's certificateOwnershipToken expires after one hour.
inline constexpr std::chrono::seconds kOwnershipTokenLifetime{3600};

struct ProvisioningOptions {
  // Device certificates are valid from an hour ago (crypto::kClockSkewAllowance) for this long,
  // or until the device CA's own certificate expires if that is sooner.
  std::chrono::days certificate_validity = crypto::kDefaultDeviceValidity;
  std::chrono::seconds ownership_token_lifetime = kOwnershipTokenLifetime;
  std::chrono::milliseconds hook_timeout = kDefaultHookTimeout;
  // A hook sees "<template_arn_prefix><template name>" as templateArn.
  std::string template_arn_prefix = "arn:ironroot:iot:::provisioningtemplate/";
  // The awsAccountId of certificate registration events.
  std::string account_id = "ironroot";
};

// The just-in-time provisioning parameters of a certificate: AWS::IoT::Certificate::Id (its
// SHA-256 in hex) and those of ...::CommonName, SerialNumber, Country, Organization,
// OrganizationalUnit, DistinguishedNameQualifier and StateName that its subject has (the first
// of each, escapes decoded).
TemplateParameters certificate_parameters(const crypto::Certificate& certificate);

template <class T>
using ProvisioningResult = Result<T, protocol::ErrorResponse>;

// What register_just_in_time did: the event to publish on
// <prefix>/events/certificates/registered/<caCertificateId>, and the thing when a template
// provisioned one.
struct JustInTimeRegistration {
  protocol::CertificateRegisteredEvent event;
  std::optional<std::string> thing_name;
};

// What provision_by_operator did: the thing and certificate, and whether this call made them
// (false: the thing already had a certificate for this key, returned as it is).
struct OperatorProvisioning {
  std::string thing_name;
  std::string certificate_id;
  std::string certificate_pem;
  CertificateStatus certificate_status = CertificateStatus::active;
  bool created = false;
};

class ProvisioningService {
 public:
  using Clock = std::function<Time()>;

  // `ca` issues device certificates; its certificate must be registered in `registry` as an
  // ACTIVE CA (checked on every issue, so an operator can deactivate it). Both must outlive the
  // service. Default clock: the system clock.
  ProvisioningService(Registry& registry, crypto::CertificateAuthority& ca, Clock clock = nullptr,
                      ProvisioningOptions options = {});

  // CreateCertificateFromCsr. The CSR must verify (its own signature), with an ECDSA P-256 key
  // and a CN that is a valid thing name (crypto::CertificateAuthority::issue_device_certificate).
  // Rejections: AccessDenied (claim certificate unknown or not ACTIVE), InvalidPayload (CSR),
  // InternalError (CA or storage).
  ProvisioningResult<protocol::CreateCertificateFromCsrResponse> create_certificate_from_csr(
      std::string_view claim_certificate_id,
      const protocol::CreateCertificateFromCsrRequest& request);

  // CreateKeysAndCertificate: as above with a P-256 key made here and returned in the reply
  // (PKCS#8 PEM), with CN "device-<32 random hex digits>". The weaker choice: the key crosses the
  // network and exists outside the device for a moment; prefer a CSR from a key made in the
  // device's secure element.
  ProvisioningResult<protocol::CreateKeysAndCertificateResponse> create_keys_and_certificate(
      std::string_view claim_certificate_id);

  // RegisterThing with the template named `template_name`. Rejections: ResourceNotFound (no such
  // template, or disabled), AccessDenied (claim certificate, the hook refused or failed, timed
  // out or answered malformed, or the template's CertificateId is another certificate),
  // InvalidCertificateOwnershipToken (unknown, expired, used, or issued to another claim),
  // InvalidPayload (a required parameter is missing; a value is invalid), ResourceConflict
  // (FAIL override), InternalError (the template is broken, storage). A rejection changes
  // nothing, and leaves the token usable.
  ProvisioningResult<protocol::RegisterThingResponse> register_thing(
      std::string_view claim_certificate_id, std::string_view template_name,
      const protocol::RegisterThingRequest& request, std::string_view client_id = {});

  // Operator (bulk) provisioning: the device's certificate from `csr` and the template named
  // `template_name` applied with `parameters`, for an operator who holds the device's CSR (or made
  // its key for factory programming). No ownership token and no claim: the operator is the
  // authority, so the template's pre-provisioning hook is not called (it exists to let a backend
  // vet devices that provision themselves). Audited with `operator_name` as the actor.
  //
  // Idempotent by (thing, public key): when the thing the template names exists and has an
  // attached certificate that is not REVOKED with the CSR's public key, that certificate is
  // returned (created = false) and nothing changes, even if the template has changed since.
  // Otherwise the CA issues a certificate for the CSR, and the certificate, the thing (created,
  // or updated as the template's OverrideSettings say) and the attachments are committed in one
  // Registry::provision transaction: a crash leaves either all of it or nothing, never a
  // certificate without its thing. A new key for an existing thing gets a new certificate,
  // attached next to the thing's others (a replacement device, a re-keyed one); revoking the
  // old one is the operator's decision. A thing name derived from AWS::IoT::Certificate::Id
  // cannot be idempotent (every run issues a new certificate and so a new thing).
  //
  // The CSR is checked as create_certificate_from_csr checks it (self-signature, P-256 key, CN a
  // valid thing name). Parameters named AWS::... are refused: the service supplies those.
  // Rejections, each changing nothing: ResourceNotFound (no such template, or disabled),
  // InvalidPayload (the CSR; a missing or invalid parameter; a template whose CertificateId is
  // not {"Ref": "AWS::IoT::Certificate::Id"}), ResourceConflict (FAIL override; a policy name
  // with another document), InternalError (the device CA is not registered, INACTIVE or
  // expired; the template is broken; storage).
  ProvisioningResult<OperatorProvisioning> provision_by_operator(
      std::string_view operator_name, std::string_view template_name,
      const TemplateParameters& parameters, const crypto::CertificateRequest& csr);

  // A device connects presenting `chain` (its certificate first, then any CA certificates).
  // nullopt: the certificate is registered and not PENDING_ACTIVATION (nothing to do). Otherwise
  // the certificate's issuer must be a registered ACTIVE CA with auto-registration that signed it,
  // and the certificate must be within its validity period; with the CA's (enabled) template it
  // is provisioned at once (parameters from its subject: AWS::IoT::Certificate::CommonName,
  // SerialNumber, Country, Organization, OrganizationalUnit, DistinguishedNameQualifier,
  // StateName, Id), without one it is registered PENDING_ACTIVATION; a certificate still
  // PENDING_ACTIVATION gets its event again, as AWS sends it on every such connection. Refused
  // (with the reason): a REVOKED certificate, an unknown or inactive CA, no auto-registration, a
  // template that fails.
  Result<std::optional<JustInTimeRegistration>> register_just_in_time(
      const std::vector<crypto::Certificate>& chain);

 private:
  template <class T>
  ProvisioningResult<T> issue(std::string_view claim_certificate_id,
                              const crypto::CertificateRequest& csr, T response);
  ProvisioningResult<std::string> active_claim(std::string_view claim_certificate_id);
  // The stored template of that name: ResourceNotFound when there is none or it is disabled.
  ProvisioningResult<ProvisioningTemplate> enabled_template(std::string_view template_name);
  // A device certificate for a CSR that check_csr accepted, from the registered, ACTIVE device
  // CA; and that CA's id.
  struct Issued {
    crypto::Certificate certificate;
    std::string ca_id;
  };
  ProvisioningResult<Issued> issue_from_ca(const crypto::CertificateRequest& csr);
  // The certificate attached to thing `thing_name` (if it exists) that is not REVOKED and
  // certifies `key`; nullopt when there is none.
  ProvisioningResult<std::optional<CertificateRecord>> find_certificate_for_key(
      const std::string& thing_name, const crypto::PublicKey& key);

  Registry& registry_;
  crypto::CertificateAuthority& ca_;
  Clock clock_;
  ProvisioningOptions options_;
};

}  // namespace ironroot::fleet
