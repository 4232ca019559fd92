// Errors as values across API boundaries. An Error carries a code and a static
// message a person can act on; making one never allocates.
#pragma once

#include <utility>
#include <variant>

#include "base/check.h"

namespace sn {

enum class Errc {
  kInvalidArgument,
  kAddressInUse,
  kNoBuffers,
  kWouldBlock,
  kNotFound,
  kTooBig,
  kUnreachable,
  kIo,
  kClosed,
};

struct Error {
  Errc code;
  const char* message;  // static string
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Error e) : v_(e) {}                 // NOLINT
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() {
    SN_CHECK(ok());
    return std::get<0>(v_);
  }
  const T& value() const {
    SN_CHECK(ok());
    return std::get<0>(v_);
  }
  T& operator*() { return value(); }
  T* operator->() { return &value(); }
  const Error& error() const {
    SN_CHECK(!ok());
    return std::get<1>(v_);
  }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error e) : err_(e), ok_(false) {}  // NOLINT
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const {
    SN_CHECK(!ok_);
    return err_;
  }

 private:
  Error err_{};
  bool ok_ = true;
};

inline Result<void> ok() {
  return {};
}

}  // namespace sn
