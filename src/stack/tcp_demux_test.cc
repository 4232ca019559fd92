// The TCP demultiplexer's defences and tables, on a stack over the scripted
// port: SYN cookies when the backlog is full (RFC 4987 §3.6), a SYN flood,
// the TIME-WAIT table (RFC 9293 §3.10.7.4, RFC 6191, RFC 1337), ephemeral
// ports (RFC 6056 §3.3.3), the shared challenge-ACK limit (RFC 5961 §7), and
// a closed but unreleased socket answering as a closed port.
#include <gtest/gtest.h>

#include <set>
#include <tuple>

#include "stack/stack_testing.h"

namespace sn {
namespace {

using namespace sn::testing;

constexpr uint32_t kPeerTsval = 5000;

// A SYN as Linux sends it: MSS, SACK-permitted, timestamps, window scale 7.
TcpHeader full_syn(uint16_t sport, uint32_t seq) {
  TcpHeader h = segment(sport, kTcpPort.v, seq, 0, kTcpSyn);
  h.options.sack_permitted = true;
  h.options.window_scale = 7;
  h.options.timestamps = {{kPeerTsval, 0}};
  return h;
}

class TcpDemuxTest : public TcpLayerDemuxTest {
 protected:
  explicit TcpDemuxTest(const StackConfig& config = {}) : TcpLayerDemuxTest(config) {}
  // Listens, keeping the accepted sockets.
  void listen_keep(uint32_t backlog) {
    auto on_accept = [](void* a, TcpSocket& s) {
      static_cast<std::vector<TcpSocket*>*>(a)->push_back(&s);
    };
    ASSERT_TRUE(s_.stack.tcp().listen(kTcpPort, backlog, on_accept, &sockets_).ok());
  }
  std::vector<TcpSocket*> sockets_;
};

// RFC 6691 / RFC 9293 §3.7.1: the MSS we announce is the interface's MTU
// less 40, on a SYN-ACK and on a SYN, and at most TcpConfig::max_mss.
TEST(TcpMss, IsTheInterfaceMtuLessFortyAtMostTheConfiguredMaximum) {
  for (const auto& [mtu, max_mss, want] :
       {std::tuple{1500u, 65495u, 1460}, std::tuple{9000u, 65495u, 8960},
        std::tuple{9000u, 4000u, 4000}, std::tuple{65535u, 65495u, 65495}}) {
    StackConfig config;
    config.tcp.max_mss = max_mss;
    FakeStack s(config, PoolConfig{.count = 64, .buffer_size = 66048}, 7, mtu);
    s.take_sent();
    s.learn_peer();
    auto on_accept = [](void*, TcpSocket&) {};
    ASSERT_TRUE(s.stack.tcp().listen(kTcpPort, 8, on_accept, nullptr).ok());
    s.feed_ip(tcp_datagram(full_syn(1001, 100), {}));
    auto sent = s.take_sent();
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(TcpHeader::from(*tcp_of(*sent[0]))->options.mss, want) << "MTU " << mtu;

    ASSERT_TRUE(s.stack.tcp().connect(kPeerIp, L4Port(80)).ok());
    s.flush();
    sent = s.take_sent();
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(TcpHeader::from(*tcp_of(*sent[0]))->options.mss, want) << "MTU " << mtu;
  }
}

// A port that takes partial checksums gets them (Packet::l4_csum_partial, the
// field holding the pseudo-header sum); any other gets them completed.
TEST(TcpChecksumOffload, PartialOnlyToAPortThatTakesThem) {
  for (const bool offload : {false, true}) {
    FakeStack s;
    s.port.csum_offload = offload;
    s.take_sent();
    s.learn_peer();
    auto on_accept = [](void*, TcpSocket&) {};
    ASSERT_TRUE(s.stack.tcp().listen(kTcpPort, 8, on_accept, nullptr).ok());
    s.feed_ip(tcp_datagram(full_syn(1001, 100), {}));
    auto sent = s.take_sent();
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0]->l4_csum_partial, offload);
    auto ip = ip_of(*sent[0]);
    auto t = tcp_of(*sent[0]);
    ASSERT_TRUE(ip && t);
    EXPECT_EQ(t->checksum_ok(kOurIp, kPeerIp), !offload);
    if (offload) {
      EXPECT_EQ(t->checksum(), fold_sum(pseudo_header_sum(kOurIp, kPeerIp, kIpProtoTcp,
                                                          uint16_t(ip->payload().size()))));
      std::vector<std::byte> seg(ip->payload().begin(), ip->payload().end());
      store16(seg.data() + 16, Checksum{}.add(seg).finish());  // what the device does
      EXPECT_TRUE(TcpView::parse(seg)->checksum_ok(kOurIp, kPeerIp));
    }
  }
}

