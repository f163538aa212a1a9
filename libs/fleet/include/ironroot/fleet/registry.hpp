// The fleet registry: things, thing groups, certificates, registered CAs, policies and
// provisioning templates, kept in one SQLite database (database.hpp), with an audit log.
//
// Every mutation runs in one write transaction together with the audit row that records it (who,
// what, which object, details, when): either both are committed, durably, or neither is. A refused
// or failed mutation changes nothing. A Registry is one connection: use it from one thread at a
// time; several processes may open the same file (writers wait for each other up to the busy
// timeout).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ironroot/core/result.hpp"
#include "ironroot/crypto/x509.hpp"
#include "ironroot/fleet/database.hpp"
#include "ironroot/fleet/records.hpp"

namespace ironroot::fleet {

// What went wrong, for the REST (400, 404, 409, 409, 500) and MQTT layers.
enum class RegistryErrorCode {
  invalid,         // the request itself is wrong: a bad name, PEM, JSON, query, page
  not_found,       // an object it names does not exist
  already_exists,  // the object, membership or attachment it would create exists
  conflict,        // the object's state forbids it: version mismatch, REVOKED is final, in use
  internal,        // the database failed; the message names the file and SQLite's reason
};
std::string_view registry_error_code_name(RegistryErrorCode code);  // "invalid", "not_found", ...

struct RegistryError {
  RegistryErrorCode code = RegistryErrorCode::internal;
  std::string message;
};

template <class T>
using RegistryResult = Result<T, RegistryError>;

// The registry's schema, as Database::open migrations.
std::span<const Migration> registry_migrations();

struct NewThing {
  std::string name;  // crypto::check_thing_name
  std::optional<std::string> thing_type;
  Attributes attributes;
  std::optional<std::string> firmware_version;
};

struct ThingUpdate {
  std::optional<std::string> thing_type;  // sets the type
  bool remove_thing_type = false;         // REQUIRES: not together with thing_type
  // Absent: attributes unchanged. With merge_attributes, these are set and the others kept, and an
  // empty value removes its attribute (AWS IoT's UpdateThing); without, they replace all.
  std::optional<Attributes> attributes;
  bool merge_attributes = true;
  std::optional<std::string> firmware_version;
  // When present, the update is refused (conflict) unless the thing is at this version.
  std::optional<std::int64_t> expected_version;
};

struct NewThingGroup {
  std::string name;
  std::string description;
  std::optional<std::string> query;  // present: a dynamic group (thing_query.hpp)
};

struct CertificateFilter {
  std::optional<CertificateStatus> status;
  std::optional<std::string> ca_id;
};

struct NewCa {
  std::string pem;
  CaStatus status = CaStatus::active;
  std::optional<std::string> provisioning_template;  // must exist
  bool auto_registration = false;
};

struct NewProvisioningTemplate {
  std::string name;
  std::string description;
  std::string body;
  bool enabled = true;
  std::optional<std::string> pre_provisioning_hook;
};

struct ProvisioningTemplateUpdate {
  std::optional<std::string> description;
  std::optional<std::string> body;
  std::optional<bool> enabled;
  std::optional<std::string> pre_provisioning_hook;
  bool remove_pre_provisioning_hook = false;
  std::optional<std::int64_t> expected_version;
};

struct AuditFilter {
  std::optional<std::string> target_type;
  std::optional<std::string> target_id;
  std::optional<Time> since;  // entries at or after this time
};

// --- Fleet provisioning (provisioning.hpp applies templates through these) ---

// A certificate ownership token as the registry keeps it: only the SHA-256 of the token, never
// the token itself. Single use; bound to the certificate it was issued with and to the claim
// certificate that asked for it.
struct OwnershipToken {
  std::string token_hash;  // lower-case hex SHA-256 of the token text
  std::string certificate_id;
  std::string claim_certificate_id;
  Time expires_at{};
  std::optional<Time> used_at;  // set when provisioning consumed it
  Time created_at{};

