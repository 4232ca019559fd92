// Tests of ICMP and UDP: echo of every size a datagram can carry and UDP
// send/recv byte-exact between two stacks on the simulated wire; then, on a
// stack over the fake port, the errors we send (quote, rate limit, and when
// RFC 1122 §3.2.2 forbids one) and every UDP receive drop with its counter.
#include <gtest/gtest.h>

#include <cstring>
#include <set>

#include "stack/stack_testing.h"

namespace sn {
namespace {

using namespace sn::testing;

using SimTest = TwoStacks;

TEST_F(SimTest, EchoRepliesOfEverySizeAreByteExact) {
  PingRecorder rec(client_);
  const size_t sizes[] = {0, 56, 1472, 1473, 4000, 65507};  // 65507: a 65535-byte datagram
  for (uint16_t i = 0; i < std::size(sizes); ++i) {
    SCOPED_TRACE(sizes[i]);
    const auto data = pattern(sizes[i], i);
    ASSERT_TRUE(client_.icmp().send_echo_request(kServerIp, 0x77, i, data).ok());
    ASSERT_TRUE(sim_.run_until([&] { return rec.replies.size() == i + 1u; }));
    EXPECT_EQ(rec.replies[i].id, 0x77);
    EXPECT_EQ(rec.replies[i].seq, i);
    EXPECT_EQ(rec.replies[i].data, data);
  }
  auto r = client_.icmp().send_echo_request(kServerIp, 0x77, 9, std::vector<std::byte>(65508));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kTooBig);
  EXPECT_EQ(server_.counters().icmp_echo_replies.get(), 6u);
  EXPECT_EQ(server_.counters().ip_reassembled.get(), 3u);  // 1473, 4000, 65507
  EXPECT_EQ(client_.counters().total_drops() + server_.counters().total_drops(), 0u);
  ASSERT_TRUE(sim_.run_until_idle());
  expect_no_leaks(a_);
  expect_no_leaks(b_);
}

TEST_F(SimTest, BroadcastEchoIsIgnored) {
  PingRecorder rec(client_);
  ASSERT_TRUE(client_.icmp().send_echo_request(kSubnetBroadcast, 1, 1, pattern(8, 1)).ok());
  ASSERT_TRUE(client_.icmp().send_echo_request(Ipv4Address::broadcast(), 1, 2, pattern(8, 1)).ok());
  ASSERT_TRUE(sim_.run_until_idle());
  EXPECT_TRUE(rec.replies.empty());
  EXPECT_EQ(server_.counters().drop.icmp_broadcast_echo.get(), 2u);
  EXPECT_EQ(server_.counters().icmp_tx.get(), 0u);
}

TEST_F(SimTest, UdpSendToAndRecvAreByteExact) {
  UdpSocket* c = *client_.udp().bind(Ipv4Address::any(), L4Port(0));
  UdpSocket* s = *server_.udp().bind(Ipv4Address::any(), L4Port(7000));
  for (size_t n : {0, 1, 1472, 1473, 8000, 65507}) {
    SCOPED_TRACE(n);
    const auto data = pattern(n, n);
    ASSERT_TRUE(c->send_to(kServerIp, L4Port(7000), data).ok());
    ASSERT_TRUE(sim_.run_until([&] { return s->queued() > 0; }));
    auto d = s->recv();
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(chain_bytes(*d->data), data);
    EXPECT_EQ(d->src, kClientIp);
    EXPECT_EQ(d->src_port, c->local_port());
    EXPECT_EQ(d->dst, kServerIp);
  }
  EXPECT_EQ(server_.counters().udp_rx_datagrams.get(), 6u);
  EXPECT_EQ(client_.counters().udp_tx_datagrams.get(), 6u);
  ASSERT_TRUE(sim_.run_until_idle());
  expect_no_leaks(a_);
  expect_no_leaks(b_);
}

TEST(SimMtuTest, EchoesLeaveInTheSmallerMtuOfTheServer) {
  // The server's MTU is 576: what it reassembled from 1500-byte frames goes
  // back in 552-byte fragments, copied out of the received chain.
  Simulation sim;
  Simulation::Node& a = sim.add_node(sim_node(1));
  SimNodeConfig small = sim_node(2);
  small.mtu = 576;
  Simulation::Node& b = sim.add_node(small);
  UdpEcho echo(*b.stack, L4Port(7));
  PingRecorder rec(*a.stack);
  UdpSocket* sock = *a.stack->udp().bind(Ipv4Address::any(), L4Port(0));
  ASSERT_TRUE(a.stack->icmp().send_echo_request(kServerIp, 1, 1, pattern(4000, 1)).ok());
  ASSERT_TRUE(sim.run_until([&] { return rec.replies.size() == 1; }));
  EXPECT_EQ(rec.replies[0].data, pattern(4000, 1));
  ASSERT_TRUE(sock->send_to(kServerIp, L4Port(7), pattern(3000, 2)).ok());
  ASSERT_TRUE(sim.run_until([&] { return sock->queued() == 1; }));
  EXPECT_EQ(chain_bytes(*sock->recv()->data), pattern(3000, 2));
  // 4008 and 3008 bytes of IP payload in 552-byte pieces: 8 + 6 fragments.
  EXPECT_EQ(b.stack->counters().ip_tx_fragments.get(), 8u + 6u);
  EXPECT_EQ(b.wire_port->counters().tx_oversize.get(), 0u);
  EXPECT_EQ(a.stack->counters().ip_reassembled.get(), 2u);
  ASSERT_TRUE(sim.run_until_idle());
  expect_no_leaks(a);
  expect_no_leaks(b);
}

// ---- On a stack over the fake port -------------------------------------------

class IcmpUdpTest : public ::testing::Test {
 protected:
  explicit IcmpUdpTest(const StackConfig& config = {}) : s_(config) {
    s_.take_sent();
    s_.learn_peer();
  }
  const StackCounters& c() const { return s_.stack.counters(); }
  // Feeds a UDP datagram for closed port 9999 carrying n bytes.
  void to_closed_port(size_t n = 20, IpFields f = IpFields{}) {
    s_.feed_ip(udp_datagram(1111, 9999, pattern(n, n), f));
  }
  FakeStack s_;
};

TEST_F(IcmpUdpTest, BadAndShortIcmpAreCounted) {
  IpFields f;
  f.protocol = kIpProtoIcmp;
  auto echo = icmp_bytes(IcmpHeader::echo_request(1, 1), pattern(32, 1));
  echo[20] ^= std::byte{0x40};
  s_.feed_ip(ipv4_bytes(f, echo));
  EXPECT_EQ(c().drop.icmp_bad_checksum.get(), 1u);
  s_.feed_ip(ipv4_bytes(f, pattern(7, 2)));
  EXPECT_EQ(c().drop.icmp_truncated.get(), 1u);
  s_.feed_ip(ipv4_bytes(f, icmp_bytes(IcmpHeader{13, 0, 0}, pattern(12, 3))));  // timestamp
  s_.feed_ip(ipv4_bytes(f, icmp_bytes(IcmpHeader::echo_reply(1, 1), {})));      // nobody asked
  EXPECT_EQ(c().drop.icmp_unhandled_type.get(), 2u);
  EXPECT_EQ(c().icmp_rx.get(), 2u);
  EXPECT_EQ(c().total_drops(), 4u);
  EXPECT_TRUE(s_.take_sent().empty());
}

TEST_F(IcmpUdpTest, EchoRepliesCarryAValidChecksumWhateverTheContent) {
  // All zero (id 0, seq 0, zero data) is the one case where the incremental
  // update of RFC 1624 eqn. 3 gives 0x0000 and only 0xffff verifies.
  IpFields f;
  f.protocol = kIpProtoIcmp;
  const IcmpHeader requests[] = {IcmpHeader::echo_request(0, 0), IcmpHeader::echo_request(0, 0),
                                 IcmpHeader::echo_request(0xffff, 0xf7ff),
                                 IcmpHeader::echo_request(0x1234, 1)};
  const std::vector<std::byte> datas[] = {{}, std::vector<std::byte>(8), {}, pattern(33, 1)};
  for (int i = 0; i < 4; ++i) {
    SCOPED_TRACE(i);
    s_.feed_ip(ipv4_bytes(f, icmp_bytes(requests[i], datas[i])));
    auto sent = s_.take_sent();
    ASSERT_EQ(sent.size(), 1u);
    const auto reply = ip_payload_of(*sent[0]);
    EXPECT_TRUE(checksum_ok(reply));
    auto v = IcmpView::parse(reply);
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v->type(), kIcmpEchoReply);
    EXPECT_EQ(v->rest(), requests[i].rest);
    EXPECT_EQ(to_vec(v->payload()), datas[i]);
  }
}

