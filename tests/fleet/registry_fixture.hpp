// A registry in a fresh temporary folder, with a clock the test moves by hand.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>

#include "ironroot/fleet/registry.hpp"
#include "support/temp_dir.hpp"

namespace ironroot::fleet::testing {

using namespace std::chrono_literals;

inline const Time kStart = std::chrono::sys_days{std::chrono::year{2026} / 3 / 14} + 9h;

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override { reopen(); }

  // Closes the registry (if open) and opens the same file again.
  void reopen() {
    registry_.reset();
    auto opened = Registry::open(path(), [this] { return now_; });
    ASSERT_TRUE(opened) << opened.error().message;
    registry_.emplace(std::move(*opened));
  }

  std::filesystem::path path() const { return dir_ / "registry.db"; }
  Registry& registry() { return *registry_; }

  // Every audit entry, oldest first.
  std::vector<AuditEntry> audit(const AuditFilter& filter = {}) {
    auto listing = registry_->list_audit(filter, Page{kMaxPageLimit, ""});
    EXPECT_TRUE(listing) << listing.error().message;
    return listing ? listing->items : std::vector<AuditEntry>{};
  }

  ironroot::testing::TempDir dir_;
  Time now_ = kStart;
  std::optional<Registry> registry_;
};

// Asserts that `result` failed with `code`; prints the value's absence or the message otherwise.
#define EXPECT_REFUSED(result, expected_code)                                                \
  do {                                                                                       \
    const auto& refused_result = (result);                                                   \
    ASSERT_FALSE(refused_result) << "expected " << registry_error_code_name(expected_code);  \
    EXPECT_EQ(refused_result.error().code, expected_code) << refused_result.error().message; \
  } while (false)

}  // namespace ironroot::fleet::testing