TEST_F(TcpDemuxTest, FullBacklogAnswersWithACookieThatOpensTheConnection) {
  listen_keep(1);
  feed(full_syn(1001, 100));
  const TcpHeader normal = only_segment_sent();
  EXPECT_EQ(normal.flags, kTcpSyn | kTcpAck);
  EXPECT_EQ(c().tcp_syn_cookies_sent.get(), 0u);

  feed(full_syn(1002, 200));
  const TcpHeader cookie = only_segment_sent();
  EXPECT_EQ(cookie.flags, kTcpSyn | kTcpAck);
  EXPECT_EQ(cookie.ack, SeqNum{201});
  EXPECT_EQ(cookie.dst_port, L4Port(1002));
  // The options all go back: the TSval carries what the cookie cannot.
  EXPECT_EQ(cookie.options.mss, 1460);
  EXPECT_TRUE(cookie.options.window_scale.has_value());
  EXPECT_TRUE(cookie.options.sack_permitted);
  ASSERT_TRUE(cookie.options.timestamps.has_value());
  EXPECT_EQ(cookie.options.timestamps->second, kPeerTsval);
  EXPECT_EQ(c().tcp_syn_cookies_sent.get(), 1u);
  EXPECT_EQ(s_.stack.tcp().connections(), 1u);  // nothing kept for the cookie

  // The peer's ACK, with data: the connection is rebuilt and accepted.
  s_.advance(Duration::millis(5));
  TcpHeader ack = segment(1002, kTcpPort.v, 201, cookie.seq.v + 1, kTcpAck | kTcpPsh);
  ack.options.timestamps = {{kPeerTsval + 5, cookie.options.timestamps->first}};
  feed(ack, 100);
  EXPECT_EQ(c().tcp_syn_cookies_accepted.get(), 1u);
  ASSERT_EQ(sockets_.size(), 1u);
  TcpSocket& s = *sockets_[0];
  EXPECT_EQ(s.state(), TcpState::kEstablished);
  const Connection& conn = s.connection();
  EXPECT_EQ(conn.iss(), cookie.seq);
  EXPECT_EQ(conn.irs(), SeqNum{200});
  EXPECT_TRUE(conn.sack_ok());
  EXPECT_TRUE(conn.ts_ok());
  EXPECT_EQ(conn.snd_wscale(), 7);
  EXPECT_EQ(conn.send_mss(), 1460u);
  EXPECT_EQ(conn.readable_bytes(), 100u);
  EXPECT_EQ(conn.rcv_nxt(), SeqNum{301});
  EXPECT_EQ(s_.stack.tcp().connections(), 2u);
}

TEST_F(TcpDemuxTest, CookieWithoutTimestampsKeepsOnlyTheMss) {
  listen_keep(0);  // every SYN gets a cookie
  TcpHeader syn = segment(1003, kTcpPort.v, 300, 0, kTcpSyn);
  syn.options.mss = 1400;
  syn.options.window_scale = 7;
  syn.options.sack_permitted = true;
  feed(syn);
  const TcpHeader cookie = only_segment_sent();
  EXPECT_FALSE(cookie.options.window_scale.has_value());
  EXPECT_FALSE(cookie.options.sack_permitted);
  EXPECT_FALSE(cookie.options.timestamps.has_value());
  feed(segment(1003, kTcpPort.v, 301, cookie.seq.v + 1, kTcpAck));
  ASSERT_EQ(sockets_.size(), 1u);
  const Connection& conn = sockets_[0]->connection();
  EXPECT_EQ(conn.send_mss(), 1300u);  // 1400 rounded down to the cookie's table
  EXPECT_FALSE(conn.sack_ok());
  EXPECT_FALSE(conn.ts_ok());
  EXPECT_EQ(conn.snd_wscale(), 0);
}

