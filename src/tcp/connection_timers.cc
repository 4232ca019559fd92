// The connection's timers, folded into one deadline: retransmission (RFC 6298
// with backoff, giving up after max_retries), delayed ACK, zero-window
// persist (§3.8.6.1, with backoff), TIME-WAIT (2 MSL, §3.10.7.4 step 8).
#include <algorithm>

#include "tcp/connection.h"

namespace sn {

Instant Connection::next_deadline() const {
  const Instant a = std::min(rto_at_, delack_at_);
  const Instant b = std::min(persist_at_, time_wait_at_);
  return std::min(std::min(a, b), std::min(keepalive_deadline(), fin_wait2_deadline()));
}

void Connection::on_timer(Instant now) {
  if (time_wait_at_ <= now) {
    enter_closed(TcpError::kNone);  // "delete the TCB"
    return;
  }
  if (fin_wait2_deadline() <= now) {
    // Linux (tcp_keepalive_timer for an orphan in FIN-WAIT-2) resets.
    send_rst(snd_max_, now);
    enter_closed(TcpError::kTimedOut);
    return;
  }
  if (keepalive_deadline() <= now) {
    on_keepalive(now);
    if (state_ == TcpState::kClosed) return;
  }
  if (rto_at_ <= now) on_rto(now);
  if (state_ == TcpState::kClosed) return;
  if (persist_at_ <= now) on_persist(now);
  if (delack_at_ <= now) {
    ++counters_.delayed_acks;
    send_ack(now);
    delack_at_ = Instant::never();
  }
}

void Connection::arm_rto(Instant now) {
  rto_at_ = now + rtt_.rto();
}

void Connection::on_rto(Instant now) {
  rto_at_ = Instant::never();
  if (snd_una_ == snd_max_) return;  // nothing outstanding
  ++counters_.rto_expired;
  const bool syn = state_ == TcpState::kSynSent || state_ == TcpState::kSynReceived;
  // RFC 1122 §4.2.3.5 R2 (Linux tcp_retries2, tcp_syn_retries): give up.
  if (rtt_.backoffs() >= (syn ? config_.syn_retries : config_.max_retries)) {
    if (state_ != TcpState::kSynSent) send_rst(snd_max_, now);
    enter_closed(TcpError::kTimedOut);
    return;
  }
  // RFC 6298 §5.4-5.6: retransmit the earliest segment, back off, re-arm.
  rtt_.backoff();
  if (syn) {
    syn_retransmitted_ = true;
    retransmit_first(now);
    arm_rto(now);
    return;
  }
  // RFC 5681 §3.1 (loss window) and RFC 6582 §3.2 step 4 (recover = the
  // highest sequence number sent; recovery ends).
  cc_->on_rto(static_cast<uint32_t>(snd_max_ - snd_una_), now);
  in_recovery_ = false;
  recover_ = snd_max_;
  recover_valid_ = true;
  dup_acks_ = 0;
  // RFC 6675 §5.1: RecoveryPoint = HighData (recover_, above) and SACK
  // recovery ends; the scoreboard is cleared, as RFC 2018 §8 says a sender
  // SHOULD (the receiver may have reneged; we have no robust test for it).
  // SACK blocks arriving from now on fill it again for output() to use.
  scoreboard_.clear();
  // Go back N: everything past SND.UNA is sent again as the window reopens.
  snd_nxt_ = snd_una_;
  snd_nxt_ += retransmit_first(now);
  arm_rto(now);
  output(now);
}

Duration Connection::persist_interval() const {
  // §3.8.6.1: the first probe after an RTO, then exponential backoff. Linux
  // (tcp_probe0_when) does the same, bounded by TCP_RTO_MAX.
  Duration d = rtt_.rto();
  for (uint32_t i = 0; i < persist_backoffs_ && d < config_.rto.max; ++i)
    d = d * 2;
  return std::min(d, config_.rto.max);
}

void Connection::on_persist(Instant now) {
  persist_at_ = Instant::never();
  if (unsent() == 0 || snd_una_ != snd_max_) {
    persist_backoffs_ = 0;
    return;
  }
  if (snd_wnd_ > 0) {
    // A window too small for SWS avoidance to use, and nothing in flight:
    // BSD's override (§3.8.6.2.1's "override timeout"): send what fits.
    const uint32_t len = std::min({unsent(), snd_wnd_, effective_mss()});
    send_segment(snd_nxt_, len, false, now);
    snd_nxt_ += len;
    snd_max_ = seq_max(snd_max_, snd_nxt_);
    arm_rto(now);
    return;
  }
  // A zero-window probe. Linux's form (tcp_xmit_probe_skb): an old sequence
  // number, SND.UNA - 1, and no data, so the receiver answers with an ACK
  // carrying its window and nothing it might keep. RFC 9293 §3.8.6.1 probes
  // with new data; either brings the ACK.
  ++counters_.persist_probes;
  TcpHeader h = header(snd_una_ - 1, kTcpAck, now);
  emit(h, nullptr);
  ++persist_backoffs_;
  persist_at_ = now + persist_interval();
}

}  // namespace sn

namespace sn {

Instant Connection::keepalive_deadline() const {
  if (!config_.keepalive) return Instant::never();
  if (state_ != TcpState::kEstablished && state_ != TcpState::kCloseWait) return Instant::never();
  if (keepalive_sent_ == 0) return last_heard_ + config_.keepalive_idle;
  return last_probe_ + config_.keepalive_interval;
}

Instant Connection::fin_wait2_deadline() const {
  if (state_ != TcpState::kFinWait2 || orphaned_at_ == Instant::never()) return Instant::never();
  return std::max(fin_wait2_since_, orphaned_at_) + config_.fin_wait2_timeout;
}

// RFC 1122 §4.2.3.6: probes only when there is nothing to send (otherwise the
// retransmission timer watches the peer); an unanswered run of them ends the
// connection.
void Connection::on_keepalive(Instant now) {
  if (snd_una_ != snd_max_ || unsent() > 0) {
    keepalive_sent_ = 0;
    last_heard_ = now;
    return;
  }
  if (keepalive_sent_ >= config_.keepalive_probes) {
    ++counters_.keepalive_timeouts;
    send_rst(snd_max_, now);
    enter_closed(TcpError::kTimedOut);
    return;
  }
  // The probe: SEG.SEQ = SND.NXT - 1 and no data (§4.2.3.6 allows one
  // garbage byte for peers that ignore empty ones; Linux sends none, so do
  // we). It is below the peer's window, so the peer answers with an ACK.
  ++counters_.keepalive_probes;
  ++keepalive_sent_;
  last_probe_ = now;
  emit(header(snd_una_ - 1, kTcpAck, now), nullptr);
}

}  // namespace sn
