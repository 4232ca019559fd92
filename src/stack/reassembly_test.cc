// Tests of IPv4 reassembly, fed hand-built fragments on a stack over the fake
// port: every order, duplicates, the overlap policy, each bound (datagrams,
// fragments, buffers, size) with its drop counter, the exact timeout and its
// ICMP time exceeded; and after every test, nothing held and no buffer lost.
#include "stack/reassembly.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "stack/stack_testing.h"

namespace sn {
namespace {

using namespace sn::testing;

constexpr uint16_t kPort = 7000;

class ReassemblyTest : public ::testing::Test {
 protected:
  explicit ReassemblyTest(const StackConfig& config = {}) : s_(config) {
    s_.take_sent();
    s_.learn_peer();
    sock_ = *s_.stack.udp().bind(Ipv4Address::any(), L4Port(kPort));
  }
  // Whatever a test left behind times out; then nothing is held or lost.
  void TearDown() override {
    s_.advance(Duration::seconds(61));
    s_.take_sent();
    while (sock_->recv()) {
    }
    EXPECT_EQ(r().in_flight(), 0u);
    EXPECT_EQ(r().buffers_held(), 0u);
    EXPECT_TRUE(s_.pool_full());
  }

  // The IP payload of a UDP datagram from the peer carrying `data`.
  static std::vector<std::byte> whole(std::span<const std::byte> data) {
    return udp_bytes(kPeerIp, kOurIp, 1234, kPort, data);
  }
  void frag(uint16_t id, std::span<const std::byte> w, uint32_t off, uint32_t len,
            std::optional<bool> mf = std::nullopt) {
    IpFields f;
    f.id = id;
    s_.feed_ip(fragment(f, w, off, len, mf));
  }
  // The payload of the next datagram on the socket, or none.
  std::optional<std::vector<std::byte>> received() {
    auto d = sock_->recv();
    if (!d) return std::nullopt;
    return chain_bytes(*d->data);
  }
  Reassembler& r() { return s_.stack.ipv4().reassembler(); }
  const StackCounters::Drops& drop() const { return s_.stack.counters().drop; }
  uint64_t drops() const { return s_.stack.counters().total_drops(); }

