// Benchmarks of the host interface (src/host, src/engine/socket_module), and a
// driver for instruction counts: what it costs an application to reach the
// stack through a region's queues instead of running inside the shard.
//
//   BM_QueueRoundTrip  the bare queues of one shard of a region, both sides
//       played by this thread: the host takes a free inbound frame (in_free),
//       writes a command (a 32-byte FrameHeader and 64 bytes of payload) and
//       posts it (in_post); the "shard" takes it, copies the header and the
//       payload out, fills one of its outbound frames with a 64-byte event and
//       posts it (out_post), and returns the inbound frame (in_free); the host
//       takes the event, copies it out and returns the frame (out_free); the
//       shard takes it back. One round trip per item: the per-message cost of
//       crossing the queues both ways, without the socket module's checks or
//       any wake-up (no eventfd, no fence).
//   BM_RpcEmbedded  a 64-byte request and its 64-byte answer over one
//       persistent TCP connection between two stacks on the simulated wire
//       (Simulation, virtual time): the client writes 64 bytes and the
//       simulation runs until it has read 64 back. The server is the tcp-echo
//       service running inside the server's stack (embedded mode).
//   BM_RpcHost  the same, but the server is the socket module on the server's
//       stack (ModuleActor) and a host played in-process (TestHost) that
//       listens (kListen), takes kAccepted, and answers each kData with a
//       kSend of the same bytes, returning the event frames as TestHost does.
//
// Each reports items/s, an item being a round trip (queue) or an RPC; the RPC
// paths also report the simulation's rounds per RPC. The RPC paths count the
// client's stack and the wire too: only the difference between the two (the
// host interface's cost per RPC, extra simulation rounds included) is worth
// reporting.
//
// `host_bench --ops N --path queue-rtt|rpc-embedded|rpc-host` skips the
// benchmarks and runs the same code as the benchmark of that path for N
// items inside run_ops(), after a warm-up (1000 items), so that
// `valgrind --tool=callgrind --toggle-collect='*run_ops*'` counts the
// instructions of the measured loop and nothing of the setup (see
// bench/callgrind-host). It prints how many it did.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/check.h"
#include "engine/services.h"
#include "engine/socket_module_testing.h"
#include "host/protocol.h"
#include "host/region.h"
#include "host/shm_ring.h"
#include "stack/sim.h"
#include "stack/stack.h"

namespace sn::bench {
namespace {

using host::Command;
using host::Event;
using host::FrameHeader;

constexpr uint32_t kMessageBytes = 64;  // a request, an answer, a queue message's payload
constexpr uint64_t kWarmUp = 1000;
constexpr L4Port kEchoPort{7};

std::array<std::byte, kMessageBytes> message() {
  std::array<std::byte, kMessageBytes> m;
  for (size_t i = 0; i < m.size(); ++i)
    m[i] = static_cast<std::byte>(0x40 + i);
  return m;
}

// ---- The bare queues ------------------------------------------------------------

// Both ends of shard 0's four rings of a fresh one-shard region, the shard's
// ends set up as the socket module does at attach: every inbound frame in
// in_free, every outbound frame in its spare list.
class QueuePath {
 public:
  QueuePath() : layout_(host::RegionLayout::compute(host::RegionConfig{})), msg_(message()) {
    std::string why;
    auto r = host::Region::create(1, layout_, &why);
    if (!r.ok()) std::fprintf(stderr, "host_bench: region: %s\n", why.c_str());
    SN_CHECK(r.ok());
    region_ = std::move(*r);
    std::byte* b = region_.base();
    const host::ShardQueues& q = layout_.queues[0];
    const uint32_t cap = layout_.ring_capacity;
    host_in_free_ = ShmRingConsumer(b + q.in_free, cap);
    host_in_post_ = ShmRingProducer(b + q.in_post, cap);
    host_out_post_ = ShmRingConsumer(b + q.out_post, cap);
    host_out_free_ = ShmRingProducer(b + q.out_free, cap);
    shard_in_free_ = ShmRingProducer(b + q.in_free, cap);
    shard_in_post_ = ShmRingConsumer(b + q.in_post, cap);
    shard_out_post_ = ShmRingProducer(b + q.out_post, cap);
    shard_out_free_ = ShmRingConsumer(b + q.out_free, cap);
    const host::FrameSet in = layout_.in_frames(0);
    for (uint32_t i = 0; i < in.count; ++i)
      SN_CHECK(shard_in_free_.push(in.offset(i)));
    const host::FrameSet out = layout_.out_frames(0);
    spare_.reserve(out.count);
    for (uint32_t i = out.count; i-- > 0;)
      spare_.push_back(out.offset(i));
  }

