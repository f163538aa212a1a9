#include "raw_token.hpp"

#include <dlfcn.h>

#include "support/softhsm_token.hpp"

namespace ironroot::testing {

RawToken::RawToken(const std::string& label, const std::string& pin) {
  library_ = dlopen(kSoftHsmModule, RTLD_NOW | RTLD_LOCAL);
  if (library_ == nullptr) {
    error_ = dlerror();
    return;
  }
  auto get_function_list =
      reinterpret_cast<CK_C_GetFunctionList>(dlsym(library_, "C_GetFunctionList"));
  if (get_function_list == nullptr || get_function_list(&api_) != CKR_OK) {
    error_ = "no function list";
    return;
  }
  CK_RV rv = api_->C_Initialize(nullptr);
  if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
    error_ = "C_Initialize failed";
    return;
  }
  initialised_here_ = rv == CKR_OK;
  CK_SLOT_ID slots[16];
  CK_ULONG count = 16;
  if (api_->C_GetSlotList(CK_TRUE, slots, &count) != CKR_OK) {
    error_ = "C_GetSlotList failed";
    return;
  }
  for (CK_ULONG i = 0; i < count; ++i) {
    CK_TOKEN_INFO info{};
    if (api_->C_GetTokenInfo(slots[i], &info) != CKR_OK) continue;
    std::string token_label(reinterpret_cast<const char*>(info.label), sizeof info.label);
    if (token_label.substr(0, token_label.find_last_not_of(' ') + 1) != label) continue;
    CK_SESSION_HANDLE session = CK_INVALID_HANDLE;
    if (api_->C_OpenSession(slots[i], CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr,
                            &session) != CKR_OK) {
      error_ = "C_OpenSession failed";
      return;
    }
    rv = api_->C_Login(session, CKU_USER,
                       reinterpret_cast<CK_UTF8CHAR*>(const_cast<char*>(pin.data())), pin.size());
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
      api_->C_CloseSession(session);
      error_ = "C_Login failed";
      return;
    }
    session_ = session;
    return;
  }
  error_ = "no token labelled " + label;
}

RawToken::~RawToken() {
  if (session_ != CK_INVALID_HANDLE) api_->C_CloseSession(session_);
  if (initialised_here_) api_->C_Finalize(nullptr);
  if (library_ != nullptr) dlclose(library_);
}

std::vector<CK_OBJECT_HANDLE> RawToken::find(CK_OBJECT_CLASS object_class,
                                             const std::string& label) {
  CK_ATTRIBUTE match[] = {
      {CKA_CLASS, &object_class, sizeof object_class},
      {CKA_LABEL, const_cast<char*>(label.data()), label.size()},
  };
  std::vector<CK_OBJECT_HANDLE> found;
  if (api_->C_FindObjectsInit(session_, match, 2) != CKR_OK) return found;
  CK_OBJECT_HANDLE handle = CK_INVALID_HANDLE;
  CK_ULONG count = 0;
  while (api_->C_FindObjects(session_, &handle, 1, &count) == CKR_OK && count == 1) {
    found.push_back(handle);
  }
  api_->C_FindObjectsFinal(session_);
  return found;
}

CK_RV RawToken::get(CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type, Bytes& value) {
  CK_ATTRIBUTE attribute{type, nullptr, 0};
  CK_RV rv = api_->C_GetAttributeValue(session_, object, &attribute, 1);
  if (rv != CKR_OK) return rv;
  value.resize(attribute.ulValueLen);
  attribute.pValue = value.data();
  return api_->C_GetAttributeValue(session_, object, &attribute, 1);
}

CK_RV RawToken::set(CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type, ByteView value) {
  CK_ATTRIBUTE attribute{type, const_cast<std::byte*>(value.data()), value.size()};
  return api_->C_SetAttributeValue(session_, object, &attribute, 1);
}

CK_RV RawToken::set_bool(CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type, bool value) {
  CK_BBOOL b = value ? CK_TRUE : CK_FALSE;
  return set(object, type, ByteView(reinterpret_cast<const std::byte*>(&b), sizeof b));
}

std::optional<bool> RawToken::get_bool(CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type) {
  Bytes value;
  if (get(object, type, value) != CKR_OK || value.size() != sizeof(CK_BBOOL)) return std::nullopt;
  return value[0] != std::byte{0};
}

}  // namespace ironroot::testing
