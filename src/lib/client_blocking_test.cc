// Blocking sockets (sn_set_blocking, sn_set_timeout): a call that cannot go
// on sleeps as sn_wait does, while a thread plays the engine, until the
// engine gives back frames or posts what the call waits for; timeouts; the
// engine going away meanwhile; non-blocking sockets as before.
#include <time.h>

#include <cerrno>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "lib/client_testing.h"
#include "lib/shardnet.hpp"

namespace sn::testing {
namespace {

using host::Command;
using host::Event;
using namespace std::chrono_literals;

// The calling thread's CPU time: a library that sleeps uses next to none
// while it waits; one that spins uses the wait's length.
std::chrono::nanoseconds thread_cpu() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

// The engine's part, played by another thread once the library sleeps (in
// the blocking call the test makes meanwhile), after `delay`.
class Later {
 public:
  Later(FakeEngine& fake, std::function<void()> act, std::chrono::milliseconds delay = 50ms)
      : thread_([&fake, act = std::move(act), delay] {
          if (!await_host_sleeping(fake)) {
            ADD_FAILURE() << "the library never slept";
            return;
          }
          std::this_thread::sleep_for(delay);
          act();
        }) {}
  ~Later() { join(); }
  void join() {
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::thread thread_;
};

// The longest a blocked call may spend on the CPU while Later's 50 ms pass.
constexpr auto kSleeperCpu = 15ms;

TEST_F(ClientTest, BlockingSendTakesEverythingAsTheEngineReturnsFrames) {
  FakeEngine::Options options;
  options.in_frames = 4;
  attach(options);
  const sn_socket c = accept_on(0, 9);
  ASSERT_EQ(sn_set_blocking(h_, c, 1), 0);
  ASSERT_EQ(sn_set_timeout(h_, c, 20000), 0);  // a broken library fails the test, not hangs it
  const size_t frame = fake().payload_max();
  std::string data(40 * frame + 17, '\0');
  for (size_t i = 0; i < data.size(); ++i)
    data[i] = static_cast<char>('a' + i % 26);

  std::string got;
  int rounds = 0;
  std::thread shard([&] {
    std::vector<FakeCommand> held;
    while (got.size() < data.size()) {
      auto cmd = fake().await_command(0);
      if (!cmd) {
        ADD_FAILURE() << "no command after " << got.size() << " bytes";
        return;
      }
      EXPECT_EQ(cmd->kind(), Command::kSend);
      EXPECT_EQ(cmd->header.handle, 9u);
      got += cmd->payload;
      held.push_back(*cmd);
      const bool all = got.size() == data.size();
      if (held.size() < 4 && !all) continue;
      // The library holds no frame now: it must be asleep, waiting for ours.
      if (!all) {
        EXPECT_TRUE(await_host_sleeping(fake()));
      }
      std::this_thread::sleep_for(5ms);
      for (const FakeCommand& f : held)
        fake().give_back(f);
      held.clear();
      ++rounds;
    }
  });
  const auto wall0 = std::chrono::steady_clock::now();
  const auto cpu0 = thread_cpu();
  const ssize_t n = sn_send(h_, c, data.data(), data.size());
  const auto cpu = thread_cpu() - cpu0;
  const auto wall = std::chrono::steady_clock::now() - wall0;
  shard.join();

  EXPECT_EQ(n, static_cast<ssize_t>(data.size())) << sn_strerror(static_cast<int>(n));
  EXPECT_EQ(got, data);  // every byte, in order, once
  EXPECT_EQ(rounds, 11);
  const ClientCounters& k = client().counters();
  EXPECT_GE(k.blocks, 10u);  // once per round at least: it ran out of frames
  EXPECT_GE(k.sleeps, 1u);
  // Slept, not spun: every sleep ended because the fake wrote the eventfd,
  // and the call used a fraction of the (>= 50 ms) it took.
  EXPECT_LE(k.sleeps, fake().host_wakes());
  EXPECT_GE(wall, 50ms);
  EXPECT_LT(cpu, wall / 2) << "cpu " << cpu.count() << " ns, wall " << wall.count() << " ns";
}

TEST_F(ClientTest, BlockingSendWaitsForTheConnection) {
  attach();
  const int c = sn_connect(h_, 0x0a000001, 443);
  ASSERT_GT(c, 0);
  ASSERT_EQ(sn_set_blocking(h_, c, 1), 0);
  ASSERT_EQ(sn_set_timeout(h_, c, 20000), 0);
  auto connect = fake().pop_command(0);
  ASSERT_TRUE(connect);
  // A frame is free all along: waiting for the connection must not spin on it.
  fake().give_back(*connect);
  Later later(fake(), [&] { fake().post(0, Event::kConnected, header(21, connect->header.user)); });
  const auto cpu0 = thread_cpu();
  const ssize_t n = sn_send(h_, c, "hi", 2);
  const auto cpu = thread_cpu() - cpu0;
  later.join();
  EXPECT_EQ(n, 2) << sn_strerror(static_cast<int>(n));
  EXPECT_LT(cpu, kSleeperCpu);
  auto send = fake().pop_command(0);
  ASSERT_TRUE(send);
  EXPECT_EQ(send->kind(), Command::kSend);
  EXPECT_EQ(send->header.handle, 21u);
  EXPECT_EQ(send->payload, "hi");
}

TEST_F(ClientTest, BlockingRecvWaitsForDataAndTheEnd) {
  attach();
  const sn_socket c = accept_on(1, 7);
  ASSERT_EQ(sn_set_blocking(h_, c, 1), 0);
  ASSERT_EQ(sn_set_timeout(h_, c, 20000), 0);
  char buf[16];
  {
    Later later(fake(), [&] { fake().post(1, Event::kData, header(7), "late"); });
    const auto cpu0 = thread_cpu();
    const ssize_t n = sn_recv(h_, c, buf, sizeof(buf));
    const auto cpu = thread_cpu() - cpu0;
    later.join();
    ASSERT_EQ(n, 4) << sn_strerror(static_cast<int>(n));
    EXPECT_EQ(std::string(buf, 4), "late");
    EXPECT_LT(cpu, kSleeperCpu);
  }
  {
    Later later(fake(), [&] { fake().post(1, Event::kData, header(7), "view"); });
    const void* view = nullptr;
    const ssize_t n = sn_recv_view(h_, c, &view);
    later.join();
    ASSERT_EQ(n, 4) << sn_strerror(static_cast<int>(n));
    EXPECT_EQ(std::string(static_cast<const char*>(view), 4), "view");
    sn_recv_done(h_, c, 4);
  }
  {
    Later later(fake(), [&] { fake().post(1, Event::kEof, header(7)); });
    uint32_t addr = 0;
    uint16_t port = 0;
    EXPECT_EQ(sn_recvfrom(h_, c, buf, sizeof(buf), &addr, &port), 0);
  }
  EXPECT_EQ(sn_recv(h_, c, buf, sizeof(buf)), 0);  // the end stays: no wait
  EXPECT_EQ(client().counters().blocks, 3u);
  EXPECT_LE(client().counters().sleeps, fake().host_wakes());
}

TEST_F(ClientTest, BlockingAcceptWaitsForAConnection) {
  attach();
  uint32_t user;
  const sn_socket l = listen_ok(8080, &user);
  ASSERT_EQ(sn_set_blocking(h_, l, 1), 0);
  ASSERT_EQ(sn_set_timeout(h_, l, 20000), 0);
  Later later(fake(),
              [&] { fake().post(1, Event::kAccepted, header(7, user, 0, 0x0a000002, 5555)); });
  uint32_t addr = 0;
  uint16_t port = 0;
  const auto cpu0 = thread_cpu();
  const int c = sn_accept(h_, l, &addr, &port);
  const auto cpu = thread_cpu() - cpu0;
  later.join();
  ASSERT_GT(c, 0) << sn_strerror(c);
  EXPECT_EQ(addr, 0x0a000002u);
  EXPECT_EQ(port, 5555);
  EXPECT_LT(cpu, kSleeperCpu);
  EXPECT_EQ(client().counters().blocks, 1u);
  // The new socket starts non-blocking, whatever its listener's mode.
  char buf[4];
  EXPECT_EQ(sn_recv(h_, c, buf, sizeof(buf)), -EAGAIN);
}

TEST_F(ClientTest, BlockingUdpWaitsForADatagramAndForAFrame) {
  FakeEngine::Options options;
  options.in_frames = 2;
  attach(options);
  Setup s = setup([&] { return sn_udp_bind(h_, 53); }, Command::kUdpBind, Event::kBound);
  const sn_socket u = s.result;
  ASSERT_GT(u, 0) << sn_strerror(u);
  ASSERT_EQ(sn_set_blocking(h_, u, 1), 0);
  ASSERT_EQ(sn_set_timeout(h_, u, 20000), 0);
  {
    Later later(fake(), [&] {
      fake().post(1, Event::kDatagram, header(101, 0, 0, 0x0a000005, 3333), "query");
    });
    char buf[16];
    uint32_t addr = 0;
    uint16_t port = 0;
    const ssize_t n = sn_recvfrom(h_, u, buf, sizeof(buf), &addr, &port);
    later.join();
    ASSERT_EQ(n, 5) << sn_strerror(static_cast<int>(n));
    EXPECT_EQ(std::string(buf, 5), "query");
    EXPECT_EQ(addr, 0x0a000005u);
    EXPECT_EQ(port, 3333);
  }
  // Every frame of both shards: then a datagram waits for one back.
  for (int i = 0; i < 4; ++i)
    ASSERT_EQ(sn_sendto(h_, u, "x", 1, 0x0a000005, 3333), 1) << i;
  EXPECT_EQ(client().counters().blocks, 1u);
  std::optional<FakeCommand> taken;
  {
    Later later(fake(), [&] {
      taken = fake().pop_command(0);
      if (taken) fake().give_back(*taken);
    });
    const auto cpu0 = thread_cpu();
    EXPECT_EQ(sn_sendto(h_, u, "answer", 6, 0x0a000005, 3333), 6);
    EXPECT_LT(thread_cpu() - cpu0, kSleeperCpu);
  }
  ASSERT_TRUE(taken);
  EXPECT_EQ(client().counters().blocks, 2u);
  std::string sent;
  for (uint32_t shard = 0; shard < 2; ++shard)
    while (auto c = fake().pop_command(shard))
      sent += c->payload;
  EXPECT_EQ(sent.size(), 3u + 6u);  // what the fake took before is not popped again
  EXPECT_NE(sent.find("answer"), std::string::npos);
}

TEST_F(ClientTest, BlockingCallsTimeOut) {
  FakeEngine::Options options;
  options.in_frames = 2;
  attach(options);
  const sn_socket c = accept_on(0, 9);
  ASSERT_EQ(sn_set_blocking(h_, c, 1), 0);
  ASSERT_EQ(sn_set_timeout(h_, c, 30), 0);
  char buf[4];
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(sn_recv(h_, c, buf, sizeof(buf)), -ETIMEDOUT);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 30ms);

