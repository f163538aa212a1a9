// Small text checks the tests share.
#pragma once

#include <string>

namespace ironroot::testing {

inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace ironroot::testing
