// Seeded runs of two stacks on the simulated wire with faults on the server's
// port (loss, duplication, reordering, corruption, delay; alone and together):
// pings and UDP echoes of random sizes. Whatever arrives is byte-exact; what
// cannot arrive is accounted for by the fault and drop counters; and once the
// run is idle and the sockets drained, no buffer is missing from either pool.
#include <gtest/gtest.h>

#include "stack/stack_testing.h"

namespace sn {
namespace {

using namespace sn::testing;

constexpr int kSeeds = 20;
constexpr int kRounds = 10;  // pings and as many UDP echoes per seed
constexpr uint16_t kEchoPort = 7;

struct Outcome {
  int sent = 0;                                         // pings and datagrams, after the warm-up
  int answered = 0;                                     // of those, how many got at least one reply
  int replies = 0;                                      // replies in all, duplicates included
  int mismatched = 0;                                   // replies that match nothing we sent
  uint64_t duplicated = 0, dropped = 0, corrupted = 0;  // by the fault port, after warm-up
  // Drops on both stacks after warm-up: by the IP, ICMP and UDP checksums; of
  // every kind a damaged frame can cause directly; of every kind.
  uint64_t checksum_drops = 0, validation_drops = 0, total_drops = 0;
};

uint64_t checksum_drops(const StackCounters& c) {
  return c.drop.ip_bad_checksum.get() + c.drop.icmp_bad_checksum.get() +
         c.drop.udp_bad_checksum.get();
}
// Drops that follow from a frame lost earlier, rather than from a bad frame.
uint64_t consequential_drops(const StackCounters& c) {
  return c.drop.frag_timeout.get() + c.drop.icmp_unhandled_type.get() + c.drop.arp_unresolved.get();
}

struct Drops {
  uint64_t checksum = 0, validation = 0, total = 0;
};
Drops drops_of(Simulation::Node& a, Simulation::Node& b) {
  Drops d;
  for (Stack* s : {a.stack.get(), b.stack.get()}) {
    const StackCounters& c = s->counters();
    d.checksum += checksum_drops(c);
    d.total += c.total_drops();
    d.validation += c.total_drops() - consequential_drops(c);
  }
  return d;
}

// One seeded run: `n` pings and `n` UDP echoes, one at a time, of sizes
// 1..max_size; each waits up to three seconds for its reply.
Outcome run(FaultConfig fault, uint64_t seed, int n, uint32_t max_size) {
  fault.seed = seed;
  Simulation sim;
  Simulation::Node& a = sim.add_node(sim_node(1));
  Simulation::Node& b = sim.add_node(sim_node(2, {}, fault));
  UdpEcho echo(*b.stack, L4Port(kEchoPort));
  PingRecorder pings(*a.stack);
  UdpSocket* sock = *a.stack->udp().bind(Ipv4Address::any(), L4Port(0));

  // Warm-up: resolve each other's MAC (the fault port may need retries).
  for (uint16_t seq = 1; pings.replies.empty() && seq < 10; ++seq) {
    (void)a.stack->icmp().send_echo_request(kServerIp, 1, seq, pattern(1, 0));
    sim.run_until([&] { return !pings.replies.empty(); }, Duration::seconds(3));
  }
  EXPECT_TRUE(sim.run_until_idle(Duration::seconds(120)));
  pings.replies.clear();
  const FaultPort::FaultCounters& fc = b.fault->faults();
  const uint64_t dup0 = fc.duplicated.get(), drop0 = fc.dropped.get(),
                 corrupt0 = fc.corrupted.get();
  const Drops drops0 = drops_of(a, b);

  Outcome o;
  Rng rng(seed * 7919);
  std::vector<std::vector<std::byte>> ping_data, udp_data;
  std::vector<int> udp_got;
  size_t pings_seen = 0;
  auto take_pings = [&] {
    for (; pings_seen < pings.replies.size(); ++pings_seen) {
      const auto& r = pings.replies[pings_seen];
      ++o.replies;
      if (r.id != 2 || r.seq >= ping_data.size() || r.data != ping_data[r.seq]) ++o.mismatched;
    }
  };
  auto take_udp = [&] {
    while (auto d = sock->recv()) {
      ++o.replies;
      const auto got = chain_bytes(*d->data);
      size_t j = 0;
      while (j < udp_data.size() && udp_data[j] != got)
        ++j;
      if (j == udp_data.size())
        ++o.mismatched;
      else
        ++udp_got[j];
    }
  };
  for (int i = 0; i < n; ++i) {
    ping_data.push_back(pattern(1 + rng.below(max_size), rng.next()));
    const uint16_t seq = static_cast<uint16_t>(i);
    if (a.stack->icmp().send_echo_request(kServerIp, 2, seq, ping_data.back()).ok()) ++o.sent;
    const bool answered = sim.run_until(
        [&] {
          for (size_t k = pings_seen; k < pings.replies.size(); ++k)
            if (pings.replies[k].seq == seq) return true;
          return false;
        },
        Duration::seconds(3));
    o.answered += answered;
    take_pings();

    udp_data.push_back(pattern(1 + rng.below(max_size), rng.next()));
    udp_got.push_back(0);
    if (sock->send_to(kServerIp, L4Port(kEchoPort), udp_data.back()).ok()) ++o.sent;
    o.answered += sim.run_until(
        [&] {
          take_udp();
          return udp_got.back() > 0;
        },
        Duration::seconds(3));
  }
  EXPECT_TRUE(sim.run_until_idle(Duration::seconds(120)));
  take_pings();
  take_udp();

  o.duplicated = fc.duplicated.get() - dup0;
  o.dropped = fc.dropped.get() - drop0;
  o.corrupted = fc.corrupted.get() - corrupt0;
  const Drops drops1 = drops_of(a, b);
  o.checksum_drops = drops1.checksum - drops0.checksum;
  o.validation_drops = drops1.validation - drops0.validation;
  o.total_drops = drops1.total - drops0.total;
  EXPECT_EQ(b.fault->held(), 0u);
  EXPECT_TRUE(sim.wire().idle());
  expect_no_leaks(a);
  expect_no_leaks(b);
  return o;
}

TEST(LossyTest, DelayAloneLosesNothing) {
  FaultConfig f;
  f.delay = Duration::millis(3);
  for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
    SCOPED_TRACE(seed);
    Outcome o = run(f, seed, kRounds, 8000);
    EXPECT_EQ(o.mismatched, 0);
    EXPECT_EQ(o.answered, o.sent);
    EXPECT_EQ(o.replies, o.sent);
    EXPECT_EQ(o.total_drops, 0u);
  }
}

TEST(LossyTest, LossLosesButNeverDamages) {
  FaultConfig f;
  f.loss = 0.1;
  int sent = 0, answered = 0;
  uint64_t dropped = 0;
  for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
    SCOPED_TRACE(seed);
    Outcome o = run(f, seed, kRounds, 8000);
    EXPECT_EQ(o.mismatched, 0);
    EXPECT_LE(o.answered, o.sent);
    EXPECT_EQ(o.replies, o.answered);  // no copies without duplication
    EXPECT_EQ(o.checksum_drops, 0u);
    sent += o.sent;
    answered += o.answered;
    dropped += o.dropped;
  }
  EXPECT_GT(dropped, 0u);
  EXPECT_LT(answered, sent);  // 10% frame loss does lose some
  EXPECT_GT(answered, sent / 4);
}

