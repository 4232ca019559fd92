// The dispatcher: the patent's queue/dispatch logic (mask and select
// registers, a hash, a table from hash to processor) as a pure function from a
// received frame to the shard that owns it. It keeps no state past its config,
// so every shard may hold its own copy and ask it from its own thread.
//
// A frame is read once: Ethernet (up to two VLAN tags) and IPv4 through the
// wire views, then the ports (the first four bytes of a TCP or UDP header) by
// bounds-checked loads. Its traffic class picks a compiled select list; the
// selected fields, masked, are laid end to end in network byte order (the
// "hash input", at most 15 bytes); the hash of that input indexes the table.
//
// The hashes of the input:
//   Toeplitz   RSS's hash with the configured key (toeplitz.h), one table
//              lookup per input byte.
//   XOR fold   the patent's fold: the input, zero-padded to 16 bytes, is read
//              as four big-endian 32-bit words, which are XORed into one; that
//              word then goes through murmur3's 32-bit finalizer
//                x ^= x >> 16; x *= 0x85ebca6b; x ^= x >> 13;
//                x *= 0xc2b2ae35; x ^= x >> 16;
//              The table uses the low bits, and the fold alone leaves them
//              blind to the high half of each word: the default 4-tuple puts
//              the source port in bits 31..16 of the third word, so all of one
//              client's connections to one server would land on one entry. The
//              finalizer is a bijection (xor-shifts and odd multipliers), so it
//              adds no collisions to the fold's and lets every bit of the fold
//              reach the low bits. What still collides is what the fold makes
//              equal: inputs whose words XOR to the same value (two flows whose
//              addresses differ by the same XOR in source and destination).
// Table index: hash & (size - 1) when the size is a power of two (the low bits,
// as a NIC indexes its RSS table), else hash % size.
//
// Directions: neither hash is symmetric. A TCP connection's two directions
// generally hash to different shards; only the arriving direction matters, as
// a shard sees its own side's segments arrive. shard_of_connection() asks it
// from the local side, for active opens that pick a local port which hashes
// back to the opening shard.
//
// ICMP errors. An ICMP error -- destination unreachable (3), source quench
// (4), time exceeded (11), parameter problem (12) -- quotes the IPv4 header
// and at least the first 8 bytes of data of a datagram this host sent (RFC
// 792; RFC 1122 §3.2.2 asks for at least 8 and allows more, and RFC 1812
// §4.3.2.3 has routers quote as much as fits in 576 bytes). It concerns that
// datagram's flow, which the quote names: the datagram went from us (quoted
// source address and port) to the peer (quoted destination), and the flow's
// packets arrive from the peer. So the error is hashed exactly as such an
// arriving packet, on the quote's fields with the directions swapped:
//   hash_of_tuple(quoted protocol, quoted dst, quoted dport, quoted src, quoted sport)
// (the class and select list of the quoted protocol; ports 0 for a protocol
// other than TCP or UDP, and for a quoted non-first fragment, which has none).
// Then the shard that owns a connection sees the errors about it (RFC 1122
// §4.2.3.9; RFC 1191 for fragmentation needed), whichever router sent them.
// This applies to an unfragmented ICMP error whose quote holds a whole IPv4
// header (version 4, IHL >= 5, IHL*4 bytes quoted; its total length may exceed
// the quote) and, for TCP or UDP at offset 0, the 4 port bytes after it.
// Anything else -- echo and the other types, a shorter quote, a fragmented
// error -- hashes on the outer header as other IPv4 (or a fragment) does.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "shard/steer_config.h"
#include "shard/toeplitz.h"
#include "wire/address.h"

namespace sn {

// A frame that is not IPv4 (ARP, IPv6, an unparseable Ethernet header): no
// shard owns it; the engine handles it where it arrived.
inline constexpr uint32_t kAnyShard = 0xffffffff;

struct SteerDecision {
  enum class Kind : uint8_t {
    kNotIpv4,        // shard is kAnyShard, cls and hash mean nothing
    kIpv4,           // read in full
    kMalformedIpv4,  // see Dispatcher::decide
  };
  Kind kind = Kind::kNotIpv4;
  // The frame's own class. An ICMP error steered by its quote is kOtherIp
  // with by_quote set: its hash is made by the quoted protocol's list (see
  // "ICMP errors" above), but its bytes are ICMP, not that protocol's.
  TrafficClass cls = TrafficClass::kOtherIp;
  bool by_quote = false;  // an ICMP error hashed as the flow it quotes
  uint32_t hash = 0;
  uint32_t shard = kAnyShard;
  L4Port dst_port{0};  // TCP or UDP read in full (kIpv4): the destination port
};

class Dispatcher {
 public:
  // REQUIRES: config.validate(shards).ok().
  Dispatcher(const SteerConfig& config, uint32_t shards);

