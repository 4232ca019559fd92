// Tests of the IPv4 path on a stack over the scripted fake port: Ethernet and
// IPv4 validation, each refused frame counted under exactly one drop reason;
// options, padding and broadcasts accepted; and the send side: fragmentation
// checked on the wire bytes, DF, size limits and routes.
#include "stack/ipv4.h"

#include <gtest/gtest.h>

#include <cstring>
#include <functional>

#include "stack/stack_testing.h"

namespace sn {
namespace {

using namespace sn::testing;

constexpr uint16_t kPort = 7000;

class Ipv4Test : public ::testing::Test {
 protected:
  Ipv4Test() {
    s_.take_sent();
    sock_ = *s_.stack.udp().bind(Ipv4Address::any(), L4Port(kPort));
  }
  const StackCounters& c() const { return s_.stack.counters(); }
  // The next datagram queued on the socket: its payload, or "none".
  std::optional<std::vector<std::byte>> received() {
    auto d = sock_->recv();
    if (!d) return std::nullopt;
    return chain_bytes(*d->data);
  }

  FakeStack s_;
  UdpSocket* sock_ = nullptr;
};

TEST_F(Ipv4Test, EthernetFramesWeDoNotTakeAreCounted) {
  const auto dgram = udp_datagram(1, kPort, pattern(10, 1));
  PacketPtr runt = s_.pool.alloc();
  std::memset(runt->append(13), 0xff, 13);  // one byte short of a header
  s_.feed(std::move(runt));
  EXPECT_EQ(c().drop.eth_truncated.get(), 1u);
  s_.feed(eth_frame(s_.pool, mac(9), kPeerMac, kEtherTypeIpv4, dgram));
  EXPECT_EQ(c().drop.eth_not_for_us.get(), 1u);
  s_.feed(eth_frame(s_.pool, kOurMac, kPeerMac, 0x86dd, dgram));
  EXPECT_EQ(c().drop.eth_unknown_type.get(), 1u);
  s_.feed(eth_frame(s_.pool, kOurMac, kPeerMac, 0x0100, dgram));  // an 802.3 length
  EXPECT_EQ(c().drop.eth_unsupported.get(), 1u);
  // A VLAN tag with an ID is not ours; a priority tag (VLAN ID 0) is.
  for (uint16_t tci : {0x2005, 0x2000}) {
    std::vector<std::byte> tagged(4 + dgram.size());
    store16(tagged.data(), tci);
    store16(tagged.data() + 2, kEtherTypeIpv4);
    std::copy(dgram.begin(), dgram.end(), tagged.begin() + 4);
    s_.feed(eth_frame(s_.pool, kOurMac, kPeerMac, kEtherTypeVlan, tagged));
  }
  EXPECT_EQ(c().drop.eth_unsupported.get(), 2u);
  EXPECT_EQ(received(), pattern(10, 1));
  EXPECT_EQ(c().total_drops(), 5u);
  EXPECT_EQ(c().rx_frames.get(), 6u);
  EXPECT_TRUE(s_.take_sent().empty());
}

struct DropCase {
  const char* name;
  std::function<void(std::vector<std::byte>&)> edit;  // applied to a good datagram
  Counter StackCounters::Drops::*reason;
};

void set_ihl(std::vector<std::byte>& d, uint8_t ihl) {
  d[0] = std::byte((4 << 4) | ihl);
}

// A good UDP datagram with 4 bytes of options; `opts` replaces them.
std::vector<std::byte> with_options(std::vector<uint8_t> opts) {
  IpFields f;
  for (uint8_t o : opts)
    f.options.push_back(std::byte{o});
  return udp_datagram(1, kPort, pattern(10, 2), f);
}

TEST_F(Ipv4Test, EachMalformedDatagramIsCountedUnderItsReason) {
  using D = StackCounters::Drops;
  const std::vector<DropCase> cases = {
      {"shorter than a header", [](auto& d) { d.resize(19); }, &D::ip_truncated},
      {"version 6", [](auto& d) { d[0] = std::byte{0x65}; }, &D::ip_bad_version},
      {"IHL 4", [](auto& d) { set_ihl(d, 4); }, &D::ip_bad_header_length},
      {"IHL past the bytes", [](auto& d) { set_ihl(d, 15); }, &D::ip_truncated},
      {"total length past the bytes",
       [](auto& d) {
         store16(d.data() + 2, static_cast<uint16_t>(d.size() + 1));
         fix_ip_checksum(d);
       },
       &D::ip_bad_total_length},
      {"total length inside the header",
       [](auto& d) {
         store16(d.data() + 2, 19);
         fix_ip_checksum(d);
       },
       &D::ip_bad_total_length},
      {"bad checksum", [](auto& d) { d[10] ^= std::byte{0x01}; }, &D::ip_bad_checksum},
      {"option length 0",
       [](auto& d) {
         d = with_options({0x44, 0, 0, 0});
       },
       &D::ip_bad_option},
      {"option past the header",
       [](auto& d) {
         d = with_options({0x07, 9, 0, 0});
       },
       &D::ip_bad_option},
      {"option without a length",
       [](auto& d) {
         d = with_options({1, 1, 1, 0x83});
       },
       &D::ip_bad_option},
      {"limited broadcast source",
       [](auto& d) {
         Ipv4Address::broadcast().store(d.data() + 12);
         fix_ip_checksum(d);
       },
       &D::ip_bad_source},
      {"directed broadcast source",
       [](auto& d) {
         kSubnetBroadcast.store(d.data() + 12);
         fix_ip_checksum(d);
       },
       &D::ip_bad_source},
      {"multicast source",
       [](auto& d) {
         Ipv4Address::from_octets(224, 0, 0, 5).store(d.data() + 12);
         fix_ip_checksum(d);
       },
       &D::ip_bad_source},
      {"another host on the subnet",
       [](auto& d) {
         ip(9).store(d.data() + 16);
         fix_ip_checksum(d);
       },
       &D::ip_not_for_us},
      {"another subnet",
       [](auto& d) {
         Ipv4Address::from_octets(10, 0, 1, 1).store(d.data() + 16);
         fix_ip_checksum(d);
       },
       &D::ip_not_for_us},
  };
  for (const DropCase& dc : cases) {
    SCOPED_TRACE(dc.name);
    FakeStack s;
    s.take_sent();
    UdpSocket* sock = *s.stack.udp().bind(Ipv4Address::any(), L4Port(kPort));
    auto d = udp_datagram(1, kPort, pattern(10, 2));
    dc.edit(d);
    s.feed_ip(d);
    const StackCounters& sc = s.stack.counters();
    EXPECT_EQ((sc.drop.*dc.reason).get(), 1u);
    EXPECT_EQ(sc.total_drops(), 1u);
    EXPECT_EQ(sc.ip_rx_datagrams.get(), 0u);
    EXPECT_EQ(sock->queued(), 0u);
    EXPECT_TRUE(s.take_sent().empty());
    EXPECT_TRUE(s.pool_full());
  }
}

TEST_F(Ipv4Test, WellFormedOptionsAreAccepted) {
  // NOPs and an end of list; then a 12-byte timestamp option (RFC 791, type 68).
  s_.feed_ip(with_options({1, 1, 1, 0}));
  EXPECT_EQ(received(), pattern(10, 2));
  s_.feed_ip(with_options({0x44, 12, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(received(), pattern(10, 2));
  EXPECT_EQ(c().total_drops(), 0u);
  EXPECT_EQ(c().ip_rx_datagrams.get(), 2u);
}

TEST_F(Ipv4Test, LinkPaddingIsTrimmed) {
  // Small datagrams padded to the 60-byte minimum frame, with padding that
  // would break the checksums if it were taken for data.
  s_.feed_ip(udp_datagram(1, kPort, pattern(3, 3)), 60 - 14 - 31, std::byte{0x5a});
  EXPECT_EQ(received(), pattern(3, 3));
  s_.learn_peer();
  IpFields f;
  f.protocol = kIpProtoIcmp;
  s_.feed_ip(ipv4_bytes(f, icmp_bytes(IcmpHeader::echo_request(5, 6), pattern(4, 4))), 60 - 14 - 32,
             std::byte{0xa5});
  auto sent = s_.take_sent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0]->size(), 60u);  // 14 + 20 + 8 + 4, padded to the Ethernet minimum
  EXPECT_EQ(ip_payload_of(*sent[0]), icmp_bytes(IcmpHeader::echo_reply(5, 6), pattern(4, 4)));
  EXPECT_EQ(c().total_drops(), 0u);
}

TEST_F(Ipv4Test, BroadcastsAreAccepted) {
  for (Ipv4Address dst : {kSubnetBroadcast, Ipv4Address::broadcast()}) {
    IpFields f;
    f.dst = dst;
    s_.feed(eth_frame(s_.pool, MacAddress::broadcast(), kPeerMac, kEtherTypeIpv4,
                      udp_datagram(1, kPort, pattern(5, 5), f)));
    auto d = sock_->recv();
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(d->dst, dst);
    EXPECT_EQ(d->src, kPeerIp);
    EXPECT_EQ(chain_bytes(*d->data), pattern(5, 5));
  }
  EXPECT_EQ(c().total_drops(), 0u);
}

TEST_F(Ipv4Test, UnknownProtocolGetsProtocolUnreachable) {
  s_.learn_peer();
  IpFields f;
  f.protocol = 253;  // RFC 3692 experimental
  const auto d = ipv4_bytes(f, pattern(40, 6));
  s_.feed_ip(d);
  EXPECT_EQ(c().drop.ip_unknown_protocol.get(), 1u);
  auto sent = s_.take_sent();
  ASSERT_EQ(sent.size(), 1u);
  auto reply = ip_of(*sent[0]);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->src(), kOurIp);
  EXPECT_EQ(reply->dst(), kPeerIp);
  EXPECT_EQ(reply->protocol(), kIpProtoIcmp);
  // RFC 792: the header and the first 64 bits of the datagram's data.
  EXPECT_EQ(
      to_vec(reply->payload()),
      icmp_bytes(IcmpHeader::dest_unreachable(kIcmpProtocolUnreachable), std::span(d).first(28)));
  // Not when it was sent to a broadcast address.
  f.dst = kSubnetBroadcast;
  s_.feed_ip(ipv4_bytes(f, pattern(40, 6)));
  EXPECT_EQ(c().drop.ip_unknown_protocol.get(), 2u);
  EXPECT_TRUE(s_.take_sent().empty());
}

TEST_F(Ipv4Test, A4000ByteDatagramLeavesAsThreeFragments) {
  s_.learn_peer();
  const auto data = pattern(4000, 7);
  ASSERT_TRUE(sock_->send_to(kPeerIp, L4Port(9), data).ok());
  s_.flush();
  auto sent = s_.take_sent();
  ASSERT_EQ(sent.size(), 3u);
  const uint16_t offsets[] = {0, 1480, 2960};
  const uint16_t lengths[] = {1500, 1500, 20 + 4008 - 2960};
  std::vector<std::byte> whole;
  const uint16_t id = ip_of(*sent[0])->id();
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(eth_of(*sent[i])->dst, kPeerMac);
    auto v = ip_of(*sent[i]);
    ASSERT_TRUE(v.has_value());
    EXPECT_TRUE(v->checksum_ok());
    EXPECT_EQ(v->header_length(), 20u);
    EXPECT_EQ(v->id(), id);
    EXPECT_EQ(v->fragment_offset(), offsets[i]);
    EXPECT_EQ(v->mf(), i < 2);
    EXPECT_FALSE(v->df());
    EXPECT_EQ(v->total_length(), lengths[i]);
    EXPECT_EQ(sent[i]->size(), 14u + lengths[i]);
    EXPECT_EQ(v->ttl(), 64);
    EXPECT_EQ(v->protocol(), kIpProtoUdp);
    EXPECT_EQ(v->src(), kOurIp);
    EXPECT_EQ(v->dst(), kPeerIp);
    whole.insert(whole.end(), v->payload().begin(), v->payload().end());
  }
  EXPECT_EQ(whole, udp_bytes(kOurIp, kPeerIp, kPort, 9, data));
  EXPECT_EQ(c().ip_tx_datagrams.get(), 1u);
  EXPECT_EQ(c().ip_tx_fragments.get(), 3u);
  EXPECT_EQ(c().udp_tx_datagrams.get(), 1u);
  // The next datagram has the next ID.
  ASSERT_TRUE(sock_->send_to(kPeerIp, L4Port(9), data).ok());
  s_.flush();
  sent = s_.take_sent();
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(ip_of(*sent[0])->id(), static_cast<uint16_t>(id + 1));
  sent.clear();
  EXPECT_TRUE(s_.pool_full());  // the copies released the datagram's buffers
}

TEST_F(Ipv4Test, ADatagramOfExactlyTheMtuIsNotFragmented) {
  s_.learn_peer();
  ASSERT_TRUE(sock_->send_to(kPeerIp, L4Port(9), pattern(1472, 8)).ok());
  ASSERT_TRUE(sock_->send_to(kPeerIp, L4Port(9), pattern(1473, 8)).ok());
  s_.flush();
  auto sent = s_.take_sent();
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(ip_of(*sent[0])->total_length(), 1500);
  EXPECT_FALSE(ip_of(*sent[0])->is_fragment());
  EXPECT_EQ(ip_of(*sent[1])->total_length(), 1500);
  EXPECT_EQ(ip_of(*sent[2])->total_length(), 21);
  EXPECT_EQ(ip_of(*sent[2])->fragment_offset(), 1480);
}

TEST_F(Ipv4Test, DontFragmentAndSizeLimitsAreRefused) {
  s_.learn_peer();
  Ipv4::Send send;
  send.dst = kPeerIp;
  send.protocol = 253;
  send.df = true;
  auto r = s_.stack.ipv4().send(send, s_.pool.alloc_chain(1481, 1920));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kTooBig);
  EXPECT_EQ(c().drop.ip_df_too_big.get(), 1u);
  send.df = false;
  r = s_.stack.ipv4().send(send, s_.pool.alloc_chain(65536 - 20, 1920));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(c().drop.ip_too_big.get(), 1u);
  auto u = sock_->send_to(kPeerIp, L4Port(9), std::vector<std::byte>(65508));
  ASSERT_FALSE(u.ok());
  EXPECT_EQ(u.error().code, Errc::kTooBig);
  EXPECT_TRUE(s_.take_sent().empty());
  EXPECT_TRUE(s_.pool_full());
  // The largest datagram goes: 65535 bytes in 45 fragments.
  ASSERT_TRUE(sock_->send_to(kPeerIp, L4Port(9), std::vector<std::byte>(65507)).ok());
  s_.flush();
  auto sent = s_.take_sent();
  ASSERT_EQ(sent.size(), 45u);
  EXPECT_EQ(ip_of(*sent[44])->fragment_offset() + ip_of(*sent[44])->payload().size(), 65515u);
}

