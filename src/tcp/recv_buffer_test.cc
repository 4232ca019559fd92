// Tests of the TCP receive buffer: in-order and out-of-order segments (every
// order of four), duplicates, overlaps of every kind, the window's right edge,
// the out-of-order bound, zero-copy and copying reads, and SACK blocks (RFC 2018
// §7's examples), against a per-byte model in seeded random runs. Sequence
// numbers wrap past 2^32 in most tests; pools of small buffers make segments
// span many packets; every test ends with every buffer back in its pool.
#include "tcp/recv_buffer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace sn {
namespace {

constexpr PoolConfig kTiny{.count = 4096, .buffer_size = 64, .headroom = 16};
constexpr SeqNum kNearWrap{0xFFFFFF00u};  // 256 bytes before the wrap

// The byte a test peer sends at sequence number s: any misplaced byte shows.
std::byte pattern(SeqNum s) {
  return std::byte(static_cast<uint8_t>((s.v * 2654435761u) >> 24));
}

// A segment's payload: bytes [seq, seq + len) in links of up to `per_packet`
// bytes, each starting `headroom` bytes into its buffer (as if headers had been
// trimmed off).
PacketPtr segment(PacketPool& pool, SeqNum seq, uint32_t len, uint32_t per_packet = 40,
                  uint32_t headroom = 16) {
  SN_CHECK(per_packet > 0 && headroom + per_packet <= pool.buffer_size());
  PacketPtr head = pool.alloc();
  SN_CHECK(head != nullptr);
  head->reset(headroom);
  Packet* last = head.get();
  for (uint32_t i = 0; i < len; ++i) {
    if (last->size() == per_packet) {
      PacketPtr p = pool.alloc();
      SN_CHECK(p != nullptr);
      p->reset(headroom);
      Packet* raw = p.get();
      last->append_chain(std::move(p));
      last = raw;
    }
    *last->append(1) = pattern(seq + i);
  }
  return head;
}

bool same(const RecvResult& a, const RecvResult& b) {
  return a.accepted_in_order == b.accepted_in_order &&
         a.queued_out_of_order == b.queued_out_of_order && a.dropped == b.dropped &&
         a.duplicate == b.duplicate && a.beyond_window == b.beyond_window;
}

std::string str(const RecvResult& r) {
  return "{in_order " + std::to_string(r.accepted_in_order) + ", ooo " +
         std::to_string(r.queued_out_of_order) + ", dropped " + std::to_string(r.dropped) +
         ", duplicate " + std::to_string(r.duplicate) + ", beyond " +
         std::to_string(r.beyond_window) + "}";
}

RecvResult result(uint32_t in_order, uint32_t ooo, bool dropped = false, bool duplicate = false,
                  uint32_t beyond = 0) {
  return RecvResult{in_order, ooo, dropped, duplicate, beyond};
}

std::vector<SackBlock> sacks(const RecvBuffer& buf, uint8_t max = 4) {
  std::array<SackBlock, 8> out{};
  const uint8_t n = buf.sack_blocks(out, max);
  return {out.begin(), out.begin() + n};
}

SackBlock block(uint32_t left, uint32_t right) {
  return SackBlock{SeqNum{left}, SeqNum{right}};
}

// A per-byte model of the receive buffer, in 64-bit offsets from the start,
// for runs where the out-of-order bound is never reached. Each held byte keeps
// the stamp of the arrival that brought it (or last repeated it).
struct Model {
  explicit Model(uint32_t limit) : limit(limit) {}
  uint32_t limit;
  uint64_t rcv = 0;                   // RCV.NXT
  uint64_t read = 0;                  // next byte the application reads
  std::map<uint64_t, uint64_t> held;  // out-of-order byte -> stamp
  uint64_t stamp = 0;

  uint32_t readable() const { return static_cast<uint32_t>(rcv - read); }
  uint32_t rcv_wnd() const { return limit - readable(); }

