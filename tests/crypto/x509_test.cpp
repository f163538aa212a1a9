// X.509 certificates, CSRs and CRLs built by the certificate authority, checked through the public
// interfaces and with OpenSSL's own verifier (verify_chain) and command line.
#include "ironroot/crypto/x509.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "ironroot/core/file.hpp"
#include "ironroot/crypto/certificate_authority.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace ironroot::crypto {
namespace {

using namespace std::chrono_literals;
using ironroot::testing::run_process;
using ironroot::testing::TempDir;

// A fixed "now", so that validity periods and CRL dates are the same on every run.
const Time kNow = std::chrono::sys_days{std::chrono::year{2026} / 3 / 14} + 9h + 26min + 53s;

// A PEM key that counts its signatures and can be told to sign with another key: proves that
// the CA signs through Signer::sign_digest, and that a wrong signature is caught.
class CountingSigner final : public Signer {
 public:
  CountingSigner() : key_(*PrivateKey::generate(KeyType::ecdsa_p256)) {}
  const PublicKey& public_key() const override { return key_.public_key(); }
  Result<Bytes> sign_digest(const Sha256Digest& digest) override {
    ++signatures;
    return impostor ? impostor->sign_digest(digest) : key_.sign_digest(digest);
  }
  int signatures = 0;
  std::optional<PrivateKey> impostor;

 private:
  PrivateKey key_;
};

std::unique_ptr<Signer> new_p256_key() {
  return std::make_unique<PrivateKey>(*PrivateKey::generate(KeyType::ecdsa_p256));
}

CertificateRequest make_csr(const DistinguishedName& subject, Signer& key) {
  auto csr = CertificateRequest::create(subject, key);
  EXPECT_TRUE(csr) << csr.error().message;
  return *csr;
}

ChainPolicy at_time(Time at) {
  ChainPolicy policy;
  policy.at = at;
  return policy;
}

// Writes `text` to `name` in `dir` for OpenSSL's command line; returns the path.
std::string write_pem(const TempDir& dir, const std::string& name, const std::string& text) {
  std::string path = (dir / name).string();
  EXPECT_TRUE(write_file_atomic(path, as_bytes(text)));
  return path;
}

class CertificateAuthorityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto root = CertificateAuthority::create_root({"Acme Root CA", "", "Acme"}, new_p256_key(),
                                                  validity_from_now(kDefaultCaValidity, kNow));
    ASSERT_TRUE(root) << root.error().message;
    root_.emplace(std::move(*root));
    auto device_ca_key = new_p256_key();
    auto cert = root_->issue_device_ca({"Acme Device CA", "", "Acme"}, device_ca_key->public_key(),
                                       validity_from_now(kDefaultCaValidity, kNow));
    ASSERT_TRUE(cert) << cert.error().message;
    auto device_ca = CertificateAuthority::open(*cert, std::move(device_ca_key));
    ASSERT_TRUE(device_ca) << device_ca.error().message;
    device_ca_.emplace(std::move(*device_ca));
  }

  Result<Certificate> issue(const CertificateRequest& csr,
                            Validity validity = validity_from_now(kDefaultDeviceValidity, kNow)) {
    return device_ca_->issue_device_certificate(csr, validity);
  }
  Status verify(const Certificate& leaf, std::span<const RevocationList> crls = {},
                std::optional<Time> at = kNow + 1h) {
    std::vector<Certificate> intermediates{device_ca_->certificate()};
    std::vector<Certificate> roots{root_->certificate()};
    return verify_chain(leaf, roots, {intermediates, crls, at, true});
  }

  std::optional<CertificateAuthority> root_;
  std::optional<CertificateAuthority> device_ca_;
  PrivateKey device_key_ = *PrivateKey::generate(KeyType::ecdsa_p256);
};

// ---- CSRs ---------------------------------------------------------------------------------------

