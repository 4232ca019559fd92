#include "base/token_bucket.h"

#include <gtest/gtest.h>

namespace sn {
namespace {

const Instant kT0 = Instant::from_ns(1'000'000'000);

TEST(TokenBucket, BurstThenRate) {
  TokenBucket b(100, 5, kT0);  // one token per 10 ms
  for (int i = 0; i < 5; ++i)
    EXPECT_TRUE(b.take(kT0));
  EXPECT_FALSE(b.take(kT0));
  EXPECT_FALSE(b.take(kT0 + Duration::millis(9)));
  EXPECT_TRUE(b.take(kT0 + Duration::millis(10)));
  EXPECT_FALSE(b.take(kT0 + Duration::millis(10)));
  // The 5 ms left over from 25 ms counts towards the next token.
  EXPECT_TRUE(b.take(kT0 + Duration::millis(25)));
  EXPECT_TRUE(b.take(kT0 + Duration::millis(30)));
  EXPECT_FALSE(b.take(kT0 + Duration::millis(30)));
}

TEST(TokenBucket, NeverMoreThanBurst) {
  TokenBucket b(1000, 3, kT0);
  EXPECT_TRUE(b.take(kT0));
  const Instant later = kT0 + Duration::seconds(60);
  int taken = 0;
  while (b.take(later))
    ++taken;
  EXPECT_EQ(taken, 3);
}

TEST(TokenBucket, ZeroRateIsUnlimited) {
  TokenBucket b(0, 0, kT0);
  for (int i = 0; i < 1000; ++i)
    EXPECT_TRUE(b.take(kT0));
}

}  // namespace
}  // namespace sn
