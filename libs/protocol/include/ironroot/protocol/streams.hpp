// AWS IoT's MQTT-based file delivery (developer guide: "Using AWS IoT MQTT-based file delivery in
// devices", mqtt-based-file-delivery-in-devices; "DG" below), as pure codecs: topics, the
// GetStream and DescribeStream requests and replies in CBOR and JSON, error replies, and the plan
// of which blocks answer a GetStream request. Under a TopicPrefix ("$aws" on AWS IoT), for thing
// T, stream S and format F ("cbor" or "json"):
//   <prefix>/things/T/streams/S/get/F           GetStream request (device)
//   <prefix>/things/T/streams/S/data/F          one data block per message (service)
//   <prefix>/things/T/streams/S/describe/F      DescribeStream request (device)
//   <prefix>/things/T/streams/S/description/F   DescribeStream reply (service)
//   <prefix>/things/T/streams/S/rejected/F      error reply to either request (service)
//
// Devices that must work unchanged against these codecs: AWS's OTA agent
// (aws/ota-for-aws-iot-embedded-sdk: ota_mqtt.c, ota_cbor.c), which publishes CBOR
// {c:"rdy", f, l, o:0, b:<bitmap of the whole file>, n} and reads CBOR {f, i, l, p}; and AWS's
// MQTT file streams library (aws/aws-iot-core-mqtt-file-streams-embedded-c, MQTTFileDownloader.c),
// which publishes CBOR {c:"rdy", f, l, o, b, n} or JSON {"s":1, f, l, o, n} and reads {f, i, l, p}
// (p base64 in JSON).
//
// Members are named for what they are; the comment gives the one-letter wire key. Decoders ignore
// keys they do not know. Request decoders fail with a StreamRequestError whose code is the one the
// DG lists for that failure, which the fleet service sends back on .../rejected/F as
// StreamErrorResponse::from(error).
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <vector>

#include "ironroot/core/bytes.hpp"
#include "ironroot/core/result.hpp"
#include "ironroot/protocol/payload_format.hpp"
#include "ironroot/protocol/topics.hpp"

namespace ironroot::protocol {

// ---------------------------------------------------------------------------------------------
// Bounds. From the DG unless said otherwise.

// Stream id (CreateStream's streamId): 1 to 128 of [a-zA-Z0-9_-].
inline constexpr std::size_t kMaxStreamIdSize = 128;
// c: "can be no longer than 64 bytes" (longer: InvalidRequest). ironroot also refuses "".
inline constexpr std::size_t kMaxStreamClientTokenSize = 64;
// f: "an integer in the range 0 to 255".
inline constexpr std::int64_t kMaxStreamFileId = 255;
// l: "an integer in the range 256 to 131,072" (outside: BlockSizeOutOfBounds).
inline constexpr std::int64_t kMinStreamBlockSize = 256;
inline constexpr std::int64_t kMaxStreamBlockSize = 131072;
// o: "an integer in the range 0 to 98,304" (24 MB / 256 B; outside: OffsetOutOfBounds).
inline constexpr std::int64_t kMaxStreamBlockOffset = 98304;
// n: "an integer in the range 0 to 98,304" (outside: BlockCountLimitExceeded).
inline constexpr std::int64_t kMaxStreamBlockCount = 98304;
// b: the DG says "less than 12,288 bytes"; MQTTFileDownloader_json.c sizes its buffer for a
// bitmap of exactly 12,288 bytes (24,583 = 2 * 12,288 hex digits + the key), and 12,288 bytes
// are the 98,304 blocks that o can address. ironroot accepts up to and including 12,288 bytes;
// more is BlockBitmapLimitExceeded.
inline constexpr std::size_t kMaxStreamBitmapSize = 12288;
// The service sends at most 128 KiB of block payload per GetStream request.
inline constexpr std::size_t kMaxBytesPerGetStream = 131072;
// s: "the stream version field (an integer)"; the DG gives no range. ironroot: 0 to 2^31 - 1.
inline constexpr std::int64_t kMaxStreamVersion = 2147483647;
// z: file sizes. ironroot: at most 2^32 - 1, the range of the OTA agents' uint32 file size.
inline constexpr std::int64_t kMaxStreamFileSize = 4294967295;
// d: ironroot's bound on a stream description, in bytes.
inline constexpr std::size_t kMaxStreamDescriptionSize = 2048;
// r: at most one entry per file id.
inline constexpr std::size_t kMaxStreamFiles = 256;
// i: block ids are below 2^31 (ota_mqtt.c reads them into an int32_t).
inline constexpr std::int64_t kMaxStreamBlockId = 2147483647;
// The largest reply a device decodes by default: a 128 KiB block in base64 JSON plus its keys.
// (A 128 KiB block does not fit in one 128 KiB MQTT message; brokers must allow more, or the
// service's streams must use smaller blocks.)
inline constexpr std::size_t kMaxStreamReplySize = 4 * ((kMaxStreamBlockSize + 2) / 3) + 1024;

// A stream id as AWS IoT allows it: 1 to 128 characters of [a-zA-Z0-9_-].
bool is_valid_stream_id(std::string_view id);

// ---------------------------------------------------------------------------------------------
// Topics

enum class StreamMessage {
  get,          // GetStream request: .../get/F
  describe,     // DescribeStream request: .../describe/F
  data,         // a GetStream reply (one block): .../data/F
  description,  // the DescribeStream reply: .../description/F
  rejected,     // an error reply to either request: .../rejected/F
};

// One streams topic, taken apart.
struct StreamTopic {
  std::string thing_name;  // is_valid_thing_name
  std::string stream_id;   // is_valid_stream_id
  StreamMessage message = StreamMessage::get;
  PayloadFormat format = PayloadFormat::cbor;

