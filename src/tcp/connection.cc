// Connection setup, the application calls, option negotiation, and the one
// place that changes a connection's state.
#include <algorithm>

#include "base/check.h"
#include "tcp/connection.h"

namespace sn {

namespace {
constexpr uint16_t kMinPeerMss = 88;
}  // namespace

const char* to_string(TcpError e) {
  switch (e) {
    case TcpError::kNone:
      return "none";
    case TcpError::kReset:
      return "connection reset by peer";
    case TcpError::kTimedOut:
      return "connection timed out";
    case TcpError::kRefused:
      return "connection refused";
  }
  return "?";
}

Connection::Connection(const ConnectionConfig& config, PacketPool& pool, SegmentSink& sink,
                       Ipv4Address local, L4Port lport, Ipv4Address remote, L4Port rport)
    : config_(config),
      pool_(pool),
      sink_(sink),
      local_(local),
      remote_(remote),
      lport_(lport),
      rport_(rport),
      send_(pool, config.send_buffer),
      recv_(config.recv_buffer, config.max_ooo_segments, &pool),
      rtt_(config.rto),
      cc_(config.cc, CongestionConfig{.mss = config.mss}) {
  SN_CHECK(config.mss >= 64 && config.mss <= 65535);
  SN_CHECK(config.window_scale <= kTcpMaxWindowScale);
}

Connection::~Connection() = default;

std::optional<Error> Connection::error_value() const {
  switch (error_) {
    case TcpError::kNone:
      return std::nullopt;
    case TcpError::kReset:
      return Error{Errc::kClosed, "connection reset by peer"};
    case TcpError::kTimedOut:
      return Error{Errc::kIo, "connection timed out: no answer after the retries"};
    case TcpError::kRefused:
      return Error{Errc::kUnreachable, "connection refused: the peer answered with RST"};
  }
  return std::nullopt;
}

void Connection::set_state(TcpState s) {
  if (s == state_) return;
  const TcpState from = state_;
  state_ = s;
  if (trace_ != nullptr) trace_(trace_ctx_, *this, from, s);
}

void Connection::enter_closed(TcpError why) {
  if (error_ == TcpError::kNone) error_ = why;
  rto_at_ = delack_at_ = persist_at_ = time_wait_at_ = Instant::never();
  set_state(TcpState::kClosed);
}

void Connection::enter_time_wait(Instant now) {
  // §3.10.7.4 step 8: "Start the time-wait timer, turn off the other timers."
  rto_at_ = delack_at_ = persist_at_ = Instant::never();
  time_wait_at_ = now + config_.msl * 2;
  set_state(TcpState::kTimeWait);
}

uint32_t Connection::now_ms(Instant now) const {
  // RFC 7323 §5.4: a clock between 1 ms and 1 s per tick; we use ms of `now`.
  return static_cast<uint32_t>(static_cast<uint64_t>(now.ns() / 1'000'000));
}

SeqNum Connection::rcv_nxt() const {
  return recv_.rcv_nxt() + (fin_received_ ? 1 : 0);
}

uint32_t Connection::effective_mss() const {
  // RFC 9293 §3.7.1: the data per segment is the MSS less the options we send
  // on every segment (timestamps: 10 bytes, padded to 12).
  return snd_mss_ - (ts_ok_ ? 12 : 0);
}

uint32_t Connection::unsent() const {
  return snd_nxt_ < data_end() ? static_cast<uint32_t>(data_end() - snd_nxt_) : 0;
}

uint32_t Connection::in_flight() const {
  return static_cast<uint32_t>(snd_nxt_ - snd_una_);
}

void Connection::negotiate(const TcpOptions& peer) {
  // RFC 6691 / RFC 9293 §3.7.1: the peer's MSS (536 if absent) bounds ours.
  // A floor as Linux's TCP_MIN_MSS (88): a peer's MSS of 0 or a few bytes
  // would leave no room for data beside the options.
  snd_mss_ = std::min<uint32_t>(config_.mss, std::max(peer.mss.value_or(536), kMinPeerMss));
  // RFC 7323 §2.2: scaling is on only if both SYNs carry the option.
  ws_ok_ = peer.window_scale.has_value();
  if (ws_ok_) {
    snd_wscale_ = *peer.window_scale;
    rcv_wscale_ = config_.window_scale;
  } else {
    snd_wscale_ = rcv_wscale_ = 0;
  }
  sack_ok_ = config_.sack && peer.sack_permitted;              // RFC 2018 §2
  ts_ok_ = config_.timestamps && peer.timestamps.has_value();  // RFC 7323 §3.2
  if (ts_ok_) ts_recent_ = peer.timestamps->first;
  // A stand-in for the shard's per-connection cwnd: the controller counts in
  // segments of the negotiated size.
  cc_.make(config_.cc, CongestionConfig{.mss = effective_mss()});
}

Result<void> Connection::connect(SeqNum iss, Instant now) {
  if (state_ != TcpState::kClosed || error_ != TcpError::kNone)
    return Error{Errc::kInvalidArgument, "connect: the connection is not CLOSED and unused"};
  iss_ = iss;
  snd_una_ = snd_nxt_ = snd_max_ = iss;
  send_.reset(iss + 1);
  last_heard_ = now;
  set_state(TcpState::kSynSent);
  send_syn(now);
  return ok();
}

void Connection::accept_syn(const TcpView& syn, const TcpOptions& opts, SeqNum iss, Instant now) {
  SN_CHECK(state_ == TcpState::kClosed);
  // §3.10.7.3 (LISTEN), fourth: "Set RCV.NXT to SEG.SEQ+1, IRS is set to
  // SEG.SEQ ... ISS should be selected and a SYN segment sent".
  irs_ = syn.seq();
  recv_.reset(irs_ + 1);
  rcv_adv_ = irs_ + 1;
  iss_ = iss;
  snd_una_ = snd_nxt_ = snd_max_ = iss;
  send_.reset(iss + 1);
  negotiate(opts);
  // RFC 7323 §2.2: the window of a SYN is never scaled.
  snd_wnd_ = max_snd_wnd_ = syn.window();
  snd_wl1_ = syn.seq();
  snd_wl2_ = iss;
  last_heard_ = now;
  set_state(TcpState::kSynReceived);
  send_syn(now);
}

void Connection::accept_cookie(SeqNum irs, SeqNum iss, const TcpOptions& syn_opts, Instant now) {
  SN_CHECK(state_ == TcpState::kClosed);
  irs_ = irs;
  recv_.reset(irs_ + 1);
  rcv_adv_ = irs_ + 1;
  last_ack_sent_ = irs_ + 1;
  iss_ = iss;
  snd_una_ = iss;
  snd_nxt_ = snd_max_ = iss + 1;  // our SYN-ACK went out (statelessly)
  send_.reset(iss + 1);
  negotiate(syn_opts);
  snd_wl1_ = irs;
  snd_wl2_ = iss;
  last_heard_ = now;
  set_state(TcpState::kSynReceived);
}

uint32_t Connection::write(std::span<const std::byte> data, Instant now) {
  switch (state_) {
    case TcpState::kSynSent:
    case TcpState::kSynReceived:
    case TcpState::kEstablished:
    case TcpState::kCloseWait:
      break;  // §3.10.2 SEND: queued in SYN states, sent once established
    default:
      return 0;
  }
  if (fin_queued_) return 0;
  const uint32_t n = send_.write(data);
  if (state_ == TcpState::kEstablished || state_ == TcpState::kCloseWait) output(now);
  return n;
}

uint32_t Connection::read(std::span<std::byte> out, Instant now) {
  const uint32_t n = recv_.read(out);
  if (n > 0 && is_synchronized(state_)) maybe_window_update(now);
  return n;
}

Result<void> Connection::shutdown_send(Instant now) {
  // §3.10.4 CLOSE, for the sending half.
  switch (state_) {
    case TcpState::kSynSent:
      enter_closed(TcpError::kNone);  // "delete the TCB"
      return ok();
    case TcpState::kSynReceived:
      fin_queued_ = true;  // FIN-WAIT-1 once established, after the queued data
      return ok();
    case TcpState::kEstablished:
      fin_queued_ = true;
      set_state(TcpState::kFinWait1);
      output(now);
      return ok();
    case TcpState::kCloseWait:
      fin_queued_ = true;
      set_state(TcpState::kLastAck);
      output(now);
      return ok();
    default:
      return Error{Errc::kClosed, "shutdown_send: already closing or closed"};
  }
}

void Connection::abort(Instant now) {
  // §3.10.5 ABORT: "send a reset segment <SEQ=SND.NXT><CTL=RST>" in the
  // synchronized states before TIME-WAIT; then delete the TCB.
  switch (state_) {
    case TcpState::kSynReceived:
    case TcpState::kEstablished:
    case TcpState::kFinWait1:
    case TcpState::kFinWait2:
    case TcpState::kCloseWait:
      send_rst(snd_max_, now);
      break;
    default:
      break;
  }
  send_.reset(snd_una_);
  enter_closed(TcpError::kNone);
}

void Connection::orphan(Instant now) {
  if (orphaned_at_ == Instant::never()) orphaned_at_ = now;
}

void Connection::set_nodelay(bool on, Instant now) {
  config_.nodelay = on;
  if (on) output(now);  // what Nagle held back may go now
}

void Connection::set_keepalive(bool on, Instant now) {
  config_.keepalive = on;
  keepalive_sent_ = 0;
  last_heard_ = now;  // the idle time counts from here
}

void Connection::set_congestion(CongestionAlgorithm algorithm) {
  if (algorithm == config_.cc) return;
  config_.cc = algorithm;
  cc_.make(algorithm, CongestionConfig{.mss = effective_mss()});
}

bool Connection::readable() const {
  return recv_.readable() > 0 || fin_received_ || state_ == TcpState::kClosed;
}

bool Connection::writable() const {
  const bool open = state_ == TcpState::kEstablished || state_ == TcpState::kCloseWait;
  return open && !fin_queued_ && send_.free_space() > 0;
}

uint32_t Connection::send_space() const {
  return writable() ? send_.free_space() : 0;
}

}  // namespace sn
