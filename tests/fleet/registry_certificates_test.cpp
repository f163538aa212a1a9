// Device certificates and registered CAs, with real certificates from crypto::CertificateAuthority.
#include <gtest/gtest.h>

#include "ironroot/crypto/certificate_authority.hpp"
#include "ironroot/fleet/names.hpp"
#include "registry_fixture.hpp"

namespace ironroot::fleet::testing {
namespace {

using Code = RegistryErrorCode;
using crypto::CertificateAuthority;
using crypto::CertificateRequest;
using crypto::DistinguishedName;
using crypto::PrivateKey;

NewCa as_ca(std::string pem) {
  return NewCa{std::move(pem), CaStatus::active, std::nullopt, false};
}

std::unique_ptr<crypto::Signer> new_key() {
  return std::make_unique<PrivateKey>(*PrivateKey::generate(crypto::KeyType::ecdsa_p256));
}

// A root CA, a device CA under it, and device certificates issued by the device CA.
class CertificateTest : public RegistryTest {
 protected:
  void SetUp() override {
    RegistryTest::SetUp();
    auto validity = crypto::validity_from_now(crypto::kDefaultCaValidity, kStart);
    auto root =
        CertificateAuthority::create_root({"Acme Root CA", "", "Acme"}, new_key(), validity);
    ASSERT_TRUE(root) << root.error().message;
    root_.emplace(std::move(*root));
    auto device_ca_key = new_key();
    auto cert = root_->issue_device_ca({"Acme Device CA", "", "Acme"}, device_ca_key->public_key(),
                                       validity);
    ASSERT_TRUE(cert) << cert.error().message;
    auto device_ca = CertificateAuthority::open(*cert, std::move(device_ca_key));
    ASSERT_TRUE(device_ca) << device_ca.error().message;
    device_ca_.emplace(std::move(*device_ca));
  }

  std::string device_pem(const std::string& thing, CertificateAuthority* ca = nullptr) {
    auto key = new_key();
    auto csr = CertificateRequest::create(DistinguishedName{thing, "SN-" + thing, ""}, *key);
    EXPECT_TRUE(csr) << csr.error().message;
    auto cert = (ca ? *ca : *device_ca_)
                    .issue_device_certificate(
                        *csr, crypto::validity_from_now(std::chrono::days(30), kStart));
    EXPECT_TRUE(cert) << cert.error().message;
    return cert ? cert->pem() : "";
  }

  std::string ca_id(const CertificateAuthority& ca) {
    return to_hex(ca.certificate().fingerprint());
  }

