// Tests of the dispatcher on hand-built frames: RSS agreement end to end, VLAN
// tags, fragments meeting on one shard, masks, the indirection table, the tuple
// and connection paths agreeing with the frame path, the spread of both hashes,
// ICMP errors steered to the flow they quote, and frames that are short, lying
// or garbage.
#include "shard/dispatcher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "base/rng.h"
#include "wire/bytes.h"
#include "wire/checksum.h"
#include "wire/ethernet.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"
#include "wire/tcp.h"
#include "wire/udp.h"
#include "wire/wire_testing.h"

namespace sn {
namespace {

using Bytes = std::vector<std::byte>;

constexpr Ipv4Address ip(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return Ipv4Address::from_octets(a, b, c, d);
}

SteerConfig config(std::string_view spec) {
  auto r = SteerConfig::parse(spec);
  EXPECT_TRUE(r.ok()) << spec << ": " << r.error().message;
  return r.ok() ? *r : SteerConfig{};
}

// ---- Building frames ---------------------------------------------------------

// An Ethernet frame around `payload` with 0..3 VLAN tags (an 802.1ad S-tag
// outside, 802.1Q C-tags inside), zero-padded to the 60-byte minimum.
Bytes ether(uint16_t ethertype, std::span<const std::byte> payload, int tags = 0) {
  Bytes f(12 + 4 * tags + 2);
  MacAddress{{0x02, 0, 0, 0, 0, 0x01}}.store(f.data());
  MacAddress{{0x02, 0, 0, 0, 0, 0x02}}.store(f.data() + 6);
  for (int i = 0; i < tags; ++i) {
    store16(f.data() + 12 + 4 * i, i == 0 && tags > 1 ? kEtherTypeQinQ : kEtherTypeVlan);
    store16(f.data() + 14 + 4 * i, static_cast<uint16_t>(100 + i));
  }
  store16(f.data() + 12 + 4 * tags, ethertype);
  f.insert(f.end(), payload.begin(), payload.end());
  if (f.size() < kEthernetMinFrameSize) f.resize(kEthernetMinFrameSize);
  return f;
}

struct Ip {
  Ipv4Address src, dst;
  uint8_t protocol = kIpProtoTcp;
  uint16_t id = 0x1234;
  bool mf = false;
  uint16_t offset = 0;  // bytes, a multiple of 8
};

// An IPv4 datagram (20-byte header, checksum right) around `payload`.
Bytes ipv4(const Ip& f, std::span<const std::byte> payload) {
  Ipv4Header h;
  h.src = f.src;
  h.dst = f.dst;
  h.protocol = f.protocol;
  h.id = f.id;
  h.mf = f.mf;
  h.fragment_offset = f.offset;
  h.total_length = static_cast<uint16_t>(Ipv4Header::kSize + payload.size());
  Bytes d(Ipv4Header::kSize);
  h.emit(d);
  d.insert(d.end(), payload.begin(), payload.end());
  return d;
}

Bytes tcp_segment(Ipv4Address src, L4Port sport, Ipv4Address dst, L4Port dport) {
  TcpHeader h;
  h.src_port = sport;
  h.dst_port = dport;
  h.seq = SeqNum{1000};
  h.flags = kTcpSyn;
  h.window = 65535;
  Bytes s(h.size());
  h.emit(s, src, dst, 0, 0);
  return s;
}

// A UDP datagram with `payload_len` zero bytes of payload.
Bytes udp_datagram(Ipv4Address src, L4Port sport, Ipv4Address dst, L4Port dport,
                   size_t payload_len = 0) {
  UdpHeader h;
  h.src_port = sport;
  h.dst_port = dport;
  h.length = static_cast<uint16_t>(UdpHeader::kSize + payload_len);
  Bytes d(UdpHeader::kSize + payload_len);
  h.emit(d, src, dst, 0);
  return d;
}

Bytes tcp_frame(Ipv4Address src, L4Port sport, Ipv4Address dst, L4Port dport, int tags = 0) {
  return ether(kEtherTypeIpv4, ipv4({src, dst, kIpProtoTcp}, tcp_segment(src, sport, dst, dport)),
               tags);
}

Bytes udp_frame(Ipv4Address src, L4Port sport, Ipv4Address dst, L4Port dport, int tags = 0) {
  return ether(kEtherTypeIpv4, ipv4({src, dst, kIpProtoUdp}, udp_datagram(src, sport, dst, dport)),
               tags);
}

// An ICMP echo request (type 8) as the payload; the dispatcher reads none of it.
Bytes icmp_frame(Ipv4Address src, Ipv4Address dst) {
  const Bytes echo = {std::byte{8}, std::byte{0}, std::byte{0}, std::byte{0},
                      std::byte{0}, std::byte{1}, std::byte{0}, std::byte{1}};
  return ether(kEtherTypeIpv4, ipv4({src, dst, kIpProtoIcmp}, echo));
}

// An ICMP message (type, code, rest) from `from` to `to` with `body` after its
// 8-byte header, checksum right: for an error, `body` is the quote.
Bytes icmp_message_frame(Ipv4Address from, Ipv4Address to, const IcmpHeader& h,
                         std::span<const std::byte> body, int tags = 0) {
  Bytes m(IcmpHeader::kSize);
  h.emit(m, Checksum{}.add(body).sum());
  m.insert(m.end(), body.begin(), body.end());
  return ether(kEtherTypeIpv4, ipv4({from, to, kIpProtoIcmp}, m), tags);
}

// The frames of `transport` (a whole TCP segment or UDP datagram) sent as
// fragments of at most `piece` payload bytes each (a multiple of 8).
std::vector<Bytes> fragments(const Ip& base, const Bytes& transport, size_t piece) {
  std::vector<Bytes> out;
  for (size_t off = 0; off < transport.size(); off += piece) {
    const size_t n = std::min(piece, transport.size() - off);
    Ip f = base;
    f.offset = static_cast<uint16_t>(off);
    f.mf = off + n < transport.size();
    out.push_back(ether(kEtherTypeIpv4, ipv4(f, std::span(transport).subspan(off, n))));
  }
  return out;
}

struct Tuple {
  Ipv4Address src, dst;
  L4Port sport, dport;
};

Tuple random_tuple(Rng& rng) {
  return {Ipv4Address(static_cast<uint32_t>(rng.next())),
          Ipv4Address(static_cast<uint32_t>(rng.next())), L4Port(static_cast<uint16_t>(rng.next())),
          L4Port(static_cast<uint16_t>(rng.next()))};
}

// ---- RSS agreement -----------------------------------------------------------

// The IPv4 table of Microsoft's "Verifying the RSS Hash Calculation"
// (learn.microsoft.com/windows-hardware/drivers/network/verifying-the-rss-hash-
// calculation), also the Intel 82599 datasheet's RSS Verification Suite
// (7.1.2.8.3); toeplitz_test.cc checks the hash itself against it.
struct RssVector {
  Ipv4Address src;
  uint16_t sport;
  Ipv4Address dst;
  uint16_t dport;
  uint32_t ipv4, ipv4_tcp;
};
const RssVector kRssVectors[] = {
    {ip(66, 9, 149, 187), 2794, ip(161, 142, 100, 80), 1766, 0x323e8fc2, 0x51ccc178},
    {ip(199, 92, 111, 2), 14230, ip(65, 69, 140, 83), 4739, 0xd718262a, 0xc626b0ea},
    {ip(24, 19, 198, 95), 12898, ip(12, 22, 207, 184), 38024, 0xd2d0a5de, 0x5c2b394a},
    {ip(38, 27, 205, 30), 48228, ip(209, 142, 163, 6), 2217, 0x82989176, 0xafc7327f},
    {ip(153, 39, 163, 191), 44251, ip(202, 188, 127, 2), 1303, 0x5d1809c5, 0x10e828a2},
};

TEST(DispatcherTest, DefaultsAgreeWithRssOnWholeFrames) {
  const Dispatcher d(SteerConfig{}, 4);
  for (const RssVector& v : kRssVectors) {
    const L4Port sp(v.sport), dp(v.dport);
    const SteerDecision t = d.decide(tcp_frame(v.src, sp, v.dst, dp));
    EXPECT_EQ(t.kind, SteerDecision::Kind::kIpv4);
    EXPECT_EQ(t.cls, TrafficClass::kTcp);
    EXPECT_EQ(t.hash, v.ipv4_tcp);
    // A NIC with the same key and a default 128-entry table picks this queue.
    EXPECT_EQ(t.shard, (v.ipv4_tcp & 127) % 4);
    EXPECT_EQ(d.hash_of_frame(udp_frame(v.src, sp, v.dst, dp)), v.ipv4_tcp);
    const SteerDecision i = d.decide(icmp_frame(v.src, v.dst));
    EXPECT_EQ(i.cls, TrafficClass::kOtherIp);
    EXPECT_EQ(i.hash, v.ipv4);
  }
}

TEST(DispatcherTest, VlanTagsDoNotChangeTheShard) {
  const Dispatcher d(SteerConfig{}, 8);
  Rng rng(3);
  for (int i = 0; i < 200; ++i) {
    const Tuple t = random_tuple(rng);
    const uint32_t h = d.hash_of_frame(tcp_frame(t.src, t.sport, t.dst, t.dport));
    EXPECT_EQ(d.hash_of_frame(tcp_frame(t.src, t.sport, t.dst, t.dport, 1)), h);
    EXPECT_EQ(d.hash_of_frame(tcp_frame(t.src, t.sport, t.dst, t.dport, 2)), h);
  }
  // Three tags are more than EthernetView takes: not something any shard owns.
  EXPECT_EQ(d.shard_of_frame(tcp_frame(ip(1, 2, 3, 4), L4Port(1), ip(5, 6, 7, 8), L4Port(2), 3)),
            kAnyShard);
}

TEST(DispatcherTest, NonIpv4GoesToAnyShard) {
  const Dispatcher d(SteerConfig{}, 4);
  const Bytes arp_body(28);
  EXPECT_EQ(d.shard_of_frame(ether(kEtherTypeArp, arp_body)), kAnyShard);
  EXPECT_EQ(d.shard_of_frame(ether(kEtherTypeArp, arp_body, 1)), kAnyShard);
  EXPECT_EQ(d.shard_of_frame(ether(0x86dd, Bytes(40))), kAnyShard);  // IPv6
  EXPECT_EQ(d.shard_of_frame(ether(0x0040, Bytes(64))), kAnyShard);  // an 802.3 length
  EXPECT_EQ(d.shard_of_frame({}), kAnyShard);
  EXPECT_EQ(d.shard_of_frame(Bytes(13)), kAnyShard);
  const SteerDecision s = d.decide(ether(kEtherTypeArp, arp_body));
  EXPECT_EQ(s.kind, SteerDecision::Kind::kNotIpv4);
}

// ---- The XOR fold --------------------------------------------------------------

uint32_t fmix32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x85ebca6bu;
  x ^= x >> 13;
  x *= 0xc2b2ae35u;
  x ^= x >> 16;
  return x;
}

TEST(DispatcherTest, XorFoldIsTheDocumentedFormula) {
  const Dispatcher d(config("hash=xor"), 4);
  Rng rng(5);
  for (int i = 0; i < 1000; ++i) {
    const Tuple t = random_tuple(rng);
    // tcp: src-ip, dst-ip, src-port + dst-port: three words.
    const uint32_t fold = t.src.v ^ t.dst.v ^ (uint32_t{t.sport.v} << 16 | t.dport.v);
    EXPECT_EQ(d.hash_of_frame(tcp_frame(t.src, t.sport, t.dst, t.dport)), fmix32(fold));
    // frag: src-ip, dst-ip, then proto and ip-id in the top three bytes of the third word.
    const uint16_t id = static_cast<uint16_t>(rng.next());
    const Bytes frag = ether(kEtherTypeIpv4, ipv4({t.src, t.dst, kIpProtoUdp, id, true, 0},
                                                  udp_datagram(t.src, t.sport, t.dst, t.dport)));
    EXPECT_EQ(d.hash_of_frame(frag),
              fmix32(t.src.v ^ t.dst.v ^ (uint32_t{kIpProtoUdp} << 24 | uint32_t{id} << 8)));
  }
  // Fixed, so that a change to the fold shows here: it moves every flow.
  EXPECT_EQ(d.hash_of_tuple(kIpProtoTcp, ip(66, 9, 149, 187), L4Port(2794), ip(161, 142, 100, 80),
                            L4Port(1766)),
            fmix32(0x420995bbu ^ 0xa18e6450u ^ 0x0aea06e6u));
}

TEST(DispatcherTest, BothHashesAreDeterministic) {
  for (const char* spec : {"hash=xor", "hash=toeplitz"}) {
    const Dispatcher a(config(spec), 4), b(config(spec), 4);
    Rng rng(9);
    for (int i = 0; i < 500; ++i) {
      const Tuple t = random_tuple(rng);
      const Bytes f = tcp_frame(t.src, t.sport, t.dst, t.dport);
      EXPECT_EQ(a.decide(f).hash, a.decide(f).hash);
      EXPECT_EQ(a.decide(f).hash, b.decide(f).hash);
    }
  }
}

// Chi-square of `counts` against a uniform spread: for a uniform hash it is
// about the degrees of freedom (buckets - 1), with a standard deviation of
// sqrt(2 * dof). The bound is six of those above.
void expect_uniform(const std::vector<uint64_t>& counts, const char* what) {
  uint64_t total = 0;
  for (uint64_t c : counts)
    total += c;
  const double expected = static_cast<double>(total) / static_cast<double>(counts.size());
  double chi2 = 0;
  for (uint64_t c : counts)
    chi2 += (static_cast<double>(c) - expected) * (static_cast<double>(c) - expected) / expected;
  const double dof = static_cast<double>(counts.size() - 1);
  EXPECT_LT(chi2, dof + 6 * std::sqrt(2 * dof)) << what;
}

TEST(DispatcherTest, XorFoldSpreadsOverPowerOfTwoTables) {
  const Dispatcher d(config("hash=xor"), 1);
  for (uint32_t size : {128u, 1024u}) {
    std::vector<uint64_t> random(size), one_client(size), one_subnet(size);
    Rng rng(size);
    for (int i = 0; i < 100000; ++i) {
      const Tuple t = random_tuple(rng);
      ++random[d.hash_of_tuple(kIpProtoTcp, t.src, t.sport, t.dst, t.dport) & (size - 1)];
    }
    // One client's ephemeral ports to one server: only bits 31..16 of the
    // third word change, which the table index would not see without the mix.
    const Ipv4Address client = ip(10, 0, 0, 2), server = ip(10, 0, 0, 1);
    for (uint32_t port = 1024; port < 65536; ++port) {
      ++one_client[d.hash_of_tuple(kIpProtoTcp, client, L4Port(static_cast<uint16_t>(port)), server,
                                   L4Port(80)) &
                   (size - 1)];
    }
    // A /16 of clients, one port each, to one server.
    for (uint32_t host = 0; host < 65536; ++host) {
      ++one_subnet[d.hash_of_tuple(kIpProtoTcp, Ipv4Address(0x0a010000u | host), L4Port(40000),
                                   server, L4Port(443)) &
                   (size - 1)];
    }
    expect_uniform(random, "random tuples");
    expect_uniform(one_client, "one client's ports");
    expect_uniform(one_subnet, "a /16 of clients");
  }
  // The fold alone would put all of one client's connections on one entry.
  std::set<uint32_t> raw_entries;
  for (uint32_t port = 1024; port < 65536; ++port)
    raw_entries.insert((0x0a000002u ^ 0x0a000001u ^ (port << 16 | 80)) & 127);
  EXPECT_EQ(raw_entries.size(), 1u);
}

// ---- Spread over shards --------------------------------------------------------

TEST(DispatcherTest, RandomTuplesSpreadEvenlyOverFourShards) {
  for (const char* spec : {"hash=xor", "hash=toeplitz"}) {
    const Dispatcher d(config(spec), 4);
    for (uint8_t protocol : {kIpProtoTcp, kIpProtoUdp}) {
      std::array<uint64_t, 4> count{};
      Rng rng(protocol);
      for (int i = 0; i < 100000; ++i) {
        const Tuple t = random_tuple(rng);
        ++count[d.shard_of_tuple(protocol, t.src, t.sport, t.dst, t.dport)];
      }
      for (uint64_t c : count) {
        EXPECT_GE(c, 23750u) << spec;  // 25000 +- 5%
        EXPECT_LE(c, 26250u) << spec;
      }
    }
  }
}

TEST(DispatcherTest, OneClientsPortsSpreadEvenlyOverFourShards) {
  for (const char* spec : {"hash=xor", "hash=toeplitz"}) {
    const Dispatcher d(config(spec), 4);
    std::array<uint64_t, 4> count{};
    for (uint32_t port = 10000; port < 60000; ++port) {
      ++count[d.shard_of_tuple(kIpProtoTcp, ip(192, 168, 1, 20),
                               L4Port(static_cast<uint16_t>(port)), ip(192, 168, 1, 1),
                               L4Port(80))];
    }
    for (uint64_t c : count) {
      EXPECT_GE(c, 11875u) << spec;  // 12500 +- 5%
      EXPECT_LE(c, 13125u) << spec;
    }
  }
}

// ---- Fragments -----------------------------------------------------------------

TEST(DispatcherTest, AllFragmentsOfADatagramMeetOnOneShard) {
  for (const char* spec : {"", "hash=xor"}) {
    const Dispatcher d(config(spec), 4);
    Rng rng(21);
    std::array<uint64_t, 4> per_shard{};
    for (int i = 0; i < 500; ++i) {
      const Tuple t = random_tuple(rng);
      const bool tcp = i % 2 == 0;
      const uint8_t protocol = tcp ? kIpProtoTcp : kIpProtoUdp;
      Bytes transport = tcp ? tcp_segment(t.src, t.sport, t.dst, t.dport)
                            : udp_datagram(t.src, t.sport, t.dst, t.dport, 3000);
      if (tcp) transport.resize(3000);  // a segment with payload
      const Ip base{t.src, t.dst, protocol, static_cast<uint16_t>(rng.next())};
      const std::vector<Bytes> pieces = fragments(base, transport, 1480);
      ASSERT_EQ(pieces.size(), 3u);
      const SteerDecision first = d.decide(pieces[0]);  // carries the ports
      EXPECT_EQ(first.cls, TrafficClass::kFragment);
      for (const Bytes& p : pieces) {
        const SteerDecision s = d.decide(p);
        EXPECT_EQ(s.kind, SteerDecision::Kind::kIpv4);
        EXPECT_EQ(s.cls, TrafficClass::kFragment);
        EXPECT_EQ(s.shard, first.shard) << spec << " datagram " << i;
      }
      ++per_shard[first.shard];
      // Reassembled, it belongs to the shard its unfragmented twin goes to.
      const uint32_t owner = d.shard_of_datagram(t.src, t.dst, protocol, t.sport, t.dport);
      const Bytes whole = ether(kEtherTypeIpv4, ipv4(base, transport));
      EXPECT_EQ(owner, d.shard_of_frame(whole));
    }
    for (uint64_t c : per_shard)
      EXPECT_GT(c, 80u) << spec;  // datagrams spread too: 125 expected each
  }
}

// ---- Masks and the table ---------------------------------------------------------

TEST(DispatcherTest, PrefixMaskMakesASubnetCollide) {
  for (const char* spec :
       {"tcp=src-ip/24+dst-ip+dst-port", "hash=xor,tcp=src-ip:ffffff00+dst-ip+dst-port"}) {
    const Dispatcher d(config(spec), 8);
    Rng rng(4);
    std::set<uint32_t> same_subnet, subnets;
    for (uint32_t host = 1; host < 255; ++host) {
      const L4Port sport(static_cast<uint16_t>(rng.next()));  // not selected: no effect
      same_subnet.insert(d.hash_of_frame(
          tcp_frame(ip(10, 1, 2, static_cast<uint8_t>(host)), sport, ip(10, 9, 9, 9), L4Port(80))));
      subnets.insert(d.hash_of_frame(
          tcp_frame(ip(10, 1, static_cast<uint8_t>(host), 7), sport, ip(10, 9, 9, 9), L4Port(80))));
    }
    EXPECT_EQ(same_subnet.size(), 1u) << spec;
    EXPECT_EQ(subnets.size(), 254u) << spec;
  }
}

TEST(DispatcherTest, PortMaskCollidesOnlyTheMaskedBits) {
  const Dispatcher d(config("udp=src-ip+dst-ip+src-port:ff00+dst-port"), 4);
  std::set<uint32_t> low_byte, high_byte;
  for (uint16_t b = 0; b < 256; ++b) {
    low_byte.insert(d.hash_of_tuple(kIpProtoUdp, ip(1, 1, 1, 1), L4Port(0x4100 | b), ip(2, 2, 2, 2),
                                    L4Port(53)));
    high_byte.insert(d.hash_of_tuple(kIpProtoUdp, ip(1, 1, 1, 1),
                                     L4Port(static_cast<uint16_t>(b << 8 | 0x41)), ip(2, 2, 2, 2),
                                     L4Port(53)));
  }
  EXPECT_EQ(low_byte.size(), 1u);
  EXPECT_EQ(high_byte.size(), 256u);
}

TEST(DispatcherTest, TableMapsAsConfigured) {
  {
    const Dispatcher d(config("table=0,1,1,0"), 2);
    ASSERT_EQ(d.table().size(), 4u);
    Rng rng(8);
    std::array<uint64_t, 2> count{};
    for (int i = 0; i < 10000; ++i) {
      const Tuple t = random_tuple(rng);
      const SteerDecision s = d.decide(udp_frame(t.src, t.sport, t.dst, t.dport));
      const uint32_t want = (s.hash & 3) == 1 || (s.hash & 3) == 2 ? 1 : 0;
      EXPECT_EQ(s.shard, want);
      ++count[s.shard];
    }
    EXPECT_GT(count[0], 4500u);
    EXPECT_GT(count[1], 4500u);
  }
  {
    // Not a power of two: hash % size.
    const Dispatcher d(config("hash=xor,table=2,0,1"), 3);
    Rng rng(10);
    for (int i = 0; i < 1000; ++i) {
      const Tuple t = random_tuple(rng);
      const uint32_t h = d.hash_of_tuple(kIpProtoTcp, t.src, t.sport, t.dst, t.dport);
      EXPECT_EQ(d.shard_of_tuple(kIpProtoTcp, t.src, t.sport, t.dst, t.dport),
                (std::array<uint32_t, 3>{2, 0, 1})[h % 3]);
    }
  }
  {
    // One entry: every IPv4 frame to shard 3, whatever its class.
    const Dispatcher d(config("table=3"), 4);
    EXPECT_EQ(d.shard_of_frame(tcp_frame(ip(1, 2, 3, 4), L4Port(5), ip(6, 7, 8, 9), L4Port(10))),
              3u);
    EXPECT_EQ(d.shard_of_frame(icmp_frame(ip(1, 2, 3, 4), ip(6, 7, 8, 9))), 3u);
    EXPECT_EQ(d.shard_of_frame(ether(kEtherTypeArp, Bytes(28))), kAnyShard);
  }
}

TEST(DispatcherTest, DefaultTable) {
  const Dispatcher three(SteerConfig{}, 3);
  ASSERT_EQ(three.table().size(), kDefaultTableSize);
  for (size_t i = 0; i < three.table().size(); ++i)
    EXPECT_EQ(three.table()[i], i % 3);
  const Dispatcher many(SteerConfig{}, 200);
  ASSERT_EQ(many.table().size(), 256u);
  EXPECT_EQ(many.table()[199], 199u);
  EXPECT_EQ(many.table()[200], 0u);
  const Dispatcher one(SteerConfig{}, 1);
  EXPECT_EQ(one.shard_of_frame(tcp_frame(ip(1, 2, 3, 4), L4Port(5), ip(6, 7, 8, 9), L4Port(10))),
            0u);
}

// ---- The tuple, datagram and connection paths ----------------------------------

TEST(DispatcherTest, TuplePathAgreesWithFramePath) {
  for (const char* spec :
       {"", "hash=xor", "tcp=dst-port+src-ip/20,udp=src-port:0ff0+dst-ip+proto,table=0,2,1",
        "hash=xor,tcp=none,udp=dst-ip,other=proto+src-ip/8"}) {
    const Dispatcher d(config(spec), 3);
    Rng rng(17);
    for (int i = 0; i < 2000; ++i) {
      const Tuple t = random_tuple(rng);
      const int tags = static_cast<int>(rng.below(3));
      EXPECT_EQ(d.shard_of_frame(tcp_frame(t.src, t.sport, t.dst, t.dport, tags)),
                d.shard_of_tuple(kIpProtoTcp, t.src, t.sport, t.dst, t.dport))
          << spec;
      EXPECT_EQ(d.hash_of_frame(udp_frame(t.src, t.sport, t.dst, t.dport, tags)),
                d.hash_of_tuple(kIpProtoUdp, t.src, t.sport, t.dst, t.dport))
          << spec;
      EXPECT_EQ(d.shard_of_frame(udp_frame(t.src, t.sport, t.dst, t.dport)),
                d.shard_of_datagram(t.src, t.dst, kIpProtoUdp, t.sport, t.dport))
          << spec;
      // Other protocols hash without ports, whatever ports the caller passes.
      EXPECT_EQ(d.hash_of_frame(icmp_frame(t.src, t.dst)),
                d.hash_of_tuple(kIpProtoIcmp, t.src, t.sport, t.dst, t.dport))
          << spec;
    }
  }
}

TEST(DispatcherTest, DirectionsNeedNotMatch) {
  // Neither hash is symmetric, and nothing needs it to be: a shard only sees
  // its connections' arriving segments. This documents it; it is not a goal.
  const Dispatcher d(SteerConfig{}, 1);
  const RssVector& v = kRssVectors[0];
  EXPECT_NE(d.hash_of_tuple(kIpProtoTcp, v.src, L4Port(v.sport), v.dst, L4Port(v.dport)),
            d.hash_of_tuple(kIpProtoTcp, v.dst, L4Port(v.dport), v.src, L4Port(v.sport)));
}

TEST(DispatcherTest, ActiveOpenFindsALocalPortThatHashesHome) {
  for (const char* spec : {"", "hash=xor"}) {
    const Dispatcher d(config(spec), 4);
    const Ipv4Address local = ip(10, 0, 0, 1), remote = ip(93, 184, 216, 34);
    const L4Port rport(443);
    for (uint32_t shard = 0; shard < 4; ++shard) {
      uint32_t tries = 0;
      uint16_t port = 49152;
      while (d.shard_of_connection(kIpProtoTcp, local, L4Port(port), remote, rport) != shard) {
        ++port;
        ASSERT_LT(++tries, 64u) << spec << " shard " << shard;
      }
      // The peer's reply to that port arrives on the opening shard.
      EXPECT_EQ(d.shard_of_frame(tcp_frame(remote, rport, local, L4Port(port))), shard);
    }
  }
}

// ---- ICMP errors ---------------------------------------------------------------

// What we sent that a router or the peer answers with an error: a TCP segment
// with 1000 bytes of data, or a UDP datagram of 1000 bytes, from (us, sport)
// to (peer, dport); optionally with 4 bytes of IP options (NOPs).
Bytes sent_datagram(uint8_t protocol, const Tuple& t, bool options = false) {
  Bytes transport = protocol == kIpProtoTcp ? tcp_segment(t.src, t.sport, t.dst, t.dport)
                                            : udp_datagram(t.src, t.sport, t.dst, t.dport, 1000);
  if (protocol == kIpProtoTcp) transport.resize(transport.size() + 1000);
  Bytes d = ipv4({t.src, t.dst, protocol}, transport);
  if (options) {
    d[0] = std::byte{0x46};  // IHL 6
    d.insert(d.begin() + kIpv4MinHeaderSize, 4, std::byte{kIpv4OptNop});
    store16(d.data() + 2, static_cast<uint16_t>(d.size()));
  }
  return d;
}

// The errors of RFC 792 that quote a datagram, as routers and hosts send them.
const IcmpHeader kQuotingErrors[] = {
    IcmpHeader::dest_unreachable(kIcmpPortUnreachable),
    IcmpHeader::dest_unreachable(kIcmpFragNeeded, 1400),  // RFC 1191
    IcmpHeader::dest_unreachable(kIcmpHostUnreachable),
    IcmpHeader::time_exceeded(kIcmpTtlExceeded),
    IcmpHeader::time_exceeded(kIcmpReassemblyTimeExceeded),
    IcmpHeader{12, 0, 0},  // parameter problem, pointer 0
    IcmpHeader{4, 0, 0},   // source quench
};

TEST(DispatcherTest, IcmpErrorGoesToTheShardOfTheFlowItQuotes) {
  for (const char* spec : {"", "hash=xor"}) {
    for (uint32_t shards : {2u, 4u}) {
      const Dispatcher d(config(spec), shards);
      Rng rng(31 + shards);
      int moved = 0;  // errors whose outer header would have hashed elsewhere
      for (int i = 0; i < 400; ++i) {
        // t: the datagram we sent, from us (t.src) to the peer (t.dst).
        const Tuple t = random_tuple(rng);
        const uint8_t protocol = i % 2 == 0 ? kIpProtoTcp : kIpProtoUdp;
        const Bytes sent = sent_datagram(protocol, t, i % 7 == 0);
        const size_t header = i % 7 == 0 ? 24 : 20;
        // The flow's own packets arrive from the peer: where they go.
        const uint32_t owner = d.shard_of_tuple(protocol, t.dst, t.dport, t.src, t.sport);
        ASSERT_EQ(owner, d.shard_of_connection(protocol, t.src, t.sport, t.dst, t.dport));
        const Bytes flow_frame = protocol == kIpProtoTcp
                                     ? tcp_frame(t.dst, t.dport, t.src, t.sport)
                                     : udp_frame(t.dst, t.dport, t.src, t.sport);
        const uint32_t flow_hash = d.hash_of_frame(flow_frame);
        // From a router on the path, or from the peer itself (port unreachable).
        const Ipv4Address from =
            i % 3 == 0 ? t.dst : Ipv4Address(static_cast<uint32_t>(rng.next()));
        const IcmpHeader& type = kQuotingErrors[rng.below(std::size(kQuotingErrors))];
        // The minimum quote (header + 8), and up to 576 bytes as routers send.
        for (const size_t quote : {header + 8, std::min<size_t>(sent.size(), 548)}) {
          const Bytes error = icmp_message_frame(from, t.src, type, std::span(sent).first(quote),
                                                 static_cast<int>(rng.below(3)));
          const SteerDecision s = d.decide(error);
          EXPECT_EQ(s.kind, SteerDecision::Kind::kIpv4);
          EXPECT_TRUE(s.by_quote);
          // The frame is ICMP (the shard must not read it as UDP or TCP).
          EXPECT_EQ(s.cls, TrafficClass::kOtherIp);
          EXPECT_EQ(s.hash, flow_hash) << spec << " " << shards << " tuple " << i;
          EXPECT_EQ(s.shard, owner) << spec << " " << shards << " tuple " << i;
        }
        if (owner != d.shard_of_tuple(kIpProtoIcmp, from, L4Port(), t.src, L4Port())) ++moved;
      }
      EXPECT_GT(moved, 50) << spec << " " << shards;  // the test would notice a no-op
    }
  }
}

TEST(DispatcherTest, IcmpErrorAboutOtherProtocolsAndFragmentsHashesWithoutPorts) {
  for (const char* spec : {"", "hash=xor", "hash=xor,other=proto+src-ip/8+dst-ip"}) {
    const Dispatcher d(config(spec), 4);
    Rng rng(41);
    for (int i = 0; i < 200; ++i) {
      const Tuple t = random_tuple(rng);
      const Ipv4Address router(static_cast<uint32_t>(rng.next()));
      const auto unreachable = IcmpHeader::dest_unreachable(kIcmpHostUnreachable);
      // An echo request we sent: where the echo reply would arrive.
      const Bytes echo = {std::byte{8}, std::byte{0}, std::byte{0}, std::byte{0},
                          std::byte{0}, std::byte{1}, std::byte{0}, std::byte{1}};
      const SteerDecision e = d.decide(
          icmp_message_frame(router, t.src, unreachable, ipv4({t.src, t.dst, kIpProtoIcmp}, echo)));
      EXPECT_TRUE(e.by_quote);
      EXPECT_EQ(e.cls, TrafficClass::kOtherIp);
      EXPECT_EQ(e.hash, d.hash_of_frame(icmp_frame(t.dst, t.src))) << spec;
      // A non-first fragment we sent holds no ports: they count as 0.
      const Bytes udp = udp_datagram(t.src, t.sport, t.dst, t.dport, 2000);
      const Bytes second =
          ipv4({t.src, t.dst, kIpProtoUdp, 7, true, 1480}, std::span(udp).subspan(1480, 8));
      const SteerDecision f = d.decide(icmp_message_frame(
          router, t.src, IcmpHeader::time_exceeded(kIcmpReassemblyTimeExceeded), second));
      EXPECT_TRUE(f.by_quote);
      EXPECT_EQ(f.cls, TrafficClass::kOtherIp);
      EXPECT_EQ(f.hash, d.hash_of_tuple(kIpProtoUdp, t.dst, L4Port(0), t.src, L4Port(0))) << spec;
      // The first fragment has them: the flow's shard.
      const Bytes first = ipv4({t.src, t.dst, kIpProtoUdp, 7, true, 0}, std::span(udp).first(8));
      const SteerDecision g = d.decide(icmp_message_frame(
          router, t.src, IcmpHeader::time_exceeded(kIcmpReassemblyTimeExceeded), first));
      EXPECT_EQ(g.hash, d.hash_of_tuple(kIpProtoUdp, t.dst, t.dport, t.src, t.sport)) << spec;
    }
  }
}

TEST(DispatcherTest, IcmpErrorWithAShortQuoteHashesOnTheOuterHeader) {
  for (const char* spec : {"", "hash=xor"}) {
    const Dispatcher d(config(spec), 4);
    Rng rng(43);
    for (int i = 0; i < 100; ++i) {
      const Tuple t = random_tuple(rng);
      const Ipv4Address router(static_cast<uint32_t>(rng.next()));
      const uint8_t protocol = i % 2 == 0 ? kIpProtoTcp : kIpProtoUdp;
      const bool options = i % 5 == 0;
      const Bytes sent = sent_datagram(protocol, t, options);
      const size_t ports_end = (options ? 24 : 20) + 4;
      const uint32_t outer = d.hash_of_tuple(kIpProtoIcmp, router, L4Port(), t.src, L4Port());
      const uint32_t flow = d.hash_of_tuple(protocol, t.dst, t.dport, t.src, t.sport);
      // Every length of quote, none to 8 bytes of data: the ports make the difference.
      for (size_t n = 0; n <= ports_end + 4; ++n) {
        const SteerDecision s = d.decide(
            icmp_message_frame(router, t.src, IcmpHeader::dest_unreachable(kIcmpPortUnreachable),
                               std::span(sent).first(n)));
        EXPECT_EQ(s.kind, SteerDecision::Kind::kIpv4);
        EXPECT_LT(s.shard, 4u);
        if (n < ports_end) {
          EXPECT_FALSE(s.by_quote) << n;
          EXPECT_EQ(s.cls, TrafficClass::kOtherIp);
          EXPECT_EQ(s.hash, outer) << spec << " quote of " << n;
        } else {
          EXPECT_TRUE(s.by_quote) << n;
          EXPECT_EQ(s.hash, flow) << spec << " quote of " << n;
        }
      }
    }
  }
}

TEST(DispatcherTest, IcmpErrorWithAQuoteThatIsNotIpv4HashesOnTheOuterHeader) {
  const Dispatcher d(SteerConfig{}, 4);
  const Ipv4Address router = ip(192, 0, 2, 1), us = ip(10, 0, 0, 1);
  const Bytes sent = sent_datagram(kIpProtoTcp, {us, ip(10, 0, 0, 2), L4Port(5000), L4Port(80)});
  const uint32_t outer = d.hash_of_tuple(kIpProtoIcmp, router, L4Port(), us, L4Port());
  const auto unreachable = IcmpHeader::dest_unreachable(kIcmpPortUnreachable);
  // IPv6, IHL 4, IHL 0, IHL 15 (60 bytes, more than quoted), version 0.
  for (const int vihl : {0x65, 0x44, 0x40, 0x4f, 0x00}) {
    Bytes quote(sent.begin(), sent.begin() + 48);
    quote[0] = static_cast<std::byte>(vihl);
    const SteerDecision s = d.decide(icmp_message_frame(router, us, unreachable, quote));
    EXPECT_FALSE(s.by_quote) << vihl;
    EXPECT_EQ(s.hash, outer) << vihl;
  }
  // A fragment of an error is hashed as a fragment: its pieces must meet.
  Bytes m(IcmpHeader::kSize);
  unreachable.emit(m, 0);
  m.insert(m.end(), sent.begin(), sent.begin() + 28);
  const SteerDecision f =
      d.decide(ether(kEtherTypeIpv4, ipv4({router, us, kIpProtoIcmp, 9, true, 0}, m)));
  EXPECT_FALSE(f.by_quote);
  EXPECT_EQ(f.cls, TrafficClass::kFragment);
}

TEST(DispatcherTest, IcmpQueriesHashOnTheOuterHeader) {
  for (const char* spec : {"", "hash=xor"}) {
    const Dispatcher d(config(spec), 4);
    Rng rng(47);
    for (int i = 0; i < 100; ++i) {
      const Tuple t = random_tuple(rng);
      const uint32_t outer = d.hash_of_tuple(kIpProtoIcmp, t.src, L4Port(), t.dst, L4Port());
      const SteerDecision plain = d.decide(icmp_frame(t.src, t.dst));
      EXPECT_FALSE(plain.by_quote);
      EXPECT_EQ(plain.cls, TrafficClass::kOtherIp);
      EXPECT_EQ(plain.hash, outer);
      // Echo data that looks like a quoted TCP header changes nothing; nor
      // does it in a redirect (5), which is about a route, not a flow.
      const Bytes data = sent_datagram(kIpProtoTcp, random_tuple(rng));
      for (const IcmpHeader& h :
           {IcmpHeader::echo_request(1, 2), IcmpHeader::echo_reply(1, 2), IcmpHeader{5, 1, 0}}) {
        const SteerDecision s = d.decide(icmp_message_frame(t.src, t.dst, h, data));
        EXPECT_FALSE(s.by_quote) << int{h.type};
        EXPECT_EQ(s.cls, TrafficClass::kOtherIp);
        EXPECT_EQ(s.hash, outer) << spec;
      }
    }
  }
}

// ---- Short, lying and garbage frames -------------------------------------------

TEST(DispatcherTest, ShortIpv4GoesToShardZero) {
  const Dispatcher d(SteerConfig{}, 4);
  const SteerDecision s = d.decide(ether(kEtherTypeIpv4, Bytes(10)));
  // ether() pads to 60 bytes: 46 bytes of IPv4 payload, all zero (version 0).
  EXPECT_EQ(s.kind, SteerDecision::Kind::kMalformedIpv4);
  Bytes short_frame(14 + 10);
  store16(short_frame.data() + 12, kEtherTypeIpv4);
  const SteerDecision t = d.decide(short_frame);
  EXPECT_EQ(t.kind, SteerDecision::Kind::kMalformedIpv4);
  EXPECT_EQ(t.shard, 0u);
  EXPECT_EQ(t.hash, 0u);
}

TEST(DispatcherTest, RefusedIpv4HeaderIsHashedOnItsFixedFields) {
  const Dispatcher d(SteerConfig{}, 4);
  const Ipv4Address src = ip(10, 1, 1, 1), dst = ip(10, 2, 2, 2);
  Bytes dg = ipv4({src, dst, kIpProtoTcp}, tcp_segment(src, L4Port(1), dst, L4Port(2)));
  store16(dg.data() + 2, 1400);  // a total length past the bytes
  const SteerDecision s = d.decide(ether(kEtherTypeIpv4, dg));
  EXPECT_EQ(s.kind, SteerDecision::Kind::kMalformedIpv4);
  EXPECT_EQ(s.cls, TrafficClass::kOtherIp);
  EXPECT_EQ(s.hash, d.hash_of_tuple(kIpProtoIcmp, src, L4Port(), dst, L4Port()));
}

TEST(DispatcherTest, TransportHeaderTooShortForPortsHashesWithPortsZero) {
  const Dispatcher d(SteerConfig{}, 4);
  const Ipv4Address src = ip(10, 1, 1, 1), dst = ip(10, 2, 2, 2);
  const Bytes two(2, std::byte{0xab});
  const SteerDecision s = d.decide(ether(kEtherTypeIpv4, ipv4({src, dst, kIpProtoUdp}, two)));
  EXPECT_EQ(s.kind, SteerDecision::Kind::kMalformedIpv4);
  EXPECT_EQ(s.cls, TrafficClass::kUdp);
  EXPECT_EQ(s.hash, d.hash_of_tuple(kIpProtoUdp, src, L4Port(0), dst, L4Port(0)));
}

void expect_valid(const Dispatcher& d, std::span<const std::byte> frame) {
  const uint32_t s = d.shard_of_frame(frame);
  EXPECT_TRUE(s == kAnyShard || s < d.shards()) << s;
}

TEST(DispatcherTest, TruncatedAndGarbageFramesGoSomewhereValid) {
  for (const char* spec : {"", "hash=xor,table=0,1,2,4,3"}) {
    const Dispatcher d(config(spec), 5);
    Rng rng(99);
    // Every truncation of real frames (without the Ethernet padding).
    const Ipv4Address a = ip(10, 0, 0, 1), b = ip(10, 0, 0, 2);
    for (const Bytes& whole :
         {tcp_frame(a, L4Port(1234), b, L4Port(80), 2), udp_frame(a, L4Port(53), b, L4Port(53), 1),
          fragments({a, b, kIpProtoUdp, 7}, udp_datagram(a, L4Port(9), b, L4Port(9), 100), 64)[1],
          icmp_message_frame(ip(192, 0, 2, 1), b, IcmpHeader::dest_unreachable(kIcmpFragNeeded),
                             sent_datagram(kIpProtoTcp, {b, a, L4Port(80), L4Port(1234)}, true),
                             1)}) {
      for (size_t n = 0; n <= whole.size(); ++n)
        expect_valid(d, std::span(whole).first(n));
    }
    // Random bytes, with the IPv4 type (sometimes behind a tag) so they reach the IPv4 path.
    for (int i = 0; i < 20000; ++i) {
      Bytes f(rng.below(120));
      for (auto& x : f)
        x = static_cast<std::byte>(rng.next());
      if (f.size() >= 14 && rng.chance(0.8)) store16(f.data() + 12, kEtherTypeIpv4);
      if (f.size() >= 18 && rng.chance(0.2)) {
        store16(f.data() + 12, kEtherTypeVlan);
        store16(f.data() + 16, kEtherTypeIpv4);
      }
      if (f.size() >= 15 && rng.chance(0.5)) f[14] = std::byte{0x45};  // version 4, IHL 5
      expect_valid(d, f);
    }
    // Real frames with random bytes flipped: a segment, an ICMP error and its quote.
    const Bytes sent = sent_datagram(kIpProtoUdp, {b, a, L4Port(53), L4Port(53)});
    for (const Bytes& base :
         {tcp_frame(a, L4Port(1234), b, L4Port(80), 1),
          icmp_message_frame(a, b, IcmpHeader::dest_unreachable(kIcmpPortUnreachable),
                             std::span(sent).first(28))}) {
      for (int i = 0; i < 20000; ++i) {
        Bytes f = base;
        for (int k = 0; k < 3; ++k)
          f[rng.below(f.size())] ^= static_cast<std::byte>(1u << rng.below(8));
        expect_valid(d, f);
      }
    }
  }
}

// ---- Stats ---------------------------------------------------------------------

TEST(DispatcherTest, Describe) {
  EXPECT_EQ(Dispatcher(SteerConfig{}, 4).describe(),
            "hash=toeplitz,tcp=src-ip+dst-ip+src-port+dst-port,udp=src-ip+dst-ip+src-port+dst-port,"
            "frag=src-ip+dst-ip+proto+ip-id,other=src-ip+dst-ip; 4 shards, 128 table entries "
            "(entry i = i % 4)");
  EXPECT_EQ(Dispatcher(config("hash=xor,tcp=src-ip/24,table=0,1,1,0"), 2).describe(),
            "hash=xor,tcp=src-ip/24,udp=src-ip+dst-ip+src-port+dst-port,"
            "frag=src-ip+dst-ip+proto+ip-id,other=src-ip+dst-ip,table=0,1,1,0; 2 shards, 4 table "
            "entries");
  EXPECT_EQ(Dispatcher(SteerConfig{}, 1)
                .describe()
                .substr(Dispatcher(SteerConfig{}, 1).describe().find(';')),
            "; 1 shard, 128 table entries (entry i = i % 1)");
}

}  // namespace
}  // namespace sn
