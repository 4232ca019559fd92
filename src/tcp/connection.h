// One TCP connection (RFC 9293): the state machine, segment processing in the
// order of §3.10.7, sending (Nagle, SWS avoidance, delayed ACK, persist), and
// retransmission (RFC 6298 RTO, RFC 5681/6582 fast retransmit and NewReno
// recovery through CongestionControl; with SACK negotiated, RFC 6675
// SACK-based loss recovery over the scoreboard of scoreboard.h, or NewReno's
// if the peer sends no SACK blocks). It does no I/O and reads no clock: every
// entry point takes `now`, segments go out through a SegmentSink, and
// next_deadline() is the one time the shard arms on its timer wheel.
//
// Files: connection.cc (setup, application calls, state changes),
// connection_input.cc (§3.10.7), connection_output.cc (what to send),
// connection_timers.cc (RTO, delayed ACK, persist, TIME-WAIT).
//
// Not here yet: RFC 6675 §5 step (3) Limited Transmit (RFC 3042), D-SACK
// use and undo (RFC 2883, RFC 3708), RACK-TLP (RFC 8985), PRR (RFC 6937),
// SACK blocks on data segments, urgent data, RFC 5961 §5 (the ACK
// acceptable-range check, a MAY).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "base/result.h"
#include "base/time.h"
#include "base/token_bucket.h"
#include "buf/pool.h"
#include "tcp/congestion.h"
#include "tcp/controller.h"
#include "tcp/recv_buffer.h"
#include "tcp/rtt.h"
#include "tcp/scoreboard.h"
#include "tcp/segment_sink.h"
#include "tcp/send_buffer.h"
#include "tcp/state.h"
#include "wire/address.h"
#include "wire/seqnum.h"
#include "wire/tcp.h"

namespace sn {

struct ConnectionConfig {
  uint32_t mss = 1460;  // ours, from the MTU (RFC 6691: MTU - 40), sent on our SYN
  uint32_t send_buffer = 256 * 1024;
  uint32_t recv_buffer = 256 * 1024;
  uint8_t window_scale = 7;  // our shift, offered on our SYN (RFC 7323 §2)
  bool sack = true;
  bool timestamps = true;
  bool nodelay = false;  // turn off Nagle (RFC 896)
  RtoConfig rto;
  CongestionAlgorithm cc = CongestionAlgorithm::kNewReno;
  Duration delayed_ack = Duration::millis(40);
  Duration msl = Duration::seconds(30);  // TIME-WAIT lasts 2*MSL; Linux uses 60 s in all
  uint32_t max_retries = 15;             // RTO backoffs before giving up (Linux tcp_retries2)
  uint32_t syn_retries = 6;              // for SYN and SYN-ACK (Linux tcp_syn_retries)
  uint32_t max_ooo_segments = 64;
  // Keepalive (RFC 1122 §4.2.3.6): off unless asked for; once the connection
  // has been idle `keepalive_idle` (at least two hours by default), probe every
  // `keepalive_interval`, and give up after `keepalive_probes` unanswered
  // (Linux's tcp_keepalive_time, _intvl and _probes).
  bool keepalive = false;
  Duration keepalive_idle = Duration::seconds(7200);
  Duration keepalive_interval = Duration::seconds(75);
  uint32_t keepalive_probes = 9;
  // How long a connection the application has closed waits in FIN-WAIT-2
  // for the peer's FIN (Linux's tcp_fin_timeout); RFC 9293 sets no bound,
  // but an orphan no one will read must not be held forever.
  Duration fin_wait2_timeout = Duration::seconds(60);
  // ACKs the application's reply may carry wait for flush_ack() instead of
  // going out alone at once: the ACK of a SYN-ACK (the request follows it),
  // of a FIN in CLOSE-WAIT (the application's FIN follows it) and window
  // updates after read() (the response follows them). The stack calls
  // flush_ack() before it transmits its batch, so whatever the application
  // wrote in between carries the ACK (Linux holds the handshake ACK likewise
  // when data is about to follow, tcp_rcv_synsent_state_process).
  bool defer_acks = false;
  // TCP segmentation offload: new data may go out as one super-segment of up
  // to this many payload bytes, which the stack or the port cuts into
  // segments of one MSS each (Packet::gso_size); 0: one MSS per segment.
  // What loss recovery resends (the RTO's first segment, SACK recovery's)
  // goes one MSS at a time; going back after an RTO sends what cwnd allows.
  uint32_t tso_max = 0;
};

// Why a connection ended abnormally.
enum class TcpError { kNone, kReset, kTimedOut, kRefused };
const char* to_string(TcpError e);

// clang-format off
// X(name): one counter per event worth telling apart; per connection, and
// summed by the shard into its counters as tcp_<name>.
#define SN_CONNECTION_COUNTERS(X) \
  X(segments_in) \
  X(segments_out) \
  X(retransmits)            /* segments sent again (RTO, fast retransmit, SYN) */ \
  X(rto_expired) \
  X(dup_acks) \
  X(fast_retransmits) \
  X(sack_recoveries)        /* RFC 6675 recoveries (each a fast retransmit too) */ \
  X(sack_retransmits)       /* segments sent again in them (also in retransmits) */ \
  X(ooo_segments)           /* data segments queued out of order */ \
  X(bad_segments)           /* unacceptable: failed §3.10.7.4 step 1 or PAWS */ \
  X(paws_drops)             /* RFC 7323 §5.3 */ \
  X(challenge_acks)         /* RFC 5961 §3, §4 */ \
  X(challenge_acks_limited) /* not sent: over the shard's RFC 5961 §7 limit */ \
  X(acks_too_new)           /* SEG.ACK > SND.NXT: ACKed and dropped */ \
  X(delayed_acks)           /* ACKs sent when the delayed-ACK timer fired */ \
  X(window_updates)         /* ACKs sent because read() opened the window */ \
  X(persist_probes) \
  X(resets_sent) \
  X(keepalive_probes) \
  X(orphan_data_resets)     /* new data after close(): RST (RFC 1122 4.2.2.13) */ \
  X(keepalive_timeouts)     /* connections dropped: probes unanswered */
// clang-format on

struct ConnectionCounters {
#define SN_DECLARE(name) uint64_t name = 0;
  SN_CONNECTION_COUNTERS(SN_DECLARE)
#undef SN_DECLARE
};

class Connection {
 public:
  // A trace of every state change (optional): fn(ctx, connection, from, to).
  using StateTrace = void (*)(void* ctx, const Connection& c, TcpState from, TcpState to);

