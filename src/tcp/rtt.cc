// RFC 6298 §2 and §5.5 arithmetic, and the one-segment RTT timer.
#include "tcp/rtt.h"

#include <algorithm>

#include "base/check.h"

namespace sn {
namespace {

Duration clamp(Duration d, Duration lo, Duration hi) {
  return std::min(std::max(d, lo), hi);
}

Duration abs(Duration d) {
  return d < Duration{} ? Duration{} - d : d;
}

}  // namespace

RttEstimator::RttEstimator(const RtoConfig& config) : config_(config) {
  SN_CHECK(config_.min > Duration{} && config_.min <= config_.max);
  SN_CHECK(config_.max <= Duration::max());
  SN_CHECK(config_.granularity >= Duration{} && config_.granularity <= config_.max);
  // §2.1: "Until a round-trip time (RTT) measurement has been made ..., the
  // sender SHOULD set RTO <- 1 second".
  base_rto_ = clamp(config_.initial, config_.min, config_.max);
  rto_ = base_rto_;
}

void RttEstimator::sample(Duration rtt) {
  // R is taken within [0, max]: a longer round trip than the longest RTO would
  // have been retransmitted anyway, and the bound keeps the sums below in range.
  const Duration r = clamp(rtt, Duration{}, config_.max);
  if (!has_sample_) {
    // §2.2: SRTT <- R, RTTVAR <- R/2.
    srtt_ = r;
    rttvar_ = r / 2;
    has_sample_ = true;
  } else {
    // §2.3, in this order (RTTVAR uses the SRTT from before this sample):
    //   RTTVAR <- (1 - beta) * RTTVAR + beta * |SRTT - R'|,  beta = 1/4
    //   SRTT <- (1 - alpha) * SRTT + alpha * R',             alpha = 1/8
    // Written as x += (target - x) / n, which cannot overflow.
    rttvar_ = rttvar_ + (abs(srtt_ - r) - rttvar_) / 4;
    srtt_ = srtt_ + (r - srtt_) / 8;
  }
  // §2.2, §2.3: RTO <- SRTT + max(G, K*RTTVAR), K = 4; §2.4 and §2.5 bound it.
  // SRTT and RTTVAR stay within [0, max], so only K*RTTVAR needs saturating.
  const Duration k_rttvar = rttvar_ >= config_.max / 4 ? config_.max : rttvar_ * 4;
  base_rto_ = clamp(srtt_ + std::max(config_.granularity, k_rttvar), config_.min, config_.max);
  reset_backoff();
}

void RttEstimator::backoff() {
  // §5.5, bounded by the §2.5 maximum. rto_ <= max <= Duration::max(), so
  // doubling cannot overflow.
  rto_ = std::min(rto_ * 2, config_.max);
  if (backoffs_ != UINT32_MAX) ++backoffs_;
}

void RttEstimator::reset_backoff() {
  rto_ = base_rto_;
  backoffs_ = 0;
}

std::optional<Duration> RttTimer::on_ack(SeqNum ack, Instant now) {
  if (!running_ || !(ack > seq_)) return std::nullopt;
  running_ = false;
  return now - sent_;
}

}  // namespace sn
