#include "ironroot/crypto/x509.hpp"

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>

#include <array>
#include <cctype>
#include <charconv>
#include <cstdio>

#include "x509_internal.hpp"

namespace ironroot::crypto {

namespace detail {
void X509Free::operator()(x509_st* x) const {
  X509_free(x);
}
void X509ReqFree::operator()(X509_req_st* req) const {
  X509_REQ_free(req);
}
void X509CrlFree::operator()(X509_crl_st* crl) const {
  X509_CRL_free(crl);
}
}  // namespace detail

namespace {

using UniqueBasicConstraints =
    std::unique_ptr<BASIC_CONSTRAINTS, OpensslFree<BASIC_CONSTRAINTS_free>>;
using UniqueBitString = std::unique_ptr<ASN1_BIT_STRING, OpensslFree<ASN1_BIT_STRING_free>>;
using UniqueEku = std::unique_ptr<EXTENDED_KEY_USAGE, OpensslFree<EXTENDED_KEY_USAGE_free>>;
using UniqueAuthorityKeyId = std::unique_ptr<AUTHORITY_KEYID, OpensslFree<AUTHORITY_KEYID_free>>;
using UniqueEnumerated = std::unique_ptr<ASN1_ENUMERATED, OpensslFree<ASN1_ENUMERATED_free>>;
using UniqueX509Store = std::unique_ptr<X509_STORE, OpensslFree<X509_STORE_free>>;
using UniqueX509StoreCtx = std::unique_ptr<X509_STORE_CTX, OpensslFree<X509_STORE_CTX_free>>;

// A stack that holds borrowed certificates: freeing it leaves them alone.
struct X509StackFree {
  void operator()(STACK_OF(X509) * stack) const { sk_X509_free(stack); }
};
using BorrowedX509Stack = std::unique_ptr<STACK_OF(X509), X509StackFree>;

// AlgorithmIdentifier { ecdsa-with-SHA256 } (RFC 5758 3.2: no parameters).
constexpr std::array<unsigned char, 12> kEcdsaWithSha256 = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
                                                            0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};
constexpr std::size_t kMaxSerialOctets = 20;  // RFC 5280 4.1.2.2

// A DER tag-length-value with a definite length.
Bytes der_tlv(std::uint8_t tag, ByteView content) {
  Bytes out{std::byte{tag}};
  std::size_t n = content.size();
  if (n < 0x80) {
    out.push_back(static_cast<std::byte>(n));
  } else {
    Bytes length;
    for (; n > 0; n >>= 8) length.insert(length.begin(), static_cast<std::byte>(n & 0xff));
    out.push_back(static_cast<std::byte>(0x80 | length.size()));
    append(out, length);
  }
  append(out, content);
  return out;
}

bool has_trailing_bytes(const unsigned char* end, ByteView der) {
  return end != as_uchars(der) + der.size();
}

ByteView buffer_view(const ASN1_STRING* s) {
  return {reinterpret_cast<const std::byte*>(ASN1_STRING_get0_data(s)),
          static_cast<std::size_t>(ASN1_STRING_length(s))};
}

Bytes octets(const ASN1_OCTET_STRING* s) {
  if (s == nullptr) return {};
  ByteView view = buffer_view(s);
  return {view.begin(), view.end()};
}

Result<std::optional<std::string>> name_entry(const X509_NAME* name, int nid, const char* label) {
  int index = X509_NAME_get_index_by_NID(name, nid, -1);
  if (index < 0) return std::optional<std::string>();
  if (X509_NAME_get_index_by_NID(name, nid, index) >= 0) {
    return fail(std::string("the name has more than one ") + label);
  }
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, data);
  if (len < 0) return openssl_fail(std::string("the name's ") + label + " is not valid text");
  std::string text(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(len));
  OPENSSL_free(utf8);
  if (text.find('\0') != std::string::npos) {
    return fail(std::string("the name's ") + label + " contains a NUL character");
  }
  return std::optional<std::string>(std::move(text));
}