TEST_F(TcpDemuxTest, ForgedOrStaleCookieAcksAreReset) {
  listen_keep(0);
  // No cookie sent yet: an ACK to the listener is not even checked.
  feed(segment(1004, kTcpPort.v, 401, 12345, kTcpAck));
  EXPECT_EQ(only_segment_sent().flags, kTcpRst);
  EXPECT_EQ(c().tcp_syn_cookies_failed.get(), 0u);

  feed(full_syn(1004, 400));
  const TcpHeader cookie = only_segment_sent();
  // Wrong cookie, wrong ISN, wrong port: each a reset, none a connection.
  feed(segment(1004, kTcpPort.v, 401, cookie.seq.v + 2, kTcpAck));
  EXPECT_EQ(only_segment_sent().flags, kTcpRst);
  feed(segment(1004, kTcpPort.v, 402, cookie.seq.v + 1, kTcpAck));
  EXPECT_EQ(only_segment_sent().flags, kTcpRst);
  feed(segment(1005, kTcpPort.v, 401, cookie.seq.v + 1, kTcpAck));
  EXPECT_EQ(only_segment_sent().flags, kTcpRst);
  EXPECT_EQ(c().tcp_syn_cookies_failed.get(), 3u);
  // Too late: the cookie is valid for 2-3 minutes.
  s_.advance(Duration::seconds(200));
  s_.take_sent();
  s_.learn_peer();  // the ARP entry has expired meanwhile
  feed(segment(1004, kTcpPort.v, 401, cookie.seq.v + 1, kTcpAck));
  EXPECT_EQ(only_segment_sent().flags, kTcpRst);
  EXPECT_TRUE(sockets_.empty());
  EXPECT_EQ(s_.stack.tcp().connections(), 0u);
}

// A flood of 20000 SYNs from as many ports: the SYN queue stays at its bound,
// every SYN is answered (by a cookie past the bound), no buffer is held, and
// a real client's handshake still completes.
TEST_F(TcpDemuxTest, SynFloodKeepsMemoryBounded) {
  listen_keep(16);
  for (uint32_t i = 0; i < 20000; ++i) {
    feed(full_syn(static_cast<uint16_t>(1024 + i), i * 7919));
    s_.take_sent();
  }
  EXPECT_EQ(s_.stack.tcp().connections(), 16u);
  EXPECT_EQ(c().tcp_connections.get(), 16u);  // the gauge `shardnet stats` shows
  EXPECT_EQ(c().tcp_syn_cookies_sent.get(), 20000u - 16);
  EXPECT_EQ(c().drop.no_buffer.get(), 0u);
  EXPECT_EQ(s_.pool.available(), s_.pool.capacity());

  feed(full_syn(40000, 77));
  const TcpHeader cookie = only_segment_sent();
  TcpHeader ack = segment(40000, kTcpPort.v, 78, cookie.seq.v + 1, kTcpAck);
  ack.options.timestamps = {{kPeerTsval + 1, cookie.options.timestamps->first}};
  feed(ack);
  ASSERT_EQ(sockets_.size(), 1u);
  EXPECT_EQ(sockets_[0]->state(), TcpState::kEstablished);
  // The half-open ones time out after their SYN-ACK retries and go.
  s_.advance(Duration::seconds(300));
  EXPECT_EQ(s_.stack.tcp().connections(), 1u);
}

// ---- TIME-WAIT --------------------------------------------------------------

