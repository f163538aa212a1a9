// Private to libs/keystore: a loaded module and a logged-in session on the token a URI selects.
#pragma once

#include <optional>
#include <string>

#include "ironroot/core/result.hpp"
#include "ironroot/keystore/pkcs11_uri.hpp"
#include "ironroot/keystore/token_key.hpp"
#include "module.hpp"
#include "session.hpp"

namespace ironroot::keystore {

// A module, a logged-in session on the token a URI selects, and the PIN used.
struct Connection {
  Module module;
  Session session;  // after `module`: closed before the module is released
  std::optional<std::string> pin;
};

// Resolves the module and PIN (TokenOptions' order), finds the token, opens a session (read-write
// when asked) and logs the user in.
Result<Connection> connect(const Pkcs11Uri& uri, const TokenOptions& options, bool read_write);

}  // namespace ironroot::keystore
