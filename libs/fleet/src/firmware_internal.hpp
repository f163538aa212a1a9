// What the firmware repository's source files share: id and label checks, and the key lookup
// the upload verifies against. Everything here runs inside the caller's transaction, if any.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "ironroot/fleet/firmware.hpp"
#include "jobs_internal.hpp"  // jobs_detail::in_write: one write transaction, committed or not
#include "registry_internal.hpp"

namespace ironroot::fleet::firmware_detail {

// A firmware or key name: 1 to `max` of [a-zA-Z0-9._+-].
Status check_label(std::string_view what, std::string_view text, std::size_t max);

// 64 hex digits, either case; returns them in lower case. `what`: "firmware", "code-signing key".
Result<std::string> normalize_sha256_id(std::string_view what, std::string_view id);

// The image whose id starts with `id_prefix` (the 40 lower-case hex digits of a firmware stream
// id); nullopt when there is none. Two images that share those 160 bits are an internal error.
RegistryResult<std::optional<FirmwareImage>> load_stream_image(Database& db,
                                                               std::string_view id_prefix);

// The key with this id (normalized); nullopt when none.
RegistryResult<std::optional<CodeSigningKey>> load_key(Database& db, std::string_view id);

}  // namespace ironroot::fleet::firmware_detail