TEST(CertificateRequest, CreatedCsrCarriesSubjectAndKeyAndVerifies) {
  CountingSigner key;
  auto csr = CertificateRequest::create({"thing-1", "SN-0042", ""}, key);
  ASSERT_TRUE(csr) << csr.error().message;
  EXPECT_EQ(key.signatures, 1);
  EXPECT_TRUE(csr->verify_signature());
  EXPECT_EQ(csr->subject(), "serialNumber=SN-0042,CN=thing-1");

  auto parsed = CertificateRequest::from_pem(as_bytes(csr->pem()));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->der(), csr->der());
  EXPECT_TRUE(parsed->verify_signature());
  auto name = parsed->subject_name();
  ASSERT_TRUE(name);
  EXPECT_EQ(*name, (DistinguishedName{"thing-1", "SN-0042", ""}));
  auto pub = parsed->public_key();
  ASSERT_TRUE(pub);
  EXPECT_EQ(pub->der(), key.public_key().der());
}

TEST(CertificateRequest, AlteredCsrFailsItsSelfSignature) {
  auto key = PrivateKey::generate(KeyType::ecdsa_p256);
  Bytes der = make_csr({"thing-1", "", ""}, *key).der();
  auto at =
      std::search(der.begin(), der.end(), as_bytes("thing-1").begin(), as_bytes("thing-1").end());
  ASSERT_NE(at, der.end());
  at[6] = std::byte{'2'};  // thing-2: still a well-formed CSR
  auto altered = CertificateRequest::from_der(der);
  ASSERT_TRUE(altered) << altered.error().message;
  auto ok = altered->verify_signature();
  ASSERT_FALSE(ok);
  EXPECT_NE(ok.error().message.find("does not verify"), std::string::npos) << ok.error().message;
}

TEST(CertificateRequest, Ed25519SignerAndGarbageAreRefused) {
  auto ed = PrivateKey::generate(KeyType::ed25519);
  auto csr = CertificateRequest::create({"thing-1", "", ""}, *ed);
  ASSERT_FALSE(csr);
  EXPECT_NE(csr.error().message.find("ECDSA P-256"), std::string::npos) << csr.error().message;

  EXPECT_FALSE(CertificateRequest::from_pem(as_bytes("not a csr")));
  EXPECT_FALSE(CertificateRequest::from_der(as_bytes("\x30\x03\x02\x01\x01")));
  auto p256 = PrivateKey::generate(KeyType::ecdsa_p256);
  Bytes trailing = make_csr({"thing-1", "", ""}, *p256).der();
  trailing.push_back(std::byte{0});
  auto r = CertificateRequest::from_der(trailing);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("trailing"), std::string::npos);
}

// ---- the hierarchy ------------------------------------------------------------------------------

TEST_F(CertificateAuthorityTest, RootIsASelfSignedCa) {
  const Certificate& root = root_->certificate();
  EXPECT_TRUE(root.is_self_signed());
  EXPECT_EQ(root.subject(), "CN=Acme Root CA,O=Acme");
  EXPECT_EQ(root.issuer(), root.subject());
  CertificateExtensions ext = root.extensions();
  ASSERT_TRUE(ext.basic_constraints);
  EXPECT_TRUE(ext.basic_constraints->critical);
  EXPECT_TRUE(ext.basic_constraints->ca);
  EXPECT_FALSE(ext.basic_constraints->path_length);
  EXPECT_TRUE(ext.key_usage_critical);
  EXPECT_EQ(ext.key_usage, (std::vector<std::string>{"keyCertSign", "cRLSign"}));
  EXPECT_EQ(ext.subject_key_id.size(), 20u);
  EXPECT_EQ(root.not_before(), kNow - kClockSkewAllowance);
  EXPECT_EQ(root.not_after(), kNow + kDefaultCaValidity);
  EXPECT_TRUE(root.verify_signature(*root.public_key()));
}

TEST_F(CertificateAuthorityTest, DeviceCaIsPathLenZeroUnderTheRoot) {
  const Certificate& ca = device_ca_->certificate();
  EXPECT_FALSE(ca.is_self_signed());
  EXPECT_EQ(ca.issuer(), root_->certificate().subject());
  CertificateExtensions ext = ca.extensions();
  ASSERT_TRUE(ext.basic_constraints);
  EXPECT_TRUE(ext.basic_constraints->critical);
  EXPECT_TRUE(ext.basic_constraints->ca);
  EXPECT_EQ(ext.basic_constraints->path_length, 0);
  EXPECT_EQ(ext.key_usage, (std::vector<std::string>{"keyCertSign", "cRLSign"}));
  EXPECT_EQ(ext.authority_key_id, root_->certificate().extensions().subject_key_id);
  EXPECT_NE(ext.subject_key_id, ext.authority_key_id);
  EXPECT_TRUE(ca.verify_signature(*root_->certificate().public_key()));
  std::vector<Certificate> roots{root_->certificate()};
  EXPECT_TRUE(verify_chain(ca, roots, at_time(kNow)));
}

