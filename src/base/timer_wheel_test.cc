// Tests for the timer wheel: ordering, never early, at most one tick late,
// cancel and re-arm from callbacks, far deadlines, and a randomized check
// against a sorted reference.
#include "base/timer_wheel.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "base/rng.h"

namespace sn {
namespace {

const Instant kT0 = Instant::from_ns(1'000'000'000);
constexpr Duration kTick = Duration::millis(1);

struct Probe {
  Timer timer;
  std::vector<Instant>* log = nullptr;
  int fired = 0;
  Instant fired_at;
  Probe() {
    timer.set_callback(
        [](void* a, Instant now) {
          auto* p = static_cast<Probe*>(a);
          ++p->fired;
          p->fired_at = now;
        },
        this);
  }
};

TEST(TimerWheel, FiresAtDeadlineNotBefore) {
  TimerWheel w(kT0, kTick);
  Probe p;
  w.schedule(p.timer, kT0 + Duration::millis(10));
  EXPECT_EQ(w.advance(kT0 + Duration::micros(9999)), 0u);
  EXPECT_EQ(p.fired, 0);
  EXPECT_EQ(w.advance(kT0 + Duration::millis(10)), 1u);
  EXPECT_EQ(p.fired, 1);
  EXPECT_FALSE(p.timer.armed());
  EXPECT_EQ(w.armed_count(), 0u);
}

TEST(TimerWheel, SubTickDeadlineRoundsUp) {
  TimerWheel w(kT0, kTick);
  Probe p;
  w.schedule(p.timer, kT0 + Duration::micros(1500));
  w.advance(kT0 + Duration::micros(1999));
  EXPECT_EQ(p.fired, 0);
  w.advance(kT0 + Duration::millis(2));
  EXPECT_EQ(p.fired, 1);
}

TEST(TimerWheel, PastDeadlineFiresOnNextAdvance) {
  TimerWheel w(kT0, kTick);
  w.advance(kT0 + Duration::millis(50));
  Probe p;
  w.schedule(p.timer, kT0);
  EXPECT_EQ(w.next_deadline(), kT0 + Duration::millis(51));
  w.advance(kT0 + Duration::millis(51));
  EXPECT_EQ(p.fired, 1);
}

TEST(TimerWheel, CancelAndRearm) {
  TimerWheel w(kT0, kTick);
  Probe p;
  w.schedule(p.timer, kT0 + Duration::millis(5));
  w.cancel(p.timer);
  EXPECT_EQ(w.next_deadline(), Instant::never());
  w.advance(kT0 + Duration::millis(10));
  EXPECT_EQ(p.fired, 0);
  w.schedule(p.timer, kT0 + Duration::millis(20));
  w.schedule(p.timer, kT0 + Duration::millis(30));  // re-arm moves it
  w.advance(kT0 + Duration::millis(25));
  EXPECT_EQ(p.fired, 0);
  w.advance(kT0 + Duration::millis(30));
  EXPECT_EQ(p.fired, 1);
}

// Regression: re-arming an armed timer counted it twice, so the wheel never
// looked empty again and reported a deadline nothing had.
TEST(TimerWheel, RearmingCountsOnce) {
  TimerWheel w(kT0, kTick);
  Probe p;
  w.schedule(p.timer, kT0 + Duration::millis(5));
  w.schedule(p.timer, kT0 + Duration::millis(7));
  w.schedule(p.timer, kT0 + Duration::millis(9));
  EXPECT_EQ(w.armed_count(), 1u);
  w.advance(kT0 + Duration::millis(9));
  EXPECT_EQ(p.fired, 1);
  EXPECT_EQ(w.armed_count(), 0u);
  EXPECT_EQ(w.next_deadline(), Instant::never());
}

TEST(TimerWheel, DestroyedTimerUnlinksItself) {
  TimerWheel w(kT0, kTick);
  {
    Probe p;
    w.schedule(p.timer, kT0 + Duration::millis(5));
    EXPECT_EQ(w.armed_count(), 1u);
  }
  EXPECT_EQ(w.armed_count(), 0u);
  EXPECT_EQ(w.advance(kT0 + Duration::seconds(1)), 0u);
}

TEST(TimerWheel, CallbackMayRearmItselfAndCancelOthers) {
  TimerWheel w(kT0, kTick);
  struct Periodic {
    TimerWheel* w;
    Timer t;
    Timer* victim;
    int n = 0;
  } per{&w, {}, nullptr};
  Probe other;
  per.victim = &other.timer;
  per.t.set_callback(
      [](void* a, Instant now) {
        auto* s = static_cast<Periodic*>(a);
        ++s->n;
        s->w->cancel(*s->victim);
        if (s->n < 5) s->w->schedule(s->t, now + Duration::millis(10));
      },
      &per);
  w.schedule(per.t, kT0 + Duration::millis(10));
  w.schedule(other.timer, kT0 + Duration::millis(10));
  for (int ms = 1; ms <= 100; ++ms)
    w.advance(kT0 + Duration::millis(ms));
  EXPECT_EQ(per.n, 5);
  // Both were due in the same tick; whichever ran first, the other never fired
  // after being cancelled.
  EXPECT_LE(other.fired, 1);
}

TEST(TimerWheel, FarDeadlinesCascadeExactly) {
  TimerWheel w(kT0, kTick);
  std::vector<Duration> delays = {Duration::millis(63),
                                  Duration::millis(64),
                                  Duration::millis(4095),
                                  Duration::millis(4096),
                                  Duration::seconds(300),
                                  Duration::seconds(3600 * 5),
                                  Duration::seconds(3600 * 24 * 3)};
  std::vector<std::unique_ptr<Probe>> probes;
  for (Duration d : delays) {
    probes.push_back(std::make_unique<Probe>());
    w.schedule(probes.back()->timer, kT0 + d);
  }
  for (size_t i = 0; i < delays.size(); ++i) {
    Instant due = kT0 + delays[i];
    // Jump in big steps to just before, then to the deadline.
    w.advance(due - Duration::millis(1));
    EXPECT_EQ(probes[i]->fired, 0) << i;
    w.advance(due);
    EXPECT_EQ(probes[i]->fired, 1) << i;
  }
}

TEST(TimerWheel, NextDeadlineNeverLate) {
  TimerWheel w(kT0, kTick);
  Probe p;
  w.schedule(p.timer, kT0 + Duration::seconds(100));
  // Follow next_deadline() like an idle shard would: it must reach the timer
  // without ever stepping past its deadline.
  int wakeups = 0;
  while (p.fired == 0) {
    Instant next = w.next_deadline();
    ASSERT_LE(next, kT0 + Duration::seconds(100) + kTick);
    w.advance(next);
    ASSERT_LT(++wakeups, 200);
  }
  EXPECT_EQ(p.fired_at, kT0 + Duration::seconds(100));
}

// Regressions: the earliest deadline hidden behind an uncascaded slot, behind
// an occupied bottom level, or behind a slot holding the next lap's timers.
TEST(TimerWheel, NextDeadlineSeesEveryLevel) {
  {
    TimerWheel w(kT0, kTick);
    Probe p;
    w.schedule(p.timer, kT0 + Duration::millis(100));
    w.advance(kT0 + Duration::millis(63));  // stops on a 64-tick boundary
    EXPECT_LE(w.next_deadline(), kT0 + Duration::millis(100));
  }
  {
    TimerWheel w(kT0, kTick);
    Probe x, y;
    w.advance(kT0 + Duration::millis(9));
    w.schedule(x.timer, kT0 + Duration::millis(70));  // bottom level
    w.advance(kT0 + Duration::millis(30));
    w.schedule(y.timer, kT0 + Duration::millis(64) + Duration::micros(1));
    EXPECT_LE(w.next_deadline(), kT0 + Duration::millis(65));
  }
  {
    TimerWheel w(kT0, kTick);
    Probe a, b;
    w.advance(kT0 + Duration::millis(99));
    w.schedule(a.timer, kT0 + Duration::millis(4190));  // next lap of the current slot
    w.schedule(b.timer, kT0 + Duration::millis(300));
    EXPECT_LE(w.next_deadline(), kT0 + Duration::millis(300));
  }
}

// Following next_deadline() from random states never passes a deadline.
TEST(TimerWheel, NextDeadlineNeverLateRandomized) {
  Rng rng(9);
  for (int run = 0; run < 300; ++run) {
    TimerWheel w(kT0, kTick);
    std::vector<std::unique_ptr<Probe>> probes;
    Instant now = kT0;
    for (int i = 0; i < 8; ++i) {
      now = now + Duration::millis(static_cast<int64_t>(rng.below(200)));
      w.advance(now);
      probes.push_back(std::make_unique<Probe>());
      w.schedule(probes.back()->timer,
                 now + Duration::millis(1 + static_cast<int64_t>(rng.below(9000))));
    }
    while (w.armed_count() > 0) {
      Instant earliest = Instant::never();
      for (auto& p : probes)
        if (p->timer.armed()) earliest = std::min(earliest, p->timer.deadline());
      Instant next = w.next_deadline();
      ASSERT_LE(next, std::max(earliest, now) + kTick) << "run " << run;
      now = std::max(now, next);
      w.advance(now);
    }
  }
}

TEST(TimerWheel, RandomizedAgainstReference) {
  Rng rng(42);
  TimerWheel w(kT0, kTick);
  constexpr int kN = 2000;
  std::vector<std::unique_ptr<Probe>> probes;
  std::vector<Instant> deadline(kN);
  for (int i = 0; i < kN; ++i) {
    probes.push_back(std::make_unique<Probe>());
    int64_t us = static_cast<int64_t>(rng.below(rng.chance(0.5) ? 100'000 : 50'000'000));
    deadline[i] = kT0 + Duration::micros(us);
    w.schedule(probes[i]->timer, deadline[i]);
  }
  // Cancel a tenth.
  for (int i = 0; i < kN; i += 10)
    w.cancel(probes[i]->timer);
  Instant now = kT0;
  while (w.armed_count() > 0) {
    now = now + Duration::micros(static_cast<int64_t>(1 + rng.below(20'000)));
    w.advance(now);
    for (int i = 0; i < kN; ++i) {
      if (i % 10 == 0) continue;
      bool due = deadline[i] <= now;
      if (probes[i]->fired) {
        ASSERT_GE(probes[i]->fired_at, deadline[i]) << i;
      } else {
        // Not fired: it must not be overdue by more than one tick.
        ASSERT_FALSE(due && now - deadline[i] >= kTick) << i;
      }
    }
  }
  for (int i = 0; i < kN; ++i)
    EXPECT_EQ(probes[i]->fired, i % 10 == 0 ? 0 : 1) << i;
}

}  // namespace
}  // namespace sn