  uint64_t step() {
    // Host: a command in a free inbound frame.
    uint32_t off;
    SN_CHECK(host_in_free_.pop(off));
    FrameHeader cmd{};
    cmd.kind = static_cast<uint16_t>(Command::kSend);
    cmd.length = kMessageBytes;
    cmd.handle = 1;
    std::memcpy(at(off), &cmd, sizeof(cmd));
    std::memcpy(at(off) + sizeof(cmd), msg_.data(), kMessageBytes);
    SN_CHECK(host_in_post_.push(off));

    // Shard: takes the command, answers with an event in one of its outbound
    // frames, and returns the inbound frame.
    uint32_t in;
    SN_CHECK(shard_in_post_.pop(in));
    FrameHeader got;
    std::memcpy(&got, at(in), sizeof(got));  // once: the host may change it meanwhile
    SN_CHECK(got.length == kMessageBytes);
    std::memcpy(shard_buf_.data(), at(in) + sizeof(got), kMessageBytes);
    const uint32_t out = spare_.back();
    spare_.pop_back();
    FrameHeader ev{};
    ev.kind = static_cast<uint16_t>(Event::kData);
    ev.length = kMessageBytes;
    ev.handle = got.handle;
    std::memcpy(at(out), &ev, sizeof(ev));
    std::memcpy(at(out) + sizeof(ev), shard_buf_.data(), kMessageBytes);
    SN_CHECK(shard_out_post_.push(out));
    SN_CHECK(shard_in_free_.push(in));

    // Host: takes the event, reads it, returns the frame.
    uint32_t ev_off;
    SN_CHECK(host_out_post_.pop(ev_off));
    FrameHeader h;
    std::memcpy(&h, at(ev_off), sizeof(h));
    SN_CHECK(h.length == kMessageBytes);
    std::memcpy(host_buf_.data(), at(ev_off) + sizeof(h), h.length);
    benchmark::DoNotOptimize(host_buf_.data());
    SN_CHECK(host_out_free_.push(ev_off));

    // Shard: takes the returned frame back.
    uint32_t back;
    SN_CHECK(shard_out_free_.pop(back));
    spare_.push_back(back);
    return 1;
  }
  uint64_t rounds() const { return 0; }

 private:
  std::byte* at(uint32_t offset) const { return region_.at(offset); }

