// Round-trip time estimation and the retransmission timeout (RFC 6298), plus a
// helper that times one segment per round trip when timestamps are off.
//
// What the connection must do around these (RFC 6298 §3, §5; RFC 7323 §4):
// - Karn's algorithm (RFC 6298 §3): never take a sample from a segment that was
//   retransmitted, since its ACK may answer either transmission. With RttTimer,
//   call cancel() whenever anything is retransmitted. Keep the backed-off RTO
//   until a sample from a segment sent once arrives: sample() resets it.
// - With timestamps (RFC 7323 §4, RTTM), every ACK that acknowledges new data
//   and carries a valid TSecr gives R = now - (the time TSecr was sent), and
//   that is just a sample() call; Karn does not apply, because TSecr names the
//   transmission being answered. We do not scale alpha and beta by the number
//   of samples per window (RFC 7323 Appendix G), nor does Linux.
// - On timer expiry (RFC 6298 §5.4-5.6): retransmit, backoff(), and re-arm the
//   timer for rto().
// - RFC 6298 §5.7: if the timer expired awaiting the ACK of a SYN and the RTO
//   is below 3 s, the RTO MUST be 3 s when data transfer begins. Linux does it
//   when the handshake gave no sample (tcp_init_metrics). This estimator does
//   not know about handshakes, so the connection sets that up (for instance,
//   if !has_sample(), with a fresh RttEstimator whose `initial` is 3 s).
#pragma once

#include <cstdint>
#include <optional>

#include "base/time.h"
#include "wire/seqnum.h"

namespace sn {

struct RtoConfig {
  // Lower bound on the RTO. RFC 6298 §2.4 says 1 s ("SHOULD be rounded up to
  // 1 second"); we follow Linux's TCP_RTO_MIN of 200 ms, as most stacks do,
  // because 1 s makes every loss on a LAN or data-center path cost a second.
  Duration min = Duration::millis(200);
  // Upper bound, on the computed RTO and on backoff (§2.5: at least 60 s).
  // Linux's TCP_RTO_MAX is 120 s as well.
  Duration max = Duration::seconds(120);
  // The RTO before the first sample (§2.1).
  Duration initial = Duration::seconds(1);
  // G, the clock granularity (§2): the variance term is never less than G.
  Duration granularity = Duration::millis(1);
};

// SRTT, RTTVAR and RTO of RFC 6298 §2, and the exponential backoff of §5.5.
// Integer arithmetic in nanoseconds; alpha = 1/8, beta = 1/4, K = 4.
//
// Linux differs in detail (tcp_rtt_estimator, __tcp_set_rto): it tracks the
// deviation per window (mdev_max) and applies TCP_RTO_MIN to the variance term,
// not to the sum, so its RTO is at least SRTT + 200 ms. We keep the RFC's
// formulas, then clamp the sum to [min, max].
class RttEstimator {
 public:
  // REQUIRES: 0 < min <= max <= Duration::max(), 0 <= granularity <= max.
  // `initial` is clamped to [min, max].
  explicit RttEstimator(const RtoConfig& config);

  // Takes one measurement R (§2.2 for the first, §2.3 after), recomputes the
  // RTO and clears any backoff: §5, after rule 5.7, a new measurement
  // "collapses" the backed-off RTO.
  // R is taken within [0, max]: a negative R (which a monotonic clock cannot
  // give) as 0, and one longer than `max` as `max`.
  void sample(Duration rtt);

  // The RTO to arm the retransmission timer with: the computed RTO doubled
  // once per backoff(), at most `max`.
  Duration rto() const { return rto_; }
  // §5.5: "The host MUST set RTO <- RTO * 2 ("back off the timer")", bounded by
  // `max` (§5.5 allows the §2.5 maximum as the bound).
  void backoff();
  // Back to the computed RTO, without a new sample.
  void reset_backoff();

  bool has_sample() const { return has_sample_; }
  Duration srtt() const { return srtt_; }      // 0 before the first sample
  Duration rttvar() const { return rttvar_; }  // 0 before the first sample
  // Backoffs since the last sample or reset_backoff(); keeps counting after
  // rto() has reached `max`, so the connection can give up after so many
  // (RFC 1122 §4.2.3.5's R2; Linux's tcp_retries2).
  uint32_t backoffs() const { return backoffs_; }

 private:
  RtoConfig config_;
  Duration srtt_{};
  Duration rttvar_{};
  Duration base_rto_;  // without backoff
  Duration rto_;       // with backoff
  uint32_t backoffs_ = 0;
  bool has_sample_ = false;
};

// Times one segment per round trip, for RTT samples without timestamps (the
// classic BSD t_rtttime/t_rtseq). The connection starts it when it sends new
// data and nothing is being timed, with the first sequence number of that
// segment (SND.NXT before sending, or the ISS for a SYN); the first ACK that
// covers that sequence number (ACK > seq) yields the sample.
//
// Karn (RFC 6298 §3): call cancel() on any retransmission, of the timed
// segment or any other, so the ACK that follows gives no sample.
class RttTimer {
 public:
  // Starts timing the byte (or SYN/FIN) at `seq`, sent at `now`, replacing any
  // segment being timed. The caller starts it only when !running(), so one
  // segment is timed per round trip.
  void start(SeqNum seq, Instant now) {
    seq_ = seq;
    sent_ = now;
    running_ = true;
  }
  bool running() const { return running_; }
  // If `ack` acknowledges the timed sequence number (ack > seq, modulo 2^32),
  // stops and returns now minus the send time; otherwise nothing changes.
  std::optional<Duration> on_ack(SeqNum ack, Instant now);
  // Stops without a sample (Karn: on retransmission).
  void cancel() { running_ = false; }

 private:
  SeqNum seq_;
  Instant sent_;
  bool running_ = false;
};

}  // namespace sn
