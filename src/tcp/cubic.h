// CUBIC congestion control (RFC 9438): after a loss the window follows
// W_cubic(t) = C*(t - K)^3 + W_max, a curve of elapsed time rather than of
// round trips, never slower than the Reno-friendly estimate W_est. Slow start,
// fast recovery, the loss window and the restart window are NewReno's
// (RenoWindow, newreno.h): RFC 9438 §4.2 changes only the window increase
// function and §4.6 the decrease.
#pragma once

#include <cstdint>
#include <optional>

#include "base/time.h"
#include "tcp/congestion.h"
#include "tcp/newreno.h"

namespace sn {

// RFC 9438 CUBIC. The cubic function is evaluated in doubles, in segments and
// seconds as the RFC writes it; cwnd stays in bytes (with the fraction of a
// byte that congestion avoidance accrues kept aside, so that many small
// increments are not lost to rounding).
//
// Choices, where the RFC leaves one or where we differ:
// - §4.6: ssthresh = flight_size * beta_cubic, the RFC's formula (RFC 8312
//   and Linux use cwnd * beta_cubic; with the cwnd-limited check both agree
//   for a sender that fills its window). W_max and cwnd_prior are the cwnd
//   before the reduction. Floors: ssthresh >= 2 SMSS; cwnd >= 2 SMSS after a
//   loss, 1 SMSS after a timeout (§4.8).
// - Fast recovery stays RFC 6582's (§4.2: CUBIC "does not make any changes to
//   the TCP Fast Recovery and Fast Retransmit algorithms"): entering it sets
//   cwnd = ssthresh + 3*SMSS and the full ACK deflates to ssthresh (or to
//   one SMSS above what is still in flight, if that is less).
// - §4.2's RTT is the smoothed RTT of RFC 6298 §2 (alpha = 1/8), kept here
//   from the samples on_ack() is given; 0 before the first sample.
// - §4.4/§4.5: cwnd grows by (target - cwnd)/cwnd per SMSS acknowledged
//   rather than per ACK, so delayed or stretch ACKs do not slow the curve
//   (as Linux and most implementations do). Likewise W_est (§4.3, eqn 4).
// - §4.3: in the Reno-friendly region cwnd = max(cwnd, W_est): cwnd may
//   already be above W_est when it is between W_cubic(t) and the target.
// - The congestion avoidance stage (the epoch) begins at the first ACK
//   processed in congestion avoidance; with it t = 0, cwnd_start = cwnd,
//   K = cbrt((W_max - cwnd_start)/C) (§4.2 eqn 2; negative when cwnd is
//   already above W_max, which keeps the curve through cwnd_start) and
//   W_est = cwnd_start (§4.3). After a timeout, or with no loss yet, W_max =
//   cwnd_start and K = 0 (§4.8, §4.10).
// - §5.8, application-limited flows: an ACK from a sender that was not using
//   its window (RenoWindow::cwnd_limited) grows nothing and ends the epoch,
//   so the next one starts where cwnd is. Restarting an epoch by eqn 2 puts
//   it on the same curve, shifted in time: t leaves out the time the sender
//   did not use its window. on_idle_restart() ends the epoch too.
// - No HyStart (§4.10 allows RFC 5681 slow start) and no undo of spurious
//   reductions (§4.9, a MAY).
class Cubic final : public CongestionControl {
 public:
  // RFC 9438 §4.1.1.
  static constexpr double kC = 0.4;                                  // segments / s^3
  static constexpr double kBeta = 0.7;                               // beta_cubic
  static constexpr double kAlpha = 3.0 * (1 - kBeta) / (1 + kBeta);  // alpha_cubic

  // W_cubic(t) = C*(t - K)^3 + W_max (§4.2 eqn 1), in segments; t and K in
  // seconds.
  static double w_cubic(double t, double k, double w_max);

  // Fast convergence (§4.7) SHOULD be on; it SHOULD be off where a single
  // CUBIC flow is alone on its path, which the stack cannot know.
  // REQUIRES: 0 < config.mss <= 65535, config.initial_window_segments >= 1.
  explicit Cubic(const CongestionConfig& config, bool fast_convergence = true);

  uint32_t cwnd() const override { return w_.cwnd(); }
  uint32_t ssthresh() const override { return w_.ssthresh(); }
  bool in_recovery() const { return w_.in_recovery(); }

  void on_ack(uint32_t acked, std::optional<Duration> rtt, uint32_t in_flight,
              Instant now) override;
  void on_enter_recovery(uint32_t in_flight, Instant now) override;
  void on_dup_ack_in_recovery() override;
  void on_partial_ack(uint32_t acked) override;
  void on_exit_recovery(uint32_t in_flight, Instant now) override;
  void on_enter_sack_recovery(uint32_t in_flight, Instant now) override;
  void on_rto(uint32_t in_flight, Instant now) override;
  void on_idle_restart(Instant now) override;

  // The RFC's state, for tests and tracing. Windows in segments.
  double w_max() const { return w_max_; }
  double k() const { return k_; }  // seconds; as of the current epoch
  double w_est() const { return w_est_; }
  double cwnd_prior() const { return cwnd_prior_; }
  bool in_epoch() const { return in_epoch_; }
  Instant epoch_start() const { return epoch_start_; }
  Duration srtt() const { return srtt_; }

 private:
  // §4.6/§4.7: W_max, cwnd_prior before a reduction by a loss.
  void note_congestion_event();
  void start_epoch(Instant now);
  void congestion_avoidance(uint32_t acked, Instant now);
  double cwnd_segments() const;
  void set_cwnd_segments(double segments);
  void end_epoch();

  RenoWindow w_;
  bool fast_convergence_;
  double cwnd_frac_ = 0;  // bytes in [0, 1) that cwnd has earned beyond cwnd()
  double w_max_ = 0;
  bool w_max_valid_ = false;  // false until a loss, and after a timeout (§4.8)
  double cwnd_prior_ = 0;
  double k_ = 0;
  double w_est_ = 0;
  bool in_epoch_ = false;
  Instant epoch_start_;
  Duration srtt_{};
  bool has_srtt_ = false;
};

}  // namespace sn