template <class T, auto Read>
Result<T> read_pem(ByteView pem, const char* what) {
  UniqueBio bio = memory_bio(pem);
  auto* object = Read(bio.get(), nullptr, nullptr, nullptr);
  if (object == nullptr) return openssl_fail(std::string("not a PEM ") + what);
  return T::adopt(object);
}

// Key usage bit names in bit order (RFC 5280 4.2.1.3), as OpenSSL prints them.
constexpr std::array<const char*, 9> kKeyUsageNames = {
    "digitalSignature", "nonRepudiation", "keyEncipherment", "dataEncipherment", "keyAgreement",
    "keyCertSign",      "cRLSign",        "encipherOnly",    "decipherOnly"};

struct ReasonName {
  RevocationReason reason;
  std::string_view name;
};
// The reasons a revocation may state. certificateHold (reversible) and removeFromCRL (delta CRLs
// only) are left out: an ironroot revocation is permanent.
constexpr std::array<ReasonName, 8> kReasons = {{
    {RevocationReason::unspecified, "unspecified"},
    {RevocationReason::key_compromise, "keyCompromise"},
    {RevocationReason::ca_compromise, "cACompromise"},
    {RevocationReason::affiliation_changed, "affiliationChanged"},
    {RevocationReason::superseded, "superseded"},
    {RevocationReason::cessation_of_operation, "cessationOfOperation"},
    {RevocationReason::privilege_withdrawn, "privilegeWithdrawn"},
    {RevocationReason::aa_compromise, "aACompromise"},
}};

}  // namespace

// ---- shared helpers ---------------------------------------------------------------------------

std::string bio_contents(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(len));
}

Result<UniqueX509Name> make_name(const DistinguishedName& fields) {
  UniqueX509Name name(X509_NAME_new());
  if (!name) return openssl_fail("cannot allocate a name");
  const std::array<std::pair<int, const std::string*>, 3> entries = {
      {{NID_organizationName, &fields.organization},
       {NID_commonName, &fields.common_name},
       {NID_serialNumber, &fields.serial_number}}};
  for (const auto& [nid, value] : entries) {
    if (value->empty()) continue;
    if (X509_NAME_add_entry_by_NID(name.get(), nid, MBSTRING_UTF8, as_uchars(as_bytes(*value)),
                                   static_cast<int>(value->size()), -1, 0) != 1) {
      return openssl_fail(std::string("cannot use '") + *value + "' as " + OBJ_nid2sn(nid));
    }
  }
  return name;
}

Result<DistinguishedName> read_name(const X509_NAME* name) {
  DistinguishedName fields;
  const std::array<std::tuple<int, const char*, std::string*>, 3> entries = {
      {{NID_commonName, "CN", &fields.common_name},
       {NID_serialNumber, "serialNumber", &fields.serial_number},
       {NID_organizationName, "O", &fields.organization}}};
  for (const auto& [nid, label, field] : entries) {
    auto value = name_entry(name, nid, label);
    if (!value) return tl::unexpected(value.error());
    if (*value) *field = std::move(**value);
  }
  return fields;
}

std::string name_text(const X509_NAME* name) {
  UniqueBio bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  return bio_contents(bio.get());
}

Result<UniqueAsn1Time> make_asn1_time(Time time) {
  // UTCTime for 1950 to 2049, GeneralizedTime otherwise (RFC 5280 4.1.2.5).
  UniqueAsn1Time t(ASN1_TIME_set(nullptr, static_cast<time_t>(time.time_since_epoch().count())));
  if (!t) return openssl_fail("cannot encode the time " + format_time(time));
  return t;
}

Time time_of(const ASN1_TIME* time) {
  std::tm tm{};
  if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1) return Time{};
  using namespace std::chrono;
  auto day = sys_days{year{tm.tm_year + 1900} / month{static_cast<unsigned>(tm.tm_mon + 1)} /
                      static_cast<unsigned>(tm.tm_mday)};
  return day + hours{tm.tm_hour} + minutes{tm.tm_min} + seconds{tm.tm_sec};
}

