#include "session.hpp"

#include <array>
#include <cstring>

#include "private_scalar.hpp"

namespace ironroot::keystore {

namespace {

// CK_TOKEN_INFO strings are fixed-size, blank-padded and not NUL-terminated.
template <std::size_t N>
std::string padded(const unsigned char (&field)[N]) {
  std::string text(reinterpret_cast<const char*>(field), N);
  std::size_t end = text.find_last_not_of(std::string_view(" \0", 2));
  return end == std::string::npos ? std::string() : text.substr(0, end + 1);
}

Result<std::vector<Token>> list_tokens(const Module& module) {
  const CK_FUNCTION_LIST& api = module.api();
  std::vector<CK_SLOT_ID> slots;
  CK_RV rv = CKR_OK;
  do {  // the slot list can grow between the two calls
    CK_ULONG count = 0;
    rv = api.C_GetSlotList(CK_TRUE, nullptr, &count);
    if (rv != CKR_OK) break;
    slots.resize(count);
    rv = api.C_GetSlotList(CK_TRUE, slots.data(), &count);
    slots.resize(count);
  } while (rv == CKR_BUFFER_TOO_SMALL);
  if (rv != CKR_OK) return rv_fail("cannot list the slots of '" + module.path().string() + "'", rv);

  std::vector<Token> tokens;
  for (CK_SLOT_ID slot : slots) {
    CK_TOKEN_INFO info{};
    rv = api.C_GetTokenInfo(slot, &info);
    if (rv == CKR_TOKEN_NOT_PRESENT || rv == CKR_TOKEN_NOT_RECOGNIZED) continue;
    if (rv != CKR_OK) return rv_fail("cannot read the token in slot " + std::to_string(slot), rv);
    if ((info.flags & CKF_TOKEN_INITIALIZED) == 0) continue;  // SoftHSM2's spare empty slot
    tokens.push_back(Token{slot, padded(info.label), padded(info.manufacturerID),
                           padded(info.model), padded(info.serialNumber), info.flags});
  }
  return tokens;
}

std::string describe_all(const std::vector<Token>& tokens) {
  std::string out;
  for (const Token& token : tokens) {
    if (!out.empty()) out += ", ";
    out += token.describe();
  }
  return out;
}

std::string describe_selection(const Pkcs11Uri& uri) {
  std::string out;
  auto add = [&](std::string_view name, const std::string& value) {
    if (!out.empty()) out += ", ";
    out += std::string(name) + "='" + value + "'";
  };
  if (uri.token) add("token", *uri.token);
  if (uri.manufacturer) add("manufacturer", *uri.manufacturer);
  if (uri.model) add("model", *uri.model);
  if (uri.serial) add("serial", *uri.serial);
  if (uri.slot_id) add("slot-id", std::to_string(*uri.slot_id));
  return out;
}

bool matches(const Token& token, const Pkcs11Uri& uri) {
  return (!uri.token || *uri.token == token.label) &&
         (!uri.manufacturer || *uri.manufacturer == token.manufacturer) &&
         (!uri.model || *uri.model == token.model) &&
         (!uri.serial || *uri.serial == token.serial) &&
         (!uri.slot_id || *uri.slot_id == token.slot);
}

}  // namespace

std::string Token::describe() const {
  return "'" + label + "' (serial " + serial + ")";
}

Result<Token> find_token(const Module& module, const Pkcs11Uri& uri) {
  auto tokens = list_tokens(module);
  if (!tokens) return tl::unexpected(tokens.error());
  const std::string where = "in PKCS#11 module '" + module.path().string() + "'";
  if (tokens->empty()) {
    return fail("there is no initialised token " + where +
                "; create one, e.g. softhsm2-util --init-token --free --label <label>");
  }
  std::vector<Token> found;
  for (const Token& token : *tokens) {
    if (matches(token, uri)) found.push_back(token);
  }
  std::string selection = describe_selection(uri);
  if (found.empty()) {
    return fail("no token " + where + " matches " + selection +
                "; tokens present: " + describe_all(*tokens));
  }
  if (found.size() > 1) {
    return fail(std::to_string(found.size()) + " tokens " + where +
                (selection.empty() ? std::string() : " match " + selection) + ": " +
                describe_all(found) + "; add token= or serial= to the URI to choose one");
  }
  return found.front();
}

AttributeTemplate::~AttributeTemplate() {
  for (Bytes& value : values_) wipe(value);
}

AttributeTemplate& AttributeTemplate::add(CK_ATTRIBUTE_TYPE type, ByteView value) {
  Bytes& stored = values_.emplace_back(value.begin(), value.end());
  attributes_.push_back(CK_ATTRIBUTE{type, stored.data(), stored.size()});
  return *this;
}

AttributeTemplate& AttributeTemplate::add_bool(CK_ATTRIBUTE_TYPE type, bool value) {
  CK_BBOOL b = value ? CK_TRUE : CK_FALSE;
  return add(type, ByteView(reinterpret_cast<const std::byte*>(&b), sizeof b));
}

AttributeTemplate& AttributeTemplate::add_ulong(CK_ATTRIBUTE_TYPE type, CK_ULONG value) {
  return add(type, ByteView(reinterpret_cast<const std::byte*>(&value), sizeof value));
}

Result<Session> Session::open(const Module& module, Token token, bool read_write) {
  CK_FLAGS flags = CKF_SERIAL_SESSION | (read_write ? CKF_RW_SESSION : 0);
  CK_SESSION_HANDLE handle = CK_INVALID_HANDLE;
  CK_RV rv = module.api().C_OpenSession(token.slot, flags, nullptr, nullptr, &handle);
  if (rv != CKR_OK) {
    return rv_fail("cannot open a session on token " + token.describe(), rv);
  }
  return Session(&module.api(), handle, std::move(token));
}

Session::Session(Session&& other) noexcept
    : api_(other.api_), handle_(other.handle_), token_(std::move(other.token_)) {
  other.handle_ = CK_INVALID_HANDLE;
}

Session::~Session() {
  if (handle_ != CK_INVALID_HANDLE) api_->C_CloseSession(handle_);
}

Status Session::login(const std::optional<std::string>& pin) {
  const bool pin_pad = (token_.flags & CKF_PROTECTED_AUTHENTICATION_PATH) != 0;
  if (!pin && !pin_pad) {
    return fail("token '" + token_.label +
                "' needs its user PIN: give it with pin-value= or pin-source= in the URI, or set "
                "IRONROOT_PKCS11_PIN");
  }
  auto* pin_data = pin ? reinterpret_cast<CK_UTF8CHAR*>(const_cast<char*>(pin->data())) : nullptr;
  CK_RV rv = api_->C_Login(handle_, CKU_USER, pin_data, pin ? pin->size() : 0);
  switch (rv) {
    case CKR_OK:
    case CKR_USER_ALREADY_LOGGED_IN:
      return {};
    case CKR_PIN_INCORRECT:
    case CKR_PIN_INVALID:
    case CKR_PIN_LEN_RANGE:
      return fail("PIN incorrect for token '" + token_.label + "' (" + rv_name(rv) + ")");
    case CKR_PIN_LOCKED:
      return fail("the user PIN of token '" + token_.label +
                  "' is locked after too many wrong PINs; reset it with the SO PIN "
                  "(pkcs11-tool --init-pin --login --login-type so)");
    case CKR_PIN_EXPIRED:
      return fail("the user PIN of token '" + token_.label +
                  "' has expired; set a new one (pkcs11-tool --change-pin)");
    case CKR_USER_PIN_NOT_INITIALIZED:
      return fail("token '" + token_.label +
                  "' has no user PIN yet; set one with the SO PIN (pkcs11-tool --init-pin "
                  "--login --login-type so)");
    default:
      return rv_fail("cannot log in to token '" + token_.label + "'", rv);
  }
}

Status Session::login_context_specific(const std::optional<std::string>& pin) {
  auto* pin_data = pin ? reinterpret_cast<CK_UTF8CHAR*>(const_cast<char*>(pin->data())) : nullptr;
  CK_RV rv = api_->C_Login(handle_, CKU_CONTEXT_SPECIFIC, pin_data, pin ? pin->size() : 0);
  if (rv == CKR_PIN_INCORRECT) return fail("PIN incorrect for token '" + token_.label + "'");
  if (rv != CKR_OK) {
    return rv_fail("the key in token '" + token_.label + "' needs the PIN again to sign", rv);
  }
  return {};
}

Result<std::vector<CK_OBJECT_HANDLE>> Session::find(const AttributeTemplate& match) {
  CK_RV rv = api_->C_FindObjectsInit(handle_, match.data(), match.size());
  if (rv != CKR_OK) return rv_fail("cannot search token '" + token_.label + "'", rv);
  std::vector<CK_OBJECT_HANDLE> found;
  std::array<CK_OBJECT_HANDLE, 16> batch{};
  CK_ULONG count = 0;
  while ((rv = api_->C_FindObjects(handle_, batch.data(), batch.size(), &count)) == CKR_OK &&
         count > 0) {
    found.insert(found.end(), batch.begin(), batch.begin() + static_cast<std::ptrdiff_t>(count));
  }
  CK_RV final_rv = api_->C_FindObjectsFinal(handle_);
  if (rv == CKR_OK) rv = final_rv;
  if (rv != CKR_OK) return rv_fail("cannot search token '" + token_.label + "'", rv);
  return found;
}

Result<std::optional<Bytes>> Session::attribute(CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type) {
  CK_ATTRIBUTE query{type, nullptr, 0};
  CK_RV rv = api_->C_GetAttributeValue(handle_, object, &query, 1);
  if (rv == CKR_ATTRIBUTE_TYPE_INVALID || query.ulValueLen == CK_UNAVAILABLE_INFORMATION) {
    return std::optional<Bytes>();
  }
  if (rv != CKR_OK) return rv_fail("cannot read an object attribute", rv);
  Bytes value(query.ulValueLen);
  query.pValue = value.data();
  rv = api_->C_GetAttributeValue(handle_, object, &query, 1);
  if (rv != CKR_OK) return rv_fail("cannot read an object attribute", rv);
  value.resize(query.ulValueLen);
  return std::optional<Bytes>(std::move(value));
}

Result<std::optional<bool>> Session::bool_attribute(CK_OBJECT_HANDLE object,
                                                    CK_ATTRIBUTE_TYPE type) {
  auto value = attribute(object, type);
  if (!value) return tl::unexpected(value.error());
  if (!*value || (*value)->size() != sizeof(CK_BBOOL)) return std::optional<bool>();
  return std::optional<bool>((**value)[0] != std::byte{0});
}

Result<std::optional<CK_ULONG>> Session::ulong_attribute(CK_OBJECT_HANDLE object,
                                                         CK_ATTRIBUTE_TYPE type) {
  auto value = attribute(object, type);
  if (!value) return tl::unexpected(value.error());
  if (!*value || (*value)->size() != sizeof(CK_ULONG)) return std::optional<CK_ULONG>();
  CK_ULONG out = 0;
  std::memcpy(&out, (*value)->data(), sizeof out);
  return std::optional<CK_ULONG>(out);
}

}  // namespace ironroot::keystore
