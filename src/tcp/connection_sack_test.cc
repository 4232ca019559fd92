// SACK-based loss recovery (RFC 6675) on the simulated wire: several holes
// repaired in one recovery where NewReno needs a round trip each, the rescue
// retransmission of a lost tail, skipping SACKed data after an RTO, SACK
// blocks that lie, and seeded lossy runs that must deliver every byte.
#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "base/rng.h"
#include "tcp/connection.h"
#include "tcp/tcp_testing.h"

namespace sn {
namespace {

using testing::Fate;
using testing::Pair;
using testing::pattern;
using testing::Side;
using testing::WireSegment;

constexpr uint32_t kSeg = 1448;  // 1460 less the timestamps option
constexpr Duration kDelay = Duration::millis(10);
constexpr Duration kRtt = kDelay * 2;

Duration ms(int64_t n) {
  return Duration::millis(n);
}

ConnectionConfig config(bool sack, CongestionAlgorithm cc = CongestionAlgorithm::kNewReno) {
  ConnectionConfig c;
  c.sack = sack;
  c.cc = cc;
  return c;
}

// Reads what the server has and appends it to `got`.
void drain(Pair& p, std::vector<std::byte>& got) {
  std::vector<std::byte> buf(65536);
  for (;;) {
    const uint32_t n = p.server.read(buf, p.now);
    if (n == 0) return;
    got.insert(got.end(), buf.begin(), buf.begin() + n);
  }
}

// A lossless transfer that leaves the client's cwnd well above 20 segments,
// everything acknowledged and read.
void warm_up(Pair& p) {
  const auto d = pattern(40 * kSeg, 99);
  ASSERT_EQ(p.client.write(d, p.now), d.size());
  std::vector<std::byte> got;
  ASSERT_TRUE(p.run_until([&] {
    drain(p, got);
    return p.client.snd_una() == p.client.snd_max() && got.size() == d.size();
  }));
  ASSERT_GE(p.client.congestion().cwnd(), 30 * kSeg);
}

// Drops the first transmission of each data segment the client sends from
// one of `seqs`; every later one goes through.
auto drop_once(std::set<uint32_t>& seqs) {
  return [&seqs](Side s, size_t, const WireSegment& w) {
    if (s == Side::kClient && w.payload_len() > 0 && seqs.erase(w.h.seq.v) > 0) return Fate::kDrop;
    return Fate::kDeliver;
  };
}

struct Flight {
  Duration elapsed{};  // from the write until all is acknowledged
  ConnectionCounters client;
  std::map<uint32_t, int> sends;  // data segments the client sent, by seq, from the write on
  bool exact = false;             // the server read exactly what was written
};

// Twenty segments in one flight, `lost` of them (indices) dropped once.
Flight flight_of_20(const ConnectionConfig& client_cfg, const ConnectionConfig& server_cfg,
                    std::initializer_list<uint32_t> lost) {
  Flight run;
  Pair p(client_cfg, server_cfg);
  p.delay = kDelay;
  p.handshake();
  warm_up(p);
  const SeqNum base = p.client.snd_max();
  std::set<uint32_t> drops;
  for (uint32_t i : lost)
    drops.insert((base + i * kSeg).v);
  p.fault = drop_once(drops);
  const size_t log_from = p.client_log.size();
  const ConnectionCounters before = p.client.counters();
  const auto d = pattern(20 * kSeg, 7);
  const Instant start = p.now;
  EXPECT_EQ(p.client.write(d, p.now), d.size());
  EXPECT_EQ(p.client.snd_max(), base + 20 * kSeg);  // one flight
  std::vector<std::byte> got;
  EXPECT_TRUE(p.run_until([&] {
    drain(p, got);
    return p.client.snd_una() == base + 20 * kSeg && got.size() == d.size();
  }));
  run.elapsed = p.now - start;
  run.client = p.client.counters();
  run.client.retransmits -= before.retransmits;
  run.client.dup_acks -= before.dup_acks;
  for (size_t i = log_from; i < p.client_log.size(); ++i)
    if (p.client_log[i].payload_len() > 0) ++run.sends[p.client_log[i].h.seq.v];
  run.exact = got == d;
  return run;
}

class ConnectionSackCc : public ::testing::TestWithParam<CongestionAlgorithm> {};

TEST_P(ConnectionSackCc, RepairsThreeHolesInOneRecovery) {
  const Flight run = flight_of_20(config(true, GetParam()), config(true), {3, 8, 13});
  EXPECT_TRUE(run.exact);
  EXPECT_EQ(run.client.sack_recoveries, 1u);
  EXPECT_EQ(run.client.fast_retransmits, 1u);
  EXPECT_EQ(run.client.sack_retransmits, 3u);
  EXPECT_EQ(run.client.retransmits, 3u);
  EXPECT_EQ(run.client.rto_expired, 0u);
  // Each hole sent twice, nothing else: the scoreboard keeps SACKed data home.
  int twice = 0;
  for (const auto& [seq, n] : run.sends) {
    EXPECT_LE(n, 2) << seq;
    if (n == 2) ++twice;
  }
  EXPECT_EQ(twice, 3);
  // One round trip for the duplicate ACKs, one for the three repairs.
  EXPECT_EQ(run.elapsed, kRtt * 2);
}

TEST_P(ConnectionSackCc, WithoutSackNewRenoRepairsOneHolePerRoundTrip) {
  // The client offers SACK; the server does not, so it is not negotiated.
  const Flight sack = flight_of_20(config(true, GetParam()), config(true), {3, 8, 13});
  const Flight reno = flight_of_20(config(true, GetParam()), config(false), {3, 8, 13});
  EXPECT_TRUE(reno.exact);
  EXPECT_EQ(reno.client.sack_recoveries, 0u);
  EXPECT_EQ(reno.client.sack_retransmits, 0u);
  EXPECT_EQ(reno.client.fast_retransmits, 1u);
  EXPECT_EQ(reno.client.retransmits, 3u);  // the partial ACKs bring the other two
  EXPECT_EQ(reno.client.rto_expired, 0u);
  EXPECT_EQ(reno.elapsed, kRtt * 4);  // RFC 6582: one hole per round trip
  EXPECT_LT(sack.elapsed, reno.elapsed);
}

INSTANTIATE_TEST_SUITE_P(Cc, ConnectionSackCc,
                         ::testing::Values(CongestionAlgorithm::kNewReno,
                                           CongestionAlgorithm::kCubic),
                         [](const auto& info) { return std::string(to_string(info.param)); });

TEST(ConnectionSack, RescueRetransmitsALostTailWithoutRto) {
  // The last segment of the flight is lost, and nothing sent after it will
  // ever be SACKed: NextSeg() rule 4 sends it once SND.UNA passes RescueRxt.
  const Flight run = flight_of_20(config(true), config(true), {3, 19});
  EXPECT_TRUE(run.exact);
  EXPECT_EQ(run.client.sack_recoveries, 1u);
  EXPECT_EQ(run.client.sack_retransmits, 2u);
  EXPECT_EQ(run.client.rto_expired, 0u);
  // Detection, the first repair, then the rescue: three round trips (the
  // reader's window update acknowledges the rescued segment at once), far
  // less than an RTO.
  EXPECT_EQ(run.elapsed, kRtt * 3);
}

TEST(ConnectionSack, WithoutSackNewRenoCountsRfc5681DupAcks) {
  // ConnectionLoss.FastRetransmitAfterThreeDupAcks with SACK off: the first
  // ACK after the hole opens the window, so it is no duplicate (RFC 5681 §2).
  Pair p(config(false), config(false));
  p.handshake();
  ASSERT_FALSE(p.client.sack_ok());
  std::set<uint32_t> drops = {1001};
  p.fault = drop_once(drops);
  const auto d = pattern(10 * kSeg, 3);
  EXPECT_EQ(p.client.write(d, p.now), d.size());
  p.deliver_all();
  EXPECT_EQ(p.client.counters().dup_acks, 8u);
  EXPECT_EQ(p.client.counters().fast_retransmits, 1u);
  EXPECT_EQ(p.client.counters().retransmits, 1u);
  EXPECT_EQ(p.client.counters().sack_recoveries, 0u);
  EXPECT_EQ(p.client.snd_una(), SeqNum{1001} + 10 * kSeg);
}

TEST(ConnectionSack, AfterRtoGoBackNSkipsSackedData) {
  Pair p;
  p.delay = kDelay;
  p.handshake();
  warm_up(p);
  const SeqNum base = p.client.snd_max();
  const SeqNum hole1 = base + 3 * kSeg, hole2 = base + 10 * kSeg;
  // The first hole's first two transmissions are lost (the original and the
  // fast retransmit), the second hole's until the RTO: recovery stalls.
  int hole1_sends = 0;
  p.fault = [&](Side s, size_t, const WireSegment& w) {
    if (s != Side::kClient || w.payload_len() == 0) return Fate::kDeliver;
    if (w.h.seq == hole1 && hole1_sends++ < 2) return Fate::kDrop;
    if (w.h.seq == hole2 && p.client.counters().rto_expired == 0) return Fate::kDrop;
    return Fate::kDeliver;
  };
  const auto d = pattern(20 * kSeg, 8);
  EXPECT_EQ(p.client.write(d, p.now), d.size());
  std::vector<std::byte> got;
  ASSERT_TRUE(p.run_until([&] { return p.client.counters().rto_expired > 0; }));
  EXPECT_TRUE(p.client.scoreboard().empty());  // RFC 6675 §5.1 / RFC 2018 §8
  EXPECT_FALSE(p.client.in_recovery());
  const size_t at_rto = p.client_log.size() - 1;  // the RTO's retransmission of hole1
  ASSERT_EQ(p.client_log[at_rto].h.seq, hole1);
  ASSERT_TRUE(p.run_until([&] {
    drain(p, got);
    return p.client.snd_una() == base + 20 * kSeg && got.size() == d.size();
  }));
  EXPECT_TRUE(got == d);
  // After the RTO: hole1, then hole2 (the ACK of hole1 stops there and SACKs
  // the rest afresh), and nothing the receiver already holds.
  std::vector<uint32_t> after;
  for (size_t i = at_rto; i < p.client_log.size(); ++i)
    if (p.client_log[i].payload_len() > 0) after.push_back(p.client_log[i].h.seq.v);
  EXPECT_EQ(after, (std::vector<uint32_t>{hole1.v, hole2.v}));
  EXPECT_EQ(p.client.counters().rto_expired, 1u);
}

// A header from the server to the client, acknowledging SND.UNA with the
// window the client already has (so that only the SACK blocks are news).
TcpHeader ack_to_client(Pair& p, std::initializer_list<SackBlock> blocks) {
  TcpHeader h = p.header_to(Side::kClient, p.client.rcv_nxt(), p.client.snd_una(), kTcpAck,
                            static_cast<uint16_t>(p.client.snd_wnd() >> p.client.snd_wscale()));
  for (const SackBlock& b : blocks)
    h.options.sack[h.options.sack_count++] = b;
  return h;
}

TEST(ConnectionSack, SackBlocksThatLieAreIgnoredOrHarmless) {
  Pair p;
  p.handshake();
  // Everything the client sends is lost; the ACKs it gets are the test's.
  p.fault = [](Side s, size_t, const WireSegment& w) {
    return s == Side::kClient && w.payload_len() > 0 ? Fate::kDrop : Fate::kDeliver;
  };
  const auto d = pattern(10 * kSeg, 11);
  ASSERT_EQ(p.client.write(d, p.now), d.size());
  const SeqNum una = p.client.snd_una(), max = p.client.snd_max();
  ASSERT_EQ(max - una, static_cast<int32_t>(10 * kSeg));
  const size_t sent = p.client_log.size();

  // Blocks past SND.MAX (data never sent), straddling it, at or below
  // SND.UNA (a D-SACK, RFC 2883), empty: none is recorded and none counts
  // as a duplicate ACK, however often it comes.
  for (int i = 0; i < 4; ++i) {
    p.inject(Side::kClient, ack_to_client(p, {{max, max + kSeg}, {una + kSeg, max + 1}}));
    p.inject(Side::kClient, ack_to_client(p, {{una - 100, una}, {una, una + kSeg}}));
    p.inject(Side::kClient, ack_to_client(p, {{una + kSeg, una + kSeg}, {max, una + kSeg}}));
  }
  EXPECT_TRUE(p.client.scoreboard().empty());
  EXPECT_EQ(p.client.counters().dup_acks, 0u);
  EXPECT_FALSE(p.client.in_recovery());
  EXPECT_EQ(p.client_log.size(), sent);

  // A block claiming every octet but the first: within the rules, so it is
  // believed. Recovery starts and retransmits the one octet it calls a hole;
  // no other data is sent again.
  p.inject(Side::kClient, ack_to_client(p, {{una + 1, max}}));
  EXPECT_TRUE(p.client.in_sack_recovery());
  ASSERT_EQ(p.client_log.size(), sent + 1);
  EXPECT_EQ(p.client_log.back().h.seq, una);
  EXPECT_EQ(p.client_log.back().payload_len(), 1u);
  EXPECT_EQ(p.client.counters().sack_retransmits, 1u);

  // The truth arrives with the RTO: the scoreboard is cleared and every byte
  // is sent again.
  p.fault = nullptr;
  std::vector<std::byte> got;
  ASSERT_TRUE(p.run_until([&] {
    drain(p, got);
    return got.size() == d.size() && p.client.snd_una() == p.client.snd_max();
  }));
  EXPECT_TRUE(got == d);
  EXPECT_GE(p.client.counters().rto_expired, 1u);
}

// One-way bulk transfer over a lossy, reordering wire (ACKs lost too): SACK
// recovery does most of the repairs, and every byte arrives in order.
struct Bulk {
  bool delivered = false;
  bool exact = false;
  ConnectionCounters client;
};

Bulk lossy_bulk(uint64_t seed, bool sack) {
  Bulk out;
  Pair p(config(sack), config(sack));
  p.delay = ms(5);
  Rng rng(seed);
  p.handshake();
  p.fault = [&](Side, size_t, const WireSegment&) {
    const uint64_t r = rng.below(100);
    return r < 4 ? Fate::kDrop : r < 8 ? Fate::kDelay : Fate::kDeliver;
  };
  const auto d = pattern(300'000, static_cast<uint32_t>(seed));
  size_t written = 0;
  std::vector<std::byte> got;
  out.delivered = p.run_until([&] {
    if (written < d.size()) written += p.client.write(std::span(d).subspan(written), p.now);
    drain(p, got);
    return got.size() == d.size() && p.client.snd_una() == p.client.snd_max();
  });
  out.exact = got == d;
  out.client = p.client.counters();
  return out;
}

class ConnectionSackLossy : public ::testing::TestWithParam<uint64_t> {};

TEST_P(ConnectionSackLossy, OneWayBulkDeliversEveryByte) {
  const Bulk b = lossy_bulk(GetParam(), true);
  EXPECT_TRUE(b.delivered);
  EXPECT_TRUE(b.exact);
}

INSTANTIATE_TEST_SUITE_P(Seeds, ConnectionSackLossy, ::testing::Range<uint64_t>(1, 41));

TEST(ConnectionSack, LossyRunsRecoverMostlyWithSack) {
  ConnectionCounters sack, reno;
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    const Bulk s = lossy_bulk(seed, true);
    const Bulk r = lossy_bulk(seed, false);
    ASSERT_TRUE(s.exact && r.exact) << seed;
    sack.sack_recoveries += s.client.sack_recoveries;
    sack.sack_retransmits += s.client.sack_retransmits;
    sack.rto_expired += s.client.rto_expired;
    reno.sack_recoveries += r.client.sack_recoveries;
    reno.rto_expired += r.client.rto_expired;
  }
  EXPECT_GT(sack.sack_recoveries, 0u);
  EXPECT_GT(sack.sack_retransmits, sack.sack_recoveries);
  EXPECT_EQ(reno.sack_recoveries, 0u);
  // Several holes per window are NewReno's weakness; SACK needs fewer RTOs.
  EXPECT_LT(sack.rto_expired, reno.rto_expired);
}

}  // namespace
}  // namespace sn
