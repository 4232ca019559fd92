// Interop: the engine as a TCP client. A stack on a TAP device in a network
// namespace this test makes opens connections to a Linux listener (a python
// echo server in the namespace) through the shard socket API, and moves data
// both ways byte-exact. Needs root; skipped, loudly, without it.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "base/rng.h"
#include "engine/clock.h"
#include "port/tap_port.h"
#include "stack/stack.h"

namespace sn {
namespace {

int sh(const std::string& cmd) {
  return std::system((cmd + " >/dev/null 2>&1").c_str());
}

class EngineClient : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "SKIPPED: needs root (network namespace, TAP)";
    ns_ = "sn-cl-" + std::to_string(::getpid());
    ASSERT_EQ(sh("ip netns add " + ns_), 0);
    int fd = ::open(("/run/netns/" + ns_).c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::setns(fd, CLONE_NEWNET), 0);  // this thread, and what it starts, live there
    ::close(fd);
    auto tap = TapPort::open("sncl0", *MacAddress::parse("02:5e:00:00:00:07"), 1500);
    ASSERT_TRUE(tap.ok()) << tap.error().message;
    tap_ = std::move(*tap);
    ASSERT_EQ(
        sh("ip link set lo up && ip addr add 10.216.0.1/24 dev sncl0 && ip link set sncl0 up"), 0);
    // A Linux echo server, in the namespace.
    server_ = ::fork();
    if (server_ == 0) {
      ::execlp("python3", "python3", "-c",
               "import socketserver\n"
               "class H(socketserver.BaseRequestHandler):\n"
               "  def handle(self):\n"
               "    while True:\n"
               "      b = self.request.recv(65536)\n"
               "      if not b: return\n"
               "      self.request.sendall(b)\n"
               "socketserver.ThreadingTCPServer.allow_reuse_address = True\n"
               "socketserver.ThreadingTCPServer(('10.216.0.1', 5000), H).serve_forever()\n",
               nullptr);
      ::_exit(127);
    }
    pool_ = std::make_unique<PacketPool>(PoolConfig{8192, 2048, 128});
    StackConfig cfg;
    for (size_t i = 0; i < cfg.tcp.isn_secret.size(); ++i)
      cfg.tcp.isn_secret[i] = uint8_t(i * 7);
    stack_ = std::make_unique<Stack>(cfg, *pool_, steady_now(), 42);
    stack_->add_interface(*tap_, *Ipv4Prefix::parse("10.216.0.2/24"));
    stack_->start(steady_now());
    // Wait for the server to listen.
    for (int i = 0; i < 100 && sh("ss -ltn | grep -q 10.216.0.1:5000") != 0; ++i)
      ::usleep(50'000);
  }

  void TearDown() override {
    stack_.reset();
    pool_.reset();
    tap_.reset();
    if (server_ > 0) {
      ::kill(server_, SIGTERM);
      ::waitpid(server_, nullptr, 0);
    }
    if (!ns_.empty()) sh("ip netns del " + ns_);
  }

  // Polls the stack on the real clock until `done` or `seconds` pass.
  template <typename F>
  bool run_until(F done, int seconds) {
    const Instant end = steady_now() + Duration::seconds(seconds);
    while (!done()) {
      if (steady_now() > end) return false;
      if (stack_->poll(steady_now()) == 0) ::usleep(50);
    }
    return true;
  }

  std::string ns_;
  pid_t server_ = -1;
  std::unique_ptr<TapPort> tap_;
  std::unique_ptr<PacketPool> pool_;
  std::unique_ptr<Stack> stack_;
};

TEST_F(EngineClient, ConnectsToLinuxAndEchoesBothWays) {
  const Ipv4Address server = *Ipv4Address::parse("10.216.0.1");
  Rng rng(5);
  for (int conn = 0; conn < 4; ++conn) {
    auto s = stack_->tcp().connect(server, L4Port(5000));
    ASSERT_TRUE(s.ok()) << s.error().message;
    TcpSocket& sock = **s;
    ASSERT_TRUE(run_until([&] { return sock.state() == TcpState::kEstablished; }, 10))
        << "state " << to_string(sock.state());
    std::vector<std::byte> out(1 << 20), in;
    for (auto& b : out)
      b = std::byte(rng.next());
    size_t sent = 0;
    std::vector<std::byte> buf(65536);
    ASSERT_TRUE(run_until(
        [&] {
          if (sent < out.size()) sent += sock.write(std::span<const std::byte>(out).subspan(sent));
          while (uint32_t n = sock.read(buf))
            in.insert(in.end(), buf.begin(), buf.begin() + n);
          return in.size() == out.size();
        },
        30))
        << "sent " << sent << " got back " << in.size();
    EXPECT_EQ(in, out) << "connection " << conn;
    sock.close();  // FIN after the data; the socket is the stack's to free now
  }
  // Let the closing handshakes run: every connection reaches TIME_WAIT.
  run_until([] { return false; }, 1);
  EXPECT_EQ(stack_->tcp().connections(), 0u);
  EXPECT_EQ(stack_->tcp().time_wait(), 4u);  // in the TIME-WAIT table for 2*MSL
  EXPECT_EQ(stack_->counters().tcp_active_opens.get(), 4u);
  EXPECT_EQ(stack_->counters().drop.tcp_bad_checksum.get(), 0u);
}

TEST_F(EngineClient, ConnectToAClosedPortIsRefused) {
  auto s = stack_->tcp().connect(*Ipv4Address::parse("10.216.0.1"), L4Port(5001));
  ASSERT_TRUE(s.ok());
  TcpSocket& sock = **s;
  ASSERT_TRUE(run_until([&] { return sock.state() == TcpState::kClosed; }, 10));
  EXPECT_EQ(sock.error(), TcpError::kRefused);
  sock.close();
}

}  // namespace
}  // namespace sn
