// The data path does not call the general allocator: once two stacks are up,
// ARP is resolved and the sockets are bound, a thousand pings (fragmented ones
// included) and a thousand UDP echoes run without one operator new.
//
// This file replaces the global operator new and delete for the whole
// stack_test binary with versions that forward to malloc and free; they count
// only while `Armed` is in scope, so the other tests are unaffected. When an
// allocation is counted, the first one's call stack is kept (without
// allocating) and printed by the test, to show where it came from.
#include <execinfo.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>

#include "stack/stack_testing.h"

namespace {

std::atomic<bool> g_armed{false};
std::atomic<uint64_t> g_allocs{0};
void* g_first_stack[32];
int g_first_depth = 0;

void note_alloc() {
  if (!g_armed.load(std::memory_order_relaxed)) return;
  if (g_allocs.fetch_add(1, std::memory_order_relaxed) == 0) {
    g_armed.store(false, std::memory_order_relaxed);  // backtrace() must not count itself
    g_first_depth = backtrace(g_first_stack, 32);
    g_armed.store(true, std::memory_order_relaxed);
  }
}

void* alloc_or_null(size_t n, size_t align) {
  note_alloc();
  if (n == 0) n = 1;
  if (align <= alignof(std::max_align_t)) return std::malloc(n);
  void* p = nullptr;
  return posix_memalign(&p, align, n) == 0 ? p : nullptr;
}

void* alloc_or_throw(size_t n, size_t align) {
  void* p = alloc_or_null(n, align);
  if (!p) throw std::bad_alloc();
  return p;
}

// Counts allocations while in scope.
class Armed {
 public:
  Armed() {
    g_allocs.store(0);
    g_first_depth = 0;
    g_armed.store(true);
  }
  ~Armed() { g_armed.store(false); }
  uint64_t count() const { return g_allocs.load(); }
};

}  // namespace

void* operator new(size_t n) {
  return alloc_or_throw(n, 0);
}
void* operator new[](size_t n) {
  return alloc_or_throw(n, 0);
}
void* operator new(size_t n, std::align_val_t a) {
  return alloc_or_throw(n, static_cast<size_t>(a));
}
void* operator new[](size_t n, std::align_val_t a) {
  return alloc_or_throw(n, static_cast<size_t>(a));
}
void* operator new(size_t n, const std::nothrow_t&) noexcept {
  return alloc_or_null(n, 0);
}
void* operator new[](size_t n, const std::nothrow_t&) noexcept {
  return alloc_or_null(n, 0);
}
void* operator new(size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return alloc_or_null(n, static_cast<size_t>(a));
}
void* operator new[](size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return alloc_or_null(n, static_cast<size_t>(a));
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, size_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete(void* p, size_t, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, size_t, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  std::free(p);
}

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
    backtrace_symbols_fd(g_first_stack, g_first_depth, STDERR_FILENO);
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