  // Whether a device publishes this topic to ask something of the service.
  bool is_request() const {
    return message == StreamMessage::get || message == StreamMessage::describe;
  }
  bool operator==(const StreamTopic&) const = default;
};

// The topic string. Fails, saying which, on an invalid thing name or stream id.
Result<std::string> stream_topic(const TopicPrefix& prefix, const StreamTopic& topic);

// Takes a topic apart. Fails, saying why, for any topic that is not exactly
// <prefix>/things/<thing>/streams/<stream>/<get|describe|data|description|rejected>/<cbor|json>
// with a valid thing name and stream id.
Result<StreamTopic> parse_stream_topic(const TopicPrefix& prefix, std::string_view topic);

// The topic of a reply to `request`: .../data/F (get) or .../description/F (describe) when
// `reply` is accepted, .../rejected/F when it is rejected; same thing, stream and format.
// REQUIRES: request.is_request() and reply != Reply::none.
StreamTopic reply_topic(const StreamTopic& request, Reply reply);

// The subscription filters that match every streams request (and no reply) under `prefix`:
// <prefix>/things/+/streams/+/get/+ and <prefix>/things/+/streams/+/describe/+.
std::vector<std::string> stream_request_filters(const TopicPrefix& prefix);

// ---------------------------------------------------------------------------------------------
// Errors: the codes of the DG's "Handling errors from AWS IoT MQTT-based file delivery", all of
// them, spelled as AWS spells them.

namespace stream_errors {
inline constexpr std::string_view kInvalidTopic = "InvalidTopic";  // no such streams topic
inline constexpr std::string_view kInvalidJson = "InvalidJson";    // .../json: not a JSON object
inline constexpr std::string_view kInvalidCbor = "InvalidCbor";    // .../cbor: not a CBOR map
// Malformed request: a field missing or of the wrong type, c longer than 64 bytes, f outside 0 to
// 255, a payload too large.
inline constexpr std::string_view kInvalidRequest = "InvalidRequest";
inline constexpr std::string_view kUnauthorized = "Unauthorized";  // the service may not read it
inline constexpr std::string_view kBlockSizeOutOfBounds = "BlockSizeOutOfBounds";          // l
inline constexpr std::string_view kOffsetOutOfBounds = "OffsetOutOfBounds";                // o
inline constexpr std::string_view kBlockCountLimitExceeded = "BlockCountLimitExceeded";    // n
inline constexpr std::string_view kBlockBitmapLimitExceeded = "BlockBitmapLimitExceeded";  // b
// No such stream, file id, or requested block.
inline constexpr std::string_view kResourceNotFound = "ResourceNotFound";
inline constexpr std::string_view kVersionMismatch = "VersionMismatch";  // s != the stream's
inline constexpr std::string_view kETagMismatch = "ETagMismatch";        // the stored file changed
inline constexpr std::string_view kInternalError = "InternalError";
}  // namespace stream_errors

// Why a request was refused, with what the error reply needs: `client_token` is the request's c
// when it was valid (the DG: a malformed token is not echoed).
struct StreamRequestError {
  std::string code;  // one of stream_errors
  std::string message;
  std::optional<std::string> client_token;
};

template <class T>
using StreamResult = tl::expected<T, StreamRequestError>;

// ---------------------------------------------------------------------------------------------
// Block bitmaps. Bit k of a bitmap stands for block offset + k; it is bit (k % 8), counted from
// the least significant, of byte k / 8; 1 means "send this block". This is the DG's example
// (blocks 20, 21, 24, 43 from offset 20 are the bytes 13 00 80) and what ota.c does
// (bitMask = 1 << (blockIndex % 8), byte = blockIndex >> 3, set bits are missing blocks).

// Whether bit k is set; false when k is beyond the bitmap.
bool is_block_requested(ByteView bitmap, std::size_t k);
// Sets or clears bit k. REQUIRES: k < 8 * bitmap.size().
void set_block_requested(std::span<std::byte> bitmap, std::size_t k, bool requested);
// A bitmap of ceil(count / 8) bytes with bits 0 to count - 1 set, as ota.c starts a download.
Bytes full_block_bitmap(std::size_t count);

// Standard base64 (RFC 4648 section 4) with padding: the encoding of p in JSON data replies and
// of the OTA job document's signature. Decoding is strict: no white space, correct padding,
// unused bits zero; nullopt otherwise.
std::string to_base64(ByteView data);
std::optional<Bytes> from_base64(std::string_view text);

// ---------------------------------------------------------------------------------------------
// Requests (devices encode them; the fleet service decodes them). decode() takes the decoded
// payload and the format it came in (b is a byte string in CBOR, hex text in JSON).

// GetStream: .../get/F.
struct GetStreamRequest {
  std::optional<std::string> client_token;     // c: 1 to 64 bytes
  std::optional<std::int64_t> stream_version;  // s: 0 to kMaxStreamVersion; checked if present
  std::int64_t file_id = 0;                    // f: required, 0 to 255
  std::int64_t block_size = 0;                 // l: required, 256 to 131072
  std::int64_t block_offset = 0;               // o: 0 to 98304; absent decodes as 0
  // n: 0 to 98304. Absent or 0: 131072 / l (the DG's default; the DG does not say what 0 does).
  std::optional<std::int64_t> block_count;
  // b: at most kMaxStreamBitmapSize bytes. CBOR: a byte string. JSON: the bytes in hex, first
  // byte first, as the DG's example writes them ("0x130080"); the "0x" is optional, case is free,
  // and an odd number of digits is read as a number with its leading zero dropped. ironroot
  // encodes "0x" and lower-case digits.
  std::optional<Bytes> block_bitmap;

