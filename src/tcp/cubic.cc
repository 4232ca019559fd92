// RFC 9438 CUBIC: the window increase function (§4.2-4.5), multiplicative
// decrease (§4.6), fast convergence (§4.7) and timeouts (§4.8), over the
// NewReno window bookkeeping of newreno.h.
#include "tcp/cubic.h"

#include <algorithm>
#include <cmath>

namespace sn {
namespace {

double seconds(Duration d) {
  return static_cast<double>(d.ns()) / 1e9;
}

// flight_size * beta_cubic in bytes, exactly (beta_cubic = 7/10).
static_assert(Cubic::kBeta == 0.7);
uint32_t times_beta(uint32_t bytes) {
  return static_cast<uint32_t>(uint64_t{bytes} * 7 / 10);
}

}  // namespace

double Cubic::w_cubic(double t, double k, double w_max) {
  const double d = t - k;
  return kC * d * d * d + w_max;  // §4.2 eqn 1
}

Cubic::Cubic(const CongestionConfig& config, bool fast_convergence)
    : w_(config), fast_convergence_(fast_convergence) {}

double Cubic::cwnd_segments() const {
  return (w_.cwnd() + cwnd_frac_) / w_.mss();
}

void Cubic::set_cwnd_segments(double segments) {
  const double bytes = segments * w_.mss();
  if (!(bytes < kMaxCongestionWindow)) {
    w_.set_cwnd(kMaxCongestionWindow);
    cwnd_frac_ = 0;
    return;
  }
  const double whole = std::floor(bytes);
  w_.set_cwnd(static_cast<uint32_t>(whole));
  cwnd_frac_ = w_.cwnd() == whole ? bytes - whole : 0;
}

void Cubic::end_epoch() {
  in_epoch_ = false;
}

void Cubic::on_ack(uint32_t acked, std::optional<Duration> rtt, uint32_t in_flight, Instant now) {
  if (rtt) {
    // §4.1.2: RTT is the smoothed round-trip time of RFC 6298. §2.2 for the
    // first sample, §2.3 after: SRTT <- 7/8 SRTT + 1/8 R'.
    const Duration r = std::clamp(*rtt, Duration{}, Duration::max());
    srtt_ = has_srtt_ ? srtt_ + (r - srtt_) / 8 : r;
    has_srtt_ = true;
  }
  if (w_.in_recovery()) return;  // the recovery calls handle those ACKs
  w_.note_new_ack();
  if (!w_.cwnd_limited(in_flight)) {
    // §5.8: no growth while application limited, and the time it lasts is
    // not part of t: the next stage starts from here.
    end_epoch();
    return;
  }
  if (w_.in_slow_start()) {
    w_.slow_start(acked);  // §4.10: RFC 5681 slow start
    cwnd_frac_ = 0;
    return;
  }
  congestion_avoidance(acked, now);
}

void Cubic::start_epoch(Instant now) {
  in_epoch_ = true;
  epoch_start_ = now;  // §4.2: t = current_time - epoch_start
  const double cwnd_start = cwnd_segments();
  if (!w_max_valid_) {
    // §4.8: in the first congestion avoidance stage after a timeout, "K is set
    // to 0, and W_max is set to the congestion window size at the beginning
    // of the current congestion avoidance stage" (§4.10 likewise when slow
    // start ended without a loss).
    w_max_ = cwnd_start;
    w_max_valid_ = true;
  }
  // §4.2 eqn 2: K = cubic_root((W_max - cwnd_epoch) / C).
  k_ = std::cbrt((w_max_ - cwnd_start) / kC);
  // §4.3: "W_est is set equal to cwnd_epoch at the start of the congestion
  // avoidance stage."
  w_est_ = cwnd_start;
}

void Cubic::congestion_avoidance(uint32_t acked, Instant now) {
  if (!in_epoch_) start_epoch(now);
  const double cwnd = cwnd_segments();
  const double t = seconds(now - epoch_start_);
  const double segments_acked = static_cast<double>(acked) / w_.mss();

  // §4.2: target = W_cubic(t + RTT), within [cwnd, 1.5 * cwnd].
  const double target = std::clamp(w_cubic(t + seconds(srtt_), k_, w_max_), cwnd, 1.5 * cwnd);

  // §4.3 eqn 4: W_est += alpha_cubic * segments_acked / cwnd, with alpha_cubic
  // = 1 once "W_est has grown to reach the cwnd at the time of most recently
  // setting ssthresh -- that is, W_est >= cwnd_prior".
  const double alpha = w_est_ >= cwnd_prior_ ? 1.0 : kAlpha;
  w_est_ += alpha * segments_acked / cwnd;

  if (w_cubic(t, k_, w_max_) < w_est_) {
    // §4.3, the Reno-friendly region: "cwnd SHOULD be set to W_est".
    set_cwnd_segments(std::max(cwnd, w_est_));
  } else {
    // §4.4 (concave, cwnd < W_max) and §4.5 (convex, cwnd >= W_max) grow the
    // same way: cwnd += (target - cwnd) / cwnd, here per SMSS acknowledged.
    set_cwnd_segments(cwnd + (target - cwnd) / cwnd * segments_acked);
  }
}

void Cubic::note_congestion_event() {
  const double cwnd = cwnd_segments();
  // §4.7, fast convergence: "W_max = cwnd * (1 + beta_cubic) / 2 if cwnd <
  // W_max and fast convergence is enabled, further reduce W_max"; otherwise
  // "W_max = cwnd".
  if (fast_convergence_ && w_max_valid_ && cwnd < w_max_) {
    w_max_ = cwnd * (1 + kBeta) / 2;
  } else {
    w_max_ = cwnd;
  }
  w_max_valid_ = true;
  cwnd_prior_ = cwnd;  // §4.6
}

void Cubic::on_enter_recovery(uint32_t in_flight, Instant /*now*/) {
  if (w_.in_recovery()) return;  // one reduction per recovery (RFC 6582 §3.2 step 2)
  note_congestion_event();
  // §4.6: ssthresh = flight_size * beta_cubic, at least 2 SMSS; cwnd =
  // ssthresh, here inflated by 3 SMSS for RFC 6582 fast recovery.
  w_.enter_recovery(times_beta(in_flight));
  cwnd_frac_ = 0;
  end_epoch();
}

void Cubic::on_enter_sack_recovery(uint32_t in_flight, Instant /*now*/) {
  if (w_.in_recovery()) return;
  note_congestion_event();
  // §4.6 as above; cwnd = ssthresh (RFC 6675 §5 step 4.2: no inflation).
  w_.enter_sack_recovery(times_beta(in_flight));
  cwnd_frac_ = 0;
  end_epoch();
}

void Cubic::on_dup_ack_in_recovery() {
  w_.dup_ack_in_recovery();
}

void Cubic::on_partial_ack(uint32_t acked) {
  w_.partial_ack(acked);
}

void Cubic::on_exit_recovery(uint32_t in_flight, Instant /*now*/) {
  w_.exit_recovery(in_flight);
  cwnd_frac_ = 0;
  end_epoch();  // congestion avoidance starts with the next ACK
}

void Cubic::on_rto(uint32_t in_flight, Instant /*now*/) {
  if (!w_.timed_out_again()) {
    // In recovery, cwnd is inflated; cwnd_prior is still the window the loss
    // that started the recovery found.
    if (!w_.in_recovery()) cwnd_prior_ = cwnd_segments();
    w_max_valid_ = false;  // §4.8: W_max comes from the next stage's cwnd
  }
  // §4.8: cwnd as Reno (1 SMSS), ssthresh "using beta_cubic (same as in
  // Section 4.6)"; held on a repeated timeout (RFC 5681 §3.1).
  w_.timeout(times_beta(in_flight));
  cwnd_frac_ = 0;
  end_epoch();
}

void Cubic::on_idle_restart(Instant /*now*/) {
  const uint32_t before = w_.cwnd();
  w_.idle_restart();
  if (w_.cwnd() != before) cwnd_frac_ = 0;
  end_epoch();
}

}  // namespace sn
