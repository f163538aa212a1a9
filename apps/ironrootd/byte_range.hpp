// What a Range header (RFC 9110, section 14) asks of a representation of known size, as the
// firmware download service (firmware_download.hpp) answers it. One range of bytes is served;
// what a server may ignore is ignored, so that the client still gets a usable answer (the whole
// representation, 200):
//   - no Range header, a range unit other than "bytes", or a ranges-specifier that does not parse
//     (RFC 9110 14.2: a server MAY ignore it): the whole representation;
//   - several ranges ("bytes=0-9,20-29"): the whole representation (RFC 9110 14.2: a server MAY
//     ignore a Range header); no multipart/byteranges answers;
//   - one range: "bytes=a-b" (a <= b; b past the end means the end), "bytes=a-", "bytes=-n"
//     (the last n bytes, all of them when n is larger): that range (206), or unsatisfiable (416)
//     when it starts at or past the end, or is a suffix of length 0.
// Numbers are decimal digits of any length: one larger than 2^64 - 1 counts as 2^64 - 1, so it
// is past the end of any image.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ironroot::service {

struct ByteRange {
  std::uint64_t first = 0;  // offset of the first byte
  std::uint64_t last = 0;   // offset of the last byte, inclusive: first <= last < size
  std::uint64_t length() const { return last - first + 1; }
  bool operator==(const ByteRange&) const = default;
};

struct RangeAnswer {
  enum class Kind { whole, partial, unsatisfiable };
  Kind kind = Kind::whole;
  ByteRange range;  // partial: the bytes to send; whole: all of them (when size > 0)

  // "bytes 0-99/1000" for partial; "bytes */1000" for unsatisfiable; "" for whole.
  std::string content_range(std::uint64_t size) const;
};

// The answer to `range_header` (absent: no Range header) for a representation of `size` bytes.
RangeAnswer answer_range(std::optional<std::string_view> range_header, std::uint64_t size);

}  // namespace ironroot::service
