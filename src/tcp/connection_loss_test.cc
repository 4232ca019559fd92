// Loss: RTO timing on virtual time (SYN and data, doubling), fast retransmit
// on three duplicate ACKs, zero window and persist probes, and seeded lossy,
// reordering runs that must deliver every byte.
#include <gtest/gtest.h>

#include <vector>

#include "base/rng.h"
#include "tcp/connection.h"
#include "tcp/tcp_testing.h"

namespace sn {
namespace {

using testing::Fate;
using testing::kStart;
using testing::Pair;
using testing::pattern;
using testing::Side;
using testing::WireSegment;

Duration ms(int64_t n) {
  return Duration::millis(n);
}

TEST(ConnectionLoss, SynRetransmitsOnDoublingRtoThenTimesOut) {
  Pair p;
  p.fault = [](Side, size_t, const WireSegment&) { return Fate::kDrop; };
  ASSERT_TRUE(p.client.connect(SeqNum{1}, p.now).ok());
  p.advance(Duration::seconds(126));
  ASSERT_FALSE(p.client.closed());
  ASSERT_TRUE(p.run_until([&] { return p.client.closed(); }, Duration::seconds(2)));
  EXPECT_EQ(p.now, kStart + Duration::seconds(127));
  EXPECT_EQ(p.client.error(), TcpError::kTimedOut);
  const int64_t at[] = {0, 1, 3, 7, 15, 31, 63};
  ASSERT_EQ(p.client_log.size(), 7u);
  for (size_t i = 0; i < 7; ++i) {
    EXPECT_EQ(p.client_log[i].sent, kStart + Duration::seconds(at[i])) << i;
    EXPECT_EQ(p.client_log[i].h.flags, kTcpSyn);
  }
  EXPECT_EQ(p.client.counters().retransmits, 6u);
  EXPECT_EQ(p.client.counters().rto_expired, 7u);
}

TEST(ConnectionLoss, DataRtoDoubles) {
  Pair p;
  p.handshake();
  p.fault = [](Side s, size_t, const WireSegment& w) {
    return s == Side::kClient && w.payload_len() > 0 ? Fate::kDrop : Fate::kDeliver;
  };
  EXPECT_EQ(p.client.write(pattern(100, 1), p.now), 100u);
  p.advance(Duration::seconds(4));
  std::vector<Instant> sends;
  for (const WireSegment& w : p.client_log)
    if (w.payload_len() > 0) sends.push_back(w.sent);
  // RTO 200 ms after a 0 ms sample, then 400, 800, 1600.
  EXPECT_EQ(sends, (std::vector<Instant>{kStart, kStart + ms(200), kStart + ms(600),
                                         kStart + ms(1400), kStart + ms(3000)}));
  EXPECT_EQ(p.client.counters().rto_expired, 4u);
  EXPECT_EQ(p.client.rtt().backoffs(), 4u);
  // Let it through: one sample collapses the backoff.
  p.fault = nullptr;
  p.advance(Duration::seconds(4));
  EXPECT_EQ(p.server.readable_bytes(), 100u);
  EXPECT_EQ(p.client.rtt().backoffs(), 0u);
}

TEST(ConnectionLoss, FastRetransmitAfterThreeDupAcks) {
  Pair p;
  p.handshake();
  size_t dropped = 0;
  p.fault = [&](Side s, size_t, const WireSegment& w) {
    if (s == Side::kClient && w.payload_len() > 0 && w.h.seq == SeqNum{1001} && dropped++ == 0)
      return Fate::kDrop;
    return Fate::kDeliver;
  };
  const auto d = pattern(10 * 1448, 3);
  EXPECT_EQ(p.client.write(d, p.now), d.size());
  p.deliver_all();
  // Nine ACKs for the nine out-of-order segments, all duplicates by RFC 6675
  // §2 (each SACKs new data; SACK is on by default). Without SACK the first
  // would not be (RFC 5681 §2 (e)): it opens the window from the SYN-ACK's
  // unscaled 65535 to 256 KiB (ConnectionSack.WithoutSackNewRenoCountsRfc5681DupAcks).
  EXPECT_EQ(p.client.counters().dup_acks, 9u);
  EXPECT_EQ(p.client.counters().fast_retransmits, 1u);
  EXPECT_EQ(p.client.counters().retransmits, 1u);
  EXPECT_EQ(p.client.counters().rto_expired, 0u);
  EXPECT_EQ(p.server.counters().ooo_segments, 9u);
  EXPECT_EQ(p.client.snd_una(), SeqNum{1001} + 10 * 1448);
  EXPECT_FALSE(p.client.in_recovery());
  // The retransmission went out at once, on the third duplicate ACK.
  size_t retx = 0;
  for (const WireSegment& w : p.client_log)
    if (w.payload_len() > 0 && w.h.seq == SeqNum{1001}) {
      ++retx;
      EXPECT_EQ(w.sent, kStart);
    }
  EXPECT_EQ(retx, 2u);
  std::vector<std::byte> got(d.size());
  EXPECT_EQ(p.server.read(got, p.now), d.size());
  EXPECT_TRUE(got == d);
}

TEST(ConnectionLoss, ZeroWindowPersistProbesUntilReaderOpens) {
  ConnectionConfig server_cfg;
  server_cfg.recv_buffer = 4 * 1448;
  server_cfg.window_scale = 0;
  Pair p({}, server_cfg);
  p.handshake();
  const auto d = pattern(10 * 1448, 5);
  EXPECT_EQ(p.client.write(d, p.now), d.size());
  p.deliver_all();
  EXPECT_EQ(p.client.snd_wnd(), 0u);
  EXPECT_EQ(p.client.unsent(), 6u * 1448);
  p.advance(Duration::millis(1500));
  std::vector<Instant> probes;
  for (const WireSegment& w : p.client_log)
    if (w.h.seq == SeqNum{1001} + 4 * 1448 - 1) probes.push_back(w.sent);
  EXPECT_EQ(probes, (std::vector<Instant>{kStart + ms(200), kStart + ms(600), kStart + ms(1400)}));
  EXPECT_EQ(p.client.counters().persist_probes, 3u);
  EXPECT_EQ(p.server.counters().bad_segments, 3u);  // each probe is answered with an ACK
  std::vector<std::byte> got;
  std::vector<std::byte> buf(100000);
  ASSERT_TRUE(p.run_until([&] {
    const uint32_t n = p.server.read(buf, p.now);
    got.insert(got.end(), buf.begin(), buf.begin() + n);
    return got.size() == d.size();
  }));
  EXPECT_TRUE(got == d);
  EXPECT_EQ(p.client.counters().persist_probes, 3u);
}

class ConnectionLossy : public ::testing::TestWithParam<uint64_t> {};

TEST_P(ConnectionLossy, DropAndReorderDeliverEveryByte) {
  Pair p;
  p.delay = ms(2);
  Rng rng(GetParam());
  p.handshake();
  p.fault = [&](Side, size_t, const WireSegment&) {
    const uint64_t r = rng.below(100);
    return r < 5 ? Fate::kDrop : r < 10 ? Fate::kDelay : Fate::kDeliver;
  };
  const auto a = pattern(200'000, static_cast<uint32_t>(GetParam()));
  const auto b = pattern(200'000, static_cast<uint32_t>(GetParam() + 100));
  size_t cw = 0, sw = 0;
  std::vector<std::byte> at_server, at_client, buf(65536);
  ASSERT_TRUE(p.run_until(
      [&] {
        if (cw < a.size()) cw += p.client.write(std::span(a).subspan(cw), p.now);
        if (sw < b.size()) sw += p.server.write(std::span(b).subspan(sw), p.now);
        uint32_t n = p.server.read(buf, p.now);
        at_server.insert(at_server.end(), buf.begin(), buf.begin() + n);
        n = p.client.read(buf, p.now);
        at_client.insert(at_client.end(), buf.begin(), buf.begin() + n);
        return at_server.size() == a.size() && at_client.size() == b.size();
      },
      Duration::seconds(3600)))
      << at_server.size() << " " << at_client.size();
  EXPECT_TRUE(at_server == a);
  EXPECT_TRUE(at_client == b);
  EXPECT_EQ(p.client.state(), TcpState::kEstablished);
  EXPECT_EQ(p.server.state(), TcpState::kEstablished);
}

INSTANTIATE_TEST_SUITE_P(Seeds, ConnectionLossy, ::testing::Range<uint64_t>(1, 21));

}  // namespace
}  // namespace sn
