#include "tcp/syn_cookie.h"

#include <gtest/gtest.h>

namespace sn {
namespace {

const SipKey kKey = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
const Ipv4Address kLocal = Ipv4Address::from_octets(10, 0, 0, 2);
const Ipv4Address kRemote = Ipv4Address::from_octets(10, 0, 0, 1);
const L4Port kLport{80}, kRport{40000};
const Instant kT0 = Instant::from_ns(int64_t{1000} * 1'000'000'000);
const SeqNum kPeerIsn{0x12345678};

TEST(SynCookie, RoundTripCarriesMss) {
  SynCookies c(kKey);
  for (uint16_t mss : {536, 1000, 1300, 1440, 1460, 9000}) {
    SeqNum cookie = c.make(kLocal, kLport, kRemote, kRport, kPeerIsn, mss, kT0);
    auto got =
        c.check(kLocal, kLport, kRemote, kRport, kPeerIsn, cookie, kT0 + Duration::seconds(1));
    ASSERT_TRUE(got.has_value()) << mss;
    EXPECT_EQ(*got, SynCookies::cookie_mss(mss));
    EXPECT_LE(*got, mss);
  }
  EXPECT_EQ(SynCookies::cookie_mss(std::nullopt), 536);
  EXPECT_EQ(SynCookies::cookie_mss(1459), 1440);
}

TEST(SynCookie, RejectsOtherTupleIsnOrKey) {
  SynCookies c(kKey);
  SeqNum cookie = c.make(kLocal, kLport, kRemote, kRport, kPeerIsn, 1460, kT0);
  EXPECT_FALSE(c.check(kLocal, kLport, kRemote, L4Port{40001}, kPeerIsn, cookie, kT0));
  EXPECT_FALSE(c.check(kLocal, L4Port{81}, kRemote, kRport, kPeerIsn, cookie, kT0));
  EXPECT_FALSE(c.check(kLocal, kLport, Ipv4Address::from_octets(10, 0, 0, 3), kRport, kPeerIsn,
                       cookie, kT0));
  EXPECT_FALSE(c.check(kLocal, kLport, kRemote, kRport, kPeerIsn + 1, cookie, kT0));
  EXPECT_FALSE(c.check(kLocal, kLport, kRemote, kRport, kPeerIsn, cookie + 1, kT0));
  SipKey other = kKey;
  other[0] ^= 1;
  EXPECT_FALSE(SynCookies(other).check(kLocal, kLport, kRemote, kRport, kPeerIsn, cookie, kT0));
}

TEST(SynCookie, ExpiresAfterTwoTicks) {
  SynCookies c(kKey);
  SeqNum cookie = c.make(kLocal, kLport, kRemote, kRport, kPeerIsn, 1460, kT0);
  // Valid through the end of the second tick after the one it was made in.
  const Instant tick_start = Instant::from_ns(kT0.ns() / 64'000'000'000 * 64'000'000'000);
  EXPECT_TRUE(c.check(kLocal, kLport, kRemote, kRport, kPeerIsn, cookie,
                      tick_start + Duration::seconds(3 * 64 - 1)));
  EXPECT_FALSE(c.check(kLocal, kLport, kRemote, kRport, kPeerIsn, cookie,
                       tick_start + Duration::seconds(3 * 64)));
  // Nor is a cookie from the future (a clock 31 ticks back) accepted.
  EXPECT_FALSE(c.check(kLocal, kLport, kRemote, kRport, kPeerIsn, cookie,
                       tick_start - Duration::seconds(64)));
}

TEST(SynCookie, ForgeriesAreRare) {
  // A blind attacker guessing cookies: 2^-25 per try (of the tick bits and
  // MSS index he can guess); 100000 random tries should all fail.
  SynCookies c(kKey);
  uint32_t x = 12345, accepted = 0;
  for (int i = 0; i < 100000; ++i) {
    x = x * 1664525 + 1013904223;
    if (c.check(kLocal, kLport, kRemote, kRport, kPeerIsn, SeqNum{x}, kT0)) ++accepted;
  }
  EXPECT_EQ(accepted, 0u);
}

TEST(SynCookie, TsvalCarriesOptionsAndStaysBehindTheClock) {
  for (uint32_t now_ms : {100u, 1000u, 123456789u}) {
    for (std::optional<uint8_t> ws : {std::optional<uint8_t>{}, std::optional<uint8_t>{0},
                                      std::optional<uint8_t>{7}, std::optional<uint8_t>{14}}) {
      for (bool sack : {false, true}) {
        const uint32_t ts = SynCookies::encode_tsval(now_ms, ws, sack);
        EXPECT_LT(static_cast<int32_t>(ts - now_ms), 0);
        EXPECT_GE(static_cast<int32_t>(ts - now_ms), -64);
        CookieOptions o = SynCookies::decode_tsecr(ts, 1440);
        EXPECT_EQ(o.window_scale, ws);
        EXPECT_EQ(o.sack_permitted, sack);
        EXPECT_EQ(o.mss, 1440);
      }
    }
  }
}

}  // namespace
}  // namespace sn