Result<UniqueAsn1Integer> serial_integer(std::string_view serial_hex) {
  auto normal = normalize_serial_hex(serial_hex);
  if (!normal) return fail("'" + std::string(serial_hex) + "' is not a serial number in hex");
  BIGNUM* raw = nullptr;
  if (BN_hex2bn(&raw, normal->c_str()) == 0) return openssl_fail("cannot read the serial number");
  UniqueBn bn(raw);
  UniqueAsn1Integer integer(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  if (!integer) return openssl_fail("cannot encode the serial number");
  return integer;
}

std::string integer_hex(const ASN1_INTEGER* value) {
  UniqueBn bn(ASN1_INTEGER_to_BN(value, nullptr));
  if (!bn) return {};
  char* hex = BN_bn2hex(bn.get());
  std::string text(hex);
  OPENSSL_free(hex);
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  // BN_bn2hex writes whole bytes ("07"); a malformed negative serial keeps its sign.
  std::size_t digits = text.starts_with('-') ? 1 : 0;
  while (text.size() > digits + 1 && text[digits] == '0') text.erase(digits, 1);
  return text;
}

Result<Bytes> sign_tbs(ByteView tbs, Signer& signer) {
  if (signer.public_key().type() != KeyType::ecdsa_p256) {
    return fail(
        "X.509 signing needs an ECDSA P-256 key: an Ed25519 signature covers the whole message, "
        "and a Signer signs SHA-256 digests");
  }
  auto signature = signer.sign_digest(sha256(tbs));
  if (!signature) return prefixed(signature.error(), "signing");
  Bytes bits{std::byte{0}};  // no unused bits
  append(bits, *signature);
  Bytes body(tbs.begin(), tbs.end());
  append(body, as_bytes(std::string_view(reinterpret_cast<const char*>(kEcdsaWithSha256.data()),
                                         kEcdsaWithSha256.size())));
  append(body, der_tlv(0x03, bits));
  return der_tlv(0x30, body);
}

// ---- times and serials --------------------------------------------------------------------------

std::string format_time(Time time) {
  using namespace std::chrono;
  auto day = floor<days>(time);
  year_month_day ymd{day};
  hh_mm_ss hms{time - day};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  return buf;
}

Result<Time> parse_time(std::string_view text) {
  auto bad = [&] {
    return fail("'" + std::string(text) +
                "' is not a UTC time; write YYYY-MM-DDTHH:MM:SSZ or YYYY-MM-DD");
  };
  if (text.size() != 10 && text.size() != 20) return bad();
  auto number = [&](std::size_t at, std::size_t len, int& out) {
    const char* begin = text.data() + at;
    for (std::size_t i = 0; i < len; ++i) {
      if (!std::isdigit(static_cast<unsigned char>(begin[i]))) return false;
    }
    return std::from_chars(begin, begin + len, out).ec == std::errc{};
  };
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  if (!number(0, 4, y) || text[4] != '-' || !number(5, 2, mo) || text[7] != '-' ||
      !number(8, 2, d)) {
    return bad();
  }
  if (text.size() == 20 &&
      (text[10] != 'T' || !number(11, 2, h) || text[13] != ':' || !number(14, 2, mi) ||
       text[16] != ':' || !number(17, 2, s) || text[19] != 'Z')) {
    return bad();
  }
  using namespace std::chrono;
  year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
  if (!ymd.ok() || y < 1950 || h > 23 || mi > 59 || s > 59) {
    return fail("'" + std::string(text) + "' is not a valid date and time (years 1950 to 9999)");
  }
  return sys_days{ymd} + hours{h} + minutes{mi} + seconds{s};
}

std::optional<std::string> normalize_serial_hex(std::string_view text) {
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    text.remove_prefix(2);
  }
  std::string hex;
  for (char c : text) {
    if (c == ':') continue;
    if (!std::isxdigit(static_cast<unsigned char>(c))) return std::nullopt;
    if (hex.empty() && c == '0') continue;  // leading zeros
    hex.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  if (text.empty() || text.find_first_not_of(':') == std::string_view::npos) return std::nullopt;
  if (hex.empty()) return "0";
  if (hex.size() > 2 * kMaxSerialOctets) return std::nullopt;
  return hex;
}

// ---- Certificate --------------------------------------------------------------------------------

Result<Certificate> Certificate::adopt(x509_st* raw) {
  UniqueX509 x509(raw);
  unsigned char* der = nullptr;
  int len = i2d_X509(x509.get(), &der);
  if (len <= 0) return openssl_fail("cannot encode the certificate");
  return Certificate(std::shared_ptr<X509>(x509.release(), X509_free),
                     take_openssl_buffer(der, len));
}

Result<Certificate> Certificate::from_pem(ByteView pem) {
  return read_pem<Certificate, PEM_read_bio_X509>(pem, "certificate");
}

Result<std::vector<Certificate>> Certificate::all_from_pem(ByteView pem) {
  UniqueBio bio = memory_bio(pem);
  std::vector<Certificate> all;
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    auto cert = adopt(x);
    if (!cert) return tl::unexpected(cert.error());
    all.push_back(std::move(*cert));
  }
  unsigned long last = ERR_peek_last_error();
  if (all.empty() || ERR_GET_REASON(last) != PEM_R_NO_START_LINE) {
    return openssl_fail(all.empty() ? "no PEM certificate found"
                                    : "PEM certificate " + std::to_string(all.size() + 1));
  }
  ERR_clear_error();
  return all;
}