TEST_F(CertificateAuthorityTest, DeviceCertificateHasTheClientProfile) {
  auto csr = make_csr({"thing-1", "SN-0042", "Ignored Org"}, device_key_);
  Validity validity = validity_from_now(kDefaultDeviceValidity, kNow);
  auto cert = issue(csr, validity);
  ASSERT_TRUE(cert) << cert.error().message;

  // Only CN and serialNumber come from the CSR.
  EXPECT_EQ(cert->subject(), "serialNumber=SN-0042,CN=thing-1");
  EXPECT_EQ(*cert->subject_name(), (DistinguishedName{"thing-1", "SN-0042", ""}));
  EXPECT_EQ(cert->issuer(), device_ca_->certificate().subject());
  EXPECT_EQ(cert->not_before(), validity.not_before);
  EXPECT_EQ(cert->not_after(), validity.not_after);
  EXPECT_EQ(cert->public_key()->der(), device_key_.public_key().der());
  EXPECT_EQ(cert->fingerprint(), sha256(cert->der()));

  CertificateExtensions ext = cert->extensions();
  ASSERT_TRUE(ext.basic_constraints);
  EXPECT_TRUE(ext.basic_constraints->critical);
  EXPECT_FALSE(ext.basic_constraints->ca);
  EXPECT_TRUE(ext.key_usage_critical);
  EXPECT_EQ(ext.key_usage, std::vector<std::string>{"digitalSignature"});
  EXPECT_EQ(ext.extended_key_usage, std::vector<std::string>{"clientAuth"});
  EXPECT_EQ(ext.authority_key_id, device_ca_->certificate().extensions().subject_key_id);
  EXPECT_EQ(ext.subject_key_id.size(), 20u);

  EXPECT_TRUE(verify(*cert)) << verify(*cert).error().message;
  // Without the intermediate there is no chain.
  std::vector<Certificate> roots{root_->certificate()};
  EXPECT_FALSE(verify_chain(*cert, roots, at_time(kNow)));

  auto again = Certificate::from_pem(as_bytes(cert->pem()));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->der(), cert->der());
  auto from_der = Certificate::from_der(cert->der());
  ASSERT_TRUE(from_der);
  EXPECT_EQ(from_der->serial_hex(), cert->serial_hex());
}

TEST_F(CertificateAuthorityTest, SerialsAre128BitRandomAndUnique) {
  auto csr = make_csr({"thing-1", "", ""}, device_key_);
  std::set<std::string> serials{root_->certificate().serial_hex(),
                                device_ca_->certificate().serial_hex()};
  for (int i = 0; i < 40; ++i) {
    auto cert = issue(csr);
    ASSERT_TRUE(cert) << cert.error().message;
    serials.insert(cert->serial_hex());
  }
  EXPECT_EQ(serials.size(), 42u);
  for (const std::string& s : serials) {
    EXPECT_EQ(s.size(), 32u) << s;  // 128 bits, top bit set
    EXPECT_GE(s[0], '8') << s;
  }
  for (int i = 0; i < 1000; ++i) serials.insert(*random_serial_hex());
  EXPECT_EQ(serials.size(), 1042u);
}

TEST_F(CertificateAuthorityTest, CertificatesAndCrlsAreSignedThroughTheSigner) {
  auto signer = std::make_unique<CountingSigner>();
  CountingSigner* counting = signer.get();
  auto cert = root_->issue_device_ca({"Counted CA", "", ""}, signer->public_key(),
                                     validity_from_now(kDefaultCaValidity, kNow));
  ASSERT_TRUE(cert);
  auto ca = CertificateAuthority::open(*cert, std::move(signer));
  ASSERT_TRUE(ca) << ca.error().message;
  ASSERT_TRUE(ca->issue_device_certificate(make_csr({"thing-1", "", ""}, device_key_),
                                           validity_from_now(kDefaultDeviceValidity, kNow)));
  EXPECT_EQ(counting->signatures, 1);
  ASSERT_TRUE(ca->issue_crl({}, {kNow, kNow + 24h, 1}));
  EXPECT_EQ(counting->signatures, 2);

  // A signer whose signatures are not its public key's is caught before anything is returned.
  counting->impostor = *PrivateKey::generate(KeyType::ecdsa_p256);
  auto bad = ca->issue_device_certificate(make_csr({"thing-1", "", ""}, device_key_),
                                          validity_from_now(kDefaultDeviceValidity, kNow));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("does not verify"), std::string::npos) << bad.error().message;
  EXPECT_FALSE(ca->issue_crl({}, {kNow, kNow + 24h, 2}));
}

