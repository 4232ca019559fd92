// CUBIC (RFC 9438) against its formulas: the reduction to beta_cubic on loss,
// K, the window following W_cubic(t) over simulated round trips, the
// Reno-friendly region on short round trips, fast convergence, timeouts, and
// application-limited senders. SMSS is 1000 bytes, so a window of W segments
// is W * 1000 bytes.
#include "tcp/cubic.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace sn {
namespace {

constexpr uint32_t kMss = 1000;
const Instant kT0 = Instant::from_ns(1'000'000'000);
constexpr Duration kRtt = Duration::millis(100);

double seconds(Duration d) {
  return static_cast<double>(d.ns()) / 1e9;
}

// Slow start, one-segment ACKs from a sender with a full window, until cwnd
// reaches `bytes`. Every ACK carries an RTT sample of `rtt`.
void slow_start_to(Cubic& cc, uint32_t bytes, Instant now, Duration rtt = kRtt) {
  while (cc.cwnd() < bytes)
    cc.on_ack(kMss, rtt, cc.cwnd(), now);
}

// A loss found by duplicate ACKs with the whole window in flight, and the
// full ACK that ends its recovery with plenty still in flight.
void lose(Cubic& cc, Instant now) {
  cc.on_enter_recovery(cc.cwnd(), now);
  cc.on_exit_recovery(1u << 29, now);
}

// One round trip of ACK clocking from `start`: a window of one-segment ACKs,
// spread evenly over `rtt`. Returns the end of the round.
Instant ack_round(Cubic& cc, Instant start, Duration rtt) {
  const uint32_t n = std::max(cc.cwnd() / kMss, 1u);
  for (uint32_t i = 0; i < n; ++i)
    cc.on_ack(kMss, rtt, cc.cwnd(), start + rtt * i / n);
  return start + rtt;
}

// A controller that grew to `w_max_segments` in slow start, lost, recovered,
// and now sits at 0.7 of it, at kT0, with SRTT = rtt.
Cubic after_loss_at(uint32_t w_max_segments, Duration rtt = kRtt, bool fast_convergence = true) {
  Cubic cc({.mss = kMss}, fast_convergence);
  slow_start_to(cc, w_max_segments * kMss, kT0, rtt);
  lose(cc, kT0);
  return cc;
}

TEST(Cubic, Constants) {
  EXPECT_EQ(Cubic::kC, 0.4);
  EXPECT_EQ(Cubic::kBeta, 0.7);
  EXPECT_DOUBLE_EQ(Cubic::kAlpha, 9.0 / 17.0);  // 3 * 0.3 / 1.7
  EXPECT_DOUBLE_EQ(Cubic::w_cubic(2.0, 1.0, 10.0), 10.4);
  EXPECT_DOUBLE_EQ(Cubic::w_cubic(0.0, 2.0, 10.0), 6.8);
}

TEST(Cubic, InitialWindowAndSlowStartAreNewReno) {
  Cubic cc({.mss = kMss});
  EXPECT_EQ(cc.cwnd(), 10'000u);
  EXPECT_EQ(cc.ssthresh(), UINT32_MAX);
  for (int i = 0; i < 10; ++i)
    cc.on_ack(kMss, kRtt, cc.cwnd(), kT0);
  EXPECT_EQ(cc.cwnd(), 20'000u);
  EXPECT_FALSE(cc.in_epoch());
}

TEST(Cubic, LossLeavesSevenTenthsOfTheWindow) {
  Cubic cc({.mss = kMss});
  slow_start_to(cc, 100'000, kT0);
  ASSERT_EQ(cc.cwnd(), 100'000u);

  cc.on_enter_recovery(100'000, kT0);
  EXPECT_TRUE(cc.in_recovery());
  EXPECT_EQ(cc.ssthresh(), 70'000u);  // §4.6: flight_size * 0.7
  EXPECT_EQ(cc.cwnd(), 73'000u);      // + 3 SMSS: RFC 6582 fast recovery
  EXPECT_DOUBLE_EQ(cc.w_max(), 100.0);
  EXPECT_DOUBLE_EQ(cc.cwnd_prior(), 100.0);

  cc.on_dup_ack_in_recovery();
  EXPECT_EQ(cc.cwnd(), 74'000u);
  cc.on_partial_ack(10'000);
  EXPECT_EQ(cc.cwnd(), 65'000u);
  cc.on_exit_recovery(80'000, kT0);
  EXPECT_FALSE(cc.in_recovery());
  EXPECT_EQ(cc.cwnd(), 70'000u);  // 0.7 * W
  EXPECT_EQ(cc.ssthresh(), 70'000u);

  Cubic odd({.mss = kMss});
  slow_start_to(odd, 123'000, kT0);
  lose(odd, kT0);
  EXPECT_EQ(odd.ssthresh(), 86'100u);
  EXPECT_EQ(odd.cwnd(), 86'100u);
}

TEST(Cubic, NeverBelowTwoSegmentsAfterLoss) {
  Cubic cc({.mss = kMss, .initial_window_segments = 2});
  cc.on_ack(857, kRtt, 2'000, kT0);
  ASSERT_EQ(cc.cwnd(), 2'857u);
  cc.on_enter_recovery(2'857, kT0);  // 0.7 * 2,857 = 1,999.9
  EXPECT_EQ(cc.ssthresh(), 2'000u);
  cc.on_exit_recovery(10'000, kT0);
  EXPECT_EQ(cc.cwnd(), 2'000u);
}

TEST(Cubic, KFollowsTheFormula) {
  Cubic cc = after_loss_at(100);
  ASSERT_EQ(cc.cwnd(), 70'000u);
  EXPECT_FALSE(cc.in_epoch());  // the stage begins with its first ACK
  cc.on_ack(kMss, kRtt, cc.cwnd(), kT0);
  ASSERT_TRUE(cc.in_epoch());
  // K = cbrt(W_max * (1 - beta) / C) = cbrt(100 * 0.3 / 0.4) = cbrt(75).
  EXPECT_DOUBLE_EQ(cc.k(), 4.2171633265087465);
  EXPECT_DOUBLE_EQ(cc.k(), std::cbrt(100 * (1 - Cubic::kBeta) / Cubic::kC));
  EXPECT_DOUBLE_EQ(cc.w_max(), 100.0);
  EXPECT_NEAR(Cubic::w_cubic(0, cc.k(), cc.w_max()), 70.0, 1e-12);
  EXPECT_NEAR(Cubic::w_cubic(cc.k(), cc.k(), cc.w_max()), 100.0, 1e-12);

  Cubic odd = after_loss_at(123);
  odd.on_ack(kMss, kRtt, odd.cwnd(), kT0);
  EXPECT_DOUBLE_EQ(odd.k(), 4.518442829047895);  // cbrt(123 * 0.3 / 0.4)
}

TEST(Cubic, FirstAcksOfCongestionAvoidanceByHand) {
  Cubic cc = after_loss_at(100);
  ASSERT_EQ(cc.srtt(), kRtt);
  // t = 0: W_cubic(0) = 70 and W_est = 70 + alpha * 1/70 = 70.0075630:
  // the Reno-friendly region, cwnd = W_est = 70,007.56 bytes.
  cc.on_ack(kMss, kRtt, cc.cwnd(), kT0);
  EXPECT_EQ(cc.epoch_start(), kT0);
  EXPECT_DOUBLE_EQ(cc.w_est(), 70.0 + (9.0 / 17.0) / 70.0);
  EXPECT_EQ(cc.cwnd(), 70'007u);
  // t = 1 s: W_cubic(1) = 86.681 > W_est = 70.0151, the concave region.
  // target = W_cubic(t + RTT) = W_cubic(1.1) = 87.8846;
  // cwnd += (87.8846 - 70.00756) / 70.00756 = 0.25536 segment.
  cc.on_ack(kMss, kRtt, cc.cwnd(), kT0 + Duration::seconds(1));
  EXPECT_EQ(cc.cwnd(), 70'262u);
  EXPECT_NEAR(cc.w_est(), 70.01512523, 1e-8);
}

TEST(Cubic, TargetIsCappedAtOneAndAHalfWindows) {
  Cubic cc = after_loss_at(100);
  cc.on_ack(kMss, kRtt, cc.cwnd(), kT0);
  ASSERT_EQ(cc.cwnd(), 70'007u);
  // 100 s later W_cubic is enormous; the target is 1.5 * cwnd, and one
  // segment acknowledged adds (1.5 cwnd - cwnd) / cwnd = 0.5 segment.
  cc.on_ack(kMss, kRtt, cc.cwnd(), kT0 + Duration::seconds(100));
  EXPECT_EQ(cc.cwnd(), 70'507u);
}

TEST(Cubic, WindowFollowsTheCubicCurve) {
  Cubic cc = after_loss_at(100);
  Instant now = kT0;
  const double k = std::cbrt(75.0);
  // Concave up to K = 4.217 s, convex after; sampled at round ends, where the
  // window has caught up with the curve. The Reno-friendly estimate stays
  // below the curve until about 5.8 s.
  int samples = 0;
  while (now - kT0 < Duration::millis(5500)) {
    now = ack_round(cc, now, kRtt);
    const double t = seconds(now - cc.epoch_start());
    const double expected = Cubic::w_cubic(t, k, 100.0) * kMss;
    if ((now - kT0).ms() % 500 == 0) {
      ++samples;
      EXPECT_NEAR(cc.cwnd(), expected, kMss / 10.0) << "t = " << t;
      EXPECT_LT(cc.w_est() * kMss, expected) << "t = " << t;
    }
  }
  EXPECT_EQ(samples, 11);
  EXPECT_DOUBLE_EQ(cc.k(), k);  // one stage throughout
  EXPECT_GT(cc.cwnd(), 100'000u);

  // By 7 s the Reno-friendly estimate (1 segment per round trip once it
  // passed cwnd_prior = 100) has overtaken the flat part of the curve.
  while (now - kT0 < Duration::seconds(7))
    now = ack_round(cc, now, kRtt);
  const double t = seconds(now - cc.epoch_start());
  EXPECT_GT(cc.w_est(), Cubic::w_cubic(t, k, 100.0) + 2);
  EXPECT_EQ(cc.cwnd(), static_cast<uint32_t>(cc.w_est() * kMss));
}

TEST(Cubic, RenoFriendlyRegionDominatesOnShortRoundTrips) {
  // W_max = 20 segments and a 10 ms round trip: K = cbrt(15) = 2.47 s, but
  // W_est gains alpha = 0.53 segment per round trip (53 per second), and
  // after reaching cwnd_prior = 20, one segment per round trip.
  const Duration rtt = Duration::millis(10);
  Cubic cc = after_loss_at(20, rtt);
  ASSERT_EQ(cc.cwnd(), 14'000u);
  Instant now = kT0;
  int rounds_at_alpha = 0;
  int rounds_at_one = 0;
  for (int round = 0; round < 100; ++round) {
    const double before = cc.cwnd() / double{kMss};
    const double w_est_before = cc.w_est();
    now = ack_round(cc, now, rtt);
    const double t = seconds(now - cc.epoch_start());
    // cwnd is W_est, far above the cubic curve.
    ASSERT_EQ(cc.cwnd(), static_cast<uint32_t>(cc.w_est() * kMss)) << "round " << round;
    ASSERT_GT(cc.cwnd(), Cubic::w_cubic(t, cc.k(), cc.w_max()) * kMss) << "round " << round;
    // A round of n = floor(cwnd) ACKs adds alpha / cwnd per ACK while cwnd
    // grows by the gain: about alpha * n / (cwnd + gain / 2).
    const double gain = cc.cwnd() / double{kMss} - before;
    const double n = std::floor(before);
    const auto expected_gain = [&](double a) { return a * n / (before + a * n / before / 2); };
    if (round == 0) continue;  // W_est starts at the round's first ACK
    if (cc.w_est() < 20.0) {
      ++rounds_at_alpha;
      EXPECT_NEAR(gain, expected_gain(Cubic::kAlpha), 0.003) << "round " << round;
    } else if (w_est_before >= 20.0) {
      ++rounds_at_one;
      EXPECT_NEAR(gain, expected_gain(1.0), 0.003) << "round " << round;
    }
  }
  // Rounds 0-10 at alpha: (20 - 14) / 0.53 = 11.3 round trips; round 11
  // crosses cwnd_prior; rounds 12-99 at one segment.
  EXPECT_EQ(rounds_at_alpha, 10);
  EXPECT_EQ(rounds_at_one, 88);
  // After 1 s: 20 + about 87 segments, against W_cubic(1) = 18.7.
  EXPECT_GE(cc.cwnd(), 106'000u);
  EXPECT_LE(cc.cwnd(), 108'000u);
}

TEST(Cubic, FastConvergenceLowersWmaxOnAnEarlierLoss) {
  // The first loss at 100 segments; the second before regaining them, at
  // W_est = 70 + alpha / 70 = 70.00756 segments (cwnd() shows 70,007 bytes).
  const double w = 70.0 + (9.0 / 17.0) / 70.0;
  Cubic cc = after_loss_at(100);
  cc.on_ack(kMss, kRtt, cc.cwnd(), kT0);
  ASSERT_EQ(cc.cwnd(), 70'007u);
  lose(cc, kT0 + Duration::seconds(1));
  // §4.7: W_max = cwnd * (1 + beta) / 2 = 70.00756 * 0.85 = 59.50643.
  EXPECT_DOUBLE_EQ(cc.w_max(), w * (1 + Cubic::kBeta) / 2);
  EXPECT_NEAR(cc.w_max(), 59.506429, 1e-6);
  EXPECT_DOUBLE_EQ(cc.cwnd_prior(), w);
  EXPECT_EQ(cc.ssthresh(), 49'004u);  // 0.7 * 70,007 bytes in flight
  EXPECT_EQ(cc.cwnd(), 49'004u);
  cc.on_ack(kMss, kRtt, cc.cwnd(), kT0 + Duration::seconds(1));
  // K = cbrt((59.50643 - 49.004) / 0.4) = cbrt(26.2561) = 2.9722 s.
  EXPECT_DOUBLE_EQ(cc.k(), std::cbrt((cc.w_max() - 49.004) / Cubic::kC));
  EXPECT_NEAR(cc.k(), 2.97219, 1e-5);

  // Without fast convergence W_max is the window before the reduction.
  Cubic plain = after_loss_at(100, kRtt, /*fast_convergence=*/false);
  plain.on_ack(kMss, kRtt, plain.cwnd(), kT0);
  lose(plain, kT0 + Duration::seconds(1));
  EXPECT_DOUBLE_EQ(plain.w_max(), w);
  EXPECT_EQ(plain.ssthresh(), 49'004u);
}

TEST(Cubic, LossAboveTheOldWmaxKeepsTheWindow) {
  const Duration rtt = Duration::millis(10);
  Cubic cc = after_loss_at(20, rtt);
  Instant now = kT0;
  for (int round = 0; round < 20; ++round)
    now = ack_round(cc, now, rtt);
  const uint32_t cwnd = cc.cwnd();
  ASSERT_GT(cwnd, 20'000u);
  lose(cc, now);
  EXPECT_NEAR(cc.w_max(), cwnd / double{kMss}, 0.001);  // no fast convergence
  EXPECT_EQ(cc.ssthresh(), static_cast<uint32_t>(uint64_t{cwnd} * 7 / 10));
}

TEST(Cubic, TimeoutFollowsSection4_8) {
  Cubic cc({.mss = kMss});
  slow_start_to(cc, 100'000, kT0);
  cc.on_rto(100'000, kT0);
  EXPECT_EQ(cc.cwnd(), 1'000u);       // Reno's loss window
  EXPECT_EQ(cc.ssthresh(), 70'000u);  // beta_cubic, as in §4.6
  EXPECT_DOUBLE_EQ(cc.cwnd_prior(), 100.0);

  // A second timeout before any ACK keeps ssthresh (RFC 5681 §3.1).
  cc.on_rto(60'000, kT0 + Duration::seconds(1));
  EXPECT_EQ(cc.cwnd(), 1'000u);
  EXPECT_EQ(cc.ssthresh(), 70'000u);

  // Slow start after a timeout: 1 SMSS per ACK at most (RFC 3465 §2.3).
  Instant now = kT0 + Duration::seconds(3);
  cc.on_ack(2 * kMss, kRtt, cc.cwnd(), now);
  EXPECT_EQ(cc.cwnd(), 2'000u);
  slow_start_to(cc, 70'000, now);
  ASSERT_EQ(cc.cwnd(), 70'000u);

  // The first stage after a timeout: W_max = cwnd at its start, K = 0.
  cc.on_ack(kMss, kRtt, cc.cwnd(), now);
  EXPECT_TRUE(cc.in_epoch());
  EXPECT_DOUBLE_EQ(cc.w_max(), 70.0);
  EXPECT_EQ(cc.k(), 0.0);
  // W_est starts at 70 too: 70 + alpha / 70 (W_est < cwnd_prior = 100).
  EXPECT_DOUBLE_EQ(cc.w_est(), 70.0 + (9.0 / 17.0) / 70.0);
  EXPECT_EQ(cc.cwnd(), 70'007u);
}

TEST(Cubic, TimeoutInRecoveryKeepsThePriorWindow) {
  Cubic cc({.mss = kMss});
  slow_start_to(cc, 100'000, kT0);
  cc.on_enter_recovery(100'000, kT0);
  for (int i = 0; i < 20; ++i)
    cc.on_dup_ack_in_recovery();
  ASSERT_EQ(cc.cwnd(), 93'000u);  // inflated
  cc.on_rto(90'000, kT0 + Duration::seconds(1));
  EXPECT_FALSE(cc.in_recovery());
  EXPECT_EQ(cc.cwnd(), 1'000u);
  EXPECT_EQ(cc.ssthresh(), 63'000u);         // 0.7 * 90,000 in flight
  EXPECT_DOUBLE_EQ(cc.cwnd_prior(), 100.0);  // not the inflated 93
}

TEST(Cubic, ApplicationLimitedTimeIsNotPartOfT) {
  Cubic cc = after_loss_at(100);
  Instant now = kT0;
  for (int round = 0; round < 10; ++round)
    now = ack_round(cc, now, kRtt);
  ASSERT_TRUE(cc.in_epoch());
  const uint32_t cwnd = cc.cwnd();
  const double w_cubic_now = Cubic::w_cubic(seconds(now - kT0), cc.k(), 100.0);

  // Two seconds of ACKs from a sender that used half its window: no growth,
  // and the stage ends.
  for (int i = 0; i < 40; ++i) {
    cc.on_ack(kMss, kRtt, cwnd / 2, now);
    now += Duration::millis(50);
  }
  EXPECT_EQ(cc.cwnd(), cwnd);
  EXPECT_FALSE(cc.in_epoch());

  // The next full-window ACK starts a stage on the same curve, shifted by the
  // two seconds: K shrinks by the time already spent on the curve.
  cc.on_ack(kMss, kRtt, cc.cwnd(), now);
  EXPECT_TRUE(cc.in_epoch());
  EXPECT_EQ(cc.epoch_start(), now);
  const double cwnd_start = cwnd / double{kMss};
  EXPECT_NEAR(cc.k(), std::cbrt((100.0 - cwnd_start) / Cubic::kC), 1e-3);
  EXPECT_NEAR(cc.k(), std::cbrt(75.0) - 1.0, 0.01);  // 10 round trips = 1 s in
  EXPECT_NEAR(cwnd_start, w_cubic_now, 0.1);
  EXPECT_DOUBLE_EQ(cc.w_max(), 100.0);
}

TEST(Cubic, IdleRestartEndsTheStage) {
  Cubic cc = after_loss_at(100);
  cc.on_ack(kMss, kRtt, cc.cwnd(), kT0);
  ASSERT_TRUE(cc.in_epoch());
  cc.on_idle_restart(kT0 + Duration::seconds(5));
  EXPECT_FALSE(cc.in_epoch());
  EXPECT_EQ(cc.cwnd(), 10'000u);  // min(IW, cwnd)
  EXPECT_EQ(cc.ssthresh(), 70'000u);
}

TEST(Cubic, SmoothedRttFromSamples) {
  Cubic cc({.mss = kMss});
  EXPECT_EQ(cc.srtt(), Duration{});
  cc.on_ack(kMss, Duration::millis(100), cc.cwnd(), kT0);
  EXPECT_EQ(cc.srtt(), Duration::millis(100));  // RFC 6298 §2.2
  cc.on_ack(kMss, Duration::millis(200), cc.cwnd(), kT0);
  EXPECT_EQ(cc.srtt(), Duration::micros(112'500));  // 7/8 * 100 + 1/8 * 200
  cc.on_ack(kMss, std::nullopt, cc.cwnd(), kT0);
  EXPECT_EQ(cc.srtt(), Duration::micros(112'500));
}

}  // namespace
}  // namespace sn
