#include "ironroot/crypto/digest.hpp"

#include <gtest/gtest.h>

namespace ironroot::crypto {
namespace {

TEST(Sha256, KnownAnswer) {
  // FIPS 180-2 example "abc".
  EXPECT_EQ(to_hex(sha256(as_bytes("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256, IncrementalEqualsOneShot) {
  Sha256 sha;
  sha.update(as_bytes("a"));
  sha.update(as_bytes("bc"));
  EXPECT_EQ(sha.finish(), sha256(as_bytes("abc")));
}

}  // namespace
}  // namespace ironroot::crypto
