// The Toeplitz hash: the bitwise definition and its lookup table; see toeplitz.h.
#include "shard/toeplitz.h"

#include "base/check.h"

namespace sn {
namespace {

// The 32 key bits that start at bit `bit` (bit 0: the top bit of key[0]).
// REQUIRES: bit / 8 + 4 < key.size(), which input <= 36 bytes guarantees.
uint32_t key_window(const ToeplitzKey& key, size_t bit) {
  const size_t byte = bit / 8;
  uint64_t v = 0;  // 40 key bits from `byte` on
  for (size_t i = 0; i < 5; ++i)
    v = (v << 8) | key[byte + i];
  return static_cast<uint32_t>(v >> (8 - bit % 8));
}

}  // namespace

uint32_t toeplitz_hash(const ToeplitzKey& key, std::span<const std::byte> input) {
  SN_CHECK(input.size() <= kToeplitzMaxInput);
  uint32_t result = 0;
  for (size_t i = 0; i < input.size(); ++i) {
    for (size_t j = 0; j < 8; ++j) {
      if ((std::to_integer<uint32_t>(input[i]) & (0x80u >> j)) != 0)
        result ^= key_window(key, i * 8 + j);
    }
  }
  return result;
}

ToeplitzTable::ToeplitzTable(const ToeplitzKey& key, size_t max_input) : table_(max_input * 256) {
  SN_CHECK(max_input <= kToeplitzMaxInput);
  for (size_t pos = 0; pos < max_input; ++pos) {
    uint32_t bit_windows[8];
    for (size_t j = 0; j < 8; ++j)
      bit_windows[j] = key_window(key, pos * 8 + j);
    for (uint32_t v = 0; v < 256; ++v) {
      uint32_t h = 0;
      for (size_t j = 0; j < 8; ++j) {
        if ((v & (0x80u >> j)) != 0) h ^= bit_windows[j];
      }
      table_[pos * 256 + v] = h;
    }
  }
}

}  // namespace sn
