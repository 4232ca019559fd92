// Tests of the shared-memory SPSC ring: the layout and init, FIFO order, the
// full and empty edges, bursts, wrap of the free-running indices at 2^32; a
// hostile peer's impossible indices (fixed cases and seeded random ones) break
// the ring for good, garbage entries come back as they were, and a thread that
// scribbles over every byte of the ring while both sides run cannot make them
// touch a byte outside it (guard bytes, poisoned under ASan); then a million
// values in order between two threads on one mapping, and between two
// processes, each with its own mapping of one memfd, both ways.
#include "host/shm_ring.h"
#include "base/rng.h"
#include "base/sanitizers.h"

#include <gtest/gtest.h>
#include <sanitizer/asan_interface.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <span>
#include <thread>
#include <vector>

namespace sn {

// Starts a side's private indices at `index` (the test stores the same index
// in the shared header, as if the ring had carried that many entries).
struct ShmRingPeer {
  static void start_at(ShmRingProducer& p, uint32_t index) {
    p.tail_ = index;
    p.head_cache_ = index;
  }
  static void start_at(ShmRingConsumer& c, uint32_t index) {
    c.head_ = index;
    c.tail_cache_ = index;
  }
};

namespace {

ShmRingHeader& header_of(void* mem) {
  return *std::launder(static_cast<ShmRingHeader*>(mem));
}

// The raw entry words, as the peer process sees them.
uint32_t* entries_of(void* mem) {
  return reinterpret_cast<uint32_t*>(static_cast<std::byte*>(mem) + sizeof(ShmRingHeader));
}

// A ring's bytes with guard bytes on both sides: filled with a pattern, so that
// a stray write shows, and poisoned under ASan, so that a stray read or write
// stops the test where it happens. The ring's bytes are exactly
// shm_ring_bytes(capacity), 64-byte aligned.
class GuardedRing {
 public:
  static constexpr size_t kGuard = 256;
  static constexpr std::byte kPattern{0xa5};

  explicit GuardedRing(uint32_t capacity)
      : capacity_(capacity),
        bytes_(shm_ring_bytes(capacity)),
        storage_(new (std::align_val_t{kShmRingAlign}) std::byte[kGuard + bytes_ + kGuard]) {
    std::memset(storage_, static_cast<int>(kPattern), kGuard + bytes_ + kGuard);
    shm_ring_init(mem(), capacity);
    poison();
  }
  ~GuardedRing() {
    unpoison();
    ::operator delete[](storage_, std::align_val_t{kShmRingAlign});
  }
  GuardedRing(const GuardedRing&) = delete;
  GuardedRing& operator=(const GuardedRing&) = delete;

  void* mem() const { return storage_ + kGuard; }
  uint32_t capacity() const { return capacity_; }
  ShmRingHeader& header() const { return header_of(mem()); }
  uint32_t* entries() const { return entries_of(mem()); }

  // Whether the guard bytes still hold the pattern.
  bool guards_intact() {
    unpoison();
    bool intact = true;
    for (size_t i = 0; i < kGuard; ++i)
      intact &= storage_[i] == kPattern && storage_[kGuard + bytes_ + i] == kPattern;
    poison();
    return intact;
  }

 private:
  void poison() {
    ASAN_POISON_MEMORY_REGION(storage_, kGuard);
    ASAN_POISON_MEMORY_REGION(storage_ + kGuard + bytes_, kGuard);
  }
  void unpoison() {
    ASAN_UNPOISON_MEMORY_REGION(storage_, kGuard);
    ASAN_UNPOISON_MEMORY_REGION(storage_ + kGuard + bytes_, kGuard);
  }

