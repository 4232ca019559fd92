// The dispatcher's frame path and its compiled select lists; see dispatcher.h.
#include "shard/dispatcher.h"

#include <algorithm>
#include <bit>
#include <optional>

#include "base/check.h"
#include "wire/bytes.h"
#include "wire/ethernet.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"

namespace sn {
namespace {

constexpr size_t idx(SteerField f) {
  return static_cast<size_t>(f);
}
constexpr size_t idx(TrafficClass c) {
  return static_cast<size_t>(c);
}

// murmur3's fmix32 (Appleby, MurmurHash3.cpp): a bijection on 32 bits whose
// every input bit reaches every output bit.
constexpr uint32_t fmix32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x85ebca6bu;
  x ^= x >> 13;
  x *= 0xc2b2ae35u;
  x ^= x >> 16;
  return x;
}

constexpr TrafficClass class_of_protocol(uint8_t protocol) {
  if (protocol == kIpProtoTcp) return TrafficClass::kTcp;
  if (protocol == kIpProtoUdp) return TrafficClass::kUdp;
  return TrafficClass::kOtherIp;
}

// ICMP types whose body quotes a datagram we sent (RFC 792): its flow's errors.
constexpr bool is_icmp_error(uint8_t type) {
  return type == kIcmpDestUnreachable || type == 4 /* source quench */ ||
         type == kIcmpTimeExceeded || type == 12 /* parameter problem */;
}

// What an ICMP error's quote says about the datagram it is about. Ports are 0
// for protocols other than TCP and UDP and for a non-first fragment.
struct Quoted {
  uint8_t protocol;
  Ipv4Address src, dst;
  L4Port sport, dport;
};

// The quoted datagram of `icmp` (an ICMP message, from its type on), if it is
// an error whose quote holds a whole IPv4 header and, for TCP or UDP at offset
// 0, the ports. Ipv4View::parse() would refuse most quotes, whose total length
// counts bytes that were not quoted, so the fields are read by bounds-checked
// loads at their RFC 791 §3.1 offsets.
std::optional<Quoted> quoted_datagram(std::span<const std::byte> icmp) {
  if (icmp.size() < IcmpHeader::kSize + kIpv4MinHeaderSize) return std::nullopt;
  if (!is_icmp_error(load8(icmp.data()))) return std::nullopt;
  const std::span<const std::byte> q = icmp.subspan(IcmpHeader::kSize);
  const uint8_t vihl = load8(q.data());
  const size_t header_length = size_t{vihl & 0x0fu} * 4;
  if ((vihl >> 4) != 4 || header_length < kIpv4MinHeaderSize || q.size() < header_length) {
    return std::nullopt;
  }
  Quoted d{load8(q.data() + 9), Ipv4Address::load(q.data() + 12), Ipv4Address::load(q.data() + 16),
           L4Port(0), L4Port(0)};
  const bool first_fragment = (load16(q.data() + 6) & 0x1fff) == 0;
  if ((d.protocol == kIpProtoTcp || d.protocol == kIpProtoUdp) && first_fragment) {
    // RFC 1122 §3.2.2: at least 8 bytes of data, so the ports, unless cut short.
    if (q.size() < header_length + 4) return std::nullopt;
    d.sport = L4Port(load16(q.data() + header_length));
    d.dport = L4Port(load16(q.data() + header_length + 2));
  }
  return d;
}

// The default table: kDefaultTableSize entries, or the next power of two at or
// above `shards` if that is larger; entry i = i % shards.
std::vector<uint32_t> default_table(uint32_t shards) {
  const size_t size = std::max<size_t>(kDefaultTableSize, std::bit_ceil(size_t{shards}));
  std::vector<uint32_t> t(size);
  for (size_t i = 0; i < size; ++i)
    t[i] = static_cast<uint32_t>(i % shards);
  return t;
}

// The longest hash input over the lists: what the Toeplitz table must cover.
size_t max_input(const SteerConfig& config) {
  size_t longest = 0;
  for (const auto& list : config.selects) {
    size_t n = 0;
    for (const Select& s : list)
      n += steer_field_width(s.field);
    longest = std::max(longest, n);
  }
  return longest;
}

// `config`, once it is known to be usable: before the members are built from it.
const SteerConfig& checked(const SteerConfig& config, uint32_t shards) {
  SN_CHECK(config.validate(shards).ok());
  return config;
}

}  // namespace

Dispatcher::Dispatcher(const SteerConfig& config, uint32_t shards)
    : config_(checked(config, shards)),
      shards_(shards),
      table_(config.table.empty() ? default_table(shards) : config.table),
      toeplitz_(config.key, config.hash == SteerHash::kToeplitz ? max_input(config) : 0) {
  if (table_.size() > 1 && std::has_single_bit(table_.size()))
    table_mask_ = static_cast<uint32_t>(table_.size() - 1);
  for (size_t c = 0; c < kTrafficClassCount; ++c) {
    Program& p = programs_[c];
    for (const Select& s : config.selects[c]) {
      // validate(): each field at most once, so at most 6 steps and 15 bytes.
      const auto width = static_cast<uint8_t>(steer_field_width(s.field));
      p.steps[p.count++] = Step{s.field, width, p.length, s.mask};
      p.length = static_cast<uint8_t>(p.length + width);
    }
    SN_CHECK(p.length <= kMaxInput);
  }
}

