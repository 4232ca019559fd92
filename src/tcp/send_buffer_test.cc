// Tests of the TCP send buffer against a byte-vector model: writes (copied and
// zero-copy), acknowledgments and segment copies at every offset and length,
// the byte limit, the ring bound and pool exhaustion, and a long seeded random
// run; sequence numbers wrap past 2^32 in most of them. Pools of small buffers
// make the data span many packets. Every test ends with every buffer back in
// its pool.
#include "tcp/send_buffer.h"

#include <gtest/gtest.h>

#include <cstring>
#include <deque>
#include <memory>
#include <optional>
#include <random>
#include <vector>

namespace sn {
namespace {

constexpr PoolConfig kTiny{.count = 64, .buffer_size = 64, .headroom = 16};
constexpr SeqNum kNearWrap{0xFFFFFF00u};  // 256 bytes before the wrap

std::byte pattern(uint32_t i) {
  return std::byte(static_cast<uint8_t>((i * 2654435761u) >> 24));
}

std::vector<std::byte> bytes(uint32_t first, uint32_t n) {
  std::vector<std::byte> v(n);
  for (uint32_t i = 0; i < n; ++i)
    v[i] = pattern(first + i);
  return v;
}

std::vector<std::byte> flatten(const Packet& chain) {
  std::vector<std::byte> v(chain.chain_size());
  chain_copy_out(chain, 0, v);
  return v;
}

// A chain from the pool with links of the given sizes (zero-length links too),
// each link starting `headroom` bytes into its buffer, holding `data` in order.
PacketPtr make_chain(PacketPool& pool, const std::vector<uint32_t>& sizes,
                     std::span<const std::byte> data, uint32_t headroom = 16) {
  PacketPtr head;
  size_t at = 0;
  for (uint32_t size : sizes) {
    PacketPtr p = pool.alloc();
    SN_CHECK(p != nullptr);
    p->reset(headroom);
    if (size > 0) std::memcpy(p->append(size), data.data() + at, size);
    at += size;
    if (!head)
      head = std::move(p);
    else
      head->append_chain(std::move(p));
  }
  SN_CHECK(at == data.size());
  return head;
}

class SendBufferTest : public ::testing::Test {
 protected:
  void make(const PoolConfig& config, uint32_t limit, SeqNum una) {
    pool_ = std::make_unique<PacketPool>(config);
    buf_.emplace(*pool_, limit);
    buf_->reset(una);
  }
  // No test may leak a buffer: everything the send buffer held goes back.
  void TearDown() override {
    buf_.reset();
    if (pool_) {
      EXPECT_EQ(pool_->available(), pool_->capacity());
    }
  }
  PacketPool& pool() { return *pool_; }
  SendBuffer& buf() { return *buf_; }