  RecvResult receive(uint64_t b, uint64_t e) {
    RecvResult r;
    if (b == e) return r;
    uint64_t old = 0;
    if (b < rcv) {
      old = std::min(e, rcv) - b;
      b = std::min(e, rcv);
      if (b == e) {
        r.duplicate = true;
        return r;
      }
    }
    const uint64_t edge = rcv + rcv_wnd();
    if (b >= edge) {
      r.beyond_window = static_cast<uint32_t>(e - b);
      r.duplicate = old > 0;
      return r;
    }
    if (e > edge) {
      r.beyond_window = static_cast<uint32_t>(e - edge);
      e = edge;
    }
    if (b == rcv) {
      for (uint64_t x = b; x < e; ++x)
        held[x] = 0;
      const uint64_t before = rcv;
      while (held.count(rcv)) {
        held.erase(rcv);
        ++rcv;
      }
      r.accepted_in_order = static_cast<uint32_t>(rcv - before);
      return r;
    }
    ++stamp;
    for (uint64_t x = b; x < e; ++x) {
      if (!held.count(x)) {
        held[x] = stamp;
        ++r.queued_out_of_order;
      }
    }
    if (r.queued_out_of_order == 0) {
      held[b] = stamp;
      r.duplicate = true;
    }
    return r;
  }

  // The runs of held bytes, newest first, as offsets [left, right).
  std::vector<std::pair<uint64_t, uint64_t>> sack(size_t max) const {
    struct Run {
      uint64_t left, right, stamp;
    };
    std::vector<Run> runs;
    for (auto [x, s] : held) {
      if (!runs.empty() && runs.back().right == x) {
        runs.back().right = x + 1;
        runs.back().stamp = std::max(runs.back().stamp, s);
      } else {
        runs.push_back({x, x + 1, s});
      }
    }
    std::sort(runs.begin(), runs.end(),
              [](const Run& a, const Run& b) { return a.stamp > b.stamp; });
    std::vector<std::pair<uint64_t, uint64_t>> out;
    for (size_t i = 0; i < runs.size() && i < max; ++i)
      out.push_back({runs[i].left, runs[i].right});
    return out;
  }
  // The bytes from rcv to `until` not held, as offsets [left, right).
  std::vector<std::pair<uint64_t, uint64_t>> holes(uint64_t until) const {
    std::vector<std::pair<uint64_t, uint64_t>> out;
    uint64_t at = rcv;
    for (auto [x, s] : held) {
      if (x > at) out.push_back({at, x});
      at = x + 1;
    }
    if (at < until) out.push_back({at, until});
    return out;
  }
};

class RecvBufferTest : public ::testing::Test {
 protected:
  void make(uint32_t limit, uint32_t max_ooo, SeqNum rcv_nxt, bool split = false,
            const PoolConfig& config = kTiny) {
    buf_.reset();
    if (!pool_ || pool_->capacity() != config.count || pool_->buffer_size() != config.buffer_size ||
        pool_->headroom() != config.headroom) {
      pool_ = std::make_unique<PacketPool>(config);
    }
    buf_.emplace(limit, max_ooo, split ? pool_.get() : nullptr);
    buf_->reset(rcv_nxt);
    start_ = rcv_nxt;
  }
  // No test may leak a buffer: everything the receive buffer held goes back.
  void TearDown() override {
    buf_.reset();
    if (pool_) {
      EXPECT_EQ(pool_->available(), pool_->capacity());
    }
  }
  PacketPool& pool() { return *pool_; }
  RecvBuffer& buf() { return *buf_; }

