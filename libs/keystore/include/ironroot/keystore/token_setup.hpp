// Making a new token: what a production line does once per secure element, before the device's
// key is generated in it.
#pragma once

#include <filesystem>
#include <string>

#include "ironroot/core/result.hpp"

namespace ironroot::keystore {

// The largest label PKCS#11 stores (CK_TOKEN_INFO.label is 32 blank-padded characters).
inline constexpr std::size_t kMaxTokenLabelLength = 32;

struct NewToken {
  std::string label;   // 1 to 32 printable ASCII characters, unique among the module's tokens
  std::string so_pin;  // the security officer's PIN (4 to 255 characters)
  std::string pin;     // the user's PIN (4 to 255 characters)
};

// Initialises the first slot of `module_path` that holds an uninitialised token (SoftHSM2 always
// offers one) as `token` (C_InitToken with the SO PIN, then C_InitPIN for the user PIN). Refuses,
// changing nothing, a label that is empty, too long or already taken, PINs outside 4 to 255
// characters, and a module with no uninitialised token. A SoftHSM2 module finds its token store
// through $SOFTHSM2_CONF, read when this process first loads the module.
Status initialize_token(const std::filesystem::path& module_path, const NewToken& token);

}  // namespace ironroot::keystore