  FakeStack s_;
  UdpSocket* sock_ = nullptr;
};

TEST_F(ReassemblyTest, InOrder) {
  const auto data = pattern(4000, 1);
  const auto w = whole(data);
  frag(1, w, 0, 1480);
  frag(1, w, 1480, 1480);
  EXPECT_EQ(r().in_flight(), 1u);
  EXPECT_EQ(r().buffers_held(), 2u);
  EXPECT_EQ(sock_->queued(), 0u);
  frag(1, w, 2960, 1048);
  EXPECT_EQ(received(), data);
  EXPECT_EQ(r().in_flight(), 0u);
  EXPECT_EQ(r().buffers_held(), 0u);
  EXPECT_EQ(s_.stack.counters().ip_reassembled.get(), 1u);
  EXPECT_EQ(drops(), 0u);
}

TEST_F(ReassemblyTest, EveryOrderOfThreeFragments) {
  const auto data = pattern(4000, 2);
  const auto w = whole(data);
  const uint32_t off[] = {0, 1480, 2960}, len[] = {1480, 1480, 1048};
  int order[] = {0, 1, 2};
  uint16_t id = 10;
  do {
    for (int i : order)
      frag(id, w, off[i], len[i]);
    EXPECT_EQ(received(), data) << order[0] << order[1] << order[2];
    ++id;
  } while (std::next_permutation(std::begin(order), std::end(order)));
  EXPECT_EQ(s_.stack.counters().ip_reassembled.get(), 6u);
  EXPECT_EQ(drops(), 0u);
}

TEST_F(ReassemblyTest, FortyFragmentsOfEightBytesReversedAndShuffled) {
  const auto data = pattern(312, 3);
  const auto w = whole(data);  // 320 bytes: 40 fragments of 8
  std::vector<uint32_t> offs(40);
  std::iota(offs.begin(), offs.end(), 0u);
  std::reverse(offs.begin(), offs.end());
  for (uint32_t i : offs)
    frag(20, w, i * 8, 8);
  EXPECT_EQ(received(), data);
  Rng rng(4);
  for (size_t i = offs.size() - 1; i > 0; --i)
    std::swap(offs[i], offs[rng.below(i + 1)]);
  for (uint32_t i : offs)
    frag(21, w, i * 8, 8);
  EXPECT_EQ(received(), data);
  EXPECT_EQ(drops(), 0u);
}

TEST_F(ReassemblyTest, DuplicatesAreDroppedAndCounted) {
  const auto data = pattern(4000, 5);
  const auto w = whole(data);
  frag(1, w, 0, 1480);
  frag(1, w, 1480, 1480);
  frag(1, w, 1480, 1480);
  frag(1, w, 0, 1480);
  EXPECT_EQ(drop().frag_duplicate.get(), 2u);
  EXPECT_EQ(r().buffers_held(), 2u);
  frag(1, w, 2960, 1048);
  EXPECT_EQ(received(), data);
  EXPECT_EQ(received(), std::nullopt);
  EXPECT_EQ(drops(), 2u);
}

TEST_F(ReassemblyTest, ADuplicateAfterCompletionStartsOverAndTimesOut) {
  const auto w = whole(pattern(4000, 6));
  frag(1, w, 0, 1480);
  frag(1, w, 1480, 1480);
  frag(1, w, 2960, 1048);
  EXPECT_TRUE(received().has_value());
  frag(1, w, 1480, 1480);  // late: a new, never-finished datagram
  EXPECT_EQ(r().in_flight(), 1u);
  s_.advance(Duration::seconds(30));
  EXPECT_EQ(drop().frag_timeout.get(), 1u);
  EXPECT_TRUE(s_.take_sent().empty());  // no fragment zero, no ICMP
}

TEST_F(ReassemblyTest, AnyOverlapDiscardsTheDatagram) {
  const auto w = whole(pattern(4000, 7));
  struct Case {
    uint32_t off1, len1, off2, len2;
  };
  uint16_t id = 30;
  for (Case c : {Case{0, 1480, 1472, 1480},  // into the previous fragment
                 Case{1480, 1480, 8, 1480},  // into the next one
                 Case{0, 1480, 0, 1472},     // same start, another length
                 Case{8, 8, 0, 1480},        // covers a smaller one
                 Case{0, 1480, 8, 8}}) {     // inside a bigger one
    SCOPED_TRACE(id);
    const uint64_t before = drop().frag_overlap.get();
    frag(id, w, c.off1, c.len1);
    frag(id, w, c.off2, c.len2);
    EXPECT_EQ(drop().frag_overlap.get(), before + 1);
    EXPECT_EQ(r().in_flight(), 0u);
    EXPECT_EQ(r().buffers_held(), 0u);
    ++id;
  }
  // What follows an overlap cannot complete the discarded datagram.
  frag(40, w, 0, 1480);
  frag(40, w, 1472, 1488);
  frag(40, w, 2960, 1048);
  EXPECT_EQ(received(), std::nullopt);
  EXPECT_EQ(drops(), 6u);
}

TEST_F(ReassemblyTest, MiddleFragmentsMustBeMultiplesOfEight) {
  const auto w = whole(pattern(100, 8));
  frag(1, w, 0, 12);               // MF with 12 bytes
  frag(1, w, 16, 0, /*mf=*/true);  // MF with no bytes
  EXPECT_EQ(drop().frag_bad_length.get(), 2u);
  EXPECT_EQ(r().in_flight(), 0u);
  frag(1, w, 96, 12);  // the last fragment may be any length
  EXPECT_EQ(drop().frag_bad_length.get(), 2u);
  EXPECT_EQ(r().in_flight(), 1u);
}

TEST_F(ReassemblyTest, NothingPastTheLargestDatagram) {
  const auto big = pattern(65536, 9);
  frag(1, big, 65512, 8, false);  // ends at 65520
  frag(2, big, 64000, 1516, false);
  EXPECT_EQ(drop().frag_too_big.get(), 2u);
  EXPECT_EQ(r().in_flight(), 0u);
  frag(3, big, 64000, 1515, false);  // ends at exactly 65535 - 20
  EXPECT_EQ(drop().frag_too_big.get(), 2u);
  EXPECT_EQ(r().in_flight(), 1u);
}

TEST_F(ReassemblyTest, TheLargestDatagramReassembles) {
  const auto data = pattern(65507, 10);
  const auto w = whole(data);
  ASSERT_EQ(w.size(), 65515u);
  for (uint32_t off = 0; off < w.size(); off += 1480)
    frag(1, w, off, std::min<uint32_t>(1480, static_cast<uint32_t>(w.size()) - off));
  EXPECT_EQ(received(), data);
  EXPECT_EQ(drops(), 0u);
}

TEST_F(ReassemblyTest, InconsistentEndsDiscardTheDatagram) {
  const auto w = whole(pattern(5000, 11));
  frag(1, w, 1480, 100, false);  // ends at 1580...
  frag(1, w, 2960, 100, false);  // ...and at 3060
  EXPECT_EQ(drop().frag_inconsistent.get(), 1u);
  EXPECT_EQ(r().in_flight(), 0u);
  frag(2, w, 1480, 100, false);  // ends at 1580
  frag(2, w, 1600, 8, true);     // data past the end
  EXPECT_EQ(drop().frag_inconsistent.get(), 2u);
  EXPECT_EQ(r().in_flight(), 0u);
  frag(3, w, 2960, 1480, true);  // data up to 4440...
  frag(3, w, 1480, 100, false);  // ...and an end at 1580
  EXPECT_EQ(drop().frag_inconsistent.get(), 3u);
  EXPECT_EQ(r().in_flight(), 0u);
  EXPECT_EQ(drops(), 3u);
}

TEST_F(ReassemblyTest, TimesOutExactlyAndSendsTimeExceededAboutFragmentZero) {
  const Instant t0 = kT0 + Duration::millis(1);
  s_.advance_to(t0);
  const auto w = whole(pattern(4000, 12));
  IpFields f;
  f.id = 1;
  const auto first = fragment(f, w, 0, 1480);
  s_.feed_ip(first);
  s_.advance_to(t0 + Duration::seconds(20));
  frag(1, w, 2960, 1048);  // later fragments do not push the deadline back
  s_.advance_to(t0 + Duration::seconds(30) - Duration::nanos(1));
  EXPECT_EQ(r().in_flight(), 1u);
  EXPECT_TRUE(s_.take_sent().empty());
  s_.advance_to(t0 + Duration::seconds(30));
  EXPECT_EQ(drop().frag_timeout.get(), 1u);
  EXPECT_EQ(r().in_flight(), 0u);
  EXPECT_EQ(r().buffers_held(), 0u);
  ASSERT_EQ(s_.port.sent_at.size(), 1u);
  EXPECT_EQ(s_.port.sent_at[0], t0 + Duration::seconds(30));
  auto sent = s_.take_sent();
  ASSERT_EQ(sent.size(), 1u);
  auto v = ip_of(*sent[0]);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->src(), kOurIp);
  EXPECT_EQ(v->dst(), kPeerIp);
  EXPECT_EQ(v->protocol(), kIpProtoIcmp);
  // RFC 792: fragment zero's header and its first 64 bits of data.
  EXPECT_EQ(to_vec(v->payload()), icmp_bytes(IcmpHeader::time_exceeded(kIcmpReassemblyTimeExceeded),
                                             std::span(first).first(28)));
  EXPECT_EQ(s_.stack.counters().icmp_tx_time_exceeded.get(), 1u);
}

TEST_F(ReassemblyTest, NoTimeExceededWithoutFragmentZero) {
  const auto w = whole(pattern(4000, 13));
  frag(1, w, 1480, 1480);
  frag(1, w, 2960, 1048);
  s_.advance(Duration::seconds(30));
  EXPECT_EQ(drop().frag_timeout.get(), 1u);
  EXPECT_TRUE(s_.take_sent().empty());
  EXPECT_EQ(s_.stack.counters().icmp_tx.get(), 0u);
}

TEST_F(ReassemblyTest, FragmentZeroWithOptions) {
  const auto data = pattern(3000, 14);
  const auto w = whole(data);
  IpFields f;
  f.id = 1;
  f.options = {std::byte{1}, std::byte{1}, std::byte{1}, std::byte{0}};
  const auto first = fragment(f, w, 0, 1472);
  s_.feed_ip(first);
  frag(1, w, 1472, 1536);
  EXPECT_EQ(received(), data);  // the options do not end up in the data
  // Timed out, the quote is the header with its options and 8 bytes.
  f.id = 2;
  const auto again = fragment(f, w, 0, 1472);
  s_.feed_ip(again);
  s_.advance(Duration::seconds(30));
  auto sent = s_.take_sent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(ip_payload_of(*sent[0]),
            icmp_bytes(IcmpHeader::time_exceeded(kIcmpReassemblyTimeExceeded),
                       std::span(again).first(24 + 8)));
}

TEST_F(ReassemblyTest, NoTimeExceededAboutABroadcast) {
  // RFC 1122 §3.2.2: no ICMP error about a datagram sent to a broadcast address.
  const auto w = udp_bytes(kPeerIp, kSubnetBroadcast, 1234, kPort, pattern(4000, 15));
  IpFields f;
  f.dst = kSubnetBroadcast;
  s_.feed(eth_frame(s_.pool, MacAddress::broadcast(), kPeerMac, kEtherTypeIpv4,
                    fragment(f, w, 0, 1480)));
  EXPECT_EQ(r().in_flight(), 1u);
  s_.advance(Duration::seconds(30));
  EXPECT_EQ(drop().frag_timeout.get(), 1u);
  EXPECT_TRUE(s_.take_sent().empty());
}

TEST_F(ReassemblyTest, NoTimeExceededAboutAnIcmpError) {
  IpFields f;
  f.protocol = kIpProtoIcmp;
  f.id = 1;
  const auto error =
      icmp_bytes(IcmpHeader::dest_unreachable(kIcmpPortUnreachable), pattern(2000, 16));
  s_.feed_ip(fragment(f, error, 0, 1480));
  f.id = 2;
  const auto echo = icmp_bytes(IcmpHeader::echo_request(1, 1), pattern(2000, 16));
  s_.feed_ip(fragment(f, echo, 0, 1480));
  s_.advance(Duration::seconds(30));
  EXPECT_EQ(drop().frag_timeout.get(), 2u);
  auto sent = s_.take_sent();
  ASSERT_EQ(sent.size(), 1u);  // about the echo request only
  EXPECT_EQ(ip_payload_of(*sent[0])[8 + 20], std::byte{kIcmpEchoRequest});
}

TEST_F(ReassemblyTest, AReassembledEchoIsAnsweredInItsOwnBuffers) {
  IpFields f;
  f.protocol = kIpProtoIcmp;
  const auto data = pattern(4000, 17);
  const auto request = icmp_bytes(IcmpHeader::echo_request(7, 8), data);
  const uint32_t off[] = {0, 1480, 2960}, len[] = {1480, 1480, 1048};
  Packet* fed[3];
  for (int i = 0; i < 3; ++i) {
    PacketPtr p = ip_frame(s_.pool, fragment(f, request, off[i], len[i]));
    fed[i] = p.get();
    s_.feed(std::move(p));
  }
  auto sent = s_.take_sent();
  ASSERT_EQ(sent.size(), 3u);
  std::vector<std::byte> reply;
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(sent[i].get(), fed[i]);  // no copy: fragment i answers in buffer i
    auto v = ip_of(*sent[i]);
    ASSERT_TRUE(v.has_value());
    EXPECT_TRUE(v->checksum_ok());
    EXPECT_EQ(v->fragment_offset(), off[i]);
    EXPECT_EQ(v->payload().size(), len[i]);
    EXPECT_EQ(v->mf(), i < 2);
    EXPECT_EQ(v->dst(), kPeerIp);
    reply.insert(reply.end(), v->payload().begin(), v->payload().end());
  }
  EXPECT_EQ(reply, icmp_bytes(IcmpHeader::echo_reply(7, 8), data));
}