  // Errors: kInvalidRequest, kBlockSizeOutOfBounds, kOffsetOutOfBounds,
  // kBlockCountLimitExceeded, kBlockBitmapLimitExceeded (the message names the field).
  static StreamResult<GetStreamRequest> decode(const nlohmann::json& document,
                                               PayloadFormat format);
  nlohmann::json encode(PayloadFormat format) const;  // o is always written, as the agents do
  bool operator==(const GetStreamRequest&) const = default;
};

// DescribeStream: .../describe/F. An empty payload is an empty request.
struct DescribeStreamRequest {
  std::optional<std::string> client_token;  // c: 1 to 64 bytes

  static StreamResult<DescribeStreamRequest> decode(const nlohmann::json& document,
                                                    PayloadFormat format);
  nlohmann::json encode(PayloadFormat format) const;
  bool operator==(const DescribeStreamRequest&) const = default;
};

// Decodes a request payload of at most `max_size` bytes. Errors: kInvalidRequest for a payload
// that is too large (or empty, for GetStream); kInvalidJson or kInvalidCbor for one that is not a
// JSON object or CBOR map (see decode_payload); then what Request::decode says. Never throws.
template <class Request>
StreamResult<Request> decode_stream_request(ByteView payload, PayloadFormat format,
                                            std::size_t max_size = kMaxPayloadSize);

extern template StreamResult<GetStreamRequest> decode_stream_request(ByteView, PayloadFormat,
                                                                     std::size_t);
extern template StreamResult<DescribeStreamRequest> decode_stream_request(ByteView, PayloadFormat,
                                                                          std::size_t);

// ---------------------------------------------------------------------------------------------
// The plan: which blocks answer a GetStream request, and where they are in the file.

// One file of a stream: r[] of a DescribeStream reply.
struct StreamFile {
  std::int64_t file_id = 0;  // f: 0 to 255
  std::int64_t size = 0;     // z: bytes, 0 to kMaxStreamFileSize
  bool operator==(const StreamFile&) const = default;
};

// The blocks to send, in the order to send them, one data message each.
struct BlockPlan {
  std::optional<std::string> client_token;  // to echo in every data message
  std::int64_t file_id = 0;
  std::int64_t block_size = 0;
  std::int64_t file_size = 0;
  std::vector<std::uint32_t> block_ids;  // ascending; never more than 131072 / block_size

