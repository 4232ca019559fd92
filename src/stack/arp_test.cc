// Tests of ARP on a stack over the scripted fake port, on a manual clock:
// gratuitous ARP at start, resolution that holds packets and releases them in
// order, retries at exact virtual times and giving up, the bounded queue and
// cache, answers (and non-answers) to requests, expiry, and what is refused.
#include "stack/arp.h"

#include <gtest/gtest.h>

#include "stack/stack_testing.h"

namespace sn {
namespace {

using namespace sn::testing;

class ArpTest : public ::testing::Test {
 protected:
  explicit ArpTest(const StackConfig& config = {}) : s_(config) {
    s_.take_sent();  // the gratuitous ARP
    sock_ = *s_.stack.udp().bind(Ipv4Address::any(), L4Port(5000));
  }
  // Sends a one-byte datagram tagged `tag` to `dst`.
  void send(Ipv4Address dst, uint8_t tag) {
    std::byte b{tag};
    ASSERT_TRUE(sock_->send_to(dst, L4Port(9), std::span<const std::byte>(&b, 1)).ok());
    s_.flush();
  }
  // The tag of a sent datagram.
  static uint8_t tag_of(const Packet& frame) {
    auto udp = ip_payload_of(frame);
    SN_CHECK(udp.size() == 9);
    return std::to_integer<uint8_t>(udp[8]);
  }
  const StackCounters& c() const { return s_.stack.counters(); }