class ReassemblyBoundsTest : public ReassemblyTest {
 protected:
  static StackConfig config() {
    StackConfig c;
    c.reassembly.max_datagrams = 4;
    c.reassembly.max_fragments = 4;
    c.reassembly.max_buffers = 6;
    c.reassembly.timeout = Duration::seconds(5);
    return c;
  }
  ReassemblyBoundsTest() : ReassemblyTest(config()) {}
};

TEST_F(ReassemblyBoundsTest, TheOldestDatagramGivesWayToANewOne) {
  std::vector<std::vector<std::byte>> ws;
  for (uint16_t id = 1; id <= 5; ++id) {
    ws.push_back(whole(pattern(100, id)));
    frag(id, ws.back(), 0, 56);
  }
  EXPECT_EQ(drop().frag_evicted.get(), 1u);  // id 1
  EXPECT_EQ(r().in_flight(), 4u);
  EXPECT_EQ(r().buffers_held(), 4u);
  for (uint16_t id = 2; id <= 5; ++id) {
    frag(id, ws[id - 1], 56, 52);
    EXPECT_EQ(received(), pattern(100, id));
  }
  frag(1, ws[0], 56, 52);  // its first half is gone
  EXPECT_EQ(received(), std::nullopt);
  EXPECT_EQ(r().in_flight(), 1u);
}

