// Private to libs/crypto: what x509.cpp and certificate_authority.cpp share to build and sign
// X.509 structures.
#pragma once

#include <openssl/bn.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>

#include "ironroot/crypto/x509.hpp"
#include "openssl.hpp"

namespace ironroot::crypto {

using UniqueX509 = std::unique_ptr<X509, OpensslFree<X509_free>>;
using UniqueX509Req = std::unique_ptr<X509_REQ, OpensslFree<X509_REQ_free>>;
using UniqueX509Crl = std::unique_ptr<X509_CRL, OpensslFree<X509_CRL_free>>;
using UniqueX509Name = std::unique_ptr<X509_NAME, OpensslFree<X509_NAME_free>>;
using UniqueX509Ext = std::unique_ptr<X509_EXTENSION, OpensslFree<X509_EXTENSION_free>>;
using UniqueX509Revoked = std::unique_ptr<X509_REVOKED, OpensslFree<X509_REVOKED_free>>;
using UniqueAsn1Time = std::unique_ptr<ASN1_TIME, OpensslFree<ASN1_TIME_free>>;
using UniqueAsn1Integer = std::unique_ptr<ASN1_INTEGER, OpensslFree<ASN1_INTEGER_free>>;
using UniqueBn = std::unique_ptr<BIGNUM, OpensslFree<BN_free>>;

// The contents of a memory BIO as text.
std::string bio_contents(BIO* bio);

// A name with O, CN and serialNumber (in that order), each only when not empty.
Result<UniqueX509Name> make_name(const DistinguishedName& fields);
// Reads CN, serialNumber and O; fails when one appears twice.
Result<DistinguishedName> read_name(const X509_NAME* name);
// RFC 2253 text.
std::string name_text(const X509_NAME* name);

Result<UniqueAsn1Time> make_asn1_time(Time time);
// The epoch when OpenSSL cannot read the time (it parsed it, so that does not happen).
Time time_of(const ASN1_TIME* time);

// An ASN1_INTEGER from a serial in Certificate::serial_hex() form.
Result<UniqueAsn1Integer> serial_integer(std::string_view serial_hex);
// Lower-case hex of a (serial) number, without leading zeros.
std::string integer_hex(const ASN1_INTEGER* value);

// Signs DER `tbs` (a TBSCertificate, TBSCertList or CertificationRequestInfo) through `signer`
// and returns the whole signed structure: SEQUENCE { tbs, ecdsa-with-SHA256, BIT STRING sig }.
// Fails unless the signer's key is ECDSA P-256.
Result<Bytes> sign_tbs(ByteView tbs, Signer& signer);

}  // namespace ironroot::crypto
