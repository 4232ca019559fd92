// The Internet checksum, RFC 1071, summed eight bytes at a time.
//
// RFC 1071 §2 (B): the ones-complement sum is byte-order independent, so the
// bulk loop adds native-order 64-bit words with end-around carry and swaps the
// folded result to big-endian word sense once at the end (§2 (C), (D)).
#include "wire/checksum.h"

#include <bit>
#include <cstring>

#include "wire/bytes.h"

namespace sn {
namespace {

inline uint64_t load_native64(const std::byte* p) {
  uint64_t w;
  std::memcpy(&w, p, sizeof w);  // unaligned-safe
  return w;
}

// Ones-complement add: the carry out of bit 63 wraps around into bit 0.
inline uint64_t add_carry(uint64_t s, uint64_t w) {
  s += w;
  return s + (s < w ? 1 : 0);
}

// The folded sum of n bytes at p (n even or odd; an odd last byte is padded),
// in big-endian word sense.
uint32_t sum_bytes(const std::byte* p, size_t n) {
  uint64_t s = 0;
  while (n >= 32) {
    s = add_carry(s, load_native64(p));
    s = add_carry(s, load_native64(p + 8));
    s = add_carry(s, load_native64(p + 16));
    s = add_carry(s, load_native64(p + 24));
    p += 32;
    n -= 32;
  }
  while (n >= 8) {
    s = add_carry(s, load_native64(p));
    p += 8;
    n -= 8;
  }
  uint32_t folded = fold_sum(s);
  if constexpr (std::endian::native == std::endian::little) {
    folded = ((folded & 0xff) << 8) | (folded >> 8);
  }
  uint64_t tail = folded;
  while (n >= 2) {
    tail += load16(p);
    p += 2;
    n -= 2;
  }
  if (n == 1) tail += uint32_t{load8(p)} << 8;
  return fold_sum(tail);
}

}  // namespace

Checksum& Checksum::add(std::span<const std::byte> data) {
  const std::byte* p = data.data();
  size_t n = data.size();
  if (n == 0) return *this;
  if (odd_) {  // this byte completes the word whose high byte came last time
    acc_ += load8(p);
    ++p;
    --n;
  }
  acc_ += sum_bytes(p, n);
  odd_ = n % 2 != 0;  // an odd remainder leaves a high byte waiting for its pair
  return *this;
}

uint16_t internet_checksum(std::span<const std::byte> data) {
  return Checksum{}.add(data).finish();
}

bool checksum_ok(std::span<const std::byte> data) {
  return Checksum{}.add(data).sum() == 0xffff;
}

uint32_t pseudo_header_sum(Ipv4Address src, Ipv4Address dst, uint8_t protocol, uint16_t length) {
  return Checksum{}.add32(src.v).add32(dst.v).add16(protocol).add16(length).sum();
}

uint16_t checksum_adjust(uint16_t checksum, uint16_t old_word, uint16_t new_word) {
  // RFC 1624 §3, eqn 3.
  const uint64_t s =
      uint64_t{static_cast<uint16_t>(~checksum)} + static_cast<uint16_t>(~old_word) + new_word;
  return static_cast<uint16_t>(~fold_sum(s));
}

uint16_t checksum_adjust32(uint16_t checksum, uint32_t old_value, uint32_t new_value) {
  checksum = checksum_adjust(checksum, static_cast<uint16_t>(old_value >> 16),
                             static_cast<uint16_t>(new_value >> 16));
  return checksum_adjust(checksum, static_cast<uint16_t>(old_value),
                         static_cast<uint16_t>(new_value));
}

}  // namespace sn
