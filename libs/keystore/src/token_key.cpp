#include "ironroot/keystore/token_key.hpp"

#include <algorithm>
#include <array>
#include <utility>

#include "connection.hpp"
#include "ec_encoding.hpp"
#include "module.hpp"
#include "private_scalar.hpp"
#include "session.hpp"

namespace ironroot::keystore {

using crypto::KeyType;

namespace {

constexpr std::size_t kGeneratedIdSize = 16;
// Room for any raw signature these curves produce (both give exactly 64 bytes), so that C_Sign
// never answers CKR_BUFFER_TOO_SMALL and always ends the signing operation.
constexpr std::size_t kSignatureBufferSize = 132;
constexpr std::size_t kRawSignatureSize = 64;

struct Mechanisms {
  CK_KEY_TYPE key_type;
  CK_MECHANISM_TYPE generate;
  CK_MECHANISM_TYPE sign;
  std::string_view generate_name;
  std::string_view sign_name;
};

Mechanisms mechanisms_for(KeyType type) {
  if (type == KeyType::ed25519) {
    return {CKK_EC_EDWARDS, CKM_EC_EDWARDS_KEY_PAIR_GEN, CKM_EDDSA, "CKM_EC_EDWARDS_KEY_PAIR_GEN",
            "CKM_EDDSA"};
  }
  return {CKK_EC, CKM_EC_KEY_PAIR_GEN, CKM_ECDSA, "CKM_EC_KEY_PAIR_GEN", "CKM_ECDSA"};
}

Status require_private_type(const Pkcs11Uri& uri) {
  if (uri.type && *uri.type != "private") {
    return fail("the URI selects type=" + *uri.type +
                " objects; a signing key is type=private (or leave type out)");
  }
  return {};
}

Status require_mechanism(const Session& session, CK_MECHANISM_TYPE mechanism, std::string_view name,
                         CK_FLAGS needed, KeyType type) {
  CK_MECHANISM_INFO info{};
  CK_RV rv = session.api().C_GetMechanismInfo(session.token().slot, mechanism, &info);
  if (rv == CKR_MECHANISM_INVALID || (rv == CKR_OK && (info.flags & needed) == 0)) {
    return fail("token '" + session.token().label + "' does not support " + std::string(name) +
                ", needed for " + std::string(crypto::key_type_name(type)) +
                " keys; use a key type the token supports");
  }
  if (rv != CKR_OK) return rv_fail("cannot ask token '" + session.token().label + "'", rv);
  return {};
}

struct KeyObject {
  CK_OBJECT_HANDLE handle = CK_INVALID_HANDLE;
  std::string label;
  Bytes id;

