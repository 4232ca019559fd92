// What a connection sends: SYN and SYN-ACK with our options, data as the
// windows allow (RFC 5681 cwnd, the peer's window), Nagle (RFC 896), sender
// and receiver SWS avoidance (RFC 9293 §3.8.6.2), delayed ACKs (§3.8.6.3,
// RFC 1122 §4.2.3.2), SACK blocks on ACKs (RFC 2018), RST; in SACK-based
// loss recovery, what RFC 6675 §5 (C) and NextSeg() choose.
#include <algorithm>

#include "tcp/connection.h"

namespace sn {

void Connection::emit(const TcpHeader& h, PacketPtr payload) {
  ++counters_.segments_out;
  if (h.flags & kTcpAck) {
    // Every segment carrying an ACK acknowledges all received so far.
    ack_now_ = ack_owed_ = false;
    delack_at_ = Instant::never();
    unacked_bytes_ = 0;
  }
  sink_.send(h, std::move(payload));
}

TcpHeader Connection::header(SeqNum seq, uint8_t flags, Instant now) {
  TcpHeader h;
  h.src_port = lport_;
  h.dst_port = rport_;
  h.seq = seq;
  h.flags = flags;
  if (flags & kTcpAck) {
    h.ack = rcv_nxt();
    last_ack_sent_ = h.ack;
    h.window = window_field();
  }
  // RFC 7323 §3.2: once negotiated, on every segment but a RST.
  if (ts_ok_ && !(flags & kTcpRst)) h.options.timestamps = {{now_ms(now), ts_recent_}};
  return h;
}

// RCV.WND as advertised, with receiver SWS avoidance (§3.8.6.2.2): the right
// edge moves right only by at least min(RCV.BUFF / 2, Eff.snd.MSS), and never
// moves left ("MUST NOT shrink the window"). Window scaling rounds down.
uint16_t Connection::window_field() {
  const SeqNum nxt = rcv_nxt();
  const SeqNum edge = nxt + recv_.rcv_wnd();
  const uint32_t threshold = std::min(recv_.limit() / 2, effective_mss());
  SeqNum target = edge;
  if (edge <= rcv_adv_ || static_cast<uint32_t>(edge - rcv_adv_) < threshold)
    target = seq_max(rcv_adv_, nxt);
  const uint32_t wnd = static_cast<uint32_t>(target - nxt);
  const uint32_t field = std::min<uint32_t>(wnd >> rcv_wscale_, 0xffff);
  rcv_adv_ = seq_max(rcv_adv_, nxt + (field << rcv_wscale_));
  return static_cast<uint16_t>(field);
}

void Connection::add_sack_blocks(TcpHeader& h) const {
  if (!sack_ok_) return;
  h.options.sack_count = recv_.sack_blocks(h.options.sack, 4);
}

void Connection::send_syn(Instant now) {
  const bool syn_ack = state_ == TcpState::kSynReceived;
  TcpHeader h;
  h.src_port = lport_;
  h.dst_port = rport_;
  h.seq = iss_;
  h.flags = kTcpSyn | (syn_ack ? kTcpAck : 0);
  // RFC 7323 §2.2: the window of a SYN is not scaled.
  const uint32_t wnd = std::min<uint32_t>(recv_.rcv_wnd(), 0xffff);
  h.window = static_cast<uint16_t>(wnd);
  h.options.mss = static_cast<uint16_t>(config_.mss);  // RFC 6691: from our MTU
  if (syn_ack) {
    h.ack = rcv_nxt();
    last_ack_sent_ = h.ack;
    rcv_adv_ = seq_max(rcv_adv_, h.ack + wnd);
    // Answer only what the peer offered (RFC 7323 §1.3, §2.2; RFC 2018 §2).
    if (ws_ok_) h.options.window_scale = config_.window_scale;
    h.options.sack_permitted = sack_ok_;
    if (ts_ok_) h.options.timestamps = {{now_ms(now), ts_recent_}};
  } else {
    h.options.window_scale = config_.window_scale;
    h.options.sack_permitted = config_.sack;
    if (config_.timestamps) h.options.timestamps = {{now_ms(now), 0}};
  }
  if (snd_max_ == iss_) {
    rtt_timer_.start(iss_, now);  // the SYN is timed, for when timestamps are off
    snd_nxt_ = snd_max_ = iss_ + 1;
  }
  if (rto_at_ == Instant::never()) arm_rto(now);
  emit(h, nullptr);
}

void Connection::send_ack(Instant now) {
  switch (state_) {
    case TcpState::kClosed:
    case TcpState::kListen:
    case TcpState::kSynSent:
      return;
    case TcpState::kSynReceived:
      send_syn(now);  // our SYN is what is unacknowledged: repeat the SYN-ACK
      return;
    default:
      break;
  }
  // <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>. The RFC's SND.NXT never goes back;
  // ours does after an RTO (go-back-N), and snd_max_ is the RFC's. An ACK
  // sent from below the peer's RCV.NXT would fail its step 1 and be dropped
  // unread: with both sides going back at once, neither would ever learn what
  // the other has received. FreeBSD's tcp_output also sends a segment
  // without data from snd_max.
  TcpHeader h = header(snd_max_, kTcpAck, now);
  add_sack_blocks(h);
  emit(h, nullptr);
}

void Connection::flush_ack(Instant now) {
  if (!ack_owed_) return;
  ack_owed_ = false;  // in CLOSED, send_ack() sends nothing
  send_ack(now);
}

void Connection::send_challenge_ack(Instant now) {
  // RFC 5961 §3.2: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>, under §7's limit,
  // which the shard's connections share (as Linux's tcp_challenge_ack_limit).
  if (challenge_limiter_ != nullptr && !challenge_limiter_->take(now)) {
    ++counters_.challenge_acks_limited;
    return;
  }
  ++counters_.challenge_acks;
  send_ack(now);
}

void Connection::send_rst(SeqNum seq, Instant now) {
  ++counters_.resets_sent;
  TcpHeader h;
  h.src_port = lport_;
  h.dst_port = rport_;
  h.seq = seq;
  h.flags = kTcpRst;
  (void)now;
  emit(h, nullptr);
}

uint32_t Connection::send_segment(SeqNum seq, uint32_t len, bool fin, Instant now) {
  PacketPtr payload;
  const uint32_t mss = effective_mss();
  if (len > 0) {
    payload = send_.copy(seq, len, pool_.headroom());
    if (!payload && len > mss) {
      // A super-segment needs a buffer per 2 KiB at once: with the pool that
      // short, one MSS, and the rest when the window next opens.
      len = mss;
      fin = false;
      payload = send_.copy(seq, len, pool_.headroom());
    }
    if (!payload) return 0;  // pool exhausted
  }
  uint8_t flags = kTcpAck;
  if (fin) flags |= kTcpFin;
  if (len > 0 && seq + len == data_end()) flags |= kTcpPsh;  // the last byte written
  TcpHeader h = header(seq, flags, now);
  if (len == 0) add_sack_blocks(h);  // blocks on data would push it past the MSS
  if (len > mss) payload->gso_size = static_cast<uint16_t>(mss);  // a super-segment
  emit(h, std::move(payload));
  return len;
}

void Connection::retransmit_range(SeqNum seq, uint32_t len, Instant now) {
  if (len == 0) return;
  // The FIN's sequence number is data_end(): the range may end with it.
  const SeqNum end = seq + len;
  const bool fin = fin_sent() && seq <= data_end() && data_end() < end;
  const uint32_t data =
      seq < data_end() ? static_cast<uint32_t>(seq_min(end, data_end()) - seq) : 0;
  ++counters_.retransmits;
  ++counters_.sack_retransmits;
  rtt_timer_.cancel();  // Karn (RFC 6298 §3)
  send_segment(seq, data, fin, now);
}

uint32_t Connection::retransmit_first(Instant now) {
  if (state_ == TcpState::kSynSent || state_ == TcpState::kSynReceived) {
    ++counters_.retransmits;
    rtt_timer_.cancel();
    send_syn(now);
    return 1;
  }
  // Only what was sent (below SND.MAX): a segment cut short by the peer's
  // window must not grow into new data here, past SND.MAX, where the ACK for
  // it would be refused as acknowledging something not yet sent.
  const SeqNum sent_end = seq_min(snd_max_, data_end());
  const uint32_t data = snd_una_ < sent_end ? static_cast<uint32_t>(sent_end - snd_una_) : 0;
  const uint32_t len = std::min(data, effective_mss());
  const bool fin = fin_sent() && snd_una_ + len == data_end();
  if (len == 0 && !fin) return 0;
  ++counters_.retransmits;
  rtt_timer_.cancel();  // Karn (RFC 6298 §3)
  send_segment(snd_una_, len, fin, now);
  return len + (fin ? 1 : 0);
}

void Connection::output(Instant now) {
  bool may_send = false;
  switch (state_) {
    case TcpState::kEstablished:
    case TcpState::kCloseWait:
    case TcpState::kFinWait1:
    case TcpState::kClosing:
    case TcpState::kLastAck:
      may_send = true;
      break;
    default:
      break;
  }
  if (may_send && in_recovery_ && sack_recovery_) {
    sack_output(now);
  } else {
    while (may_send) {
      // RFC 6675 §5.1: going back after an RTO, skip what the receiver has
      // SACKed since (the scoreboard was cleared at the RTO).
      if (sack_ok_ && snd_nxt_ < snd_max_) snd_nxt_ = scoreboard_.skip_sacked(snd_nxt_);
      const uint32_t flight = in_flight();
      const uint32_t wnd = std::min(cc_->cwnd(), snd_wnd_);
      const NewData d = next_data(wnd > flight ? wnd - flight : 0);
      if (d.len == 0 && !d.fin) break;
      if (!send_data(d, now) || d.fin) break;
    }
  }
  // §3.8.6.1: data waiting, nothing in flight to bring an ACK, and a window
  // too small to send into: probe it on the persist timer.
  if (may_send && unsent() > 0 && snd_una_ == snd_max_ && persist_at_ == Instant::never())
    persist_at_ = now + persist_interval();
  if (ack_now_) send_ack(now);
}

Connection::NewData Connection::next_data(uint32_t usable) const {
  const uint32_t mss = effective_mss();
  const uint32_t queued = unsent();
  uint32_t len = std::min({queued, usable, std::max(mss, config_.tso_max)});
  if (len > mss) {
    // A super-segment (TSO) stands for full segments, and a short last one
    // only where it would go alone too: it empties the queue and Nagle is
    // off (with the full ones in flight, Nagle would hold it back).
    const uint32_t tail = len % mss;
    if (tail != 0 && !(len == queued && config_.nodelay)) len -= tail;
  }
  // RFC 6675 §5.1: below SND.MAX (going back after an RTO) a segment stops
  // where SACKed data starts; such a short segment is a retransmission, not
  // a small write, and is not held back by Nagle or SWS avoidance.
  bool cut = false;
  if (sack_ok_ && snd_nxt_ < snd_max_ && len > 0) {
    const uint32_t hole = scoreboard_.hole_len(snd_nxt_, snd_max_, len);
    cut = hole < len;
    len = hole;
  }
  // The FIN goes with the last byte, or alone once all data is sent. It
  // takes no room in the window here: a receiver with a closed window
  // drops it and our RTO sends it again.
  const bool fin = fin_queued_ && snd_nxt_ <= data_end() && len == queued;
  if (len == 0 && !fin) return {};
  if (len < mss && !fin && !cut) {
    // Sender SWS avoidance (§3.8.6.2.1) with Nagle (RFC 896, §3.7.4):
    // send a short segment only if it empties the queue and nothing is
    // unacknowledged (or Nagle is off), or it is at least half the largest
    // window the peer has offered.
    const bool empties = len == queued;
    const bool nagle_ok = config_.nodelay || in_flight() == 0;
    const bool big_enough = max_snd_wnd_ > 0 && len >= max_snd_wnd_ / 2;
    if (!((empties && nagle_ok) || big_enough)) return {};
  }
  return {len, fin};
}

bool Connection::send_data(NewData d, Instant now) {
  const uint32_t sent = send_segment(snd_nxt_, d.len, d.fin, now);
  if (d.len > 0 && sent == 0) {
    // The pool is exhausted: nothing went. The RTO tries again (or an ACK
    // first), as after a loss.
    if (rto_at_ == Instant::never()) arm_rto(now);
    return false;
  }
  if (d.len > 0 && !ts_ok_ && !rtt_timer_.running() && snd_nxt_ == snd_max_)
    rtt_timer_.start(snd_nxt_, now);
  if (sent < d.len) d = {sent, false};
  snd_nxt_ += d.len + (d.fin ? 1 : 0);
  snd_max_ = seq_max(snd_max_, snd_nxt_);
  persist_at_ = Instant::never();
  persist_backoffs_ = 0;
  if (rto_at_ == Instant::never()) arm_rto(now);
  return true;
}

// RFC 6675 §5 (B.2) and (C), in SACK-based loss recovery: "If cwnd - pipe
// >= 1 SMSS, the sender SHOULD transmit one or more segments", each the one
// NextSeg() chooses: lost holes first (rule 1), then new data (2), then other
// holes below SACKed data (3), then one rescue of a lost tail (4).
void Connection::sack_output(Instant now) {
  using Rule = SackSegment::Rule;
  const uint32_t mss = effective_mss();
  uint64_t pipe = scoreboard_.pipe(snd_una_, snd_max_, high_rxt_, mss);  // (B.2) SetPipe ()
  // (C) "If cwnd - pipe >= 1 SMSS", and (C.5) again after each segment.
  while (pipe + mss <= cc_->cwnd()) {
    // Rule 2's "available unsent data and the receiver's advertised window
    // allows", with SWS avoidance and Nagle; cwnd is pipe's business here.
    NewData d;
    if (snd_nxt_ == snd_max_) {
      // One segment at a time here (C.5): no super-segment (TSO).
      const uint32_t flight = in_flight();
      d = next_data(std::min(snd_wnd_ > flight ? snd_wnd_ - flight : 0, mss));
    }
    // (C.1)
    const SackSegment s = scoreboard_.next_seg({.snd_una = snd_una_,
                                                .high_data = snd_max_,
                                                .high_rxt = high_rxt_,
                                                .rescue_rxt = rescue_rxt_,
                                                .new_data = d.len + (d.fin ? 1u : 0u),
                                                .smss = mss});
    switch (s.rule) {
      case Rule::kNone:
        return;
      case Rule::kNewData:
        if (!send_data(d, now)) return;  // (C.3): HighData moves with SND.MAX
        pipe += d.len + (d.fin ? 1u : 0u);
        break;
      case Rule::kLost:
      case Rule::kUnsacked:
        retransmit_range(s.seq, s.len, now);
        high_rxt_ = s.seq + s.len;  // (C.2)
        pipe += s.len;              // (C.4)
        break;
      case Rule::kRescue:
        // Rule 4: "RescueRxt set to RecoveryPoint. HighRxt MUST NOT be updated."
        retransmit_range(s.seq, s.len, now);
        rescue_rxt_ = recover_;
        pipe += s.len;
        break;
    }
  }
}

// Delayed ACK (§3.8.6.3, RFC 1122 §4.2.3.2, RFC 5681 §4.2): ACK at once for
// every second full-sized segment's worth and whenever `force`; otherwise
// within delayed_ack.
void Connection::ack_received_data(bool force, Instant now) {
  if (force || unacked_bytes_ >= 2 * effective_mss()) {
    ack_now_ = true;
  } else if (unacked_bytes_ > 0 && delack_at_ == Instant::never()) {
    delack_at_ = now + config_.delayed_ack;
  }
}

// After read(): a window update when the right edge can move by the SWS
// threshold (§3.8.6.2.2) and the window the peer knows of has shrunk to under
// half of what it would now be (Linux's rule: a reader that keeps up with a
// large window sends no ACK per read; the ACKs for data carry the window).
// A closed window is always reopened at once.
void Connection::maybe_window_update(Instant now) {
  if (state_ != TcpState::kEstablished && state_ != TcpState::kFinWait1 &&
      state_ != TcpState::kFinWait2)
    return;
  const SeqNum nxt = rcv_nxt();
  const SeqNum edge = nxt + recv_.rcv_wnd();
  const uint32_t threshold = std::min(recv_.limit() / 2, effective_mss());
  const uint32_t known = rcv_adv_ > nxt ? static_cast<uint32_t>(rcv_adv_ - nxt) : 0;
  if (edge > rcv_adv_ && static_cast<uint32_t>(edge - rcv_adv_) >= threshold &&
      static_cast<uint32_t>(edge - nxt) >= 2 * uint64_t{known}) {
    ++counters_.window_updates;
    if (config_.defer_acks)
      ack_owed_ = true;
    else
      send_ack(now);
  }
}

}  // namespace sn
