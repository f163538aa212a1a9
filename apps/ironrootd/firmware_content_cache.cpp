#include "firmware_content_cache.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace ironroot::service {

fleet::RegistryResult<std::shared_ptr<const fleet::FirmwareContent>> FirmwareContentCache::open(
    const std::string& stream_id) {
  auto image = firmware_.describe_stream(stream_id);
  if (!image) return tl::unexpected(image.error());
  auto cached = std::find_if(open_.begin(), open_.end(),
                             [&](const OpenImage& o) { return o.stream_id == stream_id; });
  if (cached != open_.end() && cached->content->image().id == image->id) {
    cached->last_used = ++uses_;
    return cached->content;
  }
  if (cached != open_.end()) open_.erase(cached);  // another image took the stream id since
  auto content = firmware_.open_content(image->id);
  if (!content) return tl::unexpected(content.error());
  if (open_.size() >= capacity_) {
    open_.erase(std::min_element(open_.begin(), open_.end(), [](const auto& a, const auto& b) {
      return a.last_used < b.last_used;
    }));
  }
  spdlog::info("serving firmware {} ({} bytes) as stream {}", image->id, content->size(),
               stream_id);
  auto shared = std::make_shared<const fleet::FirmwareContent>(std::move(*content));
  open_.push_back(OpenImage{stream_id, shared, ++uses_});
  return shared;
}

}  // namespace ironroot::service
