// The Range header rules of the HTTPS firmware downloads (apps/ironrootd/byte_range.hpp): one
// byte range served, what RFC 9110 lets a server ignore ignored, and what cannot be served
// unsatisfiable.
#include "byte_range.hpp"

#include <gtest/gtest.h>

namespace ironroot::service {
namespace {

using Kind = RangeAnswer::Kind;

RangeAnswer answer(const char* header, std::uint64_t size = 1000) {
  return answer_range(header == nullptr ? std::nullopt : std::optional<std::string_view>(header),
                      size);
}

TEST(ByteRange, OneRangeIsServed) {
  struct Case {
    const char* header;
    ByteRange range;
  };
  for (const Case& c :
       {Case{"bytes=0-99", {0, 99}}, Case{"bytes=100-", {100, 999}}, Case{"bytes=-10", {990, 999}},
        Case{"bytes=-5000", {0, 999}}, Case{"bytes=999-999", {999, 999}},
        Case{"bytes=500-99999", {500, 999}}, Case{"bytes=0-99999999999999999999999", {0, 999}},
        Case{"BYTES = 1-2 ", {1, 2}}}) {
    const RangeAnswer a = answer(c.header);
    EXPECT_EQ(a.kind, Kind::partial) << c.header;
    EXPECT_EQ(a.range, c.range) << c.header;
  }
  EXPECT_EQ(answer("bytes=10-19").content_range(1000), "bytes 10-19/1000");
  EXPECT_EQ(answer("bytes=10-19").range.length(), 10u);
}

TEST(ByteRange, RangesPastTheEndAreUnsatisfiable) {
  for (const char* header :
       {"bytes=1000-", "bytes=1000-2000", "bytes=-0", "bytes=99999999999999999999999-"}) {
    const RangeAnswer a = answer(header);
    EXPECT_EQ(a.kind, Kind::unsatisfiable) << header;
    EXPECT_EQ(a.content_range(1000), "bytes */1000") << header;
  }
}

TEST(ByteRange, WhatMayBeIgnoredGivesTheWhole) {
  for (const char* header :
       {static_cast<const char*>(nullptr), "bytes=0-9,20-29", "bytes=-5, 0-1", "items=0-9",
        "bytes=9-0", "bytes=x-9", "bytes=-", "bytes=1-2-3", "bytes 0-9", "", "bytes=+1-2"}) {
    const RangeAnswer a = answer(header);
    EXPECT_EQ(a.kind, Kind::whole) << (header ? header : "(none)");
    EXPECT_EQ(a.range, (ByteRange{0, 999})) << (header ? header : "(none)");
    EXPECT_EQ(a.content_range(1000), "");
  }
}

}  // namespace
}  // namespace ironroot::service