// ---- what the CA refuses ------------------------------------------------------------------------

void expect_error(const Result<Certificate>& r, const std::string& text) {
  ASSERT_FALSE(r) << "issued " << r->subject();
  EXPECT_NE(r.error().message.find(text), std::string::npos) << r.error().message;
}

TEST_F(CertificateAuthorityTest, RefusesBadCsrs) {
  Bytes der = make_csr({"thing-1", "", ""}, device_key_).der();
  auto at =
      std::search(der.begin(), der.end(), as_bytes("thing-1").begin(), as_bytes("thing-1").end());
  at[0] = std::byte{'T'};
  expect_error(issue(*CertificateRequest::from_der(der)), "self-signature does not verify");

  expect_error(issue(make_csr({"a/b", "", ""}, device_key_)), "may contain only");
  expect_error(issue(make_csr({"thing+#", "", ""}, device_key_)), "may contain only");
  expect_error(issue(make_csr({"thing-1", "SN 42", ""}, device_key_)), "device serial");
}

TEST_F(CertificateAuthorityTest, RefusesKeysOtherThanP256AndCsrsWithoutCn) {
  TempDir dir;
  struct Case {
    std::vector<std::string> keygen;
    std::string subject;
    std::string error;
  };
  const std::vector<Case> cases = {
      {{"genpkey", "-algorithm", "ED25519"}, "/CN=thing-1", "device keys must be ECDSA P-256"},
      {{"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"},
       "/CN=thing-1",
       "secp384r1"},
      {{"genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"}, "/CN=thing-1", "RSA"},
      {{"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"},
       "/serialNumber=42/O=Acme",
       "has no CN"},
  };
  for (const Case& c : cases) {
    std::string key = (dir / "key.pem").string();
    std::string csr_path = (dir / "req.pem").string();
    std::vector<std::string> args = {"openssl"};
    args.insert(args.end(), c.keygen.begin(), c.keygen.end());
    args.insert(args.end(), {"-out", key});
    ASSERT_EQ(run_process(args).exit_code, 0);
    auto made =
        run_process({"openssl", "req", "-new", "-key", key, "-subj", c.subject, "-out", csr_path});
    ASSERT_EQ(made.exit_code, 0) << made.err;
    auto csr = CertificateRequest::from_pem(*read_file(csr_path, 1 << 20));
    ASSERT_TRUE(csr) << csr.error().message;
    EXPECT_TRUE(csr->verify_signature());  // well made; refused for its content
    expect_error(issue(*csr), c.error);
  }
}

TEST_F(CertificateAuthorityTest, ValidityIsConfigurableIncludingThePast) {
  auto csr = make_csr({"thing-1", "", ""}, device_key_);
  // Longer than the device CA: refused.
  expect_error(issue(csr, validity_from_now(kDefaultCaValidity + std::chrono::days{1}, kNow)),
               "after the CA certificate");
  expect_error(issue(csr, {kNow, kNow}), "before it starts");

  // Already expired: issued, and refused by a verifier at kNow.
  Validity past{kNow - std::chrono::days{30}, kNow - std::chrono::days{1}};
  auto expired = issue(csr, past);
  ASSERT_TRUE(expired) << expired.error().message;
  EXPECT_EQ(expired->not_after(), past.not_after);
  auto refused = verify(*expired);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("certificate has expired"), std::string::npos)
      << refused.error().message;
  EXPECT_TRUE(expired->verify_signature(*device_ca_->certificate().public_key()));
}

