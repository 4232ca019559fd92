// RenoWindow arithmetic (RFC 5681 §3-4, RFC 6582 §3.2, RFC 3465) and the
// NewReno controller built on it.
#include "tcp/newreno.h"

#include <algorithm>

#include "base/check.h"

namespace sn {

RenoWindow::RenoWindow(const CongestionConfig& config)
    : mss_(config.mss), initial_window_(initial_window(config)), cwnd_(initial_window_) {
  SN_CHECK(config.mss > 0 && config.mss <= 65535);
  SN_CHECK(config.initial_window_segments >= 1);
}

uint32_t RenoWindow::bounded_ssthresh(uint32_t bytes) const {
  return std::clamp(bytes, 2 * mss_, kMaxCongestionWindow);
}

bool RenoWindow::cwnd_limited(uint32_t in_flight) const {
  const uint64_t flight = in_flight;
  if (in_slow_start()) return 2 * flight >= cwnd_;
  return flight + mss_ > cwnd_;
}

void RenoWindow::grow(uint32_t bytes) {
  cwnd_ = static_cast<uint32_t>(std::min<uint64_t>(uint64_t{cwnd_} + bytes, kMaxCongestionWindow));
}

void RenoWindow::set_cwnd(uint32_t bytes) {
  cwnd_ = std::clamp(bytes, mss_, kMaxCongestionWindow);
}

void RenoWindow::slow_start(uint32_t acked) {
  // RFC 3465 §2.3: L = 2*SMSS, or 1*SMSS after a timeout.
  const uint32_t limit = after_rto_ ? mss_ : 2 * mss_;
  // RFC 5681 §3.1 eqn 2: cwnd += min(N, SMSS), with L in place of SMSS.
  grow(std::min(acked, limit));
  if (!in_slow_start()) after_rto_ = false;
}

void RenoWindow::enter_recovery(uint32_t ssthresh_bytes) {
  // RFC 5681 §3.2 step 2 (eqn 4's floor of 2*SMSS).
  ssthresh_ = bounded_ssthresh(ssthresh_bytes);
  // Step 3: "cwnd set to ssthresh plus 3*SMSS", for the three segments the
  // duplicate ACKs say have left the network.
  cwnd_ = ssthresh_;
  grow(3 * mss_);
  in_recovery_ = true;
  after_rto_ = false;
  rto_pending_ = false;
}

void RenoWindow::enter_sack_recovery(uint32_t ssthresh_bytes) {
  enter_recovery(ssthresh_bytes);
  // RFC 6675 §5 step 4.2: "ssthresh = cwnd". The sender counts the segments
  // that have left the network in pipe, not by inflating cwnd.
  cwnd_ = ssthresh_;
}

void RenoWindow::dup_ack_in_recovery() {
  if (!in_recovery_) return;
  grow(mss_);  // RFC 5681 §3.2 step 4
}

void RenoWindow::partial_ack(uint32_t acked) {
  if (!in_recovery_) return;
  // RFC 6582 §3.2 step 3, partial acknowledgments: deflate, add back SMSS.
  uint32_t w = cwnd_ > acked ? cwnd_ - acked : 0;
  if (acked >= mss_) w += mss_;
  set_cwnd(w);
}

void RenoWindow::exit_recovery(uint32_t in_flight) {
  if (!in_recovery_) return;
  // RFC 6582 §3.2 step 3, full acknowledgments, option (1).
  const uint64_t flight_plus_one = uint64_t{std::max(in_flight, mss_)} + mss_;
  set_cwnd(static_cast<uint32_t>(std::min<uint64_t>(ssthresh_, flight_plus_one)));
  in_recovery_ = false;
}

void RenoWindow::timeout(uint32_t ssthresh_bytes) {
  // RFC 5681 §3.1: "when a TCP sender detects segment loss using the
  // retransmission timer and the given segment has already been retransmitted
  // by way of the retransmission timer at least once, the value of ssthresh
  // is held constant". Without an ACK of new data since the last timeout, the
  // same segment has timed out again.
  if (!rto_pending_) ssthresh_ = bounded_ssthresh(ssthresh_bytes);
  cwnd_ = mss_;          // the loss window, LW = 1 SMSS
  in_recovery_ = false;  // RFC 6582 §3.2 step 4
  after_rto_ = true;
  rto_pending_ = true;
}

void RenoWindow::idle_restart() {
  // RFC 5681 §4.1: RW = min(IW, cwnd); cwnd is reduced to RW.
  cwnd_ = std::min(cwnd_, initial_window_);
}

NewReno::NewReno(const CongestionConfig& config) : w_(config) {}

void NewReno::on_ack(uint32_t acked, std::optional<Duration> /*rtt*/, uint32_t in_flight,
                     Instant /*now*/) {
  if (w_.in_recovery()) return;  // the recovery calls handle those ACKs
  w_.note_new_ack();
  if (!w_.cwnd_limited(in_flight)) return;
  if (w_.in_slow_start()) {
    w_.slow_start(acked);
    return;
  }
  // RFC 5681 §3.1 congestion avoidance, byte counted (RFC 3465 §2.1): "When
  // bytes_acked becomes greater than or equal to the value of the congestion
  // window, bytes_acked is reduced by the value of cwnd. Next, cwnd is
  // incremented by a full-sized segment (SMSS)."
  bytes_acked_ = static_cast<uint32_t>(
      std::min<uint64_t>(uint64_t{bytes_acked_} + acked, kMaxCongestionWindow));
  if (bytes_acked_ >= w_.cwnd()) {
    bytes_acked_ -= w_.cwnd();
    w_.grow(w_.mss());
  }
}

void NewReno::on_enter_recovery(uint32_t in_flight, Instant /*now*/) {
  if (w_.in_recovery()) return;  // one reduction per recovery (RFC 6582 §3.2 step 2)
  // RFC 5681 §3.2 step 2, eqn 4: ssthresh = max(FlightSize / 2, 2*SMSS).
  w_.enter_recovery(in_flight / 2);
  bytes_acked_ = 0;
}

void NewReno::on_dup_ack_in_recovery() {
  w_.dup_ack_in_recovery();
}

void NewReno::on_partial_ack(uint32_t acked) {
  w_.partial_ack(acked);
}

void NewReno::on_exit_recovery(uint32_t in_flight, Instant /*now*/) {
  w_.exit_recovery(in_flight);
}

void NewReno::on_enter_sack_recovery(uint32_t in_flight, Instant /*now*/) {
  if (w_.in_recovery()) return;
  w_.enter_sack_recovery(in_flight / 2);  // RFC 6675 §5 step 4.2, RFC 5681 eqn 4
  bytes_acked_ = 0;
}

void NewReno::on_rto(uint32_t in_flight, Instant /*now*/) {
  // RFC 5681 §3.1 eqn 4: ssthresh = max(FlightSize / 2, 2*SMSS).
  w_.timeout(in_flight / 2);
  bytes_acked_ = 0;
}

void NewReno::on_idle_restart(Instant /*now*/) {
  w_.idle_restart();
  bytes_acked_ = 0;
}

}  // namespace sn