TEST_F(ReassemblyBoundsTest, FragmentsPerDatagramAreBounded) {
  const auto four = whole(pattern(24, 1));  // 32 bytes: 4 fragments of 8
  for (uint32_t off = 0; off < 32; off += 8)
    frag(1, four, off, 8);
  EXPECT_EQ(received(), pattern(24, 1));
  const auto five = whole(pattern(32, 2));  // 40 bytes: 5 fragments of 8
  for (uint32_t off = 0; off < 40; off += 8)
    frag(2, five, off, 8);
  EXPECT_EQ(drop().frag_too_many.get(), 1u);
  EXPECT_EQ(received(), std::nullopt);
  EXPECT_EQ(r().in_flight(), 0u);
  EXPECT_EQ(r().buffers_held(), 0u);
}

TEST_F(ReassemblyBoundsTest, BuffersHeldAreBoundedByEvictingTheOldest) {
  const auto a = whole(pattern(24, 3));  // 4 fragments of 8
  const auto b = whole(pattern(16, 4));  // 3 fragments of 8
  frag(1, a, 0, 8);
  frag(1, a, 8, 8);
  frag(1, a, 16, 8);
  frag(2, b, 0, 8);
  frag(2, b, 8, 8);
  frag(3, a, 0, 8);
  EXPECT_EQ(r().buffers_held(), 6u);
  EXPECT_EQ(r().in_flight(), 3u);
  frag(2, b, 16, 8);  // a seventh buffer: the oldest other datagram (1) gives way
  EXPECT_EQ(drop().frag_evicted.get(), 1u);
  EXPECT_EQ(received(), pattern(16, 4));
  EXPECT_EQ(r().buffers_held(), 1u);
  EXPECT_EQ(r().in_flight(), 1u);
  frag(1, a, 24, 8);  // the end of datagram 1 starts it anew
  EXPECT_EQ(received(), std::nullopt);
  EXPECT_EQ(r().in_flight(), 2u);
  EXPECT_EQ(drops(), 1u);
}