TEST_F(CertificateAuthorityTest, OpenChecksKeyAndCaStatus) {
  auto wrong_key = CertificateAuthority::open(device_ca_->certificate(), new_p256_key());
  ASSERT_FALSE(wrong_key);
  EXPECT_NE(wrong_key.error().message.find("is not the key of CA certificate"), std::string::npos);

  auto device = issue(make_csr({"thing-1", "", ""}, device_key_));
  ASSERT_TRUE(device);
  auto not_ca = CertificateAuthority::open(
      *device, std::make_unique<PrivateKey>(*PrivateKey::from_pem(as_bytes(*device_key_.pem()))));
  ASSERT_FALSE(not_ca);
  EXPECT_NE(not_ca.error().message.find("not a CA certificate"), std::string::npos);

  auto ed_root = CertificateAuthority::create_root(
      {"Ed Root", "", ""}, std::make_unique<PrivateKey>(*PrivateKey::generate(KeyType::ed25519)),
      validity_from_now(kDefaultCaValidity, kNow));
  ASSERT_FALSE(ed_root);
  EXPECT_NE(ed_root.error().message.find("ECDSA P-256"), std::string::npos);
}

// ---- CRLs ---------------------------------------------------------------------------------------

TEST_F(CertificateAuthorityTest, CrlListsRevocationsAndVerifiersRefuseThem) {
  auto csr = make_csr({"thing-1", "", ""}, device_key_);
  auto revoked = issue(csr);
  auto superseded = issue(csr);
  auto good = issue(csr);
  ASSERT_TRUE(revoked && superseded && good);
  std::vector<RevokedCertificate> list = {
      {revoked->serial_hex(), kNow - 2h, RevocationReason::key_compromise},
      {superseded->serial_hex(), kNow - 1h, RevocationReason::unspecified}};
  auto crl = device_ca_->issue_crl(list, {kNow, kNow + 168h, 7});
  ASSERT_TRUE(crl) << crl.error().message;

  auto parsed = RevocationList::from_pem(as_bytes(crl->pem()));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->der(), crl->der());
  EXPECT_EQ(parsed->issuer(), device_ca_->certificate().subject());
  EXPECT_EQ(parsed->this_update(), kNow);
  EXPECT_EQ(parsed->next_update(), kNow + 168h);
  EXPECT_EQ(parsed->crl_number_hex(), "7");
  EXPECT_EQ(parsed->authority_key_id(), device_ca_->certificate().extensions().subject_key_id);
  auto entries = parsed->revoked();
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.revoked_at < b.revoked_at; });
  EXPECT_EQ(entries, list);
  EXPECT_TRUE(parsed->is_revoked(revoked->serial_hex()));
  EXPECT_FALSE(parsed->is_revoked(good->serial_hex()));
  EXPECT_TRUE(parsed->verify_signature(*device_ca_->certificate().public_key()));
  EXPECT_FALSE(parsed->verify_signature(*root_->certificate().public_key()));

  std::vector<RevocationList> crls{*parsed};
  auto refused = verify(*revoked, crls);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("certificate revoked"), std::string::npos)
      << refused.error().message;
  EXPECT_FALSE(verify(*superseded, crls));
  EXPECT_TRUE(verify(*good, crls));

  EXPECT_FALSE(device_ca_->issue_crl({}, {kNow, kNow, 8}));
  std::vector<RevokedCertificate> bad_serial = {{"xyz", kNow, RevocationReason::unspecified}};
  EXPECT_FALSE(device_ca_->issue_crl(bad_serial, {kNow, kNow + 1h, 8}));
}

TEST_F(CertificateAuthorityTest, OpensslCommandLineAgrees) {
  TempDir dir;
  auto cert = issue(make_csr({"thing-1", "SN-1", ""}, device_key_));
  ASSERT_TRUE(cert);
  auto crl = device_ca_->issue_crl({}, {kNow, kNow + 1h, 1});
  ASSERT_TRUE(crl);
  std::string root = write_pem(dir, "root.pem", root_->certificate().pem());
  std::string ca = write_pem(dir, "ca.pem", device_ca_->certificate().pem());
  std::string leaf = write_pem(dir, "leaf.pem", cert->pem());
  std::string crl_path = write_pem(dir, "crl.pem", crl->pem());
  auto v =
      run_process({"openssl", "verify", "-attime", std::to_string(kNow.time_since_epoch().count()),
                   "-purpose", "sslclient", "-CAfile", root, "-untrusted", ca, leaf});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  auto c = run_process({"openssl", "crl", "-in", crl_path, "-noout", "-CAfile", ca});
  EXPECT_EQ(c.exit_code, 0) << c.out << c.err;
  EXPECT_NE(c.err.find("verify OK"), std::string::npos) << c.err;
  auto s = run_process({"openssl", "x509", "-in", leaf, "-noout", "-serial"});
  EXPECT_EQ(
      s.out, "serial=" + [&] {
        std::string upper = cert->serial_hex();
        for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        return upper;
      }() + "\n");
}

