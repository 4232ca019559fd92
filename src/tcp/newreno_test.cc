// NewReno, with hand-computed windows: the initial window, slow start,
// byte-counted congestion avoidance, RFC 6582 fast recovery (inflation,
// partial-ACK deflation, the two ways out), timeouts and the restart window.
// SMSS is 1000 bytes throughout, so every window reads as segments.
#include "tcp/newreno.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace sn {
namespace {

constexpr uint32_t kMss = 1000;
const Instant kT0 = Instant::from_ns(1'000'000'000);
constexpr Duration kRtt = Duration::millis(50);

NewReno make() {
  return NewReno({.mss = kMss});
}

// ACKs of one segment each, from a sender whose window is full.
void ack_segments(NewReno& cc, uint32_t n) {
  for (uint32_t i = 0; i < n; ++i)
    cc.on_ack(kMss, kRtt, cc.cwnd(), kT0);
}

// A connection in congestion avoidance at cwnd = ssthresh = `window`: slow
// start to 2*window, then a loss and its recovery.
NewReno in_congestion_avoidance(uint32_t window) {
  NewReno cc = make();
  while (cc.cwnd() < 2 * window)
    ack_segments(cc, 1);
  cc.on_enter_recovery(2 * window, kT0);
  cc.on_exit_recovery(2 * window, kT0);
  return cc;
}

TEST(NewReno, InitialWindowIsTenSegments) {
  NewReno cc = make();
  EXPECT_EQ(cc.cwnd(), 10'000u);
  EXPECT_EQ(cc.ssthresh(), UINT32_MAX);
  EXPECT_FALSE(cc.in_recovery());
  EXPECT_EQ(NewReno({.mss = 1460}).cwnd(), 14'600u);
  EXPECT_EQ(NewReno({.mss = 1460, .initial_window_segments = 3}).cwnd(), 4'380u);
}

TEST(NewReno, SlowStartDoublesEachRoundTripOfAcks) {
  NewReno cc = make();
  ack_segments(cc, 9);
  EXPECT_EQ(cc.cwnd(), 19'000u);  // +1 SMSS per segment acknowledged
  ack_segments(cc, 1);
  EXPECT_EQ(cc.cwnd(), 20'000u);  // one round trip: 10 -> 20
  ack_segments(cc, 20);
  EXPECT_EQ(cc.cwnd(), 40'000u);
  // Delayed ACKs (two segments each) still double it: L = 2 SMSS.
  for (int i = 0; i < 20; ++i)
    cc.on_ack(2 * kMss, kRtt, cc.cwnd(), kT0);
  EXPECT_EQ(cc.cwnd(), 80'000u);
}

TEST(NewReno, CongestionAvoidanceAddsOneSegmentPerWindowAcknowledged) {
  NewReno cc = in_congestion_avoidance(20'000);
  ASSERT_EQ(cc.cwnd(), 20'000u);
  ASSERT_EQ(cc.ssthresh(), 20'000u);
  ack_segments(cc, 19);
  EXPECT_EQ(cc.cwnd(), 20'000u);  // 19,000 bytes counted, short of cwnd
  ack_segments(cc, 1);
  EXPECT_EQ(cc.cwnd(), 21'000u);  // 20,000 counted: +1 SMSS, count back to 0
  ack_segments(cc, 20);
  EXPECT_EQ(cc.cwnd(), 21'000u);  // 20,000 counted, now short of 21,000
  ack_segments(cc, 1);
  EXPECT_EQ(cc.cwnd(), 22'000u);
  // Delayed ACKs: 11 ACKs of 2 SMSS make 22,000 bytes, one window.
  for (int i = 0; i < 10; ++i)
    cc.on_ack(2 * kMss, kRtt, cc.cwnd(), kT0);
  EXPECT_EQ(cc.cwnd(), 22'000u);
  cc.on_ack(2 * kMss, kRtt, cc.cwnd(), kT0);
  EXPECT_EQ(cc.cwnd(), 23'000u);
  EXPECT_EQ(cc.ssthresh(), 20'000u);
}

TEST(NewReno, CongestionAvoidanceGrowsAtMostOneSegmentPerAck) {
  NewReno cc = in_congestion_avoidance(20'000);
  cc.on_ack(50'000, kRtt, cc.cwnd(), kT0);  // a stretch ACK of 2.5 windows
  EXPECT_EQ(cc.cwnd(), 21'000u);
  cc.on_ack(1, kRtt, cc.cwnd(), kT0);  // 30,001 left over: one more segment
  EXPECT_EQ(cc.cwnd(), 22'000u);
}

TEST(NewReno, CongestionAvoidanceNeedsAFullWindow) {
  NewReno cc = in_congestion_avoidance(20'000);
  // 19,000 in flight: the sender could have sent another segment and did not.
  for (int i = 0; i < 40; ++i)
    cc.on_ack(kMss, kRtt, 19'000, kT0);
  EXPECT_EQ(cc.cwnd(), 20'000u);
  // 19,001: less than one segment of room, so the window was the limit.
  for (int i = 0; i < 20; ++i)
    cc.on_ack(kMss, kRtt, 19'001, kT0);
  EXPECT_EQ(cc.cwnd(), 21'000u);
}

TEST(NewReno, ThreeDuplicateAcksRecovery) {
  NewReno cc = make();
  ack_segments(cc, 30);
  ASSERT_EQ(cc.cwnd(), 40'000u);

  // RFC 5681 §3.2 steps 2-3: ssthresh = max(FlightSize/2, 2 SMSS) = 20,000;
  // cwnd = ssthresh + 3 SMSS.
  cc.on_enter_recovery(40'000, kT0);
  EXPECT_TRUE(cc.in_recovery());
  EXPECT_EQ(cc.ssthresh(), 20'000u);
  EXPECT_EQ(cc.cwnd(), 23'000u);

  // Step 4: each further duplicate ACK inflates by 1 SMSS.
  cc.on_dup_ack_in_recovery();
  cc.on_dup_ack_in_recovery();
  EXPECT_EQ(cc.cwnd(), 25'000u);

  // RFC 6582 §3.2 step 3, partial ACK of 5 segments: deflate by 5,000, add
  // back 1 SMSS.
  cc.on_partial_ack(5'000);
  EXPECT_EQ(cc.cwnd(), 21'000u);
  EXPECT_TRUE(cc.in_recovery());
  // A partial ACK of less than one SMSS deflates without the add-back.
  cc.on_partial_ack(500);
  EXPECT_EQ(cc.cwnd(), 20'500u);
  cc.on_dup_ack_in_recovery();
  EXPECT_EQ(cc.cwnd(), 21'500u);

  // The full ACK, option (1): min(ssthresh, max(FlightSize, SMSS) + SMSS).
  cc.on_exit_recovery(30'000, kT0);
  EXPECT_FALSE(cc.in_recovery());
  EXPECT_EQ(cc.cwnd(), 20'000u);  // min(20,000, 31,000)
  EXPECT_EQ(cc.ssthresh(), 20'000u);
}

TEST(NewReno, FullAckWithLittleInFlightAvoidsABurst) {
  NewReno cc = make();
  ack_segments(cc, 30);
  cc.on_enter_recovery(40'000, kT0);
  cc.on_exit_recovery(5'000, kT0);
  EXPECT_EQ(cc.cwnd(), 6'000u);  // min(20,000, 5,000 + 1,000)
  EXPECT_EQ(cc.ssthresh(), 20'000u);
  cc.on_ack(kMss, kRtt, 6'000, kT0);  // below ssthresh again: slow start
  EXPECT_EQ(cc.cwnd(), 7'000u);

  NewReno empty = make();
  empty.on_enter_recovery(10'000, kT0);
  empty.on_exit_recovery(0, kT0);
  EXPECT_EQ(empty.cwnd(), 2'000u);  // max(0, SMSS) + SMSS
}

TEST(NewReno, PartialAckNeverLeavesLessThanOneSegment) {
  NewReno cc = make();
  cc.on_enter_recovery(10'000, kT0);
  ASSERT_EQ(cc.cwnd(), 8'000u);  // ssthresh 5,000 + 3 SMSS
  cc.on_partial_ack(7'800);
  EXPECT_EQ(cc.cwnd(), 1'200u);  // 200 + 1,000 added back
  cc.on_partial_ack(900);
  EXPECT_EQ(cc.cwnd(), 1'000u);  // 300, raised to 1 SMSS
  cc.on_partial_ack(50'000);
  EXPECT_EQ(cc.cwnd(), 1'000u);
}

TEST(NewReno, FlightSizeNotCwndSetsSsthresh) {
  NewReno cc = make();
  ack_segments(cc, 30);               // cwnd 40,000
  cc.on_enter_recovery(13'000, kT0);  // only 13 segments were outstanding
  EXPECT_EQ(cc.ssthresh(), 6'500u);
  EXPECT_EQ(cc.cwnd(), 9'500u);
}

TEST(NewReno, RetransmissionTimeout) {
  NewReno cc = make();
  ack_segments(cc, 30);  // cwnd 40,000
  cc.on_rto(36'000, kT0);
  EXPECT_EQ(cc.cwnd(), 1'000u);       // LW
  EXPECT_EQ(cc.ssthresh(), 18'000u);  // max(36,000 / 2, 2,000)

  // The same segment times out again: ssthresh is held (RFC 5681 §3.1).
  cc.on_rto(36'000 - 20'000, kT0);
  EXPECT_EQ(cc.cwnd(), 1'000u);
  EXPECT_EQ(cc.ssthresh(), 18'000u);

  // Slow start after a timeout counts at most 1 SMSS per ACK (RFC 3465 §2.3).
  cc.on_ack(2 * kMss, kRtt, 1'000, kT0);
  EXPECT_EQ(cc.cwnd(), 2'000u);
  cc.on_ack(kMss, kRtt, 2'000, kT0);
  EXPECT_EQ(cc.cwnd(), 3'000u);

  // New data was acknowledged, so the next timeout is a new one.
  cc.on_rto(3'000, kT0);
  EXPECT_EQ(cc.cwnd(), 1'000u);
  EXPECT_EQ(cc.ssthresh(), 2'000u);  // max(1,500, 2 SMSS)
}

TEST(NewReno, SlowStartAfterTimeoutThenCongestionAvoidance) {
  NewReno cc = make();
  cc.on_rto(8'000, kT0);
  ASSERT_EQ(cc.ssthresh(), 4'000u);
  for (uint32_t expected : {2'000u, 3'000u, 4'000u}) {
    cc.on_ack(2 * kMss, kRtt, cc.cwnd(), kT0);
    EXPECT_EQ(cc.cwnd(), expected);
  }
  // cwnd == ssthresh: congestion avoidance, and L is 2 SMSS again for the
  // next slow start. Four segments make a window.
  ack_segments(cc, 3);
  EXPECT_EQ(cc.cwnd(), 4'000u);
  ack_segments(cc, 1);
  EXPECT_EQ(cc.cwnd(), 5'000u);
}

TEST(NewReno, TimeoutEndsRecovery) {
  NewReno cc = make();
  ack_segments(cc, 10);  // 20,000
  cc.on_enter_recovery(20'000, kT0);
  cc.on_dup_ack_in_recovery();
  ASSERT_TRUE(cc.in_recovery());
  cc.on_rto(20'000, kT0);
  EXPECT_FALSE(cc.in_recovery());  // RFC 6582 §3.2 step 4
  EXPECT_EQ(cc.cwnd(), 1'000u);
  EXPECT_EQ(cc.ssthresh(), 10'000u);
  cc.on_exit_recovery(0, kT0);  // ignored: no longer in recovery
  EXPECT_EQ(cc.cwnd(), 1'000u);
}

TEST(NewReno, IdleRestart) {
  NewReno cc = make();
  ack_segments(cc, 30);  // 40,000
  cc.on_idle_restart(kT0);
  EXPECT_EQ(cc.cwnd(), 10'000u);
  EXPECT_EQ(cc.ssthresh(), UINT32_MAX);

  // Below IW the restart leaves cwnd alone, but the byte count of
  // congestion avoidance starts over.
  NewReno ca = in_congestion_avoidance(5'000);
  ASSERT_EQ(ca.cwnd(), 5'000u);
  ack_segments(ca, 3);
  ca.on_idle_restart(kT0);
  EXPECT_EQ(ca.cwnd(), 5'000u);
  ack_segments(ca, 4);
  EXPECT_EQ(ca.cwnd(), 5'000u);  // 4,000 of 5,000 counted, not 7,000
  ack_segments(ca, 1);
  EXPECT_EQ(ca.cwnd(), 6'000u);
}

}  // namespace
}  // namespace sn