  uint32_t capacity_;
  size_t bytes_;
  std::byte* storage_;
};

// Both sides of a ring, with the private and shared indices started at `index`.
struct Sides {
  explicit Sides(GuardedRing& ring, uint32_t index = 0)
      : producer(ring.mem(), ring.capacity()), consumer(ring.mem(), ring.capacity()) {
    ShmRingPeer::start_at(producer, index);
    ShmRingPeer::start_at(consumer, index);
    ring.header().tail.store(index);
    ring.header().head.store(index);
  }
  ShmRingProducer producer;
  ShmRingConsumer consumer;
};

TEST(ShmRingTest, CapacityAndSize) {
  for (uint32_t c : {0u, 1u, 3u, 6u, 1000u, (1u << 20) + 1, 1u << 21, 1u << 31, ~0u})
    EXPECT_FALSE(shm_ring_capacity_valid(c)) << c;
  for (uint32_t c : {2u, 4u, 8u, 1024u, 1u << 20})
    EXPECT_TRUE(shm_ring_capacity_valid(c)) << c;
  static_assert(shm_ring_bytes(2) == 192);  // 128 + 8, rounded up to 64
  static_assert(shm_ring_bytes(8) == 192);
  static_assert(shm_ring_bytes(16) == 192);
  static_assert(shm_ring_bytes(32) == 256);
  static_assert(shm_ring_bytes(1024) == 128 + 4096);
  static_assert(shm_ring_bytes(1u << 20) == 128 + (size_t{4} << 20));
}

TEST(ShmRingTest, InitWritesAZeroedEmptyRing) {
  alignas(64) std::byte mem[shm_ring_bytes(8)];
  std::memset(mem, 0xff, sizeof mem);
  shm_ring_init(mem, 8);
  for (std::byte b : mem)
    ASSERT_EQ(b, std::byte{0});
  EXPECT_EQ(header_of(mem).tail.load(), 0u);
  EXPECT_EQ(header_of(mem).head.load(), 0u);
  ShmRingConsumer c(mem, 8);
  ShmRingProducer p(mem, 8);
  EXPECT_EQ(c.size(), 0u);
  EXPECT_EQ(p.free_slots(), 8u);
  EXPECT_EQ(p.capacity(), 8u);
  EXPECT_EQ(c.capacity(), 8u);
}

TEST(ShmRingTest, DetachedSidesRefuseEverything) {
  ShmRingProducer p;
  ShmRingConsumer c;
  EXPECT_FALSE(p.push(1));
  const uint32_t in[] = {1, 2};
  EXPECT_EQ(p.push_burst(in), 0u);
  EXPECT_EQ(p.free_slots(), 0u);
  EXPECT_FALSE(p.broken());
  uint32_t v = 7;
  EXPECT_FALSE(c.pop(v));
  EXPECT_EQ(v, 7u);
  uint32_t out[2];
  EXPECT_EQ(c.pop_burst(out), 0u);
  EXPECT_EQ(c.size(), 0u);
  EXPECT_FALSE(c.broken());
}

TEST(ShmRingTest, PopsInPushOrderAndPublishesBothIndices) {
  GuardedRing ring(8);
  Sides s(ring);
  for (uint32_t i = 0; i < 5; ++i)
    ASSERT_TRUE(s.producer.push(100 + i));
  EXPECT_EQ(ring.header().tail.load(), 5u);
  EXPECT_EQ(ring.entries()[4], 104u);  // the wire layout: position p in slot p & 7
  EXPECT_EQ(s.consumer.size(), 5u);
  for (uint32_t i = 0; i < 5; ++i) {
    uint32_t v = 0;
    ASSERT_TRUE(s.consumer.pop(v));
    EXPECT_EQ(v, 100 + i);
  }
  EXPECT_EQ(ring.header().head.load(), 5u);
  EXPECT_EQ(s.consumer.size(), 0u);
  EXPECT_EQ(s.producer.free_slots(), 8u);
  EXPECT_TRUE(ring.guards_intact());
}

TEST(ShmRingTest, FullAndEmptyEdges) {
  GuardedRing ring(4);
  Sides s(ring);
  uint32_t v = 99;
  EXPECT_FALSE(s.consumer.pop(v));  // empty from the start
  EXPECT_EQ(v, 99u);
  for (uint32_t i = 0; i < 4; ++i) {
    EXPECT_EQ(s.producer.free_slots(), 4 - i);
    ASSERT_TRUE(s.producer.push(i));
  }
  EXPECT_FALSE(s.producer.push(4));  // full
  EXPECT_EQ(s.producer.free_slots(), 0u);
  EXPECT_EQ(s.consumer.size(), 4u);
  // One out makes room for exactly one in.
  ASSERT_TRUE(s.consumer.pop(v));
  EXPECT_EQ(v, 0u);
  EXPECT_TRUE(s.producer.push(4));
  EXPECT_FALSE(s.producer.push(5));
  for (uint32_t want : {1u, 2u, 3u, 4u}) {
    ASSERT_TRUE(s.consumer.pop(v));
    EXPECT_EQ(v, want);
  }
  v = 77;
  EXPECT_FALSE(s.consumer.pop(v));  // empty: `v` untouched
  EXPECT_EQ(v, 77u);
  EXPECT_FALSE(s.producer.broken());
  EXPECT_FALSE(s.consumer.broken());
  EXPECT_TRUE(ring.guards_intact());
}

TEST(ShmRingTest, BurstsMoveAsManyAsFitInOrder) {
  GuardedRing ring(8);
  Sides s(ring);
  const std::vector<uint32_t> in = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  EXPECT_EQ(s.producer.push_burst(std::span(in).first(5)), 5u);
  EXPECT_EQ(s.producer.push_burst(std::span(in).subspan(5)), 3u);  // three slots left
  EXPECT_EQ(s.producer.push_burst(std::span(in).subspan(8)), 0u);  // full
  EXPECT_EQ(s.producer.push_burst({}), 0u);
  std::vector<uint32_t> out(3);
  EXPECT_EQ(s.consumer.pop_burst(out), 3u);
  EXPECT_EQ(out, (std::vector<uint32_t>{0, 1, 2}));
  EXPECT_EQ(s.producer.push_burst(std::span(in).subspan(8)), 2u);  // now 8 and 9 fit
  out.assign(20, 0xdead);
  EXPECT_EQ(s.consumer.pop_burst(out), 7u);  // fewer than asked: all there is
  for (uint32_t i = 0; i < 7; ++i)
    EXPECT_EQ(out[i], 3 + i);
  EXPECT_EQ(out[7], 0xdeadu);  // past n: untouched
  EXPECT_EQ(s.consumer.pop_burst(out), 0u);
  EXPECT_EQ(s.consumer.pop_burst({}), 0u);
  EXPECT_TRUE(ring.guards_intact());
}

TEST(ShmRingTest, IndicesWrapAtTwoToThe32) {
  for (uint32_t start : {0xffffff00u, 0xfffffffau, 0xffffffffu, 0x7ffffffdu}) {
    GuardedRing ring(8);
    Sides s(ring, start);
    uint32_t next_in = 0, next_out = 0;
    for (int round = 0; round < 70; ++round) {  // 70 rounds of 8 pass 0xffffff00's wrap
      for (int i = 0; i < 8; ++i)
        ASSERT_TRUE(s.producer.push(next_in++)) << start;
      EXPECT_EQ(s.consumer.size(), 8u);
      EXPECT_FALSE(s.producer.push(0xdead)) << "full across the wrap";
      EXPECT_EQ(s.producer.free_slots(), 0u);
      for (int i = 0; i < 5; ++i) {
        uint32_t v = 0;
        ASSERT_TRUE(s.consumer.pop(v));
        ASSERT_EQ(v, next_out++);
      }
      EXPECT_EQ(s.producer.free_slots(), 5u);
      uint32_t rest[8];
      ASSERT_EQ(s.consumer.pop_burst(rest), 3u);
      for (int i = 0; i < 3; ++i)
        ASSERT_EQ(rest[i], next_out++);
      uint32_t v = 0;
      EXPECT_FALSE(s.consumer.pop(v)) << "empty across the wrap";
    }
    EXPECT_EQ(ring.header().tail.load(), start + next_in);  // wrapped past 0
    EXPECT_FALSE(s.producer.broken());
    EXPECT_FALSE(s.consumer.broken());
    EXPECT_TRUE(ring.guards_intact());
  }
}

// Pops everything a consumer will give, as a hostile producer's victim would.
uint32_t drain(ShmRingConsumer& c, std::vector<uint32_t>* got = nullptr) {
  uint32_t n = 0, v = 0;
  while (c.pop(v) && n <= (1u << 21)) {
    ++n;
    if (got) got->push_back(v);
  }
  return n;
}

TEST(ShmRingTest, ConsumerBreaksOnAnImpossibleTail) {
  constexpr uint32_t kCap = 16;
  struct Case {
    const char* name;
    uint32_t ahead;  // tail - head, modulo 2^32
    bool broken;
  };
  const Case cases[] = {
      {"empty", 0, false},
      {"full", kCap, false},
      {"one past full", kCap + 1, true},
      {"one behind head", ~0u, true},
      {"half the index space apart", 0x80000000u, true},
      {"far ahead", 0x7fffffffu, true},
  };
  for (uint32_t head : {0u, 5u, 0xfffffff8u, 0x80000000u}) {
    for (const Case& c : cases) {
      SCOPED_TRACE(testing::Message() << c.name << " at head " << head);
      GuardedRing ring(kCap);
      Sides s(ring, head);
      for (uint32_t i = 0; i < kCap; ++i)
        ring.entries()[i] = 0xbad00000 + i;      // garbage: returned as it is
      ring.header().tail.store(head + c.ahead);  // the hostile producer
      EXPECT_EQ(s.consumer.size(), c.broken ? 0 : c.ahead);
      EXPECT_EQ(s.consumer.broken(), c.broken);
      std::vector<uint32_t> got;
      EXPECT_EQ(drain(s.consumer, &got), c.broken ? 0 : c.ahead);
      for (uint32_t i = 0; i < got.size(); ++i)
        EXPECT_EQ(got[i], 0xbad00000 + ((head + i) & (kCap - 1)));
      if (c.broken) {
        // Once broken, always: an honest tail later does not mend it.
        ring.header().tail.store(head + 1);
        uint32_t v = 42;
        EXPECT_FALSE(s.consumer.pop(v));
        EXPECT_EQ(v, 42u);
        uint32_t out[4];
        EXPECT_EQ(s.consumer.pop_burst(out), 0u);
        EXPECT_EQ(s.consumer.size(), 0u);
        EXPECT_TRUE(s.consumer.broken());
        EXPECT_EQ(ring.header().head.load(), head);  // never handed anything back
      }
      EXPECT_TRUE(ring.guards_intact());
    }
  }
}

TEST(ShmRingTest, ConsumerBreakingDropsWhatItHadCached) {
  GuardedRing ring(8);
  Sides s(ring);
  for (uint32_t i = 0; i < 4; ++i)
    ASSERT_TRUE(s.producer.push(i));
  uint32_t v = 0;
  ASSERT_TRUE(s.consumer.pop(v));  // caches tail = 4
  ring.header().tail.store(0);     // now behind the consumer's head of 1
  // pop uses the cached tail while it shows entries (a stale copy is never
  // more than a real, once-valid tail); size() looks again and sees the lie.
  ASSERT_TRUE(s.consumer.pop(v));
  EXPECT_EQ(v, 1u);
  EXPECT_EQ(s.consumer.size(), 0u);
  EXPECT_TRUE(s.consumer.broken());
  EXPECT_FALSE(s.consumer.pop(v));
}

TEST(ShmRingTest, ProducerBreaksOnAnImpossibleHead) {
  constexpr uint32_t kCap = 16;
  struct Case {
    const char* name;
    uint32_t behind;  // tail - head, modulo 2^32
    bool broken;
  };
  const Case cases[] = {
      {"all drained", 0, false},
      {"nothing drained (full)", kCap, false},
      {"more than a ring behind", kCap + 1, true},
      {"one ahead of tail", ~0u, true},
      {"half the index space apart", 0x80000000u, true},
      {"far ahead", 0x80000001u, true},
  };
  for (uint32_t tail : {0u, 3u, 0xfffffffcu, 0x80000000u}) {
    for (const Case& c : cases) {
      SCOPED_TRACE(testing::Message() << c.name << " at tail " << tail);
      GuardedRing ring(kCap);
      Sides s(ring, tail);
      ring.header().head.store(tail - c.behind);  // the hostile consumer
      EXPECT_EQ(s.producer.free_slots(), c.broken ? 0 : kCap - c.behind);
      EXPECT_EQ(s.producer.broken(), c.broken);
      uint32_t pushed = 0;
      while (s.producer.push(pushed) && pushed <= kCap)
        ++pushed;
      EXPECT_EQ(pushed, c.broken ? 0 : kCap - c.behind);
      if (c.broken) {
        ring.header().head.store(tail);  // an honest head later does not mend it
        EXPECT_FALSE(s.producer.push(1));
        const uint32_t in[] = {1, 2, 3};
        EXPECT_EQ(s.producer.push_burst(in), 0u);
        EXPECT_EQ(s.producer.free_slots(), 0u);
        EXPECT_TRUE(s.producer.broken());
        EXPECT_EQ(ring.header().tail.load(), tail);  // never published anything
        for (uint32_t i = 0; i < kCap; ++i)
          EXPECT_EQ(ring.entries()[i], 0u);  // nor wrote an entry
      }
      EXPECT_TRUE(ring.guards_intact());
    }
  }
}

TEST(ShmRingTest, ProducerSeesAHeadMovedBackAsAFullerRing) {
  GuardedRing ring(8);
  Sides s(ring);
  for (uint32_t i = 0; i < 8; ++i)
    ASSERT_TRUE(s.producer.push(i));
  ring.header().head.store(6);  // the consumer claims 6 drained...
  EXPECT_EQ(s.producer.free_slots(), 6u);
  ring.header().head.store(2);  // ...then takes 4 back: legal-looking, so believed
  EXPECT_EQ(s.producer.free_slots(), 2u);
  EXPECT_FALSE(s.producer.broken());
  const uint32_t in[] = {8, 9, 10};
  EXPECT_EQ(s.producer.push_burst(in), 2u);
  EXPECT_EQ(ring.header().tail.load(), 10u);
  EXPECT_TRUE(ring.guards_intact());
}

TEST(ShmRingTest, NeitherSideReadsItsOwnIndexBack) {
  GuardedRing ring(8);
  Sides s(ring);
  ASSERT_TRUE(s.producer.push(1));
  ring.header().tail.store(12345);  // a peer overwrites the producer's tail
  ASSERT_TRUE(s.producer.push(2));
  EXPECT_EQ(ring.header().tail.load(), 2u);  // republished from the private copy
  uint32_t v = 0;
  ASSERT_TRUE(s.consumer.pop(v));
  ring.header().head.store(777);  // and the consumer's head
  ASSERT_TRUE(s.consumer.pop(v));
  EXPECT_EQ(v, 2u);
  EXPECT_EQ(ring.header().head.load(), 2u);
  EXPECT_FALSE(s.producer.broken());
  EXPECT_FALSE(s.consumer.broken());
}

TEST(ShmRingTest, RandomHostileIndicesAreJudgedByTheBound) {
  Rng rng(20240611);
  for (int trial = 0; trial < 20'000; ++trial) {
    const uint32_t cap = uint32_t{2} << rng.below(10);  // 2..1024
    const uint32_t start = static_cast<uint32_t>(rng.next());
    // Half the trials near the edge of the bound, half anywhere.
    const uint32_t delta = rng.chance(0.5) ? static_cast<uint32_t>(rng.below(2 * cap + 4)) - 2
                                           : static_cast<uint32_t>(rng.next());
    const bool impossible = delta > cap;
    SCOPED_TRACE(testing::Message() << "cap " << cap << " start " << start << " delta " << delta);
    {
      GuardedRing ring(cap);
      Sides s(ring, start);
      ring.header().tail.store(start + delta);
      const uint32_t n = drain(s.consumer);
      ASSERT_EQ(s.consumer.broken(), impossible);
      ASSERT_EQ(n, impossible ? 0 : delta);
      ASSERT_EQ(s.consumer.size(), 0u);
      ASSERT_TRUE(ring.guards_intact());
    }
    {
      GuardedRing ring(cap);
      Sides s(ring, start);
      ring.header().head.store(start - delta);
      // A look first: pushes alone would trust the cached head (all free)
      // until the ring filled.
      ASSERT_EQ(s.producer.free_slots(), impossible ? 0 : cap - delta);
      uint32_t n = 0;
      while (s.producer.push(n) && n <= cap)
        ++n;
      ASSERT_EQ(s.producer.broken(), impossible);
      ASSERT_EQ(n, impossible ? 0 : cap - delta);
      ASSERT_TRUE(ring.guards_intact());
    }
  }
}

// The peer as a thread that writes random words all over the ring's bytes
// (indices, entries, padding) while our producer and consumer run. Nothing may
// crash, hang or touch a guard byte; TSan sees every shared access as atomic.
TEST(ShmRingTest, AScribblingPeerCannotMakeEitherSideLeaveTheRing) {
  constexpr uint32_t kCap = 64;
  constexpr int kRounds = kUnderTsan ? 200 : 2'000;
  GuardedRing ring(kCap);
  Sides s(ring);
  std::atomic<bool> stop{false};
  std::thread scribbler([&] {
    Rng rng(99);
    auto* words = static_cast<uint32_t*>(ring.mem());
    const size_t n = shm_ring_bytes(kCap) / sizeof(uint32_t);
    while (!stop.load(std::memory_order_relaxed)) {
      const uint32_t w = static_cast<uint32_t>(rng.next());
      // Mostly plausible indices, so the sides keep working between breaks.
      const size_t i = rng.chance(0.3) ? (rng.chance(0.5) ? 0 : 16) : rng.below(n);
      std::atomic_ref<uint32_t>(words[i]).store(rng.chance(0.5) ? w : w % (2 * kCap),
                                                std::memory_order_relaxed);
    }
  });
  uint64_t popped = 0, breaks = 0;
  // At least kRounds, and on until a scribble has broken a side (the
  // scribbler may not have run at all yet on a busy machine).
  for (int round = 0; (round < kRounds || breaks == 0) && round < 100 * kRounds; ++round) {
    // A fresh pair each round: a broken side stays broken.
    ShmRingProducer p(ring.mem(), kCap);
    ShmRingConsumer c(ring.mem(), kCap);
    std::vector<uint32_t> buf(kCap);
    for (int i = 0; i < 50 && !(p.broken() && c.broken()); ++i) {
      p.push(i);
      p.push_burst(std::span<const uint32_t>(buf).first(i % 8));
      uint32_t v;
      popped += c.pop(v);
      popped += c.pop_burst(std::span(buf).first(i % 8));
      ASSERT_LE(c.size(), kCap);
      ASSERT_LE(p.free_slots(), kCap);
    }
    breaks += p.broken() + c.broken();
  }
  stop.store(true);
  scribbler.join();
  EXPECT_TRUE(ring.guards_intact());
  EXPECT_GT(breaks, 0u);  // the scribbles did reach the sides...
  EXPECT_GT(popped, 0u);  // ...and the sides did move entries between them
}

// Produces `count` sequential values, single pushes and bursts interleaved,
// yielding when full. False if the ring broke.
bool produce_sequence(ShmRingProducer& p, uint32_t count) {
  uint32_t next = 0;
  uint32_t burst[32];
  while (next < count) {
    uint32_t n;
    if (next % 3 == 0) {
      n = p.push(next) ? 1 : 0;
    } else {
      const uint32_t want = std::min<uint32_t>(1 + next % 32, count - next);
      for (uint32_t i = 0; i < want; ++i)
        burst[i] = next + i;
      n = p.push_burst(std::span<const uint32_t>(burst, want));
    }
    next += n;
    if (n == 0) {
      if (p.broken()) return false;
      sched_yield();
    }
  }
  return true;
}

// Consumes until `count` values came or `give_up()` says the producer is gone
// with the ring empty; returns how many came, and counts those out of order.
template <typename GiveUp>
uint32_t consume_sequence(ShmRingConsumer& c, uint32_t count, uint32_t& out_of_order,
                          GiveUp give_up) {
  uint32_t expect = 0;
  uint32_t burst[48];
  uint32_t idle = 0;
  while (expect < count) {
    const uint32_t n = expect % 2 == 0 ? (c.pop(burst[0]) ? 1 : 0)
                                       : c.pop_burst(std::span(burst, 1 + expect % 48));
    for (uint32_t i = 0; i < n; ++i)
      out_of_order += burst[i] != expect++;
    if (n > 0) {
      idle = 0;
      continue;
    }
    if (c.broken()) break;
    if (++idle % 1024 == 0 && give_up() && c.size() == 0) break;
    sched_yield();
  }
  return expect;
}

TEST(ShmRingTest, TwoThreadsOnOneMappingMoveAMillionInOrder) {
  constexpr uint32_t kCount = 1'000'000;
  constexpr uint32_t kCap = 256;
  void* mem = mmap(nullptr, shm_ring_bytes(kCap), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  shm_ring_init(mem, kCap);
  std::atomic<bool> producer_done{false};
  bool produced = false;
  std::thread producer([&] {
    ShmRingProducer p(mem, kCap);
    produced = produce_sequence(p, kCount);
    producer_done.store(true);
  });
  ShmRingConsumer c(mem, kCap);
  uint32_t out_of_order = 0;
  const uint32_t got =
      consume_sequence(c, kCount, out_of_order, [&] { return producer_done.load(); });
  producer.join();
  EXPECT_TRUE(produced);
  EXPECT_EQ(got, kCount);
  EXPECT_EQ(out_of_order, 0u);
  EXPECT_EQ(c.size(), 0u);
  EXPECT_FALSE(c.broken());
  munmap(mem, shm_ring_bytes(kCap));
}

// A memfd holding one ring, mapped once here; map_again() maps it a second
// time, at another address, as the other process does.
class SharedRing {
 public:
  explicit SharedRing(uint32_t capacity) : capacity_(capacity) {
    fd_ = memfd_create("shm_ring_test", MFD_CLOEXEC);
    SN_CHECK(fd_ >= 0);
    SN_CHECK(ftruncate(fd_, static_cast<off_t>(bytes())) == 0);
    mem_ = map_again();
    shm_ring_init(mem_, capacity);
  }
  ~SharedRing() {
    munmap(mem_, bytes());
    close(fd_);
  }
  SharedRing(const SharedRing&) = delete;
  SharedRing& operator=(const SharedRing&) = delete;

  void* map_again() const {
    void* m = mmap(nullptr, bytes(), PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    SN_CHECK(m != MAP_FAILED);
    return m;
  }
  void* mem() const { return mem_; }
  uint32_t capacity() const { return capacity_; }
  size_t bytes() const { return shm_ring_bytes(capacity_); }

 private:
  uint32_t capacity_;
  int fd_ = -1;
  void* mem_ = nullptr;
};

// Forks a child that runs `body(its own mapping)` and exits with what it
// returns. The child dies with the parent, so a failed test cannot leave it
// spinning.
template <typename Body>
pid_t fork_child(const SharedRing& ring, Body body) {
  const pid_t parent = getpid();
  const pid_t pid = fork();
  SN_CHECK(pid >= 0);
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(90);
    void* mine = ring.map_again();
    if (mine == ring.mem()) _exit(91);  // must be a different address
    _exit(body(mine));
  }
  return pid;
}

bool child_exited(pid_t pid, int& status) {
  return waitpid(pid, &status, WNOHANG) == pid;
}

// Both processes live in this test, each with its own mapping of the memfd.
// (No threads are running when it forks; TSan's own do not matter here.)
TEST(ShmRingTest, TwoProcessesMoveAMillionInOrderBothWays) {
  constexpr uint32_t kCount = 1'000'000;
  constexpr uint32_t kCap = 1024;
  {  // child produces, parent consumes
    SharedRing ring(kCap);
    const pid_t pid = fork_child(ring, [](void* mem) {
      ShmRingProducer p(mem, kCap);
      return produce_sequence(p, kCount) ? 0 : 1;
    });
    ShmRingConsumer c(ring.mem(), kCap);
    uint32_t out_of_order = 0;
    int status = 0;
    bool reaped = false;
    const uint32_t got = consume_sequence(c, kCount, out_of_order,
                                          [&] { return reaped = child_exited(pid, status); });
    if (!reaped) {
      ASSERT_EQ(waitpid(pid, &status, 0), pid);
    }
    EXPECT_EQ(got, kCount);
    EXPECT_EQ(out_of_order, 0u);
    EXPECT_FALSE(c.broken());
    ASSERT_TRUE(WIFEXITED(status)) << status;
    EXPECT_EQ(WEXITSTATUS(status), 0);
  }
  {  // parent produces, child consumes and checks
    SharedRing ring(kCap);
    const pid_t pid = fork_child(ring, [](void* mem) {
      ShmRingConsumer c(mem, kCap);
      uint32_t out_of_order = 0;
      const uint32_t got = consume_sequence(c, kCount, out_of_order, [] { return false; });
      return got == kCount && out_of_order == 0 && c.size() == 0 ? 0 : 1;
    });
    ShmRingProducer p(ring.mem(), kCap);
    int status = 0;
    bool reaped = false;
    uint32_t next = 0;
    while (next < kCount && !p.broken()) {
      if (p.push(next)) {
        ++next;
      } else if (child_exited(pid, status)) {
        reaped = true;  // died early: stop feeding it
        break;
      } else {
        sched_yield();
      }
    }
    if (!reaped) {
      ASSERT_EQ(waitpid(pid, &status, 0), pid);
    }
    EXPECT_EQ(next, kCount);
    EXPECT_FALSE(p.broken());
    ASSERT_TRUE(WIFEXITED(status)) << status;
    EXPECT_EQ(WEXITSTATUS(status), 0);
  }
}

}  // namespace
}  // namespace sn