  host::RegionLayout layout_;
  host::Region region_;
  ShmRingConsumer host_in_free_, host_out_post_;
  ShmRingProducer host_in_post_, host_out_free_;
  ShmRingProducer shard_in_free_, shard_out_post_;
  ShmRingConsumer shard_in_post_, shard_out_free_;
  std::vector<uint32_t> spare_;  // the shard's outbound frames
  std::array<std::byte, kMessageBytes> msg_;
  std::array<std::byte, kMessageBytes> shard_buf_{};
  std::array<std::byte, kMessageBytes> host_buf_{};
};

// ---- RPCs on the simulated wire ------------------------------------------------------

constexpr Ipv4Address kServerIp = Ipv4Address::from_octets(10, 0, 0, 2);

// As stack_testing.h's sim_node() (node 1 the client, 10.0.0.1; node 2 the
// server), without its gtest.
SimNodeConfig sim_node(uint8_t n) {
  SimNodeConfig c;
  c.address = Ipv4Prefix{Ipv4Address::from_octets(10, 0, 0, n), 24};
  c.mac = MacAddress{{0x02, 0, 0, 0, 0, n}};
  c.pool = PoolConfig{.count = 2048};
  c.seed = 100 + n;
  return c;
}

// Counts the simulation's rounds (it is polled once per round, last).
struct RoundCounter final : SimActor {
  size_t poll(Instant) override {
    ++rounds;
    return 0;
  }
  Instant next_event() const override { return Instant::never(); }
  uint64_t rounds = 0;
};

// The host's application: answers every kData with a kSend of its bytes, in
// frames as large as the region allows. TestHost::take() (in the module
// actor's poll, just before) has gathered the data by handle and returned the
// event frames.
struct EchoHost final : SimActor {
  explicit EchoHost(testing::TestHost& h) : host(h) {}
  size_t poll(Instant) override {
    size_t sends = 0;
    for (auto& [handle, bytes] : host.data) {
      size_t done = 0;
      while (done < bytes.size()) {
        const size_t n = std::min<size_t>(bytes.size() - done, host.layout.payload_max());
        if (!host.send(Command::kSend, handle, std::span(bytes).subspan(done, n))) break;
        done += n;
        ++sends;
      }
      bytes.erase(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(done));
    }
    host.events.clear();
    return sends;
  }
  Instant next_event() const override { return Instant::never(); }
  testing::TestHost& host;
};

// A client stack and a server stack on the simulated wire, and one connection
// from the client to the server's port 7. Each step is one RPC: the client
// writes 64 bytes, and the simulation runs until it has read 64 back.
class RpcPath {
 public:
  uint64_t step() {
    target_ += kMessageBytes;
    SN_CHECK(client_->write(request_) == kMessageBytes);
    SN_CHECK(sim_.run_until([&] { return read_ >= target_; }));
    return 1;
  }
  uint64_t rounds() const { return rounds_.rounds; }

 protected:
  RpcPath()
      : request_(message()),
        client_node_(sim_.add_node(sim_node(1))),
        server_node_(sim_.add_node(sim_node(2))) {}

  Stack& server_stack() { return *server_node_.stack; }

  // Connects, runs until `ready()` holds as well, then checks one RPC's answer.
  template <typename F>
  void connect(F ready) {
    auto c = client_node_.stack->tcp().connect(kServerIp, kEchoPort);
    SN_CHECK(c.ok());
    client_ = *c;
    client_->set_on_event([](void* a, TcpSocket& s) { static_cast<RpcPath*>(a)->drain(s); }, this);
    SN_CHECK(sim_.run_until([&] { return client_->state() == TcpState::kEstablished && ready(); }));
    sim_.add_actor(rounds_);
    step();
    SN_CHECK(last_ == request_);
  }

  Simulation sim_;  // first: the members below refer to its nodes

 private:
  void drain(TcpSocket& s) {
    while (const uint32_t n = s.read(in_)) {
      std::memcpy(last_.data(), in_.data() + n - std::min(n, kMessageBytes),
                  std::min(n, kMessageBytes));
      read_ += n;
    }
  }

  const std::array<std::byte, kMessageBytes> request_;
  Simulation::Node& client_node_;
  Simulation::Node& server_node_;
  TcpSocket* client_ = nullptr;
  std::array<std::byte, 4096> in_{};
  std::array<std::byte, kMessageBytes> last_{};  // the last bytes read
  uint64_t target_ = 0, read_ = 0;
  RoundCounter rounds_;
};

// The server is the embedded tcp-echo service.
class RpcEmbeddedPath : public RpcPath {
 public:
  RpcEmbeddedPath() {
    auto s = start_service(server_stack(), ServiceSpec{"tcp-echo", kEchoPort, ""});
    SN_CHECK(s.ok());
    service_ = std::move(*s);
    connect([] { return true; });
  }