  // "'label' (id 01)", for messages.
  std::string describe() const {
    std::string out = label.empty() ? std::string("(no label)") : "'" + label + "'";
    return out + " (id " + (id.empty() ? std::string("none") : to_hex(id)) + ")";
  }
};

Result<KeyObject> read_key_object(Session& session, CK_OBJECT_HANDLE handle) {
  auto label = session.attribute(handle, CKA_LABEL);
  if (!label) return tl::unexpected(label.error());
  auto id = session.attribute(handle, CKA_ID);
  if (!id) return tl::unexpected(id.error());
  return KeyObject{handle, *label ? std::string(as_chars(**label)) : std::string(),
                   id->value_or(Bytes())};
}

// "'a' (id 01), 'b' (id 02)": the keys, sorted so that a message does not depend on the order the
// token happens to return them in.
std::string describe_keys(Session& session, const std::vector<CK_OBJECT_HANDLE>& handles) {
  std::vector<std::string> keys;
  for (CK_OBJECT_HANDLE handle : handles) {
    auto key = read_key_object(session, handle);
    keys.push_back(key ? key->describe() : "(unreadable)");
  }
  std::sort(keys.begin(), keys.end());
  std::string out;
  for (const std::string& key : keys) out += (out.empty() ? "" : ", ") + key;
  return out;
}

std::string describe_private_keys(Session& session) {
  auto keys = session.find(AttributeTemplate().add_ulong(CKA_CLASS, CKO_PRIVATE_KEY));
  if (!keys) return "(cannot list them: " + keys.error().message + ")";
  return keys->empty() ? "none" : describe_keys(session, *keys);
}

std::string describe_search(const Pkcs11Uri& uri) {
  std::string out;
  if (uri.object) out += "label '" + *uri.object + "'";
  if (uri.id) out += (out.empty() ? "id " : " and id ") + to_hex(*uri.id);
  return out.empty() ? "any label or id" : out;
}

// The public-key object paired with `key`: the same CKA_ID (or, without one, the same label).
Result<CK_OBJECT_HANDLE> find_public_half(Session& session, const KeyObject& key) {
  const std::string where = " in token '" + session.token().label + "'";
  if (key.id.empty() && key.label.empty()) {
    return fail("private key " + key.describe() + where +
                " has neither id nor label, so its public-key object cannot be found");
  }
  AttributeTemplate match;
  match.add_ulong(CKA_CLASS, CKO_PUBLIC_KEY);
  if (!key.id.empty()) {
    match.add(CKA_ID, key.id);
  } else {
    match.add(CKA_LABEL, as_bytes(key.label));
  }
  auto found = session.find(match);
  if (!found) return tl::unexpected(found.error());
  if (found->size() > 1 && !key.id.empty() && !key.label.empty()) {
    found = session.find(match.add(CKA_LABEL, as_bytes(key.label)));
    if (!found) return tl::unexpected(found.error());
  }
  if (found->empty()) {
    return fail("there is no public-key object for private key " + key.describe() + where +
                "; ironroot reads the public key from the public-key object with the same id "
                "(import it with pkcs11-tool --write-object <public.der> --type pubkey --id <id>)");
  }
  if (found->size() > 1) {
    return fail(std::to_string(found->size()) + " public-key objects" + where +
                " share the id of private key " + key.describe() + "; delete the stray ones");
  }
  return found->front();
}

struct KeyDetails {
  KeyType type;
  crypto::PublicKey public_key;
  bool always_authenticate;
};

// Checks that `key` is a P-256 or Ed25519 signing key the token can use, and reads its public
// half from `public_half`.
Result<KeyDetails> inspect(Session& session, const KeyObject& key, CK_OBJECT_HANDLE public_half) {
  const std::string name =
      "private key " + key.describe() + " in token '" + session.token().label + "'";
  auto kind = session.ulong_attribute(key.handle, CKA_KEY_TYPE);
  if (!kind) return tl::unexpected(kind.error());
  if (*kind != CKK_EC && *kind != CKK_EC_EDWARDS) {
    return fail(name + " is not an elliptic-curve key; ironroot signs with ecdsa-p256 or ed25519");
  }
  auto params = session.attribute(key.handle, CKA_EC_PARAMS);
  if (params && !*params) params = session.attribute(public_half, CKA_EC_PARAMS);
  if (!params) return tl::unexpected(params.error());
  if (!*params) return fail(name + " has no CKA_EC_PARAMS, so its curve is unknown");
  auto type = key_type_from_ec_params(**params);
  if (!type) return prefixed(type.error(), name);
  if ((*type == KeyType::ed25519) != (*kind == CKK_EC_EDWARDS)) {
    return fail(name + " has a CKA_KEY_TYPE that does not match its curve");
  }
  auto can_sign = session.bool_attribute(key.handle, CKA_SIGN);
  if (!can_sign) return tl::unexpected(can_sign.error());
  if (*can_sign == false) return fail(name + " is not allowed to sign (CKA_SIGN is false)");
  Mechanisms mech = mechanisms_for(*type);
  if (auto ok = require_mechanism(session, mech.sign, mech.sign_name, CKF_SIGN, *type); !ok) {
    return tl::unexpected(ok.error());
  }

  auto point = session.attribute(public_half, CKA_EC_POINT);
  if (!point) return tl::unexpected(point.error());
  if (!*point) return fail("the public-key object of " + name + " has no CKA_EC_POINT");
  auto raw = raw_public_from_ec_point(*type, **point);
  if (!raw) return prefixed(raw.error(), name);
  auto public_key = crypto::PublicKey::from_raw(*type, *raw);
  if (!public_key) return prefixed(public_key.error(), name);

  auto always_authenticate = session.bool_attribute(key.handle, CKA_ALWAYS_AUTHENTICATE);
  if (!always_authenticate) return tl::unexpected(always_authenticate.error());
  return KeyDetails{*type, *public_key, always_authenticate->value_or(false)};
}

Pkcs11Uri uri_of(const Token& token, const KeyObject& key) {
  Pkcs11Uri uri;
  uri.token = token.label;
  if (!token.serial.empty()) uri.serial = token.serial;
  if (!key.label.empty()) uri.object = key.label;
  if (!key.id.empty()) uri.id = key.id;
  uri.type = "private";
  return uri;
}

// Destroys freshly made objects unless dismissed: a failed keygen or import leaves the token
// unchanged.
class GeneratedObjects {
 public:
  explicit GeneratedObjects(Session& session) : session_(session) {}
  GeneratedObjects(const GeneratedObjects&) = delete;
  GeneratedObjects& operator=(const GeneratedObjects&) = delete;
  ~GeneratedObjects() {
    if (!keep_) {
      for (CK_OBJECT_HANDLE handle : handles_) {
        session_.api().C_DestroyObject(session_.handle(), handle);
      }
    }
  }
  void add(CK_OBJECT_HANDLE handle) { handles_.push_back(handle); }
  void keep() { keep_ = true; }

