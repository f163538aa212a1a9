// Private to libs/keystore: a PKCS#11 module (shared library) loaded and initialised for this
// process, and CK_RV codes as text.
#pragma once

#include <p11-kit/pkcs11.h>

#include <filesystem>
#include <string>
#include <string_view>

#include "ironroot/core/result.hpp"

namespace ironroot::keystore {

// "CKR_PIN_INCORRECT", or "CKR 0x..." for a code without a name here.
std::string rv_name(CK_RV rv);

// "what: CKR_..." as an Error.
inline tl::unexpected<Error> rv_fail(std::string_view what, CK_RV rv) {
  return fail(std::string(what) + ": " + rv_name(rv));
}

// A handle on a loaded, initialised PKCS#11 module. Every Module for the same library in this
// process shares one dlopen() and one C_Initialize (with OS locking); the last one to go calls
// C_Finalize, unless something else in the process had initialised the library first
// (CKR_CRYPTOKI_ALREADY_INITIALIZED), and dlclose(); the code stays mapped (RTLD_NODELETE) until
// the process exits. Thread-safe to load and destroy.
class Module {
 public:
  // Fails with the path and dlerror() when the library cannot be loaded, and says so when it is
  // not a PKCS#11 module or its C_Initialize fails.
  static Result<Module> load(const std::filesystem::path& path);

  Module(Module&& other) noexcept;
  Module& operator=(Module&&) = delete;
  Module(const Module&) = delete;
  ~Module();

  // The module's function list. Valid as long as this Module lives.
  const CK_FUNCTION_LIST& api() const { return *functions_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  Module(void* library, CK_FUNCTION_LIST* functions, std::filesystem::path path)
      : library_(library), functions_(functions), path_(std::move(path)) {}

  void* library_;
  CK_FUNCTION_LIST* functions_;
  std::filesystem::path path_;
};

}  // namespace ironroot::keystore
