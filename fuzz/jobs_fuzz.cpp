// Fuzzes what ironroot runs on untrusted Jobs API input: every request decoder of AWS IoT's jobs
// device MQTT API (the fleet service), every reply and notification decoder (devices), and the
// topic parser. Never crashes; a request refusal is InvalidJson or InvalidRequest; whatever
// decodes re-encodes to the same message; whatever topic parses prints back as the same topic and
// lies in its thing's jobs namespace.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ironroot/protocol/jobs.hpp"

namespace {

namespace p = ironroot::protocol;

template <class Request>
void decode_and_round_trip(ironroot::ByteView input) {
  auto request = p::decode_jobs_request<Request>(input);
  if (!request) {
    const auto& code = request.error().code;
    if (code != p::jobs_errors::kInvalidJson && code != p::jobs_errors::kInvalidRequest) {
      std::abort();
    }
    // A reply can always be made from the refusal.
    (void)p::encode_jobs_message(p::JobsErrorResponse::from(request.error(), 0));
    return;
  }
  auto again = p::decode_jobs_request<Request>(p::encode_jobs_message(*request));
  if (!again || !(*again == *request)) std::abort();
}

template <class Message>
void decode_reply_and_round_trip(ironroot::ByteView input) {
  auto message = p::decode_jobs_reply<Message>(input);
  if (!message) {
    if (message.error().message.empty()) std::abort();
    return;
  }
  auto again = p::decode_jobs_reply<Message>(p::encode_jobs_message(*message));
  if (!again || !(*again == *message)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ironroot::ByteView input(reinterpret_cast<const std::byte*>(data), size);
  decode_and_round_trip<p::GetPendingJobExecutionsRequest>(input);
  decode_and_round_trip<p::StartNextPendingJobExecutionRequest>(input);
  decode_and_round_trip<p::DescribeJobExecutionRequest>(input);
  decode_and_round_trip<p::UpdateJobExecutionRequest>(input);
  decode_reply_and_round_trip<p::GetPendingJobExecutionsResponse>(input);
  decode_reply_and_round_trip<p::StartNextJobExecutionResponse>(input);
  decode_reply_and_round_trip<p::DescribeJobExecutionResponse>(input);
  decode_reply_and_round_trip<p::UpdateJobExecutionResponse>(input);
  decode_reply_and_round_trip<p::JobExecutionsChangedEvent>(input);
  decode_reply_and_round_trip<p::NextJobExecutionChangedEvent>(input);
  decode_reply_and_round_trip<p::JobsErrorResponse>(input);

  static const p::TopicPrefix prefix;
  std::string_view topic(reinterpret_cast<const char*>(data), size);
  if (auto parsed = p::parse_jobs_topic(prefix, topic)) {
    auto printed = p::jobs_topic(prefix, *parsed);
    if (!printed || *printed != topic) std::abort();
    if (p::jobs_namespace_thing(prefix, topic) != parsed->thing_name) std::abort();
  }
  return 0;
}
