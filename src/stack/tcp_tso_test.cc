// TCP segmentation offload on a stack over the scripted port: new data leaves
// as super-segments (Packet::gso_size) only to a port that cuts them itself
// and takes partial checksums (Port::tx_tso_max, tx_l4_csum_offload), as
// segments of one MSS to any other, carrying the same bytes either way; a
// short tail waits for Nagle as it would alone; retransmissions are one MSS;
// and IPv4 cuts a super-segment that reaches a port without TSO into the
// segments it stands for (Linux's GSO).
#include <gtest/gtest.h>

#include <memory>

#include "stack/chain_checksum.h"
#include "stack/stack_testing.h"

namespace sn {
namespace {

using namespace sn::testing;

constexpr uint32_t kMss = 1460 - 12;  // the peer's MSS less our timestamps option

// One frame the port was handed: its bytes (a chain gathered) and gso_size.
struct Frame {
  std::vector<std::byte> bytes;
  uint16_t gso_size = 0;
  bool partial = false;
  std::optional<Ipv4View> ip() const {
    auto e = EthernetView::parse(bytes);
    if (!e) return std::nullopt;
    auto v = Ipv4View::parse(e->payload());
    return v ? std::optional<Ipv4View>(*v) : std::nullopt;
  }
  std::optional<TcpView> tcp() const {
    auto v = ip();
    if (!v) return std::nullopt;
    auto t = TcpView::parse(v->payload());
    return t ? std::optional<TcpView>(*t) : std::nullopt;
  }
};

// A stack with one connection accepted from the peer, whose port offers
// checksum offload and TSO as asked.
class TcpTsoTest : public ::testing::Test {
 protected:
  void open(bool csum_offload, uint32_t tso_max, bool nodelay = false, uint16_t window = 65535) {
    s_->port.csum_offload = csum_offload;
    s_->port.tso_max = tso_max;
    s_->take_sent();
    s_->learn_peer();
    auto on_accept = [](void* a, TcpSocket& s) { *static_cast<TcpSocket**>(a) = &s; };
    ASSERT_TRUE(s_->stack.tcp().listen(kTcpPort, 8, on_accept, &sock_).ok());
    TcpHeader syn = segment(1001, kTcpPort.v, 100, 0, kTcpSyn);
    syn.options.sack_permitted = true;
    syn.options.window_scale = 7;
    syn.options.timestamps = {{5000, 0}};
    s_->feed_ip(tcp_datagram(syn, {}));
    auto sent = s_->take_sent();
    ASSERT_EQ(sent.size(), 1u);
    const TcpHeader syn_ack = *TcpHeader::from(*tcp_of(*sent[0]));
    iss_ = syn_ack.seq.v;
    TcpHeader ack = segment(1001, kTcpPort.v, 101, iss_ + 1, kTcpAck);
    ack.options.timestamps = {{5001, syn_ack.options.timestamps->first}};
    ack.window = window;
    s_->feed_ip(tcp_datagram(ack, {}));
    ASSERT_NE(sock_, nullptr);
    sock_->set_nodelay(nodelay);
  }
  // Writes `n` bytes of a pattern and returns the frames the stack sent.
  std::vector<Frame> write(size_t n) {
    data_ = pattern(n, 9);
    EXPECT_EQ(sock_->write(data_), n);
    s_->flush();
    return take();
  }
  std::vector<Frame> take() {
    std::vector<Frame> out;
    for (PacketPtr& p : s_->take_sent())
      out.push_back({chain_bytes(*p), p->gso_size, p->l4_csum_partial});
    return out;
  }
  // The TCP payload of every frame, in order.
  static std::vector<std::byte> payload(const std::vector<Frame>& frames) {
    std::vector<std::byte> out;
    for (const Frame& f : frames) {
      auto t = f.tcp();
      EXPECT_TRUE(t.has_value());
      if (t) out.insert(out.end(), t->payload().begin(), t->payload().end());
    }
    return out;
  }