TEST_F(CertificateAuthorityTest, ServerCertificateHasTheServerProfileAndItsNames) {
  PrivateKey server_key = *PrivateKey::generate(KeyType::ecdsa_p256);
  std::vector<std::string> names{"127.0.0.1", "localhost", "::1", "broker.example.com"};
  auto cert = device_ca_->issue_server_certificate({"Acme MQTT broker", "", "Acme"},
                                                   server_key.public_key(), names,
                                                   validity_from_now(kDefaultDeviceValidity, kNow));
  ASSERT_TRUE(cert) << cert.error().message;
  CertificateExtensions ext = cert->extensions();
  ASSERT_TRUE(ext.basic_constraints);
  EXPECT_FALSE(ext.basic_constraints->ca);
  EXPECT_EQ(ext.key_usage, std::vector<std::string>{"digitalSignature"});
  EXPECT_EQ(ext.extended_key_usage, std::vector<std::string>{"serverAuth"});
  EXPECT_EQ(ext.authority_key_id, device_ca_->certificate().extensions().subject_key_id);
  // Not a client certificate: a broker certificate cannot log in as a device.
  EXPECT_FALSE(verify(*cert));

  TempDir dir;
  std::string root = write_pem(dir, "root.pem", root_->certificate().pem());
  std::string ca = write_pem(dir, "ca.pem", device_ca_->certificate().pem());
  std::string leaf = write_pem(dir, "server.pem", cert->pem());
  const std::string at = std::to_string(kNow.time_since_epoch().count());
  auto openssl_verify = [&](std::vector<std::string> extra) {
    std::vector<std::string> argv{"openssl",   "verify",  "-attime", at,           "-purpose",
                                  "sslserver", "-CAfile", root,      "-untrusted", ca};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(leaf);
    return run_process(argv);
  };
  for (std::vector<std::string> name :
       std::vector<std::vector<std::string>>{{"-verify_ip", "127.0.0.1"},
                                             {"-verify_ip", "::1"},
                                             {"-verify_hostname", "localhost"},
                                             {"-verify_hostname", "broker.example.com"}}) {
    auto v = openssl_verify(name);
    EXPECT_EQ(v.exit_code, 0) << name[1] << ": " << v.out << v.err;
  }
  auto wrong = openssl_verify({"-verify_hostname", "other.example.com"});
  EXPECT_NE(wrong.exit_code, 0);
  EXPECT_NE((wrong.out + wrong.err).find("hostname mismatch"), std::string::npos)
      << wrong.out << wrong.err;
}

TEST_F(CertificateAuthorityTest, ServerCertificateNamesAreChecked) {
  PrivateKey server_key = *PrivateKey::generate(KeyType::ecdsa_p256);
  auto issue_for = [&](std::vector<std::string> names) {
    return device_ca_->issue_server_certificate({"broker", "", ""}, server_key.public_key(), names,
                                                validity_from_now(kDefaultDeviceValidity, kNow));
  };
  expect_error(issue_for({}), "at least one name");
  expect_error(issue_for({"*.example.com"}), "wildcards are not issued");
  expect_error(issue_for({"bad..name"}), "not a valid DNS name");
  expect_error(issue_for({"-bad.example.com"}), "not a valid DNS name");
  expect_error(issue_for({"a,DNS:evil.example.com"}), "letters, digits");
  expect_error(issue_for({std::string(254, 'a')}), "1 to 253");
  EXPECT_TRUE(check_server_name("10.0.0.1"));
  EXPECT_TRUE(check_server_name("fe80::1"));
  auto ed = PrivateKey::generate(KeyType::ed25519);
  expect_error(device_ca_->issue_server_certificate(
                   {"broker", "", ""}, ed->public_key(), std::vector<std::string>{"localhost"},
                   validity_from_now(kDefaultDeviceValidity, kNow)),
               "ECDSA P-256");
  expect_error(
      device_ca_->issue_server_certificate(
          {"broker", "", ""}, server_key.public_key(), std::vector<std::string>{"localhost"},
          {kNow, device_ca_->certificate().not_after() + std::chrono::hours(1)}),
      "after the CA certificate");
}

