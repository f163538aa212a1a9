// Fuzzes what the fleet service and the device provisioning client run on untrusted MQTT
// payloads and topics: every fleet provisioning decoder in both payload formats, and the topic
// parser. Never crashes; whatever decodes re-encodes, in either format, to the same message; and
// whatever topic parses prints back as the same topic.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ironroot/protocol/provisioning.hpp"
#include "ironroot/protocol/topics.hpp"

namespace {

using ironroot::ByteView;
using ironroot::protocol::PayloadFormat;

constexpr PayloadFormat kFormats[] = {PayloadFormat::json, PayloadFormat::cbor};

template <class Message>
void decode_and_round_trip(ByteView input, PayloadFormat format) {
  auto message = ironroot::protocol::decode_message<Message>(input, format);
  if (!message) return;
  for (auto again_format : kFormats) {
    auto again = ironroot::protocol::decode_message<Message>(
        ironroot::protocol::encode_message(*message, again_format), again_format);
    if (!again || !(*again == *message)) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace p = ironroot::protocol;
  ByteView input(reinterpret_cast<const std::byte*>(data), size);
  for (auto format : kFormats) {
    decode_and_round_trip<p::CreateKeysAndCertificateRequest>(input, format);
    decode_and_round_trip<p::CreateKeysAndCertificateResponse>(input, format);
    decode_and_round_trip<p::CreateCertificateFromCsrRequest>(input, format);
    decode_and_round_trip<p::CreateCertificateFromCsrResponse>(input, format);
    decode_and_round_trip<p::RegisterThingRequest>(input, format);
    decode_and_round_trip<p::RegisterThingResponse>(input, format);
    decode_and_round_trip<p::ErrorResponse>(input, format);
  }

  static const p::TopicPrefix prefix;
  std::string_view topic(reinterpret_cast<const char*>(data), size);
  if (auto parsed = p::parse_provisioning_topic(prefix, topic)) {
    auto printed = p::provisioning_topic(prefix, *parsed);
    if (!printed || *printed != topic) std::abort();
  }
  return 0;
}