 private:
  Session& session_;
  std::vector<CK_OBJECT_HANDLE> handles_;
  bool keep_ = false;
};

// The generated private key must be one that can never be read out of the token.
Status check_protected(Session& session, const KeyObject& key) {
  auto sensitive = session.bool_attribute(key.handle, CKA_SENSITIVE);
  if (!sensitive) return tl::unexpected(sensitive.error());
  auto extractable = session.bool_attribute(key.handle, CKA_EXTRACTABLE);
  if (!extractable) return tl::unexpected(extractable.error());
  if (*sensitive != true || *extractable != false) {
    return fail("token '" + session.token().label +
                "' did not make the new key sensitive and non-extractable as asked; the key was "
                "deleted");
  }
  return {};
}

Result<Bytes> new_key_id(Session& session) {
  Bytes id(kGeneratedIdSize);
  CK_RV rv = session.api().C_GenerateRandom(session.handle(), reinterpret_cast<CK_BYTE*>(id.data()),
                                            id.size());
  if (rv != CKR_OK) {
    return rv_fail("token '" + session.token().label +
                       "' cannot make a random key id; give one with id= in the URI",
                   rv);
  }
  return id;
}

// The id= of `uri` when no object of `token` has it yet, or a new random one without id=.
Result<Bytes> unused_key_id(Session& session, const Pkcs11Uri& uri, const std::string& token) {
  if (!uri.id) return new_key_id(session);
  auto same_id = session.find(AttributeTemplate().add(CKA_ID, *uri.id));
  if (!same_id) return tl::unexpected(same_id.error());
  if (!same_id->empty()) {
    return fail(token + " already has an object with id " + to_hex(*uri.id) +
                "; choose another id=, or leave id out for a random one");
  }
  return *uri.id;
}

// C_SignInit and C_Sign with `key` (after a context-specific login with *context_pin, when given),
// the signature returned in the encoding crypto::PublicKey::verify_digest checks. `description`
// names the key in messages.
Result<Bytes> sign_in_token(Session& session, CK_OBJECT_HANDLE key, KeyType type,
                            const crypto::Sha256Digest& digest, const std::string& description,
                            const std::optional<std::string>* context_pin) {
  const CK_FUNCTION_LIST& api = session.api();
  CK_MECHANISM mechanism{mechanisms_for(type).sign, nullptr, 0};
  CK_RV rv = api.C_SignInit(session.handle(), &mechanism, key);
  if (rv != CKR_OK) return rv_fail("cannot start signing with " + description, rv);
  Status authenticated =
      context_pin != nullptr ? session.login_context_specific(*context_pin) : Status();

  Bytes signature(kSignatureBufferSize);
  auto length = static_cast<CK_ULONG>(signature.size());
  // Called even when the context login failed: C_Sign then fails and ends the operation, so that
  // the next C_SignInit does not meet CKR_OPERATION_ACTIVE.
  rv = api.C_Sign(
      session.handle(), reinterpret_cast<CK_BYTE*>(const_cast<std::byte*>(digest.data())),
      static_cast<CK_ULONG>(digest.size()), reinterpret_cast<CK_BYTE*>(signature.data()), &length);
  if (!authenticated) return tl::unexpected(authenticated.error());
  if (rv != CKR_OK) return rv_fail("signing with " + description + " failed", rv);
  if (length != kRawSignatureSize) {
    return fail("signing with " + description + " returned " + std::to_string(length) +
                " bytes instead of " + std::to_string(kRawSignatureSize));
  }
  signature.resize(length);
  if (type == KeyType::ecdsa_p256) {
    auto der = crypto::ecdsa_der_from_raw(signature);
    if (!der) return prefixed(der.error(), "signing with " + description);
    signature = std::move(*der);
  }
  return signature;
}

}  // namespace

struct TokenKey::Handles {
  Connection connection;
  CK_OBJECT_HANDLE private_key;
  KeyType type;
  std::string description;  // "private key 'label' (id 01) in token 'name'"
  bool always_authenticate;
};

struct TokenKey::Found {
  Connection connection;
  KeyObject key;
  KeyDetails details;
};

TokenKey::TokenKey(Found&& found)
    : public_key_(std::move(found.details.public_key)),
      uri_(uri_of(found.connection.session.token(), found.key)) {
  std::string description = "private key " + found.key.describe() + " in token '" +
                            found.connection.session.token().label + "'";
  // The PIN is kept only for a key that asks for it at every signature.
  if (!found.details.always_authenticate) found.connection.pin.reset();
  handles_ = std::unique_ptr<Handles>(new Handles{std::move(found.connection), found.key.handle,
                                                  found.details.type, std::move(description),
                                                  found.details.always_authenticate});
}

TokenKey::~TokenKey() = default;

Result<std::unique_ptr<TokenKey>> TokenKey::open(const Pkcs11Uri& uri,
                                                 const TokenOptions& options) {
  if (auto ok = require_private_type(uri); !ok) return tl::unexpected(ok.error());
  auto connection = connect(uri, options, /*read_write=*/false);
  if (!connection) return tl::unexpected(connection.error());
  Session& session = connection->session;
  const std::string token = "token '" + session.token().label + "'";

  AttributeTemplate match;
  match.add_ulong(CKA_CLASS, CKO_PRIVATE_KEY);
  if (uri.object) match.add(CKA_LABEL, as_bytes(*uri.object));
  if (uri.id) match.add(CKA_ID, *uri.id);
  auto found = session.find(match);
  if (!found) return tl::unexpected(found.error());
  if (found->empty()) {
    return fail("no private key with " + describe_search(uri) + " in " + token +
                "; private keys present: " + describe_private_keys(session));
  }
  if (found->size() > 1) {
    return fail(std::to_string(found->size()) + " private keys with " + describe_search(uri) +
                " in " + token + ": " + describe_keys(session, *found) +
                "; add object= and id= to choose one");
  }

  auto key = read_key_object(session, found->front());
  if (!key) return tl::unexpected(key.error());
  auto public_half = find_public_half(session, *key);
  if (!public_half) return tl::unexpected(public_half.error());
  auto details = inspect(session, *key, *public_half);
  if (!details) return tl::unexpected(details.error());

  return std::unique_ptr<TokenKey>(
      new TokenKey(Found{std::move(*connection), std::move(*key), std::move(*details)}));
}

Result<std::unique_ptr<TokenKey>> TokenKey::generate(const Pkcs11Uri& uri, KeyType type,
                                                     const TokenOptions& options) {
  if (!uri.object) {
    return fail(
        "to generate a key the URI needs object=<label>, the name to find it by later "
        "(e.g. pkcs11:token=<token>;object=<label>)");
  }
  if (auto ok = require_private_type(uri); !ok) return tl::unexpected(ok.error());
  auto connection = connect(uri, options, /*read_write=*/true);
  if (!connection) return tl::unexpected(connection.error());
  Session& session = connection->session;
  const std::string token = "token '" + session.token().label + "'";
  const Mechanisms mech = mechanisms_for(type);
  if (auto ok = require_mechanism(session, mech.generate, mech.generate_name, CKF_GENERATE_KEY_PAIR,
                                  type);
      !ok) {
    return tl::unexpected(ok.error());
  }

  auto same_label = session.find(AttributeTemplate()
                                     .add_ulong(CKA_CLASS, CKO_PRIVATE_KEY)
                                     .add(CKA_LABEL, as_bytes(*uri.object)));
  if (!same_label) return tl::unexpected(same_label.error());
  if (!same_label->empty()) {
    auto existing = read_key_object(session, same_label->front());
    return fail(token + " already has a private key labelled '" + *uri.object + "'" +
                (existing ? " " + existing->describe() : std::string()) +
                "; choose another object= label, or delete the old key first");
  }
  auto id = unused_key_id(session, uri, token);
  if (!id) return tl::unexpected(id.error());

  const Bytes params = ec_params_for(type);
  const ByteView label = as_bytes(*uri.object);
  AttributeTemplate public_template;
  public_template.add_ulong(CKA_CLASS, CKO_PUBLIC_KEY)
      .add_ulong(CKA_KEY_TYPE, mech.key_type)
      .add_bool(CKA_TOKEN, true)
      .add_bool(CKA_PRIVATE, false)
      .add_bool(CKA_VERIFY, true)
      .add(CKA_EC_PARAMS, params)
      .add(CKA_LABEL, label)
      .add(CKA_ID, *id);
  AttributeTemplate private_template;
  private_template.add_ulong(CKA_CLASS, CKO_PRIVATE_KEY)
      .add_ulong(CKA_KEY_TYPE, mech.key_type)
      .add_bool(CKA_TOKEN, true)
      .add_bool(CKA_PRIVATE, true)
      .add_bool(CKA_SENSITIVE, true)
      .add_bool(CKA_EXTRACTABLE, false)
      .add_bool(CKA_SIGN, true)
      .add_bool(CKA_DERIVE, false)
      .add(CKA_LABEL, label)
      .add(CKA_ID, *id);
  CK_MECHANISM mechanism{mech.generate, nullptr, 0};
  CK_OBJECT_HANDLE public_half = CK_INVALID_HANDLE;
  CK_OBJECT_HANDLE private_half = CK_INVALID_HANDLE;
  CK_RV rv = session.api().C_GenerateKeyPair(session.handle(), &mechanism, public_template.data(),
                                             public_template.size(), private_template.data(),
                                             private_template.size(), &public_half, &private_half);
  if (rv != CKR_OK) {
    return rv_fail(
        token + " could not generate an " + std::string(crypto::key_type_name(type)) + " key pair",
        rv);
  }
  GeneratedObjects generated(session);
  generated.add(public_half);
  generated.add(private_half);
  KeyObject key{private_half, *uri.object, *id};
  if (auto ok = check_protected(session, key); !ok) return tl::unexpected(ok.error());
  auto details = inspect(session, key, public_half);
  if (!details) return prefixed(details.error(), "checking the generated key");
  generated.keep();
  return std::unique_ptr<TokenKey>(
      new TokenKey(Found{std::move(*connection), std::move(key), std::move(*details)}));
}

Result<std::unique_ptr<TokenKey>> TokenKey::import_private_key(const Pkcs11Uri& uri,
                                                               const crypto::PrivateKey& key,
                                                               const TokenOptions& options) {
  if (!uri.object) {
    return fail(
        "to import a key the URI needs object=<label>, the name to find it by later "
        "(e.g. pkcs11:token=<token>;object=<label>)");
  }
  if (auto ok = require_private_type(uri); !ok) return tl::unexpected(ok.error());
  auto scalar = p256_private_scalar(key);
  if (!scalar) return prefixed(scalar.error(), "importing a key");
  auto connection = connect(uri, options, /*read_write=*/true);
  if (!connection) return tl::unexpected(connection.error());
  Session& session = connection->session;
  const std::string token = "token '" + session.token().label + "'";
  const KeyType type = KeyType::ecdsa_p256;
  const Mechanisms mech = mechanisms_for(type);
  if (auto ok = require_mechanism(session, mech.sign, mech.sign_name, CKF_SIGN, type); !ok) {
    return tl::unexpected(ok.error());
  }

  const ByteView label = as_bytes(*uri.object);
  auto same_label = session.find(AttributeTemplate().add(CKA_LABEL, label));
  if (!same_label) return tl::unexpected(same_label.error());
  if (!same_label->empty()) {
    return fail(token + " already has " + std::to_string(same_label->size()) +
                " object(s) labelled '" + *uri.object +
                "'; choose another object= label, or delete them first");
  }
  auto id = unused_key_id(session, uri, token);
  if (!id) return tl::unexpected(id.error());

  const Bytes params = ec_params_for(type);
  AttributeTemplate public_template;
  public_template.add_ulong(CKA_CLASS, CKO_PUBLIC_KEY)
      .add_ulong(CKA_KEY_TYPE, mech.key_type)
      .add_bool(CKA_TOKEN, true)
      .add_bool(CKA_PRIVATE, false)
      .add_bool(CKA_VERIFY, true)
      .add(CKA_EC_PARAMS, params)
      .add(CKA_EC_POINT, ec_point_for(key.public_key().raw()))
      .add(CKA_LABEL, label)
      .add(CKA_ID, *id);
  AttributeTemplate private_template;  // wipes its copy of the scalar when it goes
  private_template.add_ulong(CKA_CLASS, CKO_PRIVATE_KEY)
      .add_ulong(CKA_KEY_TYPE, mech.key_type)
      .add_bool(CKA_TOKEN, true)
      .add_bool(CKA_PRIVATE, true)
      .add_bool(CKA_SENSITIVE, true)
      .add_bool(CKA_EXTRACTABLE, false)
      .add_bool(CKA_SIGN, true)
      .add_bool(CKA_DERIVE, false)
      .add(CKA_EC_PARAMS, params)
      .add(CKA_VALUE, scalar->view())
      .add(CKA_LABEL, label)
      .add(CKA_ID, *id);
  GeneratedObjects made(session);
  std::array<CK_OBJECT_HANDLE, 2> halves{CK_INVALID_HANDLE, CK_INVALID_HANDLE};
  std::array<const AttributeTemplate*, 2> templates{&public_template, &private_template};
  for (std::size_t i = 0; i < halves.size(); ++i) {
    CK_RV rv = session.api().C_CreateObject(session.handle(), templates[i]->data(),
                                            templates[i]->size(), &halves[i]);
    if (rv != CKR_OK) {
      return rv_fail(token + " could not store the " + (i == 0 ? "public" : "private") +
                         " half of key '" + *uri.object + "'",
                     rv);
    }
    made.add(halves[i]);
  }
  KeyObject key_object{halves[1], *uri.object, *id};
  if (auto ok = check_protected(session, key_object); !ok) return tl::unexpected(ok.error());
  auto details = inspect(session, key_object, halves[0]);
  if (!details) return prefixed(details.error(), "checking the imported key");
  const std::string description = "imported key " + key_object.describe() + " in " + token;
  const crypto::Sha256Digest challenge = crypto::sha256(as_bytes(description));
  auto signature = sign_in_token(session, key_object.handle, type, challenge, description, nullptr);
  if (!signature) return tl::unexpected(signature.error());
  if (auto ok = key.public_key().verify_digest(challenge, *signature); !ok) {
    return fail("the " + description +
                " does not sign as the key given; it was deleted from the token");
  }
  made.keep();
  return std::unique_ptr<TokenKey>(
      new TokenKey(Found{std::move(*connection), std::move(key_object), std::move(*details)}));
}

Result<Bytes> TokenKey::sign_digest(const crypto::Sha256Digest& digest) {
  Handles& h = *handles_;
  auto signature = sign_in_token(h.connection.session, h.private_key, h.type, digest, h.description,
                                 h.always_authenticate ? &h.connection.pin : nullptr);
  if (!signature) return tl::unexpected(signature.error());
  if (auto ok = public_key_.verify_digest(digest, *signature); !ok) {
    return fail("the signature made with " + h.description +
                " does not verify with its public-key object: that object belongs to another "
                "key; replace it with this key's public key");
  }
  return signature;
}

}  // namespace ironroot::keystore
