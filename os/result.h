#pragma once
/// \file
/// The project's one error policy. Expected failures (bad input, no such pid,
/// no permission, a malformed file) are values: a `Result<T>` holds either a
/// `T` or an `Error` whose message says what went wrong and where (source,
/// line, field). `assert` guards invariants only, never input. C++20 has no
/// std::expected; this is the small subset we need (bpftrace's result.h makes
/// the same choice). Nothing here throws.

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace vma {

/// An expected failure, with a message fit to show a user verbatim.
struct Error {
  std::string message;
};

/// Either a value or an Error. Check `ok()` (or `operator bool`) first.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Error error) : v_(std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  /// The value, or `fallback` when this holds an Error.
  T value_or(T fallback) const& { return ok() ? std::get<0>(v_) : std::move(fallback); }
  T value_or(T fallback) && { return ok() ? std::get<0>(std::move(v_)) : std::move(fallback); }

  const Error& error() const { assert(!ok()); return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

/// A Result with no value: success or an Error.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { assert(!ok_); return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

}  // namespace vma
