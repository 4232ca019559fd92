// The socket module: host frames to socket calls and back. See socket_module.h.
#include "engine/socket_module.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <vector>

#include "base/fifo.h"
#include "buf/packet.h"

namespace sn {

using host::Command;
using host::Event;
using host::FrameHeader;

namespace {

constexpr uint8_t kFree = 0, kListener = 1, kTcp = 2, kUdp = 3;
constexpr uint8_t kOwnedByHost = 0, kOwnedByShard = 1;
constexpr uint32_t kSlotBits = 20;
constexpr uint32_t kCommandsPerPoll = 64;  // per host: one host cannot starve the others

int32_t status_of(TcpError e) {
  switch (e) {
    case TcpError::kNone:
      return 0;
    case TcpError::kReset:
      return -ECONNRESET;
    case TcpError::kTimedOut:
      return -ETIMEDOUT;
    case TcpError::kRefused:
      return -ECONNREFUSED;
  }
  return -EIO;
}

int32_t status_of(const Error& e) {
  switch (e.code) {
    case Errc::kAddressInUse:
      return -EADDRINUSE;
    case Errc::kInvalidArgument:
      return -EINVAL;
    case Errc::kNoBuffers:
      return -ENOBUFS;
    case Errc::kUnreachable:
      return -ENETUNREACH;
    case Errc::kWouldBlock:
      return -EAGAIN;
    default:
      return -EIO;
  }
}

FrameHeader event(Event kind, uint32_t handle, uint32_t user = 0, int32_t status = 0) {
  FrameHeader h{};
  h.kind = static_cast<uint16_t>(kind);
  h.handle = handle;
  h.user = user;
  h.status = status;
  return h;
}

}  // namespace

struct SocketModule::Link {
  uint32_t host = 0;
  std::byte* base = nullptr;
  host::RegionLayout layout;
  int wake_fd = -1;
  host::FrameSet in_set, out_set;
  ShmRingConsumer in_post, out_free;
  ShmRingProducer in_free, out_post;
  std::vector<uint8_t> in_owner, out_owner;
  std::vector<uint32_t> out_spare;  // outbound frames this shard holds
  // Events that found no frame, in order; `announce` (a handle, or 0): the
  // socket whose data may follow once this one is out.
  struct Pending {
    FrameHeader h;
    uint32_t announce;
  };
  Fifo<Pending> control;
  uint32_t sockets = 0;
  host::WakeFlags* flags = nullptr;
  bool dead = false;    // broke the protocol: ignored until detached
  bool posted = false;  // events posted since the last wake check
};

struct SocketModule::Sock {
  SocketModule* module = nullptr;
  Link* link = nullptr;
  uint32_t slot = 0;
  uint32_t gen = 0;
  uint8_t kind = kFree;
  uint32_t user = 0;
  TcpListener* listener = nullptr;
  TcpSocket* tcp = nullptr;
  UdpSocket* udp = nullptr;
  struct Send {
    uint32_t offset, length;
  };
  Fifo<Send> sends;  // inbound frames whose bytes are not all in the socket
  uint32_t sent_of_first = 0;
  bool connecting = false;  // an active open not yet reported
  bool announced = false;   // the host knows the handle: data may follow
  bool eof_posted = false;
  bool closed_posted = false;
  bool shutdown_pending = false;  // FIN once the sends are in
  bool host_closed = false;       // close once the sends are in
  bool in_ready = false;
};

SocketModule::SocketModule(Stack& stack, uint32_t shard, ViolationFn on_violation, void* arg)
    : stack_(stack), shard_(shard), on_violation_(on_violation), violation_arg_(arg) {}

SocketModule::~SocketModule() {
  while (!links_.empty())
    detach(links_.back()->host);
}

SocketModule::Link* SocketModule::link_of(uint32_t host) {
  for (auto& l : links_)
    if (l->host == host) return l.get();
  return nullptr;
}

void SocketModule::attach(uint32_t host, std::byte* base, const host::RegionLayout& layout,
                          int wake_fd) {
  auto l = std::make_unique<Link>();
  l->host = host;
  l->base = base;
  l->layout = layout;
  l->wake_fd = wake_fd;
  l->in_set = layout.in_frames(shard_);
  l->out_set = layout.out_frames(shard_);
  const host::ShardQueues& q = layout.queues[shard_];
  const uint32_t cap = layout.ring_capacity;
  l->in_free = ShmRingProducer(base + q.in_free, cap);
  l->in_post = ShmRingConsumer(base + q.in_post, cap);
  l->out_free = ShmRingConsumer(base + q.out_free, cap);
  l->out_post = ShmRingProducer(base + q.out_post, cap);
  l->flags = reinterpret_cast<host::WakeFlags*>(base + layout.flags);
  // Every inbound frame is the host's to fill; every outbound frame ours.
  l->in_owner.assign(l->in_set.count, kOwnedByHost);
  for (uint32_t i = 0; i < l->in_set.count; ++i)
    (void)l->in_free.push(l->in_set.offset(i));
  l->posted = true;  // a host already waiting for those frames is woken
  l->out_owner.assign(l->out_set.count, kOwnedByShard);
  for (uint32_t i = l->out_set.count; i-- > 0;)
    l->out_spare.push_back(l->out_set.offset(i));
  links_.push_back(std::move(l));
  counters_.host_attaches.inc();
}

void SocketModule::detach(uint32_t host) {
  Link* l = link_of(host);
  if (l == nullptr) return;
  for (Sock& s : socks_) {
    if (s.kind == kFree || s.link != l) continue;
    s.sends.clear();  // the region is going: nothing goes back to it
    if (s.listener) stack_.tcp().unlisten(s.listener);
    if (s.udp) stack_.udp().close(s.udp);
    // As a process's exit does on Linux: FIN, or RST if it left data
    // unread (and for data that comes after).
    if (s.tcp) s.tcp->close();
    s.listener = nullptr;
    s.udp = nullptr;
    s.tcp = nullptr;
    free_sock(s);
  }
  std::erase_if(ready_, [l](Sock* s) { return s->link == l; });
  std::erase_if(links_, [l](const auto& p) { return p.get() == l; });
  counters_.host_detaches.inc();
}

void SocketModule::violation(Link& l, const char* why) {
  if (l.dead) return;
  l.dead = true;
  counters_.host_violations.inc();
  on_violation_(violation_arg_, l.host, why);
}

// ---- Sockets ----

uint32_t SocketModule::handle_of(const Sock& s) const {
  return ((s.gen & 0xfff) << kSlotBits) | (s.slot + 1);
}

SocketModule::Sock& SocketModule::new_sock(Link& l, uint8_t kind, uint32_t user) {
  uint32_t slot;
  if (!free_socks_.empty()) {
    slot = free_socks_.back();
    free_socks_.pop_back();
  } else {
    slot = static_cast<uint32_t>(socks_.size());
    socks_.emplace_back();
    // A socket is at most once on each list: room for all of them, made
    // here at setup, so that the data path never grows one (which list
    // reaches a new high first depends on timing: ready_ and ready_now_
    // swap every poll).
    if (ready_.capacity() < socks_.size()) {
      const size_t room = 2 * socks_.size();
      ready_.reserve(room);
      ready_now_.reserve(room);
      free_socks_.reserve(room);
    }
  }
  Sock& s = socks_[slot];
  const uint32_t gen = s.gen + 1;
  s = Sock{};
  s.module = this;
  s.link = &l;
  s.slot = slot;
  s.gen = gen;
  s.kind = kind;
  s.user = user;
  ++sockets_in_use_;
  ++l.sockets;
  return s;
}

void SocketModule::free_sock(Sock& s) {
  if (s.link != nullptr && !s.link->dead)
    for (const Sock::Send& snd : s.sends)
      give_back(*s.link, snd.offset);
  s.sends.clear();
  if (s.link != nullptr) --s.link->sockets;
  s.kind = kFree;
  s.in_ready = false;
  free_socks_.push_back(s.slot);
  --sockets_in_use_;
}

SocketModule::Sock* SocketModule::sock_of(Link& l, uint32_t handle, const char* what) {
  const uint32_t slot = (handle & ((1u << kSlotBits) - 1)) - 1;
  if (slot < socks_.size()) {
    Sock& s = socks_[slot];
    if (s.kind != kFree && s.link == &l && !s.host_closed && handle_of(s) == handle) return &s;
  }
  violation(l, what);
  return nullptr;
}

void SocketModule::ready(Sock& s) {
  if (s.in_ready || s.kind == kFree) return;
  s.in_ready = true;
  ready_.push_back(&s);
}

void SocketModule::on_tcp_event(void* arg, TcpSocket&) {
  Sock& s = *static_cast<Sock*>(arg);
  s.module->pump_sends(s);
  s.module->ready(s);
}

void SocketModule::on_udp(void* arg, UdpSocket&) {
  Sock& s = *static_cast<Sock*>(arg);
  s.module->ready(s);
}

void SocketModule::on_accept(void* arg, TcpSocket& t) {
  Sock& ls = *static_cast<Sock*>(arg);
  SocketModule& m = *ls.module;
  if (ls.link->sockets >= m.max_sockets_) {
    m.counters_.host_socket_limit.inc();
    t.abort();
    return;
  }
  Sock& s = m.new_sock(*ls.link, kTcp, ls.user);
  s.tcp = &t;
  t.set_on_event(&SocketModule::on_tcp_event, &s);
  FrameHeader h = event(Event::kAccepted, m.handle_of(s), ls.user);
  h.addr = t.remote_address().v;
  h.port = t.remote_port().v;
  m.post_control(*ls.link, h, m.handle_of(s));
}

// ---- Frames ----

void SocketModule::give_back(Link& l, uint32_t offset) {
  l.in_owner[*l.in_set.index_of(offset)] = kOwnedByHost;
  if (!l.in_free.push(offset)) violation(l, "in_free ring broken");
  l.posted = true;  // a host waiting to send may sleep: wake it
}

bool SocketModule::post(Link& l, const FrameHeader& h, std::span<const std::byte> payload) {
  if (l.out_spare.empty()) return false;
  const uint32_t off = l.out_spare.back();
  l.out_spare.pop_back();
  if (!payload.empty())
    std::memcpy(l.base + off + sizeof(FrameHeader), payload.data(), payload.size());
  FrameHeader out = h;
  out.length = static_cast<uint32_t>(payload.size());
  commit(l, off, out);
  return true;
}

void SocketModule::commit(Link& l, uint32_t off, const FrameHeader& h) {
  std::memcpy(l.base + off, &h, sizeof(h));
  l.out_owner[*l.out_set.index_of(off)] = kOwnedByHost;
  if (!l.out_post.push(off)) violation(l, "out_post ring broken");
  l.posted = true;
  counters_.host_events.inc();
}

bool SocketModule::post_control(Link& l, const FrameHeader& h, uint32_t announce) {
  if (l.control.empty() && post(l, h)) {
    if (announce != 0) {
      Sock& s = socks_[(announce & ((1u << kSlotBits) - 1)) - 1];
      s.announced = true;
      ready(s);
    }
    return true;
  }
  if (l.control.size() >= 2 * size_t{max_sockets_}) {
    violation(l, "holds its frames while its events pile up");
    return false;
  }
  l.control.push_back({h, announce});
  counters_.host_out_of_frames.inc();
  return false;
}

// ---- Taking commands ----

void SocketModule::take_returned_frames(Link& l) {
  uint32_t off;
  while (!l.dead && l.out_free.pop(off)) {
    const auto i = l.out_set.index_of(off);
    if (!i || l.out_owner[*i] != kOwnedByHost)
      return violation(l, "returned a frame it did not hold");
    l.out_owner[*i] = kOwnedByShard;
    l.out_spare.push_back(off);
  }
  if (l.out_free.broken()) violation(l, "out_free ring broken");
  // Events that waited for a frame go first, in order.
  while (!l.dead && !l.control.empty() && post(l, l.control.front().h)) {
    if (uint32_t a = l.control.front().announce; a != 0) {
      Sock& s = socks_[(a & ((1u << kSlotBits) - 1)) - 1];
      if (s.kind != kFree && handle_of(s) == a) {
        s.announced = true;
        ready(s);
      }
    }
    l.control.pop_front();
  }
}

void SocketModule::take_commands(Link& l) {
  uint32_t off;
  for (uint32_t n = 0; n < kCommandsPerPoll && !l.dead && l.in_post.pop(off); ++n) {
    const auto i = l.in_set.index_of(off);
    if (!i || l.in_owner[*i] != kOwnedByHost) return violation(l, "posted a frame it did not hold");
    l.in_owner[*i] = kOwnedByShard;
    FrameHeader h;
    std::memcpy(&h, l.base + off, sizeof(h));  // once: the host may change it meanwhile
    if (h.length > l.layout.payload_max()) return violation(l, "a frame longer than its room");
    counters_.host_commands.inc();
    command(l, off, h);
  }
  if (l.in_post.broken()) violation(l, "in_post ring broken");
}

void SocketModule::command(Link& l, uint32_t off, const FrameHeader& h) {
  const std::span<const std::byte> payload(l.base + off + sizeof(FrameHeader), h.length);
  const Command c = static_cast<Command>(h.kind);
  if ((c == Command::kListen || c == Command::kConnect || c == Command::kUdpBind) &&
      l.sockets >= max_sockets_) {
    counters_.host_socket_limit.inc();
    const Event e = c == Command::kListen    ? Event::kListening
                    : c == Command::kConnect ? Event::kConnected
                                             : Event::kBound;
    post_control(l, event(e, 0, h.user, -EMFILE), 0);
    return give_back(l, off);
  }
  switch (c) {
    case Command::kListen: {
      Sock& s = new_sock(l, kListener, h.user);
      const uint32_t backlog = std::clamp<uint32_t>(h.arg, 1, 4096);
      auto r = stack_.tcp().listen(L4Port(h.port), backlog, &SocketModule::on_accept, &s);
      if (r) {
        s.listener = *r;
        post_control(l, event(Event::kListening, handle_of(s), h.user), 0);
      } else {
        free_sock(s);
        post_control(l, event(Event::kListening, 0, h.user, status_of(r.error())), 0);
      }
      return give_back(l, off);
    }
    case Command::kConnect: {
      auto r = stack_.tcp().connect(Ipv4Address(h.addr), L4Port(h.port));
      if (!r) {
        post_control(l, event(Event::kConnected, 0, h.user, status_of(r.error())), 0);
        return give_back(l, off);
      }
      Sock& s = new_sock(l, kTcp, h.user);
      s.tcp = *r;
      s.connecting = true;
      s.tcp->set_on_event(&SocketModule::on_tcp_event, &s);
      return give_back(l, off);
    }
    case Command::kSend: {
      Sock* s = sock_of(l, h.handle, "send on a handle it does not have");
      if (s == nullptr) return;
      if (s->kind != kTcp) return violation(l, "send on a socket that is not a connection");
      if (s->tcp == nullptr || s->tcp->state() == TcpState::kClosed) return give_back(l, off);
      s->sends.push_back({off, h.length});
      pump_sends(*s);
      return;
    }
    case Command::kShutdown: {
      Sock* s = sock_of(l, h.handle, "shutdown of a handle it does not have");
      if (s == nullptr) return;
      if (s->kind == kTcp && s->tcp != nullptr) {
        s->shutdown_pending = true;
        pump_sends(*s);
      }
      return give_back(l, off);
    }
    case Command::kClose: {
      Sock* s = sock_of(l, h.handle, "close of a handle it does not have");
      if (s == nullptr) return;
      give_back(l, off);
      s->host_closed = true;
      if (s->listener) {
        stack_.tcp().unlisten(s->listener);
        s->listener = nullptr;
      }
      if (s->udp) {
        stack_.udp().close(s->udp);
        s->udp = nullptr;
      }
      if (s->tcp == nullptr) return free_sock(*s);
      pump_sends(*s);  // closes once what was sent is in
      return;
    }
    case Command::kUdpBind: {
      auto r = stack_.udp().bind(Ipv4Address::any(), L4Port(h.port));
      if (!r) {
        post_control(l, event(Event::kBound, 0, h.user, status_of(r.error())), 0);
        return give_back(l, off);
      }
      Sock& s = new_sock(l, kUdp, h.user);
      s.udp = *r;
      s.announced = true;
      s.udp->set_on_readable(&SocketModule::on_udp, &s);
      post_control(l, event(Event::kBound, handle_of(s), h.user), 0);
      return give_back(l, off);
    }
    case Command::kSetOption: {
      Sock* s = sock_of(l, h.handle, "an option on a handle it does not have");
      if (s == nullptr) return;
      if (s->kind != kTcp) return violation(l, "an option on a socket that is not a connection");
      switch (static_cast<host::Option>(h.arg)) {
        case host::Option::kNoDelay:
          if (s->tcp) s->tcp->set_nodelay(h.addr != 0);
          return give_back(l, off);
        case host::Option::kKeepAlive:
          if (s->tcp) s->tcp->set_keepalive(h.addr != 0);
          return give_back(l, off);
      }
      return violation(l, "an unknown option");
    }
    case Command::kSendTo: {
      Sock* s = sock_of(l, h.handle, "sendto on a handle it does not have");
      if (s == nullptr) return;
      if (s->kind != kUdp) return violation(l, "sendto on a socket that is not UDP");
      (void)s->udp->send_to(Ipv4Address(h.addr), L4Port(h.port), payload);
      return give_back(l, off);
    }
  }
  violation(l, "an unknown command");
}

// ---- Sending: frames into the socket ----

void SocketModule::pump_sends(Sock& s) {
  if (s.kind != kTcp || s.tcp == nullptr || s.link->dead) return;
  Link& l = *s.link;
  const bool gone = s.tcp->state() == TcpState::kClosed;
  while (!s.sends.empty()) {
    const Sock::Send snd = s.sends.front();
    if (!gone) {
      const std::span<const std::byte> rest(
          l.base + snd.offset + sizeof(FrameHeader) + s.sent_of_first,
          snd.length - s.sent_of_first);
      s.sent_of_first += s.tcp->write(rest);
      if (s.sent_of_first < snd.length) break;
    }
    s.sent_of_first = 0;
    s.sends.pop_front();
    give_back(l, snd.offset);
  }
  if (!s.sends.empty()) return;
  if (s.shutdown_pending) {
    s.shutdown_pending = false;
    (void)s.tcp->shutdown();
  }
  if (s.host_closed) {
    s.tcp->close();  // FIN after what is queued; the stack frees it
    s.tcp = nullptr;
    free_sock(s);
  }
}

// ---- Receiving: the socket's news into frames ----

bool SocketModule::pump_out(Sock& s) {
  Link& l = *s.link;
  if (l.dead || s.host_closed) return true;
  if (s.kind == kUdp) {
    while (s.udp->queued() > 0) {
      if (l.out_spare.empty()) return false;
      std::optional<UdpDatagram> d = s.udp->recv();
      const uint32_t size = d->data->chain_size();
      const uint32_t n = std::min(size, l.layout.payload_max());
      const uint32_t off = l.out_spare.back();
      l.out_spare.pop_back();
      chain_copy_out(*d->data, 0, std::span<std::byte>(l.base + off + sizeof(FrameHeader), n));
      FrameHeader h = event(Event::kDatagram, handle_of(s), s.user);
      h.addr = d->src.v;
      h.port = d->src_port.v;
      if (n < size) {
        h.flags = 1;  // truncated
        counters_.host_udp_truncated.inc();
      }
      h.length = n;
      commit(l, off, h);
    }
    return true;
  }
  if (s.kind != kTcp || s.tcp == nullptr) return true;
  TcpSocket& t = *s.tcp;
  if (s.connecting) {
    if (t.state() == TcpState::kSynSent || t.state() == TcpState::kSynReceived) return true;
    s.connecting = false;
    if (t.state() == TcpState::kClosed) {
      post_control(l, event(Event::kConnected, 0, s.user, status_of(t.error())), 0);
      t.close();
      s.tcp = nullptr;
      free_sock(s);
      return true;
    }
    FrameHeader h = event(Event::kConnected, handle_of(s), s.user);
    h.addr = t.local_address().v;
    h.port = t.local_port().v;
    post_control(l, h, handle_of(s));
    return true;
  }
  if (!s.announced) return true;  // its kAccepted waits for a frame
  while (t.readable()) {
    if (l.out_spare.empty()) {
      counters_.host_out_of_frames.inc();
      return false;
    }
    const uint32_t off = l.out_spare.back();
    std::byte* frame = l.base + off;
    const uint32_t n =
        t.read(std::span<std::byte>(frame + sizeof(FrameHeader), l.layout.payload_max()));
    if (n == 0) break;
    l.out_spare.pop_back();
    FrameHeader h = event(Event::kData, handle_of(s));
    h.length = n;
    commit(l, off, h);
  }
  if (t.eof() && !s.eof_posted) {
    if (!post(l, event(Event::kEof, handle_of(s)))) return false;
    s.eof_posted = true;
  }
  if (t.state() == TcpState::kClosed && !s.closed_posted) {
    if (!post(l, event(Event::kClosed, handle_of(s), 0, status_of(t.error())))) return false;
    s.closed_posted = true;
  }
  return true;
}

// ---- The shard's loop ----

size_t SocketModule::poll() {
  size_t work = 0;
  for (auto& lp : links_) {
    Link& l = *lp;
    if (l.dead) continue;
    const uint64_t before = counters_.host_commands.get();
    take_returned_frames(l);
    take_commands(l);
    work += counters_.host_commands.get() - before;
  }
  // Work is what was posted: a socket that waits for its host to return a
  // frame stays ready without keeping the shard busy (out_free wakes it).
  const uint64_t posted = counters_.host_events.get();
  if (!ready_.empty()) {
    std::vector<Sock*>& now = ready_now_;  // both keep their capacity: no allocation
    now.swap(ready_);
    for (Sock* s : now) {
      if (s->kind == kFree || !s->in_ready) continue;
      s->in_ready = false;
      if (!pump_out(*s)) ready(*s);
    }
    now.clear();
  }
  work += counters_.host_events.get() - posted;
  counters_.host_sockets.set(sockets_in_use_);
  for (auto& lp : links_) {
    Link& l = *lp;
    if (!l.posted) continue;
    l.posted = false;
    // After the posts, before looking at the flag (pairs with the host's
    // fence between setting it and its last look at the rings).
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (l.flags->host_sleeping.load(std::memory_order_relaxed) != 0) {
      uint64_t one = 1;
      (void)!::write(l.wake_fd, &one, sizeof(one));
    }
  }
  return work;
}

bool SocketModule::has_input() {
  for (auto& l : links_)
    if (!l->dead && (l->in_post.size() > 0 || l->out_free.size() > 0)) return true;
  return false;
}

void SocketModule::set_sleeping(bool sleeping) {
  for (auto& l : links_)
    l->flags->shard_sleeping[shard_].store(sleeping ? 1 : 0, std::memory_order_relaxed);
}

}  // namespace sn