TEST_F(IcmpUdpTest, PortUnreachableQuotesTheHeaderAndEightBytes) {
  const auto d = udp_datagram(1111, 9999, pattern(100, 1));
  s_.feed_ip(d);
  EXPECT_EQ(c().drop.udp_no_port.get(), 1u);
  IpFields f;
  f.options = {std::byte{1}, std::byte{1}, std::byte{1}, std::byte{1}};
  const auto with_options = udp_datagram(1111, 9999, pattern(100, 1), f);
  s_.feed_ip(with_options);
  auto sent = s_.take_sent();
  ASSERT_EQ(sent.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    auto v = ip_of(*sent[i]);
    ASSERT_TRUE(v.has_value());
    EXPECT_EQ(v->src(), kOurIp);
    EXPECT_EQ(v->dst(), kPeerIp);
    EXPECT_EQ(v->protocol(), kIpProtoIcmp);
    EXPECT_EQ(eth_of(*sent[i])->dst, kPeerMac);
  }
  const auto unreachable = IcmpHeader::dest_unreachable(kIcmpPortUnreachable);
  EXPECT_EQ(ip_payload_of(*sent[0]), icmp_bytes(unreachable, std::span(d).first(28)));
  EXPECT_EQ(ip_payload_of(*sent[1]), icmp_bytes(unreachable, std::span(with_options).first(32)));
  EXPECT_EQ(c().icmp_tx_unreachable.get(), 2u);
}