  uint32_t shards() const { return shards_; }
  const SteerConfig& config() const { return config_; }
  std::span<const uint32_t> table() const { return table_; }

  // Which shard owns a received frame (from its Ethernet header on), and why.
  // Never fails and never allocates. Beside the plain cases:
  //  - Ethernet unparseable or not IPv4: kNotIpv4, kAnyShard.
  //  - IPv4 the view refuses, with 20 header bytes present: kMalformedIpv4,
  //    hashed as kOtherIp on the addresses and protocol at their fixed offsets
  //    (so garbage spreads over the shards rather than piling on one); under
  //    20 bytes: kMalformedIpv4, shard 0, hash 0.
  //  - TCP or UDP (not a fragment) with fewer than 4 payload bytes:
  //    kMalformedIpv4, hashed with both ports 0.
  //  - An ICMP error with a usable quote: kIpv4, kOtherIp, by_quote, hashed
  //    as the quoted flow's arriving packets (see "ICMP errors" above).
  // The owning shard's stack then drops and counts what is malformed.
  SteerDecision decide(std::span<const std::byte> frame) const;
  uint32_t shard_of_frame(std::span<const std::byte> frame) const { return decide(frame).shard; }
  uint32_t hash_of_frame(std::span<const std::byte> frame) const { return decide(frame).hash; }

  // The shard (hash) of an arriving, unfragmented packet with these fields:
  // exactly what decide() computes for such a frame. TCP (6) and UDP (17) use
  // their lists; any other protocol uses other's, and its ports are ignored.
  uint32_t shard_of_tuple(uint8_t protocol, Ipv4Address src, L4Port sport, Ipv4Address dst,
                          L4Port dport) const {
    return shard_of_hash(hash_of_tuple(protocol, src, sport, dst, dport));
  }
  uint32_t hash_of_tuple(uint8_t protocol, Ipv4Address src, L4Port sport, Ipv4Address dst,
                         L4Port dport) const;

  // The transport owner of a datagram reassembled from fragments (which met
  // on the shard of the frag list): the shard its unfragmented twin goes to.
  uint32_t shard_of_datagram(Ipv4Address src, Ipv4Address dst, uint8_t protocol, L4Port sport,
                             L4Port dport) const {
    return shard_of_tuple(protocol, src, sport, dst, dport);
  }

  // Where segments of a connection arrive, asked from this host's side: the
  // peer's packets come from (remote, rport) to (local, lport). If the tcp list
  // selects no port bits, no choice of lport moves a connection, and a shard
  // that no table entry names owns no connection at all: a port search must
  // bound its tries.
  uint32_t shard_of_connection(uint8_t protocol, Ipv4Address local, L4Port lport,
                               Ipv4Address remote, L4Port rport) const {
    return shard_of_tuple(protocol, remote, rport, local, lport);
  }

  uint32_t shard_of_hash(uint32_t hash) const {
    return table_[table_mask_ != 0 ? hash & table_mask_ : hash % table_.size()];
  }

  // For `shardnet stats`: the config as a --steer SPEC, then the table in use.
  std::string describe() const;

 private:
  // One select, compiled: where its masked value goes in the hash input.
  struct Step {
    SteerField field;
    uint8_t width;   // bytes
    uint8_t offset;  // in the hash input
    uint32_t mask;
  };
  // A traffic class's list, compiled.
  struct Program {
    std::array<Step, kSteerFieldCount> steps{};
    uint8_t count = 0;
    uint8_t length = 0;  // bytes of hash input, at most 15
  };
  using Fields = std::array<uint32_t, kSteerFieldCount>;  // by SteerField

  static constexpr size_t kMaxInput = 16;  // 15 rounded up to whole words for the fold

  uint32_t hash_fields(TrafficClass c, const Fields& f) const;

  SteerConfig config_;
  uint32_t shards_;
  std::array<Program, kTrafficClassCount> programs_;
  std::vector<uint32_t> table_;
  uint32_t table_mask_ = 0;  // size - 1 for a power-of-two size above 1, else 0
  ToeplitzTable toeplitz_;
};

}  // namespace sn
