// TCP demultiplexing and the shard's socket API over the TCP core.
#include "stack/tcp.h"

#include <algorithm>
#include <cstring>

#include "stack/chain_checksum.h"
#include "stack/stack.h"
#include "wire/ipv4.h"
#include "wire/tcp.h"

namespace sn {

// ---- TcpSocket ----

TcpSocket::TcpSocket(Tcp& tcp, const ConnectionConfig& config, Ipv4Address local, L4Port lport,
                     Ipv4Address remote, L4Port rport)
    : tcp_(tcp),
      conn_(config, tcp.stack().pool(), *this, local, lport, remote, rport),
      local_(local),
      remote_(remote),
      lport_(lport),
      rport_(rport) {
  timer_.set_callback(
      [](void* a, Instant now) {
        auto* s = static_cast<TcpSocket*>(a);
        s->conn_.on_timer(now);
        s->tcp_.after(s);  // may free s
      },
      this);
}

uint32_t TcpSocket::write(std::span<const std::byte> data) {
  uint32_t n = conn_.write(data, tcp_.stack().now());
  arm();
  return n;
}

uint32_t TcpSocket::read(std::span<std::byte> out) {
  uint32_t n = conn_.read(out, tcp_.stack().now());
  tcp_.list_owed_ack(this);  // a window update
  arm();
  return n;
}

Result<void> TcpSocket::shutdown() {
  auto r = conn_.shutdown_send(tcp_.stack().now());
  arm();
  return r;
}

void TcpSocket::set_nodelay(bool on) {
  conn_.set_nodelay(on, tcp_.stack().now());
  arm();
}

void TcpSocket::set_keepalive(bool on) {
  conn_.set_keepalive(on, tcp_.stack().now());
  arm();
}

void TcpSocket::set_congestion(CongestionAlgorithm algorithm) {
  conn_.set_congestion(algorithm);
}

void TcpSocket::close() {
  // RFC 1122 §4.2.2.13: closing with received data unread loses it: say so
  // with a reset, not a FIN (as Linux's tcp_close does).
  if (conn_.readable_bytes() > 0) return abort();
  released_ = true;
  on_event_ = nullptr;
  const Instant now = tcp_.stack().now();
  conn_.orphan(now);
  if (conn_.state() != TcpState::kClosed) (void)conn_.shutdown_send(now);
  arm();
  // Freed once closed (or moved to the TIME-WAIT table), from the wheel:
  // never inside a caller's stack frame.
  if (conn_.closed() || conn_.state() == TcpState::kTimeWait)
    tcp_.stack().timers().schedule(timer_, now);
}

void TcpSocket::abort() {
  released_ = true;
  on_event_ = nullptr;
  conn_.abort(tcp_.stack().now());
  tcp_.stack().timers().schedule(timer_, tcp_.stack().now());
}

// Lazily, as Linux's TCP timers go: most calls push the deadline later (each
// ACK restarts the retransmission timer), and a timer left at an earlier
// deadline just fires early, finds nothing due and is placed again here. Only
// an earlier deadline moves it: the wheel is touched about once per RTO, not
// once per segment.
void TcpSocket::arm() {
  const Instant next = conn_.next_deadline();
  if (timer_.armed() && timer_.deadline() <= next) return;
  if (next == Instant::never())
    tcp_.stack().timers().cancel(timer_);
  else
    tcp_.stack().timers().schedule(timer_, next);
}

void TcpSocket::send(const TcpHeader& h, PacketPtr payload) {
  Stack& st = tcp_.stack();
  if (!payload) {
    payload = st.pool().alloc();
    if (!payload) {
      st.counters().drop.no_buffer.inc();
      return;
    }
  }
  const uint32_t len = payload->chain_size();
  TcpHeader out = h;
  out.src_port = lport_;
  out.dst_port = rport_;
  const uint32_t size = static_cast<uint32_t>(out.size());
  // The checksum is left partial: IPv4 completes it unless the port can.
  out.emit_partial(std::span<std::byte>(payload->prepend(size), size), local_, remote_,
                   static_cast<uint16_t>(len));
  payload->l4_csum_partial = true;
  Ipv4::Send s;
  s.src = local_;
  s.dst = remote_;
  s.protocol = kIpProtoTcp;
  s.df = true;  // the MSS keeps segments within the MTU (RFC 1191 path MTU discovery)
  s.route = &route_;
  if (st.ipv4().send(s, std::move(payload))) st.counters().tcp_tx_segments.inc();
}

// ---- Tcp ----

namespace {

// A key for one use of the shard's secret: SipHash of a tag under it, twice.
SipKey derive_key(const SipKey& secret, uint8_t tag) {
  SipKey k;
  for (uint8_t half = 0; half < 2; ++half) {
    const std::array<std::byte, 2> in = {std::byte{tag}, std::byte{half}};
    const uint64_t h = siphash24(secret, in);
    for (int i = 0; i < 8; ++i)
      k[half * 8 + i] = static_cast<uint8_t>(h >> (8 * i));
  }
  return k;
}

// A 64-bit secret for one of the 4-tuple tables.
uint64_t table_secret(const SipKey& secret, uint8_t tag) {
  const std::array<std::byte, 1> in = {std::byte{tag}};
  return siphash24(secret, in);
}

uint32_t now_ms(Instant now) {  // the connection's TSval clock (connection.cc)
  return static_cast<uint32_t>(static_cast<uint64_t>(now.ns() / 1'000'000));
}

}  // namespace

Tcp::Tcp(Stack& stack, const TcpConfig& config)
    : stack_(stack),
      config_(config),
      isn_(config.isn_secret),
      cookies_(derive_key(config.isn_secret, 1)),
      port_key_(derive_key(config.isn_secret, 2)),
      next_ephemeral_(static_cast<uint16_t>(stack.rng().next())),
      challenge_acks_(config.challenge_ack_limit, config.challenge_ack_limit, stack.now()),
      table_(table_secret(config.isn_secret, 3)),
      tw_(config.max_time_wait, table_secret(config.isn_secret, 4)),
      by_port_(65536, nullptr) {
  // Room for a few thousand at first; past that the table grows as
  // connections come (a configured maximum in the hundreds of thousands
  // would otherwise make every lookup a cache miss in a sparse table).
  table_.reserve(std::min<uint32_t>(config.max_connections, 4096));
  owed_acks_.reserve(64);
  tw_timer_.set_callback(
      [](void* a, Instant now) {
        auto* t = static_cast<Tcp*>(a);
        (void)t->tw_.expire(now);
        t->arm_time_wait();
      },
      this);
}

Tcp::~Tcp() = default;

Result<TcpListener*> Tcp::listen(L4Port port, uint32_t backlog, TcpListener::AcceptFn on_accept,
                                 void* arg) {
  if (port.v == 0) return Error{Errc::kInvalidArgument, "listen on port 0"};
  if (by_port_[port.v]) return Error{Errc::kAddressInUse, "TCP port already listening"};
  auto l = std::make_unique<TcpListener>();
  l->port_ = port;
  l->backlog_ = backlog;
  l->on_accept_ = on_accept;
  l->arg_ = arg;
  by_port_[port.v] = l.get();
  listeners_.push_back(std::move(l));
  return listeners_.back().get();
}

void Tcp::unlisten(TcpListener* l) {
  std::vector<TcpSocket*> pending;
  table_.for_each([&](const TcpKey&, const std::unique_ptr<TcpSocket>& s) {
    if (s->listener_ == l) pending.push_back(s.get());
  });
  for (TcpSocket* s : pending) {
    s->listener_ = nullptr;
    s->abort();
  }
  by_port_[l->port_.v] = nullptr;
  std::erase_if(listeners_, [l](const auto& p) { return p.get() == l; });
}

// RFC 6691 / RFC 9293 §3.7.1: our MSS is the interface's MTU less 40.
uint32_t Tcp::our_mss(Ipv4Address remote) const {
  auto hop = stack_.routes().lookup(remote);
  if (!hop) return config_.connection.mss;
  return std::min(config_.max_mss, std::max<uint32_t>(stack_.iface(hop->iface).mtu, 576) - 40);
}

// The payload of a TSO super-segment to `remote`: what the route's port takes
// (Port::tx_tso_max), less the IP header and the largest TCP header.
uint32_t Tcp::tso_max(Ipv4Address remote) const {
  if (!config_.tso) return 0;
  auto hop = stack_.routes().lookup(remote);
  if (!hop) return 0;
  const Interface& ifc = stack_.iface(hop->iface);
  const uint32_t datagram = ifc.port->tx_tso_max();
  return ifc.port->tx_l4_csum_offload() && datagram > 80 ? datagram - 80 : 0;
}

TcpSocket* Tcp::create(Ipv4Address local, L4Port lport, Ipv4Address remote, L4Port rport) {
  ConnectionConfig cc = config_.connection;
  cc.mss = our_mss(remote);
  cc.tso_max = tso_max(remote);
  cc.defer_acks = true;  // flush_acks() sends them before the stack transmits
  auto s = std::unique_ptr<TcpSocket>(new TcpSocket(*this, cc, local, lport, remote, rport));
  TcpSocket* raw = s.get();
  raw->conn_.set_challenge_ack_limiter(&challenge_acks_);
  table_.put(TcpKey{local.v, remote.v, lport.v, rport.v}, std::move(s));
  update_gauges();
  return raw;
}

void Tcp::update_gauges() {
  stack_.counters().tcp_connections.set(table_.size());
  stack_.counters().tcp_time_wait.set(tw_.size());
}

void Tcp::reap(TcpSocket* s) {
  fold_counters(s);  // what it counted since the last after()
  // Closed (or in the TIME-WAIT table, its last ACK sent): it owes nothing.
  if (s->ack_listed_) std::erase(owed_acks_, s);
  if (closed_.erase(s) == 0)
    table_.erase(TcpKey{s->local_.v, s->remote_.v, s->lport_.v, s->rport_.v});
  update_gauges();
}

void Tcp::to_time_wait(TcpSocket* s) {
  const Connection& c = s->conn_;
  TimeWaitEntry e;
  e.key = TcpKey{s->local_.v, s->remote_.v, s->lport_.v, s->rport_.v};
  e.snd_nxt = c.snd_max();
  e.rcv_nxt = c.rcv_nxt();
  e.ts_ok = c.ts_ok();
  e.ts_recent = c.ts_recent();
  e.window = static_cast<uint16_t>(std::min<uint32_t>(c.rcv_wnd() >> c.rcv_wscale(), 0xffff));
  e.expires = c.next_deadline();  // TIME-WAIT's is the only timer left
  stack_.counters().tcp_time_wait_entered.inc();
  if (tw_.insert(e)) stack_.counters().tcp_time_wait_overflow.inc();
  reap(s);
  arm_time_wait();
}

void Tcp::arm_time_wait() {
  const Instant next = tw_.expire(stack_.now());
  if (next == Instant::never())
    stack_.timers().cancel(tw_timer_);
  else
    stack_.timers().schedule(tw_timer_, next);
  update_gauges();
}

// RFC 6056 §3.3.3 (Algorithm 3): a keyed hash of the remote end picks where
// each destination's search starts, and a counter moves it on, so one peer
// sees ports in sequence but cannot learn another's. With several shards only
// the ports that hash back to this one qualify (about 1 in N).
L4Port Tcp::ephemeral_port(Ipv4Address local, Ipv4Address remote, L4Port rport) {
  const uint32_t first = config_.ephemeral_first;
  const uint32_t count = uint32_t{config_.ephemeral_last} - first + 1;
  const uint32_t offset = hash_tuple(port_key_, local, L4Port{0}, remote, rport);
  for (uint32_t i = 0; i < count; ++i) {
    L4Port p(static_cast<uint16_t>(first + (next_ephemeral_ + offset) % count));
    ++next_ephemeral_;
    const TcpKey key{local.v, remote.v, p.v, rport.v};
    if (by_port_[p.v] || table_.find(key) || tw_.find(key, stack_.now())) continue;
    // One shard of several: only a port whose replies are steered here.
    if (const StackSteering* st = stack_.steering();
        st != nullptr && !st->owns_tuple(kIpProtoTcp, local, p, remote, rport))
      continue;
    return p;
  }
  return L4Port{0};
}

Result<TcpSocket*> Tcp::connect(Ipv4Address dst, L4Port port) {
  auto src = stack_.ipv4().source_for(dst);
  if (!src) return src.error();
  if (table_.size() >= config_.max_connections)
    return Error{Errc::kNoBuffers, "too many TCP connections"};
  const L4Port lport = ephemeral_port(*src, dst, port);
  if (lport.v == 0) return Error{Errc::kAddressInUse, "no free ephemeral TCP port"};
  TcpSocket* s = create(*src, lport, dst, port);
  const Instant now = stack_.now();
  auto r = s->conn_.connect(isn_.isn(*src, lport, dst, port, now), now);
  if (!r) {
    reap(s);
    return r.error();
  }
  stack_.counters().tcp_active_opens.inc();
  s->arm();
  return s;
}

void Tcp::fold_counters(TcpSocket* s) {
  const ConnectionCounters& now = s->conn_.counters();
  ConnectionCounters& was = s->reported_;
  StackCounters::Connections& total = stack_.counters().conn;
  // The two that move with every call first; the rest, which rarely do,
  // only if any of them moved (one block compare instead of ~20 branches).
  total.segments_in.inc(now.segments_in - was.segments_in);
  total.segments_out.inc(now.segments_out - was.segments_out);
  was.segments_in = now.segments_in;
  was.segments_out = now.segments_out;
  if (std::memcmp(&now, &was, sizeof now) == 0) return;
#define SN_FOLD(name) \
  if (now.name != was.name) total.name.inc(now.name - was.name);
  SN_CONNECTION_COUNTERS(SN_FOLD)
#undef SN_FOLD
  was = now;
}

void Tcp::list_owed_ack(TcpSocket* s) {
  if (s->ack_listed_ || !s->conn_.ack_owed()) return;
  s->ack_listed_ = true;
  owed_acks_.push_back(s);
}

void Tcp::flush_acks() {
  const Instant now = stack_.now();
  for (TcpSocket* s : owed_acks_) {
    s->ack_listed_ = false;
    if (!s->conn_.ack_owed()) continue;  // a reply carried it
    s->conn_.flush_ack(now);
    fold_counters(s);
  }
  owed_acks_.clear();
}

void Tcp::after(TcpSocket* s) {
  fold_counters(s);
  list_owed_ack(s);
  s->arm();
  if (TcpListener* l = s->listener_) {
    const TcpState st = s->conn_.state();
    if (st == TcpState::kEstablished || st == TcpState::kCloseWait) {
      --l->pending_;
      s->listener_ = nullptr;
      stack_.counters().tcp_accepted.inc();
      l->on_accept_(l->arg_, *s);
    } else if (st == TcpState::kClosed) {  // the handshake failed
      --l->pending_;
      s->listener_ = nullptr;
      s->released_ = true;
    }
  }
  if (!s->released_ && s->on_event_) s->on_event_(s->arg_, *s);
  if (s->conn_.closed()) {
    if (s->released_) {
      reap(s);
    } else {
      // Out of the table: its 4-tuple answers as a closed port from now on.
      const TcpKey key{s->local_.v, s->remote_.v, s->lport_.v, s->rport_.v};
      if (const auto* in = table_.find(key); in != nullptr && in->get() == s) {
        closed_.emplace(s, table_.take(key));
        update_gauges();
      }
    }
  } else if (s->released_ && s->conn_.state() == TcpState::kTimeWait) {
    to_time_wait(s);
  }
}

bool Tcp::send_bare(Ipv4Address local, Ipv4Address remote, const TcpHeader& h) {
  PacketPtr p = stack_.pool().alloc();
  if (!p) {
    stack_.counters().drop.no_buffer.inc();
    return false;
  }
  const uint32_t size = static_cast<uint32_t>(h.size());
  h.emit(std::span<std::byte>(p->prepend(size), size), local, remote, 0, 0);
  Ipv4::Send s;
  s.src = local;
  s.dst = remote;
  s.protocol = kIpProtoTcp;
  s.df = true;
  if (!stack_.ipv4().send(s, std::move(p))) return false;
  stack_.counters().tcp_tx_segments.inc();
  return true;
}

// RFC 9293 §3.10.7.1: a segment for no connection. "If the incoming segment
// has the ACK bit set, the reset takes its sequence number from the ACK field
// of the segment, otherwise the reset has sequence number zero and the ACK
// field is set to the sum of the sequence number and segment length."
void Tcp::send_reset(const Ipv4Meta& meta, const TcpView& seg, uint32_t seg_len) {
  TcpHeader h;
  h.src_port = seg.dst_port();
  h.dst_port = seg.src_port();
  if (seg.flags() & kTcpAck) {
    h.seq = seg.ack();
    h.flags = kTcpRst;
  } else {
    h.seq = SeqNum{0};
    h.ack = seg.seq() + seg_len;
    h.flags = kTcpRst | kTcpAck;
  }
  if (send_bare(meta.dst, meta.src, h)) stack_.counters().tcp_tx_resets.inc();
}

// A SYN-ACK whose ISN is a cookie (RFC 4987 §3.6): nothing is kept. The
// options beyond MSS are offered only with timestamps, whose TSval carries
// them (syn_cookie.h).
void Tcp::send_cookie(const Ipv4Meta& meta, const TcpView& syn, const TcpOptions& opts) {
  const Instant now = stack_.now();
  const ConnectionConfig& cc = config_.connection;
  TcpHeader h;
  h.src_port = syn.dst_port();
  h.dst_port = syn.src_port();
  h.seq =
      cookies_.make(meta.dst, syn.dst_port(), meta.src, syn.src_port(), syn.seq(), opts.mss, now);
  h.ack = syn.seq() + 1;
  h.flags = kTcpSyn | kTcpAck;
  h.window = static_cast<uint16_t>(std::min<uint32_t>(cc.recv_buffer, 0xffff));
  h.options.mss = static_cast<uint16_t>(our_mss(meta.src));
  if (cc.timestamps && opts.timestamps) {
    const bool ws = opts.window_scale.has_value();
    const bool sack = cc.sack && opts.sack_permitted;
    if (ws) h.options.window_scale = cc.window_scale;
    h.options.sack_permitted = sack;
    h.options.timestamps = {
        {SynCookies::encode_tsval(now_ms(now), ws ? opts.window_scale : std::nullopt, sack),
         opts.timestamps->first}};
  }
  last_cookie_ = now;
  if (send_bare(meta.dst, meta.src, h)) stack_.counters().tcp_syn_cookies_sent.inc();
}

// The ACK that completes a cookie's handshake: rebuild the connection from
// what the cookie and the timestamps carry. Null if it does not check out.
TcpSocket* Tcp::accept_cookie(TcpListener& l, const Ipv4Meta& meta, const TcpView& ack,
                              const TcpOptions& opts, bool* table_full) {
  const Instant now = stack_.now();
  // Only while cookies are being sent (Linux: tcp_synq_no_recent_overflow),
  // so a stray ACK is not checked against them for ever.
  if (last_cookie_ == Instant::never() || now - last_cookie_ > Duration::seconds(3 * 64))
    return nullptr;
  const SeqNum peer_isn = ack.seq() - 1;
  auto mss = cookies_.check(meta.dst, ack.dst_port(), meta.src, ack.src_port(), peer_isn,
                            ack.ack() - 1, now);
  if (!mss) {
    stack_.counters().tcp_syn_cookies_failed.inc();  // an event; the drop is tcp_no_connection
    return nullptr;
  }
  if (table_.size() >= config_.max_connections) {
    stack_.counters().drop.tcp_table_full.inc();
    *table_full = true;
    return nullptr;
  }
  TcpOptions syn;
  syn.mss = *mss;
  if (config_.connection.timestamps && opts.timestamps) {
    const CookieOptions o = SynCookies::decode_tsecr(opts.timestamps->second, *mss);
    syn.window_scale = o.window_scale;
    syn.sack_permitted = o.sack_permitted;
    syn.timestamps = {{opts.timestamps->first, 0}};
  }
  TcpSocket* s = create(meta.dst, ack.dst_port(), meta.src, ack.src_port());
  s->listener_ = &l;
  ++l.pending_;
  s->conn_.accept_cookie(peer_isn, ack.ack() - 1, syn, now);
  stack_.counters().tcp_syn_cookies_accepted.inc();
  stack_.counters().tcp_passive_opens.inc();
  return s;
}

// A segment for a connection in the TIME-WAIT table (RFC 9293 §3.10.7.4 in
// TIME-WAIT, RFC 7323 §5.3 PAWS, RFC 6191 for a new SYN, RFC 1337 for RST).
bool Tcp::time_wait_input(TimeWaitEntry& tw, const Ipv4Meta& meta, const TcpView& seg,
                          const TcpOptions& opts, uint32_t data_len, SeqNum* reopen_above) {
  StackCounters& c = stack_.counters();
  const uint8_t f = seg.flags();
  const Instant now = stack_.now();
  // RFC 1337 ("TIME-WAIT assassination"): ignore RSTs in TIME-WAIT. (Linux
  // by default lets an in-window RST end it; nothing relies on that.)
  if (f & kTcpRst) {
    c.drop.tcp_time_wait_rst.inc();
    return true;
  }
  const bool has_ts = tw.ts_ok && opts.timestamps.has_value();
  // RFC 6191 §2: a SYN may start a new incarnation if its timestamp is newer
  // than the old connection's last, or, without timestamps, if its
  // sequence number is above the old RCV.NXT (RFC 1122 §4.2.2.13).
  if ((f & kTcpSyn) && !(f & kTcpAck)) {
    const bool newer = has_ts ? static_cast<int32_t>(opts.timestamps->first - tw.ts_recent) > 0
                              : (!tw.ts_ok && seg.seq() > tw.rcv_nxt);
    if (newer) {
      c.tcp_time_wait_reopened.inc();
      *reopen_above = tw.snd_nxt;
      tw_.erase(tw.key);
      update_gauges();
      return false;
    }
  }
  // A retransmitted FIN (our ACK of it was lost) restarts the 2*MSL wait
  // (§3.10.7.4 step 8) and is acknowledged again; so is anything else that
  // is not just an ACK (old data, a SYN): <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>.
  // A bare ACK in order gets nothing, lest two ends trade ACKs.
  const bool paws_fail = has_ts && static_cast<int32_t>(opts.timestamps->first - tw.ts_recent) < 0;
  if ((f & kTcpFin) && !paws_fail && seg.seq() + data_len + 1 == tw.rcv_nxt) {
    tw_.restart(tw.key, now + config_.connection.msl * 2);
    if (has_ts) tw.ts_recent = opts.timestamps->first;  // RFC 7323 §4.3
  } else if (!(f & (kTcpFin | kTcpSyn)) && data_len == 0 && !paws_fail && seg.seq() == tw.rcv_nxt)
    return true;
  // Under the shard's challenge-ACK budget (RFC 5961 §7): a stream of
  // segments at a TIME-WAIT entry must not become a stream of ACKs.
  if (!challenge_acks_.take(now)) return true;
  TcpHeader h;
  h.src_port = seg.dst_port();
  h.dst_port = seg.src_port();
  h.seq = tw.snd_nxt;
  h.ack = tw.rcv_nxt;
  h.flags = kTcpAck;
  h.window = tw.window;
  if (tw.ts_ok) h.options.timestamps = {{now_ms(now), tw.ts_recent}};
  if (send_bare(meta.dst, meta.src, h)) c.tcp_time_wait_acks.inc();
  arm_time_wait();
  return true;
}

// §3.10.7.2, LISTEN: a SYN opens a connection, an ACK may complete a
// cookie's handshake; anything else is answered by receive().
void Tcp::listen_input(TcpListener& l, const Ipv4Meta& meta, const TcpView& seg,
                       const TcpOptions& opts, PacketPtr payload, std::optional<SeqNum> isn_above) {
  StackCounters& c = stack_.counters();
  const Instant now = stack_.now();
  const uint8_t f = seg.flags();
  if (f & kTcpSyn) {
    if (table_.size() >= config_.max_connections) {
      c.drop.tcp_table_full.inc();
      return;
    }
    if (l.pending_ >= l.backlog_) {
      if (config_.syn_cookies)
        send_cookie(meta, seg, opts);
      else
        c.drop.tcp_syn_queue_full.inc();
      return;
    }
    TcpSocket* s = create(meta.dst, seg.dst_port(), meta.src, seg.src_port());
    s->listener_ = &l;
    ++l.pending_;
    SeqNum iss = isn_.isn(meta.dst, seg.dst_port(), meta.src, seg.src_port(), now);
    // Linux (tcp_timewait_state_process) starts at the old SND.NXT + 65537.
    if (isn_above && !(iss > *isn_above + 65536)) iss = *isn_above + 65537;
    s->conn_.accept_syn(seg, opts, iss, now);
    c.tcp_passive_opens.inc();
    after(s);
    return;
  }
  bool cookie_valid_table_full = false;
  TcpSocket* s = accept_cookie(l, meta, seg, opts, &cookie_valid_table_full);
  if (s == nullptr) {
    if (cookie_valid_table_full) return;  // counted; the peer retransmits
    c.drop.tcp_no_connection.inc();
    send_reset(meta, seg, 0);  // the ACK bit is set: <SEQ=SEG.ACK><CTL=RST>
    return;
  }
  s->conn_.on_segment(seg, opts, std::move(payload), now);
  after(s);
}

void Tcp::receive(const Ipv4Meta& meta, PacketPtr segment) {
  StackCounters& c = stack_.counters();
  // RFC 1122 §4.2.3.10: TCP is for unicast only.
  if (meta.broadcast) {
    c.drop.tcp_broadcast.inc();
    return;
  }
  const uint32_t total = segment->chain_size();
  // The header is in the first link (a reassembled datagram's first fragment
  // would have to be under 60 bytes for it not to be; such a segment is
  // dropped as malformed).
  auto view = TcpView::parse(segment->bytes());
  if (!view) {
    c.drop.tcp_malformed.inc();
    return;
  }
  if (!segment->l4_csum_ok) {
    Checksum sum;
    sum.add_sum(pseudo_header_sum(meta.src, meta.dst, kIpProtoTcp, static_cast<uint16_t>(total)));
    checksum_chain(sum, *segment);
    if (sum.finish() != 0) {
      c.drop.tcp_bad_checksum.inc();
      return;
    }
  }
  auto opts = TcpOptions::parse(view->options());
  if (!opts) {
    c.drop.tcp_bad_option.inc();
    return;
  }
  c.tcp_rx_segments.inc();
  // The header is copied out (at most 60 bytes) so that the view outlives the
  // payload, which is handed over to the connection.
  const uint32_t hlen = static_cast<uint32_t>(view->header_length());
  std::array<std::byte, 60> header;
  std::memcpy(header.data(), segment->data(), hlen);
  const TcpView seg = *TcpView::parse(std::span<const std::byte>(header.data(), hlen));
  const uint32_t data_len = total - hlen;
  segment->trim_front(hlen);
  PacketPtr payload = data_len > 0 ? std::move(segment) : nullptr;

  const TcpKey key{meta.dst.v, meta.src.v, seg.dst_port().v, seg.src_port().v};
  if (const auto* in = table_.find(key)) {
    TcpSocket* s = in->get();
    s->conn_.on_segment(seg, *opts, std::move(payload), stack_.now());
    after(s);  // may free s
    return;
  }
  std::optional<SeqNum> isn_above;
  if (TimeWaitEntry* tw = tw_.find(key, stack_.now())) {
    SeqNum above;
    if (time_wait_input(*tw, meta, seg, *opts, data_len, &above)) return;
    isn_above = above;
  }
  const uint8_t flags = seg.flags();
  if (flags & kTcpRst) {  // §3.10.7.1: "An incoming segment containing a RST is discarded."
    c.drop.tcp_rst_no_connection.inc();
    return;
  }
  TcpListener* l = by_port_[seg.dst_port().v];
  // §3.10.7.2 (LISTEN), fourth: a segment with none of SYN, ACK and RST
  // "should not be reached. Drop the segment and return." (Linux too.) A
  // SYN-ACK is answered with a reset, below.
  if (l && !(flags & kTcpAck)) {
    if (flags & kTcpSyn) {
      listen_input(*l, meta, seg, *opts, std::move(payload), isn_above);
      return;
    }
    c.drop.tcp_no_connection.inc();
    return;
  }
  if (l && !(flags & kTcpSyn)) {
    listen_input(*l, meta, seg, *opts, std::move(payload));
    return;
  }
  c.drop.tcp_no_connection.inc();
  const uint32_t seg_len = data_len + ((flags & kTcpSyn) ? 1 : 0) + ((flags & kTcpFin) ? 1 : 0);
  send_reset(meta, seg, seg_len);
}

}  // namespace sn
