// The one file that uses OpenSSL's ENGINE API, deprecated in OpenSSL 3 but the only way Debian
// 12's libp11 (0.4.12, engine only) offers token keys to TLS. Compiled with
// OPENSSL_SUPPRESS_DEPRECATED (see CMakeLists.txt).
#include "engine_key.hpp"

#include <openssl/engine.h>

#include <mutex>

namespace ironroot::mqtt {

struct EngineBinding {
  ENGINE* engine;  // a functional reference (ENGINE_init)
  std::string module_path;

  EngineBinding(ENGINE* e, std::string module) : engine(e), module_path(std::move(module)) {}
  EngineBinding(const EngineBinding&) = delete;
  EngineBinding& operator=(const EngineBinding&) = delete;
  ~EngineBinding() { ENGINE_finish(engine); }
};

namespace {

constexpr const char* kEngineId = "pkcs11";

// OpenSSL keeps one engine list per process, and libp11 loads its module once per engine: so
// ironroot keeps one binding per process, shared by every EngineKey, and serialises loads (the
// PIN is an engine-wide setting).
std::mutex& engine_mutex() {
  static std::mutex mutex;
  return mutex;
}
std::weak_ptr<EngineBinding>& current_binding() {
  static std::weak_ptr<EngineBinding> binding;
  return binding;
}

struct EngineRef {
  ENGINE* engine = nullptr;  // a structural reference
  ~EngineRef() {
    if (engine != nullptr) ENGINE_free(engine);
  }
};

Result<std::shared_ptr<EngineBinding>> bind_engine(const std::string& module_path) {
  if (auto existing = current_binding().lock()) {
    if (existing->module_path != module_path) {
      return fail("the PKCS#11 engine of this process serves module '" + existing->module_path +
                  "' and cannot also serve '" + module_path +
                  "' (OpenSSL's engine binds one module per process); use keys of one module");
    }
    return existing;
  }
  EngineRef ref{ENGINE_by_id(kEngineId)};
  if (ref.engine == nullptr) {
    return openssl_fail(
        "OpenSSL cannot load its 'pkcs11' engine, needed for keys in a token (install Debian's "
        "libengine-pkcs11-openssl)");
  }
  if (ENGINE_ctrl_cmd_string(ref.engine, "MODULE_PATH", module_path.c_str(), 0) != 1) {
    return openssl_fail("the pkcs11 engine refused module '" + module_path + "'");
  }
  if (ENGINE_init(ref.engine) != 1) {
    return openssl_fail("the pkcs11 engine cannot start with module '" + module_path + "'");
  }
  auto binding = std::make_shared<EngineBinding>(ref.engine, module_path);
  current_binding() = binding;
  return binding;
}

// The URI libp11 is given: path attributes only (libp11 0.4.12 does not know every query
// attribute), always type=private. The PIN goes through the engine's PIN control instead.
std::string engine_uri(const keystore::Pkcs11Uri& uri) {
  keystore::Pkcs11Uri path = uri;
  path.pin_value.reset();
  path.pin_source.reset();
  path.module_path.reset();
  path.module_name.reset();
  path.type = "private";
  return path.to_string();
}

}  // namespace

Result<EngineKey> EngineKey::load(const keystore::Pkcs11Uri& uri,
                                  const keystore::TokenOptions& options) {
  if (uri.type && *uri.type != "private") {
    return fail("TLS needs the private key: the URI selects type=" + *uri.type);
  }
  if (!uri.object && !uri.id) {
    return fail("the key URI needs object= or id= to name the key in the token");
  }
  auto access = keystore::resolve_token_access(uri, options);
  if (!access) return tl::unexpected(access.error());
  if (!access->pin) {
    return fail("the token key " + uri.to_string() +
                " needs the token's user PIN: give it with pin-value= or pin-source= in the URI, "
                "or set IRONROOT_PKCS11_PIN");
  }
  std::lock_guard lock(engine_mutex());
  auto binding = bind_engine(access->module_path.string());
  if (!binding) return tl::unexpected(binding.error());
  ENGINE* engine = (*binding)->engine;
  ERR_clear_error();
  if (ENGINE_ctrl_cmd_string(engine, "PIN", access->pin->c_str(), 0) != 1) {
    return openssl_fail("the pkcs11 engine refused the PIN");
  }
  const std::string name = engine_uri(uri);
  UniquePkey pkey(ENGINE_load_private_key(engine, name.c_str(), nullptr, nullptr));
  if (!pkey) {
    return openssl_fail("the pkcs11 engine cannot load private key " + name + " from module '" +
                        access->module_path.string() + "'");
  }
  return EngineKey(std::move(*binding), std::move(pkey));
}

EngineKey::EngineKey(std::shared_ptr<EngineBinding> binding, UniquePkey pkey)
    : binding_(std::move(binding)), pkey_(std::move(pkey)) {}
EngineKey::EngineKey(EngineKey&&) noexcept = default;

EngineKey::~EngineKey() {
  if (!pkey_ && !binding_) return;  // moved from (as in load(), which holds the lock)
  // The key goes first, and under the lock: releasing the last binding finishes the engine,
  // which must not race with another thread binding it again.
  std::lock_guard lock(engine_mutex());
  pkey_.reset();
  binding_.reset();
}

}  // namespace ironroot::mqtt
