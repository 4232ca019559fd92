// TCP demultiplexing and the shard's socket API over the TCP core.
#include "stack/tcp.h"

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
  arm();
  return n;
}

Result<void> TcpSocket::shutdown() {
  auto r = conn_.shutdown_send(tcp_.stack().now());
  arm();
  return r;
}

void TcpSocket::close() {
  released_ = true;
  on_event_ = nullptr;
  if (conn_.state() != TcpState::kClosed) (void)conn_.shutdown_send(tcp_.stack().now());
  arm();
  // Freed once closed, from the wheel (never inside a caller's stack frame).
  if (conn_.closed()) tcp_.stack().timers().schedule(timer_, tcp_.stack().now());
}

void TcpSocket::abort() {
  released_ = true;
  on_event_ = nullptr;
  conn_.abort(tcp_.stack().now());
  tcp_.stack().timers().schedule(timer_, tcp_.stack().now());
}

void TcpSocket::arm() {
  Instant next = conn_.next_deadline();
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
  Checksum sum;
  checksum_chain(sum, *payload);
  TcpHeader out = h;
  out.src_port = lport_;
  out.dst_port = rport_;
  const uint32_t size = static_cast<uint32_t>(out.size());
  out.emit(std::span<std::byte>(payload->prepend(size), size), local_, remote_, sum.sum(),
           static_cast<uint16_t>(len));
  Ipv4::Send s;
  s.src = local_;
  s.dst = remote_;
  s.protocol = kIpProtoTcp;
  s.df = true;  // the MSS keeps segments within the MTU (RFC 1191 path MTU discovery)
  if (st.ipv4().send(s, std::move(payload))) st.counters().tcp_tx_segments.inc();
}

// ---- Tcp ----

Tcp::Tcp(Stack& stack, const TcpConfig& config)
    : stack_(stack), config_(config), isn_(config.isn_secret), by_port_(65536, nullptr) {
  table_.reserve(config.max_connections);
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

TcpSocket* Tcp::create(Ipv4Address local, L4Port lport, Ipv4Address remote, L4Port rport) {
  ConnectionConfig cc = config_.connection;
  // RFC 6691 / RFC 9293 §3.7.1: our MSS is the interface MTU less 40.
  if (auto hop = stack_.routes().lookup(remote))
    cc.mss = std::min(cc.mss, stack_.iface(hop->iface).mtu - 40);
  auto s = std::unique_ptr<TcpSocket>(new TcpSocket(*this, cc, local, lport, remote, rport));
  TcpSocket* raw = s.get();
  table_.emplace(Key{local.v, remote.v, lport.v, rport.v}, std::move(s));
  return raw;
}

void Tcp::reap(TcpSocket* s) {
  table_.erase(Key{s->local_.v, s->remote_.v, s->lport_.v, s->rport_.v});
}

Result<TcpSocket*> Tcp::connect(Ipv4Address dst, L4Port port) {
  auto src = stack_.ipv4().source_for(dst);
  if (!src) return src.error();
  if (table_.size() >= config_.max_connections)
    return Error{Errc::kNoBuffers, "too many TCP connections"};
  // RFC 6056 §3.3.1-style: a random start, then the first free port.
  constexpr uint32_t kFirst = 49152, kCount = 65536 - kFirst;
  const uint32_t start = static_cast<uint32_t>(stack_.rng().below(kCount));
  for (uint32_t i = 0; i < kCount; ++i) {
    L4Port lport(static_cast<uint16_t>(kFirst + (start + i) % kCount));
    if (by_port_[lport.v] || table_.count(Key{src->v, dst.v, lport.v, port.v})) continue;
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
  return Error{Errc::kAddressInUse, "no free ephemeral TCP port"};
}

void Tcp::after(TcpSocket* s) {
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
  if (s->released_ && s->conn_.closed()) reap(s);
}

// RFC 9293 §3.10.7.1: a segment for no connection. "If the incoming segment
// has the ACK bit set, the reset takes its sequence number from the ACK field
// of the segment, otherwise the reset has sequence number zero and the ACK
// field is set to the sum of the sequence number and segment length."
void Tcp::send_reset(const Ipv4Meta& meta, const TcpView& seg, uint32_t seg_len) {
  PacketPtr p = stack_.pool().alloc();
  if (!p) {
    stack_.counters().drop.no_buffer.inc();
    return;
  }
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
  const uint32_t size = static_cast<uint32_t>(h.size());
  h.emit(std::span<std::byte>(p->prepend(size), size), meta.dst, meta.src, 0, 0);
  Ipv4::Send s;
  s.src = meta.dst;
  s.dst = meta.src;
  s.protocol = kIpProtoTcp;
  if (stack_.ipv4().send(s, std::move(p))) stack_.counters().tcp_tx_resets.inc();
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
  Checksum sum;
  sum.add_sum(pseudo_header_sum(meta.src, meta.dst, kIpProtoTcp, static_cast<uint16_t>(total)));
  checksum_chain(sum, *segment);
  if (sum.finish() != 0) {
    c.drop.tcp_bad_checksum.inc();
    return;
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
  const Instant now = stack_.now();

  auto it = table_.find(Key{meta.dst.v, meta.src.v, seg.dst_port().v, seg.src_port().v});
  if (it != table_.end()) {
    TcpSocket* s = it->second.get();
    s->conn_.on_segment(seg, *opts, std::move(payload), now);
    after(s);  // may free s
    return;
  }
  const uint8_t flags = seg.flags();
  if (flags & kTcpRst) {  // §3.10.7.1: "An incoming segment containing a RST is discarded."
    c.drop.tcp_rst_no_connection.inc();
    return;
  }
  TcpListener* l = by_port_[seg.dst_port().v];
  // §3.10.7.2 (LISTEN): an ACK gets a reset (below); a SYN opens a connection.
  if (l && (flags & kTcpSyn) && !(flags & kTcpAck)) {
    if (l->pending_ >= l->backlog_ || table_.size() >= config_.max_connections) {
      c.drop.tcp_syn_queue_full.inc();  // SYN cookies will answer these (issue 4)
      return;
    }
    TcpSocket* s = create(meta.dst, seg.dst_port(), meta.src, seg.src_port());
    s->listener_ = l;
    ++l->pending_;
    s->conn_.accept_syn(seg, *opts,
                        isn_.isn(meta.dst, seg.dst_port(), meta.src, seg.src_port(), now), now);
    c.tcp_passive_opens.inc();
    after(s);
    return;
  }
  c.drop.tcp_no_connection.inc();
  // §3.10.7.2 (LISTEN), fourth: a segment with none of SYN, ACK and RST
  // "should not be reached. Drop the segment and return." (Linux too.)
  if (l && !(flags & kTcpAck)) return;
  const uint32_t seg_len = data_len + ((flags & kTcpSyn) ? 1 : 0) + ((flags & kTcpFin) ? 1 : 0);
  send_reset(meta, seg, seg_len);
}

}  // namespace sn
