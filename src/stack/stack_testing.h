// Shared vocabulary of the stack tests: addresses; hand-built frames (Ethernet,
// ARP, IPv4 with options and fragments, UDP, ICMP) with correct lengths and
// checksums that a test then breaks on purpose; TCP segments; readers of the
// frames a stack sent; a Stack over the scripted fake port on a manual clock; and a two-node
// Simulation with a tiny UDP echo and a ping recorder.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <vector>

#include "base/rng.h"
#include "port/port_testing.h"
#include "stack/sim.h"
#include "stack/stack.h"
#include "wire/arp.h"
#include "wire/bytes.h"
#include "wire/checksum.h"
#include "wire/ethernet.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"
#include "wire/tcp.h"
#include "wire/udp.h"
#include "wire/wire_testing.h"

namespace sn::testing {

// On a timer-wheel tick (1 ms), so timers fire exactly on their deadlines.
inline constexpr Instant kT0 = Instant::from_ns(1'000'000'000);

inline constexpr Ipv4Address ip(uint8_t last) {
  return Ipv4Address::from_octets(10, 0, 0, last);
}
inline constexpr Ipv4Address kOurIp = ip(1);  // the stack under test (FakePort's MAC is mac(1))
inline constexpr Ipv4Address kPeerIp = ip(2);
inline constexpr Ipv4Address kSubnetBroadcast = ip(255);
inline constexpr Ipv4Prefix kOurPrefix{kOurIp, 24};
inline const MacAddress kOurMac = mac(1);
inline const MacAddress kPeerMac = mac(2);

inline std::vector<std::byte> pattern(size_t n, uint64_t seed) {
  Rng rng(seed);
  std::vector<std::byte> v(n);
  for (auto& b : v)
    b = static_cast<std::byte>(rng.next());
  return v;
}

// Every byte of a chain.
inline std::vector<std::byte> chain_bytes(const Packet& p) {
  std::vector<std::byte> v(p.chain_size());
  chain_copy_out(p, 0, v);
  return v;
}

// ---- Building datagrams ----------------------------------------------------

struct IpFields {
  Ipv4Address src = kPeerIp, dst = kOurIp;
  uint8_t protocol = kIpProtoUdp;
  uint16_t id = 0x1234;
  uint8_t ttl = 64;
  uint8_t tos = 0;
  bool df = false;
  bool mf = false;
  uint16_t offset = 0;             // bytes, a multiple of 8
  std::vector<std::byte> options;  // a multiple of 4 bytes, at most 40
};

// Recomputes the header checksum of the datagram in `ip` after an edit.
inline void fix_ip_checksum(std::span<std::byte> ip) {
  const size_t hl = size_t{std::to_integer<uint8_t>(ip[0]) & 0x0fu} * 4;
  store16(ip.data() + 10, 0);
  store16(ip.data() + 10, internet_checksum(ip.first(hl)));
}

// An IPv4 datagram, header (options included) and payload, with the right
// total length and header checksum.
inline std::vector<std::byte> ipv4_bytes(const IpFields& f, std::span<const std::byte> payload) {
  const size_t hl = 20 + f.options.size();
  std::vector<std::byte> v(hl + payload.size());
  std::byte* p = v.data();
  store8(p, static_cast<uint8_t>(0x40 | (hl / 4)));
  store8(p + 1, f.tos);
  store16(p + 2, static_cast<uint16_t>(v.size()));
  store16(p + 4, f.id);
  store16(p + 6, static_cast<uint16_t>((f.df ? 0x4000 : 0) | (f.mf ? 0x2000 : 0) | (f.offset / 8)));
  store8(p + 8, f.ttl);
  store8(p + 9, f.protocol);
  f.src.store(p + 12);
  f.dst.store(p + 16);
  if (!f.options.empty()) std::memcpy(p + 20, f.options.data(), f.options.size());
  if (!payload.empty()) std::memcpy(p + hl, payload.data(), payload.size());
  fix_ip_checksum(v);
  return v;
}

// One fragment of `whole` (an IP payload): bytes [offset, offset + len), with
// MF set unless it reaches the end (or `mf` says otherwise).
inline std::vector<std::byte> fragment(IpFields f, std::span<const std::byte> whole,
                                       uint32_t offset, uint32_t len,
                                       std::optional<bool> mf = std::nullopt) {
  f.offset = static_cast<uint16_t>(offset);
  f.mf = mf.value_or(offset + len < whole.size());
  return ipv4_bytes(f, whole.subspan(offset, len));
}

// A UDP header and payload with the checksum over the pseudo-header.
inline std::vector<std::byte> udp_bytes(Ipv4Address src, Ipv4Address dst, uint16_t sport,
                                        uint16_t dport, std::span<const std::byte> payload) {
  std::vector<std::byte> v(UdpHeader::kSize + payload.size());
  if (!payload.empty()) std::memcpy(v.data() + UdpHeader::kSize, payload.data(), payload.size());
  UdpHeader h{L4Port(sport), L4Port(dport), static_cast<uint16_t>(v.size())};
  h.emit(std::span<std::byte>(v).first(UdpHeader::kSize), src, dst, Checksum{}.add(payload).sum());
  return v;
}

// An ICMP message with its checksum.
inline std::vector<std::byte> icmp_bytes(const IcmpHeader& h, std::span<const std::byte> payload) {
  std::vector<std::byte> v(IcmpHeader::kSize + payload.size());
  if (!payload.empty()) std::memcpy(v.data() + IcmpHeader::kSize, payload.data(), payload.size());
  h.emit(std::span<std::byte>(v).first(IcmpHeader::kSize), Checksum{}.add(payload).sum());
  return v;
}

// A UDP datagram from the peer to us, as IPv4 bytes.
inline std::vector<std::byte> udp_datagram(uint16_t sport, uint16_t dport,
                                           std::span<const std::byte> payload,
                                           IpFields f = IpFields{}) {
  f.protocol = kIpProtoUdp;
  return ipv4_bytes(f, udp_bytes(f.src, f.dst, sport, dport, payload));
}

// A TCP header and payload with the checksum over the pseudo-header.
inline std::vector<std::byte> tcp_bytes(Ipv4Address src, Ipv4Address dst, const TcpHeader& h,
                                        std::span<const std::byte> payload) {
  std::vector<std::byte> v(h.size() + payload.size());
  if (!payload.empty()) std::memcpy(v.data() + h.size(), payload.data(), payload.size());
  h.emit(std::span<std::byte>(v).first(h.size()), src, dst, Checksum{}.add(payload).sum(),
         static_cast<uint16_t>(payload.size()));
  return v;
}

// Recomputes the checksum of the TCP segment `seg` (header and payload) after an edit.
inline void fix_tcp_checksum(std::span<std::byte> seg, Ipv4Address src, Ipv4Address dst) {
  store16(seg.data() + 16, 0);
  const auto len = static_cast<uint16_t>(seg.size());
  store16(seg.data() + 16,
          Checksum{}.add_sum(pseudo_header_sum(src, dst, kIpProtoTcp, len)).add(seg).finish());
}

// A TCP segment from the peer to us, as IPv4 bytes.
inline std::vector<std::byte> tcp_datagram(const TcpHeader& h,
                                           std::span<const std::byte> payload = {},
                                           IpFields f = IpFields{}) {
  f.protocol = kIpProtoTcp;
  return ipv4_bytes(f, tcp_bytes(f.src, f.dst, h, payload));
}

inline std::vector<std::byte> arp_bytes(const ArpPacket& a) {
  std::vector<std::byte> v(ArpPacket::kSize);
  a.emit(v);
  return v;
}

// An Ethernet frame around `payload`, followed by `pad` bytes of `pad_byte`.
inline PacketPtr eth_frame(PacketPool& pool, MacAddress dst, MacAddress src, uint16_t type,
                           std::span<const std::byte> payload, size_t pad = 0,
                           std::byte pad_byte = std::byte{0}) {
  PacketPtr p = pool.alloc();
  if (!p) return p;
  const uint32_t n = static_cast<uint32_t>(14 + payload.size() + pad);
  std::byte* b = p->append(n);
  EthernetHeader{dst, src, std::nullopt, type}.emit({b, 14});
  if (!payload.empty()) std::memcpy(b + 14, payload.data(), payload.size());
  std::memset(b + 14 + payload.size(), std::to_integer<int>(pad_byte), pad);
  return p;
}

inline PacketPtr ip_frame(PacketPool& pool, std::span<const std::byte> ip, size_t pad = 0,
                          std::byte pad_byte = std::byte{0}) {
  return eth_frame(pool, kOurMac, kPeerMac, kEtherTypeIpv4, ip, pad, pad_byte);
}

inline PacketPtr arp_frame(PacketPool& pool, const ArpPacket& a,
                           MacAddress dst = MacAddress::broadcast()) {
  return eth_frame(pool, dst, a.sha, kEtherTypeArp, arp_bytes(a));
}

inline ArpPacket arp_request(MacAddress sha, Ipv4Address spa, Ipv4Address tpa) {
  return ArpPacket{ArpPacket::kRequest, sha, spa, MacAddress{}, tpa};
}
inline ArpPacket arp_reply(MacAddress sha, Ipv4Address spa, MacAddress tha, Ipv4Address tpa) {
  return ArpPacket{ArpPacket::kReply, sha, spa, tha, tpa};
}

// ---- Reading what a stack sent ---------------------------------------------

inline std::optional<EthernetHeader> eth_of(const Packet& frame) {
  auto e = EthernetView::parse(frame.bytes());
  if (!e) return std::nullopt;
  return EthernetHeader::from(*e);
}

inline std::optional<ArpPacket> arp_of(const Packet& frame) {
  auto e = EthernetView::parse(frame.bytes());
  if (!e || e->ethertype() != kEtherTypeArp) return std::nullopt;
  auto a = ArpPacket::parse(e->payload());
  if (!a) return std::nullopt;
  return *a;
}

// The IPv4 datagram in a sent frame; the view points into the frame.
inline std::optional<Ipv4View> ip_of(const Packet& frame) {
  auto e = EthernetView::parse(frame.bytes());
  if (!e || e->ethertype() != kEtherTypeIpv4) return std::nullopt;
  auto v = Ipv4View::parse(e->payload());
  if (!v) return std::nullopt;
  return *v;
}

inline std::vector<std::byte> ip_payload_of(const Packet& frame) {
  auto v = ip_of(frame);
  return v ? to_vec(v->payload()) : std::vector<std::byte>{};
}

// The TCP segment in a sent frame; the view points into the frame.
inline std::optional<TcpView> tcp_of(const Packet& frame) {
  auto v = ip_of(frame);
  if (!v || v->protocol() != kIpProtoTcp) return std::nullopt;
  auto t = TcpView::parse(v->payload());
  if (!t) return std::nullopt;
  return *t;
}

// ---- A stack over the scripted fake port, on a manual clock ----------------

class FakeStack {
 public:
  explicit FakeStack(const StackConfig& config = {},
                     const PoolConfig& pool_config = PoolConfig{.count = 1024}, uint64_t seed = 7,
                     uint32_t mtu = 1500)
      : pool(pool_config), stack(config, pool, kT0, seed) {
    port.mtu_value = mtu;
    stack.add_interface(port, kOurPrefix);
    stack.start(kT0);
  }

  Instant now() const { return now_; }
  // Feeds frames through the port and polls once at now().
  void feed(PacketPtr frame) {
    port.rx.push_back(std::move(frame));
    stack.poll(now_);
  }
  void feed_ip(std::span<const std::byte> ip, size_t pad = 0, std::byte pad_byte = std::byte{0}) {
    feed(ip_frame(pool, ip, pad, pad_byte));
  }
  // Moves the clock to `t`, polling at every timer deadline on the way.
  void advance_to(Instant t) {
    for (Instant next = stack.next_event(); next <= t; next = stack.next_event()) {
      now_ = std::max(next, now_ + Duration::nanos(1));
      stack.poll(now_);
    }
    now_ = t;
    stack.poll(now_);
  }
  void advance(Duration d) { advance_to(now_ + d); }
  // Sends whatever the stack batched (after a direct API call such as send_to).
  void flush() { stack.flush(); }

  // The frames sent so far, and forgets them.
  std::vector<PacketPtr> take_sent() {
    std::vector<PacketPtr> out = std::move(port.sent);
    port.sent.clear();
    port.sent_at.clear();
    return out;
  }
  void learn_peer(Ipv4Address a = kPeerIp, MacAddress m = kPeerMac) { stack.arp().learn(0, a, m); }
  // Every buffer is back in the pool (sent frames must have been taken).
  bool pool_full() const { return pool.available() == pool.capacity(); }

  PacketPool pool;
  FakePort port;
  Stack stack;

 private:
  Instant now_ = kT0;
};

// ---- Two stacks on the simulated wire ---------------------------------------

// Echoes every datagram back to its sender, reusing its buffers (RFC 862).
class UdpEcho {
 public:
  UdpEcho(Stack& stack, L4Port port) {
    auto s = stack.udp().bind(Ipv4Address::any(), port);
    SN_CHECK(s.ok());
    socket_ = *s;
    socket_->set_on_readable(
        [](void* a, UdpSocket& s) {
          auto* self = static_cast<UdpEcho*>(a);
          while (auto d = s.recv())
            self->echoed += s.send_to(d->src, d->src_port, std::move(d->data)).ok();
        },
        this);
  }
  UdpSocket* socket() { return socket_; }
  uint64_t echoed = 0;

 private:
  UdpSocket* socket_ = nullptr;
};

// Records the echo replies a stack receives: (id, seq, data).
struct PingRecorder {
  struct Reply {
    uint16_t id, seq;
    std::vector<std::byte> data;
  };
  explicit PingRecorder(Stack& stack) {
    stack.icmp().set_echo_reply_handler(
        [](void* a, const Ipv4Meta&, const Packet& m) {
          auto bytes = chain_bytes(m);
          auto v = IcmpView::parse(bytes);
          SN_CHECK(v.ok());
          static_cast<PingRecorder*>(a)->replies.push_back(
              Reply{v->echo_id(), v->echo_seq(), to_vec(v->payload())});
        },
        this);
  }
  std::vector<Reply> replies;
};

inline constexpr Ipv4Address kClientIp = ip(1);
inline constexpr Ipv4Address kServerIp = ip(2);

// Node 0 is the client (10.0.0.1, mac(1)), node 1 the server (10.0.0.2, mac(2)),
// each with its own pool; faults, if any, sit on the server's port.
inline SimNodeConfig sim_node(uint8_t n, const StackConfig& stack = {},
                              std::optional<FaultConfig> fault = std::nullopt) {
  SimNodeConfig c;
  c.address = Ipv4Prefix{ip(n), 24};
  c.mac = mac(n);
  c.stack = stack;
  c.fault = fault;
  c.pool = PoolConfig{.count = 2048};
  c.seed = 100 + n;
  return c;
}

// The pool holds every buffer again, and nothing waits in the stack.
inline void expect_no_leaks(Simulation::Node& n) {
  EXPECT_EQ(n.pool.available(), n.pool.capacity());
  EXPECT_EQ(n.stack->ipv4().reassembler().in_flight(), 0u);
  EXPECT_EQ(n.stack->ipv4().reassembler().buffers_held(), 0u);
  EXPECT_EQ(n.stack->arp().pending_packets(), 0u);
}

// Two stacks on the simulated wire: node 1 the client, node 2 the server.
class TwoStacks : public ::testing::Test {
 protected:
  Simulation sim_;
  Simulation::Node& a_ = sim_.add_node(sim_node(1));
  Simulation::Node& b_ = sim_.add_node(sim_node(2));
  Stack& client_ = *a_.stack;
  Stack& server_ = *b_.stack;
};

// ---- TCP's demultiplexer on a FakeStack ------------------------------------

inline constexpr L4Port kTcpPort{5001};

inline TcpHeader segment(uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
                         uint8_t flags) {
  TcpHeader h;
  h.src_port = L4Port(sport);
  h.dst_port = L4Port(dport);
  h.seq = SeqNum{seq};
  h.ack = SeqNum{ack};
  h.flags = flags;
  h.window = 65535;
  if (flags & kTcpSyn) h.options.mss = 1460;
  return h;
}

class TcpLayerDemuxTest : public ::testing::Test {
 protected:
  explicit TcpLayerDemuxTest(const StackConfig& config = {}) : s_(config) {
    s_.take_sent();
    s_.learn_peer();
  }
  const StackCounters& c() const { return s_.stack.counters(); }
  void feed(const TcpHeader& h, size_t payload = 0) {
    s_.feed_ip(tcp_datagram(h, pattern(payload, payload)));
  }
  // Listens on kTcpPort; accepted sockets are counted and left alone.
  void listen(uint32_t backlog) {
    auto on_accept = [](void* a, TcpSocket&) { ++*static_cast<int*>(a); };
    ASSERT_TRUE(s_.stack.tcp().listen(kTcpPort, backlog, on_accept, &accepted_).ok());
  }
  // The one frame sent since the last call, as a TCP segment from us to the peer.
  TcpHeader only_segment_sent() {
    auto sent = s_.take_sent();
    EXPECT_EQ(sent.size(), 1u);
    if (sent.empty()) return {};
    auto ip = ip_of(*sent[0]);
    auto t = tcp_of(*sent[0]);
    EXPECT_TRUE(ip && t);
    if (!ip || !t) return {};
    EXPECT_EQ(ip->src(), kOurIp);
    EXPECT_EQ(ip->dst(), kPeerIp);
    EXPECT_TRUE(t->checksum_ok(kOurIp, kPeerIp));
    return *TcpHeader::from(*t);
  }
  FakeStack s_;
  int accepted_ = 0;
};

// The same without SYN cookies: a full backlog drops SYNs.
class TcpLayerNoCookiesTest : public TcpLayerDemuxTest {
 protected:
  static StackConfig config() {
    StackConfig c;
    c.tcp.syn_cookies = false;
    return c;
  }
  TcpLayerNoCookiesTest() : TcpLayerDemuxTest(config()) {}
};

}  // namespace sn::testing
