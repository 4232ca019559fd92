// SipHash-2-4: two compression rounds per 8-byte word, four finalization rounds
// (the paper's §2, "Specification of SipHash").
#include "tcp/siphash.h"

#include <bit>

namespace sn {
namespace {

// Little-endian load of n <= 8 bytes; bytes past n read as zero.
uint64_t load_le(const std::byte* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i)
    v |= std::to_integer<uint64_t>(p[i]) << (8 * i);
  return v;
}

uint64_t load_le(const uint8_t* p) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i)
    v |= uint64_t{p[i]} << (8 * i);
  return v;
}

struct SipState {
  uint64_t v0, v1, v2, v3;

  // SipRound (paper §2, Figure 2).
  void round() {
    v0 += v1;
    v1 = std::rotl(v1, 13);
    v1 ^= v0;
    v0 = std::rotl(v0, 32);
    v2 += v3;
    v3 = std::rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = std::rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = std::rotl(v1, 17);
    v1 ^= v2;
    v2 = std::rotl(v2, 32);
  }

  // Compression: c = 2 rounds per message word.
  void absorb(uint64_t m) {
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  }
};

}  // namespace

uint64_t siphash24(const SipKey& key, std::span<const std::byte> data) {
  const uint64_t k0 = load_le(key.data());
  const uint64_t k1 = load_le(key.data() + 8);
  // Initialization: the constants spell "somepseudorandomlygeneratedbytes".
  SipState s{k0 ^ 0x736f6d6570736575ULL, k1 ^ 0x646f72616e646f6dULL, k0 ^ 0x6c7967656e657261ULL,
             k1 ^ 0x7465646279746573ULL};

  const size_t n = data.size();
  const std::byte* p = data.data();
  const size_t whole = n - n % 8;
  for (size_t i = 0; i < whole; i += 8)
    s.absorb(load_le(p + i, 8));
  // The last word holds the 0..7 remaining bytes and, in its top byte, the
  // message length mod 256.
  s.absorb(load_le(p + whole, n % 8) | (uint64_t{static_cast<uint8_t>(n)} << 56));

  // Finalization: d = 4 rounds.
  s.v2 ^= 0xff;
  s.round();
  s.round();
  s.round();
  s.round();
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

}  // namespace sn
