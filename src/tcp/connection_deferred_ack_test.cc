// Deferred ACKs (ConnectionConfig::defer_acks, as the stack runs its
// connections): an ACK the application's reply can carry waits for
// flush_ack(). A reply written before then carries it; otherwise flush_ack()
// sends it alone. ACKs whose connection may leave the table do not wait.
#include <gtest/gtest.h>

#include <vector>

#include "tcp/connection.h"
#include "tcp/tcp_testing.h"

namespace sn {
namespace {

using testing::Pair;
using testing::pattern;

ConnectionConfig deferring() {
  ConnectionConfig c;
  c.defer_acks = true;
  return c;
}

// The client connects; the server's SYN-ACK arrives.
void open_to_syn_ack(Pair& p) {
  ASSERT_TRUE(p.client.connect(SeqNum{1000}, p.now).ok());
  p.accept_next_syn(SeqNum{5000});
  p.deliver_all();
}

TEST(ConnectionDeferredAck, TheHandshakeAckRidesOnTheFirstData) {
  Pair p(deferring());
  open_to_syn_ack(p);
  EXPECT_EQ(p.client.state(), TcpState::kEstablished);
  EXPECT_EQ(p.client_log.size(), 1u);  // the SYN only
  EXPECT_TRUE(p.client.ack_owed());
  const auto request = pattern(64, 1);
  EXPECT_EQ(p.client.write(request, p.now), 64u);
  ASSERT_EQ(p.client_log.size(), 2u);
  EXPECT_EQ(p.client_log[1].payload_len(), 64u);
  EXPECT_EQ(p.client_log[1].h.ack, SeqNum{5001});
  EXPECT_FALSE(p.client.ack_owed());
  p.client.flush_ack(p.now);
  EXPECT_EQ(p.client_log.size(), 2u);
  p.deliver_all();
  EXPECT_EQ(p.server.state(), TcpState::kEstablished);
  EXPECT_EQ(p.server.readable_bytes(), 64u);
}

TEST(ConnectionDeferredAck, AnOwedAckGoesAloneAtFlush) {
  Pair p(deferring());
  open_to_syn_ack(p);
  p.client.flush_ack(p.now);
  ASSERT_EQ(p.client_log.size(), 2u);
  EXPECT_TRUE(p.client_log[1].has(kTcpAck));
  EXPECT_EQ(p.client_log[1].payload_len(), 0u);
  EXPECT_EQ(p.client_log[1].h.ack, SeqNum{5001});
  p.deliver_all();
  EXPECT_EQ(p.server.state(), TcpState::kEstablished);
}

TEST(ConnectionDeferredAck, TheAckOfAFinRidesOnTheApplicationsFin) {
  Pair p({}, deferring());
  p.handshake();
  ASSERT_TRUE(p.client.shutdown_send(p.now).ok());
  p.deliver_all();
  EXPECT_EQ(p.server.state(), TcpState::kCloseWait);
  EXPECT_EQ(p.server_log.size(), 1u);  // the SYN-ACK only
  EXPECT_TRUE(p.server.ack_owed());
  ASSERT_TRUE(p.server.shutdown_send(p.now).ok());
  ASSERT_EQ(p.server_log.size(), 2u);
  EXPECT_TRUE(p.server_log[1].has(kTcpFin));
  EXPECT_EQ(p.server_log[1].h.ack, SeqNum{1002});  // past the client's FIN
  p.server.flush_ack(p.now);
  EXPECT_EQ(p.server_log.size(), 2u);
  p.deliver_all();
  EXPECT_EQ(p.client.state(), TcpState::kTimeWait);
  EXPECT_EQ(p.server.state(), TcpState::kClosed);
}

TEST(ConnectionDeferredAck, TheAckOfAFinGoesAloneAtFlush) {
  Pair p({}, deferring());
  p.handshake();
  ASSERT_TRUE(p.client.shutdown_send(p.now).ok());
  p.deliver_all();
  p.server.flush_ack(p.now);
  ASSERT_EQ(p.server_log.size(), 2u);
  EXPECT_FALSE(p.server_log[1].has(kTcpFin));
  EXPECT_EQ(p.server_log[1].h.ack, SeqNum{1002});
  p.deliver_all();
  EXPECT_EQ(p.client.state(), TcpState::kFinWait2);
}

TEST(ConnectionDeferredAck, AFinThatEndsTheConnectionIsAckedAtOnce) {
  // In FIN-WAIT-2 the peer's FIN leads to TIME-WAIT, where the stack moves
  // the connection out of its table: that ACK cannot wait.
  Pair p({}, deferring());
  p.handshake();
  ASSERT_TRUE(p.server.shutdown_send(p.now).ok());
  p.deliver_all();
  EXPECT_EQ(p.server.state(), TcpState::kFinWait2);
  ASSERT_TRUE(p.client.shutdown_send(p.now).ok());
  p.deliver_all();
  EXPECT_EQ(p.server.state(), TcpState::kTimeWait);
  EXPECT_FALSE(p.server.ack_owed());
  EXPECT_EQ(p.server_log.back().h.ack, SeqNum{1002});
  EXPECT_EQ(p.client.state(), TcpState::kClosed);
}

TEST(ConnectionDeferredAck, AWindowUpdateRidesOnTheResponse) {
  // The SYN-ACK's window is unscaled (at most 65,535), so the first read
  // of a 256 KiB buffer moves the window the client knows of past double.
  Pair p({}, deferring());
  p.handshake();
  const auto request = pattern(64, 2);
  EXPECT_EQ(p.client.write(request, p.now), 64u);
  p.deliver_all();
  const size_t before = p.server_log.size();
  std::vector<std::byte> buf(64);
  EXPECT_EQ(p.server.read(buf, p.now), 64u);
  EXPECT_EQ(p.server.counters().window_updates, 1u);
  EXPECT_EQ(p.server_log.size(), before);
  EXPECT_TRUE(p.server.ack_owed());
  EXPECT_EQ(p.server.write(buf, p.now), 64u);
  ASSERT_EQ(p.server_log.size(), before + 1);
  EXPECT_EQ(p.server_log.back().payload_len(), 64u);
  EXPECT_EQ(p.server_log.back().h.ack, SeqNum{1001 + 64});
  EXPECT_EQ(uint32_t{p.server_log.back().h.window} << p.server.rcv_wscale(), 256u * 1024);
  EXPECT_FALSE(p.server.ack_owed());
}

TEST(ConnectionDeferredAck, AWindowUpdateGoesAloneAtFlush) {
  Pair p({}, deferring());
  p.handshake();
  EXPECT_EQ(p.client.write(pattern(64, 3), p.now), 64u);
  p.deliver_all();
  const size_t before = p.server_log.size();
  std::vector<std::byte> buf(64);
  EXPECT_EQ(p.server.read(buf, p.now), 64u);
  p.server.flush_ack(p.now);
  ASSERT_EQ(p.server_log.size(), before + 1);
  EXPECT_EQ(p.server_log.back().payload_len(), 0u);
  EXPECT_EQ(uint32_t{p.server_log.back().h.window} << p.server.rcv_wscale(), 256u * 1024);
}

TEST(ConnectionDeferredAck, WithoutDeferralTheAcksGoAtOnce) {
  Pair p;
  open_to_syn_ack(p);
  ASSERT_EQ(p.client_log.size(), 2u);  // SYN, ACK
  EXPECT_FALSE(p.client.ack_owed());
  p.deliver_all();
  ASSERT_TRUE(p.client.shutdown_send(p.now).ok());
  p.deliver_all();
  EXPECT_FALSE(p.server.ack_owed());
  EXPECT_EQ(p.server_log.back().h.ack, SeqNum{1002});
}

}  // namespace
}  // namespace sn
