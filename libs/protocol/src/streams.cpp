#include "ironroot/protocol/streams.hpp"

#include <algorithm>
#include <array>
#include <type_traits>

#include "ironroot/protocol/provisioning.hpp"
#include "json_fields.hpp"

namespace ironroot::protocol {
namespace {

using nlohmann::json;

constexpr std::string_view kThings = "/things/";
constexpr std::string_view kStreams = "streams";
constexpr std::size_t kMaxErrorCodeSize = 256;
constexpr std::size_t kMaxErrorMessageSize = 4096;

constexpr std::array<std::pair<StreamMessage, std::string_view>, 5> kMessageLevels{{
    {StreamMessage::get, "get"},
    {StreamMessage::describe, "describe"},
    {StreamMessage::data, "data"},
    {StreamMessage::description, "description"},
    {StreamMessage::rejected, "rejected"},
}};

std::string_view level_of(StreamMessage message) {
  for (const auto& [value, name] : kMessageLevels) {
    if (value == message) return name;
  }
  return "get";
}

// `text` for an error message: printable ASCII only, at most 64 characters.
std::string shown(std::string_view text) {
  constexpr std::size_t kMax = 64;
  std::string out;
  for (char c : text.substr(0, kMax)) {
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  if (text.size() > kMax) out += "...";
  return out;
}

bool is_stream_id_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
         c == '-';
}

// ---- Fields of requests (errors carry a stream_errors code)

tl::unexpected<StreamRequestError> refuse(std::string_view code, std::string message,
                                          const std::optional<std::string>& token) {
  return tl::unexpected(StreamRequestError{std::string(code), std::move(message), token});
}

bool is_integer(const json& value) {
  return value.is_number_integer() || value.is_number_unsigned();
}

// c: absent, or a string of 1 to 64 bytes.
Result<std::optional<std::string>> client_token_field(const json& document, const char* key) {
  const json* value = fields::find(document, key);
  if (value == nullptr) return std::optional<std::string>();
  if (!value->is_string()) {
    return fail(std::string(key) + ": the client token must be a string, not " +
                fields::type_name(*value));
  }
  const auto& token = value->get_ref<const std::string&>();
  if (token.empty()) return fail(std::string(key) + ": the client token must not be empty");
  if (token.size() > kMaxStreamClientTokenSize) {
    return fail(std::string(key) + ": the client token is " + std::to_string(token.size()) +
                " bytes, more than the 64 allowed");
  }
  return std::optional<std::string>(token);
}

// An integer request field: absent gives nullopt; not an integer is InvalidRequest; outside
// [min, max] is `range_code`.
StreamResult<std::optional<std::int64_t>> request_integer(const json& document, const char* key,
                                                          std::int64_t min, std::int64_t max,
                                                          std::string_view range_code,
                                                          const std::optional<std::string>& token) {
  const json* value = fields::find(document, key);
  if (value == nullptr) return std::optional<std::int64_t>();
  if (!is_integer(*value)) {
    return refuse(stream_errors::kInvalidRequest,
                  std::string(key) + ": must be an integer, not " + fields::type_name(*value),
                  token);
  }
  auto n = fields::required_integer(document, key, min, max);
  if (!n) return refuse(range_code, n.error().message, token);
  return std::optional<std::int64_t>(*n);
}

// b in JSON: hex digits, optionally after "0x".
StreamResult<Bytes> bitmap_from_hex(std::string_view text,
                                    const std::optional<std::string>& token) {
  if (text.starts_with("0x") || text.starts_with("0X")) text.remove_prefix(2);
  const std::size_t bytes = (text.size() + 1) / 2;
  if (bytes > kMaxStreamBitmapSize) {
    return refuse(stream_errors::kBlockBitmapLimitExceeded,
                  "b: the bitmap is " + std::to_string(bytes) + " bytes, more than the " +
                      std::to_string(kMaxStreamBitmapSize) + " allowed",
                  token);
  }
  std::string digits;
  if (text.size() % 2 != 0) digits += '0';  // a number written without its leading zero
  digits += text;
  auto out = from_hex(digits);
  if (!out) {
    return refuse(stream_errors::kInvalidRequest,
                  "b: \"" + shown(text) + "\" is not a bitmap in hexadecimal (e.g. \"0x130080\")",
                  token);
  }
  return std::move(*out);
}

Bytes bytes_of(const json::binary_t& binary) {
  Bytes out(binary.size());
  std::transform(binary.begin(), binary.end(), out.begin(),
                 [](std::uint8_t b) { return std::byte{b}; });
  return out;
}

json to_binary(ByteView bytes) {
  std::vector<std::uint8_t> out(bytes.size());
  std::transform(bytes.begin(), bytes.end(), out.begin(),
                 [](std::byte b) { return std::to_integer<std::uint8_t>(b); });
  return json::binary(std::move(out));
}

// The bounds of a request, in the order decode checks them; the first one broken.
StreamResult<void> check_request_bounds(const GetStreamRequest& r) {
  const auto& token = r.client_token;
  if (r.client_token &&
      (r.client_token->empty() || r.client_token->size() > kMaxStreamClientTokenSize)) {
    return refuse(stream_errors::kInvalidRequest, "c: the client token must be 1 to 64 bytes",
                  std::nullopt);
  }
  if (r.file_id < 0 || r.file_id > kMaxStreamFileId) {
    return refuse(stream_errors::kInvalidRequest,
                  "f: " + std::to_string(r.file_id) + " is outside 0 to 255", token);
  }
  if (r.block_size < kMinStreamBlockSize || r.block_size > kMaxStreamBlockSize) {
    return refuse(stream_errors::kBlockSizeOutOfBounds,
                  "l: " + std::to_string(r.block_size) + " is outside 256 to 131072", token);
  }
  if (r.block_offset < 0 || r.block_offset > kMaxStreamBlockOffset) {
    return refuse(stream_errors::kOffsetOutOfBounds,
                  "o: " + std::to_string(r.block_offset) + " is outside 0 to 98304", token);
  }
  if (r.block_count && (*r.block_count < 0 || *r.block_count > kMaxStreamBlockCount)) {
    return refuse(stream_errors::kBlockCountLimitExceeded,
                  "n: " + std::to_string(*r.block_count) + " is outside 0 to 98304", token);
  }
  if (r.block_bitmap && r.block_bitmap->size() > kMaxStreamBitmapSize) {
    return refuse(stream_errors::kBlockBitmapLimitExceeded,
                  "b: the bitmap is " + std::to_string(r.block_bitmap->size()) +
                      " bytes, more than the " + std::to_string(kMaxStreamBitmapSize) + " allowed",
                  token);
  }
  if (r.stream_version && (*r.stream_version < 0 || *r.stream_version > kMaxStreamVersion)) {
    return refuse(stream_errors::kInvalidRequest,
                  "s: " + std::to_string(*r.stream_version) + " is outside 0 to 2147483647", token);
  }
  return {};
}

StreamResult<std::optional<std::string>> request_client_token(const json& document) {
  auto token = client_token_field(document, "c");
  if (!token) return refuse(stream_errors::kInvalidRequest, token.error().message, std::nullopt);
  return std::move(*token);
}

StreamResult<void> require_object(const json& document) {
  if (document.is_object()) return {};
  return refuse(stream_errors::kInvalidRequest,
                std::string("the request is ") + fields::type_name(document) + ", not an object",
                std::nullopt);
}

// ---- Fields of replies (plain errors)

Status check_object(const json& document) {
  if (document.is_object()) return {};
  return fail(std::string("the payload is ") + fields::type_name(document) + ", not an object");
}

Result<std::optional<std::string>> reply_client_token(const json& document) {
  if (fields::find(document, "c") == nullptr && fields::find(document, "clientToken") != nullptr) {
    return client_token_field(document, "clientToken");
  }
  return client_token_field(document, "c");
}

// A byte string (CBOR) or base64 text (JSON) of 1 to kMaxStreamBlockSize bytes.
Result<Bytes> payload_field(const json& document, PayloadFormat format) {
  const json* value = fields::find(document, "p");
  if (value == nullptr) return fail("p: missing");
  Bytes out;
  if (format == PayloadFormat::cbor) {
    if (!value->is_binary()) {
      return fail(std::string("p: must be a byte string, not ") + fields::type_name(*value));
    }
    out = bytes_of(value->get_binary());
  } else {
    if (!value->is_string()) {
      return fail(std::string("p: must be a base64 string, not ") + fields::type_name(*value));
    }
    const auto& text = value->get_ref<const std::string&>();
    if (text.size() > 4 * ((kMaxStreamBlockSize + 2) / 3)) {
      return fail("p: " + std::to_string(text.size()) +
                  " characters of base64, more than a 131072-byte block needs");
    }
    auto decoded = from_base64(text);
    if (!decoded) return fail("p: not base64 (RFC 4648, with padding)");
    out = std::move(*decoded);
  }
  if (out.empty()) return fail("p: the block is empty");
  if (out.size() > static_cast<std::size_t>(kMaxStreamBlockSize)) {
    return fail("p: the block is " + std::to_string(out.size()) + " bytes, more than 131072");
  }
  return out;
}

void put_client_token(json& out, const std::optional<std::string>& token) {
  if (token) out["c"] = *token;
}

// ---- Base64 (RFC 4648 section 4)

constexpr std::string_view kBase64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int sextet(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

template <class Message>
struct ReplyName;
template <>
struct ReplyName<DataBlockResponse> {
  static constexpr const char* value = "data block";
};
template <>
struct ReplyName<DescribeStreamResponse> {
  static constexpr const char* value = "DescribeStream reply";
};
template <>
struct ReplyName<StreamErrorResponse> {
  static constexpr const char* value = "stream error reply";
};

}  // namespace

bool is_valid_stream_id(std::string_view id) {
  return !id.empty() && id.size() <= kMaxStreamIdSize &&
         std::all_of(id.begin(), id.end(), is_stream_id_char);
}

// ---- Topics

Result<std::string> stream_topic(const TopicPrefix& prefix, const StreamTopic& topic) {
  if (!is_valid_thing_name(topic.thing_name)) {
    return fail("invalid thing name \"" + shown(topic.thing_name) +
                "\": use 1 to 128 characters among a-z, A-Z, 0-9, ':', '_' and '-'");
  }
  if (!is_valid_stream_id(topic.stream_id)) {
    return fail("invalid stream id \"" + shown(topic.stream_id) +
                "\": use 1 to 128 characters among a-z, A-Z, 0-9, '_' and '-'");
  }
  return prefix.str() + std::string(kThings) + topic.thing_name + "/" + std::string(kStreams) +
         "/" + topic.stream_id + "/" + std::string(level_of(topic.message)) + "/" +
         std::string(to_string(topic.format));
}

Result<StreamTopic> parse_stream_topic(const TopicPrefix& prefix, std::string_view topic) {
  const std::string& p = prefix.str();
  if (!topic.starts_with(p) || !topic.substr(p.size()).starts_with(kThings)) {
    return fail("\"" + shown(topic) + "\" does not start with \"" + p + "/things/\"");
  }
  std::string_view rest = topic.substr(p.size() + kThings.size());
  // <thing>/streams/<stream>/<message>/<format>: exactly five levels.
  std::array<std::string_view, 5> levels;
  for (std::size_t i = 0; i < levels.size(); ++i) {
    const auto slash = rest.find('/');
    if ((slash == std::string_view::npos) != (i == levels.size() - 1)) {
      return fail("\"" + shown(topic) +
                  "\" is not <prefix>/things/<thing>/streams/<stream>/<request or reply>/<format>");
    }
    levels[i] = rest.substr(0, slash);
    rest.remove_prefix(slash == std::string_view::npos ? rest.size() : slash + 1);
  }
  if (levels[1] != kStreams) {
    return fail("\"" + shown(topic) + "\" is not a streams topic (.../things/<thing>/streams/...)");
  }
  StreamTopic out;
  if (!is_valid_thing_name(levels[0])) {
    return fail("\"" + shown(levels[0]) + "\" is not a valid thing name");
  }
  if (!is_valid_stream_id(levels[2])) {
    return fail("\"" + shown(levels[2]) +
                "\" is not a valid stream id (1 to 128 of a-z, A-Z, 0-9, '_' and '-')");
  }
  auto message = std::find_if(kMessageLevels.begin(), kMessageLevels.end(),
                              [&](const auto& entry) { return entry.second == levels[3]; });
  if (message == kMessageLevels.end()) {
    return fail("\"" + shown(levels[3]) + "\" is not get, describe, data, description or rejected");
  }
  auto format = parse_payload_format(levels[4]);
  if (!format) return fail("\"" + shown(levels[4]) + "\" is not a payload format (cbor or json)");
  out.thing_name = std::string(levels[0]);
  out.stream_id = std::string(levels[2]);
  out.message = message->first;
  out.format = *format;
  return out;
}

StreamTopic reply_topic(const StreamTopic& request, Reply reply) {
  StreamTopic out = request;
  if (reply == Reply::rejected) {
    out.message = StreamMessage::rejected;
  } else {
    out.message = request.message == StreamMessage::describe ? StreamMessage::description
                                                             : StreamMessage::data;
  }
  return out;
}

std::vector<std::string> stream_request_filters(const TopicPrefix& prefix) {
  const std::string base =
      prefix.str() + std::string(kThings) + "+/" + std::string(kStreams) + "/+/";
  return {base + "get/+", base + "describe/+"};
}

// ---- Bitmaps and base64

bool is_block_requested(ByteView bitmap, std::size_t k) {
  if (k / 8 >= bitmap.size()) return false;
  return (std::to_integer<unsigned>(bitmap[k / 8]) & (1u << (k % 8))) != 0;
}

void set_block_requested(std::span<std::byte> bitmap, std::size_t k, bool requested) {
  const auto mask = static_cast<std::byte>(1u << (k % 8));
  if (requested) {
    bitmap[k / 8] |= mask;
  } else {
    bitmap[k / 8] &= ~mask;
  }
}

Bytes full_block_bitmap(std::size_t count) {
  Bytes out((count + 7) / 8, std::byte{0xff});
  // Bits past `count` in the last byte stay clear, as ota.c clears them.
  for (std::size_t k = count; k < 8 * out.size(); ++k) set_block_requested(out, k, false);
  return out;
}

std::string to_base64(ByteView data) {
  std::string out;
  out.reserve(4 * ((data.size() + 2) / 3));
  for (std::size_t i = 0; i < data.size(); i += 3) {
    const std::size_t n = std::min<std::size_t>(3, data.size() - i);
    std::uint32_t group = 0;
    for (std::size_t j = 0; j < 3; ++j) {
      group = (group << 8) | (j < n ? std::to_integer<std::uint32_t>(data[i + j]) : 0u);
    }
    for (std::size_t j = 0; j < 4; ++j) {
      out += j <= n ? kBase64Alphabet[(group >> (18 - 6 * j)) & 0x3f] : '=';
    }
  }
  return out;
}

std::optional<Bytes> from_base64(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::size_t padding = 0;
  if (text.ends_with("==")) {
    padding = 2;
  } else if (text.ends_with("=")) {
    padding = 1;
  }
  Bytes out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    const std::size_t digits = last ? 4 - padding : 4;
    std::uint32_t group = 0;
    for (std::size_t j = 0; j < 4; ++j) {
      int value = 0;
      if (j < digits) {
        value = sextet(text[i + j]);
        if (value < 0) return std::nullopt;
      }
      group = (group << 6) | static_cast<std::uint32_t>(value);
    }
    // One padding character leaves 2 unused bits, two leave 4; they must be zero (canonical).
    if ((padding == 1 && last && (group & 0xff) != 0) ||
        (padding == 2 && last && (group & 0xffff) != 0)) {
      return std::nullopt;
    }
    const std::size_t bytes = digits - 1;
    for (std::size_t j = 0; j < bytes; ++j) {
      out.push_back(static_cast<std::byte>((group >> (16 - 8 * j)) & 0xff));
    }
  }
  return out;
}

// ---- Requests

StreamResult<GetStreamRequest> GetStreamRequest::decode(const json& document,
                                                        PayloadFormat format) {
  if (auto ok = require_object(document); !ok) return tl::unexpected(ok.error());
  GetStreamRequest out;
  auto token = request_client_token(document);
  if (!token) return tl::unexpected(token.error());
  out.client_token = std::move(*token);
  const auto& c = out.client_token;

  for (const char* key : {"f", "l"}) {
    if (fields::find(document, key) == nullptr) {
      return refuse(stream_errors::kInvalidRequest, std::string(key) + ": missing", c);
    }
  }
  auto file =
      request_integer(document, "f", 0, kMaxStreamFileId, stream_errors::kInvalidRequest, c);
  if (!file) return tl::unexpected(file.error());
  out.file_id = **file;
  auto size = request_integer(document, "l", kMinStreamBlockSize, kMaxStreamBlockSize,
                              stream_errors::kBlockSizeOutOfBounds, c);
  if (!size) return tl::unexpected(size.error());
  out.block_size = **size;
  auto offset = request_integer(document, "o", 0, kMaxStreamBlockOffset,
                                stream_errors::kOffsetOutOfBounds, c);
  if (!offset) return tl::unexpected(offset.error());
  out.block_offset = offset->value_or(0);
  auto count = request_integer(document, "n", 0, kMaxStreamBlockCount,
                               stream_errors::kBlockCountLimitExceeded, c);
  if (!count) return tl::unexpected(count.error());
  out.block_count = *count;

  if (const json* bitmap = fields::find(document, "b")) {
    if (format == PayloadFormat::cbor) {
      if (!bitmap->is_binary()) {
        return refuse(stream_errors::kInvalidRequest,
                      std::string("b: must be a byte string, not ") + fields::type_name(*bitmap),
                      c);
      }
      out.block_bitmap = bytes_of(bitmap->get_binary());
    } else {
      if (!bitmap->is_string()) {
        return refuse(
            stream_errors::kInvalidRequest,
            std::string("b: must be a hexadecimal string, not ") + fields::type_name(*bitmap), c);
      }
      auto bytes = bitmap_from_hex(bitmap->get_ref<const std::string&>(), c);
      if (!bytes) return tl::unexpected(bytes.error());
      out.block_bitmap = std::move(*bytes);
    }
  }

  auto version =
      request_integer(document, "s", 0, kMaxStreamVersion, stream_errors::kInvalidRequest, c);
  if (!version) return tl::unexpected(version.error());
  out.stream_version = *version;

  if (auto ok = check_request_bounds(out); !ok) return tl::unexpected(ok.error());
  return out;
}

json GetStreamRequest::encode(PayloadFormat format) const {
  json out = json::object();
  put_client_token(out, client_token);
  if (stream_version) out["s"] = *stream_version;
  out["f"] = file_id;
  out["l"] = block_size;
  out["o"] = block_offset;
  if (block_count) out["n"] = *block_count;
  if (block_bitmap) {
    if (format == PayloadFormat::cbor) {
      out["b"] = to_binary(*block_bitmap);
    } else {
      out["b"] = "0x" + to_hex(*block_bitmap);
    }
  }
  return out;
}

StreamResult<DescribeStreamRequest> DescribeStreamRequest::decode(const json& document,
                                                                  PayloadFormat) {
  if (auto ok = require_object(document); !ok) return tl::unexpected(ok.error());
  auto token = request_client_token(document);
  if (!token) return tl::unexpected(token.error());
  return DescribeStreamRequest{std::move(*token)};
}

json DescribeStreamRequest::encode(PayloadFormat) const {
  json out = json::object();
  put_client_token(out, client_token);
  return out;
}

template <class Request>
StreamResult<Request> decode_stream_request(ByteView payload, PayloadFormat format,
                                            std::size_t max_size) {
  if (payload.size() > max_size) {
    return refuse(stream_errors::kInvalidRequest,
                  "the payload is " + std::to_string(payload.size()) + " bytes, more than the " +
                      std::to_string(max_size) + " allowed",
                  std::nullopt);
  }
  if (payload.empty()) {
    if constexpr (std::is_same_v<Request, DescribeStreamRequest>) {
      return Request{};
    } else {
      return refuse(stream_errors::kInvalidRequest,
                    "the payload is empty; a GetStream request needs at least f and l",
                    std::nullopt);
    }
  }
  auto document = decode_payload(payload, format, max_size);
  if (!document) {
    return refuse(
        format == PayloadFormat::cbor ? stream_errors::kInvalidCbor : stream_errors::kInvalidJson,
        document.error().message, std::nullopt);
  }
  return Request::decode(*document, format);
}

template StreamResult<GetStreamRequest> decode_stream_request(ByteView, PayloadFormat, std::size_t);
template StreamResult<DescribeStreamRequest> decode_stream_request(ByteView, PayloadFormat,
                                                                   std::size_t);

// ---- The plan

std::uint64_t BlockPlan::offset_of(std::uint32_t block_id) const {
  return static_cast<std::uint64_t>(block_id) * static_cast<std::uint64_t>(block_size);
}

std::size_t BlockPlan::size_of(std::uint32_t block_id) const {
  const std::uint64_t start = offset_of(block_id);
  const auto size = static_cast<std::uint64_t>(file_size);
  if (start >= size) return 0;
  return static_cast<std::size_t>(std::min(size - start, static_cast<std::uint64_t>(block_size)));
}

StreamResult<BlockPlan> plan_get_stream(const GetStreamRequest& request,
                                        std::int64_t stream_version,
                                        std::span<const StreamFile> files) {
  if (auto ok = check_request_bounds(request); !ok) return tl::unexpected(ok.error());
  const auto& c = request.client_token;
  if (request.stream_version && *request.stream_version != stream_version) {
    return refuse(stream_errors::kVersionMismatch,
                  "s: the request is for stream version " +
                      std::to_string(*request.stream_version) + ", the stream is at version " +
                      std::to_string(stream_version),
                  c);
  }
  auto file = std::find_if(files.begin(), files.end(),
                           [&](const StreamFile& f) { return f.file_id == request.file_id; });
  if (file == files.end()) {
    return refuse(stream_errors::kResourceNotFound,
                  "f: the stream has no file " + std::to_string(request.file_id), c);
  }
  const auto size = static_cast<std::uint64_t>(std::max<std::int64_t>(file->size, 0));
  const auto block = static_cast<std::uint64_t>(request.block_size);
  const std::uint64_t blocks = size / block + (size % block != 0 ? 1 : 0);
  const auto offset = static_cast<std::uint64_t>(request.block_offset);
  if (offset >= blocks) {
    return refuse(stream_errors::kOffsetOutOfBounds,
                  "o: block " + std::to_string(offset) + " is past the end of file " +
                      std::to_string(request.file_id) + " (" + std::to_string(blocks) +
                      " blocks of " + std::to_string(block) + " bytes)",
                  c);
  }
  // At most 128 KiB per request, whatever n asks for (the DG: n is disregarded if it would make
  // the reply larger than 128 KB); l >= 256 makes this at most 512 blocks.
  const std::uint64_t per_request = kMaxBytesPerGetStream / block;
  std::uint64_t limit = per_request;
  if (request.block_count && *request.block_count > 0) {
    limit = std::min(limit, static_cast<std::uint64_t>(*request.block_count));
  }

  BlockPlan plan{c, request.file_id, request.block_size, file->size, {}};
  plan.block_ids.reserve(static_cast<std::size_t>(limit));
  if (!request.block_bitmap) {
    for (std::uint64_t id = offset; id < blocks && plan.block_ids.size() < limit; ++id) {
      plan.block_ids.push_back(static_cast<std::uint32_t>(id));
    }
    return plan;
  }
  const Bytes& bitmap = *request.block_bitmap;
  for (std::size_t k = 0; k < 8 * bitmap.size() && plan.block_ids.size() < limit; ++k) {
    if (offset + k >= blocks) break;
    if (is_block_requested(bitmap, k))
      plan.block_ids.push_back(static_cast<std::uint32_t>(offset + k));
  }
  if (plan.block_ids.empty()) {
    return refuse(stream_errors::kResourceNotFound,
                  "b: the bitmap requests no block of file " + std::to_string(request.file_id) +
                      " from block " + std::to_string(offset) + " on (the file has " +
                      std::to_string(blocks) + " blocks)",
                  c);
  }
  return plan;
}

// ---- Replies

Result<DataBlockResponse> DataBlockResponse::decode(const json& document, PayloadFormat format) {
  if (auto ok = check_object(document); !ok) return tl::unexpected(ok.error());
  DataBlockResponse out;
  auto token = client_token_field(document, "c");
  if (!token) return tl::unexpected(token.error());
  out.client_token = std::move(*token);
  auto file = fields::required_integer(document, "f", 0, kMaxStreamFileId);
  if (!file) return tl::unexpected(file.error());
  out.file_id = *file;
  auto block = fields::required_integer(document, "i", 0, kMaxStreamBlockId);
  if (!block) return tl::unexpected(block.error());
  out.block_id = *block;
  auto size = fields::required_integer(document, "l", 1, kMaxStreamBlockSize);
  if (!size) return tl::unexpected(size.error());
  auto payload = payload_field(document, format);
  if (!payload) return tl::unexpected(payload.error());
  if (static_cast<std::size_t>(*size) != payload->size()) {
    return fail("l: " + std::to_string(*size) + ", but p holds " + std::to_string(payload->size()) +
                " bytes");
  }
  out.payload = std::move(*payload);
  return out;
}

json DataBlockResponse::encode(PayloadFormat format) const {
  json out = json::object();
  put_client_token(out, client_token);
  out["f"] = file_id;
  out["l"] = payload.size();
  out["i"] = block_id;
  out["p"] = format == PayloadFormat::cbor ? to_binary(payload) : json(to_base64(payload));
  return out;
}

Result<DescribeStreamResponse> DescribeStreamResponse::decode(const json& document, PayloadFormat) {
  if (auto ok = check_object(document); !ok) return tl::unexpected(ok.error());
  DescribeStreamResponse out;
  auto token = client_token_field(document, "c");
  if (!token) return tl::unexpected(token.error());
  out.client_token = std::move(*token);
  auto version = fields::required_integer(document, "s", 0, kMaxStreamVersion);
  if (!version) return tl::unexpected(version.error());
  out.stream_version = *version;
  if (const json* description = fields::find(document, "d")) {
    if (!description->is_string()) {
      return fail(std::string("d: must be a string, not ") + fields::type_name(*description));
    }
    const auto& text = description->get_ref<const std::string&>();
    if (text.size() > kMaxStreamDescriptionSize) {
      return fail("d: " + std::to_string(text.size()) + " bytes, more than the 2048 allowed");
    }
    out.description = text;
  }
  const json* files = fields::find(document, "r");
  if (files == nullptr) return fail("r: missing");
  if (!files->is_array()) {
    return fail(std::string("r: must be an array, not ") + fields::type_name(*files));
  }
  if (files->size() > kMaxStreamFiles) {
    return fail("r: " + std::to_string(files->size()) + " files, more than the 256 allowed");
  }
  for (std::size_t i = 0; i < files->size(); ++i) {
    const std::string where = "r[" + std::to_string(i) + "]";
    const json& entry = (*files)[i];
    if (!entry.is_object()) {
      return fail(where + ": must be an object, not " + fields::type_name(entry));
    }
    auto id = fields::required_integer(entry, "f", 0, kMaxStreamFileId);
    if (!id) return fail(where + "." + id.error().message);
    auto size = fields::required_integer(entry, "z", 0, kMaxStreamFileSize);
    if (!size) return fail(where + "." + size.error().message);
    const bool seen = std::any_of(out.files.begin(), out.files.end(),
                                  [&](const StreamFile& f) { return f.file_id == *id; });
    if (seen) return fail(where + ".f: file " + std::to_string(*id) + " is listed twice");
    out.files.push_back(StreamFile{*id, *size});
  }
  return out;
}

json DescribeStreamResponse::encode(PayloadFormat) const {
  json out = json::object();
  put_client_token(out, client_token);
  out["s"] = stream_version;
  out["d"] = description;
  json files_out = json::array();
  for (const auto& file : files) files_out.push_back(json{{"f", file.file_id}, {"z", file.size}});
  out["r"] = std::move(files_out);
  return out;
}

StreamErrorResponse StreamErrorResponse::from(const StreamRequestError& error) {
  return StreamErrorResponse{error.code, error.message, error.client_token};
}

Result<StreamErrorResponse> StreamErrorResponse::decode(const json& document, PayloadFormat) {
  if (auto ok = check_object(document); !ok) return tl::unexpected(ok.error());
  StreamErrorResponse out;
  const char* code_key =
      fields::find(document, "o") == nullptr && fields::find(document, "code") != nullptr ? "code"
                                                                                          : "o";
  auto code = fields::required_string(document, code_key, kMaxErrorCodeSize);
  if (!code) return tl::unexpected(code.error());
  out.code = std::move(*code);
  const char* message_key =
      fields::find(document, "m") == nullptr && fields::find(document, "message") != nullptr
          ? "message"
          : "m";
  if (const json* message = fields::find(document, message_key)) {
    if (!message->is_string()) {
      return fail(std::string(message_key) + ": must be a string, not " +
                  fields::type_name(*message));
    }
    const auto& text = message->get_ref<const std::string&>();
    if (text.size() > kMaxErrorMessageSize) {
      return fail(std::string(message_key) + ": more than 4096 bytes");
    }
    out.message = text;
  }
  auto token = reply_client_token(document);
  if (!token) return tl::unexpected(token.error());
  out.client_token = std::move(*token);
  return out;
}

json StreamErrorResponse::encode(PayloadFormat) const {
  json out{{"o", code}, {"m", message}};
  put_client_token(out, client_token);
  return out;
}

template <class Reply>
Result<Reply> decode_stream_reply(ByteView payload, PayloadFormat format, std::size_t max_size) {
  auto document = decode_payload(payload, format, max_size);
  if (!document) return prefixed(document.error(), ReplyName<Reply>::value);
  auto reply = Reply::decode(*document, format);
  if (!reply) return prefixed(reply.error(), ReplyName<Reply>::value);
  return reply;
}

template Result<DataBlockResponse> decode_stream_reply(ByteView, PayloadFormat, std::size_t);
template Result<DescribeStreamResponse> decode_stream_reply(ByteView, PayloadFormat, std::size_t);
template Result<StreamErrorResponse> decode_stream_reply(ByteView, PayloadFormat, std::size_t);

}  // namespace ironroot::protocol
