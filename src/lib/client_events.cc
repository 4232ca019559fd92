// Client: moving the queues. Pops every shard's out_post, checks each frame
// and event against what the library holds and asked for, and updates the
// sockets; a shard's answers to the library's commands come back this way.
// Nothing here trusts the engine: see client.h.
#include <sys/socket.h>

#include <cerrno>

#include "lib/client.h"

namespace sn {

using host::Event;
using host::FrameHeader;

namespace {

// The engine's status as an error to hand the application: a -errno, or
// -EPROTO for a value no errno is.
int errno_of(int32_t status) {
  return status < 0 && status > -4096 ? status : -EPROTO;
}

}  // namespace

void Client::pump() {
  if (failed_ == 0)
    for (uint32_t s = 0; s < shards_; ++s)
      flush_backlog(s);
  for (uint32_t s = 0; s < shards_; ++s)
    drain_shard(s);
  check_rings();
  // Sockets that were not writable for want of a frame, on a shard that has
  // one again.
  for (uint32_t s = 0; s < shards_; ++s) {
    Link& k = links_[s];
    if (k.write_waiters.empty() || !frame_available(s)) continue;
    for (uint32_t index : k.write_waiters) {
      socks_[index].waiting &= ~(uint64_t{1} << s);
      mark(index);
    }
    k.write_waiters.clear();
  }
}

void Client::drain_shard(uint32_t shard) {
  Link& k = links_[shard];
  // At most a ring's worth per pump: a shard that posts as fast as we free
  // cannot keep us here.
  uint32_t budget = k.out_post.capacity();
  uint32_t offsets[32];
  while (budget > 0) {
    const uint32_t n = k.out_post.pop_burst({offsets, std::min<uint32_t>(32, budget)});
    if (n == 0) break;
    budget -= n;
    for (uint32_t i = 0; i < n; ++i)
      on_out_frame(shard, offsets[i]);
  }
}

void Client::on_out_frame(uint32_t shard, uint32_t offset) {
  Link& k = links_[shard];
  const auto i = k.out.index_of(offset);
  if (!i) {  // not a frame: nothing to give back either
    ++counters_.bad_offset;
    return;
  }
  if (k.out_held[*i]) {  // posted twice: the first post is the one we keep
    ++counters_.frame_not_ours;
    return;
  }
  k.out_held[*i] = 1;
  ++counters_.events;
  const FrameHeader h = read_header(offset);
  bool keep = false;
  if (h.length > payload_max_) {
    ++counters_.bad_length;
  } else {
    keep = dispatch(shard, offset, h);
  }
  if (!keep) release_out(shard, offset);
}

// Returns whether the frame is kept (holds received bytes).
bool Client::dispatch(uint32_t shard, uint32_t offset, const FrameHeader& h) {
  switch (static_cast<Event>(h.kind)) {
    case Event::kListening:
      on_setup_answer(shard, h, Kind::kListener);
      return false;
    case Event::kBound:
      on_setup_answer(shard, h, Kind::kUdp);
      return false;
    case Event::kConnected:
      on_connected(shard, h);
      return false;
    case Event::kAccepted:
      on_accepted(shard, h);
      return false;
    case Event::kData:
    case Event::kEof:
    case Event::kClosed:
      return on_stream_event(shard, offset, h);
    case Event::kDatagram:
      return on_datagram(shard, offset, h);
  }
  ++counters_.unknown_event;
  return false;
}

// A shard names a socket by a handle: from now on (shard, handle) is `index`.
void Client::adopt_handle(uint32_t shard, uint32_t handle, uint32_t index) {
  auto [it, fresh] = by_handle_.try_emplace(handle_key(shard, handle), index);
  if (fresh || it->second == index) return;
  // The shard reused a handle we still hold: the old socket's connection is
  // gone from the shard, so it must not be closed by that name either.
  ++counters_.handle_reused;
  Sock& old = socks_[it->second];
  old.has_handle = false;
  if (old.kind == Kind::kStream && !old.closed) {
    old.closed = true;
    old.error = -ECONNABORTED;
  }
  mark(it->second);
  it->second = index;
}

void Client::forget_handle(uint32_t shard, uint32_t handle, uint32_t index) {
  auto it = by_handle_.find(handle_key(shard, handle));
  if (it != by_handle_.end() && it->second == index) by_handle_.erase(it);
}

void Client::on_setup_answer(uint32_t shard, const FrameHeader& h, Kind kind) {
  uint32_t index;
  Sock* k = by_user(h.user, &index);
  const bool ok = h.status == 0;
  if (k == nullptr || k->kind != kind) {  // for a socket closed meanwhile (a timed-out listen)
    ++counters_.stale_events;
    if (ok) {
      close_handle(shard, h.handle);
      ++counters_.orphans_closed;
    }
    return;
  }
  if (k->answered[shard] != Answer::kNone) {
    ++counters_.unexpected_event;
    if (ok && !(k->answered[shard] == Answer::kOk && k->handles[shard] == h.handle)) {
      close_handle(shard, h.handle);
      ++counters_.orphans_closed;
    }
    return;
  }
  ++k->answers;
  if (ok) {
    k->answered[shard] = Answer::kOk;
    k->handles[shard] = h.handle;
    adopt_handle(shard, h.handle, index);
  } else {
    k->answered[shard] = Answer::kFailed;
    if (k->setup_error == 0) k->setup_error = errno_of(h.status);
  }
}

void Client::on_connected(uint32_t shard, const FrameHeader& h) {
  uint32_t index;
  Sock* k = by_user(h.user, &index);
  if (k == nullptr || k->kind != Kind::kStream || k->state != StreamState::kConnecting ||
      k->shard != shard) {
    ++(k == nullptr ? counters_.stale_events : counters_.unexpected_event);
    if (h.status == 0) {  // a connection nobody wants any more
      close_handle(shard, h.handle);
      ++counters_.orphans_closed;
    }
    return;
  }
  if (h.status == 0) {
    k->state = StreamState::kConnected;
    k->handle = h.handle;
    k->has_handle = true;
    adopt_handle(shard, h.handle, index);
  } else {
    k->state = StreamState::kFailed;
    k->error = errno_of(h.status);
  }
  mark(index);
}

void Client::on_accepted(uint32_t shard, const FrameHeader& h) {
  uint32_t listener;
  Sock* l = by_user(h.user, &listener);
  if (l == nullptr || l->kind != Kind::kListener || l->answered[shard] != Answer::kOk) {
    ++(l == nullptr ? counters_.stale_events : counters_.unexpected_event);
    close_handle(shard, h.handle);  // for a listener closed meanwhile
    ++counters_.orphans_closed;
    return;
  }
  const int r = alloc(Kind::kStream);
  if (r < 0) {
    ++counters_.no_socket_slot;
    close_handle(shard, h.handle);
    return;
  }
  const uint32_t index = static_cast<uint32_t>(r);
  Sock& c = socks_[index];  // socks_ is a deque: `l` is still good
  c.state = StreamState::kConnected;
  c.shard = static_cast<uint8_t>(shard);
  c.handle = h.handle;
  c.has_handle = true;
  c.peer_addr = h.addr;
  c.peer_port = h.port;
  adopt_handle(shard, h.handle, index);
  l->accepted.push_back(index);
  mark(listener);
}

bool Client::on_stream_event(uint32_t shard, uint32_t offset, const FrameHeader& h) {
  auto it = by_handle_.find(handle_key(shard, h.handle));
  if (it == by_handle_.end() || socks_[it->second].kind != Kind::kStream) {
    ++counters_.stale_events;  // closed here while the event was on its way
    return false;
  }
  const uint32_t index = it->second;
  Sock& k = socks_[index];
  if (k.closed || (k.eof && h.kind != static_cast<uint16_t>(Event::kClosed))) {
    ++counters_.unexpected_event;  // nothing but kClosed follows kEof; nothing follows kClosed
    return false;
  }
  bool keep = false;
  switch (static_cast<Event>(h.kind)) {
    case Event::kData:
      if (h.length == 0) return false;
      k.rx.push_back({offset, h.length, 0, 0, 0, static_cast<uint8_t>(shard)});
      keep = true;
      break;
    case Event::kEof:
      k.eof = true;
      break;
    default:  // kClosed
      k.closed = true;
      k.error = h.status == 0 ? 0 : errno_of(h.status);
      break;
  }
  mark(index);
  return keep;
}

bool Client::on_datagram(uint32_t shard, uint32_t offset, const FrameHeader& h) {
  auto it = by_handle_.find(handle_key(shard, h.handle));
  if (it == by_handle_.end() || socks_[it->second].kind != Kind::kUdp) {
    ++counters_.stale_events;
    return false;
  }
  Sock& k = socks_[it->second];
  k.rx.push_back({offset, h.length, 0, h.addr, h.port, static_cast<uint8_t>(shard)});
  mark(it->second);
  return true;
}

// A ring whose peer index is impossible refuses everything from then on
// (shm_ring.h): the shard broke the protocol, and the attachment is over.
void Client::check_rings() {
  for (Link& k : links_) {
    if (k.in_free.broken() || k.in_post.broken() || k.out_free.broken() || k.out_post.broken()) {
      fail(-EPROTO);
      return;
    }
  }
}

// The control connection carries nothing after the attach but, perhaps, a
// reason before the engine hangs up. Its end is the engine's end.
void Client::check_control() {
  if (failed_ != 0 || !control_.valid()) return;
  for (;;) {
    char buf[256];
    const ssize_t n = ::recv(control_.get(), buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0) {
      if (engine_message_.size() < 1024) engine_message_.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    fail(-EPIPE);
    return;
  }
}

void Client::fail(int err) {
  if (failed_ != 0) return;
  // What the engine posted before it went is still good: deliver it first.
  if (err == -EPIPE)
    for (uint32_t s = 0; s < shards_; ++s)
      drain_shard(s);
  failed_ = err;
  for (Link& k : links_)
    k.backlog.clear();
  for (uint32_t index = 1; index < socks_.size(); ++index) {
    Sock& k = socks_[index];
    if (k.kind == Kind::kStream) {
      if (k.state == StreamState::kConnecting) {
        k.state = StreamState::kFailed;
        k.error = err;
      } else if (!k.closed) {
        k.closed = true;
        k.error = err;
      }
    }
    if (k.kind != Kind::kFree) mark(index);
  }
}

}  // namespace sn
