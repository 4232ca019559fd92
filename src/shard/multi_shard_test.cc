// The multi-shard engine in one thread on virtual time: a ShardGroup of N
// stacks behind one address on the in-memory wire, its port split into N
// receive queues the way a multi-queue TAP is (round robin, so most frames
// land on the wrong shard), and a plain stack as the Linux-like peer. The
// expectations are exact: which shard owns what, forwarding, fragments
// meeting on one shard, replicated listeners, active opens coming home.
#include "shard/shard.h"

#include <gtest/gtest.h>

#include <map>

#include "port/queue_split.h"
#include "stack/stack_testing.h"

namespace sn {
namespace {

using namespace sn::testing;

constexpr L4Port kEchoPort{7};
const Ipv4Address kEngineIp = ip(2);
const Ipv4Address kPeerAddr = ip(1);

// Echoes every connection on one shard and remembers which tuples it served.
struct ShardEcho {
  struct Conn {
    ShardEcho* owner;
    TcpSocket* sock;
    std::vector<std::byte> pending;
    bool closed = false;
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
        closed = true;
        sock->close();
      }
    }
  };
  static void accept(void* a, TcpSocket& s) {
    auto* e = static_cast<ShardEcho*>(a);
    e->served.push_back(s.remote_port().v);
    e->conns.push_back(std::make_unique<Conn>(Conn{e, &s, {}}));
    Conn* c = e->conns.back().get();
    s.set_on_event([](void* a, TcpSocket&) { static_cast<Conn*>(a)->pump(); }, c);
    c->pump();
  }
  std::vector<uint16_t> served;  // remote ports
  std::vector<std::unique_ptr<Conn>> conns;
};

// A client connection: writes `out`, reads it back, closes.
struct Client {
  Client(TcpSocket& s, std::vector<std::byte> data) : sock(&s), out(std::move(data)) {
    s.set_on_event([](void* a, TcpSocket&) { static_cast<Client*>(a)->pump(); }, this);
    pump();
  }
  void pump() {
    if (done) return;
    while (sent < out.size()) {
      const uint32_t w = sock->write(std::span(out).subspan(sent));
      if (w == 0) break;
      sent += w;
    }
    std::array<std::byte, 8192> buf;
    while (uint32_t r = sock->read(buf))
      in.insert(in.end(), buf.begin(), buf.begin() + r);
    if (in.size() == out.size() || sock->state() == TcpState::kClosed) {
      done = true;
      error = sock->error();
      sock->close();
    }
  }
  TcpSocket* sock;
  std::vector<std::byte> out, in;
  size_t sent = 0;
  bool done = false;
  TcpError error = TcpError::kNone;
};

bool all_done(const std::vector<std::unique_ptr<Client>>& clients) {
  for (const auto& c : clients)
    if (!c->done) return false;
  return true;
}

class MultiShard : public ::testing::TestWithParam<uint32_t> {
 protected:
  void build(uint32_t shards, QueueSplitter::Spread spread = QueueSplitter::Spread::kRoundRobin,
             uint32_t ring_size = 1024) {
    ShardGroupConfig cfg;
    cfg.shards = shards;
    cfg.pool = PoolConfig{.count = 4096};
    cfg.ring_size = ring_size;
    for (uint8_t i = 0; i < 16; ++i)
      cfg.stack.tcp.isn_secret[i] = i;
    group_ = std::make_unique<ShardGroup>(cfg, sim_.now());
    engine_port_ = &sim_.wire().attach(mac(2), 1500);
    split_ = std::make_unique<QueueSplitter>(*engine_port_, shards, spread);
    for (uint32_t i = 0; i < shards; ++i)
      group_->shard(i).stack().add_interface(split_->queue(i), Ipv4Prefix{kEngineIp, 24});
    group_->start(sim_.now());
    sim_.add_actor(*group_);
    echoes_.resize(shards);
    for (uint32_t i = 0; i < shards; ++i)
      ASSERT_TRUE(group_->shard(i)
                      .stack()
                      .tcp()
                      .listen(kEchoPort, 64, &ShardEcho::accept, &echoes_[i])
                      .ok());
  }
  uint64_t total(auto field) const {
    uint64_t n = 0;
    for (uint32_t i = 0; i < group_->size(); ++i)
      n += field(group_->shard(i).counters());
    return n;
  }

