// The data path does not call the general allocator. Two stacks on the
// in-memory wire, on virtual time; once the traffic has warmed up, these run
// without one operator new:
//   - pings (fragmented ones included) and UDP echoes;
//   - UDP to a closed port, answered by ICMP port unreachable;
//   - ARP expiring and being resolved again under a steady ping;
//   - TCP request/response: 64 bytes each way, 1000 rounds on one connection;
//   - TCP request/response with idle time between rounds (delayed ACKs and
//     keepalive probes fire);
//   - TCP bulk: 4 MiB one way, read as it arrives, with NewReno and CUBIC,
//     under 1% loss (with and without SACK), under loss, reordering,
//     duplication and corruption together, and to a slow reader (the
//     window shuts, persist probes, window updates);
//   - TCP request/response over 64 connections at once, interleaved.
// Setting up and tearing down (bind, listen, connect, accept, close) may
// allocate (socket objects, table entries): only the steady state between
// them is counted.
//
// base/alloc_testing.h replaces the global operator new for the whole
// stack_test binary; it counts only while `Armed` is in scope. The first
// counted allocation's call stack is printed, to show where it came from.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "base/alloc_testing.h"
#include "stack/stack_testing.h"

namespace sn {
namespace {

using namespace sn::testing;

constexpr int kRounds = 1000;
constexpr size_t kPingSizes[] = {56, 4000, 1, 1472, 1473};
constexpr size_t kUdpSizes[] = {1, 512, 1473, 4000, 8000};
constexpr L4Port kPort{5001};

TEST(NoAllocTest, TheCounterSeesAnAllocation) {
  if (!kAllocCounting) GTEST_SKIP() << "no allocation counting under ThreadSanitizer";
  const uint64_t seen = count_allocations([] {
    void* p = ::operator new(16);  // a call, not a new-expression: never elided
    ::operator delete(p);
  });
  EXPECT_EQ(seen, 1u);
}

// ---- ICMP, UDP and ARP -------------------------------------------------------

// What the client expects back, and what came back; checked without allocating.
struct Client {
  std::vector<std::byte> expect;   // the payload in flight
  std::vector<std::byte> scratch;  // room for one reply
  uint64_t pings = 0, udp = 0, bad = 0;

  bool same(const Packet& p, uint32_t skip) {
    const uint32_t n = p.chain_size() - skip;
    if (n != expect.size()) return false;
    chain_copy_out(p, skip, std::span<std::byte>(scratch.data(), n));
    return std::memcmp(scratch.data(), expect.data(), n) == 0;
  }
};

// Two stacks, a UDP echo on the server, a UDP socket and a ping recorder on
// the client; ping(i) and udp(i) each run one echo of size number i to its end.
class NoAllocEchoTest : public ::testing::Test {
 protected:
  explicit NoAllocEchoTest(const StackConfig& config = {})
      : a_(sim_.add_node(sim_node(1, config))),
        b_(sim_.add_node(sim_node(2, config))),
        echo_(*b_.stack, L4Port(7)),
        sock_(*a_.stack->udp().bind(Ipv4Address::any(), L4Port(0))) {
    client_.scratch.resize(65536);
    client_.expect.reserve(65536);
    a_.stack->icmp().set_echo_reply_handler(
        [](void* arg, const Ipv4Meta&, const Packet& m) {
          auto* c = static_cast<Client*>(arg);
          ++c->pings;
          c->bad += !c->same(m, 8);
        },
        &client_);
    sock_->set_on_readable(
        [](void* arg, UdpSocket& s) {
          auto* c = static_cast<Client*>(arg);
          while (auto d = s.recv()) {
            ++c->udp;
            c->bad += !c->same(*d->data, 0);
          }
        },
        &client_);
    for (size_t i = 0; i < std::size(kPingSizes); ++i)
      ping_data_.push_back(pattern(kPingSizes[i], i));
    for (size_t i = 0; i < std::size(kUdpSizes); ++i)
      udp_data_.push_back(pattern(kUdpSizes[i], 100 + i));
  }

