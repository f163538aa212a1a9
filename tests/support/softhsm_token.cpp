#include "support/softhsm_token.hpp"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "support/process.hpp"

namespace ironroot::testing {

SoftHsmToken::SoftHsmToken(std::string label, std::string pin, std::string so_pin)
    : label_(std::move(label)), pin_(std::move(pin)), so_pin_(std::move(so_pin)) {
  std::filesystem::create_directories(dir_ / "tokens");
  std::ofstream(conf_path()) << "directories.tokendir = " << (dir_ / "tokens").string() << "\n"
                             << "objectstore.backend = file\n"
                             << "log.level = ERROR\n";
  ::setenv("SOFTHSM2_CONF", conf_path().c_str(), 1);
  add_token(label_, pin_);
}

SoftHsmToken::~SoftHsmToken() {
  ::unsetenv("SOFTHSM2_CONF");
}

void SoftHsmToken::add_token(const std::string& label, const std::string& pin) const {
  auto r = run_process({"softhsm2-util", "--init-token", "--free", "--label", label, "--pin", pin,
                        "--so-pin", so_pin_},
                       {conf_env()});
  if (r.exit_code != 0)
    throw std::runtime_error("softhsm2-util --init-token failed: " + r.err + r.out);
}

std::string SoftHsmToken::uri(const std::string& object) const {
  return "pkcs11:token=" + label_ + ";object=" + object + "?pin-value=" + pin_;
}

}  // namespace ironroot::testing