  std::unique_ptr<FakeStack> s_ = std::make_unique<FakeStack>();
  TcpSocket* sock_ = nullptr;
  uint32_t iss_ = 0;
  std::vector<std::byte> data_;
};

TEST_F(TcpTsoTest, SuperSegmentsGoOnlyToAPortThatCutsThem) {
  open(/*csum_offload=*/true, /*tso_max=*/65535);
  const auto frames = write(100'000);
  // The initial window (RFC 6928: 10 segments) as one super-segment.
  ASSERT_EQ(frames.size(), 1u);
  const Frame& f = frames[0];
  EXPECT_EQ(f.gso_size, kMss);
  EXPECT_TRUE(f.partial);
  auto ip = f.ip();
  auto t = f.tcp();
  ASSERT_TRUE(ip && t);
  EXPECT_TRUE(ip->checksum_ok());
  EXPECT_TRUE(ip->df());
  EXPECT_EQ(t->payload().size(), 10u * kMss);
  EXPECT_EQ(ip->total_length(), 20u + 32u + 10u * kMss);
  // The partial checksum the port completes: the pseudo-header's sum for
  // the whole super-segment (the device sums each segment it cuts).
  EXPECT_EQ(t->checksum(), pseudo_header_sum(kOurIp, kPeerIp, kIpProtoTcp,
                                             static_cast<uint16_t>(ip->payload().size())));
  EXPECT_EQ(payload(frames), std::vector<std::byte>(data_.begin(), data_.begin() + 10 * kMss));
  EXPECT_EQ(s_->stack.counters().ip_tx_tso.get(), 1u);
  EXPECT_EQ(s_->stack.counters().ip_tx_gso_segments.get(), 0u);
}

TEST_F(TcpTsoTest, WithoutTsoOrWithoutChecksumOffloadSegmentsAreOneMssEach) {
  for (const auto& [csum, tso] : {std::pair{false, 65535u}, std::pair{true, 0u}}) {
    SCOPED_TRACE(csum);
    s_ = std::make_unique<FakeStack>();
    sock_ = nullptr;
    open(csum, tso);
    const auto frames = write(100'000);
    ASSERT_EQ(frames.size(), 10u);
    for (const Frame& f : frames) {
      EXPECT_EQ(f.gso_size, 0u);
      EXPECT_EQ(f.bytes.size(), 14u + 1500u);
    }
    EXPECT_EQ(payload(frames), std::vector<std::byte>(data_.begin(), data_.begin() + 10 * kMss));
    EXPECT_EQ(s_->stack.counters().ip_tx_tso.get(), 0u);
  }
}

// A super-segment stands for full segments: a short tail goes with it only
// where it would go alone, emptying the queue with Nagle off (RFC 896).
TEST_F(TcpTsoTest, AShortTailWaitsForNagleAsItWouldAlone) {
  open(true, 65535);
  auto frames = write(3 * kMss + 500);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].tcp()->payload().size(), 3u * kMss);
  // The ACK of all three releases the tail.
  TcpHeader ack = segment(1001, kTcpPort.v, 101, iss_ + 1 + 3 * kMss, kTcpAck);
  ack.options.timestamps = {{5002, 0}};
  s_->feed_ip(tcp_datagram(ack, {}));
  frames = take();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].tcp()->payload().size(), 500u);
  EXPECT_EQ(frames[0].gso_size, 0u);
}

TEST_F(TcpTsoTest, WithNagleOffTheTailRidesOnTheSuperSegment) {
  open(true, 65535, /*nodelay=*/true);
  const auto frames = write(3 * kMss + 500);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].tcp()->payload().size(), 3u * kMss + 500);
  EXPECT_EQ(frames[0].gso_size, kMss);
  EXPECT_EQ(payload(frames), data_);
}

TEST_F(TcpTsoTest, ARetransmissionIsOneMss) {
  open(true, 65535);
  ASSERT_EQ(write(4 * kMss).size(), 1u);
  std::vector<Frame> frames;
  for (int ms = 0; ms < 5000 && frames.empty(); ms += 10) {  // until the RTO
    s_->advance(Duration::millis(10));
    frames = take();
  }
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].gso_size, 0u);
  EXPECT_EQ(frames[0].tcp()->seq().v, iss_ + 1);
  EXPECT_EQ(frames[0].tcp()->payload().size(), kMss);
}

// A super-segment needs a buffer per 2 KiB at once: a pool too short for it
// sends one MSS at a time, and the rest goes once the window next opens.
TEST_F(TcpTsoTest, APoolTooShortForASuperSegmentSendsOneMss) {
  open(true, 65535, false, /*window=*/0);
  data_ = pattern(10 * kMss, 4);
  ASSERT_EQ(sock_->write(data_), data_.size());
  s_->flush();
  ASSERT_TRUE(take().empty());  // the peer's window is closed
  std::vector<PacketPtr> held;
  while (s_->pool.available() > 4)
    held.push_back(s_->pool.alloc());
  TcpHeader open_window = segment(1001, kTcpPort.v, 101, iss_ + 1, kTcpAck);
  open_window.options.timestamps = {{5002, 0}};
  s_->feed_ip(tcp_datagram(open_window, {}));
  // One MSS at a time while the pool holds out.
  auto frames = take();
  ASSERT_GE(frames.size(), 1u);
  ASSERT_LT(frames.size(), 10u);
  for (const Frame& f : frames) {
    EXPECT_EQ(f.gso_size, 0u);
    EXPECT_EQ(f.tcp()->payload().size(), kMss);
  }
  held.clear();
  const uint32_t acked = static_cast<uint32_t>(frames.size()) * kMss;
  TcpHeader ack = segment(1001, kTcpPort.v, 101, iss_ + 1 + acked, kTcpAck);
  ack.options.timestamps = {{5003, 0}};
  s_->feed_ip(tcp_datagram(ack, {}));
  auto rest = take();
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].gso_size, kMss);
  frames.insert(frames.end(), rest.begin(), rest.end());
  EXPECT_EQ(payload(frames), data_);
}