class TcpTimeWaitTest : public TcpDemuxTest {
 protected:
  static StackConfig config(uint32_t max_time_wait) {
    StackConfig c;
    c.tcp.max_time_wait = max_time_wait;
    return c;
  }
  explicit TcpTimeWaitTest(uint32_t max_time_wait = 8) : TcpDemuxTest(config(max_time_wait)) {}

  // A connection from `sport` that we close first, through to TIME-WAIT:
  // SYN, SYN-ACK, ACK; we close (FIN); the peer ACKs our FIN and sends its
  // own; we ACK it. Returns our final ACK.
  TcpHeader to_time_wait(uint16_t sport, uint32_t tsval = kPeerTsval) {
    const uint32_t isn = 1000u * sport;
    TcpHeader syn = full_syn(sport, isn);
    syn.options.timestamps = {{tsval, 0}};
    feed(syn);
    const TcpHeader synack = only_segment_sent();
    TcpHeader ack = segment(sport, kTcpPort.v, isn + 1, synack.seq.v + 1, kTcpAck);
    ack.options.timestamps = {{tsval + 1, synack.options.timestamps->first}};
    feed(ack);
    EXPECT_FALSE(sockets_.empty());
    sockets_.back()->close();
    s_.advance(Duration::millis(1));
    const TcpHeader fin = only_segment_sent();
    EXPECT_EQ(fin.flags, kTcpFin | kTcpAck);
    TcpHeader finack = segment(sport, kTcpPort.v, isn + 1, fin.seq.v + 1, kTcpFin | kTcpAck);
    finack.options.timestamps = {{tsval + 2, fin.options.timestamps->first}};
    feed(finack);
    s_.advance(Duration::millis(1));
    const TcpHeader last = only_segment_sent();
    EXPECT_EQ(last.flags, kTcpAck);
    EXPECT_EQ(last.ack, SeqNum{isn + 2});
    return last;
  }
};

TEST_F(TcpTimeWaitTest, EntryAnswersLikeTheConnectionAndExpires) {
  listen_keep(4);
  const TcpHeader last = to_time_wait(2001);
  EXPECT_EQ(s_.stack.tcp().connections(), 0u);
  EXPECT_EQ(s_.stack.tcp().time_wait(), 1u);
  EXPECT_EQ(c().tcp_time_wait.get(), 1u);
  EXPECT_EQ(s_.pool.available(), s_.pool.capacity());  // the buffers are gone too
  const uint32_t isn = 2001000;

  // Our last ACK was lost: the peer's FIN comes again; it is ACKed again and
  // TIME-WAIT starts over.
  s_.advance(Duration::seconds(30));
  TcpHeader fin = segment(2001, kTcpPort.v, isn + 1, last.seq.v, kTcpFin | kTcpAck);
  fin.options.timestamps = {{kPeerTsval + 3, 0}};
  feed(fin);
  const TcpHeader again = only_segment_sent();
  EXPECT_EQ(again.flags, kTcpAck);
  EXPECT_EQ(again.seq, last.seq);
  EXPECT_EQ(again.ack, last.ack);
  ASSERT_TRUE(again.options.timestamps.has_value());
  EXPECT_EQ(again.options.timestamps->second, kPeerTsval + 3);

  // RFC 1337: a RST does not end it. A bare ACK in order gets nothing.
  feed(segment(2001, kTcpPort.v, isn + 2, last.seq.v, kTcpRst));
  TcpHeader bare = segment(2001, kTcpPort.v, isn + 2, last.seq.v, kTcpAck);
  bare.options.timestamps = {{kPeerTsval + 4, 0}};
  feed(bare);
  EXPECT_TRUE(s_.take_sent().empty());
  EXPECT_EQ(c().drop.tcp_time_wait_rst.get(), 1u);
  EXPECT_EQ(s_.stack.tcp().time_wait(), 1u);

  // 2*MSL from the retransmitted FIN, not from the first.
  const Duration two_msl = s_.stack.tcp().config().connection.msl * 2;
  s_.advance(two_msl - Duration::seconds(1));
  EXPECT_EQ(s_.stack.tcp().time_wait(), 1u);
  s_.advance(Duration::seconds(2));
  EXPECT_EQ(s_.stack.tcp().time_wait(), 0u);
  EXPECT_EQ(c().tcp_time_wait_acks.get(), 1u);
}

