// Benchmarks of the shard layer's per-packet work, and a driver for
// instruction counts: the dispatcher's decision and the rings between shards.
//
//   BM_Decide/HASH/SET  Dispatcher::decide() on 4 shards with the default
//       lists and table, HASH toeplitz or xor (the fold), over 1024 prebuilt
//       frames taken in turn. SET is "tcp" (1024 connections), "udp", "frag"
//       (first and later fragments), "icmp-error" (port unreachable and
//       fragmentation needed, each quoting a segment or datagram we sent) or
//       "mix" (of every 16 frames 12 TCP, 2 UDP, 1 fragment, 1 ICMP error).
//       The frames are headers only (60 to 90 bytes) and stay in the cache:
//       this is the decision's own cost, not the miss on a fresh packet.
//   BM_ShardOfTuple/HASH  Dispatcher::shard_of_tuple() over 1024 TCP tuples.
//   BM_RingPushPop  SpscRing<ShardMessage> in one thread: push one message
//       carrying a PacketPtr (from a PacketPool), pop it back.
//   BM_RingBurst  the same with push_burst() and pop_burst() of 32 messages.
//   BM_RingCrossThread/BURST  a producer (the benchmark's thread) pushing and
//       a consumer thread popping, one at a time (BURST 1) or in bursts of 32,
//       through a 1024-slot ring. The payload is a ShardMessage (kFrame) with
//       no packet, so that the pool's cross-thread free stays out of it; a
//       side that finds the ring full or empty yields its core. Real time.
//
// Each reports items/s, an item being a frame, a tuple or a message.
//
// `shard_bench --ops N --path P` skips the benchmarks and runs the same code
// as the benchmark of path P for N items inside run_ops(), after a warm-up, so
// that `valgrind --tool=callgrind --toggle-collect='*run_ops*'` counts the
// instructions of the measured loop and nothing of the setup (see
// bench/callgrind-shard). P is decide-toeplitz or decide-xor (the mix),
// tuple or tuple-xor, ring or ring-burst (N counts messages; ring-burst goes
// in steps of 32, so a few more; it prints how many). The threaded benchmark has no driver:
// callgrind runs threads one at a time, and would count the spinning.
#include <benchmark/benchmark.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "base/check.h"
#include "base/rng.h"
#include "buf/pool.h"
#include "buf/ring.h"
#include "shard/dispatcher.h"
#include "shard/shard.h"
#include "wire/checksum.h"
#include "wire/ethernet.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"
#include "wire/tcp.h"
#include "wire/udp.h"

