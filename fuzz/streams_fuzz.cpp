// Fuzzes what ironroot runs on untrusted MQTT file-delivery input: the GetStream and
// DescribeStream request decoders and the block plan (the fleet service), the data, description
// and error reply decoders (devices), in both payload formats, and the topic parser. Never
// crashes; a refusal carries one of the DG's error codes and becomes a reply; whatever decodes
// re-encodes to the same message; a plan stays within 128 KiB, in ascending order, inside the
// file; whatever topic parses prints back as the same topic.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <type_traits>

#include "ironroot/protocol/streams.hpp"

namespace {

namespace p = ironroot::protocol;
using ironroot::ByteView;
using p::PayloadFormat;

constexpr PayloadFormat kFormats[] = {PayloadFormat::json, PayloadFormat::cbor};

bool is_stream_error_code(std::string_view code) {
  namespace e = p::stream_errors;
  for (auto known :
       {e::kInvalidTopic, e::kInvalidJson, e::kInvalidCbor, e::kInvalidRequest, e::kUnauthorized,
        e::kBlockSizeOutOfBounds, e::kOffsetOutOfBounds, e::kBlockCountLimitExceeded,
        e::kBlockBitmapLimitExceeded, e::kResourceNotFound, e::kVersionMismatch, e::kETagMismatch,
        e::kInternalError}) {
    if (code == known) return true;
  }
  return false;
}

void refused(const p::StreamRequestError& error) {
  if (!is_stream_error_code(error.code) || error.message.empty()) std::abort();
  for (auto format : kFormats) {
    (void)p::encode_stream_message(p::StreamErrorResponse::from(error), format);
  }
}

void check_plan(const p::GetStreamRequest& request) {
  // A stream with a small file, a file of odd size and the largest file.
  static const p::StreamFile files[] = {{0, 1}, {1, 20000}, {255, p::kMaxStreamFileSize}};
  auto plan = p::plan_get_stream(request, 1, files);
  if (!plan) {
    refused(plan.error());
    return;
  }
  if (plan->block_ids.empty()) std::abort();
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < plan->block_ids.size(); ++i) {
    const auto id = plan->block_ids[i];
    if (i > 0 && id <= plan->block_ids[i - 1]) std::abort();
    if (id < request.block_offset) std::abort();
    const std::size_t size = plan->size_of(id);
    if (size == 0 || size > static_cast<std::size_t>(request.block_size)) std::abort();
    total += size;
  }
  if (total > p::kMaxBytesPerGetStream) std::abort();
}

template <class Request>
void decode_request(ByteView input, PayloadFormat format) {
  auto request = p::decode_stream_request<Request>(input, format);
  if (!request) {
    refused(request.error());
    return;
  }
  for (auto again_format : kFormats) {
    auto again = p::decode_stream_request<Request>(p::encode_stream_message(*request, again_format),
                                                   again_format);
    if (!again || !(*again == *request)) std::abort();
  }
  if constexpr (std::is_same_v<Request, p::GetStreamRequest>) check_plan(*request);
}

template <class Reply>
void decode_reply(ByteView input, PayloadFormat format) {
  auto reply = p::decode_stream_reply<Reply>(input, format);
  if (!reply) {
    if (reply.error().message.empty()) std::abort();
    return;
  }
  for (auto again_format : kFormats) {
    auto again =
        p::decode_stream_reply<Reply>(p::encode_stream_message(*reply, again_format), again_format);
    if (!again || !(*again == *reply)) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ByteView input(reinterpret_cast<const std::byte*>(data), size);
  for (auto format : kFormats) {
    decode_request<p::GetStreamRequest>(input, format);
    decode_request<p::DescribeStreamRequest>(input, format);
    decode_reply<p::DataBlockResponse>(input, format);
    decode_reply<p::DescribeStreamResponse>(input, format);
    decode_reply<p::StreamErrorResponse>(input, format);
  }

  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto decoded = p::from_base64(text)) {
    if (p::to_base64(*decoded) != text) std::abort();
  }
  static const p::TopicPrefix prefix;
  if (auto parsed = p::parse_stream_topic(prefix, text)) {
    auto printed = p::stream_topic(prefix, *parsed);
    if (!printed || *printed != text) std::abort();
  }
  return 0;
}
