#pragma once
// Error handling without exceptions: a status code, and a value-or-error (SerenityOS's
// ErrorOr, Zydis' status macro).

#include <cstdint>
#include <type_traits>
#include <utility>

namespace hvlab {

/// Why an operation failed. Kept small: callers branch on it, traces print it.
enum class Error : std::uint8_t {
  none = 0,
  invalid_argument,  ///< a parameter out of its documented range
  out_of_memory,     ///< an allocator or a fixed-size table is full
  not_found,         ///< no mapping, device or entry for the key
  already_exists,    ///< a range overlaps an existing one
  unsupported,       ///< valid, but not modelled (an access width, a mode)
  fault,             ///< the access would fault (not present, protection)
};

/// A printable name for an Error, for traces and test messages.
constexpr const char* error_name(Error e) {
  switch (e) {
    case Error::none: return "none";
    case Error::invalid_argument: return "invalid_argument";
    case Error::out_of_memory: return "out_of_memory";
    case Error::not_found: return "not_found";
    case Error::already_exists: return "already_exists";
    case Error::unsupported: return "unsupported";
    case Error::fault: return "fault";
  }
  return "?";
}

/// Either a T or an Error. T must be default-constructible and trivially copyable enough for
/// kernels; no allocation, no exceptions.
template <typename T>
class [[nodiscard]] Result {
 public:
  constexpr Result(T value) : value_(std::move(value)), error_(Error::none) {}  // NOLINT: implicit by design
  constexpr Result(Error e) : value_(), error_(e) {}                          // NOLINT
  constexpr bool ok() const { return error_ == Error::none; }
  constexpr explicit operator bool() const { return ok(); }
  constexpr Error error() const { return error_; }
  constexpr T& value() { return value_; }
  constexpr const T& value() const { return value_; }
  constexpr T value_or(T fallback) const { return ok() ? value_ : fallback; }

 private:
  T value_;
  Error error_;
};

/// Result<void>: only a status.
template <>
class [[nodiscard]] Result<void> {
 public:
  constexpr Result() : error_(Error::none) {}
  constexpr Result(Error e) : error_(e) {}  // NOLINT
  constexpr bool ok() const { return error_ == Error::none; }
  constexpr explicit operator bool() const { return ok(); }
  constexpr Error error() const { return error_; }

 private:
  Error error_;
};

using Status = Result<void>;

}  // namespace hvlab

/// Evaluate an expression yielding a Result; return its error from the caller on failure.
#define HV_TRY(expr)                          \
  do {                                        \
    auto hv_try_r_ = (expr);                  \
    if (!hv_try_r_.ok()) return hv_try_r_.error(); \
  } while (0)