 private:
  std::unique_ptr<Service> service_;
};

// The server is an application behind the socket module.
class RpcHostPath : public RpcPath {
 public:
  RpcHostPath() : module_(server_stack()), echo_(host_) {
    sim_.add_actor(module_);
    module_.attach(host_);
    SN_CHECK(host_.send(Command::kListen, 0, {}, 0, kEchoPort.v, /*user=*/1, /*arg=*/16));
    SN_CHECK(sim_.run_until([&] { return host_.find(Event::kListening).has_value(); }));
    SN_CHECK(host_.find(Event::kListening)->status == 0);
    // The echo starts once the connection is accepted (it clears the events).
    connect([&] {
      if (!host_.find(Event::kAccepted)) return false;
      sim_.add_actor(echo_);
      return true;
    });
    SN_CHECK(module_.violations.empty());
  }

 private:
  testing::TestHost host_{1};
  testing::ModuleActor module_;
  EchoHost echo_;
};

// ---- The measured loops ------------------------------------------------------------

template <typename Path>
void warm_up(Path& p) {
  for (uint64_t n = 0; n < kWarmUp;)
    n += p.step();
}

// The measured loop of the driver mode: the only code callgrind counts.
template <typename Path>
[[gnu::noinline]] uint64_t run_ops(Path& p, uint64_t ops) {
  uint64_t n = 0;
  while (n < ops)
    n += p.step();
  return n;
}

template <typename Path>
void run_benchmark(benchmark::State& state) {
  Path p;
  warm_up(p);
  const uint64_t rounds_before = p.rounds();
  uint64_t items = 0;
  for (auto _ : state)
    items += p.step();
  state.SetItemsProcessed(static_cast<int64_t>(items));
  if (const uint64_t rounds = p.rounds() - rounds_before; rounds > 0)
    state.counters["rounds/op"] = static_cast<double>(rounds) / static_cast<double>(items);
}

void BM_QueueRoundTrip(benchmark::State& state) {
  run_benchmark<QueuePath>(state);
}
void BM_RpcEmbedded(benchmark::State& state) {
  run_benchmark<RpcEmbeddedPath>(state);
}
void BM_RpcHost(benchmark::State& state) {
  run_benchmark<RpcHostPath>(state);
}
BENCHMARK(BM_QueueRoundTrip);
BENCHMARK(BM_RpcEmbedded);
BENCHMARK(BM_RpcHost);

// ---- The driver ----------------------------------------------------------------------

template <typename Path>
int drive(uint64_t ops, std::string_view name) {
  Path p;
  warm_up(p);
  const uint64_t done = run_ops(p, ops);
  std::printf("path %.*s ops %llu\n", static_cast<int>(name.size()), name.data(),
              static_cast<unsigned long long>(done));
  return 0;
}

int usage() {
  std::fprintf(stderr,
               "usage: host_bench [benchmark flags]\n"
               "       host_bench --ops N --path queue-rtt|rpc-embedded|rpc-host\n");
  return 2;
}

}  // namespace
}  // namespace sn::bench

int main(int argc, char** argv) {
  using namespace sn::bench;
  uint64_t ops = 0;
  std::string_view path;
  for (int i = 1; i + 1 < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--ops") ops = std::strtoull(argv[++i], nullptr, 10);
    if (arg == "--path") path = argv[++i];
  }
  if (ops > 0 || !path.empty()) {
    if (ops == 0) return usage();
    if (path == "queue-rtt") return drive<QueuePath>(ops, path);
    if (path == "rpc-embedded") return drive<RpcEmbeddedPath>(ops, path);
    if (path == "rpc-host") return drive<RpcHostPath>(ops, path);
    return usage();
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return usage();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
