// What the fleet registry keeps: things, thing groups, certificates, registered CAs, policies,
// provisioning templates and the audit log, as plain values. Times are UTC, to the second.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ironroot::fleet {

using Time = std::chrono::sys_seconds;

// Thing attributes: name -> value (see check_attributes for AWS IoT's limits).
using Attributes = std::map<std::string, std::string>;

struct Thing {
  std::string name;
  std::optional<std::string> thing_type;
  Attributes attributes;
  std::optional<std::string> firmware_version;  // as the device last reported it
  std::int64_t version = 1;                     // 1 on creation, +1 on every update
  Time created_at{};
  Time updated_at{};

  friend bool operator==(const Thing&, const Thing&) = default;
};

struct ThingGroup {
  std::string name;
  std::string description;
  // Present for a dynamic group: its members are the things this query matches (see
  // thing_query.hpp). Absent for a static group, whose members are added one by one.
  std::optional<std::string> query;
  Time created_at{};

  bool is_dynamic() const { return query.has_value(); }
  friend bool operator==(const ThingGroup&, const ThingGroup&) = default;
};

// AWS IoT's certificate states.
enum class CertificateStatus { active, inactive, revoked, pending_activation };
// "ACTIVE", "INACTIVE", "REVOKED", "PENDING_ACTIVATION".
std::string_view certificate_status_name(CertificateStatus status);
std::optional<CertificateStatus> parse_certificate_status(std::string_view name);

struct CertificateRecord {
  std::string id;  // lower-case hex SHA-256 of the DER encoding (AWS IoT's certificate id)
  std::string pem;
  CertificateStatus status = CertificateStatus::active;
  std::optional<std::string> ca_id;  // the registered CA that issued it, when known
  std::string subject;               // RFC 2253 text
  std::string common_name;           // the subject's CN; for a device, its thing name
  std::string serial_hex;            // the certificate's serial number, as CRLs list it
  Time not_before{};
  Time not_after{};
  Time created_at{};

  friend bool operator==(const CertificateRecord&, const CertificateRecord&) = default;
};

enum class CaStatus { active, inactive };
std::string_view ca_status_name(CaStatus status);  // "ACTIVE", "INACTIVE"
std::optional<CaStatus> parse_ca_status(std::string_view name);

// A device CA registered with the fleet: certificates it issued may connect and be registered.
struct CaRecord {
  std::string id;  // lower-case hex SHA-256 of the DER encoding
  std::string pem;
  CaStatus status = CaStatus::active;
  std::string subject;  // RFC 2253 text
  Time not_before{};
  Time not_after{};
  // Just-in-time provisioning: the template applied to a certificate this CA issued when it first
  // connects, and whether such certificates are registered automatically.
  std::optional<std::string> provisioning_template;
  bool auto_registration = false;
  Time created_at{};

  friend bool operator==(const CaRecord&, const CaRecord&) = default;
};

// A policy document (JSON object text, as AWS IoT writes them) under a name.
struct Policy {
  std::string name;
  std::string document;
  std::int64_t version = 1;  // +1 on every update of the document
  Time created_at{};
  Time updated_at{};

  friend bool operator==(const Policy&, const Policy&) = default;
};

struct ProvisioningTemplate {
  std::string name;
  std::string description;
  std::string body;  // JSON object text (AWS IoT's provisioning template format)
  bool enabled = true;
  std::optional<std::string> pre_provisioning_hook;  // what is asked before provisioning
  std::int64_t version = 1;
  Time created_at{};
  Time updated_at{};

  friend bool operator==(const ProvisioningTemplate&, const ProvisioningTemplate&) = default;
};

// One change to the registry: who did what to which object, and when.
struct AuditEntry {
  std::int64_t id = 0;  // increases with every change
  Time at{};
  std::string actor;        // an operator, a service component ("provisioning"), a device
  std::string action;       // "thing.create", "certificate.set-status", ...
  std::string target_type;  // "thing", "thing-group", "certificate", "ca", "policy", "template"
  std::string target_id;
  std::string details;  // JSON object text

  friend bool operator==(const AuditEntry&, const AuditEntry&) = default;
};

// Paging through a list: at most `limit` items after the position `next_token` names (empty:
// from the start). Tokens come from a previous Listing of the same list and are opaque.
struct Page {
  std::size_t limit = 100;  // 1 to kMaxPageLimit
  std::string next_token;
};
inline constexpr std::size_t kMaxPageLimit = 250;  // AWS IoT's maxResults

template <class T>
struct Listing {
  std::vector<T> items;
  std::string next_token;  // empty when there is nothing more
};

}  // namespace ironroot::fleet