Result<Certificate> Certificate::from_der(ByteView der) {
  const unsigned char* p = as_uchars(der);
  X509* x = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
  if (x == nullptr) return openssl_fail("not a DER certificate");
  if (has_trailing_bytes(p, der)) {
    X509_free(x);
    return fail("DER certificate has trailing bytes");
  }
  return adopt(x);
}

std::string Certificate::pem() const {
  UniqueBio bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), x509_.get());
  return bio_contents(bio.get());
}

std::string Certificate::subject() const {
  return name_text(X509_get_subject_name(x509_.get()));
}
std::string Certificate::issuer() const {
  return name_text(X509_get_issuer_name(x509_.get()));
}
std::uint32_t Certificate::subject_name_hash() const {
  return static_cast<std::uint32_t>(X509_subject_name_hash(x509_.get()));
}
Result<DistinguishedName> Certificate::subject_name() const {
  return read_name(X509_get_subject_name(x509_.get()));
}
std::string Certificate::serial_hex() const {
  return integer_hex(X509_get0_serialNumber(x509_.get()));
}
Bytes Certificate::subject_der() const {
  unsigned char* der = nullptr;
  int len = i2d_X509_NAME(X509_get_subject_name(x509_.get()), &der);
  return len > 0 ? take_openssl_buffer(der, len) : Bytes();
}
Bytes Certificate::issuer_der() const {
  unsigned char* der = nullptr;
  int len = i2d_X509_NAME(X509_get_issuer_name(x509_.get()), &der);
  return len > 0 ? take_openssl_buffer(der, len) : Bytes();
}
Bytes Certificate::serial_der() const {
  unsigned char* der = nullptr;
  int len = i2d_ASN1_INTEGER(X509_get0_serialNumber(x509_.get()), &der);
  return len > 0 ? take_openssl_buffer(der, len) : Bytes();
}
Time Certificate::not_before() const {
  return time_of(X509_get0_notBefore(x509_.get()));
}
Time Certificate::not_after() const {
  return time_of(X509_get0_notAfter(x509_.get()));
}

Result<PublicKey> Certificate::public_key() const {
  EVP_PKEY* pkey = X509_get_pubkey(x509_.get());
  if (pkey == nullptr) return openssl_fail("cannot read the certificate's public key");
  return adopt_public_key(pkey);
}