TEST_F(Ipv4Test, RoutesAndTheGateway) {
  const Ipv4Address far = Ipv4Address::from_octets(192, 168, 7, 7);
  auto r = sock_->send_to(far, L4Port(9), pattern(10, 9));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kUnreachable);
  EXPECT_EQ(c().drop.ip_no_route.get(), 1u);
  EXPECT_FALSE(s_.stack.set_gateway(far).ok());  // not on a connected subnet
  ASSERT_TRUE(s_.stack.set_gateway(ip(254)).ok());
  ASSERT_TRUE(sock_->send_to(far, L4Port(9), pattern(10, 9)).ok());
  s_.flush();
  auto sent = s_.take_sent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(arp_of(*sent[0]), arp_request(kOurMac, kOurIp, ip(254)));  // the gateway's MAC
  s_.feed(arp_frame(s_.pool, arp_reply(mac(254), ip(254), kOurMac, kOurIp), kOurMac));
  sent = s_.take_sent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(eth_of(*sent[0])->dst, mac(254));
  EXPECT_EQ(ip_of(*sent[0])->dst(), far);
}

TEST_F(Ipv4Test, BroadcastsLeaveToTheBroadcastMac) {
  for (Ipv4Address dst : {kSubnetBroadcast, Ipv4Address::broadcast()}) {
    ASSERT_TRUE(sock_->send_to(dst, L4Port(9), pattern(10, 10)).ok());
    s_.flush();
    auto sent = s_.take_sent();
    ASSERT_EQ(sent.size(), 1u);  // no ARP for a broadcast
    EXPECT_EQ(eth_of(*sent[0])->dst, MacAddress::broadcast());
    EXPECT_EQ(ip_of(*sent[0])->src(), kOurIp);
    EXPECT_EQ(ip_of(*sent[0])->dst(), dst);
  }
}

TEST(Ipv4ConfigTest, DefaultTtlComesFromTheConfiguration) {
  StackConfig config;
  config.default_ttl = 17;
  FakeStack s(config);
  s.take_sent();
  s.learn_peer();
  UdpSocket* sock = *s.stack.udp().bind(Ipv4Address::any(), L4Port(1));
  ASSERT_TRUE(sock->send_to(kPeerIp, L4Port(9), pattern(1, 1)).ok());
  s.flush();
  auto sent = s.take_sent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(ip_of(*sent[0])->ttl(), 17);
}

}  // namespace
}  // namespace sn