class IcmpRateTest : public IcmpUdpTest {
 protected:
  static StackConfig config() {
    StackConfig c;
    c.icmp.error_burst = 5;
    c.icmp.error_rate = 100;  // one token per 10 ms
    return c;
  }
  IcmpRateTest() : IcmpUdpTest(config()) {}
};

TEST_F(IcmpRateTest, ErrorsAreRateLimitedByATokenBucket) {
  for (int i = 0; i < 8; ++i)
    to_closed_port();
  EXPECT_EQ(s_.take_sent().size(), 5u);  // the burst
  EXPECT_EQ(c().drop.icmp_rate_limited.get(), 3u);
  s_.advance(Duration::millis(5));  // half a token
  to_closed_port();
  EXPECT_EQ(s_.take_sent().size(), 0u);
  EXPECT_EQ(c().drop.icmp_rate_limited.get(), 4u);
  s_.advance(Duration::millis(5));  // the other half
  to_closed_port();
  to_closed_port();
  EXPECT_EQ(s_.take_sent().size(), 1u);
  EXPECT_EQ(c().drop.icmp_rate_limited.get(), 5u);
  s_.advance(Duration::seconds(1));  // 100 tokens' worth, but the bucket holds 5
  for (int i = 0; i < 8; ++i)
    to_closed_port();
  EXPECT_EQ(s_.take_sent().size(), 5u);
  EXPECT_EQ(c().drop.icmp_rate_limited.get(), 8u);
  EXPECT_EQ(c().icmp_tx_unreachable.get(), 11u);
  EXPECT_EQ(c().drop.udp_no_port.get(), 19u);
}

TEST_F(IcmpRateTest, NoErrorAboutABroadcastOrAnOddSource) {
  IpFields f;
  for (Ipv4Address dst : {kSubnetBroadcast, Ipv4Address::broadcast()}) {
    f.dst = dst;
    to_closed_port(20, f);
  }
  f = IpFields{};
  for (Ipv4Address src : {Ipv4Address::any(), Ipv4Address::from_octets(127, 0, 0, 1)}) {
    f.src = src;
    to_closed_port(20, f);
  }
  // RFC 1122 §3.2.2: nor about a datagram that came as a link-layer broadcast.
  s_.feed(eth_frame(s_.pool, MacAddress::broadcast(), kPeerMac, kEtherTypeIpv4,
                    udp_datagram(1111, 9999, pattern(20, 1))));
  // 0.0.0.0 (to a unicast address) and 127.0.0.1 never get as far as UDP:
  // such sources are dropped at IPv4.
  EXPECT_EQ(c().drop.ip_bad_source.get(), 2u);
  EXPECT_EQ(c().drop.udp_no_port.get(), 3u);
  EXPECT_TRUE(s_.take_sent().empty());
  EXPECT_EQ(c().drop.icmp_rate_limited.get(), 0u);  // and no token spent
  for (int i = 0; i < 5; ++i)
    to_closed_port();
  EXPECT_EQ(s_.take_sent().size(), 5u);
}