CertificateExtensions Certificate::extensions() const {
  X509* x = x509_.get();
  CertificateExtensions ext;
  int critical = 0;
  UniqueBasicConstraints bc(static_cast<BASIC_CONSTRAINTS*>(
      X509_get_ext_d2i(x, NID_basic_constraints, &critical, nullptr)));
  if (bc) {
    BasicConstraints out{critical == 1, bc->ca != 0, std::nullopt};
    if (bc->pathlen != nullptr) out.path_length = ASN1_INTEGER_get(bc->pathlen);
    ext.basic_constraints = out;
  }
  UniqueBitString usage(
      static_cast<ASN1_BIT_STRING*>(X509_get_ext_d2i(x, NID_key_usage, &critical, nullptr)));
  if (usage) {
    ext.key_usage_critical = critical == 1;
    for (std::size_t bit = 0; bit < kKeyUsageNames.size(); ++bit) {
      if (ASN1_BIT_STRING_get_bit(usage.get(), static_cast<int>(bit)) == 1) {
        ext.key_usage.emplace_back(kKeyUsageNames[bit]);
      }
    }
  }
  UniqueEku eku(
      static_cast<EXTENDED_KEY_USAGE*>(X509_get_ext_d2i(x, NID_ext_key_usage, nullptr, nullptr)));
  for (int i = 0; eku && i < sk_ASN1_OBJECT_num(eku.get()); ++i) {
    const ASN1_OBJECT* object = sk_ASN1_OBJECT_value(eku.get(), i);
    int nid = OBJ_obj2nid(object);
    if (nid != NID_undef) {
      ext.extended_key_usage.emplace_back(OBJ_nid2sn(nid));
    } else {
      char oid[128];
      OBJ_obj2txt(oid, sizeof oid, object, 1);
      ext.extended_key_usage.emplace_back(oid);
    }
  }
  ext.subject_key_id = octets(X509_get0_subject_key_id(x));
  ext.authority_key_id = octets(X509_get0_authority_key_id(x));
  ERR_clear_error();  // absent extensions leave nothing worth reporting
  return ext;
}

bool Certificate::is_self_signed() const {
  return X509_self_signed(x509_.get(), 0) == 1;
}

Status Certificate::verify_signature(const PublicKey& issuer) const {
  if (X509_verify(x509_.get(), issuer.native()) != 1) {
    ERR_clear_error();
    return fail("the signature of certificate " + subject() + " does not verify with key " +
                to_hex(issuer.key_hash()));
  }
  return {};
}

// ---- CertificateRequest -------------------------------------------------------------------------

Result<CertificateRequest> CertificateRequest::adopt(X509_req_st* raw) {
  UniqueX509Req req(raw);
  unsigned char* der = nullptr;
  int len = i2d_X509_REQ(req.get(), &der);
  if (len <= 0) return openssl_fail("cannot encode the CSR");
  return CertificateRequest(std::shared_ptr<X509_REQ>(req.release(), X509_REQ_free),
                            take_openssl_buffer(der, len));
}

Result<CertificateRequest> CertificateRequest::from_pem(ByteView pem) {
  return read_pem<CertificateRequest, PEM_read_bio_X509_REQ>(pem, "certificate request (CSR)");
}

Result<CertificateRequest> CertificateRequest::from_der(ByteView der) {
  const unsigned char* p = as_uchars(der);
  X509_REQ* req = d2i_X509_REQ(nullptr, &p, static_cast<long>(der.size()));
  if (req == nullptr) return openssl_fail("not a DER certificate request (CSR)");
  if (has_trailing_bytes(p, der)) {
    X509_REQ_free(req);
    return fail("DER certificate request has trailing bytes");
  }
  return adopt(req);
}

Result<CertificateRequest> CertificateRequest::create(const DistinguishedName& subject,
                                                      Signer& signer) {
  if (subject.common_name.empty()) return fail("a CSR needs a CN");
  UniqueX509Req req(X509_REQ_new());
  if (!req || X509_REQ_set_version(req.get(), X509_REQ_VERSION_1) != 1) {
    return openssl_fail("cannot create a CSR");
  }
  auto name = make_name(subject);
  if (!name) return tl::unexpected(name.error());
  if (X509_REQ_set_subject_name(req.get(), name->get()) != 1 ||
      X509_REQ_set_pubkey(req.get(), signer.public_key().native()) != 1) {
    return openssl_fail("cannot fill in the CSR");
  }
  unsigned char* tbs = nullptr;
  int len = i2d_re_X509_REQ_tbs(req.get(), &tbs);
  if (len <= 0) return openssl_fail("cannot encode the CSR");
  auto der = sign_tbs(take_openssl_buffer(tbs, len), signer);
  if (!der) return tl::unexpected(der.error());
  auto csr = from_der(*der);
  if (!csr) return tl::unexpected(csr.error());
  if (auto ok = csr->verify_signature(); !ok) {
    return fail("the key signed a CSR that does not verify with its own public key");
  }
  return csr;
}

