// Arriving segments, in the order of RFC 9293 §3.10.7: §3.10.7.2 for
// SYN-SENT, §3.10.7.4 (steps 1-8) for the synchronized states, with RFC 5961
// (blind RST and SYN: challenge ACKs) and RFC 7323 (PAWS, ts_recent).
#include <algorithm>
#include <span>

#include "tcp/connection.h"

namespace sn {

namespace {

constexpr uint8_t kQuickAcks = 16;  // Linux's TCP_MAX_QUICKACKS

uint32_t flag(uint8_t flags, uint8_t f) {
  return (flags & f) != 0 ? 1 : 0;
}

}  // namespace

void Connection::on_segment(const TcpView& seg, const TcpOptions& opts, PacketPtr payload,
                            Instant now) {
  ++counters_.segments_in;
  const uint8_t f = seg.flags();
  const SeqNum seq = seg.seq();
  const uint32_t data_len = payload ? payload->chain_size() : 0;

  switch (state_) {
    case TcpState::kClosed:
    case TcpState::kListen:
      return;  // the demux answers segments for no connection (§3.10.7.1)
    case TcpState::kSynSent:
      on_segment_syn_sent(seg, opts, std::move(payload), now);
      return;
    default:
      break;
  }

  // Simultaneous open (§3.5 figure 8): in SYN-RECEIVED the peer's SYN-ACK
  // fails step 1 (its SYN is old) and would meet step 4. Linux lets exactly
  // this segment through (tcp_validate_incoming); so do we: it completes the
  // handshake.
  if (state_ == TcpState::kSynReceived && (f & kTcpSyn) && (f & kTcpAck) && !(f & kTcpRst) &&
      seq == irs_ && seg.ack() == snd_max_) {
    complete_handshake(seg, opts, now);
    output(now);
    return;
  }

  // Step 1, first PAWS (RFC 7323 §5.3 R1): a segment whose TSval is older
  // than ts_recent is an old duplicate. (We do not implement R1's 24-day
  // idle exception.)
  const bool has_ts = ts_ok_ && opts.timestamps.has_value();
  if (has_ts && !(f & kTcpRst) && static_cast<int32_t>(opts.timestamps->first - ts_recent_) < 0) {
    ++counters_.paws_drops;
    ++counters_.bad_segments;
    send_ack(now);
    return;
  }

  // Step 1: the acceptability test.
  const uint32_t seg_len = data_len + flag(f, kTcpSyn) + flag(f, kTcpFin);
  if (!acceptable(seq, seg_len)) {
    ++counters_.bad_segments;
    // "If an incoming segment is not acceptable, an acknowledgment should be
    // sent in reply (unless the RST bit is set ...)". A retransmitted FIN in
    // TIME-WAIT lands here too: §3.10.7.4 step 8 restarts the 2 MSL timeout.
    if (f & kTcpRst) return;
    // RFC 5961 §4.2: a SYN, "irrespective of the sequence number", gets a
    // challenge ACK (rate-limited; Linux does the same).
    if (f & kTcpSyn) {
      send_challenge_ack(now);
      return;
    }
    if (state_ == TcpState::kTimeWait && (f & kTcpFin)) time_wait_at_ = now + config_.msl * 2;
    // "If the RCV.WND is zero, no segments will be acceptable, but special
    // allowance should be made to accept valid ACKs": a zero-window probe
    // still updates our send side.
    if (recv_.rcv_wnd() == 0 && seq == rcv_nxt() && (f & kTcpAck) && !(f & kTcpSyn))
      process_ack(seg, opts, 0, now);
    send_ack(now);
    return;
  }
  // Keepalive (RFC 1122 §4.2.3.6): an acceptable segment shows the peer is
  // alive (one off-path junk could not make acceptable does not count).
  last_heard_ = now;
  keepalive_sent_ = 0;
  // RFC 7323 §4.3 (2): remember TSval if this segment covers the left edge
  // of the window (SEG.SEQ <= Last.ACK.sent).
  if (has_ts && static_cast<int32_t>(opts.timestamps->first - ts_recent_) >= 0 &&
      seq <= last_ack_sent_)
    ts_recent_ = opts.timestamps->first;

  // Step 2: RST (RFC 5961 §3.2). Step 1 has put SEG.SEQ in the window.
  if (f & kTcpRst) {
    if (seq != rcv_nxt()) {
      send_challenge_ack(now);
      return;
    }
    switch (state_) {
      case TcpState::kSynReceived:
        // Passive: "return to LISTEN" is the listener's; this TCB goes.
        // Active (simultaneous open): "connection refused".
        enter_closed(TcpError::kRefused);
        break;
      case TcpState::kEstablished:
      case TcpState::kFinWait1:
      case TcpState::kFinWait2:
      case TcpState::kCloseWait:
        enter_closed(TcpError::kReset);
        break;
      default:  // CLOSING, LAST-ACK, TIME-WAIT
        enter_closed(TcpError::kNone);
        break;
    }
    send_.reset(snd_una_);
    return;
  }

  // Step 3: security and precedence: nothing to check (no IP security option).

  // Step 4: SYN in a synchronized state (RFC 5961 §4.2): a challenge ACK
  // whatever its sequence number, and drop. §3.10.7.4 would reset in window
  // and return a SYN-RECEIVED TCB to LISTEN; RFC 5961 replaces both.
  if (f & kTcpSyn) {
    send_challenge_ack(now);
    return;
  }

  // Step 5: ACK. "if the ACK bit is off, drop the segment and return".
  if (!(f & kTcpAck)) return;
  if (!process_ack(seg, opts, data_len, now)) return;
  if (state_ == TcpState::kClosed) return;  // LAST-ACK's FIN was acknowledged

  // Step 6: URG. Urgent data is not supported (RFC 6093 discourages it); the
  // bytes are delivered in line.

  // Step 7: segment text, in ESTABLISHED, FIN-WAIT-1 and FIN-WAIT-2. In the
  // other states the peer has sent its FIN and any text is ignored.
  bool fin_in_window = (f & kTcpFin) != 0;
  // RFC 1122 §4.2.2.13: new data after the application closed is answered
  // with a reset, "to show that data was lost" (Linux does, in FIN-WAIT).
  if (orphaned_at_ != Instant::never() && data_len > 0 && seq + data_len > recv_.rcv_nxt() &&
      (state_ == TcpState::kEstablished || state_ == TcpState::kFinWait1 ||
       state_ == TcpState::kFinWait2)) {
    ++counters_.orphan_data_resets;
    abort(now);
    return;
  }
  if (data_len > 0) {
    if (state_ == TcpState::kEstablished || state_ == TcpState::kFinWait1 ||
        state_ == TcpState::kFinWait2) {
      const RecvResult r = process_text(seq, std::move(payload), now);
      if (r.beyond_window > 0) fin_in_window = false;  // the FIN lies past the window
    }
  }

  // Step 8: FIN. It is processed once every byte before it has arrived, so
  // a FIN that comes out of order is remembered until the hole is filled.
  if (fin_in_window && !fin_received_ &&
      (state_ == TcpState::kEstablished || state_ == TcpState::kFinWait1 ||
       state_ == TcpState::kFinWait2))
    peer_fin_ = seq + data_len;
  if (peer_fin_ && !fin_received_ && recv_.rcv_nxt() == *peer_fin_) process_fin(now);

  output(now);
}

// §3.10.7.2, SEGMENT ARRIVES in SYN-SENT.
void Connection::on_segment_syn_sent(const TcpView& seg, const TcpOptions& opts, PacketPtr payload,
                                     Instant now) {
  const uint8_t f = seg.flags();
  const SeqNum ack = seg.ack();
  // First, the ACK bit: "If SEG.ACK =< ISS or SEG.ACK > SND.NXT, send a reset
  // (unless the RST bit is set, if so drop the segment and return)".
  if (f & kTcpAck) {
    if (ack <= iss_ || ack > snd_max_) {
      ++counters_.bad_segments;
      if (!(f & kTcpRst)) send_rst(ack, now);
      return;
    }
  }
  // Second, RST: with an acceptable ACK, "the connection refused"; without
  // an ACK, drop (RFC 5961 §3.2 keeps this check for SYN-SENT).
  if (f & kTcpRst) {
    if (f & kTcpAck) enter_closed(TcpError::kRefused);
    return;
  }
  // Third, security: nothing. Fourth, SYN.
  if (!(f & kTcpSyn)) return;  // fifth: "drop the segment and return"
  irs_ = seg.seq();
  recv_.reset(irs_ + 1);
  rcv_adv_ = irs_ + 1;
  last_ack_sent_ = irs_ + 1;
  negotiate(opts);
  if (f & kTcpAck) {
    complete_handshake(seg, opts, now);
    // "Data or controls that were queued for transmission may be included";
    // then §3.10.7.2 continues at step 6 with any text (RFC 9293 allows data
    // on a SYN-ACK, as TCP Fast Open servers send).
    const bool text = payload != nullptr;
    if (text) {
      const uint32_t n = payload->chain_size();
      const RecvResult r = process_text(irs_ + 1, std::move(payload), now);
      if ((f & kTcpFin) && r.beyond_window == 0) peer_fin_ = irs_ + 1 + n;
    } else if (f & kTcpFin) {
      peer_fin_ = irs_ + 1;
    }
    if (peer_fin_ && recv_.rcv_nxt() == *peer_fin_) process_fin(now);
    if (text || peer_fin_)
      ack_now_ = true;
    else
      ack_soon();  // the application's first data can carry it
    output(now);
    return;
  }
  // Simultaneous open: "enter SYN-RECEIVED, form a SYN,ACK segment and send
  // it". Data on the SYN is not kept (the peer retransmits it).
  snd_wnd_ = max_snd_wnd_ = seg.window();  // RFC 7323 §2.2: not scaled on a SYN
  snd_wl1_ = seg.seq();
  snd_wl2_ = snd_una_;
  set_state(TcpState::kSynReceived);
  send_syn(now);
}

// The ACK of our SYN has arrived (in SYN-SENT or SYN-RECEIVED): ESTABLISHED.
void Connection::complete_handshake(const TcpView& seg, const TcpOptions& opts, Instant now) {
  on_new_ack(seg.ack(), opts, now);
  // §3.10.7.2: "SND.WND <- SEG.WND, SND.WL1 <- SEG.SEQ, SND.WL2 <- SEG.ACK".
  // The window of a SYN is not scaled (RFC 7323 §2.2); of a plain ACK it is.
  const uint32_t wnd =
      (seg.flags() & kTcpSyn) ? seg.window() : uint32_t{seg.window()} << snd_wscale_;
  snd_wnd_ = wnd;
  max_snd_wnd_ = std::max(max_snd_wnd_, wnd);
  snd_wl1_ = seg.seq();
  snd_wl2_ = seg.ack();
  // RFC 6298 §5.7: after a SYN timeout with no RTT sample, start data
  // transfer with a 3 s RTO.
  if (syn_retransmitted_ && !rtt_.has_sample()) {
    RtoConfig c = config_.rto;
    c.initial = std::max(c.initial, Duration::seconds(3));
    rtt_ = RttEstimator(c);
  }
  set_state(TcpState::kEstablished);
  if (fin_queued_) set_state(TcpState::kFinWait1);  // shutdown_send() in SYN-RECEIVED
}

// Step 1's table (§3.10.7.4): RCV.NXT =< SEG.SEQ < RCV.NXT+RCV.WND, or for a
// segment with length, either end in the window. The window is the larger of
// what we advertised and what the buffer has room for, so data sent into an
// edge that receiver SWS avoidance has not announced yet is not refused.
bool Connection::acceptable(SeqNum seq, uint32_t seg_len) const {
  const SeqNum nxt = rcv_nxt();
  const uint32_t advertised = rcv_adv_ > nxt ? static_cast<uint32_t>(rcv_adv_ - nxt) : 0;
  const uint32_t wnd = std::max(advertised, recv_.rcv_wnd());
  if (seg_len == 0) return wnd == 0 ? seq == nxt : seq_in_window(seq, nxt, wnd);
  if (wnd == 0) return false;
  return seq_in_window(seq, nxt, wnd) || seq_in_window(seq + (seg_len - 1), nxt, wnd);
}

// Step 5 in the synchronized states. Returns false to drop the segment.
bool Connection::process_ack(const TcpView& seg, const TcpOptions& opts, uint32_t data_len,
                             Instant now) {
  const SeqNum ack = seg.ack();
  if (state_ == TcpState::kSynReceived) {
    // "If SND.UNA < SEG.ACK =< SND.NXT, then enter ESTABLISHED ... If the
    // segment acknowledgment is not acceptable, form a reset segment
    // <SEQ=SEG.ACK><CTL=RST> and send it."
    if (!(snd_una_ < ack && ack <= snd_max_)) {
      send_rst(ack, now);
      return false;
    }
    complete_handshake(seg, opts, now);
    return true;
  }
  // "If the ACK acks something not yet sent (SEG.ACK > SND.NXT), then send
  // an ACK, drop the segment, and return." (SND.MAX: after an RTO, SND.NXT
  // has gone back but what was sent may still be acknowledged.)
  if (ack > snd_max_) {
    ++counters_.acks_too_new;
    send_ack(now);
    return false;
  }
  const uint32_t wnd = uint32_t{seg.window()} << snd_wscale_;
  const uint8_t f = seg.flags();
  // RFC 5681 §2's duplicate ACK: outstanding data, no data or SYN/FIN, the
  // same ACK and the same window.
  const bool dup_ack = ack == snd_una_ && data_len == 0 && !(f & (kTcpSyn | kTcpFin)) &&
                       wnd == snd_wnd_ && snd_max_ > snd_una_;
  if (sack_ok_) {
    // RFC 6675 §5: "Upon the receipt of any ACK containing SACK information,
    // the scoreboard MUST be updated via the Update () routine". Update()
    // also forgets what the ACK acknowledges, so it runs on every ACK.
    const uint8_t n = std::min<uint8_t>(opts.sack_count, static_cast<uint8_t>(opts.sack.size()));
    const bool sack_news =
        scoreboard_.update(seq_max(ack, snd_una_), snd_max_, std::span(opts.sack).first(n));
    // "If the incoming ACK is a cumulative acknowledgment, the TCP MUST
    // reset DupAcks to zero" (on_new_ack does).
    if (ack > snd_una_) on_new_ack(ack, opts, now);
    // §2: an ACK that SACKs octets not SACKed before is a duplicate ACK, "even
    // if it carries new data, changes the advertised window, or moves the
    // cumulative acknowledgment point". A peer that negotiated SACK but sends
    // no blocks still has RFC 5681's duplicate ACKs counted (and gets NewReno
    // recovery: see on_dup_ack).
    if (sack_news || (dup_ack && n == 0)) on_dup_ack(now);
  } else if (ack > snd_una_) {
    on_new_ack(ack, opts, now);
  } else if (dup_ack) {
    on_dup_ack(now);
  }
  // "If SND.UNA =< SEG.ACK =< SND.NXT, the send window should be updated. If
  // (SND.WL1 < SEG.SEQ or (SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK))".
  // An old ACK (SEG.ACK < SND.UNA) "can be ignored".
  if (ack >= snd_una_ && (snd_wl1_ < seg.seq() || (snd_wl1_ == seg.seq() && snd_wl2_ <= ack))) {
    snd_wnd_ = wnd;
    snd_wl1_ = seg.seq();
    snd_wl2_ = ack;
    max_snd_wnd_ = std::max(max_snd_wnd_, wnd);
  }

  // The states that wait for the ACK of our FIN.
  if (fin_acked()) {
    switch (state_) {
      case TcpState::kFinWait1:
        set_state(TcpState::kFinWait2);
        fin_wait2_since_ = now;
        break;
      case TcpState::kClosing:
        enter_time_wait(now);
        break;
      case TcpState::kLastAck:
        enter_closed(TcpError::kNone);
        return false;
      default:
        break;
    }
  }
  return true;
}

void Connection::on_new_ack(SeqNum ack, const TcpOptions& opts, Instant now) {
  const uint32_t flight_before = static_cast<uint32_t>(snd_max_ - snd_una_);
  // The data part of what is acknowledged (not the SYN, not the FIN).
  const uint32_t acked = send_.acknowledge(seq_min(ack, data_end()));

  // RTT (RFC 7323 §4.1 with timestamps: any ACK of new data with a TSecr;
  // otherwise RFC 6298 with Karn's rule through RttTimer).
  std::optional<Duration> sample;
  if (ts_ok_) {
    if (opts.timestamps && opts.timestamps->second != 0)
      sample = Duration::millis(static_cast<int32_t>(now_ms(now) - opts.timestamps->second));
  } else {
    sample = rtt_timer_.on_ack(ack, now);
  }
  if (sample) rtt_.sample(*sample);

  snd_una_ = ack;
  if (snd_nxt_ < snd_una_) snd_nxt_ = snd_una_;
  dup_acks_ = 0;
  const uint32_t flight_after = static_cast<uint32_t>(snd_max_ - snd_una_);

  if (in_recovery_) {
    if (ack >= recover_) {
      // RFC 6582 §3.2 step 3, full acknowledgment; RFC 6675 §5 (A), "An
      // incoming cumulative ACK for a sequence number greater than
      // RecoveryPoint signals the end of loss recovery" (what is SACKed above
      // stays in the scoreboard, as (A) asks).
      in_recovery_ = false;
      cc_->on_exit_recovery(flight_after, now);
    } else if (sack_recovery_) {
      // RFC 6675 §5 (B): the scoreboard has this ACK's blocks (B.1); output()
      // recomputes pipe (B.2) and sends what NextSeg() chooses (C). No cwnd
      // deflation: pipe accounts for what has left the network.
    } else {
      // Partial acknowledgment: retransmit the first unacknowledged segment
      // and deflate; "reset the retransmit timer" on the first only (we do it
      // on each: the "Impatient" variant would not).
      cc_->on_partial_ack(acked);
      snd_nxt_ = seq_max(snd_nxt_, snd_una_);
      retransmit_first(now);
    }
  } else if (acked > 0) {
    cc_->on_ack(acked, sample, flight_before, now);
  }

  // RFC 6298 §5.2, §5.3: stop the timer when all is acknowledged, else restart it.
  if (snd_una_ == snd_max_)
    rto_at_ = Instant::never();
  else
    arm_rto(now);
}

void Connection::on_dup_ack(Instant now) {
  ++dup_acks_;
  ++counters_.dup_acks;
  if (in_recovery_) {
    // RFC 5681 §3.2 step 4 in NewReno recovery; output() may send new data.
    // In SACK recovery, output() runs RFC 6675 §5 (B.2) and (C) instead.
    if (!sack_recovery_) cc_->on_dup_ack_in_recovery();
    return;
  }
  if (sack_ok_ && !scoreboard_.empty()) {
    // RFC 6675 §5 steps (1) and (2): DupAcks >= DupThresh, or IsLost
    // (HighACK + 1), HighACK + 1 being SND.UNA. The second catches an ACK
    // that SACKs several segments at once (ACK loss, stretch ACKs). Step (3),
    // Limited Transmit, is not done (nor is it without SACK).
    if (dup_acks_ < SackScoreboard::kDupThresh && !scoreboard_.is_lost(snd_una_, effective_mss()))
      return;
    // Only when "the cumulative acknowledgment point is beyond the last value
    // of RecoveryPoint" (§5), which §5.1 writes as HighACK >= RecoveryPoint
    // after an RTO: SND.UNA >= recover_, recover_ being one past that octet.
    // The RFC 6582 check below is one octet stricter; with SACK a loss just
    // past the old RecoveryPoint is a new one, as Linux also treats it.
    if (recover_valid_ && snd_una_ < recover_) return;
    enter_sack_recovery(now);
    return;
  }
  // RFC 5681 §3.2 step 2, with RFC 6582 §3.2 step 1's check that this ACK
  // covers more than `recover` (no second fast retransmit for one window).
  if (dup_acks_ != 3) return;
  if (recover_valid_ && !(snd_una_ > recover_)) return;
  in_recovery_ = true;
  sack_recovery_ = false;
  recover_ = snd_max_;
  recover_valid_ = true;
  cc_->on_enter_recovery(static_cast<uint32_t>(snd_max_ - snd_una_), now);
  ++counters_.fast_retransmits;
  retransmit_first(now);
  arm_rto(now);
}

// RFC 6675 §5 step (4): "Invoke fast retransmit and enter loss recovery".
void Connection::enter_sack_recovery(Instant now) {
  in_recovery_ = true;
  sack_recovery_ = true;
  recover_ = snd_max_;  // (4.1) RecoveryPoint = HighData
  recover_valid_ = true;
  // (4.2) ssthresh = cwnd = (FlightSize / 2), or CUBIC's decrease.
  cc_->on_enter_sack_recovery(static_cast<uint32_t>(snd_max_ - snd_una_), now);
  ++counters_.fast_retransmits;
  ++counters_.sack_recoveries;
  // (4.3) "Retransmit the first data segment presumed dropped -- the segment
  // starting with sequence number HighACK + 1. To prevent repeated
  // retransmission of the same data or a premature rescue retransmission, set
  // both HighRxt and RescueRxt to the highest sequence number in the
  // retransmitted segment." It ends where SACKed data begins.
  const uint32_t len = scoreboard_.hole_len(snd_una_, snd_max_, effective_mss());
  retransmit_range(snd_una_, len, now);
  high_rxt_ = rescue_rxt_ = snd_una_ + len;
  arm_rto(now);
  // (4.4) SetPipe () and (4.5) step (C): output(), which on_segment() calls
  // once the ACK is processed.
}

// Step 7 (§3.10.7.4): "Once in the ESTABLISHED state, it is possible to
// deliver segment text to user RECEIVE buffers."
RecvResult Connection::process_text(SeqNum seq, PacketPtr payload, Instant now) {
  const bool had_ooo = recv_.ooo_segments() > 0;
  const RecvResult r = recv_.receive(seq, std::move(payload));
  if (r.queued_out_of_order > 0) ++counters_.ooo_segments;
  unacked_bytes_ += r.accepted_in_order;
  // RFC 5681 §4.2: ACK at once for out-of-order data and for data that fills
  // a hole; and anything we could not take deserves an ACK now too.
  const bool filled = had_ooo && r.accepted_in_order > 0;
  bool force =
      r.queued_out_of_order > 0 || r.duplicate || r.dropped || r.beyond_window > 0 || filled;
  // The sender is recovering from a loss and its retransmissions (a tail
  // rescue above all) wait on our ACKs: the next in-order segments after a
  // hole is filled are ACKed at once too (as Linux's quick-ACK mode does).
  if (filled) {
    quick_acks_ = kQuickAcks;
  } else if (r.accepted_in_order > 0 && quick_acks_ > 0) {
    --quick_acks_;
    force = true;
  }
  ack_received_data(force, now);
  return r;
}

// Step 8 (§3.10.7.4), once RCV.NXT has reached the FIN.
void Connection::process_fin(Instant now) {
  fin_received_ = true;
  // "advance RCV.NXT over the FIN, and send an acknowledgment": in
  // CLOSE-WAIT the application's own FIN may carry it.
  switch (state_) {
    case TcpState::kSynReceived:
    case TcpState::kEstablished:
      set_state(TcpState::kCloseWait);
      ack_soon();
      return;
    case TcpState::kFinWait1:
      // "If our FIN has been ACKed ... enter TIME-WAIT ... otherwise, enter
      // the CLOSING state."
      if (fin_acked())
        enter_time_wait(now);
      else
        set_state(TcpState::kClosing);
      break;
    case TcpState::kFinWait2:
      enter_time_wait(now);
      break;
    default:
      break;
  }
  ack_now_ = true;
}

}  // namespace sn
