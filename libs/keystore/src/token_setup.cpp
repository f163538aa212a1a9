#include "ironroot/keystore/token_setup.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include "module.hpp"
#include "session.hpp"

namespace ironroot::keystore {

namespace {

constexpr std::size_t kMinPinLength = 4;
constexpr std::size_t kMaxPinLength = 255;

Status check_new_token(const NewToken& token) {
  if (token.label.empty() || token.label.size() > kMaxTokenLabelLength) {
    return fail("token label '" + token.label + "' must be 1 to " +
                std::to_string(kMaxTokenLabelLength) + " characters");
  }
  if (!std::all_of(token.label.begin(), token.label.end(),
                   [](char c) { return c >= 0x20 && c < 0x7f; })) {
    return fail("token label '" + token.label + "' must be printable ASCII");
  }
  if (token.label.back() == ' ') {
    return fail("token label '" + token.label +
                "' must not end with a space (PKCS#11 pads "
                "labels with spaces, so it would not read back the same)");
  }
  for (auto [name, pin] : {std::pair{"SO PIN", &token.so_pin}, {"user PIN", &token.pin}}) {
    if (pin->size() < kMinPinLength || pin->size() > kMaxPinLength) {
      return fail(std::string("the ") + name + " must be " + std::to_string(kMinPinLength) +
                  " to " + std::to_string(kMaxPinLength) + " characters");
    }
  }
  return {};
}

Result<std::vector<CK_SLOT_ID>> slots_with_tokens(const Module& module) {
  std::vector<CK_SLOT_ID> slots;
  CK_RV rv = CKR_OK;
  do {
    CK_ULONG count = 0;
    rv = module.api().C_GetSlotList(CK_TRUE, nullptr, &count);
    if (rv != CKR_OK) break;
    slots.resize(count);
    rv = module.api().C_GetSlotList(CK_TRUE, slots.data(), &count);
    slots.resize(count);
  } while (rv == CKR_BUFFER_TOO_SMALL);
  if (rv != CKR_OK) return rv_fail("cannot list the slots of '" + module.path().string() + "'", rv);
  return slots;
}

CK_UTF8CHAR* pkcs11_text(const std::string& text) {
  return reinterpret_cast<CK_UTF8CHAR*>(const_cast<char*>(text.data()));
}

}  // namespace

Status initialize_token(const std::filesystem::path& module_path, const NewToken& token) {
  if (auto ok = check_new_token(token); !ok) return ok;
  auto module = Module::load(module_path);
  if (!module) return tl::unexpected(module.error());
  Pkcs11Uri by_label;
  by_label.token = token.label;
  if (find_token(*module, by_label)) {
    return fail("module '" + module_path.string() + "' already has a token labelled '" +
                token.label + "'");
  }

  auto slots = slots_with_tokens(*module);
  if (!slots) return tl::unexpected(slots.error());
  std::optional<CK_SLOT_ID> free_slot;
  for (CK_SLOT_ID slot : *slots) {
    CK_TOKEN_INFO info{};
    if (module->api().C_GetTokenInfo(slot, &info) != CKR_OK) continue;
    if ((info.flags & CKF_TOKEN_INITIALIZED) == 0) {
      free_slot = slot;
      break;
    }
  }
  if (!free_slot) {
    return fail("module '" + module_path.string() + "' has no uninitialised token to make '" +
                token.label + "' in");
  }

  CK_UTF8CHAR label[kMaxTokenLabelLength];
  std::memset(label, ' ', sizeof label);
  std::memcpy(label, token.label.data(), token.label.size());
  CK_RV rv =
      module->api().C_InitToken(*free_slot, pkcs11_text(token.so_pin), token.so_pin.size(), label);
  if (rv != CKR_OK) return rv_fail("cannot initialise token '" + token.label + "'", rv);

  // SoftHSM2 gives an initialised token a new slot id: find it again by its label.
  auto made = find_token(*module, by_label);
  if (!made) return prefixed(made.error(), "token '" + token.label + "' after C_InitToken");
  auto session = Session::open(*module, *made, /*read_write=*/true);
  if (!session) return tl::unexpected(session.error());
  const CK_FUNCTION_LIST& api = module->api();
  rv = api.C_Login(session->handle(), CKU_SO, pkcs11_text(token.so_pin), token.so_pin.size());
  if (rv != CKR_OK) return rv_fail("cannot log in to new token '" + token.label + "' as SO", rv);
  rv = api.C_InitPIN(session->handle(), pkcs11_text(token.pin), token.pin.size());
  api.C_Logout(session->handle());
  if (rv != CKR_OK) return rv_fail("cannot set the user PIN of token '" + token.label + "'", rv);
  return {};
}

}  // namespace ironroot::keystore