// RFC 6191: a SYN with a newer timestamp opens a new incarnation at once;
// one with an older timestamp is an old duplicate and gets the TIME-WAIT ACK.
TEST_F(TcpTimeWaitTest, NewerSynReopensOlderSynIsAcked) {
  listen_keep(4);
  const TcpHeader last = to_time_wait(2002);
  TcpHeader old_syn = full_syn(2002, 1);
  old_syn.options.timestamps = {{kPeerTsval - 100, 0}};
  feed(old_syn);
  const TcpHeader ack = only_segment_sent();
  EXPECT_EQ(ack.flags, kTcpAck);
  EXPECT_EQ(ack.ack, last.ack);
  EXPECT_EQ(s_.stack.tcp().time_wait(), 1u);

  TcpHeader new_syn = full_syn(2002, 1);
  new_syn.options.timestamps = {{kPeerTsval + 100, 0}};
  feed(new_syn);
  const TcpHeader synack = only_segment_sent();
  EXPECT_EQ(synack.flags, kTcpSyn | kTcpAck);
  // The new incarnation starts past the old one's sequence space.
  EXPECT_GT(synack.seq, last.seq + 65536);
  EXPECT_EQ(c().tcp_time_wait_reopened.get(), 1u);
  EXPECT_EQ(s_.stack.tcp().time_wait(), 0u);
  EXPECT_EQ(s_.stack.tcp().connections(), 1u);
}

class TcpSmallTimeWaitTest : public TcpTimeWaitTest {
 protected:
  TcpSmallTimeWaitTest() : TcpTimeWaitTest(2) {}
};

TEST_F(TcpSmallTimeWaitTest, TableIsBoundedOldestGoesFirst) {
  listen_keep(4);
  to_time_wait(3001);
  to_time_wait(3002);
  to_time_wait(3003);
  EXPECT_EQ(s_.stack.tcp().time_wait(), 2u);
  EXPECT_EQ(c().tcp_time_wait_overflow.get(), 1u);
  EXPECT_EQ(c().tcp_time_wait_entered.get(), 3u);
  // 3001's entry is gone: its FIN gets a reset, as for no connection.
  feed(segment(3001, kTcpPort.v, 3001001, 1, kTcpFin | kTcpAck));
  EXPECT_EQ(only_segment_sent().flags, kTcpRst);
}

// ---- Ephemeral ports, challenge ACKs, closed sockets -------------------------

// One counter for all, a keyed offset per destination: successive ports to
// one peer are consecutive, and another peer's start elsewhere.
TEST_F(TcpDemuxTest, EphemeralPortsFollowRfc6056Algorithm3) {
  const Ipv4Address other = ip(3);
  s_.learn_peer(other, MacAddress{{2, 0, 0, 0, 0, 3}});
  auto port_to = [&](Ipv4Address dst) -> uint32_t {
    auto s = s_.stack.tcp().connect(dst, L4Port(80));
    EXPECT_TRUE(s.ok());
    if (!s.ok()) return 0;
    const uint32_t p = (*s)->local_port().v;
    EXPECT_GE(p, 49152u);
    EXPECT_LE(p, 65535u);
    return p;
  };
  constexpr uint32_t kCount = 65536 - 49152;
  const uint32_t first = port_to(kPeerIp);
  for (uint32_t i = 1; i < 4; ++i)
    EXPECT_EQ(port_to(kPeerIp), 49152 + (first - 49152 + i) % kCount);
  const uint32_t o = port_to(other);
  EXPECT_NE(o, 49152 + (first - 49152 + 4) % kCount);  // a 1 in 16384 chance of a false failure
  EXPECT_EQ(port_to(kPeerIp), 49152 + (first - 49152 + 5) % kCount);
  // A port a listener holds is skipped.
  const uint32_t next = 49152 + (first - 49152 + 6) % kCount;
  ASSERT_TRUE(s_.stack.tcp()
                  .listen(
                      L4Port(static_cast<uint16_t>(next)), 1, [](void*, TcpSocket&) {}, nullptr)
                  .ok());
  EXPECT_EQ(port_to(kPeerIp), 49152 + (first - 49152 + 7) % kCount);
}

