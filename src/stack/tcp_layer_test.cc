// Tests of TCP on one shard (stack/tcp.cc). Two stacks on the simulated wire
// move data both ways through the socket API, clean and under seeded faults,
// down to the reaping of closed sockets after TIME-WAIT and the last pool
// buffer. Then, on a stack over the scripted port, the demultiplexer alone:
// resets for segments to no connection (RFC 9293 §3.10.7.1 and .2), every
// receive drop with its counter, and the listener's backlog.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <string>

#include "stack/stack_testing.h"

namespace sn {
namespace {

using namespace sn::testing;

constexpr L4Port kPort = kTcpPort;

// One end of a transfer, written with the socket API the way a service would:
// writes `out` in chunks of random size as the send buffer takes them, reads
// in chunks of random size, and closes once it has sent everything and has
// either received `expect` bytes (if it closes first) or seen the peer's FIN.
// A connection that ends abnormally is closed at once, its error kept.
class Peer {
 public:
  Peer(std::vector<std::byte> out, size_t expect, bool closes_first, uint64_t seed)
      : out(std::move(out)), expect_(expect), closes_first_(closes_first), rng_(seed) {}

  void attach(TcpSocket& s) {
    sock = &s;
    s.set_on_event([](void* a, TcpSocket&) { static_cast<Peer*>(a)->pump(); }, this);
    pump();
  }
  static void accept(void* a, TcpSocket& s) {
    auto* p = static_cast<Peer*>(a);
    ++p->accepted;
    p->attach(s);
  }

  std::vector<std::byte> out, in;
  TcpSocket* sock = nullptr;  // still valid after close(), until the stack reaps it
  bool closed = false;
  int accepted = 0;
  TcpError error = TcpError::kNone;
  ConnectionCounters counters;  // as they were at close()

 private:
  void pump() {
    if (closed) return;
    while (sent_ < out.size()) {
      const size_t n = std::min<size_t>(1 + rng_.below(8192), out.size() - sent_);
      const uint32_t w = sock->write(std::span(out).subspan(sent_, n));
      sent_ += w;
      if (w < n) break;
    }
    std::array<std::byte, 8192> buf;
    while (uint32_t r = sock->read(std::span(buf).first(1 + rng_.below(buf.size()))))
      in.insert(in.end(), buf.begin(), buf.begin() + r);
    const bool done = sent_ == out.size() && (closes_first_ ? in.size() >= expect_ : sock->eof());
    if (sock->state() == TcpState::kClosed || done) {
      error = sock->error();
      counters = sock->connection().counters();
      closed = true;
      sock->close();
    }
  }