  RecvResult receive(uint32_t off, uint32_t len, uint32_t per_packet = 40) {
    return buf().receive(start_ + off, segment(pool(), start_ + off, len, per_packet));
  }
  // Reads n bytes and checks they are the bytes sent from start_ + from on.
  void expect_read(uint32_t from, uint32_t n) {
    std::vector<std::byte> out(n);
    ASSERT_EQ(buf().read(out), n);
    for (uint32_t i = 0; i < n; ++i)
      ASSERT_EQ(out[i], pattern(start_ + from + i)) << "byte " << from + i;
  }
  void expect_sacks(const Model& m, uint8_t max = 4) {
    std::vector<SackBlock> want;
    for (auto [l, r] : m.sack(max))
      want.push_back(SackBlock{start_ + l, start_ + r});
    ASSERT_EQ(sacks(buf(), max), want);
  }
  void expect_state(const Model& m) {
    ASSERT_EQ(buf().rcv_nxt(), start_ + m.rcv);
    ASSERT_EQ(buf().readable(), m.readable());
    ASSERT_EQ(buf().ooo_bytes(), m.held.size());
    ASSERT_EQ(buf().rcv_wnd(), m.rcv_wnd());
    ASSERT_EQ(buf().window(), m.rcv_wnd() - m.held.size());
    ASSERT_EQ(buf().empty(), m.readable() == 0 && m.held.empty());
    ASSERT_LE(buf().ooo_segments(), buf().max_ooo_segments());
    expect_sacks(m);
  }