  // What the free frames hold, then the timeout: the count, then the error.
  const size_t frame = fake().payload_max();
  std::string data(5 * frame, '\0');
  for (size_t i = 0; i < data.size(); ++i)
    data[i] = static_cast<char>('a' + i % 26);
  start = std::chrono::steady_clock::now();
  EXPECT_EQ(sn_send(h_, c, data.data(), data.size()), static_cast<ssize_t>(2 * frame));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 30ms);
  EXPECT_EQ(sn_send(h_, c, data.data(), data.size()), -ETIMEDOUT);
  // Nothing taken is lost.
  auto a = fake().pop_command(0);
  auto b = fake().pop_command(0);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->payload + b->payload, data.substr(0, 2 * frame));
  EXPECT_FALSE(fake().pop_command(0));

  // 0: one look.
  ASSERT_EQ(sn_set_timeout(h_, c, 0), 0);
  start = std::chrono::steady_clock::now();
  EXPECT_EQ(sn_recv(h_, c, buf, sizeof(buf)), -ETIMEDOUT);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);

  ASSERT_EQ(sn_set_blocking(h_, listener_, 1), 0);
  ASSERT_EQ(sn_set_timeout(h_, listener_, 20), 0);
  EXPECT_EQ(sn_accept(h_, listener_, nullptr, nullptr), -ETIMEDOUT);

  EXPECT_EQ(sn_set_timeout(h_, c, -2), -EINVAL);
  EXPECT_EQ(sn_set_timeout(h_, 12345, 10), -EBADF);
  ASSERT_EQ(sn_set_timeout(h_, c, -1), 0);  // forever again: data arrives, no timeout
  fake().post(0, Event::kData, header(9), "ok");
  EXPECT_EQ(sn_recv(h_, c, buf, sizeof(buf)), 2);
}

