// Client: the attachment, the socket table, frames and commands, and the
// calls that open and close sockets. I/O is in client_io.cc, events in
// client_events.cc, readiness and sleeping in client_wait.cc.
#include "lib/client.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

namespace sn {

using host::Command;
using host::FrameHeader;

namespace {

constexpr uint32_t kMaxIndex = (1u << 20) - 1;

}  // namespace

Result<std::unique_ptr<Client>> Client::attach(const std::string& control_path, std::string* why) {
  auto a = attach_engine(control_path.empty() ? default_control_path() : control_path, why);
  if (!a) return a.error();
  return std::make_unique<Client>(std::move(*a));
}

Client::Client(Attachment a)
    : region_(std::move(a.region)),
      control_(std::move(a.control)),
      host_event_(std::move(a.host_event)) {
  const host::RegionLayout& l = region_.layout();
  shards_ = l.config.shards;
  host_bits_ = region_.host() & 0x7ff;  // sockets stay positive int32
  payload_max_ = l.payload_max();
  links_.resize(shards_);
  for (uint32_t s = 0; s < shards_; ++s) {
    const host::ShardQueues& q = l.queues[s];
    Link& k = links_[s];
    k.in_free = ShmRingConsumer(region_.at(q.in_free), l.ring_capacity);
    k.in_post = ShmRingProducer(region_.at(q.in_post), l.ring_capacity);
    k.out_free = ShmRingProducer(region_.at(q.out_free), l.ring_capacity);
    k.out_post = ShmRingConsumer(region_.at(q.out_post), l.ring_capacity);
    k.in = l.in_frames(s);
    k.out = l.out_frames(s);
    k.in_owned.assign(k.in.count, 0);
    k.out_held.assign(k.out.count, 0);
    if (s < a.shard_events.size()) k.event = std::move(a.shard_events[s]);
  }
  socks_.emplace_back();  // index 0: never a socket
}

Client::~Client() {
  // The engine notices the detach when the control connection closes, and
  // closes this host's sockets; nothing needs saying on the rings.
  control_.reset();
}

// ---- Socket table -----------------------------------------------------------

int Client::alloc(Kind kind) {
  uint32_t index;
  if (!free_slots_.empty()) {
    index = free_slots_.back();
    free_slots_.pop_back();
  } else {
    if (socks_.size() > kMaxIndex) return -EMFILE;
    index = static_cast<uint32_t>(socks_.size());
    socks_.emplace_back();
  }
  socks_[index].kind = kind;
  return static_cast<int>(index);
}

void Client::free_slot(uint32_t index) {
  Sock& k = socks_[index];
  Sock fresh;
  fresh.gen = static_cast<uint16_t>(k.gen + 1);
  fresh.candidate = k.candidate;  // still listed: dropped when next looked at
  fresh.waiting = k.waiting;      // likewise
  fresh.rx = std::move(k.rx);     // keeps the storage
  fresh.rx.clear();
  k = std::move(fresh);
  free_slots_.push_back(index);
}

Client::Sock* Client::lookup(sn_socket s, uint32_t* index) {
  if (s <= 0 || static_cast<uint32_t>(s) >> 20 != host_bits_) return nullptr;
  const uint32_t i = static_cast<uint32_t>(s) & kMaxIndex;
  if (i == 0 || i >= socks_.size() || socks_[i].kind == Kind::kFree) return nullptr;
  if (index != nullptr) *index = i;
  return &socks_[i];
}

Client::Sock* Client::by_user(uint32_t user, uint32_t* index) {
  const uint32_t i = user & kMaxIndex;
  if (i == 0 || i >= socks_.size() || socks_[i].kind == Kind::kFree) return nullptr;
  if (token_of(i) != user) return nullptr;
  if (index != nullptr) *index = i;
  return &socks_[i];
}

Client::Sock* Client::by_handle(uint32_t shard, uint32_t handle, Kind kind) {
  auto it = by_handle_.find(handle_key(shard, handle));
  if (it == by_handle_.end() || socks_[it->second].kind != kind) return nullptr;
  return &socks_[it->second];
}

// ---- Frames and commands ----------------------------------------------------

FrameHeader Client::read_header(uint32_t offset) const {
  FrameHeader h;  // copied once: the engine may change the bytes meanwhile
  std::memcpy(&h, region_.at(offset), sizeof(h));
  return h;
}

bool Client::take_in_frame(uint32_t shard, uint32_t* offset) {
  Link& k = links_[shard];
  uint32_t off;
  for (uint32_t tries = 0; tries < k.in_free.capacity() && k.in_free.pop(off); ++tries) {
    const auto i = k.in.index_of(off);
    if (!i) {
      ++counters_.bad_offset;
      continue;
    }
    if (k.in_owned[*i]) {
      ++counters_.frame_not_ours;
      continue;
    }
    k.in_owned[*i] = 1;
    *offset = off;
    return true;
  }
  return false;
}

bool Client::frame_available(uint32_t shard) {
  return links_[shard].in_free.size() > 0;
}

void Client::post_in(uint32_t shard, uint32_t offset, const FrameHeader& h, const void* data) {
  Link& k = links_[shard];
  std::byte* frame = region_.at(offset);
  std::memcpy(frame, &h, sizeof(h));
  if (h.length > 0) std::memcpy(frame + sizeof(h), data, h.length);
  k.in_owned[*k.in.index_of(offset)] = 0;
  // Never full: it holds at most the shard's inbound frames. A push that
  // fails means the shard's index is impossible: check_rings() ends it.
  if (k.in_post.push(offset)) wake_mask_ |= uint64_t{1} << shard;
}

void Client::release_out(uint32_t shard, uint32_t offset) {
  Link& k = links_[shard];
  k.out_held[*k.out.index_of(offset)] = 0;
  if (k.out_free.push(offset)) wake_mask_ |= uint64_t{1} << shard;
}

void Client::send_command(uint32_t shard, const FrameHeader& h) {
  if (failed_) return;
  Link& k = links_[shard];
  uint32_t off;
  if (k.backlog.empty() && take_in_frame(shard, &off)) {
    post_in(shard, off, h, nullptr);
    return;
  }
  k.backlog.push_back(h);  // sent, in order, as frames come back (pump)
}

void Client::close_handle(uint32_t shard, uint32_t handle) {
  FrameHeader h{};
  h.kind = static_cast<uint16_t>(Command::kClose);
  h.handle = handle;
  send_command(shard, h);
}

void Client::flush_backlog(uint32_t shard) {
  Link& k = links_[shard];
  uint32_t off;
  while (!k.backlog.empty() && take_in_frame(shard, &off)) {
    post_in(shard, off, k.backlog.front(), nullptr);
    k.backlog.pop_front();
  }
}

void Client::flush_wakes() {
  if (wake_mask_ == 0) return;
  // Pairs with the shard's fence between setting its sleep flag and looking
  // at its rings once more (protocol.h): either it sees our post or we see
  // its flag.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  host::WakeFlags& flags = region_.flags();
  for (uint32_t s = 0; s < shards_; ++s) {
    if ((wake_mask_ >> s & 1) == 0) continue;
    if (flags.shard_sleeping[s].load(std::memory_order_relaxed) == 0) continue;
    const uint64_t one = 1;
    (void)!::write(links_[s].event.get(), &one, sizeof(one));  // EAGAIN: it is awake anyway
    ++counters_.shard_wakes;
  }
  wake_mask_ = 0;
}

// ---- Opening and closing ----------------------------------------------------

// kListen and kUdpBind go to every shard; the socket exists once every shard
// said yes. If one said no, the others' handles are closed.
int Client::replicated_setup(Kind kind, Command command, uint16_t port, uint32_t arg) {
  WakeGuard wake{this};
  if (failed_) return failed_;
  const int r = alloc(kind);
  if (r < 0) return r;
  const uint32_t index = static_cast<uint32_t>(r);
  Sock& k = socks_[index];
  k.handles.assign(shards_, 0);
  k.answered.assign(shards_, Answer::kNone);
  FrameHeader h{};
  h.kind = static_cast<uint16_t>(command);
  h.port = port;
  h.arg = arg;
  h.user = token_of(index);
  for (uint32_t s = 0; s < shards_; ++s)
    send_command(s, h);
  flush_wakes();
  const bool all =
      wait_until([&] { return k.answers == shards_ || failed_ != 0; }, setup_timeout_ms_);
  int err = k.setup_error;
  if (failed_ != 0) {
    err = failed_;
  } else if (!all) {
    err = -ETIMEDOUT;  // late answers find no socket: their handles are closed then
  }
  if (err != 0) {
    close_socket(index);
    return err;
  }
  return socket_of(index);
}

int Client::listen(uint16_t port, int backlog) {
  const uint32_t arg = backlog <= 0 ? 1 : backlog > 65535 ? 65535 : static_cast<uint32_t>(backlog);
  return replicated_setup(Kind::kListener, Command::kListen, port, arg);
}

int Client::udp_bind(uint16_t port) {
  return replicated_setup(Kind::kUdp, Command::kUdpBind, port, 0);
}

int Client::connect(uint32_t addr, uint16_t port) {
  WakeGuard wake{this};
  if (failed_) return failed_;
  const int r = alloc(Kind::kStream);
  if (r < 0) return r;
  const uint32_t index = static_cast<uint32_t>(r);
  Sock& k = socks_[index];
  k.state = StreamState::kConnecting;
  k.shard = static_cast<uint8_t>(next_shard_++ % shards_);
  k.peer_addr = addr;
  k.peer_port = port;
  FrameHeader h{};
  h.kind = static_cast<uint16_t>(Command::kConnect);
  h.addr = addr;
  h.port = port;
  h.user = token_of(index);
  send_command(k.shard, h);
  return socket_of(index);
}

int Client::accept(sn_socket listener, uint32_t* addr, uint16_t* port) {
  WakeGuard wake{this};
  Sock* l = lookup(listener);
  if (l == nullptr) return -EBADF;
  if (l->kind != Kind::kListener) return -EINVAL;
  if (l->accepted.empty()) pump();
  if (l->accepted.empty()) {
    if (failed_ != 0) return failed_;
    if (!l->blocking) return -EAGAIN;
    // `l` stays good: socks_ is a deque, and nothing is closed meanwhile.
    if (!block(*l, Clock::now(), [&] { return !l->accepted.empty(); })) return -ETIMEDOUT;
    if (l->accepted.empty()) return failed_;  // the engine went away
  }
  const uint32_t index = l->accepted.front();
  l->accepted.pop_front();
  const Sock& c = socks_[index];
  if (addr != nullptr) *addr = c.peer_addr;
  if (port != nullptr) *port = c.peer_port;
  return socket_of(index);
}

int Client::shutdown(sn_socket s) {
  WakeGuard wake{this};
  Sock* k = lookup(s);
  if (k == nullptr) return -EBADF;
  if (k->kind != Kind::kStream || k->state != StreamState::kConnected || k->closed)
    return -ENOTCONN;
  if (k->shut_wr) return 0;
  k->shut_wr = true;
  FrameHeader h{};
  h.kind = static_cast<uint16_t>(Command::kShutdown);
  h.handle = k->handle;
  send_command(k->shard, h);
  return 0;
}

void Client::close_socket(uint32_t index) {
  Sock& k = socks_[index];
  release_rx(k);
  if (k.kind == Kind::kStream) {
    // Sent even after kClosed: the shard keeps the handle until the host
    // lets go of it, so that a command racing its kClosed is not a stranger.
    if (k.has_handle) {
      close_handle(k.shard, k.handle);
      forget_handle(k.shard, k.handle, index);
    }
    // A connect still in flight: its kConnected will find no socket, and
    // its handle is closed then (on_connected).
  } else {
    for (uint32_t s = 0; s < k.answered.size(); ++s) {
      if (k.answered[s] != Answer::kOk) continue;
      close_handle(s, k.handles[s]);
      forget_handle(s, k.handles[s], index);
    }
    while (!k.accepted.empty()) {  // accepted, never handed out
      const uint32_t a = k.accepted.front();
      k.accepted.pop_front();
      close_socket(a);
    }
  }
  free_slot(index);
}

int Client::close(sn_socket s) {
  WakeGuard wake{this};
  uint32_t index;
  if (lookup(s, &index) == nullptr) return -EBADF;
  close_socket(index);
  return 0;
}

int Client::setsockopt(sn_socket s, int option, int value) {
  WakeGuard wake{this};
  Sock* k = lookup(s);
  if (k == nullptr) return -EBADF;
  if (option != SN_NODELAY && option != SN_KEEPALIVE) return -ENOPROTOOPT;
  if (k->kind != Kind::kStream) return -EOPNOTSUPP;
  if (k->state != StreamState::kConnected || k->closed) return -ENOTCONN;
  FrameHeader h{};
  h.kind = static_cast<uint16_t>(Command::kSetOption);
  h.handle = k->handle;
  h.arg = static_cast<uint32_t>(option == SN_NODELAY ? host::Option::kNoDelay
                                                     : host::Option::kKeepAlive);
  h.addr = value != 0 ? 1 : 0;
  send_command(k->shard, h);
  return 0;
}

int Client::set_blocking(sn_socket s, bool blocking) {
  Sock* k = lookup(s);
  if (k == nullptr) return -EBADF;
  k->blocking = blocking;
  return 0;
}

int Client::set_timeout(sn_socket s, int timeout_ms) {
  Sock* k = lookup(s);
  if (k == nullptr) return -EBADF;
  if (timeout_ms < -1) return -EINVAL;
  k->timeout_ms = timeout_ms;
  return 0;
}

int Client::watch(sn_socket s, uint32_t events) {
  uint32_t index;
  Sock* k = lookup(s, &index);
  if (k == nullptr) return -EBADF;
  if ((events & ~uint32_t{SN_READABLE | SN_WRITABLE}) != 0) return -EINVAL;
  k->interest = events;
  if (events != 0) mark(index);
  return 0;
}

}  // namespace sn
