// The shared lock table: each primitive alone, then from several threads at
// once (TSan runs this file in CI).
#include "shard/lock_table.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace sn {
namespace {

TEST(LockTable, TestAndSetHoldsABitUntilCleared) {
  LockTable t(4);
  EXPECT_EQ(t.bits(), 256u);
  EXPECT_FALSE(t.test(130));
  EXPECT_FALSE(t.test_and_set(130));  // taken
  EXPECT_TRUE(t.test(130));
  EXPECT_TRUE(t.test_and_set(130));  // already held
  EXPECT_FALSE(t.test(129));
  EXPECT_FALSE(t.test(131));
  EXPECT_EQ(t.load(2), uint64_t{1} << 2);
  t.clear(130);
  EXPECT_FALSE(t.test(130));
  EXPECT_EQ(t.load(2), 0u);
}

TEST(LockTable, CompareAndSwapReportsWhatItFound) {
  LockTable t(2);
  uint64_t expected = 0;
  EXPECT_TRUE(t.compare_and_swap(1, expected, 7));
  expected = 3;
  EXPECT_FALSE(t.compare_and_swap(1, expected, 9));
  EXPECT_EQ(expected, 7u);
  EXPECT_TRUE(t.compare_and_swap(1, expected, 9));
  EXPECT_EQ(t.load(1), 9u);
  EXPECT_EQ(t.load(0), 0u);
}

TEST(LockTable, FetchAndAddReturnsThePreviousValueAndWraps) {
  LockTable t(1);
  EXPECT_EQ(t.fetch_and_add(0, 5), 0u);
  EXPECT_EQ(t.fetch_and_add(0, ~uint64_t{0}), 5u);  // adding -1
  EXPECT_EQ(t.load(0), 4u);
}

TEST(LockTableDeathTest, AnIndexOutOfRangeIsABug) {
  LockTable t(1);
  EXPECT_DEATH(t.test_and_set(64), "");
  EXPECT_DEATH((void)t.load(1), "");
}

// Threads race for the same bits and counters: every bit is won exactly
// once, every increment counted, and a CAS-guarded section is never entered
// by two threads at once.
TEST(LockTable, ThreadsAgree) {
  constexpr int kThreads = 4;
  constexpr size_t kBits = 512;
  constexpr int kAdds = 20'000;
  LockTable t(kBits / 64 + 2);
  const size_t counter = kBits / 64;
  const size_t guard = counter + 1;
  std::vector<std::vector<size_t>> won(kThreads);
  int inside = 0;  // guarded by the CAS lock in word `guard`
  int max_inside = 0;
  std::vector<std::thread> threads;
  for (int k = 0; k < kThreads; ++k) {
    threads.emplace_back([&, k] {
      for (size_t b = 0; b < kBits; ++b)
        if (!t.test_and_set((b + k * 37) % kBits)) won[k].push_back((b + k * 37) % kBits);
      for (int i = 0; i < kAdds; ++i) {
        t.fetch_and_add(counter, 1);
        uint64_t expected = 0;
        while (!t.compare_and_swap(guard, expected, 1))
          expected = 0;
        ++inside;
        max_inside = std::max(max_inside, inside);
        --inside;
        expected = 1;
        EXPECT_TRUE(t.compare_and_swap(guard, expected, 0));
      }
    });
  }
  for (auto& th : threads)
    th.join();
  std::vector<int> owners(kBits, 0);
  for (const auto& w : won)
    for (size_t b : w)
      ++owners[b];
  for (size_t b = 0; b < kBits; ++b)
    EXPECT_EQ(owners[b], 1) << b;
  EXPECT_EQ(t.load(counter), uint64_t{kThreads} * kAdds);
  EXPECT_EQ(max_inside, 1);
}

}  // namespace
}  // namespace sn
