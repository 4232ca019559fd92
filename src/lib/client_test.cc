// The client library against a fake engine: replicated listens, accepted
// and active connections on their own shard, receiving (copy and zero-copy)
// and sending with back-pressure, UDP.
#include <cerrno>
#include <cstring>
#include <string>

#include "lib/client_testing.h"

namespace sn::testing {
namespace {

using host::Command;
using host::Event;

TEST_F(ClientTest, ListenIsReplicatedOnEveryShard) {
  attach();
  Setup s = setup([&] { return sn_listen(h_, 80, 16); }, Command::kListen, Event::kListening);
  ASSERT_GT(s.result, 0) << sn_strerror(s.result);
  EXPECT_EQ(s.result >> 20, 3);  // the host number is in the socket
  for (const FakeCommand& c : s.commands) {
    EXPECT_EQ(c.header.port, 80);
    EXPECT_EQ(c.header.arg, 16u);
    EXPECT_EQ(c.header.user, s.commands[0].header.user);
  }
  // Nothing else was sent.
  EXPECT_FALSE(fake().pop_command(0));
  EXPECT_FALSE(fake().pop_command(1));
}

TEST_F(ClientTest, ListenFailsIfAnyShardFailsAndClosesTheOthers) {
  attach();
  Setup s = setup([&] { return sn_listen(h_, 80, 16); }, Command::kListen, Event::kListening,
                  {0, -EADDRINUSE});
  EXPECT_EQ(s.result, -EADDRINUSE);
  auto close = fake().pop_command(0);
  ASSERT_TRUE(close);
  EXPECT_EQ(close->kind(), Command::kClose);
  EXPECT_EQ(close->header.handle, 100u);
  EXPECT_FALSE(fake().pop_command(1));  // its listen failed: nothing to close
}

TEST_F(ClientTest, ListenTimesOutAndClosesLateAnswers) {
  attach();
  client().set_setup_timeout_ms(30);
  EXPECT_EQ(sn_listen(h_, 80, 16), -ETIMEDOUT);
  auto c = fake().pop_command(0);
  ASSERT_TRUE(c);
  fake().give_back(*c);
  fake().post(0, Event::kListening, header(55, c->header.user));
  sn_event ev[4];
  EXPECT_EQ(sn_wait(h_, ev, 4, 0), 0);
  auto close = fake().pop_command(0);
  ASSERT_TRUE(close);
  EXPECT_EQ(close->kind(), Command::kClose);
  EXPECT_EQ(close->header.handle, 55u);
  EXPECT_EQ(client().counters().orphans_closed, 1u);
}

TEST_F(ClientTest, AcceptedConnectionLivesOnItsShard) {
  attach();
  uint32_t user;
  const sn_socket l = listen_ok(8080, &user);
  ASSERT_EQ(sn_watch(h_, l, SN_READABLE), 0);
  sn_event ev[4];
  EXPECT_EQ(sn_wait(h_, ev, 4, 0), 0);
  ASSERT_TRUE(fake().post(1, Event::kAccepted, header(7, user, 0, 0x0a000002, 5555)));
  ASSERT_EQ(sn_wait(h_, ev, 4, 0), 1);
  EXPECT_EQ(ev[0].socket, l);
  EXPECT_EQ(ev[0].events, uint32_t{SN_READABLE});
  uint32_t addr = 0;
  uint16_t port = 0;
  const int c = sn_accept(h_, l, &addr, &port);
  ASSERT_GT(c, 0);
  EXPECT_EQ(addr, 0x0a000002u);
  EXPECT_EQ(port, 5555);
  EXPECT_EQ(sn_accept(h_, l, nullptr, nullptr), -EAGAIN);
  EXPECT_EQ(sn_wait(h_, ev, 4, 0), 0);  // level-triggered: nothing left to accept

  ASSERT_EQ(sn_send(h_, c, "hi", 2), 2);
  EXPECT_FALSE(fake().pop_command(0));
  auto send = fake().pop_command(1);
  ASSERT_TRUE(send);
  EXPECT_EQ(send->kind(), Command::kSend);
  EXPECT_EQ(send->header.handle, 7u);
  EXPECT_EQ(send->payload, "hi");
}

TEST_F(ClientTest, RecvCopiesAcrossFramesAndGivesThemBack) {
  attach();
  const sn_socket c = accept_on(1, 7);
  ASSERT_TRUE(fake().post(1, Event::kData, header(7), "abc"));
  ASSERT_TRUE(fake().post(1, Event::kData, header(7), "def"));
  char buf[16];
  ASSERT_EQ(sn_recv(h_, c, buf, 4), 4);
  EXPECT_EQ(std::string(buf, 4), "abcd");
  EXPECT_EQ(fake().reclaim(1), 1u);  // "abc" is used up; "def" is not
  ASSERT_EQ(sn_recv(h_, c, buf, sizeof(buf)), 2);
  EXPECT_EQ(std::string(buf, 2), "ef");
  EXPECT_EQ(fake().reclaim(1), 1u);
  EXPECT_EQ(sn_recv(h_, c, buf, sizeof(buf)), -EAGAIN);

  ASSERT_EQ(sn_watch(h_, c, SN_READABLE), 0);
  ASSERT_TRUE(fake().post(1, Event::kEof, header(7)));
  sn_event ev[4];
  ASSERT_EQ(sn_wait(h_, ev, 4, 0), 1);
  EXPECT_EQ(ev[0].events, uint32_t{SN_READABLE});
  EXPECT_EQ(sn_recv(h_, c, buf, sizeof(buf)), 0);
  ASSERT_TRUE(fake().post(1, Event::kClosed, header(7)));
  ASSERT_EQ(sn_wait(h_, ev, 4, 0), 1);
  EXPECT_EQ(ev[0].events, uint32_t{SN_READABLE | SN_HUP});
  EXPECT_EQ(sn_send(h_, c, "x", 1), -EPIPE);
  EXPECT_EQ(fake().reclaim(1), 2u);  // the kEof and kClosed frames

  EXPECT_EQ(sn_close(h_, c), 0);
  auto close = fake().pop_command(1);
  ASSERT_TRUE(close);
  EXPECT_EQ(close->kind(), Command::kClose);
  EXPECT_EQ(close->header.handle, 7u);
  EXPECT_EQ(sn_close(h_, c), -EBADF);
}

TEST_F(ClientTest, ZeroCopyHoldsTheFrameUntilDone) {
  attach();
  const sn_socket c = accept_on(0, 9);
  auto frame = fake().post(0, Event::kData, header(9), "hello");
  ASSERT_TRUE(frame);
  const void* view = nullptr;
  ASSERT_EQ(sn_recv_view(h_, c, &view), 5);
  EXPECT_EQ(std::string(static_cast<const char*>(view), 5), "hello");
  // The view is the frame itself, in the shared region: what the engine
  // writes there shows through.
  std::memcpy(fake().region().at(*frame) + sizeof(host::FrameHeader), "J", 1);
  EXPECT_EQ(std::string(static_cast<const char*>(view), 5), "Jello");
  EXPECT_EQ(fake().reclaim(0), 0u);
  sn_recv_done(h_, c, 3);
  EXPECT_EQ(fake().reclaim(0), 0u);
  ASSERT_EQ(sn_recv_view(h_, c, &view), 2);
  EXPECT_EQ(std::string(static_cast<const char*>(view), 2), "lo");
  sn_recv_done(h_, c, 100);  // more than the view: the view
  EXPECT_EQ(fake().reclaim(0), 1u);
  EXPECT_EQ(sn_recv_view(h_, c, &view), -EAGAIN);
}

TEST_F(ClientTest, SendIsBoundedByFreeFramesAndResumes) {
  FakeEngine::Options options;
  options.in_frames = 4;
  attach(options);
  const sn_socket c = accept_on(0, 9);
  const size_t frame = fake().payload_max();
  std::string data(10 * frame, '\0');
  for (size_t i = 0; i < data.size(); ++i)
    data[i] = static_cast<char>('a' + i % 26);
  ASSERT_EQ(sn_send(h_, c, data.data(), data.size()), static_cast<ssize_t>(4 * frame));
  EXPECT_EQ(sn_send(h_, c, data.data(), data.size()), -EAGAIN);
  ASSERT_EQ(sn_watch(h_, c, SN_WRITABLE), 0);
  sn_event ev[4];
  EXPECT_EQ(sn_wait(h_, ev, 4, 0), 0);

  std::string sent;
  std::vector<FakeCommand> cmds;
  while (auto cmd = fake().pop_command(0)) {
    EXPECT_EQ(cmd->kind(), Command::kSend);
    EXPECT_EQ(cmd->header.handle, 9u);
    sent += cmd->payload;
    cmds.push_back(*cmd);
  }
  EXPECT_EQ(sent, data.substr(0, 4 * frame));
  fake().give_back(cmds[0]);
  fake().give_back(cmds[1]);
  ASSERT_EQ(sn_wait(h_, ev, 4, 0), 1);
  EXPECT_EQ(ev[0].events, uint32_t{SN_WRITABLE});
  EXPECT_EQ(sn_send(h_, c, data.data() + 4 * frame, data.size() - 4 * frame),
            static_cast<ssize_t>(2 * frame));
}

TEST_F(ClientTest, ConnectGoesRoundRobinAndReportsFailure) {
  attach();
  const int a = sn_connect(h_, 0x0a000001, 443);
  const int b = sn_connect(h_, 0x0a000001, 444);
  ASSERT_GT(a, 0);
  ASSERT_GT(b, 0);
  EXPECT_EQ(sn_send(h_, a, "x", 1), -EAGAIN);  // not connected yet
  auto ca = fake().pop_command(0);
  auto cb = fake().pop_command(1);
  ASSERT_TRUE(ca);
  ASSERT_TRUE(cb);
  EXPECT_EQ(ca->kind(), Command::kConnect);
  EXPECT_EQ(ca->header.addr, 0x0a000001u);
  EXPECT_EQ(ca->header.port, 443);
  EXPECT_EQ(cb->header.port, 444);
  fake().give_back(*ca);
  fake().give_back(*cb);
  ASSERT_EQ(sn_watch(h_, a, SN_WRITABLE), 0);
  ASSERT_EQ(sn_watch(h_, b, SN_WRITABLE), 0);
  sn_event ev[4];
  EXPECT_EQ(sn_wait(h_, ev, 4, 0), 0);
  fake().post(0, Event::kConnected, header(21, ca->header.user, 0, 0x0a000063, 50000));
  fake().post(1, Event::kConnected, header(0, cb->header.user, -ECONNREFUSED));
  ASSERT_EQ(sn_wait(h_, ev, 4, 0), 2);
  for (int i = 0; i < 2; ++i) {
    const sn_event& e = ev[i];
    if (e.socket == a) {
      EXPECT_EQ(e.events, uint32_t{SN_WRITABLE});
    } else {
      EXPECT_EQ(e.socket, b);
      EXPECT_EQ(e.events, uint32_t{SN_ERROR | SN_HUP});
    }
  }
  EXPECT_EQ(sn_send(h_, b, "x", 1), -ECONNREFUSED);
  char buf[4];
  EXPECT_EQ(sn_recv(h_, b, buf, sizeof(buf)), -ECONNREFUSED);
  ASSERT_EQ(sn_send(h_, a, "x", 1), 1);
  auto send = fake().pop_command(0);
  ASSERT_TRUE(send);
  EXPECT_EQ(send->header.handle, 21u);
}

TEST_F(ClientTest, ResetIsReportedAsAnError) {
  attach();
  const sn_socket c = accept_on(1, 7);
  ASSERT_EQ(sn_watch(h_, c, SN_READABLE), 0);
  fake().post(1, Event::kClosed, header(7, 0, -ECONNRESET));
  sn_event ev[4];
  ASSERT_EQ(sn_wait(h_, ev, 4, 0), 1);
  EXPECT_EQ(ev[0].events, uint32_t{SN_READABLE | SN_ERROR | SN_HUP});
  char buf[4];
  EXPECT_EQ(sn_recv(h_, c, buf, sizeof(buf)), -ECONNRESET);
  EXPECT_EQ(sn_send(h_, c, "x", 1), -ECONNRESET);
}

TEST_F(ClientTest, ShutdownSendsFinAfterTheData) {
  attach();
  const sn_socket c = accept_on(0, 9);
  ASSERT_EQ(sn_send(h_, c, "bye", 3), 3);
  ASSERT_EQ(sn_shutdown(h_, c), 0);
  EXPECT_EQ(sn_send(h_, c, "x", 1), -EPIPE);
  auto send = fake().pop_command(0);
  auto fin = fake().pop_command(0);
  ASSERT_TRUE(send);
  ASSERT_TRUE(fin);
  EXPECT_EQ(send->kind(), Command::kSend);
  EXPECT_EQ(fin->kind(), Command::kShutdown);
  EXPECT_EQ(fin->header.handle, 9u);
}

TEST_F(ClientTest, UdpIsBoundOnEveryShard) {
  attach();
  Setup s = setup([&] { return sn_udp_bind(h_, 53); }, Command::kUdpBind, Event::kBound);
  const sn_socket u = s.result;
  ASSERT_GT(u, 0) << sn_strerror(u);
  EXPECT_EQ(s.commands[1].header.port, 53);
  ASSERT_TRUE(fake().post(1, Event::kDatagram, header(101, 0, 0, 0x0a000005, 3333), "query"));
  char buf[16];
  uint32_t addr = 0;
  uint16_t port = 0;
  ASSERT_EQ(sn_recvfrom(h_, u, buf, 3, &addr, &port), 3);  // the rest is dropped
  EXPECT_EQ(std::string(buf, 3), "que");
  EXPECT_EQ(addr, 0x0a000005u);
  EXPECT_EQ(port, 3333);
  EXPECT_EQ(fake().reclaim(1), 1u);
  EXPECT_EQ(sn_recv(h_, u, buf, sizeof(buf)), -EAGAIN);

  ASSERT_EQ(sn_sendto(h_, u, "answer", 6, 0x0a000005, 3333), 6);
  std::optional<FakeCommand> sent = fake().pop_command(0);
  if (!sent) sent = fake().pop_command(1);
  ASSERT_TRUE(sent);
  EXPECT_EQ(sent->kind(), Command::kSendTo);
  EXPECT_EQ(sent->header.handle, 100 + sent->shard);
  EXPECT_EQ(sent->header.addr, 0x0a000005u);
  EXPECT_EQ(sent->header.port, 3333);
  EXPECT_EQ(sent->payload, "answer");
  const std::string big(fake().payload_max() + 1, 'x');
  EXPECT_EQ(sn_sendto(h_, u, big.data(), big.size(), 1, 1), -EMSGSIZE);
  EXPECT_EQ(sn_send(h_, u, "x", 1), -EDESTADDRREQ);

  EXPECT_EQ(sn_close(h_, u), 0);
  int closes = 0;
  for (uint32_t shard = 0; shard < 2; ++shard)
    while (auto c = fake().pop_command(shard))
      closes += c->kind() == Command::kClose && c->header.handle == 100 + shard;
  EXPECT_EQ(closes, 2);
}

TEST_F(ClientTest, AnswersForClosedSocketsCloseTheirHandles) {
  attach();
  uint32_t user;
  const sn_socket l = listen_ok(8080, &user);
  const int c = sn_connect(h_, 0x0a000001, 80);
  auto connect = fake().pop_command(0);
  ASSERT_TRUE(connect);
  EXPECT_EQ(sn_close(h_, c), 0);  // before it connected
  EXPECT_EQ(sn_close(h_, l), 0);
  while (fake().pop_command(0) || fake().pop_command(1)) {
  }
  fake().post(0, Event::kConnected, header(31, connect->header.user));
  fake().post(1, Event::kAccepted, header(32, user));
  fake().post(1, Event::kData, header(32), "late");  // for a handle never ours
  sn_event ev[4];
  EXPECT_EQ(sn_wait(h_, ev, 4, 0), 0);
  auto c0 = fake().pop_command(0);
  auto c1 = fake().pop_command(1);
  ASSERT_TRUE(c0);
  ASSERT_TRUE(c1);
  EXPECT_EQ(c0->kind(), Command::kClose);
  EXPECT_EQ(c0->header.handle, 31u);
  EXPECT_EQ(c1->kind(), Command::kClose);
  EXPECT_EQ(c1->header.handle, 32u);
  EXPECT_EQ(client().counters().orphans_closed, 2u);
  EXPECT_EQ(client().counters().stale_events, 3u);
}

TEST_F(ClientTest, CommandsWaitForAFrameInOrder) {
  FakeEngine::Options options;
  options.in_frames = 2;
  attach(options);
  const sn_socket c = accept_on(0, 9);
  const std::string data(2 * fake().payload_max(), 'x');
  ASSERT_EQ(sn_send(h_, c, data.data(), data.size()), static_cast<ssize_t>(data.size()));
  EXPECT_EQ(sn_shutdown(h_, c), 0);  // no frame: queued
  EXPECT_EQ(sn_close(h_, c), 0);     // likewise, behind it
  auto a = fake().pop_command(0);
  auto b = fake().pop_command(0);
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(fake().pop_command(0));
  fake().give_back(*a);
  sn_event ev[4];
  EXPECT_EQ(sn_wait(h_, ev, 4, 0), 0);
  auto fin = fake().pop_command(0);
  ASSERT_TRUE(fin);
  EXPECT_EQ(fin->kind(), Command::kShutdown);
  EXPECT_FALSE(fake().pop_command(0));
  fake().give_back(*b);
  EXPECT_EQ(sn_wait(h_, ev, 4, 0), 0);
  auto close = fake().pop_command(0);
  ASSERT_TRUE(close);
  EXPECT_EQ(close->kind(), Command::kClose);
  EXPECT_EQ(close->header.handle, 9u);
}

TEST_F(ClientTest, AHandleReusedByTheShardIsNotClosedTwice) {
  attach();
  uint32_t user;
  const sn_socket l = listen_ok(8080, &user);
  fake().post(1, Event::kAccepted, header(7, user));
  const int old = sn_accept(h_, l, nullptr, nullptr);
  ASSERT_GT(old, 0);
  fake().post(1, Event::kClosed, header(7));
  fake().post(1, Event::kAccepted, header(7, user));  // handle 7 again, before our kClose
  fake().post(1, Event::kData, header(7), "new");
  const int fresh = sn_accept(h_, l, nullptr, nullptr);
  ASSERT_GT(fresh, 0);
  EXPECT_EQ(client().counters().handle_reused, 1u);
  EXPECT_EQ(recv_all(fresh), "new");
  EXPECT_EQ(sn_close(h_, old), 0);
  EXPECT_FALSE(fake().pop_command(1));  // the shard's 7 is the new connection now
  EXPECT_EQ(sn_close(h_, fresh), 0);
  auto close = fake().pop_command(1);
  ASSERT_TRUE(close);
  EXPECT_EQ(close->header.handle, 7u);
}

TEST_F(ClientTest, SleepingShardIsWokenOnlyWhenAsleep) {
  attach();
  fake().flags().shard_sleeping[1].store(1);
  ASSERT_GT(sn_connect(h_, 1, 1), 0);  // shard 0: awake
  EXPECT_EQ(fake().shard_wakes(0), 0u);
  ASSERT_GT(sn_connect(h_, 1, 2), 0);  // shard 1: asleep
  EXPECT_EQ(fake().shard_wakes(1), 1u);
  EXPECT_EQ(client().counters().shard_wakes, 1u);
}

TEST_F(ClientTest, BadSocketsAndOptions) {
  attach();
  char buf[4];
  EXPECT_EQ(sn_send(h_, 12345, "x", 1), -EBADF);
  EXPECT_EQ(sn_recv(h_, 0, buf, 1), -EBADF);
  EXPECT_EQ(sn_close(h_, -1), -EBADF);
  EXPECT_EQ(sn_watch(h_, 3 << 20 | 999, SN_READABLE), -EBADF);
  const int c = sn_connect(h_, 1, 1);
  EXPECT_EQ(sn_setsockopt(h_, c, SN_NODELAY, 1), -ENOTCONN);  // not connected yet
  EXPECT_EQ(sn_setsockopt(h_, c, 99, 1), -ENOPROTOOPT);
  EXPECT_EQ(sn_watch(h_, c, 64), -EINVAL);
  EXPECT_NE(std::string(sn_strerror(-EAGAIN)).find("sn_wait"), std::string::npos);
  EXPECT_STREQ(sn_strerror(-ECONNRESET), "Connection reset by peer");
}

}  // namespace
}  // namespace sn::testing
