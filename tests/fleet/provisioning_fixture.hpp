// A registry with a registered device CA, an ACTIVE claim certificate and a ProvisioningService,
// all real: SQLite in a temporary folder, certificates from crypto::CertificateAuthority.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>

#include "ironroot/crypto/certificate_authority.hpp"
#include "ironroot/fleet/provisioning.hpp"
#include "registry_fixture.hpp"

namespace ironroot::fleet::testing {

inline std::unique_ptr<crypto::PrivateKey> new_private_key() {
  return std::make_unique<crypto::PrivateKey>(
      *crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256));
}

// Everything the registry holds that provisioning may change, to compare before and after a
// refusal. The audit log records every change, so an unchanged audit log is the main check.
struct RegistrySnapshot {
  std::vector<Thing> things;
  std::vector<CertificateRecord> certificates;
  std::vector<Policy> policies;
  std::vector<AuditEntry> audit;

  bool operator==(const RegistrySnapshot&) const = default;
};

class ProvisioningTest : public RegistryTest {
 protected:
  void SetUp() override {
    RegistryTest::SetUp();
    auto validity = crypto::validity_from_now(crypto::kDefaultCaValidity, kStart);
    auto root = crypto::CertificateAuthority::create_root({"Acme Root CA", "", "Acme"},
                                                          new_private_key(), validity);
    ASSERT_TRUE(root) << root.error().message;
    root_.emplace(std::move(*root));
    device_ca_.emplace(make_device_ca("Acme Device CA"));
    auto ca = registry().register_ca(
        "alice", NewCa{device_ca_->certificate().pem(), CaStatus::active, std::nullopt, false});
    ASSERT_TRUE(ca) << ca.error().message;
    device_ca_id_ = ca->id;
    auto claim = registry().register_certificate("alice", device_pem("claim-1"));
    ASSERT_TRUE(claim) << claim.error().message;
    claim_id_ = claim->id;
    service_.emplace(
        registry(), *device_ca_, [this] { return now_; }, options_);
  }

  crypto::CertificateAuthority make_device_ca(const std::string& name) {
    auto validity = crypto::validity_from_now(crypto::kDefaultCaValidity, kStart);
    auto key = new_private_key();
    auto cert = root_->issue_device_ca({name, "", "Acme"}, key->public_key(), validity);
    EXPECT_TRUE(cert) << cert.error().message;
    auto ca = crypto::CertificateAuthority::open(*cert, std::move(key));
    EXPECT_TRUE(ca) << ca.error().message;
    return std::move(*ca);
  }

  // Rebuilds the service with other options.
  void set_options(const ProvisioningOptions& options) {
    options_ = options;
    service_.emplace(
        registry(), *device_ca_, [this] { return now_; }, options_);
  }

  crypto::Certificate device_certificate(const std::string& cn, const std::string& serial = "",
                                         crypto::CertificateAuthority* ca = nullptr) {
    auto key = new_private_key();
    auto csr = crypto::CertificateRequest::create({cn, serial, ""}, *key);
    EXPECT_TRUE(csr) << csr.error().message;
    auto cert = (ca ? *ca : *device_ca_)
                    .issue_device_certificate(
                        *csr, crypto::validity_from_now(std::chrono::days(30), kStart));
    EXPECT_TRUE(cert) << cert.error().message;
    return *cert;
  }
  std::string device_pem(const std::string& cn) { return device_certificate(cn).pem(); }

  std::string csr_pem(const std::string& cn) {
    csr_key_ = new_private_key();
    auto csr = crypto::CertificateRequest::create({cn, "", ""}, *csr_key_);
    EXPECT_TRUE(csr) << csr.error().message;
    return csr->pem();
  }

  // A certificate and ownership token for the claim certificate, through the service.
  protocol::CreateCertificateFromCsrResponse new_certificate(const std::string& cn = "device-1") {
    auto created = service().create_certificate_from_csr(claim_id_, {csr_pem(cn)});
    EXPECT_TRUE(created) << created.error().error_message;
    return created ? *created : protocol::CreateCertificateFromCsrResponse{};
  }

  void create_template(const std::string& name, const std::string& body,
                       std::optional<std::string> hook = std::nullopt, bool enabled = true) {
    auto created = registry().create_template(
        "alice", NewProvisioningTemplate{name, "", body, enabled, std::move(hook)});
    ASSERT_TRUE(created) << created.error().message;
  }

  RegistrySnapshot snapshot() {
    RegistrySnapshot s;
    s.things = registry().list_things({kMaxPageLimit, ""})->items;
    s.certificates = registry().list_certificates({}, {kMaxPageLimit, ""})->items;
    s.policies = registry().list_policies({kMaxPageLimit, ""})->items;
    s.audit = audit();
    return s;
  }

  ProvisioningService& service() { return *service_; }

  std::optional<crypto::CertificateAuthority> root_;
  std::optional<crypto::CertificateAuthority> device_ca_;
  std::string device_ca_id_;
  std::string claim_id_;
  std::unique_ptr<crypto::PrivateKey> csr_key_;
  ProvisioningOptions options_;
  std::optional<ProvisioningService> service_;
};

// Asserts that a provisioning call was rejected with `expected` (a protocol::ProvisioningError).
#define EXPECT_REJECTED(result, expected)                                   \
  do {                                                                      \
    const auto& rejected_result = (result);                                 \
    ASSERT_FALSE(rejected_result) << "expected " << (expected).error_code;  \
    EXPECT_EQ(rejected_result.error().error_code, (expected).error_code)    \
        << rejected_result.error().error_message;                           \
    EXPECT_EQ(rejected_result.error().status_code, (expected).status_code); \
  } while (false)

}  // namespace ironroot::fleet::testing