class ReassemblyTinyMemoryTest : public ReassemblyTest {
 protected:
  static StackConfig config() {
    StackConfig c;
    c.reassembly.max_buffers = 2;
    return c;
  }
  ReassemblyTinyMemoryTest() : ReassemblyTest(config()) {}
};

TEST_F(ReassemblyTinyMemoryTest, ADatagramAloneOverTheBufferBoundIsDiscarded) {
  const auto w = whole(pattern(56, 5));  // 64 bytes: 4 fragments of 16
  for (uint32_t off = 0; off < 64; off += 16)
    frag(1, w, off, 16);
  // The third piece finds no room even with every other datagram evicted, so
  // the datagram gives back what it held; the fourth starts it anew.
  EXPECT_EQ(drop().frag_memory.get(), 1u);
  EXPECT_EQ(r().in_flight(), 1u);
  EXPECT_EQ(r().buffers_held(), 1u);
  EXPECT_EQ(sock_->queued(), 0u);
  s_.advance(Duration::seconds(30));
  EXPECT_EQ(drop().frag_timeout.get(), 1u);
  EXPECT_TRUE(s_.take_sent().empty());  // fragment zero is gone: no time exceeded
  EXPECT_EQ(r().buffers_held(), 0u);
}

TEST_F(ReassemblyBoundsTest, TheConfiguredTimeout) {
  const Instant t0 = kT0 + Duration::millis(2);
  s_.advance_to(t0);
  frag(1, whole(pattern(100, 6)), 56, 52);
  s_.advance_to(t0 + Duration::seconds(5) - Duration::nanos(1));
  EXPECT_EQ(drop().frag_timeout.get(), 0u);
  s_.advance_to(t0 + Duration::seconds(5));
  EXPECT_EQ(drop().frag_timeout.get(), 1u);
  EXPECT_EQ(r().in_flight(), 0u);
}

}  // namespace
}  // namespace sn
