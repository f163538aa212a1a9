#include "module.hpp"

#include <dlfcn.h>

#include <cstdio>
#include <map>
#include <mutex>

namespace ironroot::keystore {

namespace {

// One entry per loaded library (keyed by its dlopen handle), shared by all Modules for it.
struct Loaded {
  CK_FUNCTION_LIST* functions;
  bool initialised_here;
  std::size_t users;
};

struct Registry {
  std::mutex mutex;
  std::map<void*, Loaded> loaded;
};

// PKCS#11 initialisation is per process, so the record of it is too.
Registry& registry() {
  static Registry instance;
  return instance;
}

}  // namespace

std::string rv_name(CK_RV rv) {
  switch (rv) {
#define IRONROOT_CKR(name) \
  case name:               \
    return #name;
    IRONROOT_CKR(CKR_OK)
    IRONROOT_CKR(CKR_HOST_MEMORY)
    IRONROOT_CKR(CKR_SLOT_ID_INVALID)
    IRONROOT_CKR(CKR_GENERAL_ERROR)
    IRONROOT_CKR(CKR_FUNCTION_FAILED)
    IRONROOT_CKR(CKR_ARGUMENTS_BAD)
    IRONROOT_CKR(CKR_ATTRIBUTE_READ_ONLY)
    IRONROOT_CKR(CKR_ATTRIBUTE_SENSITIVE)
    IRONROOT_CKR(CKR_ATTRIBUTE_TYPE_INVALID)
    IRONROOT_CKR(CKR_ATTRIBUTE_VALUE_INVALID)
    IRONROOT_CKR(CKR_DEVICE_ERROR)
    IRONROOT_CKR(CKR_DEVICE_MEMORY)
    IRONROOT_CKR(CKR_DEVICE_REMOVED)
    IRONROOT_CKR(CKR_DATA_LEN_RANGE)
    IRONROOT_CKR(CKR_FUNCTION_NOT_SUPPORTED)
    IRONROOT_CKR(CKR_KEY_HANDLE_INVALID)
    IRONROOT_CKR(CKR_KEY_TYPE_INCONSISTENT)
    IRONROOT_CKR(CKR_KEY_FUNCTION_NOT_PERMITTED)
    IRONROOT_CKR(CKR_MECHANISM_INVALID)
    IRONROOT_CKR(CKR_MECHANISM_PARAM_INVALID)
    IRONROOT_CKR(CKR_OBJECT_HANDLE_INVALID)
    IRONROOT_CKR(CKR_OPERATION_ACTIVE)
    IRONROOT_CKR(CKR_OPERATION_NOT_INITIALIZED)
    IRONROOT_CKR(CKR_PIN_INCORRECT)
    IRONROOT_CKR(CKR_PIN_INVALID)
    IRONROOT_CKR(CKR_PIN_LEN_RANGE)
    IRONROOT_CKR(CKR_PIN_EXPIRED)
    IRONROOT_CKR(CKR_PIN_LOCKED)
    IRONROOT_CKR(CKR_SESSION_CLOSED)
    IRONROOT_CKR(CKR_SESSION_COUNT)
    IRONROOT_CKR(CKR_SESSION_HANDLE_INVALID)
    IRONROOT_CKR(CKR_SESSION_READ_ONLY)
    IRONROOT_CKR(CKR_SIGNATURE_INVALID)
    IRONROOT_CKR(CKR_TEMPLATE_INCOMPLETE)
    IRONROOT_CKR(CKR_TEMPLATE_INCONSISTENT)
    IRONROOT_CKR(CKR_TOKEN_NOT_PRESENT)
    IRONROOT_CKR(CKR_TOKEN_NOT_RECOGNIZED)
    IRONROOT_CKR(CKR_TOKEN_WRITE_PROTECTED)
    IRONROOT_CKR(CKR_USER_ALREADY_LOGGED_IN)
    IRONROOT_CKR(CKR_USER_NOT_LOGGED_IN)
    IRONROOT_CKR(CKR_USER_PIN_NOT_INITIALIZED)
    IRONROOT_CKR(CKR_USER_TYPE_INVALID)
    IRONROOT_CKR(CKR_DOMAIN_PARAMS_INVALID)
    IRONROOT_CKR(CKR_CURVE_NOT_SUPPORTED)
    IRONROOT_CKR(CKR_BUFFER_TOO_SMALL)
    IRONROOT_CKR(CKR_CRYPTOKI_NOT_INITIALIZED)
    IRONROOT_CKR(CKR_CRYPTOKI_ALREADY_INITIALIZED)
#undef IRONROOT_CKR
    default: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "CKR 0x%lx", static_cast<unsigned long>(rv));
      return buf;
    }
  }
}

Result<Module> Module::load(const std::filesystem::path& path) {
  Registry& reg = registry();
  std::lock_guard lock(reg.mutex);
  dlerror();  // clear any earlier error
  // RTLD_NODELETE: C_Finalize releases a module's state, but its code stays mapped after the last
  // dlclose(), so nothing it leaves behind (atexit handlers, thread-local destructors, callbacks
  // given to a libcrypto it shares with this process) can point into unmapped memory, and
  // sanitizers can still name it in leak reports at exit.
  void* library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (library == nullptr) {
    const char* why = dlerror();
    return fail("cannot load PKCS#11 module '" + path.string() +
                "': " + (why != nullptr ? why : "unknown dlopen error") +
                "; install it, or name another with module-path= in the URI or "
                "IRONROOT_PKCS11_MODULE");
  }
  if (auto it = reg.loaded.find(library); it != reg.loaded.end()) {
    dlclose(library);  // the entry already holds a reference
    ++it->second.users;
    return Module(library, it->second.functions, path);
  }

  auto close = [&](std::string message) {
    dlclose(library);
    return fail(std::move(message));
  };
  auto get_function_list =
      reinterpret_cast<CK_C_GetFunctionList>(dlsym(library, "C_GetFunctionList"));
  if (get_function_list == nullptr) {
    return close("'" + path.string() + "' is not a PKCS#11 module (it has no C_GetFunctionList)");
  }
  CK_FUNCTION_LIST* functions = nullptr;
  if (CK_RV rv = get_function_list(&functions); rv != CKR_OK || functions == nullptr) {
    return close("C_GetFunctionList of PKCS#11 module '" + path.string() +
                 "' failed: " + rv_name(rv));
  }
  CK_C_INITIALIZE_ARGS args{};
  args.flags = CKF_OS_LOCKING_OK;
  CK_RV rv = functions->C_Initialize(&args);
  if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
    return close("C_Initialize of PKCS#11 module '" + path.string() + "' failed: " + rv_name(rv) +
                 " (for SoftHSM2, check the file SOFTHSM2_CONF names and its tokendir)");
  }
  reg.loaded.emplace(library, Loaded{functions, rv == CKR_OK, 1});
  return Module(library, functions, path);
}

Module::Module(Module&& other) noexcept
    : library_(other.library_), functions_(other.functions_), path_(std::move(other.path_)) {
  other.library_ = nullptr;
}

Module::~Module() {
  if (library_ == nullptr) return;
  Registry& reg = registry();
  std::lock_guard lock(reg.mutex);
  auto it = reg.loaded.find(library_);
  if (it == reg.loaded.end() || --it->second.users > 0) return;
  if (it->second.initialised_here) it->second.functions->C_Finalize(nullptr);
  reg.loaded.erase(it);
  dlclose(library_);
}

}  // namespace ironroot::keystore