  Simulation sim_;
  Simulation::Node& peer_ = sim_.add_node(sim_node(1));
  std::unique_ptr<ShardGroup> group_;
  MemPort* engine_port_ = nullptr;
  std::unique_ptr<QueueSplitter> split_;
  std::vector<ShardEcho> echoes_;
};

// Connections from the peer are each accepted by the shard their 4-tuple
// hashes to (the replicated listener), echo byte-exact, and never move.
TEST_P(MultiShard, ConnectionsLandOnTheirOwnersAndEcho) {
  const uint32_t n = GetParam();
  build(n);
  constexpr int kConns = 40;
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < kConns; ++i) {
    auto s = peer_.stack->tcp().connect(kEngineIp, kEchoPort);
    ASSERT_TRUE(s.ok());
    clients.push_back(std::make_unique<Client>(**s, pattern(20'000 + 1000 * i, i)));
  }
  ASSERT_TRUE(sim_.run_until([&] { return all_done(clients); }, Duration::seconds(60)));
  for (auto& c : clients) {
    EXPECT_EQ(c->error, TcpError::kNone);
    EXPECT_TRUE(c->in == c->out);
  }
  size_t served = 0;
  for (uint32_t s = 0; s < n; ++s) {
    for (uint16_t rport : echoes_[s].served) {
      EXPECT_EQ(group_->dispatcher().shard_of_tuple(kIpProtoTcp, kPeerAddr, L4Port(rport),
                                                    kEngineIp, kEchoPort),
                s)
          << "port " << rport;
    }
    served += echoes_[s].served.size();
    if (n > 1) {
      EXPECT_GT(echoes_[s].served.size(), 0u) << "shard " << s;
    }
    // The connection never moved: each shard's stack accepted exactly what
    // its listener served.
    EXPECT_EQ(group_->shard(s).stack().counters().tcp_accepted.get(), echoes_[s].served.size());
  }
  EXPECT_EQ(served, size_t{kConns});
  if (n > 1) {
    EXPECT_GT(total([](const ShardCounters& c) { return c.frames_forwarded.get(); }), 0u);
  }
  EXPECT_EQ(total([](const ShardCounters& c) { return c.frames_forwarded.get(); }),
            total([](const ShardCounters& c) { return c.frames_received.get(); }));
  EXPECT_EQ(total([](const ShardCounters& c) { return c.ring_full.get(); }), 0u);
}

// Fragments of one datagram meet on the shard their (src, dst, protocol, id)
// hash to; the reassembled datagram goes on to its UDP owner, which echoes it.
TEST_P(MultiShard, FragmentsMeetThenGoToTheirOwner) {
  const uint32_t n = GetParam();
  build(n);
  std::vector<std::unique_ptr<UdpEcho>> echo;
  for (uint32_t i = 0; i < n; ++i)
    echo.push_back(std::make_unique<UdpEcho>(group_->shard(i).stack(), L4Port(9)));
  UdpSocket* sock = *peer_.stack->udp().bind(Ipv4Address::any(), L4Port(4000));
  std::vector<std::vector<std::byte>> got;
  sock->set_on_readable(
      [](void* a, UdpSocket& s) {
        while (auto d = s.recv()) {
          std::vector<std::byte> v(d->data->chain_size());
          chain_copy_out(*d->data, 0, v);
          static_cast<std::vector<std::vector<std::byte>>*>(a)->push_back(std::move(v));
        }
      },
      &got);
  constexpr int kDatagrams = 30;
  for (int i = 0; i < kDatagrams; ++i) {
    ASSERT_TRUE(sock->send_to(kEngineIp, L4Port(9), pattern(3000 + 10 * i, i)).ok());
    sim_.run_for(Duration::millis(1));
  }
  ASSERT_TRUE(sim_.run_until([&] { return got.size() == kDatagrams; }));
  for (int i = 0; i < kDatagrams; ++i)
    EXPECT_TRUE(got[i] == pattern(3000 + 10 * i, i)) << i;
  uint64_t echoed = 0;
  for (uint32_t i = 0; i < n; ++i) {
    echoed += echo[i]->echoed;
    EXPECT_EQ(group_->shard(i).stack().ipv4().reassembler().in_flight(), 0u);
  }
  EXPECT_EQ(echoed, uint64_t{kDatagrams});
  if (n > 1) {
    // Different IP ids spread the datagrams' reassembly over the shards, but
    // one port pair has one owner: most datagrams were handed on.
    EXPECT_GT(total([](const ShardCounters& c) { return c.datagrams_forwarded.get(); }), 0u);
    EXPECT_EQ(echo[group_->dispatcher().shard_of_tuple(kIpProtoUdp, kPeerAddr, L4Port(4000),
                                                       kEngineIp, L4Port(9))]
                  ->echoed,
              uint64_t{kDatagrams});
  }
}

// An active open from each shard picks a port that brings the replies back
// to it (and ARP answers that land elsewhere are shared).
TEST_P(MultiShard, ActiveOpensComeHome) {
  const uint32_t n = GetParam();
  build(n);
  ShardEcho peer_echo;
  ASSERT_TRUE(peer_.stack->tcp().listen(L4Port(5000), 64, &ShardEcho::accept, &peer_echo).ok());
  std::vector<std::unique_ptr<Client>> clients;
  for (uint32_t s = 0; s < n; ++s) {
    for (int k = 0; k < 3; ++k) {
      auto sock = group_->shard(s).stack().tcp().connect(kPeerAddr, L4Port(5000));
      ASSERT_TRUE(sock.ok()) << sock.error().message;
      EXPECT_EQ(group_->dispatcher().shard_of_tuple(kIpProtoTcp, kPeerAddr, L4Port(5000), kEngineIp,
                                                    (*sock)->local_port()),
                s);
      clients.push_back(std::make_unique<Client>(**sock, pattern(50'000, s * 10 + k)));
    }
  }
  ASSERT_TRUE(sim_.run_until([&] { return all_done(clients); }, Duration::seconds(60)));
  for (auto& c : clients)
    EXPECT_TRUE(c->in == c->out);
  for (uint32_t s = 0; s < n; ++s)
    EXPECT_EQ(group_->shard(s).stack().counters().tcp_active_opens.get(), 3u);
  if (n > 1) {
    EXPECT_GT(total([](const ShardCounters& c) { return c.arp_updates_received.get(); }), 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(Shards, MultiShard, ::testing::Values(1u, 2u, 4u),
                         [](const auto& info) { return std::to_string(info.param) + "shards"; });

// A ring that is full drops the message, counts it, and TCP recovers.
TEST(MultiShardRing, FullRingIsCountedAndTcpRecovers) {
  Simulation sim;
  Simulation::Node& peer = sim.add_node(sim_node(1));
  ShardGroupConfig cfg;
  cfg.shards = 2;
  cfg.ring_size = 2;
  ShardGroup group(cfg, sim.now());
  MemPort& port = sim.wire().attach(mac(2), 1500);
  QueueSplitter split(port, 2, QueueSplitter::Spread::kFirst);  // shard 0 takes everything in
  for (uint32_t i = 0; i < 2; ++i)
    group.shard(i).stack().add_interface(split.queue(i), Ipv4Prefix{kEngineIp, 24});
  group.start(sim.now());
  sim.add_actor(group);
  std::vector<ShardEcho> echoes(2);
  for (uint32_t i = 0; i < 2; ++i)
    ASSERT_TRUE(
        group.shard(i).stack().tcp().listen(kEchoPort, 64, &ShardEcho::accept, &echoes[i]).ok());
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 8; ++i)
    clients.push_back(std::make_unique<Client>(**peer.stack->tcp().connect(kEngineIp, kEchoPort),
                                               pattern(200'000, i)));
  ASSERT_TRUE(sim.run_until([&] { return all_done(clients); }, Duration::seconds(120)));
  for (auto& c : clients)
    EXPECT_TRUE(c->in == c->out);
  EXPECT_GT(group.shard(0).counters().ring_full.get(), 0u);
  EXPECT_GT(group.shard(0).counters().frames_forwarded.get(), 0u);
  EXPECT_EQ(group.shard(1).counters().frames_forwarded.get(), 0u);  // its queue gets nothing
}

}  // namespace
}  // namespace sn