namespace sn::bench {
namespace {

using Bytes = std::vector<std::byte>;

constexpr uint32_t kShards = 4;
constexpr size_t kFrames = 1024;  // a power of two: frames are taken by index & (kFrames - 1)
constexpr uint32_t kBurst = 32;
constexpr uint32_t kRingSize = 1024;
constexpr Ipv4Address kUs = Ipv4Address::from_octets(10, 0, 0, 1);
constexpr Ipv4Address kRouter = Ipv4Address::from_octets(192, 0, 2, 1);

// ---- Frames ------------------------------------------------------------------

// An Ethernet frame around an IPv4 header and `payload`, padded to 60 bytes.
Bytes frame(const Ipv4Header& ip, std::span<const std::byte> payload) {
  EthernetHeader eth;
  eth.dst = MacAddress{{0x02, 0, 0, 0, 0, 0x01}};
  eth.src = MacAddress{{0x02, 0, 0, 0, 0, 0x02}};
  eth.ethertype = kEtherTypeIpv4;
  Bytes f(eth.size() + Ipv4Header::kSize);
  eth.emit(f);
  ip.emit(std::span(f).subspan(eth.size()));
  f.insert(f.end(), payload.begin(), payload.end());
  if (f.size() < kEthernetMinFrameSize) f.resize(kEthernetMinFrameSize);
  return f;
}

Ipv4Header ip_header(Ipv4Address src, Ipv4Address dst, uint8_t protocol, size_t payload) {
  Ipv4Header h;
  h.src = src;
  h.dst = dst;
  h.protocol = protocol;
  h.id = 0x1234;
  h.total_length = static_cast<uint16_t>(Ipv4Header::kSize + payload);
  return h;
}

// A TCP header (an ACK, no options) from (src, sport) to (dst, dport).
Bytes tcp_header(Ipv4Address src, L4Port sport, Ipv4Address dst, L4Port dport) {
  TcpHeader h;
  h.src_port = sport;
  h.dst_port = dport;
  h.seq = SeqNum{1000};
  h.ack = SeqNum{2000};
  h.flags = kTcpAck;
  h.window = 65535;
  Bytes s(h.size());
  h.emit(s, src, dst, 0, 0);
  return s;
}

Bytes udp_header(Ipv4Address src, L4Port sport, Ipv4Address dst, L4Port dport, size_t payload) {
  UdpHeader h;
  h.src_port = sport;
  h.dst_port = dport;
  h.length = static_cast<uint16_t>(UdpHeader::kSize + payload);
  Bytes d(UdpHeader::kSize);
  h.emit(d, src, dst, 0);
  return d;
}

enum class FrameSet : uint8_t { kTcp, kUdp, kFragment, kIcmpError, kMix };

// Frame `i` of a set: a peer (random address and port) to us, on port 80 or 53.
Bytes make_frame(FrameSet set, size_t i, Rng& rng) {
  if (set == FrameSet::kMix) {
    const size_t k = i % 16;
    set = k < 12   ? FrameSet::kTcp
          : k < 14 ? FrameSet::kUdp
          : k < 15 ? FrameSet::kFragment
                   : FrameSet::kIcmpError;
  }
  const Ipv4Address peer(static_cast<uint32_t>(rng.next()));
  const L4Port pport(static_cast<uint16_t>(1024 + rng.below(64512)));
  switch (set) {
    case FrameSet::kTcp: {
      const Bytes t = tcp_header(peer, pport, kUs, L4Port(80));
      return frame(ip_header(peer, kUs, kIpProtoTcp, t.size()), t);
    }
    case FrameSet::kUdp: {
      const Bytes u = udp_header(peer, pport, kUs, L4Port(53), 0);
      return frame(ip_header(peer, kUs, kIpProtoUdp, u.size()), u);
    }
    case FrameSet::kFragment: {
      // Half first fragments (with the UDP header), half later ones.
      Ipv4Header h = ip_header(peer, kUs, kIpProtoUdp, 8);
      h.mf = i % 2 == 0;
      h.fragment_offset = i % 2 == 0 ? 0 : 1480;
      return frame(h, udp_header(peer, pport, kUs, L4Port(53), 3000));
    }
    case FrameSet::kIcmpError: {
      // What we sent (a TCP segment or UDP datagram with 1000 bytes of data),
      // quoted as RFC 792 asks: its header and 8 bytes.
      const bool tcp = i % 2 == 0;
      const Bytes l4 = tcp ? tcp_header(kUs, L4Port(80), peer, pport)
                           : udp_header(kUs, L4Port(53), peer, pport, 1000);
      Bytes quote(Ipv4Header::kSize);
      ip_header(kUs, peer, tcp ? kIpProtoTcp : kIpProtoUdp, l4.size() + 1000).emit(quote);
      quote.insert(quote.end(), l4.begin(), l4.begin() + 8);
      const IcmpHeader icmp = tcp ? IcmpHeader::dest_unreachable(kIcmpFragNeeded, 1400)
                                  : IcmpHeader::dest_unreachable(kIcmpPortUnreachable);
      Bytes m(IcmpHeader::kSize);
      icmp.emit(m, Checksum{}.add(quote).sum());
      m.insert(m.end(), quote.begin(), quote.end());
      return frame(ip_header(tcp ? kRouter : peer, kUs, kIpProtoIcmp, m.size()), m);
    }
    case FrameSet::kMix:
      break;
  }
  SN_CHECK(false);
  return {};
}

SteerConfig steer(SteerHash hash) {
  SteerConfig c;
  c.hash = hash;
  return c;
}

// ---- Paths: step() does some items and returns how many ----------------------

class DecidePath {
 public:
  DecidePath(SteerHash hash, FrameSet set) : d_(steer(hash), kShards) {
    Rng rng(7);
    frames_.reserve(kFrames);
    for (size_t i = 0; i < kFrames; ++i)
      frames_.push_back(make_frame(set, i, rng));
  }
  uint64_t step() {
    const SteerDecision s = d_.decide(frames_[next_++ & (kFrames - 1)]);
    benchmark::DoNotOptimize(s.shard);
    return 1;
  }