  FakeStack s_;
  UdpSocket* sock_ = nullptr;
};

// A 42-byte ARP frame leaves zero-padded to the 60-byte Ethernet minimum.
std::vector<std::byte> padded(std::vector<std::byte> frame) {
  frame.resize(std::max<size_t>(frame.size(), 60), std::byte{0});
  return frame;
}

TEST(ArpStartTest, GratuitousArpAtStart) {
  FakeStack s;
  ASSERT_EQ(s.port.sent.size(), 1u);
  EXPECT_EQ(s.port.sent_at[0], kT0);
  // RFC 5227 §3: an ARP Announcement, sender and target address both ours.
  const uint8_t want[] = {
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0,    0, 0, 0, 1, 0x08, 0x06,  // Ethernet
      0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01,        // Ethernet/IPv4 request
      0x02, 0,    0,    0,    0,    1,    10,   0,    0, 1,  // sha, spa
      0,    0,    0,    0,    0,    0,    10,   0,    0, 1,  // tha, tpa
  };
  EXPECT_EQ(bytes_of(*s.port.sent[0]), padded(to_vec(want)));
  EXPECT_EQ(s.stack.counters().arp_tx_requests.get(), 1u);
  EXPECT_EQ(s.stack.counters().tx_frames.get(), 1u);
}

TEST_F(ArpTest, ResolutionHoldsPacketsAndReleasesThemInOrder) {
  send(kPeerIp, 0);
  send(ip(3), 9);
  send(kPeerIp, 1);
  send(kPeerIp, 2);
  auto sent = s_.take_sent();
  ASSERT_EQ(sent.size(), 2u);  // one request per next hop, none for the later packets
  EXPECT_EQ(arp_of(*sent[0]), arp_request(kOurMac, kOurIp, kPeerIp));
  EXPECT_EQ(eth_of(*sent[0])->dst, MacAddress::broadcast());
  EXPECT_EQ(arp_of(*sent[1]), arp_request(kOurMac, kOurIp, ip(3)));
  EXPECT_EQ(s_.stack.arp().pending_packets(), 4u);

  s_.feed(arp_frame(s_.pool, arp_reply(kPeerMac, kPeerIp, kOurMac, kOurIp), kOurMac));
  sent = s_.take_sent();
  ASSERT_EQ(sent.size(), 3u);
  for (uint8_t i = 0; i < 3; ++i) {
    EXPECT_EQ(tag_of(*sent[i]), i);
    EXPECT_EQ(eth_of(*sent[i])->dst, kPeerMac);
    EXPECT_EQ(eth_of(*sent[i])->src, kOurMac);
  }
  EXPECT_EQ(s_.stack.arp().lookup(kPeerIp), kPeerMac);
  EXPECT_EQ(s_.stack.arp().pending_packets(), 1u);
  EXPECT_EQ(c().arp_resolved.get(), 1u);
  // Resolved: the next packet leaves at once.
  send(kPeerIp, 3);
  sent = s_.take_sent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(tag_of(*sent[0]), 3);
  EXPECT_EQ(c().total_drops(), 0u);
}

TEST_F(ArpTest, RetriesAtTheIntervalThenGivesUpCountingEachPacket) {
  const Instant t0 = kT0 + Duration::millis(5);
  s_.advance_to(t0);
  send(kPeerIp, 0);
  send(kPeerIp, 1);
  // The default: a request, then one per second, three in all; given up at 3 s.
  s_.advance_to(t0 + Duration::seconds(3) - Duration::nanos(1));
  EXPECT_EQ(c().drop.arp_unresolved.get(), 0u);
  EXPECT_EQ(s_.stack.arp().pending_packets(), 2u);
  s_.advance_to(t0 + Duration::seconds(3));
  EXPECT_EQ(c().drop.arp_unresolved.get(), 2u);
  EXPECT_EQ(s_.stack.arp().pending_packets(), 0u);
  ASSERT_EQ(s_.port.sent.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(arp_of(*s_.port.sent[i]), arp_request(kOurMac, kOurIp, kPeerIp));
    EXPECT_EQ(s_.port.sent_at[i], t0 + Duration::seconds(i));
  }
  EXPECT_EQ(c().arp_tx_requests.get(), 1u + 3u);
  s_.advance(Duration::seconds(10));
  EXPECT_EQ(s_.port.sent.size(), 3u);  // nothing more
  s_.take_sent();
  EXPECT_TRUE(s_.pool_full());
  EXPECT_EQ(c().total_drops(), 2u);

  // Given up means forgotten: the next packet starts a new resolution.
  send(kPeerIp, 2);
  auto sent = s_.take_sent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(arp_of(*sent[0]), arp_request(kOurMac, kOurIp, kPeerIp));
}

class ArpConfiguredRetryTest : public ArpTest {
 protected:
  static StackConfig config() {
    StackConfig c;
    c.arp.retry_interval = Duration::millis(250);
    c.arp.max_retries = 5;
    return c;
  }
  ArpConfiguredRetryTest() : ArpTest(config()) {}
};

TEST_F(ArpConfiguredRetryTest, RetriesFollowTheConfiguration) {
  const Instant t0 = kT0 + Duration::millis(3);
  s_.advance_to(t0);
  send(kPeerIp, 0);
  s_.advance_to(t0 + Duration::millis(1250) - Duration::nanos(1));
  EXPECT_EQ(c().drop.arp_unresolved.get(), 0u);
  s_.advance_to(t0 + Duration::millis(1250));
  EXPECT_EQ(c().drop.arp_unresolved.get(), 1u);
  ASSERT_EQ(s_.port.sent.size(), 5u);
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(s_.port.sent_at[i], t0 + Duration::millis(250) * i);
}

TEST_F(ArpTest, AReplyBeforeGivingUpStopsTheRetries) {
  send(kPeerIp, 0);
  s_.advance(Duration::millis(1500));  // one retry so far
  EXPECT_EQ(s_.port.sent.size(), 2u);
  s_.feed(arp_frame(s_.pool, arp_reply(kPeerMac, kPeerIp, kOurMac, kOurIp), kOurMac));
  s_.advance(Duration::seconds(10));
  auto sent = s_.take_sent();
  ASSERT_EQ(sent.size(), 3u);  // two requests and the datagram
  EXPECT_EQ(tag_of(*sent[2]), 0);
  EXPECT_EQ(c().total_drops(), 0u);
}

class ArpSmallQueueTest : public ArpTest {
 protected:
  static StackConfig config() {
    StackConfig c;
    c.arp.pending_per_entry = 6;
    c.arp.pending_total = 8;
    return c;
  }
  ArpSmallQueueTest() : ArpTest(config()) {}
};

TEST_F(ArpTest, PendingQueuePerNextHopIsBounded) {
  for (uint8_t i = 0; i < 20; ++i)
    send(kPeerIp, i);
  EXPECT_EQ(c().drop.arp_pending_full.get(), 4u);  // 16 wait
  EXPECT_EQ(s_.stack.arp().pending_packets(), 16u);
  s_.take_sent();
  s_.feed(arp_frame(s_.pool, arp_reply(kPeerMac, kPeerIp, kOurMac, kOurIp), kOurMac));
  auto sent = s_.take_sent();
  ASSERT_EQ(sent.size(), 16u);
  for (uint8_t i = 0; i < 16; ++i)
    EXPECT_EQ(tag_of(*sent[i]), i);  // the first sixteen, in order
}

TEST_F(ArpSmallQueueTest, PendingQueueOverAllNextHopsIsBounded) {
  for (uint8_t i = 0; i < 7; ++i)
    send(kPeerIp, i);  // 6 wait, 1 refused by the per-hop bound
  for (uint8_t i = 0; i < 3; ++i)
    send(ip(3), 100 + i);  // 2 wait, 1 refused by the total bound
  EXPECT_EQ(c().drop.arp_pending_full.get(), 2u);
  EXPECT_EQ(s_.stack.arp().pending_packets(), 8u);
  s_.take_sent();
  s_.feed(arp_frame(s_.pool, arp_reply(mac(3), ip(3), kOurMac, kOurIp), kOurMac));
  auto sent = s_.take_sent();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(tag_of(*sent[0]), 100);
  EXPECT_EQ(tag_of(*sent[1]), 101);
  // The freed room takes new packets again.
  send(kPeerIp, 6);
  EXPECT_EQ(c().drop.arp_pending_full.get(), 3u);  // the per-hop bound still holds
  send(ip(4), 200);
  EXPECT_EQ(c().drop.arp_pending_full.get(), 3u);
  EXPECT_EQ(s_.stack.arp().pending_packets(), 7u);
}

TEST_F(ArpTest, AnswersARequestForOurAddress) {
  s_.feed(arp_frame(s_.pool, arp_request(kPeerMac, kPeerIp, kOurIp)));
  auto sent = s_.take_sent();
  ASSERT_EQ(sent.size(), 1u);
  const uint8_t want[] = {
      0x02, 0,    0,    0,    0,    2,    0x02, 0,    0, 0,
      0,    1,    0x08, 0x06,                                // to the asker, from us
      0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02,        // reply
      0x02, 0,    0,    0,    0,    1,    10,   0,    0, 1,  // sha, spa: us
      0x02, 0,    0,    0,    0,    2,    10,   0,    0, 2,  // tha, tpa: the asker
  };
  EXPECT_EQ(bytes_of(*sent[0]), padded(to_vec(want)));
  EXPECT_EQ(c().arp_rx.get(), 1u);
  EXPECT_EQ(c().arp_tx_replies.get(), 1u);
  // RFC 826: the asker is added to the table.
  EXPECT_EQ(s_.stack.arp().lookup(kPeerIp), kPeerMac);
  EXPECT_EQ(c().total_drops(), 0u);
}

TEST_F(ArpTest, AnswersAProbeByBroadcast) {
  // RFC 5227 §2.1.1: a probe has sender address 0.0.0.0; nothing to learn.
  s_.feed(arp_frame(s_.pool, arp_request(mac(5), Ipv4Address::any(), kOurIp)));
  auto sent = s_.take_sent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(eth_of(*sent[0])->dst, MacAddress::broadcast());
  EXPECT_EQ(arp_of(*sent[0]), arp_reply(kOurMac, kOurIp, mac(5), Ipv4Address::any()));
  EXPECT_EQ(s_.stack.arp().resolved_count(), 0u);
}

TEST_F(ArpTest, IgnoresRequestsForOtherAddresses) {
  s_.feed(arp_frame(s_.pool, arp_request(kPeerMac, kPeerIp, ip(9))));
  EXPECT_TRUE(s_.take_sent().empty());
  EXPECT_EQ(c().arp_rx.get(), 1u);
  EXPECT_EQ(c().arp_tx_replies.get(), 0u);
  EXPECT_EQ(s_.stack.arp().resolved_count(), 0u);
  EXPECT_FALSE(s_.stack.arp().lookup(kPeerIp).has_value());
  EXPECT_EQ(c().total_drops(), 0u);
  // Learned nothing: sending to the peer still needs a resolution.
  send(kPeerIp, 0);
  auto sent = s_.take_sent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_TRUE(arp_of(*sent[0]).has_value());
}

TEST_F(ArpTest, TrafficForOthersUpdatesAnEntryWeHave) {
  // RFC 826 "merge": an existing entry takes the sender's new hardware address.
  s_.learn_peer();
  s_.feed(arp_frame(s_.pool, arp_request(mac(7), kPeerIp, ip(9))));
  EXPECT_TRUE(s_.take_sent().empty());
  EXPECT_EQ(s_.stack.arp().lookup(kPeerIp), mac(7));
  EXPECT_EQ(s_.stack.arp().resolved_count(), 1u);
}

class ArpShortTtlTest : public ArpTest {
 protected:
  static StackConfig config() {
    StackConfig c;
    c.arp.entry_ttl = Duration::seconds(5);
    return c;
  }
  ArpShortTtlTest() : ArpTest(config()) {}
};

TEST_F(ArpShortTtlTest, AnEntryExpiresAfterItsTtl) {
  const Instant learned = kT0 + Duration::millis(1);
  s_.advance_to(learned);
  s_.feed(arp_frame(s_.pool, arp_request(kPeerMac, kPeerIp, kOurIp)));
  s_.take_sent();  // our reply
  s_.advance_to(learned + Duration::seconds(5) - Duration::nanos(1));
  EXPECT_EQ(s_.stack.arp().lookup(kPeerIp), kPeerMac);
  send(kPeerIp, 0);
  auto sent = s_.take_sent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(tag_of(*sent[0]), 0);  // straight out

  s_.advance_to(learned + Duration::seconds(5));
  EXPECT_FALSE(s_.stack.arp().lookup(kPeerIp).has_value());
  send(kPeerIp, 1);
  sent = s_.take_sent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(arp_of(*sent[0]), arp_request(kOurMac, kOurIp, kPeerIp));
  EXPECT_EQ(s_.stack.arp().pending_packets(), 1u);
  // A reply refreshes it for another full TTL.
  s_.feed(arp_frame(s_.pool, arp_reply(kPeerMac, kPeerIp, kOurMac, kOurIp), kOurMac));
  sent = s_.take_sent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(tag_of(*sent[0]), 1);
  s_.advance(Duration::seconds(5) - Duration::nanos(1));
  EXPECT_EQ(s_.stack.arp().lookup(kPeerIp), kPeerMac);
}

TEST_F(ArpTest, BadSendersAreCountedAndNotLearned) {
  const MacAddress multicast{{0x01, 0x00, 0x5e, 0, 0, 1}};
  s_.feed(arp_frame(s_.pool, arp_request(multicast, kPeerIp, kOurIp)));
  s_.feed(arp_frame(s_.pool, arp_request(MacAddress{}, kPeerIp, kOurIp)));
  s_.feed(arp_frame(s_.pool, arp_request(kPeerMac, Ipv4Address::broadcast(), kOurIp)));
  s_.feed(arp_frame(s_.pool, arp_request(kPeerMac, *Ipv4Address::parse("224.0.0.1"), kOurIp)));
  EXPECT_EQ(c().drop.arp_bad_sender.get(), 4u);
  EXPECT_EQ(c().arp_rx.get(), 4u);
  EXPECT_EQ(c().arp_tx_replies.get(), 0u);
  EXPECT_TRUE(s_.take_sent().empty());
  EXPECT_EQ(s_.stack.arp().resolved_count(), 0u);
  EXPECT_EQ(c().total_drops(), 4u);
}

TEST_F(ArpTest, MalformedAndUnsupportedAreCounted) {
  auto req = arp_bytes(arp_request(kPeerMac, kPeerIp, kOurIp));
  // Truncated: 27 bytes.
  s_.feed(eth_frame(s_.pool, MacAddress::broadcast(), kPeerMac, kEtherTypeArp,
                    std::span(req).first(27)));
  EXPECT_EQ(c().drop.arp_malformed.get(), 1u);
  // Another hardware type, protocol type, address lengths, opcode.
  for (auto [at, value] :
       std::initializer_list<std::pair<int, int>>{{1, 6}, {2, 0x86}, {4, 8}, {5, 16}, {7, 3}}) {
    auto bad = req;
    bad[at] = std::byte(value);
    s_.feed(eth_frame(s_.pool, MacAddress::broadcast(), kPeerMac, kEtherTypeArp, bad));
  }
  EXPECT_EQ(c().drop.arp_unsupported.get(), 5u);
  EXPECT_EQ(c().arp_rx.get(), 0u);
  EXPECT_TRUE(s_.take_sent().empty());
  EXPECT_EQ(s_.stack.arp().resolved_count(), 0u);
  // Ethernet padding after a good packet is fine.
  s_.feed(eth_frame(s_.pool, MacAddress::broadcast(), kPeerMac, kEtherTypeArp, req, 18,
                    std::byte{0x55}));
  EXPECT_EQ(c().arp_tx_replies.get(), 1u);
  EXPECT_EQ(c().total_drops(), 6u);
}

TEST_F(ArpTest, AConflictIsCountedAndDefendedAtMostOncePerDefendInterval) {
  const Instant t0 = kT0 + Duration::millis(1);
  s_.advance_to(t0);
  // Someone else claims 10.0.0.1.
  s_.feed(arp_frame(s_.pool, arp_reply(mac(9), kOurIp, MacAddress{}, kOurIp)));
  EXPECT_EQ(c().drop.arp_conflict.get(), 1u);
  auto sent = s_.take_sent();
  ASSERT_EQ(sent.size(), 1u);  // our announcement, RFC 5227 §2.4 (c)
  EXPECT_EQ(arp_of(*sent[0]), arp_request(kOurMac, kOurIp, kOurIp));
  EXPECT_FALSE(s_.stack.arp().lookup(kOurIp).has_value());
  // RFC 5227 §2.4 (c): no more than one defence per DEFEND_INTERVAL (10 s).
  s_.advance_to(t0 + Duration::seconds(10) - Duration::nanos(1));
  s_.feed(arp_frame(s_.pool, arp_request(mac(9), kOurIp, kOurIp)));
  EXPECT_EQ(c().drop.arp_conflict.get(), 2u);
  EXPECT_TRUE(s_.take_sent().empty());
  s_.advance_to(t0 + Duration::seconds(10));
  s_.feed(arp_frame(s_.pool, arp_request(mac(9), kOurIp, kOurIp)));
  EXPECT_EQ(c().drop.arp_conflict.get(), 3u);
  EXPECT_EQ(s_.take_sent().size(), 1u);
}

TEST_F(ArpTest, OurOwnAnnouncementIsNotDefendedAgainst) {
  s_.feed(arp_frame(s_.pool, arp_request(kOurMac, kOurIp, kOurIp)));
  EXPECT_EQ(c().drop.arp_conflict.get(), 1u);
  EXPECT_TRUE(s_.take_sent().empty());
}

class ArpSmallCacheTest : public ArpTest {
 protected:
  static StackConfig config() {
    StackConfig c;
    c.arp.cache_size = 2;
    return c;
  }
  ArpSmallCacheTest() : ArpTest(config()) {}
};

TEST_F(ArpSmallCacheTest, IncompleteEntriesAreNotEvictedResolvedOnesAre) {
  send(kPeerIp, 0);
  send(ip(3), 1);
  send(ip(4), 2);  // both entries wait for a reply: no room
  EXPECT_EQ(c().drop.arp_cache_full.get(), 1u);
  EXPECT_EQ(s_.take_sent().size(), 2u);
  s_.feed(arp_frame(s_.pool, arp_reply(kPeerMac, kPeerIp, kOurMac, kOurIp), kOurMac));
  EXPECT_EQ(s_.take_sent().size(), 1u);
  send(ip(4), 3);  // the resolved entry gives way
  EXPECT_EQ(c().drop.arp_cache_full.get(), 1u);
  auto sent = s_.take_sent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(arp_of(*sent[0]), arp_request(kOurMac, kOurIp, ip(4)));
  EXPECT_FALSE(s_.stack.arp().lookup(kPeerIp).has_value());
}

}  // namespace
}  // namespace sn
