// Tests of the single-producer single-consumer ring: capacity rounding, FIFO
// order, the full and empty edges (a refused push or pop leaves its argument
// alone), wraparound of the slots and of the 32-bit indices, bursts, move-only
// items and what the destructor does with leftovers, and two threads moving
// millions of integers through a small ring in order.
#include "buf/ring.h"
#include "base/sanitizers.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <thread>
#include <utility>
#include <vector>

namespace sn {

// Starts an empty ring's free-running indices at `index`.
struct SpscRingPeer {
  template <typename T>
  static void start_at(SpscRing<T>& r, uint32_t index) {
    SN_CHECK(r.empty());
    r.tail_.store(index);
    r.head_.store(index);
    r.head_cache_ = index;
    r.tail_cache_ = index;
  }
};

namespace {

TEST(SpscRingTest, CapacityRoundsUpToAPowerOfTwoOfAtLeastTwo) {
  struct Case {
    uint32_t asked, got;
  };
  for (Case c : {Case{1, 2}, Case{2, 2}, Case{3, 4}, Case{4, 4}, Case{5, 8}, Case{1000, 1024},
                 Case{1024, 1024}, Case{1025, 2048}}) {
    SpscRing<int> r(c.asked);
    EXPECT_EQ(r.capacity(), c.got) << c.asked;
    EXPECT_TRUE(r.empty());
    EXPECT_EQ(r.size(), 0u);
  }
}

TEST(SpscRingTest, PopsInPushOrder) {
  SpscRing<int> r(8);
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(r.push(int{i}));
  EXPECT_EQ(r.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    int v = -1;
    ASSERT_TRUE(r.pop(v));
    EXPECT_EQ(v, i);
  }
  EXPECT_TRUE(r.empty());
}

TEST(SpscRingTest, FullAndEmptyEdgesLeaveTheArgumentAlone) {
  SpscRing<std::unique_ptr<int>> r(4);
  std::unique_ptr<int> v;
  EXPECT_FALSE(r.pop(v));  // empty from the start
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(r.size(), uint32_t(i));
    ASSERT_TRUE(r.push(std::make_unique<int>(i)));
  }
  EXPECT_EQ(r.size(), 4u);
  auto extra = std::make_unique<int>(99);
  EXPECT_FALSE(r.push(std::move(extra)));  // full: nothing moved
  ASSERT_NE(extra, nullptr);
  EXPECT_EQ(*extra, 99);
  // One out makes room for exactly one in.
  ASSERT_TRUE(r.pop(v));
  EXPECT_EQ(*v, 0);
  EXPECT_TRUE(r.push(std::move(extra)));
  EXPECT_EQ(extra, nullptr);
  EXPECT_FALSE(r.push(std::make_unique<int>(100)));
  for (int want : {1, 2, 3, 99}) {
    ASSERT_TRUE(r.pop(v));
    EXPECT_EQ(*v, want);
  }
  auto keep = std::make_unique<int>(7);
  EXPECT_FALSE(r.pop(keep));  // empty: `out` untouched
  ASSERT_NE(keep, nullptr);
  EXPECT_EQ(*keep, 7);
  EXPECT_TRUE(r.empty());
}

TEST(SpscRingTest, WrapsAroundForManyCycles) {
  SpscRing<uint32_t> r(4);
  uint32_t next_in = 0, next_out = 0;
  for (int cycle = 0; cycle < 10'000; ++cycle) {
    const uint32_t in = 1 + cycle % 4;  // 1..4: every fill level, every offset
    for (uint32_t i = 0; i < in; ++i)
      ASSERT_TRUE(r.push(uint32_t{next_in++}));
    ASSERT_EQ(r.size(), in);
    const uint32_t out = 1 + (cycle / 4) % in;
    for (uint32_t i = 0; i < out; ++i) {
      uint32_t v = 0;
      ASSERT_TRUE(r.pop(v));
      ASSERT_EQ(v, next_out++);
    }
    while (!r.empty()) {  // drain the rest, checking order
      uint32_t v = 0;
      ASSERT_TRUE(r.pop(v));
      ASSERT_EQ(v, next_out++);
    }
  }
  EXPECT_EQ(next_in, next_out);
}

TEST(SpscRingTest, IndicesWrapAtTwoToThe32) {
  for (uint32_t start : {std::numeric_limits<uint32_t>::max() - 5,
                         std::numeric_limits<uint32_t>::max(), uint32_t{1} << 31}) {
    SpscRing<int> r(8);
    SpscRingPeer::start_at(r, start);
    int next_in = 0, next_out = 0;
    for (int round = 0; round < 4; ++round) {
      for (int i = 0; i < 8; ++i)
        ASSERT_TRUE(r.push(int{next_in++})) << start;
      EXPECT_EQ(r.size(), 8u);
      EXPECT_FALSE(r.push(-1)) << "full across the wrap";
      for (int i = 0; i < 5; ++i) {
        int v = -1;
        ASSERT_TRUE(r.pop(v));
        ASSERT_EQ(v, next_out++);
      }
      EXPECT_EQ(r.size(), 3u);
      std::vector<int> rest(8);
      ASSERT_EQ(r.pop_burst(rest), 3u);
      for (int i = 0; i < 3; ++i)
        ASSERT_EQ(rest[i], next_out++);
      int v = -1;
      EXPECT_FALSE(r.pop(v)) << "empty across the wrap";
    }
  }
}

TEST(SpscRingTest, BurstsMoveAsManyAsFitInOrder) {
  SpscRing<std::unique_ptr<int>> r(8);
  std::vector<std::unique_ptr<int>> in;
  for (int i = 0; i < 5; ++i)
    in.push_back(std::make_unique<int>(i));
  EXPECT_EQ(r.push_burst(in), 5u);
  for (const auto& p : in)
    EXPECT_EQ(p, nullptr);  // all moved
  in.clear();
  for (int i = 5; i < 10; ++i)
    in.push_back(std::make_unique<int>(i));
  EXPECT_EQ(r.push_burst(in), 3u);  // only three slots left
  EXPECT_EQ(in[2], nullptr);
  ASSERT_NE(in[3], nullptr);  // the rest are untouched
  EXPECT_EQ(*in[3], 8);
  EXPECT_EQ(*in[4], 9);
  EXPECT_EQ(r.push_burst(std::span(in).subspan(3)), 0u);  // full
  EXPECT_EQ(r.push_burst({}), 0u);

  std::vector<std::unique_ptr<int>> out(3);
  EXPECT_EQ(r.pop_burst(out), 3u);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(*out[i], i);
  EXPECT_EQ(r.push_burst(std::span(in).subspan(3)), 2u);  // now 8 and 9 fit
  out.resize(20);
  EXPECT_EQ(r.pop_burst(out), 7u);  // fewer than asked: all there is
  for (int i = 0; i < 7; ++i)
    EXPECT_EQ(*out[i], 3 + i);
  EXPECT_EQ(out[7], nullptr);
  EXPECT_EQ(r.pop_burst(out), 0u);
  EXPECT_EQ(r.pop_burst({}), 0u);
  EXPECT_TRUE(r.empty());
}

// Counts the live objects it owns, to see what the ring destroys.
struct Tracked {
  explicit Tracked(int* live) : live(live) {
    if (live) ++*live;
  }
  Tracked(Tracked&& o) noexcept : live(std::exchange(o.live, nullptr)) {}
  Tracked& operator=(Tracked&& o) noexcept {
    if (this != &o) {
      if (live) --*live;
      live = std::exchange(o.live, nullptr);
    }
    return *this;
  }
  ~Tracked() {
    if (live) --*live;
  }
  int* live;
};

TEST(SpscRingTest, MoveOnlyItemsAreDestroyedOnceEach) {
  int live = 0;
  {
    SpscRing<Tracked> r(4);
    for (int i = 0; i < 3; ++i)
      ASSERT_TRUE(r.push(Tracked(&live)));
    EXPECT_EQ(live, 3);
    {
      Tracked out(nullptr);
      ASSERT_TRUE(r.pop(out));
      EXPECT_EQ(live, 3);  // moved, not copied or lost
    }
    EXPECT_EQ(live, 2);
    // Wrap once with items left in, so the destructor walks across the end.
    for (int i = 0; i < 2; ++i)
      ASSERT_TRUE(r.push(Tracked(&live)));
    EXPECT_EQ(live, 4);
  }
  EXPECT_EQ(live, 0);  // the ring destroyed what it still held
}

TEST(SpscRingTest, TwoThreadsMoveMillionsInOrder) {
  // Fewer under TSan, which runs this several times slower.
  constexpr uint64_t kCount = kUnderTsan ? 3'000'000 : 10'000'000;
  SpscRing<uint64_t> r(256);
  std::thread producer([&] {
    uint64_t next = 0;
    std::vector<uint64_t> burst(32);
    while (next < kCount) {
      if (next % 3 == 0) {  // single pushes and bursts of 1..32, interleaved
        if (r.push(uint64_t{next}))
          ++next;
        else
          std::this_thread::yield();
        continue;
      }
      const uint64_t want = std::min<uint64_t>(1 + next % 32, kCount - next);
      for (uint64_t i = 0; i < want; ++i)
        burst[i] = next + i;
      const uint32_t n = r.push_burst(std::span(burst).first(want));
      next += n;
      if (n == 0) std::this_thread::yield();
    }
  });
  uint64_t expect = 0, out_of_order = 0;
  std::vector<uint64_t> burst(48);
  while (expect < kCount) {
    uint32_t n;
    if (expect % 2 == 0) {
      n = r.pop(burst[0]) ? 1 : 0;
    } else {
      n = r.pop_burst(std::span(burst).first(1 + expect % 48));
    }
    for (uint32_t i = 0; i < n; ++i)
      out_of_order += burst[i] != expect++;
    if (n == 0) std::this_thread::yield();
  }
  producer.join();
  EXPECT_EQ(expect, kCount);
  EXPECT_EQ(out_of_order, 0u);
  EXPECT_TRUE(r.empty());
  uint64_t v;
  EXPECT_FALSE(r.pop(v));
}

}  // namespace
}  // namespace sn
