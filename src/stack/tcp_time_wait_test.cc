#include "stack/tcp_time_wait.h"

#include <gtest/gtest.h>

namespace sn {
namespace {

const Instant kT0 = Instant::from_ns(int64_t{1000} * 1'000'000'000);

TimeWaitEntry entry(uint16_t port, Instant expires) {
  TimeWaitEntry e{};
  e.key = TcpKey{1, 2, 80, port};
  e.expires = expires;
  return e;
}

TEST(TimeWaitTable, ErasedSlotsAreReusedBeforeALiveEntryIsEvicted) {
  TimeWaitTable t(4, 1);
  for (uint16_t p = 1; p <= 4; ++p)
    EXPECT_FALSE(t.insert(entry(p, kT0 + Duration::seconds(p))));
  t.erase(TcpKey{1, 2, 80, 2});
  EXPECT_FALSE(t.insert(entry(5, kT0 + Duration::seconds(5))));  // room left by 2
  EXPECT_EQ(t.size(), 4u);
  for (uint16_t p : {1, 3, 4, 5})
    EXPECT_NE(t.find(TcpKey{1, 2, 80, p}, kT0), nullptr) << p;
  EXPECT_TRUE(t.insert(entry(6, kT0 + Duration::seconds(6))));  // now full: 1 goes
  EXPECT_EQ(t.find(TcpKey{1, 2, 80, 1}, kT0), nullptr);
  // Expiry in order, and the earliest deadline left.
  EXPECT_EQ(t.expire(kT0 + Duration::seconds(4)), kT0 + Duration::seconds(5));
  EXPECT_EQ(t.size(), 2u);
  EXPECT_EQ(t.expire(kT0 + Duration::seconds(10)), Instant::never());
  EXPECT_EQ(t.size(), 0u);
}

TEST(TimeWaitTable, AnEntryPastItsTimeIsNotFound) {
  TimeWaitTable t(4, 1);
  t.insert(entry(1, kT0 + Duration::seconds(1)));
  t.insert(entry(2, kT0 + Duration::seconds(60)));
  // An entry added late with an early deadline sits behind a later one:
  // expire() stops at the front, but find() no longer answers for it.
  t.insert(entry(3, kT0 + Duration::seconds(2)));
  EXPECT_EQ(t.expire(kT0 + Duration::seconds(5)), kT0 + Duration::seconds(60));
  EXPECT_EQ(t.find(TcpKey{1, 2, 80, 3}, kT0 + Duration::seconds(5)), nullptr);
  EXPECT_NE(t.find(TcpKey{1, 2, 80, 2}, kT0 + Duration::seconds(5)), nullptr);
}

}  // namespace
}  // namespace sn
