// The data path does not call the general allocator: once two stacks are up,
// ARP is resolved and the sockets are bound, a thousand pings (fragmented ones
// included) and a thousand UDP echoes run without one operator new.
//
// base/alloc_testing.h replaces the global operator new for the whole
// stack_test binary; it counts only while `Armed` is in scope. The first
// counted allocation's call stack is printed, to show where it came from.
#include <gtest/gtest.h>

#include <cstring>

#include "base/alloc_testing.h"
#include "stack/stack_testing.h"

namespace sn {
namespace {

using namespace sn::testing;

constexpr int kRounds = 1000;
constexpr size_t kPingSizes[] = {56, 4000, 1, 1472, 1473};
constexpr size_t kUdpSizes[] = {1, 512, 1473, 4000, 8000};

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

TEST(NoAllocTest, PingsAndUdpEchoesDoNotAllocateAfterWarmUp) {
  Simulation sim;
  Simulation::Node& a = sim.add_node(sim_node(1));
  Simulation::Node& b = sim.add_node(sim_node(2));
  UdpEcho echo(*b.stack, L4Port(7));
  UdpSocket* sock = *a.stack->udp().bind(Ipv4Address::any(), L4Port(0));
  Client client;
  client.scratch.resize(65536);
  client.expect.reserve(65536);
  a.stack->icmp().set_echo_reply_handler(
      [](void* arg, const Ipv4Meta&, const Packet& m) {
        auto* c = static_cast<Client*>(arg);
        ++c->pings;
        c->bad += !c->same(m, 8);
      },
      &client);
  sock->set_on_readable(
      [](void* arg, UdpSocket& s) {
        auto* c = static_cast<Client*>(arg);
        while (auto d = s.recv()) {
          ++c->udp;
          c->bad += !c->same(*d->data, 0);
        }
      },
      &client);
  std::vector<std::vector<std::byte>> ping_data, udp_data;
  for (size_t i = 0; i < std::size(kPingSizes); ++i)
    ping_data.push_back(pattern(kPingSizes[i], i));
  for (size_t i = 0; i < std::size(kUdpSizes); ++i)
    udp_data.push_back(pattern(kUdpSizes[i], 100 + i));

  auto ping = [&](int i) {
    const auto& d = ping_data[i % ping_data.size()];
    client.expect.assign(d.begin(), d.end());  // within the reserved capacity
    const uint64_t want = client.pings + 1;
    if (!a.stack->icmp().send_echo_request(kServerIp, 1, static_cast<uint16_t>(i), d)) return false;
    return sim.run_until([&] { return client.pings == want; }, Duration::seconds(1));
  };
  auto udp = [&](int i) {
    const auto& d = udp_data[i % udp_data.size()];
    client.expect.assign(d.begin(), d.end());
    const uint64_t want = client.udp + 1;
    if (!sock->send_to(kServerIp, L4Port(7), d)) return false;
    return sim.run_until([&] { return client.udp == want; }, Duration::seconds(1));
  };

  // Warm-up: ARP, and every size once.
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(ping(i));
    ASSERT_TRUE(udp(i));
  }
  const uint64_t pings0 = client.pings, udp0 = client.udp;
  int failed = 0;
  uint64_t allocs = 0;
  {
    Armed armed;
    for (int i = 0; i < kRounds; ++i)
      failed += !ping(i);
    for (int i = 0; i < kRounds; ++i)
      failed += !udp(i);
    allocs = armed.count();
  }
  if (allocs > 0) {
    std::fprintf(stderr, "the first allocation on the data path came from:\n");
    print_first_allocation();
  }
  EXPECT_EQ(allocs, 0u);
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(client.pings - pings0, static_cast<uint64_t>(kRounds));
  EXPECT_EQ(client.udp - udp0, static_cast<uint64_t>(kRounds));
  EXPECT_EQ(client.bad, 0u);
  EXPECT_EQ(echo.echoed, static_cast<uint64_t>(kRounds + 10));
  EXPECT_EQ(a.stack->counters().total_drops() + b.stack->counters().total_drops(), 0u);
  // The counting itself works: an allocation while armed is seen.
  uint64_t seen = 0;
  {
    Armed armed;
    void* p = ::operator new(16);  // a call, not a new-expression: never elided
    ::operator delete(p);
    seen = armed.count();
  }
  EXPECT_EQ(seen, 1u);
}

}  // namespace
}  // namespace sn