  friend bool operator==(const OwnershipToken&, const OwnershipToken&) = default;
};

struct NewOwnershipToken {
  std::string token_hash;  // 64 hex digits
  std::string claim_certificate_id;
  Time expires_at{};  // REQUIRES: after now
};

// What provisioning does to a property of a thing that already exists (AWS IoT's
// OverrideSettings). A thing that does not exist yet is created with every property given.
enum class OverrideAction {
  do_nothing,  // keep the thing's value
  replace,     // take the template's value
  fail,        // refuse (conflict) when the thing's value differs from the template's
  merge,       // attributes and groups only: add the template's, keep the others
};

// The thing a provisioning creates or updates. Absent optionals: the template does not say.
struct ThingProvisioning {
  std::string name;
  std::optional<std::string> thing_type;
  OverrideAction thing_type_override = OverrideAction::do_nothing;
  std::optional<Attributes> attributes;
  OverrideAction attributes_override = OverrideAction::do_nothing;
  std::optional<std::vector<std::string>> groups;  // static groups; each must exist
  OverrideAction groups_override = OverrideAction::do_nothing;
};

// A policy to attach to the provisioned certificate: an existing one by name, or, with a
// document, one created under `name` unless a policy of that name with the same document exists.
struct PolicyProvisioning {
  std::string name;
  std::optional<std::string> document;

  friend bool operator==(const PolicyProvisioning&, const PolicyProvisioning&) = default;
};

// Everything one provisioning changes, applied in one transaction by Registry::provision.
struct ProvisioningPlan {
  // Fleet provisioning: the ownership token (by hash) that proves the caller holds the
  // certificate; it must be unused, unexpired, for `certificate_id` and for this claim
  // certificate, and is consumed with the rest.
  struct TokenUse {
    std::string token_hash;
    std::string claim_certificate_id;
  };
  std::optional<TokenUse> token;
  // Just-in-time provisioning: register this certificate (issued by registered CA `ca_id`)
  // first. Its id must be `certificate_id`.
  struct Registration {
    std::string pem;
    std::string ca_id;
  };
  std::optional<Registration> registration;
  std::string certificate_id;  // the certificate being provisioned
  // Its new status. A certificate still PENDING_ACTIVATION always takes it (it has no status of
  // its own yet); otherwise `status_override` decides. REVOKED is refused.
  CertificateStatus certificate_status = CertificateStatus::active;
  OverrideAction status_override = OverrideAction::replace;
  ThingProvisioning thing;  // the certificate is attached to it
  std::vector<PolicyProvisioning> policies;
};

struct ProvisionedThing {
  Thing thing;  // as it is after provisioning
  CertificateRecord certificate;
  std::vector<std::string> groups;    // the thing's static groups after provisioning, sorted
  std::vector<std::string> policies;  // attached to the certificate by this provisioning
};

namespace detail {
struct Change;
}

class Registry {
 public:
  // Where "now" comes from, for every timestamp the registry writes. Default: the system clock.
  using Clock = std::function<Time()>;

  // Opens (or creates) the registry database at `path` and brings its schema up to date.
  static RegistryResult<Registry> open(const std::filesystem::path& path, Clock clock = nullptr,
                                       const DatabaseOptions& options = {});

  // Every mutation takes `actor`: who makes the change, as the audit log will show it (1 to 128
  // printable characters).

  // --- Things ---
  // Refused: an invalid name, type, attribute or firmware version (invalid); a thing of that name
  // (already_exists).
  RegistryResult<Thing> create_thing(std::string_view actor, const NewThing& thing);
  RegistryResult<Thing> describe_thing(std::string_view name);
  // In name order.
  RegistryResult<Listing<Thing>> list_things(const Page& page);
  // Returns the thing as updated, its version one more than before.
  RegistryResult<Thing> update_thing(std::string_view actor, std::string_view name,
                                     const ThingUpdate& update);
  // Removes it from its static groups too. Refused (conflict) while certificates are attached.
  RegistryResult<void> delete_thing(std::string_view actor, std::string_view name,
                                    std::optional<std::int64_t> expected_version = {});