  Connection(const ConnectionConfig& config, PacketPool& pool, SegmentSink& sink, Ipv4Address local,
             L4Port lport, Ipv4Address remote, L4Port rport);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Active open (§3.10.1): CLOSED -> SYN-SENT, sends a SYN with our options.
  Result<void> connect(SeqNum iss, Instant now);
  // Passive open: a SYN the demux found for a listener (it checked that the
  // SYN has no ACK and no RST). CLOSED -> SYN-RECEIVED, sends a SYN-ACK.
  void accept_syn(const TcpView& syn, const TcpOptions& opts, SeqNum iss, Instant now);
  // A connection rebuilt from a valid SYN cookie (RFC 4987 §3.6): the SYN
  // that began it (ISN `irs`, the options the cookie kept) and the SYN-ACK
  // with ISN `iss` are taken as exchanged, so the connection is in
  // SYN-RECEIVED with nothing to send; the caller then hands it the ACK that
  // carried the cookie through on_segment(), which establishes it.
  void accept_cookie(SeqNum irs, SeqNum iss, const TcpOptions& syn_opts, Instant now);
  // An arriving segment for this connection (RFC 9293 §3.10.7). `payload` is
  // its data as a chain (null if none); seg.payload() is not read.
  void on_segment(const TcpView& seg, const TcpOptions& opts, PacketPtr payload, Instant now);

  // Fires whatever is due at `now`; next_deadline() is when to call it next
  // (Instant::never() when nothing is armed).
  void on_timer(Instant now);
  Instant next_deadline() const;

  // Queues up to data.size() bytes (what the send buffer takes) and sends what
  // the windows allow. 0 if the connection cannot send (any more).
  uint32_t write(std::span<const std::byte> data, Instant now);
  // Copies out up to out.size() bytes received in order; may send a window
  // update (receiver SWS avoidance, §3.8.6.2.2).
  uint32_t read(std::span<std::byte> out, Instant now);
  // Sends a FIN after the queued data (§3.10.4 CLOSE, for the send side).
  Result<void> shutdown_send(Instant now);
  // Sends a RST (when synchronized) and goes to CLOSED (§3.10.5 ABORT).
  void abort(Instant now);
  // The application will not read or write again (it closed the socket):
  // FIN-WAIT-2 is then bounded by fin_wait2_timeout.
  void orphan(Instant now);

  // An ACK waits for flush_ack() (defer_acks), which sends it unless a
  // segment since has carried it.
  bool ack_owed() const { return ack_owed_; }
  void flush_ack(Instant now);

  // Socket options.
  void set_nodelay(bool on, Instant now);
  void set_keepalive(bool on, Instant now);
  // Switches the congestion controller. Once established the new one starts
  // from its initial window, as after an idle period (RFC 5681 §4.1).
  void set_congestion(CongestionAlgorithm algorithm);
  // A rate limit on challenge ACKs shared by the shard's connections (RFC
  // 5961 §7); null means none.
  void set_challenge_ack_limiter(TokenBucket* limiter) { challenge_limiter_ = limiter; }
  const ConnectionConfig& config() const { return config_; }