// ---- values -------------------------------------------------------------------------------------

TEST(X509Values, TimesRoundTripAndBadOnesAreRefused) {
  EXPECT_EQ(format_time(kNow), "2026-03-14T09:26:53Z");
  EXPECT_EQ(parse_time("2026-03-14T09:26:53Z"), kNow);
  EXPECT_EQ(parse_time("2026-03-14"), std::chrono::sys_days{std::chrono::year{2026} / 3 / 14});
  EXPECT_EQ(format_time(*parse_time("2050-01-01")), "2050-01-01T00:00:00Z");
  for (const char* bad :
       {"", "2026-3-14", "2026-02-30", "2026-03-14T25:00:00Z", "2026-03-14T09:26:53", "1949-12-31",
        "yesterday", "2026-03-14 09:26:53Z"}) {
    auto t = parse_time(bad);
    EXPECT_FALSE(t) << bad;
  }
}

TEST(X509Values, SerialsAreNormalised) {
  EXPECT_EQ(normalize_serial_hex("0x00AB:cd"), "abcd");
  EXPECT_EQ(normalize_serial_hex("8F:00:01"), "8f0001");
  EXPECT_EQ(normalize_serial_hex("000"), "0");
  EXPECT_EQ(normalize_serial_hex(std::string(40, 'f')), std::string(40, 'f'));
  EXPECT_FALSE(normalize_serial_hex(std::string(41, 'f')));
  EXPECT_FALSE(normalize_serial_hex(""));
  EXPECT_FALSE(normalize_serial_hex(":"));
  EXPECT_FALSE(normalize_serial_hex("12g4"));
  EXPECT_FALSE(normalize_serial_hex("-12"));
}

TEST(X509Values, RevocationReasonNames) {
  EXPECT_EQ(parse_revocation_reason("keyCompromise"), RevocationReason::key_compromise);
  EXPECT_EQ(revocation_reason_name(RevocationReason::cessation_of_operation),
            "cessationOfOperation");
  EXPECT_FALSE(parse_revocation_reason("certificateHold"));  // ironroot revocations are permanent
  EXPECT_FALSE(parse_revocation_reason("removeFromCRL"));
  EXPECT_FALSE(parse_revocation_reason("keycompromise"));
  for (const std::string& name : revocation_reason_names()) {
    EXPECT_EQ(revocation_reason_name(*parse_revocation_reason(name)), name);
  }
}

TEST(X509Values, CertificateParsingRefusesGarbage) {
  EXPECT_FALSE(Certificate::from_pem(as_bytes("-----BEGIN CERTIFICATE-----\nAAAA\n")));
  EXPECT_FALSE(Certificate::from_der(as_bytes("\x30\x00")));
  EXPECT_FALSE(Certificate::all_from_pem(as_bytes("")));
  EXPECT_FALSE(RevocationList::from_pem(as_bytes("nothing")));
  EXPECT_TRUE(check_thing_name("thing_1:a-B"));
  EXPECT_FALSE(check_thing_name(""));
  EXPECT_TRUE(check_thing_name(std::string(64, 'x')));
  EXPECT_FALSE(check_thing_name(std::string(65, 'x')));
  EXPECT_FALSE(check_thing_name("thing 1"));
  EXPECT_TRUE(check_device_serial("SN.0042-a:b"));
  EXPECT_FALSE(check_device_serial("SN_0042"));  // not a PrintableString character
}

TEST_F(CertificateAuthorityTest, ChainFileReadsBackInOrder) {
  std::string chain = device_ca_->certificate().pem() + root_->certificate().pem();
  auto all = Certificate::all_from_pem(as_bytes(chain));
  ASSERT_TRUE(all) << all.error().message;
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].der(), device_ca_->certificate().der());
  EXPECT_EQ((*all)[1].der(), root_->certificate().der());
}

}  // namespace
}  // namespace ironroot::crypto