std::string CertificateRequest::pem() const {
  UniqueBio bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509_REQ(bio.get(), req_.get());
  return bio_contents(bio.get());
}

std::string CertificateRequest::subject() const {
  return name_text(X509_REQ_get_subject_name(req_.get()));
}
Result<DistinguishedName> CertificateRequest::subject_name() const {
  return read_name(X509_REQ_get_subject_name(req_.get()));
}

Result<PublicKey> CertificateRequest::public_key() const {
  EVP_PKEY* pkey = X509_REQ_get_pubkey(req_.get());
  if (pkey == nullptr) return openssl_fail("cannot read the CSR's public key");
  return adopt_public_key(pkey);
}

Status CertificateRequest::verify_signature() const {
  EVP_PKEY* pkey = X509_REQ_get0_pubkey(req_.get());
  if (pkey == nullptr || X509_REQ_verify(req_.get(), pkey) != 1) {
    ERR_clear_error();
    return fail(
        "the CSR's self-signature does not verify (it was altered, or not signed with the private "
        "half of its key)");
  }
  return {};
}

// ---- revocation ---------------------------------------------------------------------------------

std::string_view revocation_reason_name(RevocationReason reason) {
  for (const auto& r : kReasons) {
    if (r.reason == reason) return r.name;
  }
  if (reason == RevocationReason::certificate_hold) return "certificateHold";
  if (reason == RevocationReason::remove_from_crl) return "removeFromCRL";
  return "unknown";
}

std::optional<RevocationReason> parse_revocation_reason(std::string_view name) {
  for (const auto& r : kReasons) {
    if (r.name == name) return r.reason;
  }
  return std::nullopt;
}

std::vector<std::string> revocation_reason_names() {
  std::vector<std::string> names;
  for (const auto& r : kReasons) names.emplace_back(r.name);
  return names;
}

Result<RevocationList> RevocationList::adopt(X509_crl_st* raw) {
  UniqueX509Crl crl(raw);
  unsigned char* der = nullptr;
  int len = i2d_X509_CRL(crl.get(), &der);
  if (len <= 0) return openssl_fail("cannot encode the CRL");
  return RevocationList(std::shared_ptr<X509_CRL>(crl.release(), X509_CRL_free),
                        take_openssl_buffer(der, len));
}

Result<RevocationList> RevocationList::from_pem(ByteView pem) {
  return read_pem<RevocationList, PEM_read_bio_X509_CRL>(pem, "CRL");
}

Result<RevocationList> RevocationList::from_der(ByteView der) {
  const unsigned char* p = as_uchars(der);
  X509_CRL* crl = d2i_X509_CRL(nullptr, &p, static_cast<long>(der.size()));
  if (crl == nullptr) return openssl_fail("not a DER CRL");
  if (has_trailing_bytes(p, der)) {
    X509_CRL_free(crl);
    return fail("DER CRL has trailing bytes");
  }
  return adopt(crl);
}

std::string RevocationList::pem() const {
  UniqueBio bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509_CRL(bio.get(), crl_.get());
  return bio_contents(bio.get());
}

std::string RevocationList::issuer() const {
  return name_text(X509_CRL_get_issuer(crl_.get()));
}
Time RevocationList::this_update() const {
  return time_of(X509_CRL_get0_lastUpdate(crl_.get()));
}
std::optional<Time> RevocationList::next_update() const {
  const ASN1_TIME* next = X509_CRL_get0_nextUpdate(crl_.get());
  if (next == nullptr) return std::nullopt;
  return time_of(next);
}

std::optional<std::string> RevocationList::crl_number_hex() const {
  UniqueAsn1Integer number(static_cast<ASN1_INTEGER*>(
      X509_CRL_get_ext_d2i(crl_.get(), NID_crl_number, nullptr, nullptr)));
  ERR_clear_error();
  if (!number) return std::nullopt;
  return integer_hex(number.get());
}

