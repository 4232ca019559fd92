// The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//
// All values are "the host-order uint16 of a big-endian 16-bit word": a sum or a
// checksum read with load16() from the wire, or written with store16(). Partial
// sums are folded 16-bit ones-complement sums held in a uint32_t.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>

#include "wire/address.h"

namespace sn {

// Folds a 64-bit ones-complement accumulator to 16 bits (end-around carry): the
// result is 0 only for s == 0, else s mod 0xffff in [1, 0xffff]. Each halving
// adds the two halves by adding the value to itself rotated by half its width:
// the high half of the sum is then hi + lo plus the carry out of the low half,
// which is exactly the end-around carry (RFC 1071 §2 (A), §4.1).
inline uint32_t fold_sum(uint64_t s) {
  const auto s32 = static_cast<uint32_t>((s + std::rotl(s, 32)) >> 32);
  return (s32 + std::rotl(s32, 16)) >> 16;
}

namespace checksum_detail {
// A rotation by 8 bits multiplies by 256 (mod 0xffff), which swaps the bytes of
// a folded sum. Native-order words on a little-endian machine sum the bytes at
// even offsets as low bytes, so a sum of them that starts at an even offset is
// rotated by 8 into big-endian word sense; on a big-endian machine it already is.
inline constexpr int kEvenPhaseRot = std::endian::native == std::endian::little ? 8 : 0;

// The bulk sum behind Checksum::add: s plus the bytes of data as native-order
// 64-bit words (an odd last byte padded with zero), with end-around carry; 0
// only if s and the data are. On x86-64 it chains add-with-carry instructions;
// sum_words_portable is the plain C++ version used on other machines, declared
// here so that tests run it on every machine. Both return the same value.
uint64_t sum_words(uint64_t s, std::span<const std::byte> data);
uint64_t sum_words_portable(uint64_t s, std::span<const std::byte> data);
}  // namespace checksum_detail

// Accumulates a ones-complement sum. add() may be called with pieces of any
// length, odd ones included: the byte phase is tracked, so the result equals one
// add() over the concatenation. add16/add32/add_sum add whole words in word
// sense and leave the byte phase alone (use them for pseudo-headers and fields
// that sit at even offsets).
//
// Nothing is folded before sum(). Word adds go to a plain 64-bit sum (2^32 adds
// of 32-bit values cannot overflow it; any representative mod 0xffff will do, as
// fold_sum reduces it). add() keeps a 64-bit end-around-carry sum of the data's
// native-order 64-bit words, which is the byte sum times 256 or times 1 (mod
// 0xffff) depending on the byte phase and the machine's byte order; since
// 256 * 256 == 1 (mod 0xffff), rotating it by 8 bits switches between the two.
class Checksum {
 public:
  Checksum& add(std::span<const std::byte> data);
  Checksum& add16(uint16_t word) {
    words_ += word;
    return *this;
  }
  Checksum& add32(uint32_t v) {
    words_ += v;  // == (v >> 16) + (v & 0xffff) mod 0xffff, and 0 only for 0
    return *this;
  }
  Checksum& add_sum(uint32_t partial_folded_sum) {
    words_ += partial_folded_sum;
    return *this;
  }

  // The folded 16-bit ones-complement sum. After an odd number of bytes the
  // missing last byte counts as zero (RFC 1071 §4.1 pads the same way).
  uint32_t sum() const {
    uint64_t s = std::rotl(bytes_, rot_);  // now in big-endian word sense
    s += words_;
    s += s < words_ ? 1 : 0;  // end-around carry
    return fold_sum(s);
  }
  // ~sum(): the value to store16() into a checksum field.
  uint16_t finish() const { return static_cast<uint16_t>(~sum()); }

 private:
  uint64_t bytes_ = 0;  // end-around-carry sum of the data in native word order
  uint64_t words_ = 0;  // plain sum of the big-endian-sense word adds
  // The rotation that puts bytes_ into big-endian word sense: kEvenPhaseRot
  // while the byte phase is even, the other of 0 and 8 while it is odd. add()
  // flips it (and rotates bytes_ to match) after every odd-length piece.
  int rot_ = checksum_detail::kEvenPhaseRot;
};

uint16_t internet_checksum(std::span<const std::byte> data);

// True if `data`, checksum field included, sums to 0xffff (RFC 1071 §1 (3)).
bool checksum_ok(std::span<const std::byte> data);

// The TCP/UDP pseudo-header (RFC 768; RFC 9293 §3.1): source, destination, zero,
// protocol, and the TCP/UDP length. Returns a folded partial sum.
inline uint32_t pseudo_header_sum(Ipv4Address src, Ipv4Address dst, uint8_t protocol,
                                  uint16_t length) {
  // 32-bit adds are word adds mod 0xffff (and zero only for zero).
  return fold_sum(uint64_t{src.v} + dst.v + protocol + length);
}

// RFC 1624 eqn 3: HC' = ~(~HC + ~m + m'), for a 16-bit word that changed from m
// to m'. Matches a recompute except over all-zero data (no real header), where
// it yields 0x0000 and a recompute 0xffff.
uint16_t checksum_adjust(uint16_t checksum, uint16_t old_word, uint16_t new_word);
// The same for a 32-bit field (an address), as two word updates.
uint16_t checksum_adjust32(uint16_t checksum, uint32_t old_value, uint32_t new_value);

}  // namespace sn
