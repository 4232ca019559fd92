// Tests for wrap-aware sequence number arithmetic (RFC 9293 §3.4).
#include "wire/seqnum.h"

#include <gtest/gtest.h>

#include <cstddef>

namespace sn {
namespace {

TEST(SeqNum, ComparesAcrossWrap) {
  const SeqNum a{0xfffffff0};
  const SeqNum b{0x00000010};
  EXPECT_TRUE(a < b);
  EXPECT_TRUE(a <= b);
  EXPECT_TRUE(b > a);
  EXPECT_TRUE(b >= a);
  EXPECT_FALSE(b < a);
  EXPECT_EQ(b - a, 0x20);
  EXPECT_EQ(a - b, -0x20);
  EXPECT_TRUE(a <= a);
  EXPECT_TRUE(a >= a);
  EXPECT_FALSE(a < a);
  EXPECT_NE(a, b);
}

TEST(SeqNum, HalfSpaceBoundary) {
  const SeqNum a{0};
  EXPECT_TRUE(a < SeqNum{0x7fffffff});
  EXPECT_TRUE(a > SeqNum{0x80000001});  // more than 2^31 ahead is behind
  EXPECT_EQ(SeqNum{0x7fffffff} - a, INT32_MAX);
}

TEST(SeqNum, ArithmeticWraps) {
  SeqNum s{0xffffffff};
  EXPECT_EQ(s + 1, SeqNum{0});
  EXPECT_EQ(s + 1u, SeqNum{0});
  EXPECT_EQ(s + size_t{2}, SeqNum{1});
  EXPECT_EQ(SeqNum{0} + int32_t{-1}, s);
  EXPECT_EQ(SeqNum{0} - 1, s);
  s += 3;
  EXPECT_EQ(s, SeqNum{2});
  s -= 4;
  EXPECT_EQ(s, SeqNum{0xfffffffe});
}

TEST(SeqNum, InWindow) {
  const SeqNum left{0xfffffff0};
  EXPECT_TRUE(seq_in_window(left, left, 1));
  EXPECT_FALSE(seq_in_window(left, left, 0));  // an empty window holds nothing
  EXPECT_TRUE(seq_in_window(SeqNum{5}, left, 0x20));
  EXPECT_FALSE(seq_in_window(SeqNum{0x10}, left, 0x20));  // one past the right edge
  EXPECT_TRUE(seq_in_window(SeqNum{0x0f}, left, 0x20));
  EXPECT_FALSE(seq_in_window(left - 1, left, 0x20));
}

TEST(SeqNum, MinMax) {
  EXPECT_EQ(seq_max(SeqNum{0xfffffff0}, SeqNum{3}), SeqNum{3});
  EXPECT_EQ(seq_min(SeqNum{0xfffffff0}, SeqNum{3}), SeqNum{0xfffffff0});
}

static_assert(SeqNum{1} < SeqNum{2});
static_assert(SeqNum{0} + 5 == SeqNum{5});

}  // namespace
}  // namespace sn
