// What `ironroot image dumpinfo` shows: every header field, every TLV, the hash check and, for a
// padded image, the trailer. JSON first (for scripts and the fleet service), text rendered from it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "ironroot/core/bytes.hpp"
#include "ironroot/image/image.hpp"

namespace ironroot::image {

// Describes a parsed image. `data` is the buffer `image` was parsed from; anything after the
// image's TLVs is read as a slot trailer when it ends with a trailer magic.
nlohmann::json describe_image(const ImageView& image, ByteView data);

// Human-readable rendering of describe_image()'s result.
std::string format_image_info(const nlohmann::json& info);

}  // namespace ironroot::image
