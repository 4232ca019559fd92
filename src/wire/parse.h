// The outcome of parsing a header: a view or value, or the reason the bytes were
// refused. A value type with no allocation; a parser checks bounds once, so an
// ok() result's accessors cannot fail.
#pragma once

#include <cstdint>
#include <utility>
#include <variant>

#include "base/check.h"

namespace sn {

enum class ParseError : uint8_t {
  kTruncated,        // fewer bytes than the header (or a field) says are there
  kBadVersion,       // IP version field is not ours
  kBadHeaderLength,  // header length field below the minimum (IHL < 5, data offset < 5)
  kBadTotalLength,   // IPv4 total length below the header or past the bytes received
  kBadLength,        // a UDP length field below 8 or past the bytes received
  kBadOption,        // an IPv4 or TCP option is malformed
  kUnsupported,      // well-formed but not something we handle (802.3 frame, ARP for IPv6...)
};

const char* to_string(ParseError e);

template <typename V>
class [[nodiscard]] Parsed {
 public:
  Parsed(V value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Parsed(ParseError e) : v_(e) {}            // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  V& value() {
    SN_CHECK(ok());
    return *std::get_if<0>(&v_);
  }
  const V& value() const {
    SN_CHECK(ok());
    return *std::get_if<0>(&v_);
  }
  V& operator*() { return value(); }
  const V& operator*() const { return value(); }
  V* operator->() { return &value(); }
  const V* operator->() const { return &value(); }

  ParseError error() const {
    SN_CHECK(!ok());
    return *std::get_if<1>(&v_);
  }

 private:
  std::variant<V, ParseError> v_;
};

}  // namespace sn
