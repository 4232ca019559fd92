// The load balancer (Fig. 12A/12B): UDP work for a port served on every
// shard leaves an owner whose input queue is long; TCP and fragments never
// do. First the decision alone, on rings filled by hand; then a whole group
// on the simulated wire with one shard held still, in one thread on virtual
// time, so every count is exact.
#include <gtest/gtest.h>

#include "port/queue_split.h"
#include "shard/shard.h"
#include "stack/stack_testing.h"

namespace sn {
namespace {

using namespace sn::testing;

const Ipv4Address kEngineIp = ip(2);
const Ipv4Address kPeerAddr = ip(1);
constexpr L4Port kServed{9};  // bound on every shard, marked replicated

// A UDP source port of the peer whose datagrams to kEngineIp:dport go to `shard`.
uint16_t port_owned_by(const Dispatcher& d, uint32_t shard, L4Port dport, uint8_t proto) {
  for (uint16_t p = 20000;; ++p)
    if (d.shard_of_tuple(proto, kPeerAddr, L4Port(p), kEngineIp, dport) == shard) return p;
}

IpFields from_peer(uint16_t id = 0x1234) {
  IpFields f;
  f.src = kPeerAddr;
  f.dst = kEngineIp;
  f.id = id;
  return f;
}

ShardMessage filler() {
  ShardMessage m;
  m.kind = ShardMessage::Kind::kArpLearn;
  m.ip = kPeerAddr;
  m.mac = mac(1);
  return m;
}

void fill(SpscRing<ShardMessage>& r, uint32_t n) {
  for (uint32_t i = 0; i < n; ++i)
    ASSERT_TRUE(r.push(filler()));
}

// A group of shards on the wire, every frame arriving on shard 0's queue.
struct Group {
  explicit Group(uint32_t shards, uint32_t threshold) {
    ShardGroupConfig cfg;
    cfg.shards = shards;
    cfg.pool = PoolConfig{.count = 2048};
    cfg.balance_threshold = threshold;
    group = std::make_unique<ShardGroup>(cfg, sim.now());
    port = &sim.wire().attach(mac(2), 1500);
    split = std::make_unique<QueueSplitter>(*port, shards, QueueSplitter::Spread::kFirst);
    for (uint32_t i = 0; i < shards; ++i) {
      group->shard(i).stack().add_interface(split->queue(i), Ipv4Prefix{kEngineIp, 24});
      echo.push_back(std::make_unique<UdpEcho>(group->shard(i).stack(), kServed));
    }
    group->set_udp_replicated(kServed, true);
  }
  PacketPtr udp_frame(uint16_t sport, L4Port dport) {
    return eth_frame(group->shard(0).pool(), mac(2), mac(1), kEtherTypeIpv4,
                     udp_datagram(sport, dport.v, pattern(64, sport), from_peer()));
  }
  Simulation sim;
  std::unique_ptr<ShardGroup> group;
  MemPort* port = nullptr;
  std::unique_ptr<QueueSplitter> split;
  std::vector<std::unique_ptr<UdpEcho>> echo;
};

TEST(Balancer, MovesUdpToTheLeastLoadedShardOnlyWhenTheOwnerIsBehind) {
  Group g(4, /*threshold=*/16);
  ShardGroup& group = *g.group;
  Shard& s0 = group.shard(0);
  const Dispatcher& d = group.dispatcher();
  const uint16_t sport = port_owned_by(d, 1, kServed, kIpProtoUdp);
  auto steer = [&](PacketPtr f) {
    EXPECT_TRUE(s0.steer_frame(f));  // handed to another shard
  };

  // Under the threshold: the owner gets it.
  fill(group.ring(3, 1), 15);
  steer(g.udp_frame(sport, kServed));
  EXPECT_EQ(group.ring(0, 1).size(), 1u);
  EXPECT_EQ(group.queue_depth(1), 16u);
  EXPECT_EQ(s0.counters().balanced.get(), 0u);

  // At it: the least loaded shard, ties to the lowest index (shard 0 has 10
  // waiting, shards 2 and 3 none).
  fill(group.ring(2, 0), 10);
  steer(g.udp_frame(sport, kServed));
  EXPECT_EQ(group.ring(0, 2).size(), 1u);
  EXPECT_EQ(group.ring(0, 1).size(), 1u);
  EXPECT_EQ(s0.counters().balanced.get(), 1u);

  // TCP never leaves its shard; nor does a port that is not served on every
  // shard, nor a fragment (its pieces must meet).
  TcpHeader syn;
  syn.src_port = L4Port(port_owned_by(d, 1, kServed, kIpProtoTcp));
  syn.dst_port = kServed;
  syn.flags = kTcpSyn;
  steer(eth_frame(s0.pool(), mac(2), mac(1), kEtherTypeIpv4, tcp_datagram(syn, {}, from_peer())));
  EXPECT_EQ(group.ring(0, 1).size(), 2u);
  steer(g.udp_frame(port_owned_by(d, 1, L4Port(10), kIpProtoUdp), L4Port(10)));
  EXPECT_EQ(group.ring(0, 1).size(), 3u);
  const auto whole = udp_bytes(kPeerAddr, kEngineIp, sport, kServed.v, pattern(64, 1));
  for (uint16_t id = 0;; ++id) {
    IpFields f = from_peer(id);
    PacketPtr frag = ip_frame(s0.pool(), fragment(f, whole, 0, 16));
    if (d.shard_of_frame(frag->bytes()) != 1) continue;
    steer(std::move(frag));
    break;
  }
  EXPECT_EQ(group.ring(0, 1).size(), 4u);
  EXPECT_EQ(s0.counters().balanced.get(), 1u);

  // Nowhere at least twice as free as the owner: it stays with the owner.
  fill(group.ring(1, 2), 9);
  fill(group.ring(1, 3), 10);
  ASSERT_EQ(group.queue_depth(1), 19u);
  ASSERT_EQ(group.queue_depth(2), 10u);
  steer(g.udp_frame(sport, kServed));
  EXPECT_EQ(group.ring(0, 1).size(), 5u);
  EXPECT_EQ(s0.counters().balanced.get(), 1u);

  // The datagram moved to shard 2 is served there, by its own socket on kServed.
  ShardMessage m;
  while (group.ring(1, 2).pop(m)) {
  }
  group.shard(2).poll(g.sim.now());
  EXPECT_EQ(g.echo[2]->echoed, 1u);
  EXPECT_EQ(group.shard(2).counters().frames_received.get(), 1u);
}

TEST(Balancer, OffWhenTheThresholdIsZero) {
  Group g(2, /*threshold=*/0);
  fill(g.group->ring(1, 0), 0);
  fill(g.group->ring(0, 1), 100);
  PacketPtr f = g.udp_frame(port_owned_by(g.group->dispatcher(), 1, kServed, kIpProtoUdp), kServed);
  EXPECT_TRUE(g.group->shard(0).steer_frame(f));
  EXPECT_EQ(g.group->ring(0, 1).size(), 101u);
  EXPECT_EQ(g.group->shard(0).counters().balanced.get(), 0u);
}

// Polls every shard of a group but the held ones.
class Holding final : public SimActor {
 public:
  explicit Holding(ShardGroup& g) : g_(g) {}
  size_t poll(Instant now) override {
    size_t work = 0;
    for (uint32_t i = 0; i < g_.size(); ++i)
      if (i != held) work += g_.shard(i).poll(now);
    return work;
  }
  Instant next_event() const override {
    Instant next = Instant::never();
    for (uint32_t i = 0; i < g_.size(); ++i)
      if (i != held) next = std::min(next, g_.shard(i).next_event());
    return next;
  }
  uint32_t held = kAnyShard;