  std::unique_ptr<PacketPool> pool_;
  std::optional<RecvBuffer> buf_;
  SeqNum start_;
};

TEST_F(RecvBufferTest, StartsEmpty) {
  make(1000, 64, kNearWrap);
  EXPECT_TRUE(buf().empty());
  EXPECT_EQ(buf().rcv_nxt(), kNearWrap);
  EXPECT_EQ(buf().readable(), 0u);
  EXPECT_EQ(buf().window(), 1000u);
  EXPECT_EQ(buf().rcv_wnd(), 1000u);
  EXPECT_EQ(buf().ooo_segments(), 0u);
  EXPECT_TRUE(sacks(buf()).empty());
  std::vector<std::byte> out(10);
  EXPECT_EQ(buf().read(out), 0u);
  EXPECT_EQ(buf().read_chain(10), nullptr);
}

TEST_F(RecvBufferTest, NullAndEmptyPayloadsChangeNothing) {
  make(1000, 64, kNearWrap);
  EXPECT_TRUE(same(buf().receive(kNearWrap, nullptr), result(0, 0)));
  EXPECT_TRUE(same(buf().receive(kNearWrap + 5, segment(pool(), kNearWrap + 5, 0)), result(0, 0)));
  EXPECT_TRUE(buf().empty());
}

TEST_F(RecvBufferTest, InOrderSegmentsBecomeReadableAcrossTheWrap) {
  make(1000, 64, kNearWrap + 200);
  EXPECT_TRUE(same(receive(0, 100), result(100, 0)));
  EXPECT_TRUE(same(receive(100, 30), result(30, 0)));
  EXPECT_TRUE(same(receive(130, 170), result(170, 0)));
  EXPECT_EQ(buf().rcv_nxt(), SeqNum{244});  // wrapped
  EXPECT_EQ(buf().readable(), 300u);
  EXPECT_EQ(buf().window(), 700u);
  EXPECT_EQ(buf().rcv_wnd(), 700u);
  expect_read(0, 10);
  expect_read(10, 290);
  EXPECT_TRUE(buf().empty());
  EXPECT_EQ(buf().rcv_wnd(), 1000u);
}

TEST_F(RecvBufferTest, ReceivingIsZeroCopy) {
  make(1000, 64, kNearWrap);
  PacketPtr seg = segment(pool(), kNearWrap, 40, 40);
  const std::byte* data = seg->data();
  ASSERT_TRUE(same(buf().receive(kNearWrap, std::move(seg)), result(40, 0)));
  PacketPtr out = buf().read_chain(100);
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(out->data(), data);  // the very packet that arrived
  EXPECT_EQ(out->chain_size(), 40u);
}

TEST_F(RecvBufferTest, SmallSegmentsAreCopiedIntoTheLastPacket) {
  make(10000, 64, kNearWrap);
  for (uint32_t i = 0; i < 480; ++i)
    ASSERT_TRUE(same(receive(i, 1), result(1, 0)));
  // 48 bytes fit in each 64-byte buffer after its 16 bytes of headroom.
  EXPECT_EQ(pool().in_use(), 10u);
  expect_read(0, 480);
  EXPECT_EQ(pool().in_use(), 0u);
}

TEST_F(RecvBufferTest, OldBytesAreTrimmed) {
  make(1000, 64, kNearWrap);
  ASSERT_TRUE(same(receive(0, 100), result(100, 0)));
  EXPECT_TRUE(same(receive(0, 100), result(0, 0, false, true)));  // all old
  EXPECT_TRUE(same(receive(50, 50), result(0, 0, false, true)));  // the last old bytes
  EXPECT_TRUE(same(receive(90, 30), result(20, 0)));              // 10 old, 20 new
  buf().reset(kNearWrap);  // an old segment across the wrap is old too
  start_ = kNearWrap;
  EXPECT_TRUE(same(buf().receive(kNearWrap - 100, segment(pool(), kNearWrap - 100, 100)),
                   result(0, 0, false, true)));
  EXPECT_TRUE(
      same(buf().receive(kNearWrap - 100, segment(pool(), kNearWrap - 100, 150)), result(50, 0)));
  expect_read(0, 50);
}

TEST_F(RecvBufferTest, BytesPastTheWindowAreTrimmed) {
  make(100, 64, kNearWrap + 250);
  EXPECT_TRUE(same(receive(0, 150), result(100, 0, false, false, 50)));
  EXPECT_EQ(buf().rcv_wnd(), 0u);
  EXPECT_TRUE(same(receive(100, 10), result(0, 0, false, false, 10)));  // zero window
  EXPECT_TRUE(same(receive(90, 20), result(0, 0, false, true, 10)));    // old and too far
  expect_read(0, 30);
  EXPECT_EQ(buf().rcv_wnd(), 30u);
  // Out of order: the edge is rcv_nxt + rcv_wnd, not + window().
  EXPECT_TRUE(same(receive(110, 15), result(0, 15)));
  EXPECT_EQ(buf().window(), 15u);
  EXPECT_EQ(buf().rcv_wnd(), 30u);
  EXPECT_TRUE(same(receive(125, 10), result(0, 5, false, false, 5)));
  EXPECT_TRUE(same(receive(130, 1), result(0, 0, false, false, 1)));
  EXPECT_EQ(buf().window(), 10u);
  EXPECT_TRUE(same(receive(100, 40), result(30, 0, false, false, 10)));
  EXPECT_EQ(buf().window(), 0u);
  expect_read(30, 100);
}

TEST_F(RecvBufferTest, EveryOrderOfFourSegments) {
  // Uneven sizes, several packets each, straddling 2^32.
  const std::array<uint32_t, 4> len = {30, 95, 1, 57};
  const std::array<uint32_t, 4> off = {0, 30, 125, 126};
  std::array<int, 4> order = {0, 1, 2, 3};
  int permutations = 0;
  do {
    make(1000, 64, SeqNum{0xFFFFFFFFu - 60});
    Model m(1000);
    for (int i : order) {
      const RecvResult want = m.receive(off[i], off[i] + len[i]);
      const RecvResult got = receive(off[i], len[i], 13);
      ASSERT_TRUE(same(got, want)) << "segment " << i << ": " << str(got) << " want " << str(want);
      expect_state(m);
    }
    EXPECT_EQ(buf().ooo_segments(), 0u);
    expect_read(0, 183);
    EXPECT_TRUE(buf().empty());
    ++permutations;
  } while (std::next_permutation(order.begin(), order.end()));
  EXPECT_EQ(permutations, 24);
}

// RFC 2018 §7: left edge 5000, eight segments of 500 bytes.
TEST_F(RecvBufferTest, Rfc2018Section7FirstSegmentLost) {
  make(4000, 64, SeqNum{5000});
  for (uint32_t s = 5500; s < 9000; s += 500) {
    EXPECT_TRUE(
        same(buf().receive(SeqNum{s}, segment(pool(), SeqNum{s}, 500, 48)), result(0, 500)));
    EXPECT_EQ(buf().rcv_nxt(), SeqNum{5000});
    EXPECT_EQ(sacks(buf()), std::vector<SackBlock>{block(5500, s + 500)});
  }
}

TEST_F(RecvBufferTest, Rfc2018Section7EverySecondSegmentLost) {
  make(4000, 64, SeqNum{5000});
  start_ = SeqNum{0};
  auto arrive = [&](uint32_t s) {
    return buf().receive(SeqNum{s}, segment(pool(), SeqNum{s}, 500, 48));
  };
  EXPECT_TRUE(same(arrive(5000), result(500, 0)));
  EXPECT_EQ(buf().rcv_nxt(), SeqNum{5500});
  EXPECT_TRUE(sacks(buf()).empty());
  arrive(6000);
  EXPECT_EQ(sacks(buf()), (std::vector<SackBlock>{block(6000, 6500)}));
  arrive(7000);
  EXPECT_EQ(sacks(buf()), (std::vector<SackBlock>{block(7000, 7500), block(6000, 6500)}));
  arrive(8000);
  EXPECT_EQ(sacks(buf()),
            (std::vector<SackBlock>{block(8000, 8500), block(7000, 7500), block(6000, 6500)}));
  EXPECT_EQ(sacks(buf(), 2), (std::vector<SackBlock>{block(8000, 8500), block(7000, 7500)}));
  // "Suppose at this point, the 4th packet is received out of order."
  EXPECT_TRUE(same(arrive(6500), result(0, 500)));
  EXPECT_EQ(buf().rcv_nxt(), SeqNum{5500});
  EXPECT_EQ(sacks(buf()), (std::vector<SackBlock>{block(6000, 7500), block(8000, 8500)}));
  EXPECT_EQ(buf().ooo_segments(), 4u);
  // "Suppose at this point, the 2nd segment is received."
  EXPECT_TRUE(same(arrive(5500), result(2000, 0)));
  EXPECT_EQ(buf().rcv_nxt(), SeqNum{7500});
  EXPECT_EQ(sacks(buf()), (std::vector<SackBlock>{block(8000, 8500)}));
  expect_read(5000, 2500);
}

TEST_F(RecvBufferTest, SackBlocksComeNewestFirst) {
  make(1000, 64, kNearWrap + 200);
  receive(300, 10);  // A
  receive(100, 10);  // B
  receive(200, 10);  // C
  const SeqNum s = start_;
  EXPECT_EQ(sacks(buf()),
            (std::vector<SackBlock>{{s + 200, s + 210}, {s + 100, s + 110}, {s + 300, s + 310}}));
  // A repeated segment triggers an ACK whose first block must hold it.
  EXPECT_TRUE(same(receive(302, 5), result(0, 0, false, true)));
  EXPECT_EQ(sacks(buf()),
            (std::vector<SackBlock>{{s + 300, s + 310}, {s + 200, s + 210}, {s + 100, s + 110}}));
  // Joining B and C makes one block, now the newest.
  EXPECT_TRUE(same(receive(110, 90), result(0, 90)));
  EXPECT_EQ(sacks(buf()), (std::vector<SackBlock>{{s + 100, s + 210}, {s + 300, s + 310}}));
  EXPECT_EQ(sacks(buf(), 1), (std::vector<SackBlock>{{s + 100, s + 210}}));
  EXPECT_TRUE(sacks(buf(), 0).empty());
  std::array<SackBlock, 1> one{};
  EXPECT_EQ(buf().sack_blocks(one, 4), 1);  // never more than out.size()
  EXPECT_EQ(buf().ooo_segments(), 4u);
  EXPECT_EQ(buf().ooo_bytes(), 120u);
}

TEST_F(RecvBufferTest, OverlapsOfEachKind) {
  // Held: [20, 30) received first, then [40, 50).
  struct Case {
    const char* name;
    uint32_t begin, end;
    RecvResult want;
    uint32_t segments;
    std::vector<std::pair<uint32_t, uint32_t>> sacks;
  };
  const std::vector<Case> cases = {
      {"left", 15, 25, result(0, 5), 3, {{15, 30}, {40, 50}}},
      {"right", 25, 35, result(0, 5), 3, {{20, 35}, {40, 50}}},
      {"inside", 22, 28, result(0, 0, false, true), 2, {{20, 30}, {40, 50}}},
      {"exact", 20, 30, result(0, 0, false, true), 2, {{20, 30}, {40, 50}}},
      {"covering", 15, 35, result(0, 10), 2, {{15, 35}, {40, 50}}},
      {"covering both", 10, 60, result(0, 30), 1, {{10, 60}}},
      {"bridging", 25, 45, result(0, 10), 3, {{20, 50}}},
      {"covering and right", 15, 45, result(0, 15), 2, {{15, 50}}},
      {"in order, into the first", 0, 25, result(30, 0), 1, {{40, 50}}},
      {"in order, covering all", 0, 55, result(55, 0), 0, {}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    make(1000, 64, kNearWrap + 236);
    receive(20, 10, 3);
    receive(40, 10, 3);
    ASSERT_EQ(sacks(buf()),
              (std::vector<SackBlock>{{start_ + 40, start_ + 50}, {start_ + 20, start_ + 30}}));
    EXPECT_TRUE(same(receive(c.begin, c.end - c.begin, 7), c.want));
    EXPECT_EQ(buf().ooo_segments(), c.segments);
    std::vector<SackBlock> want;
    for (auto [l, r] : c.sacks)
      want.push_back({start_ + l, start_ + r});
    EXPECT_EQ(sacks(buf()), want);
  }
}

TEST_F(RecvBufferTest, EveryOverlapStoresEachByteOnce) {
  // Held [20, 30) and [40, 50); then every segment [a, b) within [0, 60); then
  // the holes; then all 60 bytes must read back exactly.
  for (uint32_t a = 0; a < 60; ++a) {
    for (uint32_t b = a + 1; b <= 60; ++b) {
      make(1000, 64, kNearWrap + 230);
      Model m(1000);
      for (auto [l, r] : {std::pair{20u, 30u}, std::pair{40u, 50u}}) {
        m.receive(l, r);
        receive(l, r - l, 4);
      }
      const RecvResult want = m.receive(a, b);
      ASSERT_TRUE(same(receive(a, b - a, 3), want)) << a << ".." << b;
      ASSERT_NO_FATAL_FAILURE(expect_state(m)) << a << ".." << b;
      auto holes = m.holes(60);
      std::reverse(holes.begin(), holes.end());  // last hole first: out of order
      for (auto [l, r] : holes) {
        const RecvResult hw = m.receive(l, r);
        ASSERT_TRUE(same(receive(l, r - l, 5), hw));
        ASSERT_NO_FATAL_FAILURE(expect_state(m));
      }
      ASSERT_EQ(m.rcv, 60u);
      ASSERT_NO_FATAL_FAILURE(expect_read(0, 60)) << a << ".." << b;
      ASSERT_TRUE(buf().empty());
      buf_.reset();
      ASSERT_EQ(pool().available(), pool().capacity());
    }
  }
}

TEST_F(RecvBufferTest, OutOfOrderQueueIsBounded) {
  make(1000, 4, kNearWrap);
  for (uint32_t i = 1; i <= 4; ++i)
    ASSERT_TRUE(same(receive(i * 20, 10), result(0, 10)));
  EXPECT_EQ(buf().ooo_segments(), 4u);
  // A fifth separate segment is dropped, and so is one that would join two
  // held ones but add a segment.
  EXPECT_TRUE(same(receive(120, 10), result(0, 0, true)));
  EXPECT_TRUE(same(receive(32, 3), result(0, 0, true)));
  EXPECT_TRUE(same(receive(30, 10), result(0, 0, true)));
  EXPECT_EQ(buf().ooo_segments(), 4u);
  EXPECT_EQ(buf().ooo_bytes(), 40u);
  // Duplicates are still recognized when full.
  EXPECT_TRUE(same(receive(20, 10), result(0, 0, false, true)));
  // One that covers two held segments ([40, 50) and [60, 70)) replaces them.
  EXPECT_TRUE(same(receive(35, 40), result(0, 20)));
  EXPECT_EQ(buf().ooo_segments(), 3u);
  EXPECT_EQ(buf().ooo_bytes(), 60u);
  EXPECT_TRUE(same(receive(120, 10), result(0, 10)));
  EXPECT_EQ(buf().ooo_segments(), 4u);
  // In-order data is never refused for want of out-of-order room.
  EXPECT_TRUE(same(receive(0, 25), result(30, 0)));
  EXPECT_EQ(buf().ooo_segments(), 3u);
  EXPECT_TRUE(same(receive(30, 5), result(45, 0)));
  EXPECT_TRUE(same(receive(75, 45), result(55, 0)));
  expect_read(0, 130);
  EXPECT_TRUE(buf().empty());
}

TEST_F(RecvBufferTest, ReadChainDetachesWholePackets) {
  make(1000, 64, kNearWrap);
  receive(0, 100, 40);  // links of 40, 40, 20
  EXPECT_EQ(buf().read_chain(0), nullptr);
  EXPECT_EQ(buf().read_chain(39), nullptr);  // no split pool: whole packets only
  PacketPtr a = buf().read_chain(90);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->chain_size(), 80u);
  EXPECT_EQ(a->chain_count(), 2u);
  EXPECT_EQ(buf().readable(), 20u);
  EXPECT_EQ(buf().rcv_wnd(), 980u);
  std::vector<std::byte> got(80);
  chain_copy_out(*a, 0, got);
  for (uint32_t i = 0; i < 80; ++i)
    ASSERT_EQ(got[i], pattern(kNearWrap + i));
  // A partly read packet goes whole too.
  expect_read(80, 5);
  PacketPtr b = buf().read_chain(1000);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->chain_size(), 15u);
  EXPECT_EQ(b->data()[0], pattern(kNearWrap + 85));
  EXPECT_TRUE(buf().empty());
  // More data after the queue emptied.
  receive(100, 30, 40);
  expect_read(100, 30);
}

