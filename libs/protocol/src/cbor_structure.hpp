// A structural check of untrusted CBOR, run before nlohmann::json reads it.
#pragma once

#include <cstddef>

#include "ironroot/core/bytes.hpp"
#include "ironroot/core/result.hpp"

namespace ironroot::protocol {

// Succeeds if `payload` is exactly one well-formed CBOR data item (RFC 8949) that is a map,
// nested at most `max_depth` deep, whose map keys (at every level) are text strings, with no tags
// and with indefinite-length strings made only of definite-length chunks of their own type.
// Walks the items one head at a time with libcbor's streaming decoder: no recursion, and memory
// proportional to the nesting depth only. Errors name the byte offset of the offending item.
Status check_cbor_structure(ByteView payload, std::size_t max_depth);

}  // namespace ironroot::protocol