  bool ping(int i) {
    const auto& d = ping_data_[i % ping_data_.size()];
    client_.expect.assign(d.begin(), d.end());  // within the reserved capacity
    const uint64_t want = client_.pings + 1;
    if (!a_.stack->icmp().send_echo_request(kServerIp, 1, static_cast<uint16_t>(i), d))
      return false;
    return sim_.run_until([&] { return client_.pings == want; }, Duration::seconds(5));
  }
  bool udp(int i) {
    const auto& d = udp_data_[i % udp_data_.size()];
    client_.expect.assign(d.begin(), d.end());
    const uint64_t want = client_.udp + 1;
    if (!sock_->send_to(kServerIp, L4Port(7), d)) return false;
    return sim_.run_until([&] { return client_.udp == want; }, Duration::seconds(5));
  }

  Simulation sim_;
  Simulation::Node& a_;
  Simulation::Node& b_;
  UdpEcho echo_;
  UdpSocket* sock_;
  Client client_;
  std::vector<std::vector<std::byte>> ping_data_, udp_data_;
};

TEST_F(NoAllocEchoTest, PingsAndUdpEchoesDoNotAllocateAfterWarmUp) {
  if (!kAllocCounting) GTEST_SKIP() << "no allocation counting under ThreadSanitizer";
  // Warm-up: ARP, and every size once.
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(ping(i));
    ASSERT_TRUE(udp(i));
  }
  const uint64_t pings0 = client_.pings, udp0 = client_.udp;
  int failed = 0;
  const uint64_t ping_allocs = allocations_in("ping", [&] {
    for (int i = 0; i < kRounds; ++i)
      failed += !ping(i);
  });
  const uint64_t udp_allocs = allocations_in("UDP echo", [&] {
    for (int i = 0; i < kRounds; ++i)
      failed += !udp(i);
  });
  EXPECT_EQ(ping_allocs, 0u);
  EXPECT_EQ(udp_allocs, 0u);
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(client_.pings - pings0, static_cast<uint64_t>(kRounds));
  EXPECT_EQ(client_.udp - udp0, static_cast<uint64_t>(kRounds));
  EXPECT_EQ(client_.bad, 0u);
  EXPECT_EQ(echo_.echoed, static_cast<uint64_t>(kRounds + 10));
  EXPECT_EQ(a_.stack->counters().total_drops() + b_.stack->counters().total_drops(), 0u);
}

// A datagram to a port no one listens on is answered with an ICMP port
// unreachable (RFC 1122 §4.1.3.1), which the client takes in.
TEST_F(NoAllocEchoTest, PortUnreachableDoesNotAllocate) {
  if (!kAllocCounting) GTEST_SKIP() << "no allocation counting under ThreadSanitizer";
  const auto& d = udp_data_[1];
  auto once = [&] {
    const uint64_t want = a_.stack->counters().icmp_rx.get() + 1;
    if (!sock_->send_to(kServerIp, L4Port(9), d)) return false;
    return sim_.run_until([&] { return a_.stack->counters().icmp_rx.get() == want; },
                          Duration::seconds(1));
  };
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(once());
    sim_.run_for(Duration::millis(1));  // within the error rate limit
  }
  int failed = 0;
  const uint64_t allocs = allocations_in("port unreachable", [&] {
    for (int i = 0; i < kRounds; ++i) {
      failed += !once();
      sim_.run_for(Duration::millis(1));
    }
  });
  EXPECT_EQ(allocs, 0u);
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(b_.stack->counters().icmp_tx_unreachable.get(), 10u + kRounds);
}

// ARP entries that expire every second: a ping every 100 ms for 20 s finds
// its next hop gone again and again, and each time it waits in ARP's queue
// while a request and a reply go round.
class NoAllocArpRefreshTest : public NoAllocEchoTest {
 protected:
  static StackConfig config() {
    StackConfig c;
    c.arp.entry_ttl = Duration::seconds(1);
    return c;
  }
  NoAllocArpRefreshTest() : NoAllocEchoTest(config()) {}
};

