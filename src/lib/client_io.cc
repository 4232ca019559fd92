// Client: sending and receiving. Sends fill inbound frames (one kSend per
// frame, never more than the shard gave us: that is the back-pressure);
// receives copy out of, or lend a view into, the outbound frames events
// arrived in, and give each frame back once its bytes are used. On a
// blocking socket a call that cannot go on waits (block(), client_wait.cc)
// and tries again.
#include <algorithm>
#include <cerrno>
#include <cstring>

#include "lib/client.h"

namespace sn {

using host::Command;
using host::FrameHeader;

void Client::drop_rx_front(Sock& k) {
  const RxFrame& f = k.rx.front();
  release_out(f.shard, f.offset);
  k.rx.pop_front();
}

void Client::release_rx(Sock& k) {
  while (!k.rx.empty())
    drop_rx_front(k);
}

// What a receive returns when nothing is queued (-EAGAIN: nothing yet).
int Client::recv_state(const Sock& k) const {
  switch (k.kind) {
    case Kind::kListener:
    case Kind::kFree:
      return -ENOTCONN;
    case Kind::kUdp:
      return failed_ ? failed_ : -EAGAIN;
    case Kind::kStream:
      break;
  }
  if (k.state == StreamState::kFailed) return k.error;
  if (k.closed) return k.error;  // 0: the end of the stream
  if (k.eof) return 0;
  return failed_ ? failed_ : -EAGAIN;
}

// Takes what the free frames hold: the bytes taken, or -EAGAIN, or the error.
ssize_t Client::send_once(Sock& k, const void* data, size_t len) {
  if (k.kind == Kind::kListener) return -ENOTCONN;
  if (k.kind == Kind::kUdp) return -EDESTADDRREQ;
  if (k.state == StreamState::kFailed) return k.error;
  if (k.closed) return k.error != 0 ? k.error : -EPIPE;
  if (k.shut_wr) return -EPIPE;
  if (failed_) return failed_;
  if (k.state == StreamState::kConnecting) return -EAGAIN;
  if (len == 0) return 0;
  const uint32_t shard = k.shard;
  if (!links_[shard].backlog.empty()) {
    flush_backlog(shard);  // its commands go first, in order
    if (!links_[shard].backlog.empty()) return -EAGAIN;
  }
  FrameHeader h{};
  h.kind = static_cast<uint16_t>(Command::kSend);
  h.handle = k.handle;
  const auto* bytes = static_cast<const std::byte*>(data);
  size_t done = 0;
  uint32_t off;
  while (done < len && take_in_frame(shard, &off)) {
    h.length = static_cast<uint32_t>(std::min<size_t>(len - done, payload_max_));
    post_in(shard, off, h, bytes + done);
    done += h.length;
  }
  return done == 0 ? -EAGAIN : static_cast<ssize_t>(done);
}

// Whether send_once could go on (or would fail) after a pump: the
// connection is up and its shard has a frame free, or it is over. (A
// frame free behind a backlog: the pump sends the backlog first.)
bool Client::can_send(const Sock& k) {
  if (k.state == StreamState::kFailed || k.closed) return true;
  return k.state == StreamState::kConnected && frame_available(k.shard);
}

ssize_t Client::send(sn_socket s, const void* data, size_t len) {
  WakeGuard wake{this};
  Sock* k = lookup(s);
  if (k == nullptr) return -EBADF;
  if (!k->blocking) return send_once(*k, data, len);
  // Every byte, or the bytes taken before an error or the timeout stopped
  // it (then the next call says why), like a POSIX send interrupted.
  const auto start = Clock::now();
  const auto* bytes = static_cast<const std::byte*>(data);
  size_t done = 0;
  for (;;) {
    const ssize_t r = send_once(*k, bytes + done, len - done);
    if (r >= 0) {
      done += static_cast<size_t>(r);
      if (done == len) return static_cast<ssize_t>(done);
      // Fewer: every free frame is taken.
    } else if (r != -EAGAIN) {
      return done > 0 ? static_cast<ssize_t>(done) : r;
    }
    if (!block(*k, start, [&] { return can_send(*k); }))
      return done > 0 ? static_cast<ssize_t>(done) : -ETIMEDOUT;
  }
}

ssize_t Client::sendto_once(Sock& k, const void* data, size_t len, uint32_t addr, uint16_t port) {
  if (failed_) return failed_;
  if (len > payload_max_) return -EMSGSIZE;
  // A destination's datagrams leave from one shard while it has frames, so
  // they keep their order; another shard's frames when it has none.
  const uint32_t first = (addr ^ (addr >> 16) ^ port) % shards_;
  FrameHeader h{};
  h.kind = static_cast<uint16_t>(Command::kSendTo);
  h.addr = addr;
  h.port = port;
  h.length = static_cast<uint32_t>(len);
  for (uint32_t i = 0; i < shards_; ++i) {
    const uint32_t shard = (first + i) % shards_;
    if (k.answered[shard] != Answer::kOk) continue;
    if (!links_[shard].backlog.empty()) flush_backlog(shard);
    uint32_t off;
    if (!links_[shard].backlog.empty() || !take_in_frame(shard, &off)) continue;
    h.handle = k.handles[shard];
    post_in(shard, off, h, data);
    return static_cast<ssize_t>(len);
  }
  return -EAGAIN;
}

// Whether one of the UDP socket's shards has a frame free (after a pump).
bool Client::can_sendto(const Sock& k) {
  for (uint32_t s = 0; s < shards_; ++s)
    if (k.answered[s] == Answer::kOk && frame_available(s)) return true;
  return false;
}

ssize_t Client::sendto(sn_socket s, const void* data, size_t len, uint32_t addr, uint16_t port) {
  WakeGuard wake{this};
  Sock* k = lookup(s);
  if (k == nullptr) return -EBADF;
  if (k->kind == Kind::kStream) return send(s, data, len);  // the address is ignored, as Linux does
  if (k->kind != Kind::kUdp) return -EOPNOTSUPP;
  const auto start = Clock::now();
  for (;;) {
    const ssize_t r = sendto_once(*k, data, len, addr, port);
    if (r != -EAGAIN || !k->blocking) return r;
    if (!block(*k, start, [&] { return can_sendto(*k); })) return -ETIMEDOUT;
  }
}

// Until k.rx holds something, if the socket blocks: 1 when it does, else
// what the receive returns (0 at the end of the stream, -EAGAIN, the error,
// -ETIMEDOUT).
ssize_t Client::await_rx(Sock& k) {
  if (k.rx.empty()) pump();
  if (!k.rx.empty()) return 1;
  const int r = recv_state(k);
  if (r != -EAGAIN || !k.blocking) return r;
  if (!block(k, Clock::now(), [&] { return !k.rx.empty() || recv_state(k) != -EAGAIN; }))
    return -ETIMEDOUT;
  return k.rx.empty() ? recv_state(k) : 1;
}

ssize_t Client::recv(sn_socket s, void* buf, size_t len) {
  return recvfrom(s, buf, len, nullptr, nullptr);
}

ssize_t Client::recvfrom(sn_socket s, void* buf, size_t len, uint32_t* addr, uint16_t* port) {
  WakeGuard wake{this};
  Sock* k = lookup(s);
  if (k == nullptr) return -EBADF;
  if (k->kind == Kind::kListener) return -ENOTCONN;
  if (const ssize_t r = await_rx(*k); r <= 0) return r;
  auto* out = static_cast<std::byte*>(buf);
  if (k->kind == Kind::kUdp) {
    const RxFrame& f = k->rx.front();
    const size_t n = std::min<size_t>(len, f.length);  // the rest of the datagram is dropped
    if (n > 0) std::memcpy(out, payload(f.offset), n);
    if (addr != nullptr) *addr = f.addr;
    if (port != nullptr) *port = f.port;
    drop_rx_front(*k);
    return static_cast<ssize_t>(n);
  }
  size_t done = 0;
  while (done < len && !k->rx.empty()) {
    RxFrame& f = k->rx.front();
    const size_t n = std::min<size_t>(len - done, f.length - f.consumed);
    std::memcpy(out + done, payload(f.offset) + f.consumed, n);
    f.consumed += static_cast<uint32_t>(n);
    done += n;
    if (f.consumed == f.length) drop_rx_front(*k);
  }
  if (addr != nullptr) *addr = k->peer_addr;
  if (port != nullptr) *port = k->peer_port;
  return static_cast<ssize_t>(done);
}

ssize_t Client::recv_view(sn_socket s, const void** data) {
  WakeGuard wake{this};
  Sock* k = lookup(s);
  if (k == nullptr) return -EBADF;
  if (k->kind == Kind::kListener) return -ENOTCONN;
  if (const ssize_t r = await_rx(*k); r <= 0) return r;
  const RxFrame& f = k->rx.front();
  *data = payload(f.offset) + f.consumed;
  return static_cast<ssize_t>(f.length - f.consumed);
}

void Client::recv_done(sn_socket s, size_t consumed) {
  WakeGuard wake{this};
  Sock* k = lookup(s);
  if (k == nullptr || k->rx.empty()) return;
  RxFrame& f = k->rx.front();
  if (k->kind == Kind::kStream)
    f.consumed += static_cast<uint32_t>(std::min<size_t>(consumed, f.length - f.consumed));
  if (k->kind == Kind::kUdp || f.consumed == f.length) drop_rx_front(*k);
}

}  // namespace sn
