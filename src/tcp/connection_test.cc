// Connection tests on virtual time through the Pair harness: the handshake
// and option negotiation, simultaneous open, data both ways, RFC 5961 RST and
// SYN handling in every synchronized state, old duplicates, delayed ACK, Nagle.
#include "tcp/connection.h"

#include <gtest/gtest.h>

#include "base/rng.h"
#include "tcp/tcp_testing.h"

namespace sn {
namespace {

using testing::kStart;
using testing::Pair;
using testing::pattern;
using testing::reach;
using testing::Side;
using testing::WireSegment;

TEST(ConnectionHandshake, EveryOptionNegotiated) {
  Pair p;
  p.handshake(SeqNum{1000}, SeqNum{5000});
  EXPECT_EQ(p.client.state(), TcpState::kEstablished);
  EXPECT_EQ(p.server.state(), TcpState::kEstablished);
  ASSERT_EQ(p.client_log.size(), 2u);  // SYN, ACK
  ASSERT_EQ(p.server_log.size(), 1u);  // SYN-ACK
  const TcpHeader& syn = p.client_log[0].h;
  EXPECT_EQ(syn.flags, kTcpSyn);
  EXPECT_EQ(syn.seq, SeqNum{1000});
  EXPECT_EQ(syn.window, 65535);
  EXPECT_EQ(syn.options.mss, 1460);
  EXPECT_EQ(syn.options.window_scale, 7);
  EXPECT_TRUE(syn.options.sack_permitted);
  ASSERT_TRUE(syn.options.timestamps.has_value());
  EXPECT_EQ(syn.options.timestamps->first, 1'000'000u);
  EXPECT_EQ(syn.options.timestamps->second, 0u);
  const TcpHeader& sa = p.server_log[0].h;
  EXPECT_EQ(sa.flags, kTcpSyn | kTcpAck);
  EXPECT_EQ(sa.seq, SeqNum{5000});
  EXPECT_EQ(sa.ack, SeqNum{1001});
  EXPECT_EQ(sa.options.mss, 1460);
  EXPECT_EQ(sa.options.window_scale, 7);
  EXPECT_TRUE(sa.options.sack_permitted);
  EXPECT_EQ(sa.options.timestamps, (std::pair<uint32_t, uint32_t>{1'000'000u, 1'000'000u}));
  const TcpHeader& ack = p.client_log[1].h;
  EXPECT_EQ(ack.flags, kTcpAck);
  EXPECT_EQ(ack.seq, SeqNum{1001});
  EXPECT_EQ(ack.ack, SeqNum{5001});
  EXPECT_EQ(ack.window, (256 * 1024) >> 7);
  for (Connection* c : {&p.client, &p.server}) {
    EXPECT_EQ(c->send_mss(), 1460u);
    EXPECT_EQ(c->effective_mss(), 1448u);
    EXPECT_EQ(c->snd_wscale(), 7);
    EXPECT_EQ(c->rcv_wscale(), 7);
    EXPECT_TRUE(c->sack_ok());
    EXPECT_TRUE(c->ts_ok());
    EXPECT_EQ(c->rto(), Duration::millis(200));  // one sample of 0 ms, RTO floor
  }
  // The SYN-ACK's window is not scaled (RFC 7323 §2.2); the last ACK's is.
  EXPECT_EQ(p.client.snd_wnd(), 65535u);
  EXPECT_EQ(p.server.snd_wnd(), 256u * 1024);
  EXPECT_EQ(p.client.snd_una(), SeqNum{1001});
  EXPECT_EQ(p.client.rcv_nxt(), SeqNum{5001});
  EXPECT_EQ(p.server.snd_una(), SeqNum{5001});
  EXPECT_EQ(p.server.rcv_nxt(), SeqNum{1001});
}

TEST(ConnectionHandshake, PeerOffersNoOptions) {
  Pair p;
  // A bare SYN to the server: no MSS (536 assumed), no WS, SACK or TS.
  TcpHeader syn = p.header_to(Side::kServer, SeqNum{7000}, SeqNum{0}, kTcpSyn, 8192);
  auto bytes = testing::to_wire(syn, nullptr, testing::kClientAddr, testing::kServerAddr);
  auto view = TcpView::parse(bytes);
  ASSERT_TRUE(view.ok());
  p.server.accept_syn(*view, TcpOptions{}, SeqNum{9000}, p.now);
  ASSERT_EQ(p.server_log.size(), 1u);
  const TcpHeader& sa = p.server_log[0].h;
  TcpOptions only_mss;
  only_mss.mss = 1460;
  EXPECT_EQ(sa.options, only_mss);
  EXPECT_EQ(p.server.send_mss(), 536u);
  EXPECT_EQ(p.server.effective_mss(), 536u);
  EXPECT_EQ(p.server.snd_wscale(), 0);
  EXPECT_EQ(p.server.rcv_wscale(), 0);
  EXPECT_FALSE(p.server.sack_ok());
  EXPECT_FALSE(p.server.ts_ok());
  EXPECT_EQ(p.server.snd_wnd(), 8192u);
  // The ACK completes it; its window is not scaled.
  p.inject(Side::kServer, p.header_to(Side::kServer, SeqNum{7001}, SeqNum{9001}, kTcpAck, 4000));
  EXPECT_EQ(p.server.state(), TcpState::kEstablished);
  EXPECT_EQ(p.server.snd_wnd(), 4000u);
  // Data goes out in 536-byte segments with no options.
  auto data = pattern(1000, 1);
  EXPECT_EQ(p.server.write(data, p.now), 1000u);
  ASSERT_EQ(p.server_log.size(), 2u);  // Nagle holds the 464-byte rest
  EXPECT_EQ(p.server_log[1].payload_len(), 536u);
  EXPECT_EQ(p.server_log[1].h.options, TcpOptions{});
  EXPECT_EQ(p.server_log[1].h.window, 65535);  // 256 KiB unscaled, capped
}

TEST(ConnectionHandshake, ClientWithoutOptionsAnswer) {
  Pair p;
  ASSERT_TRUE(p.client.connect(SeqNum{100}, p.now).ok());
  // A SYN-ACK carrying only an MSS of 1000.
  TcpHeader sa = p.header_to(Side::kClient, SeqNum{300}, SeqNum{101}, kTcpSyn | kTcpAck, 2000);
  sa.options.mss = 1000;
  p.inject(Side::kClient, sa);
  EXPECT_EQ(p.client.state(), TcpState::kEstablished);
  EXPECT_EQ(p.client.send_mss(), 1000u);
  EXPECT_EQ(p.client.effective_mss(), 1000u);
  EXPECT_EQ(p.client.snd_wscale(), 0);
  EXPECT_FALSE(p.client.ts_ok());
  EXPECT_FALSE(p.client.sack_ok());
  EXPECT_EQ(p.client.snd_wnd(), 2000u);
  ASSERT_EQ(p.client_log.size(), 2u);
  EXPECT_EQ(p.client_log[1].h.flags, kTcpAck);
  EXPECT_EQ(p.client_log[1].h.ack, SeqNum{301});
  EXPECT_EQ(p.client_log[1].h.options, TcpOptions{});
}

TEST(ConnectionHandshake, SimultaneousOpen) {
  Pair p;
  ASSERT_TRUE(p.client.connect(SeqNum{100}, p.now).ok());
  ASSERT_TRUE(p.server.connect(SeqNum{900}, p.now).ok());
  p.deliver_all();
  EXPECT_EQ(p.client.state(), TcpState::kEstablished);
  EXPECT_EQ(p.server.state(), TcpState::kEstablished);
  // Each sent SYN, then SYN-ACK, and nothing more.
  ASSERT_EQ(p.client_log.size(), 2u);
  ASSERT_EQ(p.server_log.size(), 2u);
  EXPECT_EQ(p.client_log[1].h.flags, kTcpSyn | kTcpAck);
  EXPECT_EQ(p.client_log[1].h.seq, SeqNum{100});
  EXPECT_EQ(p.client_log[1].h.ack, SeqNum{901});
  EXPECT_EQ(p.client.snd_una(), SeqNum{101});
  EXPECT_EQ(p.server.snd_una(), SeqNum{901});
  EXPECT_EQ(p.client.snd_wscale(), 7);
  // Data flows.
  auto d = pattern(3000, 2);
  EXPECT_EQ(p.client.write(d, p.now), 3000u);
  p.deliver_all();
  std::vector<std::byte> got(4000);
  EXPECT_EQ(p.server.read(got, p.now), 3000u);
  got.resize(3000);
  EXPECT_EQ(got, d);
}

// Moves data both ways with random write and read sizes until all arrived.
void transfer(Pair& p, const std::vector<std::byte>& c2s, const std::vector<std::byte>& s2c,
              uint64_t seed, Duration limit = Duration::seconds(600)) {
  Rng rng(seed);
  size_t cw = 0, sw = 0;
  std::vector<std::byte> at_server, at_client;
  std::vector<std::byte> buf(70000);
  auto pump = [&] {
    for (int i = 0; i < 4; ++i) {
      if (cw < c2s.size()) {
        const size_t n = std::min<size_t>(1 + rng.below(65536), c2s.size() - cw);
        cw += p.client.write(std::span(c2s).subspan(cw, n), p.now);
      }
      if (sw < s2c.size()) {
        const size_t n = std::min<size_t>(1 + rng.below(65536), s2c.size() - sw);
        sw += p.server.write(std::span(s2c).subspan(sw, n), p.now);
      }
      const uint32_t a = p.server.read(std::span(buf).first(1 + rng.below(buf.size())), p.now);
      at_server.insert(at_server.end(), buf.begin(), buf.begin() + a);
      const uint32_t b = p.client.read(std::span(buf).first(1 + rng.below(buf.size())), p.now);
      at_client.insert(at_client.end(), buf.begin(), buf.begin() + b);
    }
    return at_server.size() == c2s.size() && at_client.size() == s2c.size();
  };
  ASSERT_TRUE(p.run_until(pump, limit)) << "c2s " << at_server.size() << "/" << c2s.size()
                                        << " s2c " << at_client.size() << "/" << s2c.size();
  EXPECT_TRUE(at_server == c2s);
  EXPECT_TRUE(at_client == s2c);
}

TEST(ConnectionData, OneMebibyteEachWay) {
  Pair p;
  p.delay = Duration::millis(1);
  p.handshake();
  const auto a = pattern(1 << 20, 11), b = pattern(1 << 20, 12);
  transfer(p, a, b, 7);
  EXPECT_EQ(p.client.snd_una(), SeqNum{1001} + (1 << 20));
  EXPECT_EQ(p.server.rcv_nxt(), SeqNum{1001} + (1 << 20));
  EXPECT_EQ(p.client.counters().retransmits, 0u);
  EXPECT_EQ(p.server.counters().retransmits, 0u);
  EXPECT_EQ(p.client.counters().bad_segments, 0u);
  EXPECT_EQ(p.server.counters().bad_segments, 0u);
  for (const WireSegment& s : p.client_log)
    EXPECT_LE(s.payload_len(), 1448u);
}

struct RstCase {
  TcpState state;
  TcpError error;  // after an exact-match RST
};

class ConnectionRst : public ::testing::TestWithParam<RstCase> {};

TEST_P(ConnectionRst, ExactSequenceResets) {
  Pair p;
  const Side s = reach(p, GetParam().state);
  Connection& c = p.conn(s);
  ASSERT_EQ(c.state(), GetParam().state);
  const size_t sent = p.sent(s).size();
  p.inject(s, p.header_to(s, c.rcv_nxt(), SeqNum{0}, kTcpRst));
  EXPECT_EQ(c.state(), TcpState::kClosed);
  EXPECT_EQ(c.error(), GetParam().error);
  EXPECT_EQ(p.sent(s).size(), sent);  // nothing answers a RST
  EXPECT_EQ(c.next_deadline(), Instant::never());
}

TEST_P(ConnectionRst, InWindowNotExactGetsChallengeAck) {
  Pair p;
  const Side s = reach(p, GetParam().state);
  Connection& c = p.conn(s);
  const size_t sent = p.sent(s).size();
  p.inject(s, p.header_to(s, c.rcv_nxt() + 1, SeqNum{0}, kTcpRst));
  EXPECT_EQ(c.state(), GetParam().state);
  EXPECT_EQ(c.error(), TcpError::kNone);
  EXPECT_EQ(c.counters().challenge_acks, 1u);
  ASSERT_EQ(p.sent(s).size(), sent + 1);
  const TcpHeader& h = p.sent(s).back().h;
  EXPECT_EQ(h.flags, kTcpAck);
  EXPECT_EQ(h.seq, c.snd_nxt());
  EXPECT_EQ(h.ack, c.rcv_nxt());
}

TEST_P(ConnectionRst, OutOfWindowIsDropped) {
  Pair p;
  const Side s = reach(p, GetParam().state);
  Connection& c = p.conn(s);
  const size_t sent = p.sent(s).size();
  p.inject(s, p.header_to(s, c.rcv_nxt() + (1u << 30), SeqNum{0}, kTcpRst));
  EXPECT_EQ(c.state(), GetParam().state);
  EXPECT_EQ(p.sent(s).size(), sent);
  EXPECT_EQ(c.counters().bad_segments, 1u);
}

INSTANTIATE_TEST_SUITE_P(EveryState, ConnectionRst,
                         ::testing::Values(RstCase{TcpState::kEstablished, TcpError::kReset},
                                           RstCase{TcpState::kFinWait1, TcpError::kReset},
                                           RstCase{TcpState::kFinWait2, TcpError::kReset},
                                           RstCase{TcpState::kCloseWait, TcpError::kReset},
                                           RstCase{TcpState::kClosing, TcpError::kNone},
                                           RstCase{TcpState::kLastAck, TcpError::kNone},
                                           RstCase{TcpState::kTimeWait, TcpError::kNone}),
                         [](const auto& info) {
                           std::string n = to_string(info.param.state);
                           std::erase(n, '-');
                           return n;
                         });

TEST(ConnectionRst, SynSentRefusedOnlyWithAcceptableAck) {
  Pair p;
  ASSERT_TRUE(p.client.connect(SeqNum{100}, p.now).ok());
  p.inject(Side::kClient, p.header_to(Side::kClient, SeqNum{0}, SeqNum{101}, kTcpRst));
  EXPECT_EQ(p.client.state(), TcpState::kSynSent);  // no ACK: dropped
  p.inject(Side::kClient, p.header_to(Side::kClient, SeqNum{0}, SeqNum{100}, kTcpRst | kTcpAck));
  EXPECT_EQ(p.client.state(), TcpState::kSynSent);  // ACK not acceptable
  p.inject(Side::kClient, p.header_to(Side::kClient, SeqNum{0}, SeqNum{101}, kTcpRst | kTcpAck));
  EXPECT_EQ(p.client.state(), TcpState::kClosed);
  EXPECT_EQ(p.client.error(), TcpError::kRefused);
  ASSERT_TRUE(p.client.error_value().has_value());
  EXPECT_EQ(p.client.error_value()->code, Errc::kUnreachable);
}

class ConnectionSyn : public ::testing::TestWithParam<TcpState> {};

TEST_P(ConnectionSyn, SynGetsChallengeAck) {
  // RFC 5961 §4.2: in any synchronized state, in window or not.
  for (uint32_t offset : {0u, 1u, 1u << 30}) {
    Pair p;
    const Side s = reach(p, GetParam());
    Connection& c = p.conn(s);
    const size_t sent = p.sent(s).size();
    p.inject(s, p.header_to(s, c.rcv_nxt() + offset, SeqNum{0}, kTcpSyn));
    EXPECT_EQ(c.state(), GetParam()) << offset;
    ASSERT_EQ(p.sent(s).size(), sent + 1) << offset;
    EXPECT_EQ(p.sent(s).back().h.flags, kTcpAck);
    EXPECT_EQ(p.sent(s).back().h.ack, c.rcv_nxt());
    EXPECT_EQ(c.counters().challenge_acks, 1u) << offset;  // rate-limited as one
  }
}

INSTANTIATE_TEST_SUITE_P(EveryState, ConnectionSyn,
                         ::testing::Values(TcpState::kEstablished, TcpState::kFinWait2,
                                           TcpState::kCloseWait),
                         [](const auto& info) {
                           std::string n = to_string(info.param);
                           std::erase(n, '-');
                           return n;
                         });

TEST(ConnectionInput, OldDuplicateGetsAckAndIsDropped) {
  Pair p;
  p.handshake();
  auto d = pattern(500, 3);
  EXPECT_EQ(p.client.write(d, p.now), 500u);
  p.deliver_all();
  p.advance(Duration::millis(40));  // the delayed ACK
  const size_t sent = p.server_log.size();
  // The same 500 bytes again, and a segment far in the past.
  p.inject(Side::kServer,
           p.header_to(Side::kServer, SeqNum{1001}, SeqNum{5001}, kTcpAck | kTcpPsh, 2048), d);
  p.inject(Side::kServer,
           p.header_to(Side::kServer, SeqNum{1001} - 100000, SeqNum{5001}, kTcpAck, 2048), d);
  EXPECT_EQ(p.server.counters().bad_segments, 2u);
  ASSERT_EQ(p.server_log.size(), sent + 2);
  for (size_t i = sent; i < sent + 2; ++i) {
    EXPECT_EQ(p.server_log[i].h.flags, kTcpAck);
    EXPECT_EQ(p.server_log[i].h.ack, SeqNum{1501});
  }
  EXPECT_EQ(p.server.readable_bytes(), 500u);
}

TEST(ConnectionInput, AckOfUnsentDataIsAckedAndDropped) {
  Pair p;
  p.handshake();
  const size_t sent = p.server_log.size();
  p.inject(Side::kServer, p.header_to(Side::kServer, SeqNum{1001}, SeqNum{6000}, kTcpAck, 100));
  EXPECT_EQ(p.server.counters().acks_too_new, 1u);
  EXPECT_EQ(p.server.snd_una(), SeqNum{5001});
  EXPECT_EQ(p.server.snd_wnd(), 256u * 1024);  // not updated
  EXPECT_EQ(p.server_log.size(), sent + 1);
}

TEST(ConnectionAck, LoneSegmentAckedAfterExactlyDelayedAck) {
  Pair p;
  p.handshake();
  const Instant t0 = p.now;
  auto d = pattern(1448, 4);
  EXPECT_EQ(p.client.write(d, p.now), 1448u);
  p.deliver_all();
  EXPECT_EQ(p.server_log.size(), 1u);  // no ACK yet
  EXPECT_EQ(p.server.next_deadline(), t0 + Duration::millis(40));
  p.advance(Duration::millis(100));
  ASSERT_EQ(p.server_log.size(), 2u);
  EXPECT_EQ(p.server_log[1].sent, t0 + Duration::millis(40));
  EXPECT_EQ(p.server_log[1].h.ack, SeqNum{1001 + 1448});
  EXPECT_EQ(p.server.counters().delayed_acks, 1u);
}

TEST(ConnectionAck, AckEverySecondFullSegment) {
  Pair p;
  p.handshake();
  auto d = pattern(6 * 1448, 5);
  EXPECT_EQ(p.client.write(d, p.now), 6u * 1448);
  EXPECT_EQ(p.client_log.size(), 2u + 6);  // IW 10 lets all six go
  p.deliver_all();
  // Three ACKs, at once, for 2, 4 and 6 segments.
  ASSERT_EQ(p.server_log.size(), 4u);
  for (int i = 1; i <= 3; ++i) {
    EXPECT_EQ(p.server_log[i].h.ack, SeqNum{1001} + 2 * i * 1448);
    EXPECT_EQ(p.server_log[i].sent, kStart);
  }
  EXPECT_EQ(p.server.counters().delayed_acks, 0u);
  EXPECT_EQ(p.server.next_deadline(), Instant::never());
}

TEST(ConnectionAck, AReaderThatKeepsUpSendsFewWindowUpdates) {
  // The window the sender knows of stays over half of the buffer: the ACKs
  // for data (every second segment) carry the window, and reads add an ACK
  // only when a whole flight (up to 40% of the buffer here) waited unread.
  Pair p;
  p.handshake();
  const auto d = pattern(200 * 1448, 6);
  size_t written = 0, got = 0;
  std::vector<std::byte> buf(65536);
  ASSERT_TRUE(p.run_until([&] {
    written += p.client.write(std::span(d).subspan(written), p.now);
    while (const uint32_t n = p.server.read(buf, p.now))
      got += n;
    return got == d.size();
  }));
  EXPECT_LE(p.server.counters().window_updates, 3u);
  // SYN-ACK, an ACK per 2 segments, the window updates.
  EXPECT_LE(p.server.counters().segments_out, 1u + 100 + 3);
}

TEST(ConnectionAck, AReaderThatFallsBehindReopensTheWindow) {
  // Unread data shrinks the window the sender knows of to under half of
  // the buffer: the read that frees it sends a window update at once.
  ConnectionConfig server_cfg;
  server_cfg.recv_buffer = 16 * 1448;
  server_cfg.window_scale = 0;
  Pair p({}, server_cfg);
  p.handshake();
  const auto d = pattern(12 * 1448, 7);
  EXPECT_EQ(p.client.write(d, p.now), d.size());
  p.deliver_all();
  const size_t acks = p.server_log.size();
  std::vector<std::byte> buf(12 * 1448);
  EXPECT_EQ(p.server.read(buf, p.now), d.size());
  ASSERT_EQ(p.server_log.size(), acks + 1);
  EXPECT_EQ(p.server_log.back().h.window, 16u * 1448);
  EXPECT_EQ(p.server.counters().window_updates, 1u);
}

TEST(ConnectionNagle, SmallSegmentWaitsForAck) {
  Pair p;
  p.handshake();
  auto d = pattern(200, 6);
  EXPECT_EQ(p.client.write(std::span(d).first(100), p.now), 100u);
  EXPECT_EQ(p.client.write(std::span(d).subspan(100), p.now), 100u);
  ASSERT_EQ(p.client_log.size(), 3u);  // only the first 100 bytes
  EXPECT_EQ(p.client_log[2].payload_len(), 100u);
  p.advance(Duration::millis(100));
  // The server's delayed ACK at +40 ms releases the second.
  ASSERT_EQ(p.client_log.size(), 4u);
  EXPECT_EQ(p.client_log[3].sent, kStart + Duration::millis(40));
  EXPECT_EQ(p.client_log[3].payload_len(), 100u);
  EXPECT_EQ(p.client_log[3].h.seq, SeqNum{1101});
}

TEST(ConnectionNagle, NodelaySendsAtOnce) {
  ConnectionConfig cfg;
  cfg.nodelay = true;
  Pair p(cfg);
  p.handshake();
  auto d = pattern(200, 6);
  EXPECT_EQ(p.client.write(std::span(d).first(100), p.now), 100u);
  EXPECT_EQ(p.client.write(std::span(d).subspan(100), p.now), 100u);
  ASSERT_EQ(p.client_log.size(), 4u);
  EXPECT_EQ(p.client_log[3].sent, kStart);
  EXPECT_EQ(p.client_log[3].h.seq, SeqNum{1101});
}

}  // namespace
}  // namespace sn