TEST_F(NoAllocArpRefreshTest, ResolvingAgainAfterExpiryDoesNotAllocate) {
  if (!kAllocCounting) GTEST_SKIP() << "no allocation counting under ThreadSanitizer";
  for (int i = 0; i < 30; ++i) {  // warm-up: three expiries
    ASSERT_TRUE(ping(i));
    sim_.run_for(Duration::millis(100));
  }
  const uint64_t requests0 = a_.stack->counters().arp_tx_requests.get();
  int failed = 0;
  const uint64_t allocs = allocations_in("ARP refresh", [&] {
    for (int i = 0; i < 200; ++i) {
      failed += !ping(i);
      sim_.run_for(Duration::millis(100));
    }
  });
  EXPECT_EQ(allocs, 0u);
  EXPECT_EQ(failed, 0);
  EXPECT_GE(a_.stack->counters().arp_tx_requests.get() - requests0, 15u);
  EXPECT_EQ(client_.bad, 0u);
}

// ---- TCP ------------------------------------------------------------------------

constexpr size_t kMessage = 64;

// The server's end of one connection: echoes every byte it reads, holding
// what the send buffer did not take in a fixed buffer.
struct EchoConn {
  static void on_event(void* a, TcpSocket&) { static_cast<EchoConn*>(a)->pump(); }
  void pump() {
    for (;;) {
      if (written < held) {
        written += sock->write(std::span(buf).subspan(written, held - written));
        if (written < held) return;
      }
      written = 0;
      held = sock->read(buf);
      if (held == 0) return;
    }
  }
  TcpSocket* sock = nullptr;
  std::array<std::byte, 4096> buf;
  uint32_t held = 0, written = 0;
};

// Accepts up to kMax connections, each echoed by an EchoConn of its own.
struct EchoServer {
  static constexpr size_t kMax = 64;
  static void accept(void* a, TcpSocket& s) {
    auto* self = static_cast<EchoServer*>(a);
    ASSERT_LT(self->count, kMax);
    EchoConn& c = self->conns[self->count++];
    c.sock = &s;
    s.set_on_event(&EchoConn::on_event, &c);
    c.pump();
  }
  std::array<EchoConn, kMax> conns;
  size_t count = 0;
};

// The client's end of one connection: sends a 64-byte request whose bytes
// depend on the round, and checks the reply.
struct RpcClient {
  static void on_event(void* a, TcpSocket&) { static_cast<RpcClient*>(a)->pump(); }
  void fill(uint64_t round) {
    for (size_t i = 0; i < kMessage; ++i)
      request[i] = static_cast<std::byte>(round * 31 + i * 7 + id);
  }
  bool send() {
    fill(sent);
    ++sent;
    return sock->write(request) == kMessage;
  }
  void pump() {
    while (replies < sent) {
      const uint32_t r = sock->read(std::span(reply).subspan(got));
      if (r == 0) return;
      got += r;
      if (got < kMessage) continue;
      fill(replies);
      bad += std::memcmp(reply.data(), request.data(), kMessage) != 0;
      ++replies;
      got = 0;
    }
  }
  TcpSocket* sock = nullptr;
  uint64_t id = 0;
  std::array<std::byte, kMessage> request, reply;
  uint32_t got = 0;
  uint64_t sent = 0, replies = 0, bad = 0;
};

// Bulk transfer: the stream's byte k is source[k % size], written as the send
// buffer takes it, read and checked as it arrives.
struct BulkWriter {
  static void on_event(void* a, TcpSocket&) { static_cast<BulkWriter*>(a)->pump(); }
  void pump() {
    while (sent < limit) {
      const size_t at = sent % source.size();
      const size_t n = std::min(source.size() - at, limit - sent);
      const uint32_t w = sock->write(std::span(source).subspan(at, n));
      sent += w;
      if (w < n) return;
    }
  }
  TcpSocket* sock = nullptr;
  std::vector<std::byte> source;
  size_t sent = 0, limit = 0;
};