  TcpState state() const { return state_; }
  // read() would return data, or the peer has closed its side (EOF), or the
  // connection is closed.
  bool readable() const;
  bool writable() const;
  uint32_t send_space() const;  // what write() would queue now (pool permitting)
  bool closed() const { return state_ == TcpState::kClosed; }
  bool eof() const { return fin_received_; }  // the peer's FIN has been received
  TcpError error() const { return error_; }
  std::optional<Error> error_value() const;
  const ConnectionCounters& counters() const { return counters_; }
  void set_trace(StateTrace fn, void* ctx) {
    trace_ = fn;
    trace_ctx_ = ctx;
  }

  // The RFC 9293 §3.3.1 variables and the negotiated options, for tests and
  // introspection.
  SeqNum iss() const { return iss_; }
  SeqNum irs() const { return irs_; }
  SeqNum snd_una() const { return snd_una_; }
  SeqNum snd_nxt() const { return snd_nxt_; }
  SeqNum snd_max() const { return snd_max_; }
  uint32_t snd_wnd() const { return snd_wnd_; }
  SeqNum rcv_nxt() const;
  uint32_t rcv_wnd() const { return recv_.rcv_wnd(); }
  uint32_t send_mss() const { return snd_mss_; }  // min(ours, theirs), before options
  uint32_t effective_mss() const;                 // data bytes per full segment
  uint8_t snd_wscale() const { return snd_wscale_; }
  uint8_t rcv_wscale() const { return rcv_wscale_; }
  bool sack_ok() const { return sack_ok_; }
  bool ts_ok() const { return ts_ok_; }
  uint32_t ts_recent() const { return ts_recent_; }
  Duration rto() const { return rtt_.rto(); }
  const RttEstimator& rtt() const { return rtt_; }
  const CongestionControl& congestion() const { return *cc_; }
  bool in_recovery() const { return in_recovery_; }
  bool in_sack_recovery() const { return in_recovery_ && sack_recovery_; }
  const SackScoreboard& scoreboard() const { return scoreboard_; }
  uint32_t unsent() const;     // bytes written and not yet sent
  uint32_t in_flight() const;  // SND.NXT - SND.UNA
  uint32_t readable_bytes() const { return recv_.readable(); }

 private:
  // connection.cc
  void set_state(TcpState s);
  void enter_closed(TcpError why);
  void enter_time_wait(Instant now);
  void negotiate(const TcpOptions& peer);
  uint32_t now_ms(Instant now) const;

  // connection_input.cc: §3.10.7.2 and §3.10.7.4, by step.
  void on_segment_syn_sent(const TcpView& seg, const TcpOptions& opts, PacketPtr payload,
                           Instant now);
  bool acceptable(SeqNum seq, uint32_t seg_len) const;  // step 1's table
  // Step 5; false means drop the segment (and stop).
  bool process_ack(const TcpView& seg, const TcpOptions& opts, uint32_t data_len, Instant now);
  void on_new_ack(SeqNum ack, const TcpOptions& opts, Instant now);
  void on_dup_ack(Instant now);
  // RFC 6675 §5 step 4.
  void enter_sack_recovery(Instant now);
  RecvResult process_text(SeqNum seq, PacketPtr payload, Instant now);  // step 7
  void complete_handshake(const TcpView& seg, const TcpOptions& opts, Instant now);
  void process_fin(Instant now);  // step 8

  // connection_output.cc
  void output(Instant now);  // sends what the windows, Nagle and SWS allow
  void send_syn(Instant now);
  void send_ack(Instant now);  // a pure ACK now; clears any pending one
  void send_challenge_ack(Instant now);
  void send_rst(SeqNum seq, Instant now);
  // One segment of [seq, seq + len) plus FIN if `fin`, ACK always set;
  // returns the bytes it covered: len, one MSS when the pool cannot hold a
  // super-segment (then no FIN), or 0 when it cannot hold the data at all.
  uint32_t send_segment(SeqNum seq, uint32_t len, bool fin, Instant now);
  uint32_t retransmit_first(Instant now);  // the segment at SND.UNA; returns its length
  // [seq, seq + len) again, the FIN too if the range covers it (SACK recovery).
  void retransmit_range(SeqNum seq, uint32_t len, Instant now);
  // New data output() may send with `usable` bytes of window: its length and
  // whether the FIN goes with it; {0, false} when nothing may go now.
  struct NewData {
    uint32_t len = 0;
    bool fin = false;
  };
  NewData next_data(uint32_t usable) const;
  bool send_data(NewData d, Instant now);  // at SND.NXT; false: the pool is exhausted
  void sack_output(Instant now);           // RFC 6675 §5 (C)
  void emit(const TcpHeader& h, PacketPtr payload);
  void add_sack_blocks(TcpHeader& h) const;
  TcpHeader header(SeqNum seq, uint8_t flags, Instant now);
  uint16_t window_field();                          // what to advertise; updates rcv_adv_
  void ack_received_data(bool force, Instant now);  // delayed ACK policy
  // An ACK a reply may carry: owed until flush_ack() with defer_acks, else
  // for output() to send now.
  void ack_soon() { (config_.defer_acks ? ack_owed_ : ack_now_) = true; }
  void maybe_window_update(Instant now);

