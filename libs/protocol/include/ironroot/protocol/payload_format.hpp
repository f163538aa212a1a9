// The two payload encodings of AWS IoT's device MQTT APIs, which the last level of a request topic
// chooses ("json" or "cbor"), and bounded decoding of untrusted payloads into JSON objects.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

#include "ironroot/core/bytes.hpp"
#include "ironroot/core/result.hpp"

namespace ironroot::protocol {

enum class PayloadFormat { json, cbor };

// AWS IoT's limit on the payload of one MQTT message.
inline constexpr std::size_t kMaxPayloadSize = 128 * 1024;
// Arrays and objects nested deeper than this are refused; the documents of the device API nest at
// most three deep.
inline constexpr std::size_t kMaxNestingDepth = 32;

// "json" or "cbor", exactly (topic levels are case-sensitive); nullopt otherwise.
std::optional<PayloadFormat> parse_payload_format(std::string_view name);
// The topic level: "json" or "cbor".
std::string_view to_string(PayloadFormat format);

// Encodes a document as compact JSON text (UTF-8; a string that is not valid UTF-8 has the bad
// bytes replaced by U+FFFD) or as CBOR (RFC 8949: definite lengths, the shortest head for every
// length and integer, map keys in sorted order). Never throws.
Bytes encode_payload(const nlohmann::json& document, PayloadFormat format);

// Decodes an untrusted payload that must be exactly one JSON object, or one CBOR map whose keys
// are all text strings, with nothing after it. Refuses, without parsing, a payload larger than
// `max_size` bytes; refuses nesting deeper than kMaxNestingDepth, CBOR tags, text that is not
// valid UTF-8, and truncated or malformed input. The error says what was wrong and, for CBOR,
// at which byte. Never throws; memory used is bounded by a small multiple of the payload size.
Result<nlohmann::json> decode_payload(ByteView payload, PayloadFormat format,
                                      std::size_t max_size = kMaxPayloadSize);

}  // namespace ironroot::protocol