uint32_t Dispatcher::hash_fields(TrafficClass c, const Fields& f) const {
  const Program& p = programs_[idx(c)];
  std::array<std::byte, kMaxInput> in{};
  for (uint8_t i = 0; i < p.count; ++i) {
    const Step& s = p.steps[i];
    const uint32_t v = f[idx(s.field)] & s.mask;
    std::byte* out = in.data() + s.offset;
    switch (s.width) {
      case 1:
        store8(out, static_cast<uint8_t>(v));
        break;
      case 2:
        store16(out, static_cast<uint16_t>(v));
        break;
      default:
        store32(out, v);
        break;
    }
  }
  if (config_.hash == SteerHash::kToeplitz) return toeplitz_.hash(std::span(in).first(p.length));
  // The XOR fold: the zero padding past p.length adds nothing.
  const std::byte* w = in.data();
  return fmix32(load32(w) ^ load32(w + 4) ^ load32(w + 8) ^ load32(w + 12));
}

SteerDecision Dispatcher::decide(std::span<const std::byte> frame) const {
  SteerDecision d;
  auto eth = EthernetView::parse(frame);
  if (!eth.ok() || eth->ethertype() != kEtherTypeIpv4) return d;

  const std::span<const std::byte> bytes = eth->payload();
  Fields f{};
  d.kind = SteerDecision::Kind::kIpv4;
  auto ip = Ipv4View::parse(bytes);
  if (ip.ok()) {
    f[idx(SteerField::kSrcIp)] = ip->src().v;
    f[idx(SteerField::kDstIp)] = ip->dst().v;
    f[idx(SteerField::kProtocol)] = ip->protocol();
    f[idx(SteerField::kIpId)] = ip->id();
    if (ip->is_fragment()) {
      d.cls = TrafficClass::kFragment;
    } else {
      if (ip->protocol() == kIpProtoIcmp) {
        // An error goes where its flow's packets arrive: from the quoted
        // destination to the quoted source (see "ICMP errors" in the header).
        if (const std::optional<Quoted> q = quoted_datagram(ip->payload())) {
          d.cls = TrafficClass::kOtherIp;  // the frame's class, not the quote's
          d.by_quote = true;
          d.hash = hash_of_tuple(q->protocol, q->dst, q->dport, q->src, q->sport);
          d.shard = shard_of_hash(d.hash);
          return d;
        }
      }
      d.cls = class_of_protocol(ip->protocol());
      if (d.cls != TrafficClass::kOtherIp) {
        // Both TCP and UDP begin with the source and destination ports.
        const std::span<const std::byte> l4 = ip->payload();
        if (l4.size() >= 4) {
          f[idx(SteerField::kSrcPort)] = load16(l4.data());
          f[idx(SteerField::kDstPort)] = load16(l4.data() + 2);
          d.dst_port = L4Port(load16(l4.data() + 2));
        } else {
          d.kind = SteerDecision::Kind::kMalformedIpv4;
        }
      }
    }
  } else {
    d.kind = SteerDecision::Kind::kMalformedIpv4;
    d.cls = TrafficClass::kOtherIp;
    if (bytes.size() < kIpv4MinHeaderSize) {
      d.shard = 0;
      return d;
    }
    // RFC 791 §3.1 offsets; nothing past the fixed 20 bytes is trusted.
    f[idx(SteerField::kSrcIp)] = load32(bytes.data() + 12);
    f[idx(SteerField::kDstIp)] = load32(bytes.data() + 16);
    f[idx(SteerField::kProtocol)] = load8(bytes.data() + 9);
    f[idx(SteerField::kIpId)] = load16(bytes.data() + 4);
  }
  d.hash = hash_fields(d.cls, f);
  d.shard = shard_of_hash(d.hash);
  return d;
}

uint32_t Dispatcher::hash_of_tuple(uint8_t protocol, Ipv4Address src, L4Port sport, Ipv4Address dst,
                                   L4Port dport) const {
  Fields f{};
  f[idx(SteerField::kSrcIp)] = src.v;
  f[idx(SteerField::kDstIp)] = dst.v;
  f[idx(SteerField::kProtocol)] = protocol;
  const TrafficClass c = class_of_protocol(protocol);
  if (c != TrafficClass::kOtherIp) {
    f[idx(SteerField::kSrcPort)] = sport.v;
    f[idx(SteerField::kDstPort)] = dport.v;
  }
  return hash_fields(c, f);
}

std::string Dispatcher::describe() const {
  std::string out = config_.describe();
  out += "; " + std::to_string(shards_) + (shards_ == 1 ? " shard, " : " shards, ");
  out += std::to_string(table_.size()) + " table entries";
  if (config_.table.empty()) out += " (entry i = i % " + std::to_string(shards_) + ")";
  return out;
}

}  // namespace sn
