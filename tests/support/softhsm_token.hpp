// A real SoftHSM2 token in a private folder, for tests of keys that live in a PKCS#11 token.
#pragma once

#include <string>

#include "support/temp_dir.hpp"

namespace ironroot::testing {

inline constexpr const char* kSoftHsmModule = "/usr/lib/softhsm/libsofthsm2.so";

// Creates the folder, a softhsm2.conf pointing at it, and an initialised token. Sets
// SOFTHSM2_CONF in this process (before any module is loaded) so that in-process PKCS#11 calls
// and child processes see only this token.
class SoftHsmToken {
 public:
  explicit SoftHsmToken(std::string label = "ironroot-test", std::string pin = "1234",
                        std::string so_pin = "12345678");
  ~SoftHsmToken();

  const std::string& label() const { return label_; }
  const std::string& pin() const { return pin_; }
  std::string conf_path() const { return (dir_ / "softhsm2.conf").string(); }
  // "SOFTHSM2_CONF=..." for child processes.
  std::string conf_env() const { return "SOFTHSM2_CONF=" + conf_path(); }
  // A pkcs11: URI for an object in this token, with the PIN.
  std::string uri(const std::string& object) const;
  // Creates one more token in the same store (SoftHSM2 always offers a free slot).
  void add_token(const std::string& label, const std::string& pin) const;

 private:
  TempDir dir_;
  std::string label_;
  std::string pin_;
  std::string so_pin_;
};

}  // namespace ironroot::testing
