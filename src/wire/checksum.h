// The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//
// All values are "the host-order uint16 of a big-endian 16-bit word": a sum or a
// checksum read with load16() from the wire, or written with store16(). Partial
// sums are folded 16-bit ones-complement sums held in a uint32_t.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "wire/address.h"

namespace sn {

// Accumulates a ones-complement sum. add() may be called with pieces of any
// length, odd ones included: the byte phase is tracked, so the result equals one
// add() over the concatenation. add16/add32/add_sum add whole words in word
// sense and leave the byte phase alone (use them for pseudo-headers and fields
// that sit at even offsets).
class Checksum {
 public:
  Checksum& add(std::span<const std::byte> data);
  Checksum& add16(uint16_t word) {
    acc_ += word;
    return *this;
  }
  Checksum& add32(uint32_t v) {
    acc_ += (v >> 16) + (v & 0xffff);
    return *this;
  }
  Checksum& add_sum(uint32_t partial_folded_sum) {
    acc_ += partial_folded_sum;
    return *this;
  }

  // The folded 16-bit ones-complement sum. After an odd number of bytes the
  // missing last byte counts as zero (RFC 1071 §4.1 pads the same way).
  uint32_t sum() const;
  // ~sum(): the value to store16() into a checksum field.
  uint16_t finish() const { return static_cast<uint16_t>(~sum()); }

 private:
  uint64_t acc_ = 0;  // unfolded sum of big-endian-sense words
  bool odd_ = false;  // an odd number of bytes has been added: next byte is a low byte
};

// Folds a 64-bit ones-complement accumulator to 16 bits (end-around carry).
inline uint32_t fold_sum(uint64_t s) {
  s = (s & 0xffffffff) + (s >> 32);
  s = (s & 0xffffffff) + (s >> 32);
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  return static_cast<uint32_t>(s);
}

inline uint32_t Checksum::sum() const {
  return fold_sum(acc_);
}

uint16_t internet_checksum(std::span<const std::byte> data);

// True if `data`, checksum field included, sums to 0xffff (RFC 1071 §1 (3)).
bool checksum_ok(std::span<const std::byte> data);

// The TCP/UDP pseudo-header (RFC 768; RFC 9293 §3.1): source, destination, zero,
// protocol, and the TCP/UDP length. Returns a folded partial sum.
uint32_t pseudo_header_sum(Ipv4Address src, Ipv4Address dst, uint8_t protocol, uint16_t length);

// RFC 1624 eqn 3: HC' = ~(~HC + ~m + m'), for a 16-bit word that changed from m
// to m'. Matches a recompute except over all-zero data (no real header), where
// it yields 0x0000 and a recompute 0xffff.
uint16_t checksum_adjust(uint16_t checksum, uint16_t old_word, uint16_t new_word);
// The same for a 32-bit field (an address), as two word updates.
uint16_t checksum_adjust32(uint16_t checksum, uint32_t old_value, uint32_t new_value);

}  // namespace sn
