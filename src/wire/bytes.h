// Big-endian (network byte order) loads and stores of fixed-width fields.
// Every header accessor reads packet bytes through these; nothing casts a struct
// onto a buffer. Unaligned pointers are fine: these are byte-wise shifts, which
// compilers turn into a single load/store plus bswap.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sn {

inline uint8_t load8(const std::byte* p) {
  return std::to_integer<uint8_t>(p[0]);
}

inline uint16_t load16(const std::byte* p) {
  return static_cast<uint16_t>((std::to_integer<uint16_t>(p[0]) << 8) |
                               std::to_integer<uint16_t>(p[1]));
}

inline uint32_t load32(const std::byte* p) {
  return (std::to_integer<uint32_t>(p[0]) << 24) | (std::to_integer<uint32_t>(p[1]) << 16) |
         (std::to_integer<uint32_t>(p[2]) << 8) | std::to_integer<uint32_t>(p[3]);
}

inline void store8(std::byte* p, uint8_t v) {
  p[0] = std::byte{v};
}

inline void store16(std::byte* p, uint16_t v) {
  p[0] = static_cast<std::byte>(v >> 8);
  p[1] = static_cast<std::byte>(v);
}

inline void store32(std::byte* p, uint32_t v) {
  p[0] = static_cast<std::byte>(v >> 24);
  p[1] = static_cast<std::byte>(v >> 16);
  p[2] = static_cast<std::byte>(v >> 8);
  p[3] = static_cast<std::byte>(v);
}

}  // namespace sn
