// Errors as values. Every fallible operation that crosses a library boundary returns a Result.
#pragma once

#include <string>
#include <tl/expected.hpp>
#include <utility>

namespace ironroot {

// A failure a user can act on: `message` says what went wrong and, where it can, what to do
// about it ("image signed with key 3f2a..., device trusts 9c1e...").
struct Error {
  std::string message;
};

// Result<T> holds either a T or an Error (or a caller-chosen error type E).
template <class T, class E = Error>
using Result = tl::expected<T, E>;

// Status is a Result with no value: success, or why not.
using Status = Result<void>;

// Makes the error side of a Result: `return fail("slot size must be a multiple of 4");`.
inline tl::unexpected<Error> fail(std::string message) {
  return tl::unexpected<Error>(Error{std::move(message)});
}

// Prefixes an error with where it happened: `return prefixed(r.error(), "reading key.pem")`.
inline tl::unexpected<Error> prefixed(const Error& error, std::string_view context) {
  return tl::unexpected<Error>(Error{std::string(context) + ": " + error.message});
}

}  // namespace ironroot