struct BulkReader {
  static void accept(void* a, TcpSocket& s) {
    auto* self = static_cast<BulkReader*>(a);
    self->sock = &s;
    s.set_on_event(&BulkReader::on_event, self);
    self->pump();
  }
  static void on_event(void* a, TcpSocket&) { static_cast<BulkReader*>(a)->pump(); }
  void pump() {
    if (paused) return;
    while (uint32_t r = sock->read(buf)) {
      for (uint32_t off = 0; off < r;) {
        const size_t at = received % source->size();
        const size_t n = std::min<size_t>(source->size() - at, r - off);
        bad += std::memcmp(buf.data() + off, source->data() + at, n) != 0;
        off += static_cast<uint32_t>(n);
        received += n;
      }
    }
  }
  TcpSocket* sock = nullptr;
  const std::vector<std::byte>* source = nullptr;
  std::array<std::byte, 16384> buf;
  size_t received = 0;
  uint64_t bad = 0;
  bool paused = false;  // a slow application: reads nothing while set
};

// Two stacks on the wire (faults, if any, on the server's port), a listener
// on the server and connections from the client.
class TcpPair {
 public:
  explicit TcpPair(const StackConfig& config = {}, std::optional<FaultConfig> fault = {})
      : a_(sim_.add_node(sim_node(1, config))), b_(sim_.add_node(sim_node(2, config, fault))) {}

  Simulation& sim() { return sim_; }
  Stack& client() { return *a_.stack; }
  Stack& server() { return *b_.stack; }
  uint64_t drops() const {
    return a_.stack->counters().total_drops() + b_.stack->counters().total_drops();
  }
  uint64_t retransmits() const {
    return a_.stack->counters().conn.retransmits.get() +
           b_.stack->counters().conn.retransmits.get();
  }

  // Setup, which allocates (the sockets and their table entries): `n`
  // request/response connections, established.
  void connect_rpc(size_t n) {
    ASSERT_TRUE(server().tcp().listen(kPort, EchoServer::kMax, &EchoServer::accept, &echo_).ok());
    clients_.resize(n);
    for (size_t i = 0; i < n; ++i) {
      auto s = client().tcp().connect(kServerIp, kPort);
      ASSERT_TRUE(s.ok());
      clients_[i].sock = *s;
      clients_[i].id = i;
      (*s)->set_on_event(&RpcClient::on_event, &clients_[i]);
    }
    ASSERT_TRUE(sim_.run_until([&] {
      if (echo_.count < n) return false;
      for (const RpcClient& c : clients_)
        if (c.sock->state() != TcpState::kEstablished) return false;
      return true;
    }));
  }
  // One round: every client sends a request, then every reply arrives.
  bool round() {
    for (RpcClient& c : clients_)
      if (!c.send()) return false;
    return sim_.run_until(
        [&] {
          for (const RpcClient& c : clients_)
            if (c.replies != c.sent) return false;
          return true;
        },
        Duration::seconds(5));
  }
  const std::vector<RpcClient>& clients() const { return clients_; }
  EchoConn& echo(size_t i) { return echo_.conns[i]; }
  uint64_t bad_replies() const {
    uint64_t bad = 0;
    for (const RpcClient& c : clients_)
      bad += c.bad;
    return bad;
  }
  // Teardown, which may allocate too: every connection closes and is reaped.
  void close_rpc() {
    for (RpcClient& c : clients_)
      c.sock->close();
    for (size_t i = 0; i < echo_.count; ++i) {
      EchoConn& e = echo_.conns[i];
      ASSERT_TRUE(sim_.run_until([&] { return e.sock->eof(); }));
      e.sock->close();
    }
    ASSERT_TRUE(sim_.run_until([&] { return server().tcp().connections() == 0; }));
  }

