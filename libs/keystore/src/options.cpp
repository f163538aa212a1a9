#include "options.hpp"

#include <cstdlib>
#include <system_error>

#include "ironroot/core/file.hpp"

#ifndef IRONROOT_P11_MODULE_DIR
#define IRONROOT_P11_MODULE_DIR "/usr/lib/x86_64-linux-gnu/pkcs11"
#endif

namespace ironroot::keystore {

namespace {

constexpr std::uintmax_t kMaxPinFileSize = 4096;

std::optional<std::string> environment(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

// RFC 7512's module-name is the library's name without prefix and suffix ("softhsm2").
Result<std::filesystem::path> find_module(const std::string& name) {
  if (name.find('/') != std::string::npos) {
    return fail("module-name '" + name + "' is a name, not a path; use module-path= for a path");
  }
  const std::filesystem::path folders[] = {IRONROOT_P11_MODULE_DIR,
                                           std::filesystem::path(kDefaultModulePath).parent_path()};
  for (const auto& folder : folders) {
    for (const std::string& file : {name + ".so", "lib" + name + ".so"}) {
      std::error_code ec;
      if (std::filesystem::exists(folder / file, ec)) return folder / file;
    }
  }
  return fail("no PKCS#11 module named '" + name + "' in " + folders[0].string() + " or " +
              folders[1].string() + "; give its path with module-path= instead");
}

Result<std::string> read_pin_file(const std::string& path) {
  auto content = read_file(path, kMaxPinFileSize);
  if (!content) return prefixed(content.error(), "reading the PIN from pin-source '" + path + "'");
  std::string pin(as_chars(*content));
  if (!pin.empty() && pin.back() == '\n') pin.pop_back();
  if (!pin.empty() && pin.back() == '\r') pin.pop_back();
  if (pin.empty()) return fail("pin-source '" + path + "' is empty");
  return pin;
}

}  // namespace

Result<ResolvedOptions> resolve_options(const Pkcs11Uri& uri, const TokenOptions& options) {
  ResolvedOptions resolved;
  if (!options.module_path.empty()) {
    resolved.module_path = options.module_path;
  } else if (uri.module_path) {
    resolved.module_path = *uri.module_path;
  } else if (uri.module_name) {
    auto found = find_module(*uri.module_name);
    if (!found) return tl::unexpected(found.error());
    resolved.module_path = *found;
  } else if (auto env = environment("IRONROOT_PKCS11_MODULE")) {
    resolved.module_path = *env;
  } else {
    resolved.module_path = kDefaultModulePath;
  }

  if (options.pin) {
    resolved.pin = options.pin;
  } else if (uri.pin_value) {
    resolved.pin = uri.pin_value;
  } else if (uri.pin_source) {
    auto pin = read_pin_file(*uri.pin_source);
    if (!pin) return tl::unexpected(pin.error());
    resolved.pin = std::move(*pin);
  } else {
    resolved.pin = environment("IRONROOT_PKCS11_PIN");
  }
  return resolved;
}

Result<TokenAccess> resolve_token_access(const Pkcs11Uri& uri, const TokenOptions& options) {
  auto resolved = resolve_options(uri, options);
  if (!resolved) return tl::unexpected(resolved.error());
  return TokenAccess{std::move(resolved->module_path), std::move(resolved->pin)};
}

}  // namespace ironroot::keystore