TEST_F(ClientTest, EngineHangUpEndsABlockedRecv) {
  attach();
  const sn_socket c = accept_on(1, 7);
  ASSERT_EQ(sn_set_blocking(h_, c, 1), 0);  // no timeout: only the hang-up can end it
  Later later(fake(), [&] { fake().hang_up(); });
  char buf[4];
  const auto start = std::chrono::steady_clock::now();
  const ssize_t n = sn_recv(h_, c, buf, sizeof(buf));
  const auto took = std::chrono::steady_clock::now() - start;
  later.join();
  EXPECT_EQ(n, -EPIPE);
  EXPECT_LT(took, 2s);  // 50 ms before the hang-up, then at once
  EXPECT_EQ(client().failed(), -EPIPE);
  // Every blocking call now ends at once.
  ASSERT_EQ(sn_set_blocking(h_, listener_, 1), 0);
  EXPECT_EQ(sn_accept(h_, listener_, nullptr, nullptr), -EPIPE);
  EXPECT_EQ(sn_send(h_, c, "x", 1), -EPIPE);
}

TEST_F(ClientTest, EngineHangUpEndsABlockedSendWithTheCountSoFar) {
  FakeEngine::Options options;
  options.in_frames = 2;
  attach(options);
  const sn_socket c = accept_on(0, 9);
  ASSERT_EQ(sn_set_blocking(h_, c, 1), 0);
  const size_t frame = fake().payload_max();
  const std::string data(5 * frame, 'x');
  Later later(fake(), [&] { fake().hang_up(); });
  const auto start = std::chrono::steady_clock::now();
  const ssize_t n = sn_send(h_, c, data.data(), data.size());
  const auto took = std::chrono::steady_clock::now() - start;
  later.join();
  EXPECT_EQ(n, static_cast<ssize_t>(2 * frame));
  EXPECT_LT(took, 2s);
  EXPECT_EQ(sn_send(h_, c, data.data(), data.size()), -EPIPE);
}

