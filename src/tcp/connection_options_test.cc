// Socket options and the timers that bound idle connections: keepalive (RFC
// 1122 §4.2.3.6), an orphan's FIN-WAIT-2 (Linux's tcp_fin_timeout), Nagle off
// at run time, switching the congestion controller, and the shared
// challenge-ACK limit (RFC 5961 §7).
#include <gtest/gtest.h>

#include "tcp/cubic.h"
#include "tcp/tcp_testing.h"

namespace sn {
namespace {

using namespace sn::testing;

ConnectionConfig keepalive_config() {
  ConnectionConfig c;
  c.keepalive = true;
  c.keepalive_idle = Duration::seconds(60);
  c.keepalive_interval = Duration::seconds(5);
  c.keepalive_probes = 3;
  return c;
}

TEST(ConnectionKeepalive, IdleConnectionIsProbedAndTheAnswerKeepsItAlive) {
  Pair p(keepalive_config());
  p.handshake();
  const size_t before = p.client_log.size();
  // Idle for just under the keepalive time: nothing is sent.
  p.advance(Duration::seconds(59));
  EXPECT_EQ(p.client_log.size(), before);
  p.advance(Duration::seconds(2));
  ASSERT_EQ(p.client_log.size(), before + 1);
  const WireSegment& probe = p.client_log.back();
  // SEG.SEQ = SND.NXT - 1, no data: below the server's window, so it ACKs.
  EXPECT_EQ(probe.h.flags, kTcpAck);
  EXPECT_EQ(probe.h.seq, p.client.snd_nxt() - 1);
  EXPECT_EQ(probe.payload_len(), 0u);
  EXPECT_EQ(p.client.counters().keepalive_probes, 1u);
  EXPECT_EQ(p.server.counters().bad_segments, 1u);  // and answered with an ACK
  // The answer counts as hearing from the peer: the next probe is a full
  // idle period later, and the connection stays.
  p.advance(Duration::seconds(600));
  EXPECT_EQ(p.client.state(), TcpState::kEstablished);
  EXPECT_EQ(p.client.counters().keepalive_probes, 11u);  // one a minute
  EXPECT_EQ(p.client.counters().keepalive_timeouts, 0u);
}

TEST(ConnectionKeepalive, UnansweredProbesEndTheConnection) {
  Pair p(keepalive_config());
  p.handshake();
  p.fault = [](Side, size_t, const WireSegment&) { return Fate::kDrop; };  // the peer is gone
  p.advance(Duration::seconds(60));
  // Three probes, 5 s apart, then a reset and CLOSED with a timeout.
  p.advance(Duration::seconds(15));
  EXPECT_EQ(p.client.counters().keepalive_probes, 3u);
  EXPECT_EQ(p.client.state(), TcpState::kClosed);
  EXPECT_EQ(p.client.error(), TcpError::kTimedOut);
  EXPECT_EQ(p.client.counters().keepalive_timeouts, 1u);
  EXPECT_TRUE(p.client_log.back().has(kTcpRst));
}

TEST(ConnectionKeepalive, OffByDefaultAndSwitchedOnLater) {
  Pair p;
  p.handshake();
  p.advance(Duration::seconds(3 * 3600));
  EXPECT_EQ(p.client.counters().keepalive_probes, 0u);
  p.client.set_keepalive(true, p.now);
  EXPECT_EQ(p.client.next_deadline(), p.now + ConnectionConfig{}.keepalive_idle);
  p.advance(ConnectionConfig{}.keepalive_idle + Duration::seconds(1));
  EXPECT_EQ(p.client.counters().keepalive_probes, 1u);
}

TEST(ConnectionKeepalive, NoProbeWhileDataIsOutstanding) {
  Pair p(keepalive_config());
  p.handshake();
  // The server's window closes (it never reads), so the client keeps data
  // it cannot send; the persist timer watches the peer, not keepalive.
  std::vector<std::byte> data = pattern(4 << 20, 1);
  size_t off = 0;
  for (int i = 0; i < 200; ++i) {
    off += p.client.write(std::span(data).subspan(off), p.now);
    p.advance(Duration::seconds(1));
  }
  EXPECT_GT(p.client.unsent(), 0u);
  EXPECT_EQ(p.client.counters().keepalive_probes, 0u);
  EXPECT_GT(p.client.counters().persist_probes, 0u);
  EXPECT_EQ(p.client.state(), TcpState::kEstablished);
}

// An application that closed its socket is not waiting for the peer's FIN
// for ever: FIN-WAIT-2 ends after fin_wait2_timeout with a reset.
TEST(ConnectionFinWait2, OrphanTimesOutHalfCloseWaitsForEver) {
  for (bool orphaned : {false, true}) {
    SCOPED_TRACE(orphaned);
    Pair p;
    p.handshake();
    ASSERT_TRUE(p.client.shutdown_send(p.now).ok());
    if (orphaned) p.client.orphan(p.now);
    p.run_until([&] { return p.client.state() == TcpState::kFinWait2; });
    ASSERT_EQ(p.client.state(), TcpState::kFinWait2);
    p.advance(ConnectionConfig{}.fin_wait2_timeout - Duration::seconds(1));
    EXPECT_EQ(p.client.state(), TcpState::kFinWait2);
    p.advance(Duration::seconds(2));
    if (orphaned) {
      EXPECT_EQ(p.client.state(), TcpState::kClosed);
      EXPECT_TRUE(p.client_log.back().has(kTcpRst));
      EXPECT_EQ(p.server.state(), TcpState::kClosed);  // the reset reached it
    } else {
      EXPECT_EQ(p.client.state(), TcpState::kFinWait2);  // a half-close is legitimate
      p.advance(Duration::seconds(3600));
      EXPECT_EQ(p.client.state(), TcpState::kFinWait2);
    }
  }
}

// RFC 1122 §4.2.2.13: data that arrives after the application closed is
// answered with a reset; the half-closed (not orphaned) end takes it.
TEST(ConnectionFinWait2, DataAfterCloseIsReset) {
  for (bool orphaned : {false, true}) {
    SCOPED_TRACE(orphaned);
    Pair p;
    p.handshake();
    ASSERT_TRUE(p.client.shutdown_send(p.now).ok());
    if (orphaned) p.client.orphan(p.now);
    p.run_until([&] { return p.client.state() == TcpState::kFinWait2; });
    const std::vector<std::byte> data = pattern(100, 2);
    EXPECT_EQ(p.server.write(data, p.now), 100u);
    p.run_until([&] { return p.client.state() != TcpState::kFinWait2 || p.client.readable(); });
    if (orphaned) {
      EXPECT_EQ(p.client.state(), TcpState::kClosed);
      EXPECT_TRUE(p.client_log.back().has(kTcpRst));
      EXPECT_EQ(p.client.counters().orphan_data_resets, 1u);
      p.run_until([&] { return p.server.state() == TcpState::kClosed; });
      EXPECT_EQ(p.server.error(), TcpError::kReset);
    } else {
      EXPECT_EQ(p.client.state(), TcpState::kFinWait2);
      EXPECT_EQ(p.client.readable_bytes(), 100u);
      EXPECT_EQ(p.client.counters().orphan_data_resets, 0u);
    }
  }
}

TEST(ConnectionOptions, NodelaySendsWhatNagleHeld) {
  Pair p;
  p.handshake();
  p.delay = Duration::millis(10);
  const std::vector<std::byte> one = pattern(1, 1);
  p.client.write(one, p.now);  // nothing in flight: goes at once
  p.client.write(one, p.now);  // Nagle holds it: one small segment is unacknowledged
  EXPECT_EQ(p.client.unsent(), 1u);
  p.client.set_nodelay(true, p.now);
  EXPECT_EQ(p.client.unsent(), 0u);
  p.client.write(one, p.now);
  EXPECT_EQ(p.client.unsent(), 0u);
}

TEST(ConnectionOptions, CongestionControlCanBeSwitched) {
  ConnectionConfig cubic;
  cubic.cc = CongestionAlgorithm::kCubic;
  Pair p(cubic);
  EXPECT_NE(dynamic_cast<const Cubic*>(&p.client.congestion()), nullptr);
  p.handshake();
  EXPECT_NE(dynamic_cast<const Cubic*>(&p.client.congestion()), nullptr);
  p.client.set_congestion(CongestionAlgorithm::kNewReno);
  EXPECT_EQ(dynamic_cast<const Cubic*>(&p.client.congestion()), nullptr);
  EXPECT_EQ(p.client.config().cc, CongestionAlgorithm::kNewReno);
  // Data still flows, byte-exact.
  const std::vector<std::byte> data = pattern(200'000, 3);
  size_t off = 0;
  std::vector<std::byte> got;
  std::array<std::byte, 65536> buf;
  ASSERT_TRUE(p.run_until([&] {
    off += p.client.write(std::span(data).subspan(off), p.now);
    while (uint32_t n = p.server.read(buf, p.now))
      got.insert(got.end(), buf.begin(), buf.begin() + n);
    return got.size() == data.size();
  }));
  EXPECT_TRUE(got == data);
}

// A peer's tiny MSS is raised to 88 (Linux's TCP_MIN_MSS), which still
// leaves room for data beside the timestamps; data flows byte-exact.
TEST(ConnectionOptions, TinyPeerMssIsRaisedToAFloor) {
  ConnectionConfig tiny;
  tiny.mss = 64;
  Pair p(tiny);
  p.handshake();
  EXPECT_EQ(p.server.send_mss(), 88u);
  EXPECT_EQ(p.server.effective_mss(), 76u);
  const std::vector<std::byte> data = pattern(10'000, 9);
  size_t off = 0;
  std::vector<std::byte> got;
  std::array<std::byte, 4096> buf;
  ASSERT_TRUE(p.run_until([&] {
    off += p.server.write(std::span(data).subspan(off), p.now);
    while (uint32_t n = p.client.read(buf, p.now))
      got.insert(got.end(), buf.begin(), buf.begin() + n);
    return got.size() == data.size();
  }));
  EXPECT_TRUE(got == data);
}

TEST(ConnectionOptions, ChallengeAcksShareALimit) {
  Pair p;
  p.handshake();
  TokenBucket limit(2, 2, p.now);
  p.server.set_challenge_ack_limiter(&limit);
  const size_t before = p.server_log.size();
  for (int i = 0; i < 5; ++i)
    p.inject(Side::kServer,
             p.header_to(Side::kServer, p.server.rcv_nxt() + 10, SeqNum{0}, kTcpSyn));
  EXPECT_EQ(p.server_log.size(), before + 2);
  EXPECT_EQ(p.server.counters().challenge_acks, 2u);
  EXPECT_EQ(p.server.counters().challenge_acks_limited, 3u);
  EXPECT_EQ(p.server.state(), TcpState::kEstablished);
}

}  // namespace
}  // namespace sn