  // Where block `block_id` starts in the file, and how many bytes it has (block_size, or less for
  // the last block). REQUIRES: block_id is in block_ids.
  std::uint64_t offset_of(std::uint32_t block_id) const;
  std::size_t size_of(std::uint32_t block_id) const;
  bool operator==(const BlockPlan&) const = default;
};

// Plans the answer to `request` from a stream at `stream_version` with `files`:
//  - s present and different from `stream_version`: kVersionMismatch;
//  - no file with id f: kResourceNotFound;
//  - o at or past the file's last block: kOffsetOutOfBounds;
//  - the blocks are o, o+1, ... (no bitmap) or o+k for each set bit k (bitmap), in ascending
//    order, leaving out blocks past the end of the file, and at most min(n, 131072 / l) of them
//    (n absent or 0: 131072 / l), so at most 128 KiB of payload and 512 ids whatever n says;
//  - a bitmap that selects no block of the file: kResourceNotFound.
// The request's bounds are decode's business; out-of-bounds l, o or n give the codes decode
// gives. Memory: the plan holds at most 512 ids.
StreamResult<BlockPlan> plan_get_stream(const GetStreamRequest& request,
                                        std::int64_t stream_version,
                                        std::span<const StreamFile> files);

// ---------------------------------------------------------------------------------------------
// Replies (the fleet service encodes them; devices decode them, as tolerantly as AWS's device
// libraries: unknown keys are ignored). For any decoded m, decode(m.encode(format)) == m.

// One block on .../data/F: {c, f, l, i, p}. l is the payload's size (ota.c checks it against the
// block size it expects, and writes l bytes), so it is not a member: encode writes
// payload.size() and decode refuses an l that differs from p's size.
struct DataBlockResponse {
  std::optional<std::string> client_token;  // c: echoed from the request
  std::int64_t file_id = 0;                 // f: 0 to 255
  std::int64_t block_id = 0;                // i: 0 to kMaxStreamBlockId
  Bytes payload;  // p: 1 to 131072 bytes; CBOR: a byte string, JSON: base64 (the DG)

  static Result<DataBlockResponse> decode(const nlohmann::json& document, PayloadFormat format);
  nlohmann::json encode(PayloadFormat format) const;
  bool operator==(const DataBlockResponse&) const = default;
};

// The DescribeStream reply on .../description/F: {c, s, d, r: [{f, z}]}.
struct DescribeStreamResponse {
  std::optional<std::string> client_token;  // c: echoed from the request
  std::int64_t stream_version = 0;          // s: required, 0 to kMaxStreamVersion
  std::string description;                  // d: at most 2048 bytes; absent decodes as ""
  std::vector<StreamFile> files;            // r: at most 256 files with distinct ids

  static Result<DescribeStreamResponse> decode(const nlohmann::json& document,
                                               PayloadFormat format);
  nlohmann::json encode(PayloadFormat format) const;
  bool operator==(const DescribeStreamResponse&) const = default;
};

// The error reply on .../rejected/F: {o: code, m: message, c: token}. The DG warns that "for
// backward compatibility" the service may send "code" for o and "clientToken" for c; decode
// accepts those (and "message" for m) when the short key is absent. encode writes the short keys.
struct StreamErrorResponse {
  std::string code;                         // o: 1 to 256 bytes
  std::string message;                      // m: at most 4096 bytes; absent decodes as ""
  std::optional<std::string> client_token;  // c

  static StreamErrorResponse from(const StreamRequestError& error);
  static Result<StreamErrorResponse> decode(const nlohmann::json& document, PayloadFormat format);
  nlohmann::json encode(PayloadFormat format) const;
  bool operator==(const StreamErrorResponse&) const = default;
};

// Decodes a reply payload (decode_payload with `max_size`) and then the message; the error says
// which message failed ("data block: i: ..."). Never throws.
template <class Reply>
Result<Reply> decode_stream_reply(ByteView payload, PayloadFormat format,
                                  std::size_t max_size = kMaxStreamReplySize);

extern template Result<DataBlockResponse> decode_stream_reply(ByteView, PayloadFormat, std::size_t);
extern template Result<DescribeStreamResponse> decode_stream_reply(ByteView, PayloadFormat,
                                                                   std::size_t);
extern template Result<StreamErrorResponse> decode_stream_reply(ByteView, PayloadFormat,
                                                                std::size_t);

// Encodes any request or reply above in `format`.
template <class Message>
Bytes encode_stream_message(const Message& message, PayloadFormat format) {
  return encode_payload(message.encode(format), format);
}

}  // namespace ironroot::protocol
