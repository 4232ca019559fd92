// Tests for the Internet checksum: RFC 1071 example, odd lengths, piecewise
// sums, a naive reference on random buffers, and RFC 1624 incremental updates.
#include "wire/checksum.h"

#include <gtest/gtest.h>

#include <vector>

#include "base/rng.h"
#include "wire/bytes.h"
#include "wire/wire_testing.h"

namespace sn {
namespace {

// The obvious implementation: big-endian words, zero-padded, folded at the end.
uint16_t naive_checksum(std::span<const std::byte> d) {
  uint64_t s = 0;
  for (size_t i = 0; i < d.size(); i += 2) {
    uint32_t hi = std::to_integer<uint32_t>(d[i]) << 8;
    uint32_t lo = i + 1 < d.size() ? std::to_integer<uint32_t>(d[i + 1]) : 0;
    s += hi | lo;
  }
  while (s >> 16)
    s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(~s);
}

std::vector<std::byte> random_bytes(Rng& rng, size_t n) {
  std::vector<std::byte> v(n);
  for (auto& b : v)
    b = static_cast<std::byte>(rng.next());
  return v;
}

TEST(Checksum, Rfc1071Example) {
  // RFC 1071 §3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2.
  constexpr uint8_t kData[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  EXPECT_EQ(Checksum{}.add(as_span(kData)).sum(), 0xddf2u);
  EXPECT_EQ(internet_checksum(as_span(kData)), 0x220d);
}

TEST(Checksum, EmptyIsAllOnes) {
  EXPECT_EQ(Checksum{}.sum(), 0u);
  EXPECT_EQ(internet_checksum({}), 0xffff);
}

TEST(Checksum, OddLengthPadsWithZero) {
  constexpr uint8_t kData[] = {0x01, 0x02, 0x03};
  EXPECT_EQ(Checksum{}.add(as_span(kData)).sum(), 0x0402u);  // 0x0102 + 0x0300
  EXPECT_EQ(internet_checksum(as_span(kData)), 0xfbfd);
  constexpr uint8_t kOne[] = {0xab};
  EXPECT_EQ(internet_checksum(as_span(kOne)), static_cast<uint16_t>(~0xab00));
}

TEST(Checksum, CarriesWrapAround) {
  std::vector<std::byte> ff(4097, std::byte{0xff});
  // Any number of 0xffff words sums to 0xffff; the odd last byte adds 0xff00.
  EXPECT_EQ(Checksum{}.add(std::span(ff).first(4096)).sum(), 0xffffu);
  EXPECT_EQ(Checksum{}.add(ff).sum(), 0xff00u);
  EXPECT_EQ(internet_checksum(ff), naive_checksum(ff));
}

TEST(Checksum, MatchesNaiveReferenceOnRandomBuffers) {
  Rng rng(1071);
  for (size_t n = 0; n <= 2000; ++n) {
    auto buf = random_bytes(rng, n + 7);
    const size_t off = rng.below(8);  // unaligned starts too
    auto s = std::span<const std::byte>(buf).subspan(off, n);
    ASSERT_EQ(internet_checksum(s), naive_checksum(s)) << "n=" << n << " off=" << off;
  }
}

TEST(Checksum, PiecewiseEqualsWhole) {
  Rng rng(42);
  for (int iter = 0; iter < 500; ++iter) {
    auto buf = random_bytes(rng, rng.below(600));
    Checksum pieces;
    size_t at = 0;
    while (at < buf.size()) {
      const size_t len = std::min<size_t>(rng.below(40), buf.size() - at);
      pieces.add(std::span<const std::byte>(buf).subspan(at, len));
      at += len;
    }
    ASSERT_EQ(pieces.sum(), Checksum{}.add(buf).sum()) << "iter " << iter;
    ASSERT_EQ(pieces.finish(), naive_checksum(buf)) << "iter " << iter;
  }
}

TEST(Checksum, OneByteAtATime) {
  // Seed 7 happens to give odd-position bytes summing to a multiple of 257,
  // which hides a lost byte phase (256*O == O mod 0xffff); 8 does not.
  Rng rng(8);
  auto buf = random_bytes(rng, 301);
  Checksum c;
  for (std::byte b : buf)
    c.add(std::span(&b, 1));
  EXPECT_EQ(c.finish(), naive_checksum(buf));
}

TEST(Checksum, WordAddsMatchBytes) {
  constexpr uint8_t kData[] = {0x12, 0x34, 0xde, 0xad, 0xbe, 0xef};
  EXPECT_EQ(Checksum{}.add16(0x1234).add32(0xdeadbeef).sum(), Checksum{}.add(as_span(kData)).sum());
  EXPECT_EQ(Checksum{}.add_sum(Checksum{}.add(as_span(kData)).sum()).finish(),
            internet_checksum(as_span(kData)));
}

TEST(Checksum, PseudoHeaderSum) {
  // 0a00 + 0002 + 0a00 + 0001 + 0011 + 0025 = 1439.
  EXPECT_EQ(pseudo_header_sum(Ipv4Address::from_octets(10, 0, 0, 2),
                              Ipv4Address::from_octets(10, 0, 0, 1), 17, 37),
            0x1439u);
  // ffff + ffff + ffff + ffff + 00ff + ffff folds to 00ff + ffff -> 00ff.
  EXPECT_EQ(pseudo_header_sum(Ipv4Address::broadcast(), Ipv4Address::broadcast(), 0xff, 0xffff),
            0x00ffu);
}

TEST(Checksum, ChecksumOkOnGoodAndCorrupted) {
  constexpr uint8_t kData[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7, 0x22, 0x0d};
  EXPECT_TRUE(checksum_ok(as_span(kData)));
  auto bad = to_vec(kData);
  bad[3] ^= std::byte{0x10};
  EXPECT_FALSE(checksum_ok(bad));
}

TEST(Checksum, ZeroAndAllOnesCorner) {
  // Words summing to exactly ffff give a checksum of 0000 (not ffff) ...
  constexpr uint8_t kData[] = {0x12, 0x34, 0xed, 0xcb};
  EXPECT_EQ(internet_checksum(as_span(kData)), 0x0000);
  // ... and both +0 (0000) and -0 (ffff) in the field verify.
  constexpr uint8_t kPlusZero[] = {0x12, 0x34, 0xed, 0xcb, 0x00, 0x00};
  constexpr uint8_t kMinusZero[] = {0x12, 0x34, 0xed, 0xcb, 0xff, 0xff};
  EXPECT_TRUE(checksum_ok(as_span(kPlusZero)));
  EXPECT_TRUE(checksum_ok(as_span(kMinusZero)));
  // All-zero data sums to +0, so its checksum is ffff and 0000 does not verify.
  constexpr uint8_t kZeros[] = {0, 0, 0, 0};
  EXPECT_EQ(internet_checksum(as_span(kZeros)), 0xffff);
  EXPECT_FALSE(checksum_ok(as_span(kZeros)));
  // RFC 1624 §3's point: eqn 3 lands on 0000 where a recompute does, not ffff.
  // Change 0x1234 -> 0x1235 in {1233, edcb} (sum fffe, checksum 0001).
  EXPECT_EQ(checksum_adjust(0x0001, 0x1233, 0x1234), 0x0000);
  // The documented difference: editing the only nonzero word to zero.
  EXPECT_EQ(checksum_adjust(static_cast<uint16_t>(~0x1234), 0x1234, 0x0000), 0x0000);
}

TEST(Checksum, IncrementalUpdateEqualsRecompute) {
  Rng rng(1624);
  for (int iter = 0; iter < 2000; ++iter) {
    const size_t words = 1 + rng.below(40);
    auto buf = random_bytes(rng, 2 * words);
    buf[0] = std::byte{0x45};  // never all zero, like every real header
    const uint16_t before = internet_checksum(buf);
    const size_t at = 2 * (1 + rng.below(words));  // any word but the first
    if (at >= buf.size()) continue;
    const uint16_t old_word = load16(&buf[at]);
    const uint16_t new_word = static_cast<uint16_t>(rng.next());
    store16(&buf[at], new_word);
    ASSERT_EQ(checksum_adjust(before, old_word, new_word), internet_checksum(buf))
        << "iter " << iter;
  }
}

TEST(Checksum, IncrementalUpdate32EqualsRecompute) {
  Rng rng(3);
  for (int iter = 0; iter < 500; ++iter) {
    auto buf = random_bytes(rng, 20);
    buf[0] = std::byte{0x45};
    const uint16_t before = internet_checksum(buf);
    const uint32_t old_value = load32(&buf[12]);
    const uint32_t new_value = static_cast<uint32_t>(rng.next());
    store32(&buf[12], new_value);
    ASSERT_EQ(checksum_adjust32(before, old_value, new_value), internet_checksum(buf));
  }
}

}  // namespace
}  // namespace sn