 private:
  Dispatcher d_;
  std::vector<Bytes> frames_;
  size_t next_ = 0;
};

class TuplePath {
 public:
  explicit TuplePath(SteerHash hash) : d_(steer(hash), kShards) {
    Rng rng(11);
    for (Tuple& t : tuples_)
      t = {Ipv4Address(static_cast<uint32_t>(rng.next())),
           L4Port(static_cast<uint16_t>(rng.next()))};
  }
  uint64_t step() {
    const Tuple& t = tuples_[next_++ & (kFrames - 1)];
    benchmark::DoNotOptimize(d_.shard_of_tuple(kIpProtoTcp, t.peer, t.pport, kUs, L4Port(80)));
    return 1;
  }

 private:
  struct Tuple {
    Ipv4Address peer;
    L4Port pport;
  };
  Dispatcher d_;
  std::array<Tuple, kFrames> tuples_{};
  size_t next_ = 0;
};

// A frame message as a shard hands one over, holding a pool packet.
ShardMessage frame_message(PacketPool& pool) {
  ShardMessage m;
  m.kind = ShardMessage::Kind::kFrame;
  m.iface = 1;
  m.packet = pool.alloc();
  SN_CHECK(m.packet != nullptr);
  m.packet->append(60);
  return m;
}

class RingPath {
 public:
  RingPath() : pool_(PoolConfig{.count = 64}), ring_(kRingSize), m_(frame_message(pool_)) {}
  uint64_t step() {
    SN_CHECK(ring_.push(std::move(m_)));
    SN_CHECK(ring_.pop(m_));
    return 1;
  }

 private:
  PacketPool pool_;
  SpscRing<ShardMessage> ring_;
  ShardMessage m_;
};

class RingBurstPath {
 public:
  RingBurstPath() : pool_(PoolConfig{.count = 64}), ring_(kRingSize) {
    for (ShardMessage& m : batch_)
      m = frame_message(pool_);
  }
  uint64_t step() {
    SN_CHECK(ring_.push_burst(batch_) == kBurst);
    SN_CHECK(ring_.pop_burst(batch_) == kBurst);
    return kBurst;
  }

