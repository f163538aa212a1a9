#include "ironroot/fleet/records.hpp"

#include <array>
#include <utility>

namespace ironroot::fleet {

namespace {

constexpr std::array<std::pair<CertificateStatus, std::string_view>, 4> kCertificateStatuses{{
    {CertificateStatus::active, "ACTIVE"},
    {CertificateStatus::inactive, "INACTIVE"},
    {CertificateStatus::revoked, "REVOKED"},
    {CertificateStatus::pending_activation, "PENDING_ACTIVATION"},
}};

constexpr std::array<std::pair<CaStatus, std::string_view>, 2> kCaStatuses{{
    {CaStatus::active, "ACTIVE"},
    {CaStatus::inactive, "INACTIVE"},
}};

template <class Enum, std::size_t N>
std::string_view name_of(const std::array<std::pair<Enum, std::string_view>, N>& table, Enum e) {
  for (const auto& [value, name] : table) {
    if (value == e) return name;
  }
  return "UNKNOWN";
}

template <class Enum, std::size_t N>
std::optional<Enum> value_of(const std::array<std::pair<Enum, std::string_view>, N>& table,
                             std::string_view text) {
  for (const auto& [value, name] : table) {
    if (name == text) return value;
  }
  return std::nullopt;
}

}  // namespace

std::string_view certificate_status_name(CertificateStatus status) {
  return name_of(kCertificateStatuses, status);
}

std::optional<CertificateStatus> parse_certificate_status(std::string_view name) {
  return value_of(kCertificateStatuses, name);
}

std::string_view ca_status_name(CaStatus status) {
  return name_of(kCaStatuses, status);
}

std::optional<CaStatus> parse_ca_status(std::string_view name) {
  return value_of(kCaStatuses, name);
}

}  // namespace ironroot::fleet
