// Runs a real program (the ironroot CLI, softhsm2-util, openssl) and captures what it printed.
#pragma once

#include <string>
#include <vector>

namespace ironroot::testing {

struct ProcessResult {
  int exit_code = -1;  // the exit status, or 128 + signal number
  std::string out;
  std::string err;
};

// Runs argv[0] (looked up in PATH when it has no '/') with the current environment plus `env`
// ("NAME=value" entries, which override), no standard input, and waits for it to end.
ProcessResult run_process(const std::vector<std::string>& argv,
                          const std::vector<std::string>& env = {});

}  // namespace ironroot::testing
