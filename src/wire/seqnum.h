// TCP sequence numbers: 32-bit values compared modulo 2^32 (RFC 9293 §3.4).
// a < b means b lies less than 2^31 ahead of a. This is not a total order, so
// there is no <=>; use the named comparisons.
#pragma once

#include <concepts>
#include <cstdint>

namespace sn {

struct SeqNum {
  uint32_t v = 0;

  // Any integral n is taken modulo 2^32, so size_t lengths and negative deltas
  // both do the right thing.
  template <std::integral T>
  constexpr SeqNum operator+(T n) const {
    return SeqNum{v + static_cast<uint32_t>(n)};
  }
  template <std::integral T>
  constexpr SeqNum operator-(T n) const {
    return SeqNum{v - static_cast<uint32_t>(n)};
  }
  template <std::integral T>
  constexpr SeqNum& operator+=(T n) {
    v += static_cast<uint32_t>(n);
    return *this;
  }
  template <std::integral T>
  constexpr SeqNum& operator-=(T n) {
    v -= static_cast<uint32_t>(n);
    return *this;
  }
  // The signed distance from o to this: positive if this is ahead of o.
  constexpr int32_t operator-(SeqNum o) const { return static_cast<int32_t>(v - o.v); }

  constexpr bool operator<(SeqNum o) const { return (*this - o) < 0; }
  constexpr bool operator<=(SeqNum o) const { return (*this - o) <= 0; }
  constexpr bool operator>(SeqNum o) const { return (*this - o) > 0; }
  constexpr bool operator>=(SeqNum o) const { return (*this - o) >= 0; }
  constexpr bool operator==(const SeqNum&) const = default;
};

// left <= s < left + len, modulo 2^32 (RFC 9293 §3.10.7.4's window test). An
// empty window holds nothing.
constexpr bool seq_in_window(SeqNum s, SeqNum left, uint32_t len) {
  return s.v - left.v < len;
}

constexpr SeqNum seq_max(SeqNum a, SeqNum b) {
  return a < b ? b : a;
}
constexpr SeqNum seq_min(SeqNum a, SeqNum b) {
  return a < b ? a : b;
}

}  // namespace sn