TEST_F(IcmpRateTest, NoErrorAboutAnIcmpError) {
  auto about = [&](const IcmpHeader& h) {
    IpFields f;
    f.protocol = kIpProtoIcmp;
    const auto d = ipv4_bytes(f, icmp_bytes(h, pattern(20, 1)));
    PacketPtr p = s_.pool.alloc();
    std::memcpy(p->append(static_cast<uint32_t>(d.size())), d.data(), d.size());
    Ipv4Meta meta;
    meta.src = kPeerIp;
    meta.dst = kOurIp;
    meta.protocol = kIpProtoIcmp;
    meta.header_length = 20;
    s_.stack.icmp().send_error(kIcmpDestUnreachable, kIcmpHostUnreachable, meta, *p);
    s_.flush();
    return s_.take_sent().size();
  };
  EXPECT_EQ(about(IcmpHeader::dest_unreachable(kIcmpPortUnreachable)), 0u);
  EXPECT_EQ(about(IcmpHeader::time_exceeded(kIcmpTtlExceeded)), 0u);
  EXPECT_EQ(about(IcmpHeader{12, 0, 0}), 0u);  // parameter problem
  EXPECT_EQ(about(IcmpHeader{5, 0, 0}), 0u);   // redirect
  EXPECT_EQ(c().drop.icmp_rate_limited.get(), 0u);
  EXPECT_EQ(about(IcmpHeader::echo_request(1, 1)), 1u);  // not an error: answered
  EXPECT_EQ(about(IcmpHeader::echo_reply(1, 1)), 1u);
}

TEST_F(IcmpUdpTest, BindCloseAndEphemeralPorts) {
  Udp& udp = s_.stack.udp();
  UdpSocket* e1 = *udp.bind(Ipv4Address::any(), L4Port(0));
  UdpSocket* e2 = *udp.bind(Ipv4Address::any(), L4Port(0));
  EXPECT_GE(e1->local_port().v, 49152);
  EXPECT_GE(e2->local_port().v, 49152);
  EXPECT_NE(e1->local_port(), e2->local_port());
  UdpSocket* s7 = *udp.bind(Ipv4Address::any(), L4Port(7));
  auto again = udp.bind(Ipv4Address::any(), L4Port(7));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, Errc::kAddressInUse);
  EXPECT_FALSE(udp.bind(Ipv4Address::any(), e1->local_port()).ok());
  udp.close(s7);
  s_.feed_ip(udp_datagram(1, 7, pattern(4, 1)));
  EXPECT_EQ(c().drop.udp_no_port.get(), 1u);
  EXPECT_EQ(s_.take_sent().size(), 1u);  // port unreachable
  UdpSocket* s7b = *udp.bind(Ipv4Address::any(), L4Port(7));
  s_.feed_ip(udp_datagram(1, 7, pattern(4, 1)));
  EXPECT_EQ(s7b->queued(), 1u);
  auto r = s7b->send_to(kPeerIp, L4Port(0), pattern(4, 1));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kInvalidArgument);
}

TEST(UdpEphemeralTest, EveryEphemeralPortThenNone) {
  StackConfig config;
  config.udp.rx_queue = 1;
  FakeStack s(config);
  std::set<uint16_t> ports;
  for (int i = 0; i < 16384; ++i) {
    auto r = s.stack.udp().bind(Ipv4Address::any(), L4Port(0));
    ASSERT_TRUE(r.ok()) << i;
    ASSERT_GE((*r)->local_port().v, 49152);
    ports.insert((*r)->local_port().v);
  }
  EXPECT_EQ(ports.size(), 16384u);
  auto r = s.stack.udp().bind(Ipv4Address::any(), L4Port(0));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kAddressInUse);
  EXPECT_TRUE(s.stack.udp().bind(Ipv4Address::any(), L4Port(1000)).ok());
}

