// Private to libs/keystore: finding a token, a logged-in session on it, and its objects.
#pragma once

#include <p11-kit/pkcs11.h>

#include <optional>
#include <string>
#include <vector>

#include "ironroot/core/bytes.hpp"
#include "ironroot/core/result.hpp"
#include "ironroot/keystore/pkcs11_uri.hpp"
#include "module.hpp"

namespace ironroot::keystore {

// An initialised token in one of a module's slots; CK_TOKEN_INFO strings with their padding cut.
struct Token {
  CK_SLOT_ID slot = 0;
  std::string label;
  std::string manufacturer;
  std::string model;
  std::string serial;
  CK_FLAGS flags = 0;

  // "'label' (serial 1234)", for messages.
  std::string describe() const;
};

// The one initialised token whose CK_TOKEN_INFO matches every token attribute of `uri` (token,
// manufacturer, model, serial, slot-id); with none given, the module's only token. Fails listing
// the tokens present when none or several match.
Result<Token> find_token(const Module& module, const Pkcs11Uri& uri);

// A PKCS#11 attribute template that owns copies of its values, so that its CK_ATTRIBUTEs stay
// valid for as long as the template lives. Move-only: the attributes point into its own buffers.
// The copies are wiped when the template goes, since a value may be secret (an imported key's
// CKA_VALUE).
class AttributeTemplate {
 public:
  AttributeTemplate() = default;
  AttributeTemplate(AttributeTemplate&&) = default;
  AttributeTemplate(const AttributeTemplate&) = delete;
  ~AttributeTemplate();

  AttributeTemplate& add(CK_ATTRIBUTE_TYPE type, ByteView value);
  AttributeTemplate& add_bool(CK_ATTRIBUTE_TYPE type, bool value);
  AttributeTemplate& add_ulong(CK_ATTRIBUTE_TYPE type, CK_ULONG value);

  // PKCS#11 takes templates through non-const pointers but only reads them.
  CK_ATTRIBUTE* data() const { return const_cast<CK_ATTRIBUTE*>(attributes_.data()); }
  CK_ULONG size() const { return attributes_.size(); }

 private:
  std::vector<Bytes> values_;  // each value's buffer stays put when this vector grows
  std::vector<CK_ATTRIBUTE> attributes_;
};

// A session on one token; closed on destruction. Move-only.
class Session {
 public:
  // REQUIRES: `module` outlives the Session.
  static Result<Session> open(const Module& module, Token token, bool read_write);

  Session(Session&& other) noexcept;
  Session& operator=(Session&&) = delete;
  Session(const Session&) = delete;
  ~Session();

  // Logs the user in (CKR_USER_ALREADY_LOGGED_IN counts as success). Without a PIN, only a token
  // with a PIN pad (CKF_PROTECTED_AUTHENTICATION_PATH) can log in; otherwise the message says how
  // to give one. Wrong, locked and unset PINs each get a message naming the token.
  Status login(const std::optional<std::string>& pin);
  // CKU_CONTEXT_SPECIFIC login, for keys with CKA_ALWAYS_AUTHENTICATE, right after C_SignInit.
  Status login_context_specific(const std::optional<std::string>& pin);

  // Handles of every object matching `match`.
  Result<std::vector<CK_OBJECT_HANDLE>> find(const AttributeTemplate& match);
  // An attribute's value; nullopt when the object does not have it. Fails on
  // CKR_ATTRIBUTE_SENSITIVE and other errors.
  Result<std::optional<Bytes>> attribute(CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type);
  // A CK_BBOOL or CK_ULONG attribute; nullopt when absent or of the wrong size.
  Result<std::optional<bool>> bool_attribute(CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type);
  Result<std::optional<CK_ULONG>> ulong_attribute(CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type);

  const CK_FUNCTION_LIST& api() const { return *api_; }
  CK_SESSION_HANDLE handle() const { return handle_; }
  const Token& token() const { return token_; }

 private:
  Session(const CK_FUNCTION_LIST* api, CK_SESSION_HANDLE handle, Token token)
      : api_(api), handle_(handle), token_(std::move(token)) {}

  const CK_FUNCTION_LIST* api_;
  CK_SESSION_HANDLE handle_;
  Token token_;
};

}  // namespace ironroot::keystore
