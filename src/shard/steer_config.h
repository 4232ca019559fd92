// What the dispatcher hashes and how: the patent's programmable select and mask
// registers as a value. Per traffic class, a list of (header field, bit mask)
// selects; a hash (the patent's XOR fold, or RSS Toeplitz with a key); an
// indirection table from hash to shard. Set from the command line with
// `--steer SPEC`, shown by `shardnet stats` with describe().
//
// SPEC is a comma-separated list of KEY=VALUE items, applied in order over the
// defaults (a later item replaces an earlier one with the same key):
//
//   hash=toeplitz | xor          the hash (default toeplitz)
//   key=HEX                      the 40-byte Toeplitz key: 80 hex digits, ':'
//                                between bytes allowed (ethtool -x prints it so)
//   tcp=FIELDS                   what TCP segments hash on
//   udp=FIELDS                   what UDP datagrams hash on
//   frag=FIELDS                  what IPv4 fragments (MF set or offset != 0) hash on
//   other=FIELDS                 what the rest of IPv4 (ICMP...) hashes on
//   table=N,N,...                the indirection table: shard numbers, 1 to 4096
//                                of them; the numbers after table= run up to the
//                                next KEY=VALUE item
//
//   FIELDS = none | FIELD[MASK]+FIELD[MASK]+...   (hashed in the order given)
//   FIELD  = src-ip | dst-ip | proto | ip-id | src-port | dst-port
//   MASK   = /LEN  keep the top LEN bits of the field (0..32 for an address,
//                  0..16 for a port or ip-id, 0..8 for proto)
//          | :HEX  AND the field with HEX (up to 0xffffffff for an address,
//                  0xffff for a port or ip-id, 0xff for proto)
//
// Defaults, as describe() prints them:
//   hash=toeplitz,tcp=src-ip+dst-ip+src-port+dst-port,
//   udp=src-ip+dst-ip+src-port+dst-port,frag=src-ip+dst-ip+proto+ip-id,
//   other=src-ip+dst-ip
// with the RSS default key and a table of 128 entries, entry i = i % shards.
//
// Example: all hosts of a /24 to one shard, by the XOR fold, on 4 shards of
// which shard 3 takes twice the share:
//   --steer hash=xor,tcp=src-ip/24,udp=src-ip/24,table=0,1,2,3,3
//
// Rules (parse() and validate() refuse the rest, saying which): ip-id only in
// frag (it changes packet to packet, so a flow would have no one owner); no
// ports in frag (only the first fragment carries them) nor in other (ICMP has
// none); a field at most once per list.
//
// With the default lists, Toeplitz over tcp and other is exactly RSS's "IPv4
// with TCP" and "IPv4" hash types, so with the same key and an equal table the
// dispatcher agrees with a NIC's RSS queue choice. (A NIC hashes UDP and
// fragments on its own terms; the dispatcher forwards what lands elsewhere.)
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "shard/toeplitz.h"

namespace sn {

enum class SteerField : uint8_t { kSrcIp, kDstIp, kProtocol, kIpId, kSrcPort, kDstPort };
inline constexpr size_t kSteerFieldCount = 6;

// Bytes the field takes in the hash input, in network byte order.
constexpr size_t steer_field_width(SteerField f) {
  switch (f) {
    case SteerField::kSrcIp:
    case SteerField::kDstIp:
      return 4;
    case SteerField::kProtocol:
      return 1;
    case SteerField::kIpId:
    case SteerField::kSrcPort:
    case SteerField::kDstPort:
      return 2;
  }
  return 0;
}

// Every bit of the field.
constexpr uint32_t steer_field_full_mask(SteerField f) {
  const size_t bits = steer_field_width(f) * 8;
  return bits >= 32 ? 0xffffffffu : (uint32_t{1} << bits) - 1;
}

const char* to_string(SteerField f);  // "src-ip", as in SPEC

struct Select {
  SteerField field;
  uint32_t mask;  // applied to the field's value; bits above its width must be 0

  bool operator==(const Select&) const = default;
};

enum class TrafficClass : uint8_t {
  kTcp,       // TCP, not a fragment
  kUdp,       // UDP, not a fragment
  kFragment,  // any IPv4 fragment: MF set or offset != 0
  kOtherIp,   // the rest of IPv4: ICMP, other protocols
};
inline constexpr size_t kTrafficClassCount = 4;

const char* to_string(TrafficClass c);  // "tcp", "udp", "frag", "other", as in SPEC

enum class SteerHash : uint8_t {
  kXorFold,   // the patent's fold; see Dispatcher
  kToeplitz,  // RSS
};

// The table when none is given: 128 entries (as most NICs' RSS tables), or the
// next power of two at or above the shard count if that is larger; entry i =
// i % shards, as Linux's default (ethtool_rxfh_indir_default).
inline constexpr size_t kDefaultTableSize = 128;
inline constexpr size_t kMaxTableSize = 4096;

struct SteerConfig {
  using SelectList = std::vector<Select>;

  SteerHash hash = SteerHash::kToeplitz;
  ToeplitzKey key = kRssDefaultKey;
  std::array<SelectList, kTrafficClassCount> selects = default_selects();
  std::vector<uint32_t> table;  // empty: the default table for the shard count

  SelectList& selects_for(TrafficClass c) { return selects[static_cast<size_t>(c)]; }
  const SelectList& selects_for(TrafficClass c) const { return selects[static_cast<size_t>(c)]; }

  static std::array<SelectList, kTrafficClassCount> default_selects();

  // The defaults with SPEC applied (see the top of this file). "" gives the
  // defaults. On bad input the Error's message says what is wrong.
  static Result<SteerConfig> parse(std::string_view spec);

  // Whether a dispatcher over `shards` shards can use this: the rules above
  // (for configs built in code), and every table entry below `shards`.
  Result<void> validate(uint32_t shards) const;

  // A SPEC that parse() turns back into this config: the hash and all four
  // lists always, the key and the table when they are not the defaults.
  std::string describe() const;

  bool operator==(const SteerConfig&) const = default;
};

}  // namespace sn