  // connection_timers.cc
  void arm_rto(Instant now);
  void on_rto(Instant now);
  void on_persist(Instant now);
  void on_keepalive(Instant now);
  Instant keepalive_deadline() const;
  Instant fin_wait2_deadline() const;
  Duration persist_interval() const;

  SeqNum data_end() const { return send_.end(); }  // FIN's sequence number, if sent
  bool fin_sent() const { return fin_queued_ && snd_max_ > data_end(); }
  bool fin_acked() const { return fin_queued_ && snd_una_ > data_end(); }

  ConnectionConfig config_;
  PacketPool& pool_;
  SegmentSink& sink_;
  Ipv4Address local_, remote_;
  L4Port lport_, rport_;
  TcpState state_ = TcpState::kClosed;
  TcpError error_ = TcpError::kNone;
  StateTrace trace_ = nullptr;
  void* trace_ctx_ = nullptr;

  // Send sequence space (§3.3.1). snd_max_ is the highest sequence number
  // sent, which SND.NXT falls back from when the RTO fires (go-back-N).
  SeqNum iss_, snd_una_, snd_nxt_, snd_max_, snd_wl1_, snd_wl2_;
  uint32_t snd_wnd_ = 0;
  uint32_t max_snd_wnd_ = 0;  // the largest window the peer offered (§3.8.6.2.1)
  bool fin_queued_ = false;   // shutdown_send(): a FIN follows the data

  // Receive sequence space. RCV.NXT is recv_.rcv_nxt(), plus one after a FIN.
  SeqNum irs_;
  SeqNum rcv_adv_;  // right edge of the window we last advertised
  bool fin_received_ = false;
  std::optional<SeqNum> peer_fin_;  // where the peer's FIN is, once seen
  uint32_t unacked_bytes_ = 0;      // received in order since our last ACK
  uint8_t quick_acks_ = 0;          // in-order segments still ACKed at once after a loss
  bool ack_now_ = false;            // an ACK is owed now (output() sends it)
  bool ack_owed_ = false;           // an ACK waits for flush_ack() (defer_acks)

  // Options (negotiated on SYN / SYN-ACK).
  uint32_t snd_mss_ = 536;  // RFC 9293 §3.7.1 default when the peer sends none
  uint8_t snd_wscale_ = 0, rcv_wscale_ = 0;
  bool ws_ok_ = false, sack_ok_ = false, ts_ok_ = false;
  uint32_t ts_recent_ = 0;
  SeqNum last_ack_sent_;

  SendBuffer send_;
  RecvBuffer recv_;
  RttEstimator rtt_;
  RttTimer rtt_timer_;
  Controller cc_;
  bool syn_retransmitted_ = false;

  // Fast retransmit and NewReno recovery (RFC 5681 §3.2, RFC 6582 §3.2).
  uint32_t dup_acks_ = 0;
  bool in_recovery_ = false;
  SeqNum recover_;
  bool recover_valid_ = false;
  // SACK-based loss recovery (RFC 6675), when sack_ok_: the scoreboard of
  // what the peer SACKed, and while in_recovery_ && sack_recovery_, HighRxt
  // and RescueRxt (one past each, as the scoreboard takes them). recover_ is
  // RFC 6675's RecoveryPoint (one past HighData when recovery began).
  SackScoreboard scoreboard_;
  bool sack_recovery_ = false;  // the current recovery is RFC 6675's, not NewReno's
  SeqNum high_rxt_;
  SeqNum rescue_rxt_;

  // Timers: one deadline each, never() when disarmed.
  Instant rto_at_ = Instant::never();
  Instant delack_at_ = Instant::never();
  Instant persist_at_ = Instant::never();
  Instant time_wait_at_ = Instant::never();
  // Keepalive is measured from when the peer was last heard from, an
  // orphan's FIN-WAIT-2 from when both it was orphaned and in FIN-WAIT-2
  // (as Linux); their deadlines are computed, not stored.
  Instant last_heard_ = Instant::never();
  Instant last_probe_ = Instant::never();
  Instant orphaned_at_ = Instant::never();
  Instant fin_wait2_since_ = Instant::never();
  uint32_t keepalive_sent_ = 0;  // probes since the peer was last heard from
  TokenBucket* challenge_limiter_ = nullptr;
  uint32_t persist_backoffs_ = 0;

  ConnectionCounters counters_;
};

}  // namespace sn
