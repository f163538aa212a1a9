// Private to libs/keystore: where the module and the PIN come from (see TokenOptions).
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "ironroot/core/result.hpp"
#include "ironroot/keystore/pkcs11_uri.hpp"
#include "ironroot/keystore/token_key.hpp"

namespace ironroot::keystore {

struct ResolvedOptions {
  std::filesystem::path module_path;
  std::optional<std::string> pin;
};

// Applies TokenOptions' resolution order. Reads the pin-source file; fails when it cannot be read
// or when a module-name names no module in the folders searched.
Result<ResolvedOptions> resolve_options(const Pkcs11Uri& uri, const TokenOptions& options);

}  // namespace ironroot::keystore