 private:
  PacketPool pool_;
  SpscRing<ShardMessage> ring_;
  std::array<ShardMessage, kBurst> batch_;
};

template <typename Path>
void warm_up(Path& p) {
  for (uint64_t n = 0; n < 2 * kFrames;)
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

// ---- Benchmarks ----------------------------------------------------------------

template <typename Path>
void run_benchmark(benchmark::State& state, Path& p) {
  warm_up(p);
  uint64_t items = 0;
  for (auto _ : state)
    items += p.step();
  state.SetItemsProcessed(static_cast<int64_t>(items));
}

void BM_Decide(benchmark::State& state, SteerHash hash, FrameSet set) {
  DecidePath p(hash, set);
  run_benchmark(state, p);
}
void BM_ShardOfTuple(benchmark::State& state, SteerHash hash) {
  TuplePath p(hash);
  run_benchmark(state, p);
}
void BM_RingPushPop(benchmark::State& state) {
  RingPath p;
  run_benchmark(state, p);
}
void BM_RingBurst(benchmark::State& state) {
  RingBurstPath p;
  run_benchmark(state, p);
}

// Producer: this thread, in the timed loop; consumer: a thread of its own
// until the producer is done and the ring is drained.
void BM_RingCrossThread(benchmark::State& state) {
  const auto burst = static_cast<uint32_t>(state.range(0));
  SpscRing<ShardMessage> ring(kRingSize);
  std::atomic<bool> stop{false};
  uint64_t consumed = 0;
  std::thread consumer([&] {
    std::array<ShardMessage, kBurst> batch;
    const std::span<ShardMessage> out = std::span(batch).first(burst);
    for (;;) {
      const uint32_t n = burst == 1 ? uint32_t{ring.pop(out[0])} : ring.pop_burst(out);
      consumed += n;
      if (n > 0) continue;
      // The producer's pushes happen before its stop store: seen here, they
      // are all in the ring or already taken.
      if (stop.load(std::memory_order_acquire) && ring.empty()) return;
      std::this_thread::yield();
    }
  });
  std::array<ShardMessage, kBurst> batch;
  for (ShardMessage& m : batch) {
    m.kind = ShardMessage::Kind::kFrame;
    m.iface = 1;
  }
  const std::span<ShardMessage> in = std::span(batch).first(burst);
  uint64_t pushed = 0;
  for (auto _ : state) {
    for (uint32_t done = 0; done < burst;) {
      const uint32_t n =
          burst == 1 ? uint32_t{ring.push(std::move(in[0]))} : ring.push_burst(in.subspan(done));
      done += n;
      if (n == 0) std::this_thread::yield();
    }
    pushed += burst;
  }
  stop.store(true, std::memory_order_release);
  consumer.join();
  SN_CHECK(consumed == pushed);
  state.SetItemsProcessed(static_cast<int64_t>(pushed));
}

void register_benchmarks() {
  const std::pair<SteerHash, const char*> hashes[] = {{SteerHash::kToeplitz, "toeplitz"},
                                                      {SteerHash::kXorFold, "xor"}};
  const std::pair<FrameSet, const char*> sets[] = {{FrameSet::kTcp, "tcp"},
                                                   {FrameSet::kUdp, "udp"},
                                                   {FrameSet::kFragment, "frag"},
                                                   {FrameSet::kIcmpError, "icmp-error"},
                                                   {FrameSet::kMix, "mix"}};
  for (const auto& [hash, hname] : hashes) {
    for (const auto& [set, sname] : sets) {
      benchmark::RegisterBenchmark((std::string("BM_Decide/") + hname + "/" + sname).c_str(),
                                   BM_Decide, hash, set);
    }
  }
  for (const auto& [hash, hname] : hashes)
    benchmark::RegisterBenchmark((std::string("BM_ShardOfTuple/") + hname).c_str(), BM_ShardOfTuple,
                                 hash);
  benchmark::RegisterBenchmark("BM_RingPushPop", BM_RingPushPop);
  benchmark::RegisterBenchmark("BM_RingBurst", BM_RingBurst);
  benchmark::RegisterBenchmark("BM_RingCrossThread", BM_RingCrossThread)
      ->Arg(1)
      ->Arg(kBurst)
      ->UseRealTime();
}

// ---- The driver ------------------------------------------------------------------

template <typename Path>
int drive(Path& p, uint64_t ops, std::string_view name) {
  warm_up(p);
  const uint64_t done = run_ops(p, ops);
  std::printf("path %.*s ops %llu\n", static_cast<int>(name.size()), name.data(),
              static_cast<unsigned long long>(done));
  return 0;
}

int usage() {
  std::fprintf(stderr,
               "usage: shard_bench [benchmark flags]\n"
               "       shard_bench --ops N --path "
               "decide-toeplitz|decide-xor|tuple|tuple-xor|ring|ring-burst\n");
  return 2;
}

int drive_path(std::string_view path, uint64_t ops) {
  if (path == "decide-toeplitz" || path == "decide-xor") {
    DecidePath p(path == "decide-xor" ? SteerHash::kXorFold : SteerHash::kToeplitz, FrameSet::kMix);
    return drive(p, ops, path);
  }
  if (path == "tuple" || path == "tuple-xor") {
    TuplePath p(path == "tuple-xor" ? SteerHash::kXorFold : SteerHash::kToeplitz);
    return drive(p, ops, path);
  }
  if (path == "ring") {
    RingPath p;
    return drive(p, ops, path);
  }
  if (path == "ring-burst") {
    RingBurstPath p;
    return drive(p, ops, path);
  }
  return usage();
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
    return drive_path(path, ops);
  }
  register_benchmarks();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return usage();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
