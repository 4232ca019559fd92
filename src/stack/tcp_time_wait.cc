// The bounded TIME-WAIT table.
#include "stack/tcp_time_wait.h"

#include "base/check.h"

namespace sn {

TimeWaitTable::TimeWaitTable(uint32_t capacity, uint64_t secret) : ring_(capacity), index_(secret) {
  index_.reserve(capacity);
}

void TimeWaitTable::pop_front() {
  Slot& s = ring_[head_];
  if (s.live) index_.erase(s.e.key);
  s.live = false;
  head_ = (head_ + 1) % capacity();
  --count_;
}

bool TimeWaitTable::insert(const TimeWaitEntry& e) {
  if (capacity() == 0) return true;
  erase(e.key);
  bool evicted = false;
  // Make room: reuse what erased entries left if there is any, else drop the
  // oldest live entry.
  if (count_ == capacity() && index_.size() < capacity()) compact();
  while (count_ == capacity()) {
    evicted = evicted || ring_[head_].live;
    pop_front();
  }
  const uint32_t i = (head_ + count_) % capacity();
  ring_[i].e = e;
  ring_[i].live = true;
  ring_[i].restarted = false;
  ++count_;
  index_.put(e.key, i);
  return evicted;
}

TimeWaitEntry* TimeWaitTable::find(const TcpKey& key, Instant now) {
  const uint32_t* slot = index_.find(key);
  if (slot == nullptr) return nullptr;
  TimeWaitEntry& e = ring_[*slot].e;
  return e.expires > now ? &e : nullptr;  // one expire() has not reached yet is gone
}

void TimeWaitTable::compact() {
  uint32_t out = head_;
  uint32_t kept = 0;
  for (uint32_t k = 0; k < count_; ++k) {
    const uint32_t i = (head_ + k) % capacity();
    if (!ring_[i].live) continue;
    if (i != out) {
      ring_[out] = ring_[i];
      ring_[i].live = false;
      index_.put(ring_[out].e.key, out);
    }
    out = (out + 1) % capacity();
    ++kept;
  }
  count_ = kept;
}

void TimeWaitTable::erase(const TcpKey& key) {
  const uint32_t* slot = index_.find(key);
  if (slot == nullptr) return;
  ring_[*slot].live = false;
  index_.erase(key);
}

void TimeWaitTable::restart(const TcpKey& key, Instant expires) {
  const uint32_t* slot = index_.find(key);
  if (slot == nullptr) return;
  Slot& s = ring_[*slot];
  s.e.expires = expires;
  s.restarted = true;
}

Instant TimeWaitTable::expire(Instant now) {
  while (count_ > 0) {
    Slot& s = ring_[head_];
    if (!s.live) {
      pop_front();
      continue;
    }
    if (s.e.expires <= now) {
      pop_front();
      continue;
    }
    if (!s.restarted) return s.e.expires;
    // Restarted by a retransmitted FIN: to the back, which keeps the ring
    // in expiry order but for entries added since, which it may outlive by
    // less than 2*MSL (a longer TIME-WAIT is safe).
    const TimeWaitEntry e = s.e;
    pop_front();
    insert(e);
  }
  return Instant::never();
}

}  // namespace sn