TEST_F(ClientTest, SocketsAreNonBlockingUnlessSetSo) {
  attach();
  const sn_socket c = accept_on(1, 7);
  char buf[4];
  EXPECT_EQ(sn_recv(h_, c, buf, sizeof(buf)), -EAGAIN);
  EXPECT_EQ(sn_accept(h_, listener_, nullptr, nullptr), -EAGAIN);
  ASSERT_EQ(sn_set_blocking(h_, c, 1), 0);
  ASSERT_EQ(sn_set_blocking(h_, c, 0), 0);
  EXPECT_EQ(sn_recv(h_, c, buf, sizeof(buf)), -EAGAIN);
  ASSERT_EQ(sn_set_timeout(h_, c, 10), 0);  // no effect while non-blocking
  EXPECT_EQ(sn_recv(h_, c, buf, sizeof(buf)), -EAGAIN);
  EXPECT_EQ(client().counters().blocks, 0u);
  EXPECT_EQ(sn_set_blocking(h_, 12345, 1), -EBADF);
  EXPECT_EQ(sn_set_blocking(h_, 0, 1), -EBADF);

  // A closed socket's number comes back as a new socket: non-blocking.
  ASSERT_EQ(sn_set_blocking(h_, c, 1), 0);
  ASSERT_EQ(sn_close(h_, c), 0);
  EXPECT_EQ(sn_set_blocking(h_, c, 1), -EBADF);
  const int again = sn_connect(h_, 1, 1);
  ASSERT_EQ(again, c);
  EXPECT_EQ(sn_send(h_, again, "x", 1), -EAGAIN);  // still connecting: no wait
  EXPECT_EQ(client().counters().blocks, 0u);
}

TEST_F(ClientTest, CxxSocketSetsTheMode) {
  attach();
  Socket s(h_, accept_on(1, 7));
  EXPECT_EQ(s.set_blocking(true), 0);
  EXPECT_EQ(s.set_timeout(10), 0);
  char buf[4];
  EXPECT_EQ(sn_recv(h_, s.get(), buf, sizeof(buf)), -ETIMEDOUT);
  EXPECT_EQ(s.set_timeout(-7), -EINVAL);
  EXPECT_EQ(Socket().set_blocking(true), -EBADF);
  EXPECT_EQ(Socket().set_timeout(1), -EBADF);
}

}  // namespace
}  // namespace sn::testing