Bytes RevocationList::authority_key_id() const {
  UniqueAuthorityKeyId aki(static_cast<AUTHORITY_KEYID*>(
      X509_CRL_get_ext_d2i(crl_.get(), NID_authority_key_identifier, nullptr, nullptr)));
  ERR_clear_error();
  return aki ? octets(aki->keyid) : Bytes{};
}

std::vector<RevokedCertificate> RevocationList::revoked() const {
  std::vector<RevokedCertificate> all;
  STACK_OF(X509_REVOKED)* stack = X509_CRL_get_REVOKED(crl_.get());
  for (int i = 0; stack != nullptr && i < sk_X509_REVOKED_num(stack); ++i) {
    X509_REVOKED* entry = sk_X509_REVOKED_value(stack, i);
    RevokedCertificate out{integer_hex(X509_REVOKED_get0_serialNumber(entry)),
                           time_of(X509_REVOKED_get0_revocationDate(entry)),
                           RevocationReason::unspecified};
    UniqueEnumerated reason(static_cast<ASN1_ENUMERATED*>(
        X509_REVOKED_get_ext_d2i(entry, NID_crl_reason, nullptr, nullptr)));
    if (reason) out.reason = static_cast<RevocationReason>(ASN1_ENUMERATED_get(reason.get()));
    all.push_back(std::move(out));
  }
  ERR_clear_error();
  return all;
}

bool RevocationList::is_revoked(std::string_view serial_hex) const {
  auto wanted = normalize_serial_hex(serial_hex);
  if (!wanted) return false;
  for (const auto& entry : revoked()) {
    if (entry.serial_hex == *wanted) return true;
  }
  return false;
}

Status RevocationList::verify_signature(const PublicKey& issuer) const {
  if (X509_CRL_verify(crl_.get(), issuer.native()) != 1) {
    ERR_clear_error();
    return fail("the signature of the CRL from " + this->issuer() + " does not verify with key " +
                to_hex(issuer.key_hash()));
  }
  return {};
}

// ---- chains -------------------------------------------------------------------------------------

Status verify_chain(const Certificate& leaf, std::span<const Certificate> trusted,
                    const ChainPolicy& policy) {
  UniqueX509Store store(X509_STORE_new());
  BorrowedX509Stack untrusted(sk_X509_new_null());
  UniqueX509StoreCtx ctx(X509_STORE_CTX_new());
  if (!store || !untrusted || !ctx) return openssl_fail("cannot set up chain verification");
  for (const Certificate& cert : trusted) {
    if (X509_STORE_add_cert(store.get(), cert.native()) != 1) {
      return openssl_fail("cannot add trusted certificate " + cert.subject());
    }
  }
  for (const RevocationList& crl : policy.crls) {
    if (X509_STORE_add_crl(store.get(), crl.native()) != 1) {
      return openssl_fail("cannot add the CRL from " + crl.issuer());
    }
  }
  if (!policy.crls.empty()) X509_STORE_set_flags(store.get(), X509_V_FLAG_CRL_CHECK);
  for (const Certificate& cert : policy.untrusted) {
    if (sk_X509_push(untrusted.get(), cert.native()) <= 0) {
      return openssl_fail("cannot add intermediate certificate " + cert.subject());
    }
  }
  if (X509_STORE_CTX_init(ctx.get(), store.get(), leaf.native(), untrusted.get()) != 1) {
    return openssl_fail("cannot set up chain verification");
  }
  if (policy.at) {
    X509_STORE_CTX_set_time(ctx.get(), 0,
                            static_cast<time_t>(policy.at->time_since_epoch().count()));
  }
  if (policy.tls_client && X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_CLIENT) != 1) {
    return openssl_fail("cannot require the TLS client purpose");
  }
  if (X509_verify_cert(ctx.get()) == 1) return {};
  int error = X509_STORE_CTX_get_error(ctx.get());
  X509* failed = X509_STORE_CTX_get_current_cert(ctx.get());
  std::string where = failed != nullptr ? name_text(X509_get_subject_name(failed)) : leaf.subject();
  ERR_clear_error();
  return fail(where + ": " + X509_verify_cert_error_string(error));
}

}  // namespace ironroot::crypto