// Without loss and without fragments, each reply is exact and each copy of a
// frame made by the fault port is exactly one extra reply.
TEST(LossyTest, DuplicationAndReorderingDeliverEverythingWithCountedCopies) {
  FaultConfig f;
  f.duplicate = 0.1;
  f.reorder = 0.2;
  uint64_t dups = 0;
  for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
    SCOPED_TRACE(seed);
    Outcome o = run(f, seed, kRounds, 1472);
    EXPECT_EQ(o.mismatched, 0);
    EXPECT_EQ(o.answered, o.sent);
    EXPECT_EQ(static_cast<uint64_t>(o.replies), o.sent + o.duplicated);
    EXPECT_EQ(o.total_drops, 0u);
    dups += o.duplicated;
  }
  EXPECT_GT(dups, 0u);
}

// With fragments, a late copy of a fragment starts a datagram that times out,
// so copies no longer map one to one onto replies; everything still arrives.
TEST(LossyTest, DuplicationAndReorderingOfFragments) {
  FaultConfig f;
  f.duplicate = 0.05;
  f.reorder = 0.2;
  uint64_t drops = 0;
  for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
    SCOPED_TRACE(seed);
    Outcome o = run(f, seed, kRounds, 8000);
    EXPECT_EQ(o.mismatched, 0);
    EXPECT_EQ(o.answered, o.sent);
    EXPECT_GE(o.replies, o.sent);
    EXPECT_LE(static_cast<uint64_t>(o.replies), o.sent + o.duplicated);
    drops += o.total_drops;  // duplicates, and late copies timing out
  }
  EXPECT_GT(drops, 0u);
}

