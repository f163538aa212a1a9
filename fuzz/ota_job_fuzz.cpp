// Fuzzes what an ironroot device runs on an untrusted OTA job document: JSON text to
// OtaJobDocument, the device checks, and the RFC 3339 parser. Never crashes; a refusal says
// which field; whatever decodes re-encodes to the same document and validates; whatever time
// parses prints back as the same text.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ironroot/protocol/ota_job.hpp"

namespace p = ironroot::protocol;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ironroot::ByteView input(reinterpret_cast<const std::byte*>(data), size);
  auto document = p::decode_ota_job_document(input);
  if (!document) {
    if (document.error().message.empty()) std::abort();
  } else {
    auto again = p::OtaJobDocument::decode(document->encode());
    if (!again || !(*again == *document)) std::abort();
    if (!document->validate()) std::abort();
    (void)p::check_ota_job_for_device(*document, "device-1", 1700000000);
  }

  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto seconds = p::parse_rfc3339_utc(text)) {
    if (p::format_rfc3339_utc(*seconds) != text) std::abort();
  }
  return 0;
}