class TcpChallengeLimitTest : public TcpDemuxTest {
 protected:
  static StackConfig config() {
    StackConfig c;
    c.tcp.challenge_ack_limit = 3;
    return c;
  }
  TcpChallengeLimitTest() : TcpDemuxTest(config()) {}
};

// RFC 5961 §7: the shard's connections share a budget of challenge ACKs.
TEST_F(TcpChallengeLimitTest, ChallengeAcksAreRateLimited) {
  listen_keep(4);
  feed(segment(4001, kTcpPort.v, 100, 0, kTcpSyn));
  const TcpHeader synack = only_segment_sent();
  feed(segment(4001, kTcpPort.v, 101, synack.seq.v + 1, kTcpAck));
  ASSERT_EQ(sockets_.size(), 1u);
  // In-window SYNs on an established connection (§4.2): challenge ACKs.
  for (int i = 0; i < 10; ++i)
    feed(segment(4001, kTcpPort.v, 101 + i, 0, kTcpSyn));
  EXPECT_EQ(s_.take_sent().size(), 3u);
  const ConnectionCounters& k = sockets_[0]->connection().counters();
  EXPECT_EQ(k.challenge_acks, 3u);
  EXPECT_EQ(k.challenge_acks_limited, 7u);
  // The shard's totals, as `shardnet stats` shows them (tcp_challenge_acks).
  EXPECT_EQ(c().conn.challenge_acks.get(), 3u);
  EXPECT_EQ(c().conn.challenge_acks_limited.get(), 7u);
  // A second later the budget is back; the connection lived through it all.
  s_.advance(Duration::seconds(1));
  s_.take_sent();
  for (int i = 0; i < 10; ++i)
    feed(segment(4001, kTcpPort.v, 101 + i, 0, kTcpSyn));
  EXPECT_EQ(s_.take_sent().size(), 3u);
  EXPECT_EQ(sockets_[0]->state(), TcpState::kEstablished);
}

// A connection reset by the peer whose socket the application has not yet
// closed: its 4-tuple is a closed port again (RFC 9293 §3.10.7.1).
TEST_F(TcpDemuxTest, ClosedButUnreleasedSocketAnswersAsClosedPort) {
  listen_keep(4);
  feed(segment(4002, kTcpPort.v, 100, 0, kTcpSyn));
  const TcpHeader synack = only_segment_sent();
  feed(segment(4002, kTcpPort.v, 101, synack.seq.v + 1, kTcpAck));
  ASSERT_EQ(sockets_.size(), 1u);
  feed(segment(4002, kTcpPort.v, 101, 0, kTcpRst));
  TcpSocket& s = *sockets_[0];
  EXPECT_EQ(s.state(), TcpState::kClosed);
  EXPECT_EQ(s.error(), TcpError::kReset);
  EXPECT_EQ(s_.stack.tcp().connections(), 0u);
  feed(segment(4002, kTcpPort.v, 101, synack.seq.v + 1, kTcpAck | kTcpPsh), 10);
  const TcpHeader rst = only_segment_sent();
  EXPECT_EQ(rst.flags, kTcpRst);
  EXPECT_EQ(rst.seq, synack.seq + 1);
  // And a new SYN on the same 4-tuple opens a new connection.
  feed(segment(4002, kTcpPort.v, 5000, 0, kTcpSyn));
  EXPECT_EQ(only_segment_sent().flags, kTcpSyn | kTcpAck);
  EXPECT_EQ(s_.stack.tcp().connections(), 1u);
  s.close();
  s_.advance(Duration::millis(1));
  EXPECT_EQ(s_.stack.tcp().connections(), 1u);
}

}  // namespace
}  // namespace sn
