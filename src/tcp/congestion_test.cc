// Tests for the congestion controller seam: algorithm names, the initial
// window, the factory, and the behaviour both controllers share through the
// CongestionControl interface alone (slow start, RFC 6582 recovery floors,
// the loss window, the restart window, application-limited ACKs).
#include "tcp/congestion.h"
#include "tcp/controller.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "tcp/cubic.h"
#include "tcp/newreno.h"

namespace sn {
namespace {

constexpr uint32_t kMss = 1000;
const Instant kT0 = Instant::from_ns(1'000'000'000);
constexpr Duration kRtt = Duration::millis(100);

TEST(CongestionAlgorithm, ParsesAndNames) {
  EXPECT_EQ(parse_congestion_algorithm("newreno"), CongestionAlgorithm::kNewReno);
  EXPECT_EQ(parse_congestion_algorithm("cubic"), CongestionAlgorithm::kCubic);
  EXPECT_EQ(parse_congestion_algorithm("Cubic"), std::nullopt);
  EXPECT_EQ(parse_congestion_algorithm("reno"), std::nullopt);
  EXPECT_EQ(parse_congestion_algorithm(""), std::nullopt);
  EXPECT_STREQ(to_string(CongestionAlgorithm::kNewReno), "newreno");
  EXPECT_STREQ(to_string(CongestionAlgorithm::kCubic), "cubic");
  for (auto a : {CongestionAlgorithm::kNewReno, CongestionAlgorithm::kCubic}) {
    EXPECT_EQ(parse_congestion_algorithm(to_string(a)), a);
  }
}

TEST(CongestionInitialWindow, SegmentsTimesMss) {
  EXPECT_EQ(initial_window({.mss = 1460}), 14600u);  // RFC 6928: 10 segments
  EXPECT_EQ(initial_window({.mss = 1000, .initial_window_segments = 4}), 4000u);
  EXPECT_EQ(initial_window({.mss = 9000}), 90000u);
  EXPECT_EQ(initial_window({.mss = 65535, .initial_window_segments = 1u << 20}),
            kMaxCongestionWindow);
}

TEST(CongestionController, HoldsTheNamedAlgorithmAndRemakesIt) {
  Controller reno(CongestionAlgorithm::kNewReno, {.mss = kMss});
  Controller cubic(CongestionAlgorithm::kCubic, {.mss = kMss});
  EXPECT_NE(dynamic_cast<NewReno*>(&*reno), nullptr);
  EXPECT_NE(dynamic_cast<Cubic*>(&*cubic), nullptr);
  EXPECT_EQ(reno->cwnd(), 10 * kMss);
  EXPECT_EQ(cubic->cwnd(), 10 * kMss);
  EXPECT_EQ(reno->ssthresh(), UINT32_MAX);  // RFC 5681 §3.1: "arbitrarily high"
  EXPECT_EQ(cubic->ssthresh(), UINT32_MAX);
  // A fresh controller of the other kind, from its initial window.
  reno->on_enter_recovery(20 * kMss, kT0);
  reno.make(CongestionAlgorithm::kCubic, {.mss = 2 * kMss});
  EXPECT_NE(dynamic_cast<Cubic*>(&*reno), nullptr);
  EXPECT_EQ(reno->cwnd(), 20 * kMss);
  EXPECT_EQ(reno->ssthresh(), UINT32_MAX);
}

// The same calls, and for these the same answers, from either algorithm.
class CongestionShared : public ::testing::TestWithParam<CongestionAlgorithm> {
 protected:
  std::unique_ptr<CongestionControl> make(uint32_t iw_segments = 10) {
    const CongestionConfig config{.mss = kMss, .initial_window_segments = iw_segments};
    if (GetParam() == CongestionAlgorithm::kNewReno) return std::make_unique<NewReno>(config);
    return std::make_unique<Cubic>(config);
  }
  // One round trip of slow start: one ACK per segment of a full window.
  static void ack_window(CongestionControl& cc, Instant now) {
    const uint32_t n = cc.cwnd() / kMss;
    for (uint32_t i = 0; i < n; ++i)
      cc.on_ack(kMss, kRtt, cc.cwnd(), now);
  }
};

TEST_P(CongestionShared, SlowStartDoublesPerRoundTrip) {
  auto cc = make();
  Instant now = kT0;
  for (uint32_t expected : {20'000u, 40'000u, 80'000u, 160'000u}) {
    now += kRtt;
    ack_window(*cc, now);
    EXPECT_EQ(cc->cwnd(), expected);
  }
  EXPECT_EQ(cc->ssthresh(), UINT32_MAX);
}

TEST_P(CongestionShared, SlowStartCountsBytesUpToTwoSegmentsPerAck) {
  auto cc = make();
  cc->on_ack(2 * kMss, kRtt, 10 * kMss, kT0);  // a delayed ACK: +2 SMSS
  EXPECT_EQ(cc->cwnd(), 12'000u);
  cc->on_ack(5 * kMss, kRtt, 12 * kMss, kT0);  // a stretch ACK: L = 2 SMSS
  EXPECT_EQ(cc->cwnd(), 14'000u);
  cc->on_ack(300, kRtt, 14 * kMss, kT0);  // a small one counts its bytes
  EXPECT_EQ(cc->cwnd(), 14'300u);
}

TEST_P(CongestionShared, ApplicationLimitedAcksDoNotGrowTheWindow) {
  auto cc = make();
  // Slow start: at least half the window must have been in flight.
  cc->on_ack(kMss, kRtt, 4'999, kT0);
  EXPECT_EQ(cc->cwnd(), 10'000u);
  cc->on_ack(kMss, kRtt, 5'000, kT0);
  EXPECT_EQ(cc->cwnd(), 11'000u);
}

TEST_P(CongestionShared, LossNeverLeavesLessThanTwoSegments) {
  auto cc = make(2);
  ASSERT_EQ(cc->cwnd(), 2'000u);
  cc->on_enter_recovery(2 * kMss, kT0);
  EXPECT_EQ(cc->ssthresh(), 2'000u);  // both halve or scale 2 SMSS below 2 SMSS
  EXPECT_EQ(cc->cwnd(), 5'000u);      // ssthresh + 3 SMSS
  cc->on_exit_recovery(100 * kMss, kT0);
  EXPECT_EQ(cc->cwnd(), 2'000u);

  auto tiny = make();
  tiny->on_enter_recovery(1, kT0);  // hardly anything in flight
  EXPECT_EQ(tiny->ssthresh(), 2'000u);
  EXPECT_EQ(tiny->cwnd(), 5'000u);
}

TEST_P(CongestionShared, SackRecoveryDoesNotInflate) {
  // The same ssthresh as a NewReno fast retransmit, and cwnd = ssthresh
  // (RFC 6675 §5 step 4.2).
  auto reno_style = make();
  reno_style->on_enter_recovery(20 * kMss, kT0);
  auto cc = make();
  cc->on_enter_sack_recovery(20 * kMss, kT0);
  EXPECT_EQ(cc->ssthresh(), reno_style->ssthresh());
  EXPECT_EQ(cc->cwnd(), cc->ssthresh());
  EXPECT_LT(cc->ssthresh(), 20 * kMss);
  // One reduction per recovery, and ACKs leave the window alone until it ends.
  const uint32_t cwnd = cc->cwnd();
  cc->on_enter_sack_recovery(4 * kMss, kT0);
  cc->on_enter_recovery(4 * kMss, kT0);
  cc->on_ack(kMss, kRtt, 20 * kMss, kT0);
  EXPECT_EQ(cc->cwnd(), cwnd);
  cc->on_exit_recovery(100 * kMss, kT0);
  EXPECT_EQ(cc->cwnd(), cwnd);
  // Floors as for fast retransmit.
  auto tiny = make();
  tiny->on_enter_sack_recovery(1, kT0);
  EXPECT_EQ(tiny->ssthresh(), 2'000u);
  EXPECT_EQ(tiny->cwnd(), 2'000u);
}

TEST_P(CongestionShared, TimeoutLeavesOneSegment) {
  auto cc = make();
  cc->on_rto(10 * kMss, kT0);
  EXPECT_EQ(cc->cwnd(), 1'000u);  // LW = 1 SMSS
  EXPECT_GE(cc->ssthresh(), 2'000u);
  auto small = make();
  small->on_rto(0, kT0);
  EXPECT_EQ(small->cwnd(), 1'000u);
  EXPECT_EQ(small->ssthresh(), 2'000u);
}

TEST_P(CongestionShared, RecoveryCallsOutsideRecoveryAreIgnored) {
  auto cc = make();
  cc->on_dup_ack_in_recovery();
  cc->on_partial_ack(3 * kMss);
  cc->on_exit_recovery(0, kT0);
  EXPECT_EQ(cc->cwnd(), 10'000u);
  EXPECT_EQ(cc->ssthresh(), UINT32_MAX);
}

TEST_P(CongestionShared, AcksDuringRecoveryAreIgnored) {
  auto cc = make();
  cc->on_enter_recovery(10 * kMss, kT0);
  const uint32_t cwnd = cc->cwnd();
  cc->on_ack(kMss, kRtt, 10 * kMss, kT0);
  EXPECT_EQ(cc->cwnd(), cwnd);
  // A second fast retransmit within the same recovery does not reduce again.
  const uint32_t ssthresh = cc->ssthresh();
  cc->on_enter_recovery(2 * kMss, kT0);
  EXPECT_EQ(cc->ssthresh(), ssthresh);
  EXPECT_EQ(cc->cwnd(), cwnd);
}

TEST_P(CongestionShared, IdleRestartWindowIsTheInitialWindow) {
  auto cc = make();
  ack_window(*cc, kT0);
  ack_window(*cc, kT0 + kRtt);
  ASSERT_EQ(cc->cwnd(), 40'000u);
  cc->on_idle_restart(kT0 + Duration::seconds(10));
  EXPECT_EQ(cc->cwnd(), 10'000u);  // RFC 5681 §4.1: min(IW, cwnd)
  EXPECT_EQ(cc->ssthresh(), UINT32_MAX);

  auto small = make();
  small->on_rto(10 * kMss, kT0);
  small->on_idle_restart(kT0 + Duration::seconds(10));
  EXPECT_EQ(small->cwnd(), 1'000u);  // never raised by a restart
}

TEST_P(CongestionShared, WindowIsBounded) {
  auto cc = make();
  Instant now = kT0;
  // 2 SMSS per ACK takes 2^30 / 2000 ACKs to reach the bound.
  for (int i = 0; i < 600'000; ++i)
    cc->on_ack(2 * kMss, kRtt, UINT32_MAX, now);
  EXPECT_EQ(cc->cwnd(), kMaxCongestionWindow);
  cc->on_enter_recovery(UINT32_MAX, now);
  EXPECT_EQ(cc->ssthresh(), kMaxCongestionWindow);
  for (int i = 0; i < 100; ++i)
    cc->on_dup_ack_in_recovery();
  EXPECT_EQ(cc->cwnd(), kMaxCongestionWindow);
  cc->on_exit_recovery(UINT32_MAX, now);
  EXPECT_EQ(cc->cwnd(), kMaxCongestionWindow);
  for (int i = 0; i < 100; ++i) {
    now += kRtt;
    cc->on_ack(UINT32_MAX, kRtt, UINT32_MAX, now);  // congestion avoidance
  }
  EXPECT_EQ(cc->cwnd(), kMaxCongestionWindow);
}

INSTANTIATE_TEST_SUITE_P(Congestion, CongestionShared,
                         ::testing::Values(CongestionAlgorithm::kNewReno,
                                           CongestionAlgorithm::kCubic),
                         [](const auto& info) { return std::string(to_string(info.param)); });

}  // namespace
}  // namespace sn
