// Helpers shared by the wire tests: byte spans over literal fixtures, and
// readable gtest output for parse errors and addresses.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <span>
#include <vector>

#include "wire/address.h"
#include "wire/parse.h"
#include "wire/seqnum.h"

namespace sn {

template <size_t N>
std::span<const std::byte> as_span(const uint8_t (&a)[N]) {
  return std::as_bytes(std::span<const uint8_t, N>(a));
}

template <size_t N>
std::vector<std::byte> to_vec(const uint8_t (&a)[N]) {
  auto s = as_span(a);
  return {s.begin(), s.end()};
}

inline std::vector<std::byte> to_vec(std::span<const std::byte> s) {
  return {s.begin(), s.end()};
}

inline void PrintTo(ParseError e, std::ostream* os) {
  *os << to_string(e);
}
inline void PrintTo(const MacAddress& m, std::ostream* os) {
  *os << m.to_string();
}
inline void PrintTo(const Ipv4Address& a, std::ostream* os) {
  *os << a.to_string();
}
inline void PrintTo(const L4Port& p, std::ostream* os) {
  *os << p.v;
}
inline void PrintTo(const SeqNum& s, std::ostream* os) {
  *os << s.v;
}

}  // namespace sn
