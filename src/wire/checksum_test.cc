// Tests for the Internet checksum: RFC 1071 example, odd lengths, piecewise
// sums, a naive reference on random buffers, and RFC 1624 incremental updates.
#include "wire/checksum.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
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

// The unfolded sum of `d` in big-endian word sense, byte by byte, starting at
// byte phase `odd` (true: the first byte is a low byte). naive_fold() of it is
// what Checksum::sum() returns.
uint64_t naive_raw_sum(std::span<const std::byte> d, bool odd = false) {
  uint64_t s = 0;
  for (std::byte b : d) {
    s += odd ? std::to_integer<uint64_t>(b) : std::to_integer<uint64_t>(b) << 8;
    odd = !odd;
  }
  return s;
}

uint32_t naive_fold(uint64_t s) {
  while (s >> 16)
    s = (s & 0xffff) + (s >> 16);
  return static_cast<uint32_t>(s);
}

uint32_t naive_sum(std::span<const std::byte> d) {
  return naive_fold(naive_raw_sum(d));
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

TEST(Checksum, FoldSumMatchesNaiveFold) {
  const uint64_t edges[] = {0,
                            1,
                            0xfffe,
                            0xffff,
                            0x10000,
                            0x1fffe,
                            0x1ffff,
                            0xffffffff,
                            0xfffffffe,
                            0x100000000,
                            0xffff0000ffff,
                            0x8000000000000000,
                            0xfffffffffffeffff,
                            0xfffffffffffffffe,
                            0xffffffffffffffff};
  for (uint64_t s : edges)
    EXPECT_EQ(fold_sum(s), naive_fold(s)) << std::hex << s;
  Rng rng(0xf01d);
  for (int i = 0; i < 100000; ++i) {
    // Random values, and ones with long runs of 1 bits (carry chains).
    const uint64_t r = rng.next();
    const uint64_t s = i % 2 ? r : r | (~uint64_t{0} >> rng.below(64));
    ASSERT_EQ(fold_sum(s), naive_fold(s)) << std::hex << s;
    // Multiples of 0xffff fold to 0xffff (-0), never to 0.
    const uint64_t m = (r >> 17) * 0xffff;
    ASSERT_EQ(fold_sum(m), m ? 0xffffu : 0u) << std::hex << m;
  }
}

// Random pieces of every length to 4096, some odd, at random alignments, with
// word adds interleaved at any byte phase: sum() equals the byte-at-a-time
// reference over the concatenation plus the words.
TEST(Checksum, RandomPiecesMatchNaiveReference) {
  Rng rng(0xc5c5);
  for (size_t n = 0; n <= 4096; ++n) {
    auto buf = random_bytes(rng, n + 8);
    const size_t off = rng.below(8);
    const auto data = std::span<const std::byte>(buf).subspan(off, n);
    Checksum pieces;
    uint64_t words = 0;
    size_t at = 0;
    while (at < n) {
      size_t len;
      switch (rng.below(4)) {
        case 0:
          len = rng.below(4);
          break;  // 0 to 3 bytes
        case 1:
          len = rng.below(80);
          break;  // header-sized
        case 2:
          len = rng.below(n + 1);
          break;
        default:
          len = 2 * rng.below(40) + 1;
          break;  // odd
      }
      len = std::min(len, n - at);
      pieces.add(data.subspan(at, len));
      at += len;
      if (rng.chance(0.2)) {
        const uint32_t w = static_cast<uint32_t>(rng.next());
        switch (rng.below(3)) {
          case 0:
            pieces.add16(static_cast<uint16_t>(w));
            words += static_cast<uint16_t>(w);
            break;
          case 1:
            pieces.add32(w);
            words += (w >> 16) + (w & 0xffff);
            break;
          default:
            pieces.add_sum(w & 0x1ffff);
            words += w & 0x1ffff;
            break;
        }
      }
    }
    const uint32_t want = naive_fold(naive_raw_sum(data) + words);
    ASSERT_EQ(pieces.sum(), want) << "n=" << n << " off=" << off;
    ASSERT_EQ(pieces.finish(), static_cast<uint16_t>(~want)) << "n=" << n;
    ASSERT_EQ(Checksum{}.add(data).sum(), naive_sum(data)) << "n=" << n << " off=" << off;
    ASSERT_EQ(internet_checksum(data), naive_checksum(data)) << "n=" << n << " off=" << off;
  }
}

TEST(Checksum, RandomSplitPointsMatchWhole) {
  // Two and three pieces, every split of a few buffers, odd splits included.
  Rng rng(9293);
  for (size_t n : {0, 1, 2, 3, 7, 8, 9, 20, 31, 63, 64, 65, 97, 130}) {
    auto buf = random_bytes(rng, n);
    const uint32_t want = naive_sum(buf);
    for (size_t i = 0; i <= n; ++i) {
      for (size_t j = i; j <= n; ++j) {
        const std::span<const std::byte> d(buf);
        ASSERT_EQ(Checksum{}.add(d.first(i)).add(d.subspan(i, j - i)).add(d.subspan(j)).sum(), want)
            << "n=" << n << " i=" << i << " j=" << j;
      }
    }
  }
}

TEST(Checksum, AllOnesOfLargeLengthsCarryRight) {
  Rng rng(0xff);
  for (size_t n : {8, 9, 63, 64, 65, 1460, 1461, 1500, 8960, 8961, 9000, 65535, 65536, 131072}) {
    std::vector<std::byte> ff(n, std::byte{0xff});
    const uint32_t want = naive_sum(ff);
    ASSERT_EQ(Checksum{}.add(ff).sum(), want) << "n=" << n;
    ASSERT_EQ(internet_checksum(ff), naive_checksum(ff)) << "n=" << n;
    EXPECT_EQ(checksum_ok(ff), want == 0xffff) << "n=" << n;
    // In random pieces, after words that are all ones as well.
    Checksum pieces;
    pieces.add_sum(0xffff).add32(0xffffffff).add16(0xffff);
    for (size_t at = 0; at < n;) {
      const size_t len = std::min<size_t>(rng.below(3000), n - at);
      pieces.add(std::span<const std::byte>(ff).subspan(at, len));
      at += len;
    }
    ASSERT_EQ(pieces.sum(), naive_fold(naive_raw_sum(ff) + 4 * 0xffff)) << "n=" << n;
  }
  // All zero bytes sum to +0 however long; one word of ffff makes it -0.
  std::vector<std::byte> zeros(9001);
  EXPECT_EQ(Checksum{}.add(zeros).sum(), 0u);
  EXPECT_EQ(Checksum{}.add(zeros).add16(0xffff).sum(), 0xffffu);
  EXPECT_EQ(Checksum{}.add(std::span(zeros).first(3)).add(zeros).sum(), 0u);
}

TEST(Checksum, ManyWordAddsDoNotOverflow) {
  Checksum c;
  uint64_t want = 0;
  for (int i = 0; i < 1000000; ++i) {
    c.add32(0xffffffff).add_sum(0xffff).add16(0xfffe);
    want += 0xffff + 0xffff + 0xffff + 0xfffe;
  }
  EXPECT_EQ(c.sum(), naive_fold(want));
}

TEST(Checksum, PseudoHeaderSumMatchesBytes) {
  Rng rng(768);
  for (int i = 0; i < 10000; ++i) {
    const Ipv4Address src{static_cast<uint32_t>(rng.next())};
    const Ipv4Address dst{static_cast<uint32_t>(rng.next())};
    const auto proto = static_cast<uint8_t>(rng.next());
    const auto len = static_cast<uint16_t>(rng.next());
    std::byte ph[12];
    store32(ph, src.v);
    store32(ph + 4, dst.v);
    store8(ph + 8, 0);
    store8(ph + 9, proto);
    store16(ph + 10, len);
    ASSERT_EQ(pseudo_header_sum(src, dst, proto, len), naive_sum(ph)) << i;
  }
}

// The bulk sum's portable version (the one used where there is no
// add-with-carry intrinsic) against the one in use and the reference.
TEST(Checksum, PortableSumWordsMatches) {
  Rng rng(64);
  for (size_t n = 0; n <= 2100; ++n) {
    auto buf = random_bytes(rng, n + 8);
    if (n % 7 == 0) std::fill(buf.begin(), buf.end(), std::byte{0xff});
    const auto data = std::span<const std::byte>(buf).subspan(rng.below(8), n);
    const uint64_t init = n % 3 == 0 ? ~uint64_t{0} - rng.below(4) : rng.next();
    const uint64_t portable = checksum_detail::sum_words_portable(init, data);
    ASSERT_EQ(portable, checksum_detail::sum_words(init, data)) << "n=" << n;
    // Unrotated, it is the sum starting at the other byte phase (on a
    // little-endian machine, where the first byte is a low byte).
    const uint64_t init_words =
        (init & 0xffff) + (init >> 16 & 0xffff) + (init >> 32 & 0xffff) + (init >> 48);
    ASSERT_EQ(fold_sum(portable),
              naive_fold(init_words + naive_raw_sum(data, checksum_detail::kEvenPhaseRot != 0)))
        << "n=" << n;
    // Native-order words: a rotation by kEvenPhaseRot gives word sense.
    const uint64_t bytes =
        std::rotl(checksum_detail::sum_words_portable(0, data), checksum_detail::kEvenPhaseRot);
    ASSERT_EQ(fold_sum(bytes), naive_sum(data)) << "n=" << n;
  }
}

}  // namespace
}  // namespace sn