// A super-segment built as TCP builds one: header with timestamps, partial
// checksum, `len` bytes of payload in a chain, flags CWR, PSH and FIN.
PacketPtr super_segment(PacketPool& pool, uint32_t len, uint16_t gso_size, uint32_t seq) {
  PacketPtr p = pool.alloc_chain(len, pool.buffer_size() - pool.headroom());
  chain_copy_in(*p, 0, pattern(len, 3));
  TcpHeader h = segment(kTcpPort.v, 1001, seq, 77, kTcpAck | kTcpPsh | kTcpFin | kTcpCwr);
  h.options.timestamps = {{1, 2}};
  const auto size = static_cast<uint32_t>(h.size());
  h.emit_partial(std::span<std::byte>(p->prepend(size), size), kOurIp, kPeerIp,
                 static_cast<uint16_t>(len));
  p->l4_csum_partial = true;
  p->gso_size = gso_size;
  return p;
}

// A super-segment that reaches a port without TSO (or one larger than the
// port takes) is cut in the stack: each segment with the header, its own
// sequence number and checksum, CWR on the first, PSH and FIN on the last.
TEST(TcpGsoTest, IPv4CutsASuperSegmentThePortCannotTake) {
  for (const auto& [csum, tso] :
       {std::pair{false, 0u}, std::pair{true, 0u}, std::pair{true, 3000u}}) {
    SCOPED_TRACE(tso);
    FakeStack s;
    s.port.csum_offload = csum;
    s.port.tso_max = tso;
    s.take_sent();
    s.learn_peer();
    constexpr uint32_t kLen = 4500, kSeg = 1000;
    Ipv4::Send send;
    send.src = kOurIp;
    send.dst = kPeerIp;
    send.protocol = kIpProtoTcp;
    send.df = true;
    ASSERT_TRUE(s.stack.ipv4().send(send, super_segment(s.pool, kLen, kSeg, 5000)).ok());
    s.flush();
    auto sent = s.take_sent();
    ASSERT_EQ(sent.size(), 5u);
    std::vector<std::byte> data;
    for (size_t i = 0; i < sent.size(); ++i) {
      SCOPED_TRACE(i);
      EXPECT_EQ(sent[i]->next(), nullptr);
      EXPECT_EQ(sent[i]->gso_size, 0u);
      auto ip = ip_of(*sent[i]);
      auto t = tcp_of(*sent[i]);
      ASSERT_TRUE(ip && t);
      EXPECT_TRUE(ip->checksum_ok());
      EXPECT_TRUE(ip->df());
      const uint32_t n = i < 4 ? kSeg : kLen - 4 * kSeg;
      ASSERT_EQ(t->payload().size(), n);
      EXPECT_EQ(t->seq().v, 5000 + i * kSeg);
      EXPECT_EQ(t->ack().v, 77u);
      EXPECT_EQ((t->flags() & kTcpCwr) != 0, i == 0);
      EXPECT_EQ((t->flags() & (kTcpPsh | kTcpFin)) != 0, i == 4);
      EXPECT_EQ(TcpHeader::from(*t)->options.timestamps, (std::pair<uint32_t, uint32_t>{1, 2}));
      EXPECT_EQ(sent[i]->l4_csum_partial, csum);
      if (csum) {
        EXPECT_EQ(t->checksum(), pseudo_header_sum(kOurIp, kPeerIp, kIpProtoTcp,
                                                   static_cast<uint16_t>(ip->payload().size())));
      } else {
        EXPECT_TRUE(t->checksum_ok(kOurIp, kPeerIp));
      }
      data.insert(data.end(), t->payload().begin(), t->payload().end());
    }
    EXPECT_EQ(data, pattern(kLen, 3));
    EXPECT_EQ(s.stack.counters().ip_tx_gso_segments.get(), 5u);
    EXPECT_EQ(s.stack.counters().ip_tx_tso.get(), 0u);
    sent.clear();
    EXPECT_TRUE(s.pool_full());  // the super-segment's buffers went back
  }
}

TEST(TcpGsoTest, ASuperSegmentWithinWhatThePortTakesGoesWhole) {
  FakeStack s;
  s.port.csum_offload = true;
  s.port.tso_max = 65535;
  s.take_sent();
  s.learn_peer();
  Ipv4::Send send;
  send.src = kOurIp;
  send.dst = kPeerIp;
  send.protocol = kIpProtoTcp;
  send.df = true;
  ASSERT_TRUE(s.stack.ipv4().send(send, super_segment(s.pool, 4500, 1000, 5000)).ok());
  s.flush();
  auto sent = s.take_sent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_NE(sent[0]->next(), nullptr);  // the chain as TCP built it, headers in front
  EXPECT_EQ(sent[0]->gso_size, 1000u);
  EXPECT_EQ(sent[0]->chain_size(), 14u + 20u + 32u + 4500u);
  EXPECT_EQ(s.stack.counters().ip_tx_tso.get(), 1u);
}

}  // namespace
}  // namespace sn