  size_t sent_ = 0;
  const size_t expect_;
  const bool closes_first_;
  Rng rng_;
};

// Echoes what it reads, keeping what the send buffer did not take, and closes
// once the peer has closed and everything has been echoed (like TcpEcho).
struct Echo {
  static void accept(void* a, TcpSocket& s) {
    auto* e = static_cast<Echo*>(a);
    ++e->accepted;
    e->sock = &s;
    s.set_on_event([](void* a, TcpSocket&) { static_cast<Echo*>(a)->pump(); }, e);
    e->pump();
  }
  void pump() {
    if (closed) return;
    for (;;) {
      const uint32_t w = sock->write(pending);
      pending.erase(pending.begin(), pending.begin() + w);
      if (!pending.empty()) break;
      std::array<std::byte, 4096> buf;
      const uint32_t r = sock->read(buf);
      if (r == 0) break;
      pending.assign(buf.begin(), buf.begin() + r);
    }
    if (sock->state() == TcpState::kClosed || (sock->eof() && pending.empty())) {
      error = sock->error();
      closed = true;
      sock->close();
    }
  }
  TcpSocket* sock = nullptr;
  std::vector<std::byte> pending;
  int accepted = 0;
  bool closed = false;
  TcpError error = TcpError::kNone;
};

// ---- Several interfaces (Fig. 17) --------------------------------------------

// A server with two interfaces on two subnets, each reached by its own
// client: each connection leaves by the interface the routes pick for its
// peer and remembers it, and looks again only when the routes change.
TEST(TcpLayerInterfaces, EachConnectionUsesAndRemembersItsOwnInterface) {
  Simulation sim;
  auto node = [](uint8_t subnet, uint8_t host, uint8_t m) {
    SimNodeConfig c;
    c.address = Ipv4Prefix{Ipv4Address::from_octets(10, 0, subnet, host), 24};
    c.mac = mac(m);
    return c;
  };
  Simulation::Node& server = sim.add_node(node(1, 2, 2));
  Simulation::Node& a = sim.add_node(node(1, 1, 1));
  Simulation::Node& b = sim.add_node(node(2, 1, 3));
  const Ipv4Address second = Ipv4Address::from_octets(10, 0, 2, 2);
  ASSERT_EQ(server.stack->add_interface(sim.wire().attach(mac(4), 1500), Ipv4Prefix{second, 24}),
            1u);
  constexpr size_t kBytes = 64 * 1024;
  std::vector<std::unique_ptr<Echo>> echoes;
  std::vector<std::unique_ptr<Peer>> clients;
  auto accept = [](void* arg, TcpSocket& s) {
    auto* v = static_cast<std::vector<std::unique_ptr<Echo>>*>(arg);
    v->push_back(std::make_unique<Echo>());
    Echo::accept(v->back().get(), s);
  };
  ASSERT_TRUE(server.stack->tcp().listen(kPort, 8, accept, &echoes).ok());
  for (auto [client, dst] :
       {std::pair{&a, Ipv4Address::from_octets(10, 0, 1, 2)}, std::pair{&b, second}}) {
    clients.push_back(std::make_unique<Peer>(pattern(kBytes, clients.size()), kBytes, true, 5));
    clients.back()->attach(**client->stack->tcp().connect(dst, kPort));
  }
  ASSERT_TRUE(sim.run_until([&] { return echoes.size() == 2; }));
  const uint32_t generation = server.stack->routes().generation();
  for (const auto& e : echoes) {
    const uint16_t want =
        e->sock->remote_address() == Ipv4Address::from_octets(10, 0, 1, 1) ? 0 : 1;
    EXPECT_EQ(e->sock->route().iface, want);
    EXPECT_EQ(e->sock->route().next_hop, e->sock->remote_address());
    EXPECT_EQ(e->sock->route().generation, generation);
    EXPECT_EQ(e->sock->local_address(), want == 0 ? Ipv4Address::from_octets(10, 0, 1, 2) : second);
  }
  // A route change: the next segment looks the hop up again.
  server.stack->routes().add(Route{Ipv4Prefix{Ipv4Address::from_octets(10, 0, 9, 0), 24}, 1, {}});
  EXPECT_NE(server.stack->routes().generation(), generation);
  ASSERT_TRUE(sim.run_until([&] { return clients[0]->closed && clients[1]->closed; }));
  for (const auto& c : clients) {
    EXPECT_TRUE(c->in == c->out);
    EXPECT_EQ(c->error, TcpError::kNone);
  }
  for (const auto& e : echoes)
    EXPECT_EQ(e->sock->route().generation, server.stack->routes().generation());
  // Each interface carried its own client's frames.
  EXPECT_GT(server.stack->iface(0).port->counters().tx_frames.get(), 40u);
  EXPECT_GT(server.stack->iface(1).port->counters().tx_frames.get(), 40u);
}

// ---- Two stacks on the simulated wire ---------------------------------------

using TcpLayerSimTest = TwoStacks;

// 256 KiB each way; the parameter says whether the client closes first.
class TcpLayerCloseTest : public TcpLayerSimTest, public ::testing::WithParamInterface<bool> {};

TEST_P(TcpLayerCloseTest, DataBothWaysByteExactThenEverySocketIsReaped) {
  const bool client_first = GetParam();
  constexpr size_t kBytes = 256 * 1024;
  Peer server(pattern(kBytes, 2), kBytes, !client_first, 22);
  Peer client(pattern(kBytes, 1), kBytes, client_first, 11);
  ASSERT_TRUE(server_.tcp().listen(kPort, 4, &Peer::accept, &server).ok());
  auto c = client_.tcp().connect(kServerIp, kPort);
  ASSERT_TRUE(c.ok());
  client.attach(**c);
  ASSERT_TRUE(sim_.run_until([&] { return client.closed && server.closed; }));
  EXPECT_EQ(server.accepted, 1);
  EXPECT_TRUE(client.in == server.out);  // not EXPECT_EQ: 256 KiB of output on failure
  EXPECT_TRUE(server.in == client.out);
  EXPECT_EQ(client.in.size(), kBytes);
  EXPECT_EQ(server.in.size(), kBytes);
  EXPECT_EQ(client.error, TcpError::kNone);
  EXPECT_EQ(server.error, TcpError::kNone);

  // The first to close waits in TIME-WAIT for exactly 2*MSL (§3.10.7.4 step 8,
  // to within the wheel's 1 ms tick); the other is reaped at its last ACK.
  Stack& first_stack = client_first ? client_ : server_;
  Stack& second_stack = client_first ? server_ : client_;
  // Once closed, the socket is gone (first.sock dangles): TIME-WAIT is an
  // entry in the stack's table, not a connection.
  ASSERT_TRUE(sim_.run_until([&] { return first_stack.tcp().time_wait() == 1; }));
  EXPECT_EQ(first_stack.tcp().connections(), 0u);
  EXPECT_EQ(first_stack.counters().tcp_time_wait_entered.get(), 1u);
  const Duration two_msl = first_stack.tcp().config().connection.msl * 2;
  ASSERT_TRUE(sim_.run_until([&] { return second_stack.tcp().connections() == 0; }));
  sim_.run_for(two_msl - Duration::millis(2));
  EXPECT_EQ(first_stack.tcp().time_wait(), 1u);
  sim_.run_for(Duration::millis(3));
  EXPECT_EQ(first_stack.tcp().time_wait(), 0u);

  ASSERT_TRUE(sim_.run_until_idle(Duration::seconds(120)));
  for (Stack* s : {&client_, &server_}) {
    const StackCounters& k = s->counters();
    EXPECT_EQ(k.total_drops(), 0u);
    EXPECT_EQ(k.tcp_tx_resets.get(), 0u);
  }
  EXPECT_EQ(client_.counters().tcp_active_opens.get(), 1u);
  EXPECT_EQ(server_.counters().tcp_passive_opens.get(), 1u);
  EXPECT_EQ(server_.counters().tcp_accepted.get(), 1u);
  // A clean wire: every segment one side sent, the other received.
  EXPECT_EQ(client_.counters().tcp_tx_segments.get(), server_.counters().tcp_rx_segments.get());
  EXPECT_EQ(server_.counters().tcp_tx_segments.get(), client_.counters().tcp_rx_segments.get());
  expect_no_leaks(a_);
  expect_no_leaks(b_);
}

INSTANTIATE_TEST_SUITE_P(TcpLayer, TcpLayerCloseTest, ::testing::Values(true, false),
                         [](const auto& info) {
                           return std::string(info.param ? "ClientFirst" : "ServerFirst");
                         });

TEST_F(TcpLayerSimTest, ConnectToAClosedPortIsRefused) {
  Peer client({}, 0, false, 1);
  auto c = client_.tcp().connect(kServerIp, L4Port(9));
  ASSERT_TRUE(c.ok());
  client.attach(**c);
  EXPECT_EQ((*c)->state(), TcpState::kSynSent);
  ASSERT_TRUE(sim_.run_until([&] { return client.closed; }));
  EXPECT_EQ(client.error, TcpError::kRefused);
  EXPECT_EQ(server_.counters().drop.tcp_no_connection.get(), 1u);
  EXPECT_EQ(server_.counters().tcp_tx_resets.get(), 1u);
  EXPECT_EQ(client_.counters().tcp_active_opens.get(), 1u);
  // The socket is gone, and with it the client's last armed timer. (A wheel
  // that still counts one reports a deadline in the past from then on, and
  // the simulation, like the engine, would spin on it.)
  EXPECT_EQ(client_.tcp().connections(), 0u);
  ASSERT_EQ(client_.timers().armed_count(), 0u);
  ASSERT_TRUE(sim_.run_until_idle());
  EXPECT_EQ(client_.tcp().connections(), 0u);
  EXPECT_EQ(server_.tcp().connections(), 0u);
  expect_no_leaks(a_);
  expect_no_leaks(b_);
}

TEST_F(TcpLayerSimTest, AbortResetsThePeerAndBothSocketsAreReaped) {
  Echo echo;
  ASSERT_TRUE(server_.tcp().listen(kPort, 4, &Echo::accept, &echo).ok());
  TcpSocket* c = *client_.tcp().connect(kServerIp, kPort);
  ASSERT_EQ(c->write(pattern(50'000, 3)), 50'000u);
  ASSERT_TRUE(sim_.run_until([&] { return c->readable(); }));
  c->abort();  // RST now, with data still in flight both ways
  ASSERT_TRUE(sim_.run_until_idle());
  EXPECT_TRUE(echo.closed);
  EXPECT_EQ(echo.error, TcpError::kReset);
  EXPECT_GE(client_.counters().tcp_tx_resets.get(), 1u);
  EXPECT_EQ(client_.tcp().connections(), 0u);
  EXPECT_EQ(server_.tcp().connections(), 0u);
  expect_no_leaks(a_);
  expect_no_leaks(b_);
}

// A short connection as a load generator makes it: the request written once
// connected, the response read, then close; the echo answers at once. Every
// ACK but the last rides on data or a FIN (Tcp::flush_acks sends only what
// no reply carried): the client's handshake ACK on the request, the server's
// ACK of the request and window update on the response, its ACK of the
// client's FIN on its own FIN. 4 segments from the client, 3 from the server.
TEST_F(TcpLayerSimTest, AShortConnectionTakesSevenSegments) {
  Echo echo;
  ASSERT_TRUE(server_.tcp().listen(kPort, 4, &Echo::accept, &echo).ok());
  struct Client {
    TcpSocket* sock = nullptr;
    std::vector<std::byte> request = pattern(64, 4);
    size_t got = 0;
    bool sent = false, done = false;
    void on_event() {
      if (done || sock->state() != TcpState::kEstablished) return;
      if (!sent) {
        EXPECT_EQ(sock->write(request), request.size());
        sent = true;
      }
      std::array<std::byte, 256> buf;
      got += sock->read(buf);
      if (got == request.size()) {
        done = true;
        sock->close();
      }
    }
  } client;
  client.sock = *client_.tcp().connect(kServerIp, kPort);
  client.sock->set_on_event([](void* a, TcpSocket&) { static_cast<Client*>(a)->on_event(); },
                            &client);
  ASSERT_TRUE(sim_.run_until([&] { return client.done && echo.closed; }));
  ASSERT_TRUE(sim_.run_until_idle(Duration::seconds(120)));  // past TIME-WAIT
  EXPECT_EQ(client_.counters().tcp_tx_segments.get(), 4u);
  EXPECT_EQ(server_.counters().tcp_tx_segments.get(), 3u);
  EXPECT_EQ(client_.counters().conn.delayed_acks.get() + server_.counters().conn.delayed_acks.get(),
            0u);
  EXPECT_EQ(server_.counters().conn.window_updates.get(), 1u);  // carried by the response
  EXPECT_EQ(client_.tcp().connections() + server_.tcp().connections(), 0u);
  expect_no_leaks(a_);
  expect_no_leaks(b_);
}

// 128 KiB echoed under loss, reordering, duplication and corruption on the
// client's port (both ways), for ten seeds. A transfer takes about half a
// millisecond, less than a reordered frame is held (2 ms): frames still held
// arrive after both sockets are gone, so resets for no connection (and a
// TIME-WAIT ended by one, as Linux allows by default) are expected here.
TEST(TcpLayerLossyTest, EchoIsByteExactAndNothingLeaks) {
  constexpr size_t kBytes = 128 * 1024;
  uint64_t faults = 0, retransmits = 0;
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    SCOPED_TRACE(seed);
    FaultConfig fault{.loss = 0.02, .duplicate = 0.01, .reorder = 0.02, .corrupt = 0.001};
    fault.seed = seed;
    Simulation sim;
    Simulation::Node& a = sim.add_node(sim_node(1, {}, fault));
    Simulation::Node& b = sim.add_node(sim_node(2));
    Echo echo;
    ASSERT_TRUE(b.stack->tcp().listen(kPort, 4, &Echo::accept, &echo).ok());
    Peer client(pattern(kBytes, seed), kBytes, true, seed);
    client.attach(**a.stack->tcp().connect(kServerIp, kPort));
    ASSERT_TRUE(sim.run_until([&] { return client.closed && echo.closed; }, Duration::seconds(60)));
    retransmits += client.counters.retransmits;
    EXPECT_TRUE(client.in == client.out);
    EXPECT_EQ(client.in.size(), kBytes);
    EXPECT_EQ(echo.accepted, 1);
    ASSERT_TRUE(sim.run_until_idle(Duration::seconds(600)));
    EXPECT_EQ(a.stack->tcp().connections(), 0u);
    EXPECT_EQ(b.stack->tcp().connections(), 0u);
    expect_no_leaks(a);
    expect_no_leaks(b);
    const FaultPort::FaultCounters& f = a.fault->faults();
    faults += f.dropped.get() + f.duplicated.get() + f.reordered.get() + f.corrupted.get();
    for (Stack* s : {a.stack.get(), b.stack.get()}) {
      const StackCounters& k = s->counters();
      EXPECT_EQ(k.drop.no_buffer.get() + k.drop.tx_port_full.get(), 0u);
      EXPECT_EQ(k.drop.tcp_syn_queue_full.get() + k.drop.arp_unresolved.get(), 0u);
    }
  }
  EXPECT_GT(faults, 0u);
  EXPECT_GT(retransmits, 0u);
}

// ---- The demultiplexer, on a stack over the scripted port -------------------

// §3.10.7.1: "If the ACK bit is off, sequence number zero is used,
// <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>"; "If the ACK bit is on,
// <SEQ=SEG.ACK><CTL=RST>". The same for an ACK to a listener (§3.10.7.2).
TEST_F(TcpLayerDemuxTest, SegmentsToNoConnectionAreAnsweredWithRst) {
  listen(4);  // on kPort: only the ACK-bearing rows are sent there
  struct Row {
    uint16_t dport;
    uint8_t flags;
    uint32_t seq, ack;
    size_t payload;
    uint8_t rst_flags;
    uint32_t rst_seq, rst_ack;
  } rows[] = {
      {80, kTcpSyn, 1000, 0, 0, kTcpRst | kTcpAck, 0, 1001},
      {80, kTcpSyn, 0xffffffff, 0, 0, kTcpRst | kTcpAck, 0, 0},  // SEG.SEQ+1 wraps
      {80, kTcpSyn, 1000, 0, 10, kTcpRst | kTcpAck, 0, 1011},
      {80, kTcpSyn | kTcpFin, 1000, 0, 10, kTcpRst | kTcpAck, 0, 1012},
      {80, kTcpPsh, 7, 0, 5, kTcpRst | kTcpAck, 0, 12},
      {80, kTcpAck, 1000, 0xabcdef01, 0, kTcpRst, 0xabcdef01, 0},
      {80, kTcpAck | kTcpPsh | kTcpFin, 1000, 77, 100, kTcpRst, 77, 0},
      {80, kTcpSyn | kTcpAck, 1000, 5555, 0, kTcpRst, 5555, 0},
      {kPort.v, kTcpAck, 1000, 4242, 0, kTcpRst, 4242, 0},
      {kPort.v, kTcpSyn | kTcpAck, 1000, 4343, 0, kTcpRst, 4343, 0},
  };
  uint64_t n = 0;
  for (const Row& r : rows) {
    SCOPED_TRACE(::testing::Message() << "row " << n);
    feed(segment(1234, r.dport, r.seq, r.ack, r.flags), r.payload);
    const TcpHeader rst = only_segment_sent();
    EXPECT_EQ(rst.src_port, L4Port(r.dport));
    EXPECT_EQ(rst.dst_port, L4Port(1234));
    EXPECT_EQ(rst.flags, r.rst_flags);
    EXPECT_EQ(rst.seq, SeqNum{r.rst_seq});
    EXPECT_EQ(rst.ack, SeqNum{r.rst_ack});
    EXPECT_EQ(rst.window, 0);
    EXPECT_EQ(rst.options, TcpOptions{});
    ++n;
    EXPECT_EQ(c().drop.tcp_no_connection.get(), n);
    EXPECT_EQ(c().tcp_tx_resets.get(), n);
  }
  EXPECT_EQ(c().tcp_rx_segments.get(), n);
  EXPECT_EQ(s_.stack.tcp().connections(), 0u);
  EXPECT_EQ(accepted_, 0);
  EXPECT_TRUE(s_.pool_full());
}

TEST_F(TcpLayerDemuxTest, ResetsToNoConnectionAreDroppedSilently) {
  listen(4);
  feed(segment(1234, 80, 1000, 0, kTcpRst));
  feed(segment(1234, 80, 1000, 99, kTcpRst | kTcpAck));
  feed(segment(1234, kPort.v, 1000, 0, kTcpRst));
  feed(segment(1234, kPort.v, 1000, 0, kTcpRst | kTcpSyn));  // RST is checked first
  EXPECT_EQ(c().drop.tcp_rst_no_connection.get(), 4u);
  EXPECT_EQ(c().total_drops(), 4u);
  EXPECT_EQ(c().tcp_tx_resets.get(), 0u);
  EXPECT_EQ(c().tcp_passive_opens.get(), 0u);
  EXPECT_TRUE(s_.take_sent().empty());
  EXPECT_EQ(s_.stack.tcp().connections(), 0u);
}

// §3.10.7.2 (LISTEN), fourth: a segment with none of SYN, ACK and RST
// "should not be reached. Drop the segment and return." Linux drops it too
// (tcp_rcv_state_process). Only a closed port answers it with a reset.
TEST_F(TcpLayerDemuxTest, ListenerDropsSegmentsWithoutSynOrAck) {
  listen(4);
  feed(segment(1234, kPort.v, 1000, 0, kTcpFin));
  feed(segment(1234, kPort.v, 1000, 0, kTcpPsh), 20);
  EXPECT_TRUE(s_.take_sent().empty());
  EXPECT_EQ(c().drop.tcp_no_connection.get(), 2u);
  EXPECT_EQ(c().tcp_tx_resets.get(), 0u);
  EXPECT_EQ(s_.stack.tcp().connections(), 0u);
}

// Each bad segment is a SYN to a listener, so "nothing created" means something.
TEST_F(TcpLayerDemuxTest, BadSegmentsAreCountedAndNothingIsSentOrCreated) {
  listen(4);
  const auto good = tcp_bytes(kPeerIp, kOurIp, segment(1234, kPort.v, 1000, 0, kTcpSyn), {});
  ASSERT_EQ(good.size(), 24u);  // 20 + MSS
  IpFields f;
  f.protocol = kIpProtoTcp;
  auto edited = [&](auto edit) {
    auto v = good;
    edit(v);
    fix_tcp_checksum(v, kPeerIp, kOurIp);
    return ipv4_bytes(f, v);
  };
  auto checksum = ipv4_bytes(f, good);
  checksum[20 + 4] ^= std::byte{0x01};  // SEG.SEQ
  s_.feed_ip(checksum);
  EXPECT_EQ(c().drop.tcp_bad_checksum.get(), 1u);

  s_.feed_ip(edited([](auto& v) { v[12] = std::byte{0x40}; }));  // data offset 4
  s_.feed_ip(edited([](auto& v) { v[12] = std::byte{0x70}; }));  // 28 bytes of 24
  s_.feed_ip(ipv4_bytes(f, std::span(good).first(19)));          // no whole header
  EXPECT_EQ(c().drop.tcp_malformed.get(), 3u);

  s_.feed_ip(edited([](auto& v) { v[21] = std::byte{3}; }));  // MSS of length 3
  s_.feed_ip(edited([](auto& v) { v[21] = std::byte{0}; }));  // length 0
  s_.feed_ip(edited([](auto& v) {  // NOP NOP NOP, then a window scale past the end
    for (size_t i = 20; i < 23; ++i)
      v[i] = std::byte{kTcpOptNop};
    v[23] = std::byte{kTcpOptWindowScale};
  }));
  EXPECT_EQ(c().drop.tcp_bad_option.get(), 3u);

  for (Ipv4Address dst : {kSubnetBroadcast, Ipv4Address::broadcast()}) {
    IpFields bf = f;
    bf.dst = dst;
    s_.feed_ip(tcp_datagram(segment(1234, kPort.v, 1000, 0, kTcpSyn), {}, bf));
  }
  EXPECT_EQ(c().drop.tcp_broadcast.get(), 2u);

  EXPECT_EQ(c().total_drops(), 9u);
  EXPECT_EQ(c().tcp_rx_segments.get(), 0u);
  EXPECT_EQ(c().tcp_passive_opens.get(), 0u);
  EXPECT_EQ(s_.stack.tcp().connections(), 0u);
  EXPECT_TRUE(s_.take_sent().empty());
  EXPECT_TRUE(s_.pool_full());
}

TEST_F(TcpLayerNoCookiesTest, BacklogBoundsHandshakesInProgress) {
  listen(2);
  for (uint16_t port : {1001, 1002, 1003})
    feed(segment(port, kPort.v, 1000u * port, 0, kTcpSyn));
  auto sent = s_.take_sent();
  ASSERT_EQ(sent.size(), 2u);  // no SYN-ACK for the third
  std::vector<TcpHeader> synacks;
  for (const auto& p : sent) {
    auto t = tcp_of(*p);
    ASSERT_TRUE(t.has_value());
    synacks.push_back(*TcpHeader::from(*t));
    EXPECT_EQ(synacks.back().flags, kTcpSyn | kTcpAck);
    EXPECT_EQ(synacks.back().ack, SeqNum{1000u * synacks.back().dst_port.v + 1});
  }
  EXPECT_EQ(synacks[0].dst_port, L4Port(1001));
  EXPECT_EQ(synacks[1].dst_port, L4Port(1002));
  EXPECT_EQ(c().drop.tcp_syn_queue_full.get(), 1u);
  EXPECT_EQ(c().tcp_passive_opens.get(), 2u);
  EXPECT_EQ(s_.stack.tcp().connections(), 2u);

  // The first handshake completes: it leaves the backlog, and a new SYN fits.
  feed(segment(1001, kPort.v, 1001001, synacks[0].seq.v + 1, kTcpAck));
  EXPECT_EQ(accepted_, 1);
  EXPECT_EQ(c().tcp_accepted.get(), 1u);
  EXPECT_TRUE(s_.take_sent().empty());
  feed(segment(1004, kPort.v, 4000, 0, kTcpSyn));
  EXPECT_EQ(only_segment_sent().flags, kTcpSyn | kTcpAck);
  EXPECT_EQ(c().tcp_passive_opens.get(), 3u);
  EXPECT_EQ(c().drop.tcp_syn_queue_full.get(), 1u);
  EXPECT_EQ(s_.stack.tcp().connections(), 3u);
}

// unlisten(): handshakes in progress are reset, the port answers as closed,
// and it can be listened on again.
TEST_F(TcpLayerNoCookiesTest, UnlistenResetsHandshakesAndFreesThePort) {
  auto on_accept = [](void* a, TcpSocket&) { ++*static_cast<int*>(a); };
  auto l = s_.stack.tcp().listen(kPort, 4, on_accept, &accepted_);
  ASSERT_TRUE(l.ok());
  feed(segment(1001, kPort.v, 5000, 0, kTcpSyn));
  EXPECT_EQ(only_segment_sent().flags, kTcpSyn | kTcpAck);
  s_.stack.tcp().unlisten(*l);
  s_.stack.poll(s_.stack.now() + Duration::millis(2));  // the wheel frees the aborted socket
  EXPECT_EQ(only_segment_sent().flags & kTcpRst, kTcpRst);
  EXPECT_EQ(s_.stack.tcp().connections(), 0u);
  feed(segment(1002, kPort.v, 6000, 0, kTcpSyn));
  EXPECT_EQ(only_segment_sent().flags, kTcpRst | kTcpAck);
  ASSERT_TRUE(s_.stack.tcp().listen(kPort, 4, on_accept, &accepted_).ok());
  feed(segment(1003, kPort.v, 7000, 0, kTcpSyn));
  EXPECT_EQ(only_segment_sent().flags, kTcpSyn | kTcpAck);
  EXPECT_EQ(accepted_, 0);
}

}  // namespace
}  // namespace sn