TEST_F(IcmpUdpTest, BadUdpIsDroppedAndCounted) {
  UdpSocket* sock = *s_.stack.udp().bind(Ipv4Address::any(), L4Port(7000));
  auto good = udp_bytes(kPeerIp, kOurIp, 1, 7000, pattern(30, 1));
  auto bad_sum = good;
  bad_sum[8 + 5] ^= std::byte{0x10};
  s_.feed_ip(ipv4_bytes(IpFields{}, bad_sum));
  EXPECT_EQ(c().drop.udp_bad_checksum.get(), 1u);
  auto too_long = good;
  store16(too_long.data() + 4, static_cast<uint16_t>(good.size() + 1));
  s_.feed_ip(ipv4_bytes(IpFields{}, too_long));
  auto too_short = good;
  store16(too_short.data() + 4, 7);
  s_.feed_ip(ipv4_bytes(IpFields{}, too_short));
  EXPECT_EQ(c().drop.udp_bad_length.get(), 2u);
  s_.feed_ip(ipv4_bytes(IpFields{}, std::span(good).first(7)));
  EXPECT_EQ(c().drop.udp_truncated.get(), 1u);
  EXPECT_EQ(sock->queued(), 0u);
  EXPECT_EQ(c().total_drops(), 4u);
  EXPECT_TRUE(s_.take_sent().empty());  // no error about a damaged datagram
  EXPECT_TRUE(s_.pool_full());
}

TEST_F(IcmpUdpTest, ZeroChecksumAndShortLengthFieldAreAccepted) {
  UdpSocket* sock = *s_.stack.udp().bind(Ipv4Address::any(), L4Port(7000));
  auto none = udp_bytes(kPeerIp, kOurIp, 1, 7000, pattern(30, 2));
  store16(none.data() + 6, 0);  // RFC 768: the sender computed no checksum
  s_.feed_ip(ipv4_bytes(IpFields{}, none));
  auto d = sock->recv();
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(chain_bytes(*d->data), pattern(30, 2));
  // A length field shorter than the IP payload: the rest is not data.
  auto shorter = udp_bytes(kPeerIp, kOurIp, 1, 7000, pattern(5, 3));
  const auto trailer = pattern(11, 4);
  shorter.insert(shorter.end(), trailer.begin(), trailer.end());
  s_.feed_ip(ipv4_bytes(IpFields{}, shorter));
  d = sock->recv();
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(chain_bytes(*d->data), pattern(5, 3));
  EXPECT_EQ(c().total_drops(), 0u);
}

class UdpSmallQueueTest : public IcmpUdpTest {
 protected:
  static StackConfig config() {
    StackConfig c;
    c.udp.rx_queue = 4;
    return c;
  }
  UdpSmallQueueTest() : IcmpUdpTest(config()) {}
};

TEST_F(UdpSmallQueueTest, AFullSocketQueueDropsAndCounts) {
  UdpSocket* sock = *s_.stack.udp().bind(Ipv4Address::any(), L4Port(7000));
  int readable = 0;
  sock->set_on_readable([](void* a, UdpSocket&) { ++*static_cast<int*>(a); }, &readable);
  for (uint8_t i = 0; i < 6; ++i)
    s_.feed_ip(udp_datagram(1, 7000, pattern(10, i)));
  EXPECT_EQ(sock->queued(), 4u);
  EXPECT_EQ(c().drop.udp_rx_queue_full.get(), 2u);
  EXPECT_EQ(c().udp_rx_datagrams.get(), 4u);
  EXPECT_EQ(readable, 4);
  for (uint8_t i = 0; i < 4; ++i) {
    auto d = sock->recv();
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(chain_bytes(*d->data), pattern(10, i));  // oldest first
  }
  EXPECT_FALSE(sock->recv().has_value());
  s_.feed_ip(udp_datagram(1, 7000, pattern(10, 9)));  // room again
  EXPECT_EQ(sock->queued(), 1u);
  EXPECT_TRUE(s_.take_sent().empty());
}

TEST_F(IcmpUdpTest, ASocketBoundToAnAddressTakesOnlyThatAddress) {
  UdpSocket* ours = *s_.stack.udp().bind(kOurIp, L4Port(8000));
  UdpSocket* other = *s_.stack.udp().bind(ip(77), L4Port(8001));
  s_.feed_ip(udp_datagram(1, 8000, pattern(3, 1)));
  EXPECT_EQ(ours->queued(), 1u);
  s_.feed_ip(udp_datagram(1, 8001, pattern(3, 1)));
  EXPECT_EQ(other->queued(), 0u);
  EXPECT_EQ(c().drop.udp_no_port.get(), 1u);
  IpFields f;
  f.dst = kSubnetBroadcast;
  s_.feed_ip(udp_datagram(1, 8001, pattern(3, 1), f));  // broadcasts reach every socket
  EXPECT_EQ(other->queued(), 1u);
}

}  // namespace
}  // namespace sn
