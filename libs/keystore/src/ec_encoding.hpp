// Private to libs/keystore: the DER that PKCS#11 puts in CKA_EC_PARAMS and CKA_EC_POINT, for the
// two curves ironroot signs with.
#pragma once

#include "ironroot/core/bytes.hpp"
#include "ironroot/core/result.hpp"
#include "ironroot/crypto/key.hpp"

namespace ironroot::keystore {

// CKA_EC_PARAMS for generating a key of `type`: the DER named-curve OID (P-256 1.2.840.10045.3.1.7,
// Ed25519 1.3.101.112).
Bytes ec_params_for(crypto::KeyType type);

// The curve CKA_EC_PARAMS names: P-256 by OID; Ed25519 by OID 1.3.101.112, the PrintableString
// "edwards25519" (PKCS#11 3.0, what SoftHSM2 and pkcs11-tool write) or GnuPG's OID. Fails, showing
// the parameters, for any other curve.
Result<crypto::KeyType> key_type_from_ec_params(ByteView params);

// CKA_EC_POINT for a public key: its raw value (crypto::PublicKey::raw(), at most 127 bytes) in a
// DER OCTET STRING, as PKCS#11 2.40 stores it and SoftHSM2 writes it.
Bytes ec_point_for(ByteView raw);

// The raw public value crypto::PublicKey::from_raw takes, from CKA_EC_POINT: a DER OCTET STRING
// around it (PKCS#11 2.40, SoftHSM2), or the bare value (some tokens).
Result<Bytes> raw_public_from_ec_point(crypto::KeyType type, ByteView point);

}  // namespace ironroot::keystore
