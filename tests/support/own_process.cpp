#include "support/own_process.hpp"

#include <gtest/gtest.h>

#include <string>

namespace ironroot::testing {

std::optional<ProcessResult> run_in_own_process() {
  static bool process_used = false;
  if (!process_used) {
    process_used = true;
    return std::nullopt;
  }
  const ::testing::TestInfo* test = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string name = std::string(test->test_suite_name()) + "." + test->name();
  return run_process({"/proc/self/exe", "--gtest_filter=" + name});
}

}  // namespace ironroot::testing