TEST_F(RecvBufferTest, ReadChainSplitsAPacketWithASplitPool) {
  make(1000, 64, kNearWrap, /*split=*/true);
  receive(0, 100, 40);  // links of 40, 40, 20
  const uint32_t before = pool().in_use();
  PacketPtr a = buf().read_chain(10);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->chain_size(), 10u);
  EXPECT_EQ(pool().in_use(), before + 1);
  PacketPtr b = buf().read_chain(75);  // the rest of the first (30), the second (40), 5
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->chain_size(), 75u);
  EXPECT_EQ(b->chain_count(), 3u);
  std::vector<std::byte> got(75);
  chain_copy_out(*b, 0, got);
  for (uint32_t i = 0; i < 75; ++i)
    ASSERT_EQ(got[i], pattern(kNearWrap + 10 + i));
  EXPECT_EQ(buf().readable(), 15u);
  // With the pool empty it falls back to whole packets.
  std::vector<PacketPtr> hog;
  while (PacketPtr p = pool().alloc())
    hog.push_back(std::move(p));
  EXPECT_EQ(buf().read_chain(5), nullptr);
  hog.clear();
  expect_read(85, 15);
}

TEST_F(RecvBufferTest, ResetReleasesEverything) {
  make(1000, 64, kNearWrap);
  receive(0, 100);
  receive(200, 100);
  receive(400, 100);
  EXPECT_GT(pool().in_use(), 0u);
  buf().reset(SeqNum{7});
  EXPECT_EQ(pool().in_use(), 0u);
  EXPECT_TRUE(buf().empty());
  EXPECT_EQ(buf().rcv_nxt(), SeqNum{7});
  EXPECT_EQ(buf().window(), 1000u);
  EXPECT_TRUE(sacks(buf()).empty());
}

