// Closing: active, passive and simultaneous close through every state to
// CLOSED, TIME-WAIT lasting exactly 2*MSL, and half-close.
#include <gtest/gtest.h>

#include <vector>

#include "tcp/connection.h"
#include "tcp/tcp_testing.h"

namespace sn {
namespace {

using testing::Pair;
using testing::pattern;

struct Trace {
  std::vector<TcpState> states;
  static void record(void* ctx, const Connection&, TcpState, TcpState to) {
    static_cast<Trace*>(ctx)->states.push_back(to);
  }
};

TEST(ConnectionClose, ActiveAndPassiveThroughEveryState) {
  Pair p;
  Trace ct, st;
  p.client.set_trace(&Trace::record, &ct);
  p.server.set_trace(&Trace::record, &st);
  p.handshake();
  ASSERT_TRUE(p.client.shutdown_send(p.now).ok());
  p.deliver_all();
  EXPECT_EQ(p.client.state(), TcpState::kFinWait2);
  EXPECT_EQ(p.server.state(), TcpState::kCloseWait);
  EXPECT_TRUE(p.server.eof());
  EXPECT_TRUE(p.server.readable());
  ASSERT_TRUE(p.server.shutdown_send(p.now).ok());
  p.deliver_all();
  EXPECT_EQ(p.server.state(), TcpState::kClosed);
  EXPECT_EQ(p.server.error(), TcpError::kNone);
  EXPECT_EQ(p.client.state(), TcpState::kTimeWait);
  const Instant tw = p.now;
  EXPECT_EQ(p.client.next_deadline(), tw + Duration::seconds(60));
  p.advance(Duration::seconds(60) - Duration::nanos(1));
  EXPECT_EQ(p.client.state(), TcpState::kTimeWait);
  p.advance(Duration::nanos(1));
  EXPECT_EQ(p.client.state(), TcpState::kClosed);
  EXPECT_EQ(p.client.error(), TcpError::kNone);
  EXPECT_EQ(ct.states,
            (std::vector<TcpState>{TcpState::kSynSent, TcpState::kEstablished, TcpState::kFinWait1,
                                   TcpState::kFinWait2, TcpState::kTimeWait, TcpState::kClosed}));
  EXPECT_EQ(st.states,
            (std::vector<TcpState>{TcpState::kSynReceived, TcpState::kEstablished,
                                   TcpState::kCloseWait, TcpState::kLastAck, TcpState::kClosed}));
  // The FINs: client's at 1001, server's at 5001, each acknowledged.
  EXPECT_EQ(p.client.snd_una(), SeqNum{1002});
  EXPECT_EQ(p.server.snd_una(), SeqNum{5002});
}

TEST(ConnectionClose, SimultaneousCloseGoesThroughClosing) {
  Pair p;
  Trace ct;
  p.client.set_trace(&Trace::record, &ct);
  p.handshake();
  ASSERT_TRUE(p.client.shutdown_send(p.now).ok());
  ASSERT_TRUE(p.server.shutdown_send(p.now).ok());
  p.deliver_all();
  EXPECT_EQ(p.client.state(), TcpState::kTimeWait);
  EXPECT_EQ(p.server.state(), TcpState::kTimeWait);
  EXPECT_EQ(ct.states,
            (std::vector<TcpState>{TcpState::kSynSent, TcpState::kEstablished, TcpState::kFinWait1,
                                   TcpState::kClosing, TcpState::kTimeWait}));
  EXPECT_EQ(p.client.next_deadline(), p.now + Duration::seconds(60));
  EXPECT_EQ(p.server.next_deadline(), p.now + Duration::seconds(60));
  p.advance(Duration::seconds(60));
  EXPECT_TRUE(p.client.closed());
  EXPECT_TRUE(p.server.closed());
}

TEST(ConnectionClose, RetransmittedFinRestartsTimeWait) {
  Pair p;
  p.handshake();
  ASSERT_TRUE(p.client.shutdown_send(p.now).ok());
  p.deliver_all();
  ASSERT_TRUE(p.server.shutdown_send(p.now).ok());
  p.deliver_all();
  ASSERT_EQ(p.client.state(), TcpState::kTimeWait);
  p.advance(Duration::seconds(10));
  const size_t sent = p.client_log.size();
  p.inject(testing::Side::kClient,
           p.header_to(testing::Side::kClient, SeqNum{5001}, SeqNum{1002}, kTcpFin | kTcpAck));
  ASSERT_EQ(p.client_log.size(), sent + 1);
  EXPECT_EQ(p.client_log.back().h.ack, SeqNum{5002});
  EXPECT_EQ(p.client.next_deadline(), p.now + Duration::seconds(60));
}

TEST(ConnectionClose, HalfCloseThePeerStillSends) {
  Pair p;
  p.handshake();
  ASSERT_TRUE(p.client.shutdown_send(p.now).ok());
  p.deliver_all();
  EXPECT_EQ(p.client.write(pattern(10, 1), p.now), 0u);  // our side is shut
  EXPECT_FALSE(p.client.writable());
  EXPECT_TRUE(p.server.writable());
  const auto d = pattern(50000, 9);
  EXPECT_EQ(p.server.write(d, p.now), 50000u);
  std::vector<std::byte> got;
  std::vector<std::byte> buf(8192);
  ASSERT_TRUE(p.run_until([&] {
    // Everything readable: a reader that keeps up sends no window updates,
    // so there may be no segment to wake it for the rest.
    while (const uint32_t n = p.client.read(buf, p.now))
      got.insert(got.end(), buf.begin(), buf.begin() + n);
    return got.size() == d.size();
  }));
  EXPECT_TRUE(got == d);
  EXPECT_EQ(p.client.state(), TcpState::kFinWait2);
  ASSERT_TRUE(p.server.shutdown_send(p.now).ok());
  p.deliver_all();
  EXPECT_EQ(p.client.state(), TcpState::kTimeWait);
  EXPECT_TRUE(p.client.eof());
  EXPECT_EQ(p.server.state(), TcpState::kClosed);
}

TEST(ConnectionClose, AbortSendsRst) {
  Pair p;
  p.handshake();
  p.client.abort(p.now);
  EXPECT_TRUE(p.client.closed());
  ASSERT_EQ(p.client_log.back().h.flags, kTcpRst);
  EXPECT_EQ(p.client_log.back().h.seq, SeqNum{1001});
  p.deliver_all();
  EXPECT_TRUE(p.server.closed());
  EXPECT_EQ(p.server.error(), TcpError::kReset);
}

}  // namespace
}  // namespace sn
