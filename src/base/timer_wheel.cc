// The hierarchical timer wheel; see timer_wheel.h.
#include "base/timer_wheel.h"

#include <algorithm>
#include <bit>

#include "base/check.h"

namespace sn {

Timer::~Timer() {
  if (wheel_) wheel_->cancel(*this);
}

TimerWheel::TimerWheel(Instant start, Duration tick) : start_(start), tick_(tick) {
  SN_CHECK(tick.ns() > 0);
}

TimerWheel::~TimerWheel() {
  for (auto& level : slots_)
    for (auto& slot : level)
      for (Timer* t = slot.head; t;) {
        Timer* n = t->next_;
        t->wheel_ = nullptr;
        t->prev_ = t->next_ = nullptr;
        t = n;
      }
}

uint64_t TimerWheel::tick_of(Instant t) const {
  int64_t d = (t - start_).ns();
  if (d <= 0) return 0;
  return static_cast<uint64_t>((d + tick_.ns() - 1) / tick_.ns());  // round up: never early
}

void TimerWheel::schedule(Timer& t, Instant deadline) {
  if (t.wheel_) {  // re-armed: it is counted once, below
    SN_CHECK(t.wheel_ == this);
    unlink(&t);
    --count_;
  }
  t.wheel_ = this;
  t.deadline_ = deadline;
  t.tick_ = tick_of(deadline);
  ++count_;
  place(&t);
}

void TimerWheel::cancel(Timer& t) {
  if (!t.wheel_) return;
  SN_CHECK(t.wheel_ == this);
  unlink(&t);
  t.wheel_ = nullptr;
  --count_;
}

void TimerWheel::place(Timer* t) {
  uint64_t tick = t->tick_ < current_ ? current_ : t->tick_;
  uint64_t delta = tick - current_;
  for (int level = 0; level < kLevels; ++level) {
    if (delta < (uint64_t{1} << (kBits * (level + 1)))) {
      link(t, level, static_cast<int>((tick >> (kBits * level)) & (kSlots - 1)));
      return;
    }
  }
  // Further out than the wheel reaches: park in the top level's farthest slot;
  // it is placed again when that slot cascades.
  uint64_t far = current_ + (uint64_t{1} << (kBits * kLevels)) - 1;
  link(t, kLevels - 1, static_cast<int>((far >> (kBits * (kLevels - 1))) & (kSlots - 1)));
}

void TimerWheel::link(Timer* t, int level, int index) {
  Slot& s = slots_[level][index];
  t->slot_ = static_cast<uint16_t>(level * kSlots + index);
  t->prev_ = nullptr;
  t->next_ = s.head;
  if (s.head) s.head->prev_ = t;
  s.head = t;
  occupied_[level] |= uint64_t{1} << index;
}

void TimerWheel::unlink(Timer* t) {
  int level = t->slot_ / kSlots, index = t->slot_ % kSlots;
  Slot& s = slots_[level][index];
  if (t->prev_)
    t->prev_->next_ = t->next_;
  else
    s.head = t->next_;
  if (t->next_) t->next_->prev_ = t->prev_;
  t->prev_ = t->next_ = nullptr;
  if (!s.head) occupied_[level] &= ~(uint64_t{1} << index);
}

void TimerWheel::cascade(int level) {
  int index = static_cast<int>((current_ >> (kBits * level)) & (kSlots - 1));
  Slot& s = slots_[level][index];
  Timer* t = s.head;
  s.head = nullptr;
  occupied_[level] &= ~(uint64_t{1} << index);
  while (t) {
    Timer* n = t->next_;
    place(t);
    t = n;
  }
}

size_t TimerWheel::advance(Instant now) {
  uint64_t target = 0;
  int64_t d = (now - start_).ns();
  if (d >= 0) target = static_cast<uint64_t>(d / tick_.ns());
  size_t fired = 0;
  while (current_ <= target) {
    if (count_ == 0) {  // nothing armed: jump straight to the target
      current_ = target + 1;
      break;
    }
    for (int level = 1; level < kLevels; ++level) {
      if ((current_ & ((uint64_t{1} << (kBits * level)) - 1)) != 0) break;
      cascade(level);
    }
    int index = static_cast<int>(current_ & (kSlots - 1));
    // Fire this slot's timers one at a time: a callback may cancel or re-arm
    // any of them, so the list is re-read after every call.
    while (Timer* t = slots_[0][index].head) {
      unlink(t);
      if (t->tick_ > current_) {  // parked beyond the wheel's reach
        place(t);
        continue;
      }
      t->wheel_ = nullptr;
      --count_;
      ++fired;
      t->fn_(t->arg_, now);
    }
    ++current_;
  }
  return fired;
}

Instant TimerWheel::next_deadline() const {
  if (count_ == 0) return Instant::never();
  uint64_t best = UINT64_MAX;
  // A bottom-level slot holds exactly one tick's timers (or overdue ones, in
  // the current slot): the first occupied slot from the current one is exact.
  if (uint64_t occ = occupied_[0])
    best =
        current_ + static_cast<uint64_t>(std::countr_zero(std::rotr(occ, int(current_ % kSlots))));
  // A higher-level slot is due when it cascades, at or before any deadline
  // in it. Every level is looked at: a lower level's timers may be later.
  for (int level = 1; level < kLevels; ++level) {
    uint64_t occ = occupied_[level];
    if (!occ) continue;
    const int shift = kBits * level;
    const uint64_t base = (current_ >> shift) << shift;
    const uint64_t rot = std::rotr(occ, int((current_ >> shift) % kSlots));
    uint64_t at;
    if ((rot & 1) && base == current_) {
      at = current_;  // the current slot cascades on the next advance()
    } else {
      // The current slot, if occupied, holds the next lap's timers.
      const uint64_t rest = rot & ~uint64_t{1};
      at = base + (uint64_t(rest ? std::countr_zero(rest) : kSlots) << shift);
    }
    best = std::min(best, at);
  }
  return best == UINT64_MAX ? Instant::never() : time_of(best);
}

}  // namespace sn