  // --- Thing groups ---
  // A dynamic group's query must parse. Refused: a group of that name (already_exists).
  RegistryResult<ThingGroup> create_group(std::string_view actor, const NewThingGroup& group);
  RegistryResult<ThingGroup> describe_group(std::string_view name);
  RegistryResult<Listing<ThingGroup>> list_groups(const Page& page);
  // Removes its memberships and policy attachments with it.
  RegistryResult<void> delete_group(std::string_view actor, std::string_view name);
  // Static groups only (a dynamic group's members follow its query: invalid).
  RegistryResult<void> add_to_group(std::string_view actor, std::string_view group,
                                    std::string_view thing);
  RegistryResult<void> remove_from_group(std::string_view actor, std::string_view group,
                                         std::string_view thing);
  // The groups a thing is in: its static groups and the dynamic groups whose query it matches, in
  // name order.
  RegistryResult<std::vector<std::string>> groups_of(std::string_view thing);
  // A group's members in name order (for a dynamic group, the things its query matches now).
  RegistryResult<Listing<std::string>> members(std::string_view group, const Page& page);

  // --- Certificates ---
  // Registers one PEM certificate (a device's: not a CA). Its issuer is `ca_id` when given (it
  // must be registered, and must have signed the certificate), otherwise the registered CA whose
  // subject is the certificate's issuer and whose key verifies its signature, if any.
  RegistryResult<CertificateRecord> register_certificate(
      std::string_view actor, std::string_view pem,
      CertificateStatus status = CertificateStatus::active,
      std::optional<std::string> ca_id = std::nullopt);
  RegistryResult<CertificateRecord> describe_certificate(std::string_view id);
  // The registered CA that issued `certificate` (registered or not): the first, in id order, whose
  // subject is the certificate's issuer and whose key verifies its signature; nullopt when none.
  RegistryResult<std::optional<CaRecord>> issuing_ca(const crypto::Certificate& certificate);
  // In id order.
  RegistryResult<Listing<CertificateRecord>> list_certificates(const CertificateFilter& filter,
                                                               const Page& page);
  // REVOKED is final: any change away from it is refused (conflict).
  RegistryResult<CertificateRecord> set_certificate_status(std::string_view actor,
                                                           std::string_view id,
                                                           CertificateStatus status);
  // Makes the certificate a principal of the thing. Refused for a REVOKED certificate (conflict).
  RegistryResult<void> attach_certificate(std::string_view actor, std::string_view id,
                                          std::string_view thing);
  RegistryResult<void> detach_certificate(std::string_view actor, std::string_view id,
                                          std::string_view thing);
  RegistryResult<std::vector<std::string>> things_of(std::string_view certificate_id);
  RegistryResult<std::vector<std::string>> certificates_of(std::string_view thing);

  // --- Registered CAs ---
  // Refused unless the PEM is one certificate with basicConstraints CA:TRUE (invalid).
  RegistryResult<CaRecord> register_ca(std::string_view actor, const NewCa& ca);
  RegistryResult<CaRecord> describe_ca(std::string_view id);
  RegistryResult<Listing<CaRecord>> list_cas(const Page& page);
  RegistryResult<CaRecord> set_ca_status(std::string_view actor, std::string_view id,
                                         CaStatus status);
  // The just-in-time provisioning template (nullopt: none); it must exist.
  RegistryResult<CaRecord> set_ca_template(std::string_view actor, std::string_view id,
                                           std::optional<std::string> template_name);
  RegistryResult<CaRecord> set_ca_auto_registration(std::string_view actor, std::string_view id,
                                                    bool enabled);

  // --- Policies ---
  // The document must be a JSON object within AWS IoT's size limit (names.hpp).
  RegistryResult<Policy> create_policy(std::string_view actor, std::string_view name,
                                       std::string_view document);
  RegistryResult<Policy> describe_policy(std::string_view name);
  RegistryResult<Listing<Policy>> list_policies(const Page& page);
  // Replaces the document; the version goes up by one.
  RegistryResult<Policy> update_policy(std::string_view actor, std::string_view name,
                                       std::string_view document,
                                       std::optional<std::int64_t> expected_version = {});
  // Refused (conflict) while attached to a certificate or a group.
  RegistryResult<void> delete_policy(std::string_view actor, std::string_view name);
  RegistryResult<void> attach_policy_to_certificate(std::string_view actor, std::string_view policy,
                                                    std::string_view certificate_id);
  RegistryResult<void> detach_policy_from_certificate(std::string_view actor,
                                                      std::string_view policy,
                                                      std::string_view certificate_id);
  RegistryResult<void> attach_policy_to_group(std::string_view actor, std::string_view policy,
                                              std::string_view group);
  RegistryResult<void> detach_policy_from_group(std::string_view actor, std::string_view policy,
                                                std::string_view group);
  // What a connection with this certificate may do: the policies attached to it, and those
  // attached to the groups (static or dynamic) of the things it is attached to; by name, once
  // each.
  RegistryResult<std::vector<Policy>> policies_for(std::string_view certificate_id);

