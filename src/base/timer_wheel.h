// A hierarchical timer wheel: 4 levels of 64 slots, one tick per slot at the
// bottom. Timers are intrusive (the owner embeds a Timer), so arming and
// cancelling never allocate. A timer never fires before its deadline and at
// most one tick after it. Time only moves when the owner calls advance(now).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "base/time.h"

namespace sn {

class TimerWheel;

class Timer {
 public:
  using Fn = void (*)(void* arg, Instant now);

  Timer() = default;
  Timer(Fn fn, void* arg) : fn_(fn), arg_(arg) {}
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;
  ~Timer();

  void set_callback(Fn fn, void* arg) {
    fn_ = fn;
    arg_ = arg;
  }
  bool armed() const { return wheel_ != nullptr; }
  Instant deadline() const { return deadline_; }

 private:
  friend class TimerWheel;
  Fn fn_ = nullptr;
  void* arg_ = nullptr;
  TimerWheel* wheel_ = nullptr;
  Timer* prev_ = nullptr;
  Timer* next_ = nullptr;
  Instant deadline_;
  uint64_t tick_ = 0;
  uint16_t slot_ = 0;  // level * 64 + index
};

class TimerWheel {
 public:
  static constexpr int kBits = 6;
  static constexpr int kSlots = 1 << kBits;
  static constexpr int kLevels = 4;

  explicit TimerWheel(Instant start, Duration tick = Duration::millis(1));
  ~TimerWheel();
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;

  // Arms `t` to fire at `deadline` (re-arming it if it was armed).
  void schedule(Timer& t, Instant deadline);
  void cancel(Timer& t);
  // Fires every timer whose deadline is at or before `now`; returns how many.
  // A callback may schedule or cancel any timer, itself included.
  size_t advance(Instant now);
  // A time at or before the earliest deadline (exact when it is less than
  // 64 ticks away), or Instant::never() if no timer is armed.
  Instant next_deadline() const;
  size_t armed_count() const { return count_; }
  Duration tick() const { return tick_; }

 private:
  struct Slot {
    Timer* head = nullptr;
  };
  void place(Timer* t);
  void link(Timer* t, int level, int index);
  void unlink(Timer* t);
  void cascade(int level);
  uint64_t tick_of(Instant t) const;
  Instant time_of(uint64_t tick) const { return start_ + tick_ * static_cast<int64_t>(tick); }

  Instant start_;
  Duration tick_;
  uint64_t current_ = 0;  // the next tick to process
  size_t count_ = 0;
  std::array<std::array<Slot, kSlots>, kLevels> slots_{};
  std::array<uint64_t, kLevels> occupied_{};  // bit i: slot i of the level is non-empty
};

}  // namespace sn