  // Setup for a bulk transfer from client to server.
  void connect_bulk() {
    writer_.source = pattern(65521, 9);  // a prime: segments do not line up with it
    reader_.source = &writer_.source;
    ASSERT_TRUE(server().tcp().listen(kPort, 1, &BulkReader::accept, &reader_).ok());
    auto s = client().tcp().connect(kServerIp, kPort);
    ASSERT_TRUE(s.ok());
    writer_.sock = *s;
    (*s)->set_on_event(&BulkWriter::on_event, &writer_);
    ASSERT_TRUE(sim_.run_until([&] { return reader_.sock != nullptr; }));
  }
  // Lets the writer send `n` more bytes.
  void send_more(size_t n) {
    writer_.limit += n;
    writer_.pump();
  }
  // Sends `n` more bytes; true once the reader has them all.
  bool transfer(size_t n) {
    send_more(n);
    return sim_.run_until([&] { return reader_.received == writer_.limit; },
                          Duration::seconds(600));
  }
  BulkReader& reader() { return reader_; }
  void close_bulk() {
    writer_.sock->close();
    ASSERT_TRUE(sim_.run_until([&] { return reader_.sock->eof(); }));
    reader_.sock->close();
    ASSERT_TRUE(sim_.run_until([&] { return server().tcp().connections() == 0; }));
  }

 private:
  Simulation sim_;
  Simulation::Node& a_;
  Simulation::Node& b_;
  EchoServer echo_;
  std::vector<RpcClient> clients_;
  BulkWriter writer_;
  BulkReader reader_;
};

TEST(NoAllocTcpTest, RequestResponseOnOneConnection) {
  if (!kAllocCounting) GTEST_SKIP() << "no allocation counting under ThreadSanitizer";
  TcpPair t;
  // Setup allocates, and the counter sees it: allocations in the stack's
  // library code are counted like the test's own.
  EXPECT_GT(count_allocations([&] { t.connect_rpc(1); }), 0u);
  ASSERT_EQ(t.clients()[0].sock->state(), TcpState::kEstablished);
  for (int i = 0; i < 200; ++i)
    ASSERT_TRUE(t.round());
  int failed = 0;
  const uint64_t allocs = allocations_in("TCP request/response", [&] {
    for (int i = 0; i < kRounds; ++i)
      failed += !t.round();
  });
  EXPECT_EQ(allocs, 0u);
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(t.clients()[0].replies, 200u + kRounds);
  EXPECT_EQ(t.bad_replies(), 0u);
  EXPECT_EQ(t.drops(), 0u);
  EXPECT_EQ(t.retransmits(), 0u);
  t.close_rpc();
}

// With the application thinking between rounds, the timers fire as well: the
// delayed ACK of every reply, and keepalive probes on the idle connection.
TEST(NoAllocTcpTest, RequestResponseWithIdleTimeBetweenRounds) {
  if (!kAllocCounting) GTEST_SKIP() << "no allocation counting under ThreadSanitizer";
  StackConfig config;
  config.tcp.connection.keepalive = true;
  config.tcp.connection.keepalive_idle = Duration::seconds(1);
  config.tcp.connection.keepalive_interval = Duration::seconds(1);
  TcpPair t(config);
  t.connect_rpc(1);
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(t.round());
    t.sim().run_for(Duration::millis(2500));
  }
  const uint64_t delayed0 = t.client().counters().conn.delayed_acks.get();
  const uint64_t probes0 = t.client().counters().conn.keepalive_probes.get() +
                           t.server().counters().conn.keepalive_probes.get();
  int failed = 0;
  const uint64_t allocs = allocations_in("TCP request/response, idle between", [&] {
    for (int i = 0; i < 100; ++i) {
      failed += !t.round();
      t.sim().run_for(Duration::millis(2500));
    }
  });
  EXPECT_EQ(allocs, 0u);
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(t.bad_replies(), 0u);
  // Most rounds end with a delayed ACK (some replies are ACKed by a probe).
  EXPECT_GE(t.client().counters().conn.delayed_acks.get() - delayed0, 50u);
  EXPECT_GE(t.client().counters().conn.keepalive_probes.get() +
                t.server().counters().conn.keepalive_probes.get() - probes0,
            100u);
  EXPECT_EQ(t.drops(), 0u);
  t.close_rpc();
}