TEST(LossyTest, CorruptionIsCaughtByChecksums) {
  FaultConfig f;
  f.corrupt = 0.05;
  uint64_t corrupted = 0, caught = 0;
  for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
    SCOPED_TRACE(seed);
    Outcome o = run(f, seed, kRounds, 8000);
    EXPECT_EQ(o.mismatched, 0);
    EXPECT_EQ(o.replies, o.answered);
    // Each damaged frame is refused at most once, under one reason.
    EXPECT_LE(o.validation_drops, o.corrupted);
    corrupted += o.corrupted;
    caught += o.checksum_drops;
  }
  EXPECT_GT(corrupted, 0u);
  EXPECT_GT(caught, corrupted / 2);  // most bits flipped are in checksummed bytes
}

TEST(LossyTest, EverythingAtOnce) {
  FaultConfig f;
  f.loss = 0.03;
  f.duplicate = 0.03;
  f.reorder = 0.1;
  f.corrupt = 0.03;
  f.delay = Duration::micros(300);
  int sent = 0, answered = 0;
  for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
    SCOPED_TRACE(seed);
    Outcome o = run(f, seed, kRounds, 8000);
    EXPECT_EQ(o.mismatched, 0);
    sent += o.sent;
    answered += o.answered;
  }
  EXPECT_GT(answered, sent / 2);
}

// A server whose pool runs dry in the middle of a datagram: the frames it
// cannot take wait on the wire, the simulation keeps moving (in virtual time,
// not one nanosecond at a time), the reassembly timeout frees the buffers, and
// everything recovers with no buffer lost.
TEST(LossyTest, AnEmptyPoolStallsThenRecovers) {
  Simulation sim;
  Simulation::Node& a = sim.add_node(sim_node(1));
  SimNodeConfig small = sim_node(2);
  small.pool = PoolConfig{.count = 40};
  Simulation::Node& b = sim.add_node(small);
  PingRecorder pings(*a.stack);
  ASSERT_TRUE(a.stack->icmp().send_echo_request(kServerIp, 1, 1, pattern(1, 1)).ok());
  ASSERT_TRUE(sim.run_until([&] { return pings.replies.size() == 1; }));

  const Instant sent = sim.now();
  ASSERT_TRUE(a.stack->icmp().send_echo_request(kServerIp, 1, 2, pattern(65507, 2)).ok());
  EXPECT_FALSE(sim.run_until([&] { return pings.replies.size() == 2; }, Duration::seconds(1)));
  EXPECT_EQ(sim.now(), sent + Duration::seconds(1));  // the limit holds while stalled
  EXPECT_EQ(b.pool.available(), 0u);
  EXPECT_EQ(b.stack->ipv4().reassembler().buffers_held(), 40u);
  EXPECT_GT(b.wire_port->counters().rx_no_buffer.get(), 0u);
  EXPECT_EQ(b.wire_port->queued(), 5u);  // 45 fragments, 40 buffers

  ASSERT_TRUE(sim.run_until_idle(Duration::seconds(120)));
  const StackCounters& c = b.stack->counters();
  // The first 40 time out (the time exceeded finds no buffer); the other 5
  // start a datagram of their own, which times out too.
  EXPECT_EQ(c.drop.frag_timeout.get(), 2u);
  EXPECT_EQ(c.drop.no_buffer.get(), 1u);
  EXPECT_EQ(pings.replies.size(), 1u);
  expect_no_leaks(a);
  expect_no_leaks(b);
  // And it still answers.
  ASSERT_TRUE(a.stack->icmp().send_echo_request(kServerIp, 1, 3, pattern(1000, 3)).ok());
  ASSERT_TRUE(sim.run_until([&] { return pings.replies.size() == 2; }));
  EXPECT_EQ(pings.replies[1].data, pattern(1000, 3));
}

}  // namespace
}  // namespace sn
