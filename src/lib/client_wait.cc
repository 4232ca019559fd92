// Client: readiness (level-triggered, like epoll) and sleeping on the host
// eventfd.
//
// Sockets that may have become ready are kept in candidates_ (marked by an
// event, by sn_watch, or, for writability, when their shard has a free frame
// again); sn_wait looks only at those, reports the ready ones and keeps them
// listed for as long as they stay ready, and drops the others. A socket not
// writable for want of a frame waits in its shard's write_waiters.
//
// A call on a blocking socket waits in the same loop (block()): pump, wake
// the shards, sleep on the eventfd until a shard posts or gives a frame
// back, or the control connection says the engine is gone.
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>

#include "lib/client.h"

namespace sn {

void Client::mark(uint32_t index) {
  Sock& k = socks_[index];
  if (k.candidate || k.interest == 0) return;
  k.candidate = true;
  candidates_.push_back(index);
}

uint32_t Client::readiness(uint32_t index) {
  Sock& k = socks_[index];
  const bool want_write = (k.interest & SN_WRITABLE) != 0;
  uint32_t r = 0;
  switch (k.kind) {
    case Kind::kFree:
      return 0;
    case Kind::kListener:
      if (!k.accepted.empty()) r |= SN_READABLE;
      if (failed_) r |= SN_ERROR | SN_HUP;
      return r;
    case Kind::kUdp:
      if (!k.rx.empty()) r |= SN_READABLE;
      if (failed_) return r | SN_ERROR | SN_HUP;
      for (uint32_t s = 0; s < shards_; ++s) {
        if (k.answered[s] == Answer::kOk && links_[s].backlog.empty() && frame_available(s))
          return r | SN_WRITABLE;
      }
      for (uint32_t s = 0; s < shards_ && want_write; ++s) {
        if ((k.waiting >> s & 1) != 0) continue;
        k.waiting |= uint64_t{1} << s;
        links_[s].write_waiters.push_back(index);
      }
      return r;
    case Kind::kStream:
      break;
  }
  if (k.state == StreamState::kConnecting) return 0;
  if (k.state == StreamState::kFailed) return SN_ERROR | SN_HUP;
  if (!k.rx.empty() || k.eof || k.closed) r |= SN_READABLE;
  if (k.closed) {
    r |= SN_HUP | (k.error != 0 ? SN_ERROR : 0);
    return r;
  }
  if (k.eof && k.shut_wr) r |= SN_HUP;
  if (k.shut_wr) return r;
  if (links_[k.shard].backlog.empty() && frame_available(k.shard)) {
    r |= SN_WRITABLE;
  } else if (want_write && (k.waiting >> k.shard & 1) == 0) {
    k.waiting |= uint64_t{1} << k.shard;
    links_[k.shard].write_waiters.push_back(index);
  }
  return r;
}

int Client::collect(sn_event* out, int max) {
  int n = 0;
  size_t i = 0;
  while (i < candidates_.size() && n < max) {
    const uint32_t index = candidates_[i];
    Sock& k = socks_[index];
    const uint32_t ev = k.interest == 0 ? 0 : readiness(index) & (k.interest | SN_ERROR | SN_HUP);
    if (ev == 0) {
      k.candidate = false;
      candidates_[i] = candidates_.back();
      candidates_.pop_back();
      continue;
    }
    out[n++] = sn_event{socket_of(index), ev};
    ++i;
  }
  // Those reported go to the back: a small `max` does not starve the rest.
  if (i > 0 && i < candidates_.size())
    std::rotate(candidates_.begin(), candidates_.begin() + static_cast<std::ptrdiff_t>(i),
                candidates_.end());
  return n;
}

// Whether sleeping now could miss something: an event posted, or a frame
// given back that a command or a writer waits for.
bool Client::work_pending() {
  for (Link& k : links_) {
    if (k.out_post.size() > 0) return true;
    if ((!k.backlog.empty() || !k.write_waiters.empty()) && k.in_free.size() > 0) return true;
  }
  return false;
}

void Client::sleep(int timeout_ms, const std::function<bool()>* recheck) {
  host::WakeFlags& flags = region_.flags();
  flags.host_sleeping.store(1, std::memory_order_relaxed);
  // Pairs with the shard's fence between its post and its look at our flag
  // (protocol.h): either it sees the flag and writes the eventfd, or we see
  // its post here.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (work_pending() || (recheck != nullptr && (*recheck)())) {
    flags.host_sleeping.store(0, std::memory_order_relaxed);
    return;
  }
  ++counters_.sleeps;
  pollfd fds[2] = {{host_event_.get(), POLLIN, 0}, {control_.get(), POLLIN | POLLRDHUP, 0}};
  // Once the engine is gone its socket would always be ready: leave it out.
  const nfds_t n = failed_ != 0 ? 1 : 2;
  const int r = ::poll(fds, n, timeout_ms);
  flags.host_sleeping.store(0, std::memory_order_relaxed);
  if (r <= 0) return;  // timeout, EINTR: the caller looks again
  if ((fds[0].revents & POLLIN) != 0) {
    uint64_t count;
    (void)!::read(host_event_.get(), &count, sizeof(count));  // non-blocking: drains it
  }
  if (n == 2 && fds[1].revents != 0) check_control();
}

bool Client::wait_until(const std::function<bool()>& done, int timeout_ms) {
  std::optional<Clock::time_point> deadline;
  if (timeout_ms >= 0) deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  return wait_until(done, deadline, false);
}

bool Client::wait_until(const std::function<bool()>& done,
                        std::optional<Clock::time_point> deadline, bool recheck) {
  for (;;) {
    pump();
    flush_wakes();
    if (done()) return true;
    int left = -1;
    if (deadline) {
      const auto ns =
          std::chrono::duration_cast<std::chrono::nanoseconds>(*deadline - Clock::now());
      if (ns.count() <= 0) return false;
      // Rounded up: a sub-millisecond rest must sleep, not spin.
      left = static_cast<int>(std::min<int64_t>((ns.count() + 999'999) / 1'000'000, INT_MAX));
    }
    sleep(left, recheck ? &done : nullptr);
  }
}

bool Client::block(const Sock& k, Clock::time_point start, const std::function<bool()>& ready) {
  ++counters_.blocks;
  std::optional<Clock::time_point> deadline;
  if (k.timeout_ms >= 0) deadline = start + std::chrono::milliseconds(k.timeout_ms);
  // Once the engine is gone nothing more comes: the caller's next try
  // returns its error (after what arrived before it, for a receive).
  return wait_until([&] { return failed_ != 0 || ready(); }, deadline, true);
}

int Client::wait(sn_event* out, int max, int timeout_ms) {
  WakeGuard wake{this};
  if (out == nullptr || max <= 0) return -EINVAL;
  // A busy application never sleeps, so it never sees the control
  // connection close there: look now and then.
  if ((++wait_calls_ & 63) == 0) check_control();
  int n = 0;
  if (timeout_ms == 0) {
    pump();
    return collect(out, max);
  }
  wait_until(
      [&] {
        n = collect(out, max);
        return n > 0;
      },
      timeout_ms < 0 ? -1 : timeout_ms);
  return n;
}

}  // namespace sn