// Random segments (old, in order, out of order, overlapping, past the window),
// reads and zero-copy reads, checked byte by byte and field by field against
// the model. The out-of-order bound is out of reach here.
TEST_F(RecvBufferTest, RandomTrafficMatchesAByteModel) {
  for (uint32_t seed : {1u, 2u, 3u, 4u}) {
    std::mt19937 rng(seed);
    auto uniform = [&](int64_t lo, int64_t hi) {
      return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
    };
    const uint32_t limit = static_cast<uint32_t>(uniform(50, 2000));
    const bool split = seed % 2 == 0;
    make(limit, 100000, SeqNum{0xFFFFFFFFu - static_cast<uint32_t>(uniform(0, 5000))}, split);
    Model m(limit);
    for (int op = 0; op < 4000; ++op) {
      SCOPED_TRACE(testing::Message() << "seed " << seed << " op " << op);
      const int64_t kind = uniform(0, 9);
      if (kind < 6) {
        const int64_t b =
            std::max<int64_t>(0, static_cast<int64_t>(m.rcv) + uniform(-100, m.rcv_wnd() + 50));
        const uint32_t len = static_cast<uint32_t>(uniform(0, 200));
        const uint32_t headroom = static_cast<uint32_t>(uniform(0, 40));
        const uint32_t per_packet = static_cast<uint32_t>(uniform(1, 64 - headroom));
        const RecvResult want = m.receive(b, b + len);
        PacketPtr seg = segment(pool(), start_ + b, len, per_packet, headroom);
        const RecvResult got = buf().receive(start_ + b, std::move(seg));
        ASSERT_TRUE(same(got, want)) << str(got) << " want " << str(want);
      } else if (kind < 8) {
        std::vector<std::byte> out(uniform(0, 300));
        const uint32_t n = buf().read(out);
        ASSERT_EQ(n, std::min<size_t>(out.size(), m.readable()));
        for (uint32_t i = 0; i < n; ++i)
          ASSERT_EQ(out[i], pattern(start_ + m.read + i));
        m.read += n;
      } else {
        const uint32_t max = static_cast<uint32_t>(uniform(0, 300));
        PacketPtr c = buf().read_chain(max);
        const uint32_t n = c ? c->chain_size() : 0;
        ASSERT_LE(n, std::min(max, m.readable()));
        if (split || max >= m.readable()) {
          ASSERT_EQ(n, std::min(max, m.readable()));
        }
        for (const Packet* p = c.get(); p; p = p->next())
          ASSERT_GT(p->size(), 0u);
        std::vector<std::byte> out(n);
        if (n > 0) chain_copy_out(*c, 0, out);
        for (uint32_t i = 0; i < n; ++i)
          ASSERT_EQ(out[i], pattern(start_ + m.read + i));
        m.read += n;
      }
      ASSERT_NO_FATAL_FAILURE(expect_state(m));
    }
  }
}

