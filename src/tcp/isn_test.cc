// Tests for RFC 6528 initial sequence numbers: the keyed tuple hash F, the
// 4-microsecond clock M, and their sum.
#include "tcp/isn.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace sn {
namespace {

constexpr SipKey kKey = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
constexpr Ipv4Address kLocal = Ipv4Address::from_octets(10, 0, 0, 1);
constexpr Ipv4Address kRemote = Ipv4Address::from_octets(10, 0, 0, 2);
constexpr L4Port kLport{80};
constexpr L4Port kRport{49152};

Instant at_ms(int64_t ms) {
  return Instant() + Duration::millis(ms);
}

TEST(IsnHash, FixedLayout) {
  // SipHash-2-4 under key 00..0f of 0a000001 0050 0a000002 c000 is
  // 0xb2e33be2cf62d5b1 (computed independently); F keeps the low 32 bits.
  EXPECT_EQ(hash_tuple(kKey, kLocal, kLport, kRemote, kRport), 0xcf62d5b1u);
  // The peer's view of the same connection: 0a000002 c000 0a000001 0050.
  EXPECT_EQ(hash_tuple(kKey, kRemote, kRport, kLocal, kLport), 0x4666307cu);
}

TEST(IsnClock, TicksEveryFourMicroseconds) {
  EXPECT_EQ(isn_clock(Instant()), 0u);
  EXPECT_EQ(isn_clock(Instant::from_ns(3999)), 0u);
  EXPECT_EQ(isn_clock(Instant::from_ns(4000)), 1u);
  EXPECT_EQ(isn_clock(at_ms(1)), 250u);
  EXPECT_EQ(isn_clock(Instant() + Duration::seconds(1)), 250'000u);
  // Floored below the origin, so the step from -1 ns to 0 is one tick.
  EXPECT_EQ(isn_clock(Instant::from_ns(-1)), 0xffffffffu);
  EXPECT_EQ(isn_clock(Instant::from_ns(-4000)), 0xffffffffu);
  EXPECT_EQ(isn_clock(Instant::from_ns(-4001)), 0xfffffffeu);
  // 2^32 ticks of 4 us (about 4.8 hours) wrap back to 0.
  const Instant wrap = Instant::from_ns((int64_t{1} << 32) * 4000);
  EXPECT_EQ(isn_clock(wrap), 0u);
  EXPECT_EQ(isn_clock(wrap - Duration::micros(4)), 0xffffffffu);
}

TEST(Isn, IsClockPlusHash) {
  const IsnGenerator gen(kKey);
  EXPECT_EQ(gen.isn(kLocal, kLport, kRemote, kRport, Instant()), SeqNum{0xcf62d5b1});
  EXPECT_EQ(gen.isn(kLocal, kLport, kRemote, kRport, at_ms(1)), SeqNum{0xcf62d5b1 + 250});
}

TEST(Isn, Deterministic) {
  const IsnGenerator a(kKey);
  const IsnGenerator b(kKey);
  const Instant now = Instant::from_ns(123'456'789'012);
  EXPECT_EQ(a.isn(kLocal, kLport, kRemote, kRport, now),
            a.isn(kLocal, kLport, kRemote, kRport, now));
  EXPECT_EQ(a.isn(kLocal, kLport, kRemote, kRport, now),
            b.isn(kLocal, kLport, kRemote, kRport, now));
}

TEST(Isn, Advances250PerMillisecond) {
  const IsnGenerator gen(kKey);
  const Instant base = Instant::from_ns(987'654'321);
  const SeqNum first = gen.isn(kLocal, kLport, kRemote, kRport, base);
  for (int64_t ms : {1, 2, 7, 1000, 60'000}) {
    const SeqNum later = gen.isn(kLocal, kLport, kRemote, kRport, base + Duration::millis(ms));
    EXPECT_EQ(later.v - first.v, static_cast<uint32_t>(250 * ms)) << ms << " ms";
  }
  // Modulo 2^32: across the clock's wrap (2^32 * 4 us) the difference still holds.
  const Instant near_wrap = Instant::from_ns((int64_t{1} << 32) * 4000) - Duration::millis(1);
  const SeqNum before = gen.isn(kLocal, kLport, kRemote, kRport, near_wrap);
  const SeqNum after = gen.isn(kLocal, kLport, kRemote, kRport, near_wrap + Duration::millis(3));
  EXPECT_EQ(after - before, 750);
  EXPECT_TRUE(after > before);
}

TEST(Isn, EveryInputMatters) {
  const IsnGenerator gen(kKey);
  const Instant now = at_ms(5);
  const SeqNum base = gen.isn(kLocal, kLport, kRemote, kRport, now);

  SipKey other_key = kKey;
  other_key[7] ^= 0x10;
  EXPECT_NE(IsnGenerator(other_key).isn(kLocal, kLport, kRemote, kRport, now), base);

  EXPECT_NE(gen.isn(Ipv4Address::from_octets(10, 0, 0, 3), kLport, kRemote, kRport, now), base);
  EXPECT_NE(gen.isn(kLocal, L4Port{81}, kRemote, kRport, now), base);
  EXPECT_NE(gen.isn(kLocal, kLport, Ipv4Address::from_octets(10, 0, 0, 4), kRport, now), base);
  EXPECT_NE(gen.isn(kLocal, kLport, kRemote, L4Port{49153}, now), base);
}

TEST(Isn, SwappingEndsChangesIt) {
  const IsnGenerator gen(kKey);
  const Instant now = at_ms(5);
  EXPECT_NE(gen.isn(kLocal, kLport, kRemote, kRport, now),
            gen.isn(kRemote, kRport, kLocal, kLport, now));
  // Swapping only the ports, or only the addresses, also changes it.
  EXPECT_NE(gen.isn(kLocal, kLport, kRemote, kRport, now),
            gen.isn(kLocal, kRport, kRemote, kLport, now));
  EXPECT_NE(gen.isn(kLocal, kLport, kRemote, kRport, now),
            gen.isn(kRemote, kLport, kLocal, kRport, now));
}

}  // namespace
}  // namespace sn