  std::unique_ptr<PacketPool> pool_;
  std::optional<SendBuffer> buf_;
};

TEST_F(SendBufferTest, StartsEmptyAtUna) {
  make(kTiny, 1000, SeqNum{12345});
  EXPECT_EQ(buf().size(), 0u);
  EXPECT_EQ(buf().free_space(), 1000u);
  EXPECT_EQ(buf().una(), SeqNum{12345});
  EXPECT_EQ(buf().end(), SeqNum{12345});
  EXPECT_TRUE(buf().empty());
  EXPECT_EQ(pool().in_use(), 0u);
  // 1000 bytes in 64-byte buffers: 16 packets, twice over, plus 2.
  EXPECT_EQ(buf().ring_capacity(), 2 * 16u + 2);
}

TEST_F(SendBufferTest, WriteFillsTheTailPacketBeforeTakingAnother) {
  make(kTiny, 1000, kNearWrap);
  std::vector<std::byte> data = bytes(0, 200);
  EXPECT_EQ(buf().write(std::span(data).first(10)), 10u);
  EXPECT_EQ(pool().in_use(), 1u);
  EXPECT_EQ(buf().write(std::span(data).subspan(10, 54)), 54u);  // fills the whole 64-byte buffer
  EXPECT_EQ(pool().in_use(), 1u);
  EXPECT_EQ(buf().write(std::span(data).subspan(64, 1)), 1u);
  EXPECT_EQ(pool().in_use(), 2u);
  EXPECT_EQ(buf().write(std::span(data).subspan(65)), 135u);  // 63 + 64 + 8
  EXPECT_EQ(pool().in_use(), 4u);
  EXPECT_EQ(buf().packets(), 4u);
  EXPECT_EQ(buf().size(), 200u);
  EXPECT_EQ(buf().end(), kNearWrap + 200);
  PacketPtr all = buf().copy(kNearWrap, 200, 0);
  ASSERT_NE(all, nullptr);
  EXPECT_EQ(flatten(*all), data);
}

TEST_F(SendBufferTest, WriteStopsAtTheLimit) {
  make(kTiny, 100, SeqNum{0});
  std::vector<std::byte> data = bytes(0, 150);
  EXPECT_EQ(buf().write(data), 100u);
  EXPECT_EQ(buf().free_space(), 0u);
  EXPECT_EQ(buf().write(data), 0u);
  EXPECT_EQ(buf().acknowledge(SeqNum{30}), 30u);
  EXPECT_EQ(buf().write(std::span(data).subspan(100)), 30u);
  EXPECT_EQ(buf().size(), 100u);
  PacketPtr all = buf().copy(SeqNum{30}, 100, 0);
  EXPECT_EQ(flatten(*all), bytes(30, 100));
  EXPECT_EQ(pool().exhausted.get(), 0u);
}

TEST_F(SendBufferTest, PoolExhaustionGivesAShortCountAndIsCounted) {
  make(PoolConfig{.count = 3, .buffer_size = 64, .headroom = 16}, 1000, kNearWrap);
  std::vector<std::byte> data = bytes(0, 500);
  EXPECT_EQ(buf().write(data), 192u);  // three whole buffers
  EXPECT_EQ(pool().available(), 0u);
  EXPECT_EQ(pool().exhausted.get(), 1u);
  EXPECT_EQ(buf().write(data), 0u);
  // copy() needs a packet too: null, and nothing is left allocated.
  EXPECT_EQ(buf().copy(kNearWrap, 10, 8), nullptr);
  EXPECT_EQ(buf().acknowledge(kNearWrap + 64), 64u);  // one buffer back
  EXPECT_EQ(pool().available(), 1u);
  // A copy needing two packets fails half-way and gives the first back.
  EXPECT_EQ(buf().copy(kNearWrap + 64, 100, 16), nullptr);
  EXPECT_EQ(pool().available(), 1u);
  PacketPtr one = buf().copy(kNearWrap + 64, 48, 16);
  ASSERT_NE(one, nullptr);
  EXPECT_EQ(flatten(*one), bytes(64, 48));
  one.reset();
  EXPECT_EQ(buf().write(std::span(data).subspan(192)), 64u);
  PacketPtr all = buf().copy(kNearWrap + 64, 192, 0);
  EXPECT_EQ(all, nullptr);  // everything is in the buffer now
  buf().acknowledge(buf().end());
  EXPECT_EQ(pool().available(), 3u);
}

TEST_F(SendBufferTest, CopyPutsHeadroomInFrontOfTheFirstPacket) {
  make(kTiny, 1000, kNearWrap);
  std::vector<std::byte> data = bytes(7, 300);
  ASSERT_EQ(buf().write(data), 300u);
  PacketPtr seg = buf().copy(kNearWrap + 10, 100, 40);
  ASSERT_NE(seg, nullptr);
  EXPECT_EQ(seg->headroom(), 40u);
  EXPECT_EQ(seg->size(), 24u);  // 64 - 40
  EXPECT_EQ(seg->chain_size(), 100u);
  EXPECT_EQ(seg->chain_count(), 3u);  // 24 + 64 + 12
  EXPECT_EQ(seg->next()->headroom(), 0u);
  EXPECT_EQ(flatten(*seg), bytes(17, 100));
  // The copy is independent of the buffer.
  buf().acknowledge(buf().end());
  EXPECT_EQ(flatten(*seg), bytes(17, 100));
  // A segment without data: one empty packet with the headroom.
  PacketPtr empty = buf().copy(buf().end(), 0, 40);
  ASSERT_NE(empty, nullptr);
  EXPECT_EQ(empty->chain_size(), 0u);
  EXPECT_EQ(empty->headroom(), 40u);
  // All headroom: the data starts in the second packet.
  buf().write(std::span(data).first(10));
  PacketPtr full = buf().copy(buf().una(), 10, 64);
  ASSERT_NE(full, nullptr);
  EXPECT_EQ(full->size(), 0u);
  EXPECT_EQ(flatten(*full), bytes(7, 10));
}

TEST_F(SendBufferTest, CopyEveryOffsetAndLengthAcrossTheWrap) {
  // Packets of uneven fill (zero-copy links of 1..20 bytes, then copied
  // writes) and a partly acknowledged head, all straddling 2^32.
  make(PoolConfig{.count = 128, .buffer_size = 64, .headroom = 16}, 1000, SeqNum{0xFFFFFFF0u});
  std::vector<std::byte> model = bytes(100, 320);
  size_t at = 0;
  std::vector<uint32_t> sizes;
  for (uint32_t s = 1; at + s <= 120; at += s, ++s)
    sizes.push_back(s);
  const size_t zc = at;
  ASSERT_EQ(buf().write(make_chain(pool(), sizes, std::span(model).first(zc), 30)), zc);
  ASSERT_EQ(buf().write(std::span(model).subspan(zc)), model.size() - zc);
  ASSERT_EQ(buf().acknowledge(SeqNum{0xFFFFFFF0u} + 5), 5u);
  model.erase(model.begin(), model.begin() + 5);
  const SeqNum una = buf().una();
  ASSERT_EQ(buf().size(), model.size());
  for (uint32_t off = 0; off <= model.size(); ++off) {
    for (uint32_t len = 0; off + len <= model.size(); ++len) {
      PacketPtr seg = buf().copy(una + off, len, 16);
      ASSERT_NE(seg, nullptr);
      ASSERT_EQ(seg->chain_size(), len);
      std::vector<std::byte> want(model.begin() + off, model.begin() + off + len);
      ASSERT_EQ(flatten(*seg), want) << "off " << off << " len " << len;
    }
  }
}

TEST_F(SendBufferTest, AcknowledgeReleasesWholePacketsAndTrimsAPartialOne) {
  make(kTiny, 1000, kNearWrap + 200);  // the data straddles 2^32
  std::vector<std::byte> data = bytes(0, 256);
  ASSERT_EQ(buf().write(data), 256u);
  EXPECT_EQ(pool().in_use(), 4u);
  EXPECT_EQ(buf().acknowledge(kNearWrap + 200 + 10), 10u);
  EXPECT_EQ(pool().in_use(), 4u);
  EXPECT_EQ(buf().acknowledge(kNearWrap + 200 + 64), 54u);
  EXPECT_EQ(pool().in_use(), 3u);
  EXPECT_EQ(buf().acknowledge(kNearWrap + 200 + 200), 136u);
  EXPECT_EQ(pool().in_use(), 1u);
  EXPECT_EQ(buf().una(), SeqNum{144});
  EXPECT_EQ(buf().size(), 56u);
  EXPECT_EQ(flatten(*buf().copy(buf().una(), 56, 0)), bytes(200, 56));
  EXPECT_EQ(buf().free_space(), 944u);
}

TEST_F(SendBufferTest, AcknowledgmentsOutsideUnaToEndAreIgnored) {
  make(kTiny, 1000, kNearWrap + 250);
  std::vector<std::byte> data = bytes(0, 100);
  ASSERT_EQ(buf().write(data), 100u);
  const SeqNum una = buf().una();
  EXPECT_EQ(buf().acknowledge(una - 1), 0u);           // old
  EXPECT_EQ(buf().acknowledge(una - 0x40000000), 0u);  // far behind
  EXPECT_EQ(buf().acknowledge(buf().end() + 1), 0u);   // e.g. the FIN, not taken off
  EXPECT_EQ(buf().acknowledge(una + 0x40000000), 0u);  // far ahead
  EXPECT_EQ(buf().acknowledge(una), 0u);               // a duplicate ACK
  EXPECT_EQ(buf().una(), una);
  EXPECT_EQ(buf().size(), 100u);
  EXPECT_EQ(buf().acknowledge(buf().end()), 100u);
  EXPECT_TRUE(buf().empty());
  EXPECT_EQ(buf().una(), kNearWrap + 350);
  EXPECT_EQ(pool().in_use(), 0u);
  // An empty buffer takes writes again from the new una.
  ASSERT_EQ(buf().write(data), 100u);
  EXPECT_EQ(flatten(*buf().copy(kNearWrap + 350, 100, 0)), data);
}

TEST_F(SendBufferTest, ZeroCopyWriteTakesTheChainsPackets) {
  make(kTiny, 200, kNearWrap);
  std::vector<std::byte> data = bytes(0, 130);
  PacketPtr chain = make_chain(pool(), {40, 0, 40, 0}, std::span(data).first(80));
  const std::byte* first = chain->data();
  EXPECT_EQ(pool().in_use(), 4u);
  EXPECT_EQ(buf().write(std::move(chain)), 80u);
  EXPECT_EQ(chain, nullptr);
  EXPECT_EQ(pool().in_use(), 2u);  // the empty links went back
  EXPECT_EQ(buf().packets(), 2u);
  // A copied write fills the zero-copy tail's tailroom (64 - 16 - 40) first.
  EXPECT_EQ(buf().write(std::span(data).subspan(80, 8)), 8u);
  EXPECT_EQ(buf().packets(), 2u);
  EXPECT_EQ(buf().write(std::span(data).subspan(88, 12)), 12u);
  EXPECT_EQ(buf().packets(), 3u);
  EXPECT_EQ(buf().write(std::span(data).subspan(100)), 30u);
  EXPECT_EQ(buf().packets(), 3u);
  PacketPtr all = buf().copy(kNearWrap, 130, 0);
  EXPECT_EQ(flatten(*all), data);
  // Acknowledging trims the zero-copy packet in place: no copy was made.
  buf().acknowledge(kNearWrap + 10);
  PacketPtr seg = buf().copy(kNearWrap + 10, 1, 0);
  EXPECT_EQ(seg->data()[0], first[10]);
}

TEST_F(SendBufferTest, ZeroCopyWriteIsAllOrNothing) {
  make(kTiny, 100, SeqNum{5});
  std::vector<std::byte> data = bytes(0, 101);
  // Too many bytes: refused, and the chain stays with the caller.
  PacketPtr big = make_chain(pool(), {48, 48, 5}, data);
  EXPECT_EQ(buf().write(std::move(big)), 0u);
  ASSERT_NE(big, nullptr);
  EXPECT_EQ(big->chain_size(), 101u);
  EXPECT_EQ(buf().size(), 0u);
  chain_truncate(*big, 100);
  EXPECT_EQ(buf().write(std::move(big)), 100u);
  EXPECT_EQ(buf().free_space(), 0u);
  PacketPtr one = make_chain(pool(), {1}, std::span(data).first(1));
  EXPECT_EQ(buf().write(std::move(one)), 0u);
  EXPECT_NE(one, nullptr);
  // Null and empty chains are nothing to write.
  buf().acknowledge(buf().end());
  EXPECT_EQ(buf().write(PacketPtr()), 0u);
  PacketPtr empty = make_chain(pool(), {0, 0}, {});
  EXPECT_EQ(buf().write(std::move(empty)), 0u);
  EXPECT_EQ(buf().size(), 0u);
}

TEST_F(SendBufferTest, ZeroCopyWriteIsRefusedWhenTheRingIsFull) {
  // 128 bytes of 64-byte buffers: 2 * 2 + 2 = 6 slots.
  make(kTiny, 128, SeqNum{0});
  ASSERT_EQ(buf().ring_capacity(), 6u);
  std::vector<std::byte> data = bytes(0, 7);
  PacketPtr seven = make_chain(pool(), {1, 1, 1, 1, 1, 1, 1}, data);
  EXPECT_EQ(buf().write(std::move(seven)), 0u);  // 7 bytes, but 7 packets
  ASSERT_NE(seven, nullptr);
  chain_truncate(*seven, 6);
  EXPECT_EQ(buf().write(std::move(seven)), 6u);
  EXPECT_EQ(buf().packets(), 6u);
  // A copied write can still fill the tail's tailroom, then stops short of the
  // limit rather than take a seventh packet.
  std::vector<std::byte> more = bytes(6, 100);
  EXPECT_EQ(buf().write(more), 47u);  // 64 - 16 - 1
  EXPECT_EQ(buf().packets(), 6u);
  EXPECT_EQ(buf().size(), 53u);
  std::vector<std::byte> want = bytes(0, 53);
  EXPECT_EQ(flatten(*buf().copy(SeqNum{0}, 53, 0)), want);
}

TEST_F(SendBufferTest, ResetReleasesEverything) {
  make(kTiny, 1000, kNearWrap);
  std::vector<std::byte> data = bytes(0, 300);
  ASSERT_EQ(buf().write(data), 300u);
  EXPECT_GT(pool().in_use(), 0u);
  buf().reset(SeqNum{77});
  EXPECT_EQ(pool().in_use(), 0u);
  EXPECT_EQ(buf().una(), SeqNum{77});
  EXPECT_EQ(buf().end(), SeqNum{77});
  ASSERT_EQ(buf().write(data), 300u);
  EXPECT_EQ(flatten(*buf().copy(SeqNum{77}, 300, 0)), data);
}

TEST_F(SendBufferTest, RandomOperationsMatchAByteModel) {
  for (uint32_t seed : {1u, 2u, 3u, 4u}) {
    std::mt19937 rng(seed);
    auto uniform = [&](uint32_t lo, uint32_t hi) {
      return std::uniform_int_distribution<uint32_t>(lo, hi)(rng);
    };
    const uint32_t limit = uniform(100, 2000);
    const SeqNum start{0xFFFFFFFFu - uniform(0, 3000)};  // wraps during the run
    make(PoolConfig{.count = 256, .buffer_size = 64, .headroom = 16}, limit, start);
    std::deque<std::byte> model;
    SeqNum una = start;
    uint32_t next_byte = 0;
    for (int op = 0; op < 5000; ++op) {
      const uint32_t kind = uniform(0, 9);
      if (kind < 3) {  // copied write
        std::vector<std::byte> data = bytes(next_byte, uniform(0, 300));
        const uint32_t n = buf().write(data);
        // The pool suffices: only the limit, or a ring filled by small
        // zero-copy packets, makes it short.
        ASSERT_LE(n, std::min<size_t>(data.size(), limit - model.size()));
        if (n < std::min<size_t>(data.size(), limit - model.size())) {
          ASSERT_EQ(buf().packets(), buf().ring_capacity());
        }
        model.insert(model.end(), data.begin(), data.begin() + n);
        next_byte += n;
      } else if (kind < 4) {  // zero-copy write
        std::vector<uint32_t> sizes;
        uint32_t total = 0;
        for (uint32_t links = uniform(1, 3); links > 0; --links) {
          sizes.push_back(uniform(0, 40));
          total += sizes.back();
        }
        std::vector<std::byte> data = bytes(next_byte, total);
        PacketPtr chain = make_chain(pool(), sizes, data, uniform(0, 24));
        const uint32_t n = buf().write(std::move(chain));
        if (total > 0 && total <= limit - model.size() &&
            buf().packets() + 3 <= buf().ring_capacity()) {
          ASSERT_EQ(n, total);
        }
        if (n > 0) {
          ASSERT_EQ(n, total);
          ASSERT_EQ(chain, nullptr);
          model.insert(model.end(), data.begin(), data.end());
          next_byte += n;
        }
      } else if (kind < 6) {  // acknowledgment, sometimes out of range
        const int32_t delta = static_cast<int32_t>(uniform(0, model.size() + 20)) - 10;
        const SeqNum ack = una + delta;
        const uint32_t n = buf().acknowledge(ack);
        if (delta < 0 || delta > static_cast<int32_t>(model.size())) {
          ASSERT_EQ(n, 0u);
        } else {
          ASSERT_EQ(n, static_cast<uint32_t>(delta));
          model.erase(model.begin(), model.begin() + delta);
          una = ack;
        }
      } else {  // copy a segment
        const uint32_t off = uniform(0, model.size());
        const uint32_t len = uniform(0, model.size() - off);
        PacketPtr seg = buf().copy(una + off, len, uniform(0, 64));
        ASSERT_NE(seg, nullptr);
        std::vector<std::byte> want(model.begin() + off, model.begin() + off + len);
        ASSERT_EQ(flatten(*seg), want) << "seed " << seed << " op " << op;
      }
      ASSERT_EQ(buf().size(), model.size());
      ASSERT_EQ(buf().una(), una);
      ASSERT_EQ(buf().end(), una + model.size());
      ASSERT_EQ(buf().free_space(), limit - model.size());
      ASSERT_LE(buf().packets(), buf().ring_capacity());
      ASSERT_EQ(pool().in_use(), buf().packets());
    }
    buf_.reset();
    EXPECT_EQ(pool().available(), pool().capacity());
  }
}

}  // namespace
}  // namespace sn
