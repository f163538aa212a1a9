// PKCS#11 URIs (RFC 7512): how a user names a token, a key in it, and how to reach it, e.g.
// "pkcs11:token=oem-signing;object=image-key;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so".
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "ironroot/core/bytes.hpp"
#include "ironroot/core/result.hpp"

namespace ironroot::keystore {

// A parsed PKCS#11 URI. Every field is optional: an absent field matches anything. Values are held
// percent-decoded; `id` is the raw CKA_ID bytes.
struct Pkcs11Uri {
  // Path attributes: which token (CK_TOKEN_INFO fields, or the slot) ...
  std::optional<std::string> token;  // token label
  std::optional<std::string> manufacturer;
  std::optional<std::string> model;
  std::optional<std::string> serial;
  std::optional<unsigned long> slot_id;
  // ... and which object in it.
  std::optional<std::string> object;  // CKA_LABEL
  std::optional<Bytes> id;            // CKA_ID
  std::optional<std::string> type;    // "private", "public", "cert", "secret-key" or "data"

  // Query attributes: how to reach the token. At most one of pin_value / pin_source is set.
  std::optional<std::string> pin_value;
  std::optional<std::string> pin_source;  // a file path; a "file:" URI is reduced to its path
  std::optional<std::string> module_path;
  std::optional<std::string> module_name;  // "softhsm2" for libsofthsm2.so

  // Parses `text`. Fails, saying which part is wrong, when it does not start with "pkcs11:", has a
  // bad %-escape, an unknown, duplicate or empty attribute, a type outside the list above, a
  // slot-id that is not a decimal number, or both pin-value and pin-source.
  static Result<Pkcs11Uri> parse(std::string_view text);

  // The URI in RFC 7512 form, with every value percent-encoded where needed. It never contains the
  // PIN (pin-value is left out; pin-source, a file name, is kept), so it is safe to log and print.
  std::string to_string() const;

  friend bool operator==(const Pkcs11Uri&, const Pkcs11Uri&) = default;
};

// True when `text` has the "pkcs11:" scheme (case-insensitive), i.e. when a `-k` argument names a
// token key rather than a key file. Says nothing about whether the rest parses.
bool is_pkcs11_uri(std::string_view text);

}  // namespace ironroot::keystore
