// For tests that need a process of their own: OpenSSL's pkcs11 engine (libp11 0.4.12) keeps its
// module initialised until the process exits, and SoftHSM2 reads its token store when it is
// initialised (docs/mqtt.md). ctest gives every test its own process; run directly, a binary runs
// the first such test itself and each further one in a child process of its own.
#pragma once

#include <optional>

#include "support/process.hpp"

namespace ironroot::testing {

// nullopt when the current test may run in this process (the first to ask); otherwise runs it
// alone in a child process (this binary, filtered to it) and returns how that ended. Call it from
// SetUp(), and report the child's verdict and skip when it returns a result.
std::optional<ProcessResult> run_in_own_process();

}  // namespace ironroot::testing
