// The Toeplitz hash of Receive Side Scaling (Microsoft, "RSS hashing
// functions"), in software, so a shard computes the same value a NIC's RSS
// would for the same key and input: where hardware steering is missing or
// wrong, the dispatcher still agrees with it.
//
// The input is a byte string (for IPv4 + TCP: source address, destination
// address, source port, destination port, each in network byte order). For each
// input bit, from the most significant bit of input[0] onwards, that is set,
// the result is XORed with the 32 key bits that start at the same bit position.
// A 40-byte key covers inputs of up to 36 bytes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace sn {

using ToeplitzKey = std::array<uint8_t, 40>;

// The 32-bit window must stay inside the key: 320 - 32 bits of input.
inline constexpr size_t kToeplitzMaxInput = 36;

// The key of Microsoft's RSS verification suite, which most NIC drivers (and
// DPDK) use by default. Linux chooses a random key at boot; this one makes the
// engine's hashes comparable with published vectors and with NICs set to it.
inline constexpr ToeplitzKey kRssDefaultKey = {
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
    0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
    0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
};

// The definition, bit by bit: the reference the table below is tested against.
// REQUIRES: input.size() <= kToeplitzMaxInput.
uint32_t toeplitz_hash(const ToeplitzKey& key, std::span<const std::byte> input);

// The same hash by table lookup: the hash is linear (XOR) in the input bits,
// so each input byte position contributes table[position][byte value]
// independently. One lookup per input byte; 1 KiB of table per position.
class ToeplitzTable {
 public:
  // REQUIRES: max_input <= kToeplitzMaxInput.
  ToeplitzTable(const ToeplitzKey& key, size_t max_input);

  size_t max_input() const { return table_.size() / 256; }

  // REQUIRES: input.size() <= max_input().
  uint32_t hash(std::span<const std::byte> input) const {
    uint32_t h = 0;
    const uint32_t* row = table_.data();
    for (std::byte b : input) {
      h ^= row[std::to_integer<uint8_t>(b)];
      row += 256;
    }
    return h;
  }

 private:
  std::vector<uint32_t> table_;  // [position * 256 + byte value]
};

}  // namespace sn
