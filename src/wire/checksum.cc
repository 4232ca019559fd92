// The Internet checksum, RFC 1071, summed eight bytes at a time.
//
// RFC 1071 §2 (B): the ones-complement sum is byte-order independent, so the
// bulk loop adds native-order 64-bit words with end-around carry; Checksum::sum()
// rotates the result into big-endian word sense once at the end (§2 (C), (D)).
// Carries out of bit 63 are counted apart from the sum and added back once at
// the end of each piece, so nothing is folded on the way. On x86-64 the words
// of a block are one add-with-carry chain (_addcarry_u64: one adc per 8 bytes);
// elsewhere each word is an add and a compare (add, adc $0 on x86-64).
#include "wire/checksum.h"

#include <cstring>
#include <utility>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <x86intrin.h>  // _addcarry_u64: plain adc, baseline x86-64
#define SN_CHECKSUM_ADC 1
#else
#define SN_CHECKSUM_ADC 0
#endif

#include "wire/bytes.h"

namespace sn {
namespace {

inline uint64_t load_native64(const std::byte* p) {
  uint64_t w;
  std::memcpy(&w, p, sizeof w);  // unaligned-safe
  return w;
}

inline uint32_t load_native32(const std::byte* p) {
  uint32_t w;
  std::memcpy(&w, p, sizeof w);
  return w;
}

inline uint16_t load_native16(const std::byte* p) {
  uint16_t w;
  std::memcpy(&w, p, sizeof w);
  return w;
}

// s += w, counting the carry out of bit 63 in c (each one is worth 2^64 == 1
// in ones-complement arithmetic). Compiles to add, adc $0.
inline void add_word(uint64_t& s, uint64_t& c, uint64_t w) {
  s += w;
  c += s < w ? 1 : 0;
}

// Ones-complement add: the carry out of bit 63 wraps around into bit 0.
inline uint64_t add_carry(uint64_t s, uint64_t w) {
  s += w;
  return s + (s < w ? 1 : 0);
}

// Adds the K native-order words at p to s, counting carries in c. (The index
// packs unroll the loops: GCC 12 at -O2 leaves a loop over k rolled.)
template <bool kAdc, size_t... I>
inline void add_words(uint64_t& s, uint64_t& c, const std::byte* p, std::index_sequence<0, I...>) {
#if SN_CHECKSUM_ADC
  if constexpr (kAdc) {
    // One add-with-carry chain: one adc per word, and one more to count the
    // carry out of the last.
    unsigned long long r;
    unsigned char cf = _addcarry_u64(0, s, load_native64(p), &r);
    ((cf = _addcarry_u64(cf, r, load_native64(p + 8 * I), &r)), ...);
    s = r;
    c += cf;
    return;
  }
#endif
  add_word(s, c, load_native64(p));
  (add_word(s, c, load_native64(p + 8 * I)), ...);
}

template <int K, bool kAdc>
inline void add_words(uint64_t& s, uint64_t& c, const std::byte* p) {
  add_words<kAdc>(s, c, p, std::make_index_sequence<K>());
}

// s plus the n bytes at p summed as native-order 64-bit words from p (an odd
// last byte is padded with zero), with end-around carry. Zero only if s and
// the bytes are.
template <bool kAdc>
uint64_t sum_words_impl(uint64_t s, const std::byte* p, const size_t n) {
  uint64_t c = 0;
  // The last n % 8 bytes first (GCC 12 keeps the adc chains below in registers
  // this way round, and spills them to the stack the other). Only the parity
  // of a byte's offset matters (mod 0xffff), and the tail starts at an even one.
  if (const size_t r = n & 7; r != 0) {
    uint64_t tail;
    if (n >= 8) {
      // The last 8 bytes, of which the last r are new: move those to where they
      // would sit in a word loaded at p + n - r (little-endian: the top r bytes,
      // shifted down).
      const uint64_t w = load_native64(p + n - 8);
      const unsigned shift = (0 - 8 * n) & 63;  // 64 - 8 * r
      if constexpr (std::endian::native == std::endian::little) {
        tail = w >> shift;
      } else {
        tail = w << shift;
      }
    } else {
      tail = 0;  // n == r: the whole piece, from p
      if (r & 4) tail = load_native32(p);
      if (r & 2) tail += load_native16(p + (r & 4));
      if (r & 1) {
        const uint64_t last = load8(p + r - 1);
        tail += std::endian::native == std::endian::little ? last : last << 8;
      }
    }
    add_word(s, c, tail);
  }
  if (size_t m = n; m >= 128) {
    // Two sums, so that the adds form two dependency chains rather than one
    // (the flags are renamed: the second chain need not wait for the first).
    uint64_t s1 = 0;
    do {
      add_words<8, kAdc>(s, c, p);
      add_words<8, kAdc>(s1, c, p + 64);
      p += 128;
      m -= 128;
    } while (m >= 128);
    add_word(s, c, s1);
  }
  if (n & 64) {
    add_words<8, kAdc>(s, c, p);
    p += 64;
  }
  if (n & 32) {
    add_words<4, kAdc>(s, c, p);
    p += 32;
  }
  if (n & 16) {
    add_words<2, kAdc>(s, c, p);
    p += 16;
  }
  if (n & 8) add_words<1, kAdc>(s, c, p);
  return add_carry(s, c);
}

}  // namespace

namespace checksum_detail {

uint64_t sum_words(uint64_t s, std::span<const std::byte> data) {
  return sum_words_impl<true>(s, data.data(), data.size());
}

uint64_t sum_words_portable(uint64_t s, std::span<const std::byte> data) {
  return sum_words_impl<false>(s, data.data(), data.size());
}

}  // namespace checksum_detail

Checksum& Checksum::add(std::span<const std::byte> data) {
  const size_t n = data.size();
  bytes_ = sum_words_impl<true>(bytes_, data.data(), n);
  if (n % 2 != 0) {
    // The byte phase flips: the next byte pairs with this piece's last byte.
    // Rotating by 8 multiplies by 256, which is its own inverse mod 0xffff,
    // so this puts bytes_ into the native sense of the new phase.
    bytes_ = std::rotl(bytes_, 8);
    rot_ ^= 8;
  }
  return *this;
}

uint16_t internet_checksum(std::span<const std::byte> data) {
  return static_cast<uint16_t>(~fold_sum(std::rotl(
      sum_words_impl<true>(0, data.data(), data.size()), checksum_detail::kEvenPhaseRot)));
}

bool checksum_ok(std::span<const std::byte> data) {
  // 0xffff is its own byte swap, so the sum needs no rotation.
  return fold_sum(sum_words_impl<true>(0, data.data(), data.size())) == 0xffff;
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
