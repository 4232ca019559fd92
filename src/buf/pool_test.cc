// Tests of the packet pool and packet chains: allocation and release, counted
// exhaustion, chain building, copying out of a chain at every offset and length,
// truncating a chain at every length, and the bounds of prepend/append/trim.
#include "buf/pool.h"

#include <gtest/gtest.h>

#include <cstring>
#include <set>
#include <vector>

namespace sn {
namespace {

constexpr PoolConfig kSmall{.count = 8, .buffer_size = 256, .headroom = 32};

// Byte i of a test chain.
std::byte at(uint32_t i) {
  return std::byte(static_cast<uint8_t>(i * 13 + 5));
}

// A chain with links of the given sizes (zero-length links included), filled
// with at(0), at(1), ...
PacketPtr make_chain(PacketPool& pool, const std::vector<uint32_t>& sizes) {
  PacketPtr head;
  uint32_t n = 0;
  for (uint32_t size : sizes) {
    PacketPtr p = pool.alloc();
    SN_CHECK(p != nullptr);
    std::byte* b = p->append(size);
    for (uint32_t i = 0; i < size; ++i)
      b[i] = at(n++);
    if (!head)
      head = std::move(p);
    else
      head->append_chain(std::move(p));
  }
  return head;
}

TEST(PacketPoolTest, FreshPacketHasTheConfiguredShape) {
  PacketPool pool(kSmall);
  EXPECT_EQ(pool.capacity(), 8u);
  EXPECT_EQ(pool.available(), 8u);
  PacketPtr p = pool.alloc();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->size(), 0u);
  EXPECT_EQ(p->headroom(), 32u);
  EXPECT_EQ(p->tailroom(), 256u - 32u);
  EXPECT_EQ(p->capacity(), 256u);
  EXPECT_EQ(p->next(), nullptr);
  EXPECT_EQ(p->iface, 0);
  EXPECT_EQ(pool.available(), 7u);
  EXPECT_EQ(pool.in_use(), 1u);
  p.reset();
  EXPECT_EQ(pool.available(), 8u);
  EXPECT_EQ(pool.exhausted.get(), 0u);
}

TEST(PacketPoolTest, BuffersAreDistinctAndDoNotOverlap) {
  PacketPool pool(kSmall);
  std::vector<PacketPtr> all;
  std::set<const std::byte*> starts;
  for (int i = 0; i < 8; ++i) {
    all.push_back(pool.alloc());
    ASSERT_NE(all.back(), nullptr);
    // Fill the whole buffer: a neighbour sharing bytes would show below.
    Packet& p = *all.back();
    p.reset(0);
    std::memset(p.append(p.capacity()), i, p.capacity());
    starts.insert(p.data());
  }
  EXPECT_EQ(starts.size(), 8u);
  for (int i = 0; i < 8; ++i)
    for (std::byte b : all[i]->bytes())
      ASSERT_EQ(b, std::byte(i));
}

TEST(PacketPoolTest, ExhaustionReturnsNullAndIsCounted) {
  PacketPool pool(kSmall);
  std::vector<PacketPtr> all;
  for (int i = 0; i < 8; ++i)
    all.push_back(pool.alloc());
  EXPECT_EQ(pool.available(), 0u);
  EXPECT_EQ(pool.alloc(), nullptr);
  EXPECT_EQ(pool.alloc(), nullptr);
  EXPECT_EQ(pool.exhausted.get(), 2u);
  all.pop_back();
  PacketPtr again = pool.alloc();
  EXPECT_NE(again, nullptr);
  EXPECT_EQ(pool.exhausted.get(), 2u);
}

TEST(PacketPoolTest, ReusedPacketIsReset) {
  PacketPool pool(kSmall);
  std::vector<PacketPtr> all;
  for (int i = 0; i < 8; ++i) {
    all.push_back(pool.alloc());
    all.back()->prepend(10);
    all.back()->append(20);
    all.back()->iface = 3;
  }
  all.clear();
  for (int i = 0; i < 8; ++i) {
    PacketPtr p = pool.alloc();
    EXPECT_EQ(p->size(), 0u);
    EXPECT_EQ(p->headroom(), 32u);
    EXPECT_EQ(p->iface, 0);
    EXPECT_EQ(p->next(), nullptr);
    all.push_back(std::move(p));
  }
}

TEST(PacketPoolTest, AllocChainSplitsByPerPacket) {
  PacketPool pool(PoolConfig{.count = 16, .buffer_size = 256, .headroom = 32});
  struct Case {
    uint32_t bytes, per, links, last;
  };
  for (Case c : {Case{0, 100, 1, 0}, Case{1, 100, 1, 1}, Case{100, 100, 1, 100},
                 Case{101, 100, 2, 1}, Case{1000, 100, 10, 100}, Case{1001, 224, 5, 105}}) {
    PacketPtr p = pool.alloc_chain(c.bytes, c.per);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(p->chain_size(), c.bytes);
    EXPECT_EQ(p->chain_count(), c.links);
    EXPECT_EQ(pool.available(), 16u - c.links);
    const Packet* q = p.get();
    for (uint32_t i = 0; i + 1 < c.links; ++i, q = q->next()) {
      EXPECT_EQ(q->size(), c.per);
      EXPECT_EQ(q->headroom(), 32u);
    }
    EXPECT_EQ(q->size(), c.last);
    EXPECT_EQ(q->next(), nullptr);
    p.reset();
    EXPECT_EQ(pool.available(), 16u);
  }
}

TEST(PacketPoolTest, AllocChainThatRunsOutReleasesThePartialChain) {
  PacketPool pool(kSmall);
  EXPECT_EQ(pool.alloc_chain(900, 100), nullptr);  // needs 9 of 8
  EXPECT_EQ(pool.exhausted.get(), 1u);
  EXPECT_EQ(pool.available(), 8u);
  PacketPtr all = pool.alloc_chain(800, 100);  // exactly the pool
  ASSERT_NE(all, nullptr);
  EXPECT_EQ(all->chain_count(), 8u);
  EXPECT_EQ(pool.available(), 0u);
  EXPECT_EQ(pool.alloc_chain(1, 1), nullptr);
  EXPECT_EQ(pool.exhausted.get(), 2u);
  all.reset();  // the head releases every link
  EXPECT_EQ(pool.available(), 8u);
}

TEST(PacketPoolTest, ChainCopyOutAtEveryOffsetAndLength) {
  PacketPool pool(PoolConfig{.count = 16, .buffer_size = 256, .headroom = 32});
  // Uneven links, one of them empty, one of a single byte.
  PacketPtr c = make_chain(pool, {7, 1, 0, 16, 5, 12});
  const uint32_t total = c->chain_size();
  ASSERT_EQ(total, 41u);
  ASSERT_EQ(c->chain_count(), 6u);
  for (uint32_t off = 0; off <= total; ++off) {
    for (uint32_t len = 0; off + len <= total; ++len) {
      std::vector<std::byte> out(len + 2, std::byte{0xee});
      chain_copy_out(*c, off, std::span<std::byte>(out.data() + 1, len));
      ASSERT_EQ(out.front(), std::byte{0xee});  // nothing written outside
      ASSERT_EQ(out.back(), std::byte{0xee});
      for (uint32_t i = 0; i < len; ++i)
        ASSERT_EQ(out[1 + i], at(off + i)) << "offset " << off << " length " << len;
    }
  }
}

TEST(PacketPoolTest, ChainTruncateAtEveryLength) {
  PacketPool pool(PoolConfig{.count = 16, .buffer_size = 256, .headroom = 32});
  const std::vector<uint32_t> sizes = {7, 1, 16, 5, 12};
  for (uint32_t n = 0; n <= 41; ++n) {
    PacketPtr c = make_chain(pool, sizes);
    chain_truncate(*c, n);
    EXPECT_EQ(c->chain_size(), n);
    // The link holding byte n-1 ends the chain (the first link when n is 0).
    uint32_t links = 1, sum = sizes[0];
    while (sum < n)
      sum += sizes[links++];
    EXPECT_EQ(c->chain_count(), links) << n;
    EXPECT_EQ(pool.available(), 16u - links) << n;
    std::vector<std::byte> out(n);
    chain_copy_out(*c, 0, out);
    for (uint32_t i = 0; i < n; ++i)
      ASSERT_EQ(out[i], at(i));
    c.reset();
    EXPECT_EQ(pool.available(), 16u);
  }
}

TEST(PacketPoolTest, ChainTruncatePastTheEndKeepsEverything) {
  PacketPool pool(kSmall);
  PacketPtr c = make_chain(pool, {3, 4});
  chain_truncate(*c, 100);
  EXPECT_EQ(c->chain_size(), 7u);
  EXPECT_EQ(c->chain_count(), 2u);
}

TEST(PacketPoolTest, AppendChainAndTakeNext) {
  PacketPool pool(kSmall);
  PacketPtr a = make_chain(pool, {2, 3});
  PacketPtr b = make_chain(pool, {4});
  PacketPtr c = make_chain(pool, {5, 6});
  b->append_chain(std::move(c));
  a->append_chain(std::move(b));
  EXPECT_EQ(a->chain_count(), 5u);
  EXPECT_EQ(a->chain_size(), 20u);
  EXPECT_EQ(pool.available(), 3u);
  PacketPtr rest = a->take_next();
  EXPECT_EQ(a->chain_count(), 1u);
  EXPECT_EQ(a->chain_size(), 2u);
  EXPECT_EQ(rest->chain_count(), 4u);
  EXPECT_EQ(rest->chain_size(), 18u);
  EXPECT_EQ(a->take_next(), nullptr);
  rest.reset();
  EXPECT_EQ(pool.available(), 7u);
}

TEST(PacketPoolTest, ReleasingAWholePoolChainRefillsThePool) {
  PacketPool pool(PoolConfig{.count = 64, .buffer_size = 128, .headroom = 0});
  PacketPtr c = pool.alloc_chain(64 * 128, 128);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(pool.available(), 0u);
  EXPECT_EQ(c->chain_count(), 64u);
  c.reset();
  EXPECT_EQ(pool.available(), pool.capacity());
  // And every buffer is usable again.
  c = pool.alloc_chain(64 * 128, 128);
  EXPECT_NE(c, nullptr);
}

TEST(PacketPoolTest, PrependAppendTrimWithinBounds) {
  PacketPool pool(kSmall);
  PacketPtr p = pool.alloc();
  std::byte* body = p->append(10);
  std::memset(body, 0xab, 10);
  std::byte* hdr = p->prepend(32);  // the whole headroom
  EXPECT_EQ(hdr, body - 32);
  EXPECT_EQ(p->headroom(), 0u);
  EXPECT_EQ(p->size(), 42u);
  p->append(p->tailroom());  // the whole tailroom
  EXPECT_EQ(p->tailroom(), 0u);
  EXPECT_EQ(p->size(), 256u);
  p->trim_front(32);
  EXPECT_EQ(p->data(), body);
  EXPECT_EQ(p->data()[0], std::byte{0xab});
  p->truncate(10);
  EXPECT_EQ(p->size(), 10u);
  p->trim_front(10);
  EXPECT_EQ(p->size(), 0u);
  p->reset(100);
  EXPECT_EQ(p->headroom(), 100u);
  EXPECT_EQ(p->size(), 0u);
  EXPECT_EQ(p->tailroom(), 156u);
}

using PacketPoolDeathTest = ::testing::Test;

TEST(PacketPoolDeathTest, OutOfBoundsEditsStop) {
  PacketPool pool(kSmall);
  PacketPtr p = pool.alloc();
  p->append(10);
  EXPECT_DEATH(p->prepend(33), "check failed");
  EXPECT_DEATH(p->append(256 - 32 - 10 + 1), "check failed");
  EXPECT_DEATH(p->trim_front(11), "check failed");
  EXPECT_DEATH(p->truncate(11), "check failed");
  EXPECT_DEATH(p->reset(257), "check failed");
  EXPECT_DEATH((void)pool.alloc_chain(10, 256 - 32 + 1), "check failed");
  EXPECT_EQ(p->size(), 10u);  // the parent is untouched
}

}  // namespace
}  // namespace sn