  // --- Provisioning templates ---
  RegistryResult<ProvisioningTemplate> create_template(std::string_view actor,
                                                       const NewProvisioningTemplate& spec);
  RegistryResult<ProvisioningTemplate> describe_template(std::string_view name);
  RegistryResult<Listing<ProvisioningTemplate>> list_templates(const Page& page);
  RegistryResult<ProvisioningTemplate> update_template(std::string_view actor,
                                                       std::string_view name,
                                                       const ProvisioningTemplateUpdate& update);
  // Refused (conflict) while a registered CA uses it for just-in-time provisioning.
  RegistryResult<void> delete_template(std::string_view actor, std::string_view name);

  // --- Fleet provisioning ---
  // Registers a certificate that registered CA `ca_id` just issued, PENDING_ACTIVATION (as AWS
  // IoT's CreateCertificateFromCsr leaves it), together with its ownership token, in one
  // transaction. Tokens that expired before now are purged on the way. Refused: a certificate not
  // signed by `ca_id` (invalid), an unknown CA or claim certificate (not_found), a token hash
  // that is not 64 hex digits or an expiry not after now (invalid).
  RegistryResult<CertificateRecord> register_certificate_with_token(std::string_view actor,
                                                                    std::string_view pem,
                                                                    std::string_view ca_id,
                                                                    const NewOwnershipToken& token);
  // The token with this hash; nullopt when there is none (never issued, or purged after expiry).
  RegistryResult<std::optional<OwnershipToken>> find_ownership_token(std::string_view token_hash);
  // Applies `plan` in one transaction: token consumption, certificate registration, thing
  // creation or update, static group membership, certificate status and attachment, policy
  // creation and attachment; each change gets its audit entry. Any refusal changes nothing.
  // Refused: a bad, used, expired or foreign token (conflict, message starting
  // "certificate ownership token"); an invalid name or value (invalid); an unknown certificate,
  // group or policy (not_found); a dynamic group (invalid); a FAIL override whose value differs,
  // a REVOKED certificate, a policy name whose document differs (conflict).
  RegistryResult<ProvisionedThing> provision(std::string_view actor, const ProvisioningPlan& plan);

  // --- Audit log ---
  // Oldest first.
  RegistryResult<Listing<AuditEntry>> list_audit(const AuditFilter& filter, const Page& page);

 private:
  Registry(Database db, Clock clock) : db_(std::move(db)), clock_(std::move(clock)) {}

  // Runs `body` (which returns RegistryResult<T> and describes its change) in a write transaction,
  // records the change in the audit log and commits; on any failure, rolls everything back.
  template <class T, class Body>
  RegistryResult<T> mutate(std::string_view actor, Body&& body);
  RegistryResult<void> record(std::string_view actor, const detail::Change& change);

  Database db_;
  Clock clock_;

 public:
  // --- Change detection (registry_change_counter.cpp; used by authorization.hpp) ---
  // Two values that, read twice, differ when the database may have changed in between: a
  // commit by any other connection, in this process or another (SQLite's PRAGMA data_version),
  // or a row changed through this one (sqlite3_total_changes64). Equal values mean nothing
  // changed. Cheap: no table is read.
  struct ChangeCounter {
    std::int64_t data_version = 0;
    std::int64_t local_changes = 0;
    friend bool operator==(const ChangeCounter&, const ChangeCounter&) = default;
  };
  RegistryResult<ChangeCounter> change_counter();
};

}  // namespace ironroot::fleet
