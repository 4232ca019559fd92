// NewReno congestion control: RFC 5681 slow start and congestion avoidance
// with RFC 6582 fast recovery. Also RenoWindow, the cwnd/ssthresh bookkeeping
// that CUBIC (cubic.h) shares: everything except how the window grows in
// congestion avoidance and how far it falls on a loss.
#pragma once

#include <cstdint>
#include <optional>

#include "base/time.h"
#include "tcp/congestion.h"

namespace sn {

// cwnd and ssthresh (RFC 5681 §3.1) with slow start, RFC 6582 fast recovery,
// the loss window after a timeout and the restart window after idleness.
// A value type; the controllers own one each. Never allocates.
//
// Invariants: mss <= cwnd <= kMaxCongestionWindow; ssthresh >= 2*mss (it
// starts "arbitrarily high", UINT32_MAX, RFC 5681 §3.1).
class RenoWindow {
 public:
  // REQUIRES: 0 < config.mss <= 65535, config.initial_window_segments >= 1.
  explicit RenoWindow(const CongestionConfig& config);

  uint32_t mss() const { return mss_; }
  uint32_t cwnd() const { return cwnd_; }
  uint32_t ssthresh() const { return ssthresh_; }
  bool in_recovery() const { return in_recovery_; }
  // RFC 5681 §3.1: slow start while cwnd < ssthresh. At equality it allows
  // either; we use congestion avoidance, as Linux does, so the first ACK after
  // recovery (cwnd == ssthresh) already grows the window linearly.
  bool in_slow_start() const { return cwnd_ < ssthresh_; }
  // An RTO has fired and no ACK of new data has arrived since.
  bool timed_out_again() const { return rto_pending_; }

  // Whether an ACK that found `in_flight` bytes outstanding comes from a
  // sender that was using its window, so that the window may grow (RFC 7661
  // §4.3's idea; Linux's tcp_is_cwnd_limited). In slow start the window
  // doubles each round trip, so half of it in flight is enough; in
  // congestion avoidance the sender must have been unable to send one more
  // full segment (in_flight > cwnd - SMSS). RFC 9438 §4.6 requires such a
  // check of a CUBIC that computes ssthresh from cwnd rather than from the
  // flight size, and §5.8 asks that an application-limited CUBIC not grow.
  bool cwnd_limited(uint32_t in_flight) const;

  // Slow start (RFC 5681 §3.1 eqn 2), counting bytes (RFC 3465 §2.2):
  // cwnd += min(acked, L), L = 2*SMSS (RFC 3465 §2.3), so that delayed ACKs
  // still double the window each round trip; L = 1*SMSS in the slow start
  // that follows a timeout, when a cumulative ACK may cover segments the
  // network no longer holds (RFC 3465 §2.3; FreeBSD does the same).
  void slow_start(uint32_t acked);
  // cwnd += bytes, at most kMaxCongestionWindow.
  void grow(uint32_t bytes);
  // cwnd = bytes, within [mss, kMaxCongestionWindow].
  void set_cwnd(uint32_t bytes);
  // New data was acknowledged outside recovery: the next RTO is a new one.
  void note_new_ack() { rto_pending_ = false; }

  // Fast retransmit (RFC 5681 §3.2 steps 2-3): ssthresh = max(ssthresh_bytes,
  // 2*SMSS), cwnd = ssthresh + 3*SMSS, enter recovery.
  void enter_recovery(uint32_t ssthresh_bytes);
  // RFC 6675 §5 step 4.2: ssthresh as enter_recovery(), cwnd = ssthresh.
  void enter_sack_recovery(uint32_t ssthresh_bytes);
  // RFC 5681 §3.2 step 4: cwnd += SMSS for each further duplicate ACK.
  void dup_ack_in_recovery();
  // RFC 6582 §3.2 step 3, partial acknowledgments: "Deflate the congestion
  // window by the amount of new data acknowledged ... If the partial ACK
  // acknowledges at least one SMSS of new data, then add back SMSS bytes".
  // We keep at least one SMSS, so the next retransmission can go out.
  void partial_ack(uint32_t acked);
  // RFC 6582 §3.2 step 3, full acknowledgments, option (1):
  // cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS), FlightSize being what
  // is outstanding after the ACK. Option (2), cwnd = ssthresh, would let the
  // connection send a burst when little is left in flight.
  void exit_recovery(uint32_t in_flight);
  // Retransmission timeout (RFC 5681 §3.1): cwnd = LW = 1 SMSS; ssthresh =
  // max(ssthresh_bytes, 2*SMSS), except that "the value of ssthresh is held
  // constant" when the segment timed out before and nothing was acknowledged
  // since (timed_out_again()). Ends recovery (RFC 6582 §3.2 step 4).
  void timeout(uint32_t ssthresh_bytes);
  // RFC 5681 §4.1: cwnd = min(cwnd, RW), RW = min(IW, cwnd).
  void idle_restart();

 private:
  uint32_t bounded_ssthresh(uint32_t bytes) const;

  uint32_t mss_;
  uint32_t initial_window_;
  uint32_t cwnd_;
  uint32_t ssthresh_ = UINT32_MAX;
  bool in_recovery_ = false;
  bool after_rto_ = false;    // in the slow start that follows a timeout
  bool rto_pending_ = false;  // an RTO fired; no new data acknowledged since
};

// RFC 5681 congestion control with RFC 6582 (NewReno) fast recovery.
//
// Congestion avoidance counts bytes (RFC 5681 §3.1, the RFC 3465 §2.1 variant
// it recommends): bytes_acked accumulates what ACKs acknowledge, and each time
// it reaches cwnd, cwnd grows by one SMSS and bytes_acked drops by cwnd; at
// most once per ACK. So cwnd grows by exactly one SMSS per cwnd of data
// acknowledged, however the receiver spaces its ACKs.
//
// On loss (RFC 5681 §3.2 step 2, eqn 4) and timeout (§3.1):
// ssthresh = max(FlightSize / 2, 2*SMSS).
class NewReno final : public CongestionControl {
 public:
  // REQUIRES: 0 < config.mss <= 65535, config.initial_window_segments >= 1.
  explicit NewReno(const CongestionConfig& config);

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

 private:
  RenoWindow w_;
  uint32_t bytes_acked_ = 0;  // RFC 3465 §2.1; only in congestion avoidance
};

}  // namespace sn
