// Tests for RFC 6298 RTT estimation, RTO clamping and backoff, and the
// one-segment RTT timer (with Karn's rule and sequence number wrap-around).
#include "tcp/rtt.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <iterator>
#include <optional>

namespace sn {
namespace {

Duration ms(int64_t n) {
  return Duration::millis(n);
}
Duration us(int64_t n) {
  return Duration::micros(n);
}

TEST(Rtt, InitialRto) {
  // §2.1: 1 s until the first measurement.
  const RttEstimator est{RtoConfig{}};
  EXPECT_FALSE(est.has_sample());
  EXPECT_EQ(est.rto(), Duration::seconds(1));
  EXPECT_EQ(est.srtt(), Duration{});
  EXPECT_EQ(est.rttvar(), Duration{});
  EXPECT_EQ(est.backoffs(), 0u);
}

TEST(Rtt, InitialRtoIsClamped) {
  RtoConfig cfg;
  cfg.initial = Duration::seconds(500);
  EXPECT_EQ(RttEstimator(cfg).rto(), Duration::seconds(120));
  cfg.initial = ms(1);
  EXPECT_EQ(RttEstimator(cfg).rto(), ms(200));
}

TEST(Rtt, FirstSample) {
  // §2.2: SRTT = R, RTTVAR = R/2, RTO = SRTT + max(G, 4 * RTTVAR).
  RttEstimator est{RtoConfig{}};
  est.sample(ms(100));
  EXPECT_TRUE(est.has_sample());
  EXPECT_EQ(est.srtt(), ms(100));
  EXPECT_EQ(est.rttvar(), ms(50));
  EXPECT_EQ(est.rto(), ms(300));  // 100 + 4 * 50
}

TEST(Rtt, SampleSequence) {
  // §2.3 by hand: RTTVAR' = 3/4 RTTVAR + 1/4 |SRTT - R| (with the old SRTT),
  // then SRTT' = 7/8 SRTT + 1/8 R, RTO = SRTT' + 4 * RTTVAR'.
  RttEstimator est{RtoConfig{}};
  est.sample(ms(100));  // SRTT 100, RTTVAR 50, RTO 300

  est.sample(ms(200));
  // RTTVAR = 37.5 + 25 = 62.5; SRTT = 87.5 + 25 = 112.5; RTO = 112.5 + 250.
  EXPECT_EQ(est.rttvar(), us(62'500));
  EXPECT_EQ(est.srtt(), us(112'500));
  EXPECT_EQ(est.rto(), us(362'500));

  est.sample(ms(80));
  // RTTVAR = 46.875 + 8.125 = 55; SRTT = 98.4375 + 10 = 108.4375; RTO = + 220.
  EXPECT_EQ(est.rttvar(), ms(55));
  EXPECT_EQ(est.srtt(), Duration::nanos(108'437'500));
  EXPECT_EQ(est.rto(), Duration::nanos(328'437'500));

  est.sample(Duration::nanos(188'437'500));  // 80 ms above SRTT
  // RTTVAR = 41.25 + 20 = 61.25; SRTT = 94.8828125 + 23.5546875 = 118.4375.
  EXPECT_EQ(est.rttvar(), us(61'250));
  EXPECT_EQ(est.srtt(), Duration::nanos(118'437'500));
  EXPECT_EQ(est.rto(), Duration::nanos(363'437'500));  // 118.4375 + 245
}

TEST(Rtt, SteadySamplesConverge) {
  // Identical samples keep SRTT at R while RTTVAR decays by 3/4 each time.
  RttEstimator est{RtoConfig{}};
  est.sample(ms(400));
  EXPECT_EQ(est.rto(), ms(1200));
  est.sample(ms(400));
  EXPECT_EQ(est.rttvar(), ms(150));
  EXPECT_EQ(est.rto(), ms(1000));
  for (int i = 0; i < 60; ++i)
    est.sample(ms(400));
  EXPECT_EQ(est.srtt(), ms(400));
  EXPECT_LT(est.rttvar(), us(1));
  EXPECT_EQ(est.rto(), ms(401));  // SRTT + G
}

TEST(Rtt, ClampedToMin) {
  // 10 + 4 * 5 = 30 ms, raised to the 200 ms floor (Linux's; RFC 6298 §2.4 says 1 s).
  RttEstimator est{RtoConfig{}};
  est.sample(ms(10));
  EXPECT_EQ(est.srtt(), ms(10));
  EXPECT_EQ(est.rto(), ms(200));

  RtoConfig rfc;
  rfc.min = Duration::seconds(1);
  RttEstimator strict{rfc};
  strict.sample(ms(100));
  EXPECT_EQ(strict.rto(), Duration::seconds(1));
}

TEST(Rtt, ClampedToMax) {
  // §2.5: 100 + 4 * 50 = 300 s, lowered to 120 s.
  RttEstimator est{RtoConfig{}};
  est.sample(Duration::seconds(100));
  EXPECT_EQ(est.rto(), Duration::seconds(120));
}

TEST(Rtt, OutOfRangeSamples) {
  // A negative sample counts as 0; one past `max` as `max`.
  RttEstimator est{RtoConfig{}};
  est.sample(ms(-5));
  EXPECT_EQ(est.srtt(), Duration{});
  EXPECT_EQ(est.rttvar(), Duration{});
  EXPECT_EQ(est.rto(), ms(200));

  RttEstimator huge{RtoConfig{}};
  huge.sample(Duration::max());
  EXPECT_EQ(huge.srtt(), Duration::seconds(120));
  EXPECT_EQ(huge.rto(), Duration::seconds(120));
  huge.sample(Duration::max());
  huge.sample(Duration{});
  EXPECT_EQ(huge.rto(), Duration::seconds(120));
}

TEST(Rtt, GranularityDominates) {
  // When 4 * RTTVAR < G, RTO = SRTT + G.
  RtoConfig cfg;
  cfg.min = ms(1);
  cfg.granularity = ms(10);
  RttEstimator est{cfg};
  est.sample(ms(1));  // SRTT 1, RTTVAR 0.5: 4 * RTTVAR = 2 < 10
  EXPECT_EQ(est.rto(), ms(11));

  RttEstimator steady{cfg};
  steady.sample(ms(100));
  EXPECT_EQ(steady.rto(), ms(300));  // 4 * RTTVAR = 200 > 10
  for (int i = 0; i < 30; ++i)
    steady.sample(ms(100));  // RTTVAR = 50 * (3/4)^30, about 9 us
  EXPECT_EQ(steady.srtt(), ms(100));
  EXPECT_EQ(steady.rto(), ms(110));
}

TEST(Rtt, BackoffDoublesAndCaps) {
  // §5.5: RTO doubles on each expiry, bounded by `max`; the count goes on.
  RttEstimator est{RtoConfig{}};
  const int64_t expect_s[] = {2, 4, 8, 16, 32, 64, 120, 120, 120};
  for (uint32_t i = 0; i < std::size(expect_s); ++i) {
    est.backoff();
    EXPECT_EQ(est.rto(), Duration::seconds(expect_s[i])) << "backoff " << i + 1;
    EXPECT_EQ(est.backoffs(), i + 1);
  }
  EXPECT_FALSE(est.has_sample());
}

TEST(Rtt, BackoffFromComputedRto) {
  RttEstimator est{RtoConfig{}};
  est.sample(ms(100));  // RTO 300 ms
  est.backoff();
  est.backoff();
  EXPECT_EQ(est.rto(), ms(1200));
  EXPECT_EQ(est.backoffs(), 2u);
  est.reset_backoff();
  EXPECT_EQ(est.rto(), ms(300));
  EXPECT_EQ(est.backoffs(), 0u);
}

TEST(Rtt, SampleResetsBackoff) {
  RttEstimator est{RtoConfig{}};
  est.sample(ms(100));
  for (int i = 0; i < 10; ++i)
    est.backoff();
  EXPECT_EQ(est.rto(), Duration::seconds(120));
  EXPECT_EQ(est.backoffs(), 10u);
  // §5: a new measurement "collapses" the backed-off RTO. SRTT 100 + 12.5 = 112.5,
  // RTTVAR 50 + 12.5 = 62.5, so RTO = 112.5 + 250.
  est.sample(ms(200));
  EXPECT_EQ(est.backoffs(), 0u);
  EXPECT_EQ(est.rto(), us(362'500));
}

TEST(RttTimer, IdleUntilStarted) {
  RttTimer t;
  EXPECT_FALSE(t.running());
  EXPECT_EQ(t.on_ack(SeqNum{100}, Instant() + ms(5)), std::nullopt);
}

TEST(RttTimer, SampleWhenAckCoversTimedSeqAcrossWrap) {
  const Instant t0 = Instant() + Duration::seconds(10);
  RttTimer t;
  t.start(SeqNum{0xfffffff0}, t0);  // the segment's first byte, just before the wrap
  EXPECT_TRUE(t.running());
  // Acks at or below the timed sequence number do not cover it.
  EXPECT_EQ(t.on_ack(SeqNum{0xffffff00}, t0 + ms(10)), std::nullopt);
  EXPECT_EQ(t.on_ack(SeqNum{0xfffffff0}, t0 + ms(20)), std::nullopt);
  EXPECT_TRUE(t.running());
  // 0x10 is past the wrap, so ahead of 0xfffffff0: the sample is taken.
  EXPECT_EQ(t.on_ack(SeqNum{0x10}, t0 + ms(30)), ms(30));
  EXPECT_FALSE(t.running());
  EXPECT_EQ(t.on_ack(SeqNum{0x20}, t0 + ms(40)), std::nullopt);  // one sample only
}

TEST(RttTimer, AckOfOneByteIsEnough) {
  // A SYN timed at the ISS is covered by ACK = ISS + 1.
  const Instant t0 = Instant() + ms(1);
  RttTimer t;
  t.start(SeqNum{0xffffffff}, t0);
  EXPECT_EQ(t.on_ack(SeqNum{0}, t0 + us(250)), us(250));
}

TEST(RttTimer, KarnCancelOnRetransmission) {
  // Karn (§3): after a retransmission the ACK is ambiguous; no sample, and the
  // backed-off RTO stays until a segment sent once is timed.
  RttEstimator est{RtoConfig{}};
  est.sample(ms(100));
  const Instant t0 = Instant() + Duration::seconds(1);
  RttTimer t;
  t.start(SeqNum{1000}, t0);
  // The RTO fires: back off, retransmit, stop timing.
  est.backoff();
  t.cancel();
  EXPECT_FALSE(t.running());
  EXPECT_EQ(t.on_ack(SeqNum{2000}, t0 + ms(700)), std::nullopt);
  EXPECT_EQ(est.rto(), ms(600));
  EXPECT_EQ(est.backoffs(), 1u);
  // New data, timed afresh, gives an unambiguous sample.
  t.start(SeqNum{2000}, t0 + ms(700));
  const auto r = t.on_ack(SeqNum{3000}, t0 + ms(800));
  ASSERT_TRUE(r.has_value());
  est.sample(*r);
  EXPECT_EQ(est.backoffs(), 0u);
  EXPECT_EQ(est.rto(), ms(250));  // SRTT 100, RTTVAR 50 + (0 - 50) / 4 = 37.5
}

TEST(RttTimer, RestartReplacesTimedSegment) {
  const Instant t0 = Instant() + ms(1);
  RttTimer t;
  t.start(SeqNum{100}, t0);
  t.start(SeqNum{500}, t0 + ms(5));
  EXPECT_EQ(t.on_ack(SeqNum{200}, t0 + ms(20)), std::nullopt);
  EXPECT_EQ(t.on_ack(SeqNum{501}, t0 + ms(25)), ms(20));
}

}  // namespace
}  // namespace sn