TEST(NoAllocTcpTest, RequestResponseOnSixtyFourConnectionsInterleaved) {
  if (!kAllocCounting) GTEST_SKIP() << "no allocation counting under ThreadSanitizer";
  TcpPair t;
  // 64 SYNs at once overflow ARP's queue while the server's MAC is resolved:
  // some are dropped and sent again. That is setup; the rounds are clean.
  t.connect_rpc(64);
  for (int i = 0; i < 50; ++i)
    ASSERT_TRUE(t.round());
  const uint64_t drops0 = t.drops(), retransmits0 = t.retransmits();
  int failed = 0;
  const uint64_t allocs = allocations_in("TCP request/response x64", [&] {
    for (int i = 0; i < 200; ++i)
      failed += !t.round();
  });
  EXPECT_EQ(allocs, 0u);
  EXPECT_EQ(failed, 0);
  for (const RpcClient& c : t.clients())
    EXPECT_EQ(c.replies, 250u);
  EXPECT_EQ(t.bad_replies(), 0u);
  EXPECT_EQ(t.drops(), drops0);
  EXPECT_EQ(t.retransmits(), retransmits0);
  t.close_rpc();
}

// Bulk transfers: 1 MiB to warm up, then 4 MiB counted, in several shapes.
struct BulkCase {
  const char* name;
  CongestionAlgorithm cc = CongestionAlgorithm::kNewReno;
  bool sack = true;
  FaultConfig fault{};       // on the server's port, each way
  bool slow_reader = false;  // reads in bursts: the window closes and opens
};

class NoAllocTcpBulkTest : public ::testing::TestWithParam<BulkCase> {};

TEST_P(NoAllocTcpBulkTest, FourMebibytesOneWay) {
  if (!kAllocCounting) GTEST_SKIP() << "no allocation counting under ThreadSanitizer";
  const BulkCase& c = GetParam();
  constexpr size_t kWarmUp = 1 << 20, kMeasured = 4 << 20;
  StackConfig config;
  config.tcp.connection.cc = c.cc;
  config.tcp.connection.sack = c.sack;
  TcpPair t(config, c.fault.any() ? std::optional(c.fault) : std::nullopt);
  t.connect_bulk();
  // The slow reader leaves the window shut for 300 ms at a time (persist
  // probes), then drains what arrived (window updates).
  auto run = [&](size_t n) {
    if (!c.slow_reader) return t.transfer(n);
    const size_t want = t.reader().received + n;
    t.reader().paused = true;
    t.send_more(n);
    for (int i = 0; i < 1000 && t.reader().received < want; ++i) {
      t.sim().run_for(Duration::millis(300));
      t.reader().paused = false;
      t.reader().pump();
      t.reader().paused = true;
      t.sim().run_for(Duration::millis(1));
    }
    t.reader().paused = false;
    return t.reader().received == want;
  };
  ASSERT_TRUE(run(kWarmUp));
  const uint64_t retransmits0 = t.retransmits();
  const uint64_t probes0 = t.client().counters().conn.persist_probes.get();
  bool done = false;
  const uint64_t allocs = allocations_in(c.name, [&] { done = run(kMeasured); });
  EXPECT_EQ(allocs, 0u);
  EXPECT_TRUE(done);
  EXPECT_EQ(t.reader().received, kWarmUp + kMeasured);
  EXPECT_EQ(t.reader().bad, 0u);
  if (c.fault.loss > 0) {
    EXPECT_GT(t.retransmits(), retransmits0);
  } else {
    EXPECT_EQ(t.drops(), 0u);
  }
  if (c.slow_reader) {
    EXPECT_GT(t.client().counters().conn.persist_probes.get(), probes0);
  }
  t.close_bulk();
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, NoAllocTcpBulkTest,
    ::testing::Values(
        BulkCase{.name = "NewReno"}, BulkCase{.name = "Cubic", .cc = CongestionAlgorithm::kCubic},
        BulkCase{.name = "SackLoss", .fault = {.loss = 0.01, .seed = 5}},
        BulkCase{.name = "NewRenoLoss", .sack = false, .fault = {.loss = 0.01, .seed = 5}},
        BulkCase{
            .name = "LossReorderDuplicateCorrupt",
            .fault =
                {.loss = 0.01, .duplicate = 0.01, .reorder = 0.02, .corrupt = 0.005, .seed = 6}},
        BulkCase{.name = "SlowReader", .slow_reader = true}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace sn
