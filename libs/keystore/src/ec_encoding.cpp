#include "ec_encoding.hpp"

#include <algorithm>
#include <array>

namespace ironroot::keystore {

namespace {

constexpr std::byte operator""_b(unsigned long long v) {
  return static_cast<std::byte>(v);
}

constexpr std::array kP256Oid = {0x06_b, 0x08_b, 0x2a_b, 0x86_b, 0x48_b,
                                 0xce_b, 0x3d_b, 0x03_b, 0x01_b, 0x07_b};
constexpr std::array kEd25519Oid = {0x06_b, 0x03_b, 0x2b_b, 0x65_b, 0x70_b};
// 1.3.6.1.4.1.11591.15.1, used for Ed25519 by tokens that predate PKCS#11 3.0.
constexpr std::array kEd25519GnupgOid = {0x06_b, 0x09_b, 0x2b_b, 0x06_b, 0x01_b, 0x04_b,
                                         0x01_b, 0xda_b, 0x47_b, 0x0f_b, 0x01_b};
constexpr std::string_view kEd25519Name = "edwards25519";
constexpr std::byte kDerOctetString = 0x04_b;
constexpr std::byte kDerPrintableString = 0x13_b;

template <std::size_t N>
bool equal(ByteView a, const std::array<std::byte, N>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end());
}

std::size_t raw_size(crypto::KeyType type) {
  return type == crypto::KeyType::ed25519 ? 32 : 65;
}

}  // namespace

Bytes ec_params_for(crypto::KeyType type) {
  if (type == crypto::KeyType::ed25519) return {kEd25519Oid.begin(), kEd25519Oid.end()};
  return {kP256Oid.begin(), kP256Oid.end()};
}

Result<crypto::KeyType> key_type_from_ec_params(ByteView params) {
  if (equal(params, kP256Oid)) return crypto::KeyType::ecdsa_p256;
  if (equal(params, kEd25519Oid) || equal(params, kEd25519GnupgOid)) {
    return crypto::KeyType::ed25519;
  }
  if (params.size() == kEd25519Name.size() + 2 && params[0] == kDerPrintableString &&
      std::to_integer<std::size_t>(params[1]) == kEd25519Name.size() &&
      as_chars(params.subspan(2)) == kEd25519Name) {
    return crypto::KeyType::ed25519;
  }
  return fail("the key's curve (CKA_EC_PARAMS " + to_hex(params) +
              ") is neither P-256 nor Ed25519, the curves ironroot signs with");
}

Bytes ec_point_for(ByteView raw) {
  // Sized once and filled in place: GCC 12 at -O3 warns (-Warray-bounds) about inserting into a
  // vector made from an initializer list.
  Bytes point(2 + raw.size());
  point[0] = kDerOctetString;
  point[1] = static_cast<std::byte>(raw.size());
  std::copy(raw.begin(), raw.end(), point.begin() + 2);
  return point;
}

Result<Bytes> raw_public_from_ec_point(crypto::KeyType type, ByteView point) {
  const std::size_t size = raw_size(type);
  if (point.size() == size) return Bytes(point.begin(), point.end());
  if (point.size() == size + 2 && point[0] == kDerOctetString &&
      std::to_integer<std::size_t>(point[1]) == size) {
    return Bytes(point.begin() + 2, point.end());
  }
  return fail("the token's public key value (CKA_EC_POINT " + to_hex(point) + ") is not a " +
              std::string(crypto::key_type_name(type)) + " point");
}

}  // namespace ironroot::keystore