  std::optional<CertificateAuthority> root_;
  std::optional<CertificateAuthority> device_ca_;
};

TEST_F(CertificateTest, RegistersADeviceCertificateWithItsFacts) {
  const std::string pem = device_pem("lamp-1");
  auto cert = crypto::Certificate::from_pem(as_bytes(pem));
  ASSERT_TRUE(cert);
  auto record = registry().register_certificate("alice", pem);
  ASSERT_TRUE(record) << record.error().message;
  EXPECT_EQ(record->id, to_hex(cert->fingerprint()));
  EXPECT_EQ(record->id.size(), 64u);
  EXPECT_EQ(record->status, CertificateStatus::active);
  EXPECT_EQ(record->common_name, "lamp-1");
  EXPECT_EQ(record->serial_hex, cert->serial_hex());
  EXPECT_EQ(record->not_after, cert->not_after());
  EXPECT_FALSE(record->ca_id);  // the device CA is not registered
  EXPECT_EQ(*registry().describe_certificate(record->id), *record);
  // Ids are accepted in upper case too.
  std::string upper = record->id;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(registry().describe_certificate(upper)->id, record->id);
}

TEST_F(CertificateTest, FindsTheIssuingCaOrChecksTheOneGiven) {
  auto device_ca = registry().register_ca("alice", as_ca(device_ca_->certificate().pem()));
  ASSERT_TRUE(device_ca) << device_ca.error().message;
  ASSERT_TRUE(registry().register_ca("alice", as_ca(root_->certificate().pem())));
  auto found = registry().register_certificate("alice", device_pem("lamp-1"));
  ASSERT_TRUE(found) << found.error().message;
  EXPECT_EQ(found->ca_id, ca_id(*device_ca_));

  auto given = registry().register_certificate(
      "alice", device_pem("lamp-2"), CertificateStatus::pending_activation, ca_id(*device_ca_));
  ASSERT_TRUE(given) << given.error().message;
  EXPECT_EQ(given->ca_id, ca_id(*device_ca_));
  EXPECT_EQ(given->status, CertificateStatus::pending_activation);

  auto wrong = registry().register_certificate("alice", device_pem("lamp-3"),
                                               CertificateStatus::active, ca_id(*root_));
  EXPECT_REFUSED(wrong, Code::invalid);
  EXPECT_NE(wrong.error().message.find("was not signed by CA"), std::string::npos);
  EXPECT_REFUSED(registry().register_certificate("alice", device_pem("lamp-4"),
                                                 CertificateStatus::active, std::string(64, 'a')),
                 Code::not_found);

  auto by_ca = registry().list_certificates(CertificateFilter{{}, ca_id(*device_ca_)}, Page{});
  ASSERT_TRUE(by_ca);
  EXPECT_EQ(by_ca->items.size(), 2u);
  auto pending = registry().list_certificates(
      CertificateFilter{CertificateStatus::pending_activation, {}}, Page{});
  ASSERT_TRUE(pending);
  ASSERT_EQ(pending->items.size(), 1u);
  EXPECT_EQ(pending->items[0].common_name, "lamp-2");
}

TEST_F(CertificateTest, RefusesBadCertificates) {
  EXPECT_REFUSED(registry().register_certificate("alice", "not a pem"), Code::invalid);
  EXPECT_REFUSED(registry().register_certificate("alice", std::string(kMaxPemLength + 1, 'x')),
                 Code::invalid);
  const std::string pem = device_pem("lamp-1");
  EXPECT_REFUSED(registry().register_certificate("alice", pem + pem), Code::invalid);
  auto ca = registry().register_certificate("alice", device_ca_->certificate().pem());
  EXPECT_REFUSED(ca, Code::invalid);
  EXPECT_NE(ca.error().message.find("register it as a CA"), std::string::npos);
  ASSERT_TRUE(registry().register_certificate("alice", pem));
  EXPECT_REFUSED(registry().register_certificate("bob", pem), Code::already_exists);
  EXPECT_REFUSED(registry().describe_certificate("abc"), Code::invalid);
  EXPECT_REFUSED(registry().describe_certificate(std::string(64, 'f')), Code::not_found);
  EXPECT_EQ(audit().size(), 1u);
}

TEST_F(CertificateTest, RevokedIsFinal) {
  auto record = registry().register_certificate("alice", device_pem("lamp-1"));
  ASSERT_TRUE(record);
  const std::string id = record->id;
  EXPECT_EQ(registry().set_certificate_status("alice", id, CertificateStatus::inactive)->status,
            CertificateStatus::inactive);
  EXPECT_EQ(registry().set_certificate_status("alice", id, CertificateStatus::active)->status,
            CertificateStatus::active);
  EXPECT_EQ(registry().set_certificate_status("sec", id, CertificateStatus::revoked)->status,
            CertificateStatus::revoked);
  for (auto status : {CertificateStatus::active, CertificateStatus::inactive,
                      CertificateStatus::pending_activation}) {
    EXPECT_REFUSED(registry().set_certificate_status("mallory", id, status), Code::conflict);
  }
  EXPECT_EQ(registry().describe_certificate(id)->status, CertificateStatus::revoked);
  auto entries = audit(AuditFilter{"certificate", id, {}});
  ASSERT_EQ(entries.size(), 4u);
  EXPECT_EQ(entries.back().action, "certificate.set-status");
  EXPECT_EQ(entries.back().actor, "sec");
  EXPECT_EQ(entries.back().details, R"({"from":"ACTIVE","to":"REVOKED"})");
}

TEST_F(CertificateTest, AttachesCertificatesToThings) {
  ASSERT_TRUE(registry().create_thing("alice", NewThing{"lamp-1", {}, {}, {}}));
  auto record = registry().register_certificate("alice", device_pem("lamp-1"));
  ASSERT_TRUE(record);
  const std::string id = record->id;
  ASSERT_TRUE(registry().attach_certificate("alice", id, "lamp-1"));
  EXPECT_REFUSED(registry().attach_certificate("alice", id, "lamp-1"), Code::already_exists);
  EXPECT_REFUSED(registry().attach_certificate("alice", id, "nope"), Code::not_found);
  EXPECT_REFUSED(registry().attach_certificate("alice", std::string(64, '0'), "lamp-1"),
                 Code::not_found);
  EXPECT_EQ(registry().things_of(id).value(), std::vector<std::string>{"lamp-1"});
  EXPECT_EQ(registry().certificates_of("lamp-1").value(), std::vector<std::string>{id});
  EXPECT_REFUSED(registry().things_of(std::string(64, '0')), Code::not_found);
  EXPECT_REFUSED(registry().certificates_of("nope"), Code::not_found);

  auto attached = registry().delete_thing("alice", "lamp-1");
  EXPECT_REFUSED(attached, Code::conflict);
  EXPECT_NE(attached.error().message.find("detach"), std::string::npos);

  ASSERT_TRUE(registry().detach_certificate("alice", id, "lamp-1"));
  EXPECT_REFUSED(registry().detach_certificate("alice", id, "lamp-1"), Code::not_found);
  EXPECT_TRUE(registry().things_of(id).value().empty());
  ASSERT_TRUE(registry().set_certificate_status("alice", id, CertificateStatus::revoked));
  EXPECT_REFUSED(registry().attach_certificate("alice", id, "lamp-1"), Code::conflict);
  EXPECT_TRUE(registry().delete_thing("alice", "lamp-1"));
}

TEST_F(CertificateTest, RegistersCasAndTheirProvisioningSettings) {
  auto ca = registry().register_ca("alice", as_ca(device_ca_->certificate().pem()));
  ASSERT_TRUE(ca) << ca.error().message;
  EXPECT_EQ(ca->id, ca_id(*device_ca_));
  EXPECT_EQ(ca->status, CaStatus::active);
  EXPECT_FALSE(ca->provisioning_template);
  EXPECT_FALSE(ca->auto_registration);
  EXPECT_EQ(ca->subject, device_ca_->certificate().subject());
  EXPECT_REFUSED(registry().register_ca("alice", as_ca(device_ca_->certificate().pem())),
                 Code::already_exists);
  auto leaf = registry().register_ca("alice", as_ca(device_pem("lamp-1")));
  EXPECT_REFUSED(leaf, Code::invalid);
  EXPECT_NE(leaf.error().message.find("CA:TRUE"), std::string::npos);
  NewCa with_missing_template{root_->certificate().pem(), CaStatus::active, "jitp", false};
  EXPECT_REFUSED(registry().register_ca("alice", with_missing_template), Code::not_found);

  EXPECT_EQ(registry().set_ca_status("alice", ca->id, CaStatus::inactive)->status,
            CaStatus::inactive);
  EXPECT_REFUSED(registry().set_ca_template("alice", ca->id, "jitp"), Code::not_found);
  ASSERT_TRUE(
      registry().create_template("alice", NewProvisioningTemplate{"jitp", "", "{}", true, {}}));
  EXPECT_EQ(registry().set_ca_template("alice", ca->id, "jitp")->provisioning_template, "jitp");
  EXPECT_TRUE(registry().set_ca_auto_registration("alice", ca->id, true)->auto_registration);
  auto delete_used = registry().delete_template("alice", "jitp");
  EXPECT_REFUSED(delete_used, Code::conflict);
  EXPECT_NE(delete_used.error().message.find(ca->id), std::string::npos);

  auto described = registry().describe_ca(ca->id);
  ASSERT_TRUE(described);
  EXPECT_EQ(described->status, CaStatus::inactive);
  EXPECT_EQ(described->provisioning_template, "jitp");
  EXPECT_TRUE(described->auto_registration);
  EXPECT_FALSE(registry().set_ca_template("alice", ca->id, std::nullopt)->provisioning_template);
  EXPECT_TRUE(registry().delete_template("alice", "jitp"));
  EXPECT_REFUSED(registry().describe_ca(std::string(64, 'b')), Code::not_found);
  EXPECT_EQ(registry().list_cas(Page{}).value().items.size(), 1u);
}

}  // namespace
}  // namespace ironroot::fleet::testing