// With a small out-of-order bound the model no longer predicts which segments
// are dropped, but what is delivered must still be exactly what was sent.
TEST_F(RecvBufferTest, RandomTrafficWithASmallBoundDeliversExactBytes) {
  for (uint32_t seed : {11u, 12u, 13u}) {
    std::mt19937 rng(seed);
    auto uniform = [&](int64_t lo, int64_t hi) {
      return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
    };
    make(1500, 3, SeqNum{0xFFFFFFFFu - static_cast<uint32_t>(uniform(0, 3000))});
    uint64_t read = 0;
    uint32_t dropped = 0;
    for (int op = 0; op < 4000; ++op) {
      if (uniform(0, 3) > 0) {
        const uint32_t rel = static_cast<uint32_t>(uniform(0, buf().rcv_wnd() + 20));
        const SeqNum seq = buf().rcv_nxt() + rel;
        const uint32_t len = static_cast<uint32_t>(uniform(1, 150));
        const uint32_t before = buf().ooo_segments();
        const RecvResult r = buf().receive(seq, segment(pool(), seq, len, 30));
        if (r.dropped) {
          ++dropped;
          ASSERT_EQ(before, 3u);
          ASSERT_EQ(r.accepted_in_order + r.queued_out_of_order, 0u);
        }
        ASSERT_LE(buf().ooo_segments(), 3u);
        ASSERT_LE(buf().readable() + buf().ooo_bytes(), 1500u);
      } else {
        std::vector<std::byte> out(uniform(0, 400));
        const uint32_t n = buf().read(out);
        for (uint32_t i = 0; i < n; ++i)
          ASSERT_EQ(out[i], pattern(start_ + read + i));
        read += n;
      }
      ASSERT_EQ(buf().rcv_nxt(), start_ + (read + buf().readable()));
    }
    EXPECT_GT(dropped, 0u);  // the bound was reached
  }
}

}  // namespace
}  // namespace sn
