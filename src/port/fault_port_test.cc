// Tests of the fault injector: each fault alone at its configured rate, exact
// behaviour at probability one, delay and reorder on virtual time, and
// repeatability for a seed. A scripted fake port stands in for the device.
#include "port/fault_port.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <numeric>
#include <vector>

#include "port/port_testing.h"

namespace sn {
namespace {

using testing::bytes_of;
using testing::FakePort;
using testing::mac;
using testing::make_frame;
using testing::seq_of;

constexpr Instant kT0 = Instant::from_ns(1'000'000'000);
constexpr Duration kStep = Duration::micros(1);

struct Outcome {
  std::vector<uint32_t> seqs;
  std::vector<std::vector<std::byte>> frames;
  uint64_t dropped = 0, duplicated = 0, reordered = 0, corrupted = 0, delayed = 0, hold_full = 0;
};

void record(Outcome& o, const Packet& p) {
  o.seqs.push_back(seq_of(p));
  o.frames.push_back(bytes_of(p));
}

void take_counters(Outcome& o, const FaultPort& fp) {
  o.dropped = fp.faults().dropped.get();
  o.duplicated = fp.faults().duplicated.get();
  o.reordered = fp.faults().reordered.get();
  o.corrupted = fp.faults().corrupted.get();
  o.delayed = fp.faults().delayed.get();
  o.hold_full = fp.faults().hold_full.get();
}

// Feeds n frames, one per microsecond, up through the receive side.
Outcome run_rx(const FaultConfig& config, uint32_t n) {
  PacketPool pool(PoolConfig{.count = 2048});
  PacketPool dups(PoolConfig{.count = 2048});
  FakePort inner;
  FaultPort fp(inner, dups, config);
  Outcome o;
  Instant t = kT0;
  PacketPtr out[8];
  auto drain = [&] {
    while (size_t k = fp.rx_burst(pool, out, t))
      for (size_t i = 0; i < k; ++i) {
        record(o, *out[i]);
        out[i].reset();
      }
  };
  for (uint32_t i = 0; i < n; ++i) {
    inner.rx.push_back(make_frame(pool, mac(1), mac(2), i));
    drain();
    t += kStep;
  }
  t += Duration::seconds(1);
  drain();
  EXPECT_EQ(fp.held(), 0u);
  take_counters(o, fp);
  return o;
}

// Sends n frames, one per microsecond, down through the transmit side.
Outcome run_tx(const FaultConfig& config, uint32_t n) {
  PacketPool pool(PoolConfig{.count = 2048});
  PacketPool dups(PoolConfig{.count = 2048});
  FakePort inner;
  FaultPort fp(inner, dups, config);
  Outcome o;
  Instant t = kT0;
  auto drain = [&] {
    for (PacketPtr& p : inner.sent)
      record(o, *p);
    inner.sent.clear();
  };
  for (uint32_t i = 0; i < n; ++i) {
    PacketPtr f[1] = {make_frame(pool, mac(1), mac(2), i)};  // as original(i)
    EXPECT_EQ(fp.tx_burst(f, t), 1u);
    drain();
    t += kStep;
  }
  t += Duration::seconds(1);
  fp.tx_burst({}, t);
  drain();
  EXPECT_EQ(fp.held(), 0u);
  take_counters(o, fp);
  return o;
}

std::vector<std::byte> original(uint32_t seq) {
  PacketPool pool(PoolConfig{.count = 1});
  return bytes_of(*make_frame(pool, mac(1), mac(2), seq));
}

int bits_differing(const std::vector<std::byte>& a, const std::vector<std::byte>& b) {
  if (a.size() != b.size()) return -1;
  int n = 0;
  for (size_t i = 0; i < a.size(); ++i)
    n += std::popcount(std::to_integer<unsigned>(a[i] ^ b[i]));
  return n;
}

TEST(FaultPortTest, TotalLossPassesNothingAndCountsEverything) {
  FaultConfig c{.loss = 1};
  Outcome rx = run_rx(c, 100);
  EXPECT_TRUE(rx.seqs.empty());
  EXPECT_EQ(rx.dropped, 100u);
  Outcome tx = run_tx(c, 100);
  EXPECT_TRUE(tx.seqs.empty());
  EXPECT_EQ(tx.dropped, 100u);
}

TEST(FaultPortTest, NoFaultsIsTransparent) {
  FaultConfig c;
  EXPECT_FALSE(c.any());
  Outcome o = run_rx(c, 100);
  ASSERT_EQ(o.seqs.size(), 100u);
  for (uint32_t i = 0; i < 100; ++i)
    EXPECT_EQ(o.frames[i], original(i));
}

// Each fault alone at p = 0.1 over 10,000 frames, in both directions: the
// observed rate is within five standard deviations (sigma = 30 frames).
constexpr uint32_t kFrames = 10'000;
constexpr double kP = 0.1;
constexpr int64_t kTolerance = 150;

TEST(FaultPortTest, LossRate) {
  for (auto run : {run_rx, run_tx}) {
    Outcome o = run(FaultConfig{.loss = kP}, kFrames);
    EXPECT_NEAR(double(o.dropped), kP * kFrames, kTolerance);
    EXPECT_EQ(o.seqs.size() + o.dropped, kFrames);
    EXPECT_TRUE(std::is_sorted(o.seqs.begin(), o.seqs.end()));
  }
}

TEST(FaultPortTest, DuplicateRate) {
  for (auto run : {run_rx, run_tx}) {
    Outcome o = run(FaultConfig{.duplicate = kP}, kFrames);
    EXPECT_NEAR(double(o.duplicated), kP * kFrames, kTolerance);
    EXPECT_EQ(o.seqs.size(), kFrames + o.duplicated);
  }
}

TEST(FaultPortTest, CorruptRate) {
  for (auto run : {run_rx, run_tx}) {
    Outcome o = run(FaultConfig{.corrupt = kP}, kFrames);
    ASSERT_EQ(o.seqs.size(), kFrames);
    uint64_t changed = 0;
    for (uint32_t i = 0; i < kFrames; ++i)
      changed += o.frames[i] != original(i);
    EXPECT_EQ(changed, o.corrupted);
    EXPECT_NEAR(double(changed), kP * kFrames, kTolerance);
  }
}

TEST(FaultPortTest, ReorderRate) {
  for (auto run : {run_rx, run_tx}) {
    Outcome o = run(FaultConfig{.reorder = kP}, kFrames);
    EXPECT_NEAR(double(o.reordered), kP * kFrames, kTolerance);
    EXPECT_EQ(o.seqs.size(), kFrames);
  }
}

TEST(FaultPortTest, SameSeedSameOutcomeOtherSeedDifferent) {
  FaultConfig c{.loss = 0.05, .duplicate = 0.05, .reorder = 0.05, .corrupt = 0.05, .seed = 7};
  Outcome a = run_rx(c, 2000);
  Outcome b = run_rx(c, 2000);
  EXPECT_EQ(a.seqs, b.seqs);
  EXPECT_EQ(a.frames, b.frames);
  c.seed = 8;
  Outcome d = run_rx(c, 2000);
  EXPECT_NE(a.seqs, d.seqs);
}

TEST(FaultPortTest, DirectionsAreIndependent) {
  // The receive side's faults do not depend on traffic sent the other way.
  FaultConfig c{.loss = 0.2, .seed = 3};
  Outcome quiet = run_rx(c, 500);

  PacketPool pool(PoolConfig{.count = 1024});
  PacketPool dups(PoolConfig{.count = 64});
  FakePort inner;
  FaultPort fp(inner, dups, c);
  std::vector<uint32_t> seqs;
  PacketPtr out[8];
  for (uint32_t i = 0; i < 500; ++i) {
    PacketPtr f[2] = {make_frame(pool, mac(2), mac(1), i), make_frame(pool, mac(2), mac(1), i)};
    fp.tx_burst(f, kT0);
    inner.sent.clear();
    inner.rx.push_back(make_frame(pool, mac(1), mac(2), i));
    const size_t k = fp.rx_burst(pool, out, kT0);
    for (size_t j = 0; j < k; ++j)
      seqs.push_back(seq_of(*out[j]));
    for (PacketPtr& p : out)
      p.reset();
  }
  EXPECT_EQ(seqs, quiet.seqs);
}

TEST(FaultPortTest, DuplicatesAreByteIdenticalAndAdjacent) {
  for (auto run : {run_rx, run_tx}) {
    Outcome o = run(FaultConfig{.duplicate = 1}, 50);
    ASSERT_EQ(o.seqs.size(), 100u);
    EXPECT_EQ(o.duplicated, 50u);
    for (uint32_t i = 0; i < 50; ++i) {
      EXPECT_EQ(o.frames[2 * i], original(i));
      EXPECT_EQ(o.frames[2 * i + 1], original(i));
    }
  }
}

TEST(FaultPortTest, CorruptionFlipsExactlyOneBit) {
  for (auto run : {run_rx, run_tx}) {
    Outcome o = run(FaultConfig{.corrupt = 1}, 500);
    ASSERT_EQ(o.frames.size(), 500u);
    EXPECT_EQ(o.corrupted, 500u);
    size_t in_header = 0;
    for (uint32_t i = 0; i < 500; ++i) {
      // The sequence number itself may be hit, so compare by position.
      EXPECT_EQ(bits_differing(o.frames[i], original(i)), 1) << "frame " << i;
      in_header += o.frames[i][0] != original(i)[0] || o.frames[i][12] != original(i)[12];
    }
    EXPECT_GT(in_header, 0u);  // anywhere in the frame, headers included
  }
}

TEST(FaultPortTest, ReorderReordersThenDeliversEverything) {
  for (auto run : {run_rx, run_tx}) {
    Outcome o = run(FaultConfig{.reorder = 0.2}, 1000);
    EXPECT_FALSE(std::is_sorted(o.seqs.begin(), o.seqs.end()));
    std::vector<uint32_t> sorted = o.seqs;
    std::sort(sorted.begin(), sorted.end());
    std::vector<uint32_t> all(1000);
    std::iota(all.begin(), all.end(), 0u);
    EXPECT_EQ(sorted, all);
  }
}

TEST(FaultPortTest, ReceiveDelayHoldsUntilDue) {
  PacketPool pool(PoolConfig{.count = 16});
  PacketPool dups(PoolConfig{.count = 16});
  FakePort inner;
  FaultPort fp(inner, dups, FaultConfig{.delay = Duration::millis(5)});
  inner.rx.push_back(make_frame(pool, mac(1), mac(2), 1));
  PacketPtr out[4];
  EXPECT_EQ(fp.rx_burst(pool, out, kT0), 0u);
  const Instant due = kT0 + Duration::millis(5);
  EXPECT_EQ(fp.next_event(), due);
  EXPECT_EQ(fp.rx_burst(pool, out, due - Duration::nanos(1)), 0u);
  ASSERT_EQ(fp.rx_burst(pool, out, due), 1u);
  EXPECT_EQ(seq_of(*out[0]), 1u);
  EXPECT_EQ(fp.faults().delayed.get(), 1u);
  EXPECT_EQ(fp.next_event(), Instant::never());
}

TEST(FaultPortTest, TransmitDelayHoldsUntilDueAndRxBurstReleasesIt) {
  PacketPool pool(PoolConfig{.count = 16});
  PacketPool dups(PoolConfig{.count = 16});
  FakePort inner;
  FaultPort fp(inner, dups, FaultConfig{.delay = Duration::millis(5)});
  PacketPtr f[1] = {make_frame(pool, mac(2), mac(1), 9)};
  EXPECT_EQ(fp.tx_burst(f, kT0), 1u);
  EXPECT_TRUE(inner.sent.empty());
  const Instant due = kT0 + Duration::millis(5);
  EXPECT_EQ(fp.next_event(), due);
  PacketPtr out[4];
  fp.rx_burst(pool, out, due - Duration::nanos(1));
  EXPECT_TRUE(inner.sent.empty());
  fp.rx_burst(pool, out, due);  // a polling shard releases due outgoing frames
  ASSERT_EQ(inner.sent.size(), 1u);
  EXPECT_EQ(inner.sent_at[0], due);
  EXPECT_EQ(seq_of(*inner.sent[0]), 9u);
}

TEST(FaultPortTest, FullHoldQueueDropsAndCounts) {
  PacketPool pool(PoolConfig{.count = 16});
  PacketPool dups(PoolConfig{.count = 16});
  FakePort inner;
  FaultPort fp(inner, dups, FaultConfig{.delay = Duration::millis(1), .hold_capacity = 4});
  for (uint32_t i = 0; i < 10; ++i)
    inner.rx.push_back(make_frame(pool, mac(1), mac(2), i));
  PacketPtr out[16];
  EXPECT_EQ(fp.rx_burst(pool, out, kT0), 0u);
  EXPECT_EQ(fp.held(), 4u);
  EXPECT_EQ(fp.faults().hold_full.get(), 6u);
  EXPECT_EQ(pool.in_use(), 4u);  // the dropped frames went back to the pool
  ASSERT_EQ(fp.rx_burst(pool, out, kT0 + Duration::millis(1)), 4u);
  for (uint32_t i = 0; i < 4; ++i)
    EXPECT_EQ(seq_of(*out[i]), i);
}

TEST(FaultPortTest, DuplicatesNeedRoomInTheDuplicatePool) {
  PacketPool pool(PoolConfig{.count = 16});
  PacketPool dups(PoolConfig{.count = 1});
  FakePort inner;
  FaultPort fp(inner, dups, FaultConfig{.duplicate = 1});
  for (uint32_t i = 0; i < 3; ++i)
    inner.rx.push_back(make_frame(pool, mac(1), mac(2), i));
  PacketPtr out[8];
  EXPECT_EQ(fp.rx_burst(pool, out, kT0), 4u);  // only the first frame could be copied
  EXPECT_EQ(fp.faults().duplicated.get(), 1u);
  EXPECT_EQ(dups.exhausted.get(), 2u);
}

TEST(FaultPortTest, FramesBeyondTheBurstWaitForTheNextCall) {
  PacketPool pool(PoolConfig{.count = 16});
  PacketPool dups(PoolConfig{.count = 16});
  FakePort inner;
  FaultPort fp(inner, dups, FaultConfig{.duplicate = 1});
  for (uint32_t i = 0; i < 2; ++i)
    inner.rx.push_back(make_frame(pool, mac(1), mac(2), i));
  PacketPtr out[3];
  ASSERT_EQ(fp.rx_burst(pool, out, kT0), 3u);
  EXPECT_EQ(fp.next_event(), kT0);  // the fourth is held, due now
  PacketPtr more[3];
  ASSERT_EQ(fp.rx_burst(pool, more, kT0), 1u);
  const std::vector<uint32_t> seqs = {seq_of(*out[0]), seq_of(*out[1]), seq_of(*out[2]),
                                      seq_of(*more[0])};
  EXPECT_EQ(seqs, (std::vector<uint32_t>{0, 0, 1, 1}));
}

}  // namespace
}  // namespace sn
