// Tests of packets released away from their pool's owner thread: they go on
// the remote free stack and come home on reclaim() or when alloc() runs dry;
// a chain whose links come from two pools sends each link to its own pool;
// set_owner_thread() moves the owner; several threads releasing at once; and
// a two-thread stress where one thread allocates and hands packets over an
// SpscRing to another that frees them, with every buffer home at the end.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "base/sanitizers.h"
#include "buf/pool.h"
#include "buf/ring.h"

namespace sn {
namespace {

constexpr PoolConfig kSmall{.count = 8, .buffer_size = 256, .headroom = 32};

// Releases `packets` on a thread of their own, and waits for it.
void release_elsewhere(std::vector<PacketPtr> packets) {
  std::thread([&] { packets.clear(); }).join();
}

// Makes a thread that has already ended the pool's owner, so that every
// release on the calling thread takes the remote path.
void bind_to_gone_thread(PacketPool& pool) {
  std::thread([&] { pool.set_owner_thread(); }).join();
}

std::vector<PacketPtr> alloc_n(PacketPool& pool, int n) {
  std::vector<PacketPtr> v;
  for (int i = 0; i < n; ++i) {
    v.push_back(pool.alloc());
    SN_CHECK(v.back() != nullptr);
  }
  return v;
}

TEST(PacketPoolRemoteTest, ReleaseOnTheOwnerStaysLocal) {
  PacketPool pool(kSmall);
  alloc_n(pool, 5).clear();
  EXPECT_EQ(pool.available(), 8u);
  EXPECT_EQ(pool.reclaim(), 0u);
  EXPECT_EQ(pool.remote_frees.get(), 0u);
}

TEST(PacketPoolRemoteTest, ReleaseOnAnotherThreadComesBackOnReclaim) {
  PacketPool pool(kSmall);
  release_elsewhere(alloc_n(pool, 5));
  // Not home yet: available() counts the local stack only.
  EXPECT_EQ(pool.available(), 3u);
  EXPECT_EQ(pool.in_use(), 5u);
  EXPECT_EQ(pool.remote_frees.get(), 0u);
  EXPECT_EQ(pool.reclaim(), 5u);
  EXPECT_EQ(pool.available(), 8u);
  EXPECT_EQ(pool.remote_frees.get(), 5u);
  EXPECT_EQ(pool.reclaim(), 0u);
  // And they are good packets again.
  std::vector<PacketPtr> all = alloc_n(pool, 8);
  for (PacketPtr& p : all) {
    EXPECT_EQ(p->next(), nullptr);
    EXPECT_EQ(p->size(), 0u);
    EXPECT_EQ(p->headroom(), 32u);
  }
  EXPECT_EQ(pool.alloc(), nullptr);
  EXPECT_EQ(pool.exhausted.get(), 1u);
}

TEST(PacketPoolRemoteTest, AllocTakesRemoteFreesBackWhenTheLocalStackIsEmpty) {
  PacketPool pool(kSmall);
  std::vector<PacketPtr> all = alloc_n(pool, 8);
  all.back()->append(10);
  all.back()->iface = 2;
  release_elsewhere(std::move(all));
  EXPECT_EQ(pool.available(), 0u);
  // The local stack is empty, so this alloc takes the remote stack back.
  std::vector<PacketPtr> again = alloc_n(pool, 8);
  EXPECT_EQ(pool.exhausted.get(), 0u);
  EXPECT_EQ(pool.remote_frees.get(), 8u);
  for (PacketPtr& p : again) {
    EXPECT_EQ(p->size(), 0u);
    EXPECT_EQ(p->iface, 0);
    EXPECT_EQ(p->next(), nullptr);
  }
}

TEST(PacketPoolRemoteTest, SetOwnerThreadMovesTheOwner) {
  PacketPool pool(kSmall);  // owned by this thread
  std::vector<PacketPtr> handed;
  std::thread shard([&] {
    pool.set_owner_thread();
    alloc_n(pool, 8).clear();  // released on the new owner: local
    EXPECT_EQ(pool.reclaim(), 0u);
    EXPECT_EQ(pool.available(), 8u);
    handed = alloc_n(pool, 3);
  });
  shard.join();
  EXPECT_EQ(pool.remote_frees.get(), 0u);
  handed.clear();  // this thread is no longer the owner: remote
  EXPECT_EQ(pool.available(), 5u);
  pool.set_owner_thread();  // the shard has stopped; take the pool back
  EXPECT_EQ(pool.reclaim(), 3u);
  EXPECT_EQ(pool.available(), 8u);
}

// A chain a, b, b, a, b: links from two pools, in runs of one and two.
PacketPtr two_pool_chain(PacketPool& a, PacketPool& b) {
  PacketPtr head = a.alloc();
  for (PacketPool* pool : {&b, &b, &a, &b})
    head->append_chain(pool->alloc());
  SN_CHECK(head->chain_count() == 5);
  return head;
}

TEST(PacketPoolRemoteTest, ChainLinksFromTwoPoolsGoHomeOnTheOwner) {
  PacketPool a(kSmall), b(kSmall);
  PacketPtr c = two_pool_chain(a, b);
  EXPECT_EQ(a.available(), 6u);
  EXPECT_EQ(b.available(), 5u);
  c.reset();
  EXPECT_EQ(a.available(), 8u);
  EXPECT_EQ(b.available(), 8u);
  EXPECT_EQ(a.remote_frees.get() + b.remote_frees.get(), 0u);
}

TEST(PacketPoolRemoteTest, ChainLinksFromTwoPoolsGoHomeFromAnotherThread) {
  PacketPool a(kSmall), b(kSmall);
  std::vector<PacketPtr> v;
  v.push_back(two_pool_chain(a, b));
  release_elsewhere(std::move(v));
  EXPECT_EQ(a.available(), 6u);
  EXPECT_EQ(b.available(), 5u);
  EXPECT_EQ(a.reclaim(), 2u);
  EXPECT_EQ(b.reclaim(), 3u);
  EXPECT_EQ(a.available(), 8u);
  EXPECT_EQ(b.available(), 8u);
}

TEST(PacketPoolRemoteTest, ChainWithOneHomePoolAndOneAwayPool) {
  PacketPool home(kSmall), away(kSmall);
  PacketPtr c = two_pool_chain(home, away);
  bind_to_gone_thread(away);
  c.reset();  // home's links go straight back, away's go on its remote stack
  EXPECT_EQ(home.available(), 8u);
  EXPECT_EQ(home.reclaim(), 0u);
  EXPECT_EQ(away.available(), 5u);
  away.set_owner_thread();
  EXPECT_EQ(away.reclaim(), 3u);
  EXPECT_EQ(away.available(), 8u);
  EXPECT_EQ(away.remote_frees.get(), 3u);
}

TEST(PacketPoolRemoteTest, TruncatingAChainAwayFromHomeReleasesTheTailRemotely) {
  PacketPool pool(kSmall);
  PacketPtr c = pool.alloc_chain(500, 100);  // five links
  std::thread([&] { chain_truncate(*c, 150); }).join();
  EXPECT_EQ(c->chain_count(), 2u);
  EXPECT_EQ(pool.available(), 3u);
  EXPECT_EQ(pool.reclaim(), 3u);
  c.reset();
  EXPECT_EQ(pool.available(), 8u);
}

TEST(PacketPoolRemoteTest, ManyThreadsReleaseAtOnceWhileTheOwnerAllocates) {
  constexpr int kThreads = 3, kRounds = 50, kPerThread = 40;
  PacketPool pool(PoolConfig{.count = 256, .buffer_size = 128, .headroom = 0});
  for (int round = 0; round < kRounds; ++round) {
    std::vector<std::vector<PacketPtr>> parts(kThreads);
    for (auto& part : parts) {
      for (int i = 0; i < kPerThread; ++i) {
        // Every fourth is a three-link chain: runs pushed with one CAS.
        PacketPtr p = i % 4 == 0 ? pool.alloc_chain(300, 100) : pool.alloc();
        ASSERT_NE(p, nullptr);
        part.push_back(std::move(p));
      }
    }
    std::atomic<int> go{0};
    std::vector<std::thread> threads;
    for (auto& part : parts) {
      threads.emplace_back([&go, &part] {
        while (go.load(std::memory_order_acquire) == 0)
          std::this_thread::yield();
        for (PacketPtr& p : part)
          p.reset();
      });
    }
    go.store(1, std::memory_order_release);
    // Meanwhile the owner drains its local stack and keeps allocating, so
    // its exchanges race with the pushes.
    std::vector<PacketPtr> mine;
    for (int i = 0; i < 200; ++i) {
      PacketPtr p = pool.alloc();
      if (p) mine.push_back(std::move(p));
    }
    for (auto& t : threads)
      t.join();
    mine.clear();
    pool.reclaim();
    ASSERT_EQ(pool.available(), pool.capacity()) << "round " << round;
  }
  constexpr int kChains = kPerThread / 4, kLinks = 3 * kChains + (kPerThread - kChains);
  EXPECT_EQ(pool.remote_frees.get(), uint64_t{kRounds} * kThreads * kLinks);
}

// Thread A (this one, the owner of both pools) allocates packets, some of them
// two-link chains with a link from each pool, writes a sequence number in
// each, and pushes them over an SpscRing to thread B, which checks the number,
// scribbles on the bytes and frees them. A keeps allocating: when its pool
// runs dry, alloc() takes B's frees back. At the end every buffer is home.
TEST(PacketPoolRemoteTest, TwoThreadStressAllocateHereFreeThere) {
  // Fewer under TSan, which runs this several times slower.
  constexpr uint32_t kPackets = kUnderTsan ? 200'000 : 500'000;
  PacketPool heads(PoolConfig{.count = 64, .buffer_size = 256, .headroom = 64});
  PacketPool tails(PoolConfig{.count = 16, .buffer_size = 256, .headroom = 0});
  SpscRing<PacketPtr> ring(32);
  uint32_t bad = 0, chains_seen = 0;
  std::thread b([&] {
    std::vector<PacketPtr> burst(8);
    for (uint32_t expect = 0; expect < kPackets;) {
      const uint32_t n = ring.pop_burst(burst);
      if (n == 0) std::this_thread::yield();
      for (uint32_t i = 0; i < n; ++i) {
        Packet& p = *burst[i];
        uint32_t seq;
        std::memcpy(&seq, p.data(), sizeof seq);
        bad += seq != expect;
        if (p.next()) {
          ++chains_seen;
          uint32_t echo;
          std::memcpy(&echo, p.next()->data(), sizeof echo);
          bad += echo != ~expect;
          std::memset(p.next()->data(), 0xbb, p.next()->size());
        }
        std::memset(p.data(), 0xaa, p.size());
        ++expect;
        if (expect % 5 == 0) {
          burst[i]->take_next();  // the tail first, then the head
        }
        burst[i].reset();
      }
    }
  });
  uint32_t chains_sent = 0;
  for (uint32_t seq = 0; seq < kPackets;) {
    PacketPtr p = heads.alloc();
    if (!p) {  // every head is with B or on the ring
      std::this_thread::yield();
      continue;
    }
    std::memcpy(p->append(sizeof seq), &seq, sizeof seq);
    if (seq % 3 == 0) {
      PacketPtr t = tails.alloc();
      if (!t) {
        std::this_thread::yield();
        continue;  // releases p here, locally
      }
      const uint32_t echo = ~seq;
      std::memcpy(t->append(sizeof echo), &echo, sizeof echo);
      p->append_chain(std::move(t));
      ++chains_sent;
    }
    while (!ring.push(std::move(p)))
      std::this_thread::yield();
    ++seq;
  }
  b.join();
  EXPECT_EQ(bad, 0u);
  EXPECT_EQ(chains_seen, chains_sent);
  EXPECT_TRUE(ring.empty());
  heads.reclaim();
  tails.reclaim();
  EXPECT_EQ(heads.available(), heads.capacity());
  EXPECT_EQ(tails.available(), tails.capacity());
  // Every packet sent was freed by B, and so came home through the remote stack.
  EXPECT_EQ(heads.remote_frees.get(), kPackets);
  EXPECT_EQ(tails.remote_frees.get(), chains_sent);
}

}  // namespace
}  // namespace sn