 private:
  ShardGroup& g_;
};

class BalancerSim : public ::testing::TestWithParam<uint32_t> {};

// Shard 1 stops polling; all frames arrive on shard 0. Shard 1's datagrams
// queue for it until its queue reaches the threshold, then shard 0 serves
// them itself (no shard has a shorter queue than its own). Its TCP waits.
// When shard 1 runs again it serves what waited, and everything is answered.
TEST_P(BalancerSim, UdpLeavesAStalledShardAndTcpWaitsForIt) {
  constexpr uint32_t kThreshold = 8;
  constexpr uint32_t kDatagrams = 40;
  Group g(GetParam(), kThreshold);
  ShardGroup& group = *g.group;
  Simulation::Node& peer = g.sim.add_node(sim_node(1));
  Holding actor(group);
  g.sim.add_actor(actor);
  group.start(g.sim.now());
  for (uint32_t i = 0; i < group.size(); ++i)
    ASSERT_TRUE(group.shard(i)
                    .stack()
                    .tcp()
                    .listen(
                        L4Port(80), 64, [](void*, TcpSocket&) {}, nullptr)
                    .ok());

  const uint16_t sport = port_owned_by(group.dispatcher(), 1, kServed, kIpProtoUdp);
  UdpSocket* sock = *peer.stack->udp().bind(Ipv4Address::any(), L4Port(sport));
  uint64_t answers = 0;
  sock->set_on_readable(
      [](void* a, UdpSocket& s) {
        while (s.recv())
          ++*static_cast<uint64_t*>(a);
      },
      &answers);
  // Warm up: ARP on both sides, every shard told of the peer.
  ASSERT_TRUE(sock->send_to(kEngineIp, kServed, pattern(64, 0)).ok());
  ASSERT_TRUE(g.sim.run_until([&] { return answers == 1; }));
  g.sim.run_for(Duration::millis(10));
  for (uint32_t i = 0; i < group.size(); ++i)
    ASSERT_EQ(group.queue_depth(i), 0u);
  const uint64_t forwarded_before = group.shard(0).counters().frames_forwarded.get();

  actor.held = 1;
  for (uint32_t i = 0; i < kDatagrams; ++i) {
    ASSERT_TRUE(sock->send_to(kEngineIp, kServed, pattern(64, i + 1)).ok());
    g.sim.run_for(Duration::micros(100));
  }
  std::vector<TcpSocket*> conns;
  for (int i = 0; i < 10; ++i)
    conns.push_back(*peer.stack->tcp().connect(kEngineIp, L4Port(80)));
  g.sim.run_for(Duration::millis(50));
  uint32_t tcp_for_1 = 0;
  for (TcpSocket* c : conns) {
    if (group.dispatcher().shard_of_tuple(kIpProtoTcp, kPeerAddr, c->local_port(), kEngineIp,
                                          L4Port(80)) == 1) {
      ++tcp_for_1;
      EXPECT_EQ(c->state(), TcpState::kSynSent);
    } else {
      EXPECT_EQ(c->state(), TcpState::kEstablished);
    }
  }
  ASSERT_GT(tcp_for_1, 0u);
  const ShardCounters& c0 = group.shard(0).counters();
  EXPECT_EQ(answers, 1 + kDatagrams - kThreshold);
  EXPECT_EQ(c0.balanced.get(), kDatagrams - kThreshold);
  EXPECT_EQ(g.echo[0]->echoed, kDatagrams - kThreshold);
  // The SYNs for shard 1 (one each, their retransmissions later) queue too.
  EXPECT_GE(c0.frames_forwarded.get() - forwarded_before, kThreshold + tcp_for_1);
  EXPECT_GE(group.queue_depth(1), kThreshold + tcp_for_1);

  actor.held = kAnyShard;
  ASSERT_TRUE(g.sim.run_until([&] { return answers == 1 + kDatagrams; }));
  ASSERT_TRUE(g.sim.run_until([&] {
    for (TcpSocket* c : conns)
      if (c->state() != TcpState::kEstablished) return false;
    return true;
  }));
  EXPECT_EQ(g.echo[1]->echoed, 1 + kThreshold);
  g.sim.run_for(Duration::millis(10));  // the handshakes' last ACKs
  EXPECT_EQ(group.shard(1).stack().counters().tcp_accepted.get(), tcp_for_1);
  EXPECT_EQ(c0.balanced.get(), kDatagrams - kThreshold);
  for (uint32_t i = 0; i < group.size(); ++i)
    EXPECT_EQ(group.shard(i).counters().ring_full.get(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Shards, BalancerSim, ::testing::Values(2u, 4u),
                         [](const auto& info) { return std::to_string(info.param) + "shards"; });

}  // namespace
}  // namespace sn
