// The firmware images a download service is serving, kept open. fleet::FirmwareStore hashes a
// whole image when it opens it, so a server opens each image once and serves every request from
// the open content: the MQTT file streams (streams_api.hpp) and the HTTPS downloads
// (firmware_download.hpp) each keep one of these.
//
// Every lookup still asks the repository which image the stream serves (one indexed query), so
// a deleted image stops being served at once. At most `capacity` images stay open; opening one
// more closes the least recently used. Contents are shared: a caller that still holds one (a
// download in progress) keeps it readable after the cache let it go.
//
// Not thread-safe: its owner serializes the calls (the FirmwareStore connection is single-use).
// The contents it hands out may be read from any thread (FirmwareContent::read_range is const
// and reads with pread).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ironroot/fleet/firmware.hpp"

namespace ironroot::service {

class FirmwareContentCache {
 public:
  // `firmware` is the cache's own connection. REQUIRES: capacity >= 1.
  FirmwareContentCache(fleet::FirmwareStore firmware, std::size_t capacity)
      : firmware_(std::move(firmware)), capacity_(capacity < 1 ? 1 : capacity) {}

  // The checked content of the image that stream `stream_id` serves (fleet::firmware_stream_id),
  // from the cache or opened now (logged at info). Refused with not_found when the stream is not
  // a firmware stream or its image is not in the repository (never uploaded, or deleted); with
  // another code when the repository or the image's file cannot be read (the message says why,
  // for the log, not for a device).
  fleet::RegistryResult<std::shared_ptr<const fleet::FirmwareContent>> open(
      const std::string& stream_id);

  std::size_t open_images() const { return open_.size(); }

 private:
  struct OpenImage {
    std::string stream_id;
    std::shared_ptr<const fleet::FirmwareContent> content;
    std::uint64_t last_used = 0;
  };

  fleet::FirmwareStore firmware_;
  std::size_t capacity_;
  std::vector<OpenImage> open_;  // at most capacity_
  std::uint64_t uses_ = 0;
};

}  // namespace ironroot::service
