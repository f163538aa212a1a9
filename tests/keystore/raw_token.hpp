// Test support for libs/keystore: the token seen through the raw PKCS#11 API, bypassing the code
// under test, to check what the token itself says about a key.
#pragma once

#include <p11-kit/pkcs11.h>

#include <optional>
#include <string>
#include <vector>

#include "ironroot/core/bytes.hpp"

namespace ironroot::testing {

// Its own dlopen() and C_Initialize of SoftHSM2, and a logged-in R/W session on the token labelled
// `label`. Tests check ok() before anything else.
class RawToken {
 public:
  RawToken(const std::string& label, const std::string& pin);
  ~RawToken();
  RawToken(const RawToken&) = delete;
  RawToken& operator=(const RawToken&) = delete;

  bool ok() const { return session_ != CK_INVALID_HANDLE; }
  const std::string& error() const { return error_; }

  // Objects of `object_class` labelled `label`.
  std::vector<CK_OBJECT_HANDLE> find(CK_OBJECT_CLASS object_class, const std::string& label);
  // C_GetAttributeValue of one attribute into `value` (sized by a first call).
  CK_RV get(CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type, Bytes& value);
  CK_RV set(CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type, ByteView value);
  // C_SetAttributeValue of one CK_BBOOL attribute.
  CK_RV set_bool(CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type, bool value);
  // A CK_BBOOL attribute; nullopt when it cannot be read.
  std::optional<bool> get_bool(CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type);

 private:
  void* library_ = nullptr;
  CK_FUNCTION_LIST* api_ = nullptr;
  bool initialised_here_ = false;
  CK_SESSION_HANDLE session_ = CK_INVALID_HANDLE;
  std::string error_;
};

}  // namespace ironroot::testing
