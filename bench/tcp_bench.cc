// Benchmarks of TCP's data path, and a driver for instruction counts.
//
//   BM_TcpConnectionSegmentIn  the receive path of one Connection in
//       ESTABLISHED: in-order full-sized data segments from a scripted peer,
//       the ACKs they provoke (one per two segments), the application reading.
//   BM_TcpSend  the send path of one Connection: the application writing, the
//       segments cut from the send buffer (into fresh pool packets) for a sink
//       that frees them, and the ACKs of a scripted delayed-ACK peer (one per
//       two segments) that free the buffer and open the window.
//   BM_TcpBulkTransfer  everything: two Stacks on the simulated wire
//       (Simulation, MemWire), one connection, bulk data one way through the
//       socket API, IPv4, Ethernet and the wire's copies, ACKs back.
//
// Each reports bytes/s, segments/s and time/segment, where a segment is one
// data segment sent (tx, bulk) or received (rx).
//
// `tcp_bench --segments N --path rx|tx|bulk` skips the benchmarks and runs
// exactly the same code for N segments (bulk: at least N, in steps of 256
// KiB; it prints how many) inside run_segments(), after a warm-up, so that
// `valgrind --tool=callgrind --toggle-collect='*run_segments*'` counts the
// instructions of the measured loop and nothing of the setup (see
// bench/callgrind).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/check.h"
#include "base/time.h"
#include "buf/pool.h"
#include "stack/sim.h"
#include "stack/stack.h"
#include "tcp/connection.h"
#include "wire/tcp.h"

namespace sn::bench {
namespace {

constexpr Ipv4Address kLocal = Ipv4Address::from_octets(10, 0, 0, 1);
constexpr Ipv4Address kRemote = Ipv4Address::from_octets(10, 0, 0, 2);
constexpr L4Port kLocalPort{5001};
constexpr L4Port kRemotePort{40000};
constexpr Instant kStart = Instant::from_ns(int64_t{1000} * 1'000'000'000);
// Virtual time between two segments: 1448 bytes per 10 us is about 1.2 Gbit/s.
constexpr Duration kGap = Duration::micros(10);

uint32_t ms_of(Instant t) {
  return static_cast<uint32_t>(t.ns() / 1'000'000);
}

// Frees what the connection sends, counting it and keeping its last TSval.
struct CountingSink final : SegmentSink {
  void send(const TcpHeader& h, PacketPtr payload) override {
    if (payload && payload->chain_size() > 0)
      ++data_segments;
    else
      ++pure_acks;
    if (h.options.timestamps) tsval = h.options.timestamps->first;
  }
  uint64_t data_segments = 0;
  uint64_t pure_acks = 0;
  uint32_t tsval = 0;
};

// A peer made of scripted segments: each is emitted into bytes and parsed
// back as the demux would (TcpView, TcpOptions; not the checksum, which is
// the demux's cost and not the connection's).
class ScriptedPeer {
 public:
  void deliver(Connection& c, const TcpHeader& h, PacketPtr payload, Instant now) {
    const auto len = static_cast<uint16_t>(payload ? payload->chain_size() : 0);
    h.emit(std::span(bytes_).first(h.size()), kRemote, kLocal, 0, len);
    auto view = TcpView::parse(std::span<const std::byte>(bytes_).first(h.size()));
    SN_CHECK(view.ok());
    auto opts = TcpOptions::parse(view->options());
    SN_CHECK(opts.ok());
    c.on_segment(*view, *opts, std::move(payload), now);
  }
  void accept(Connection& c, const TcpHeader& syn, SeqNum iss, Instant now) {
    syn.emit(std::span(bytes_).first(syn.size()), kRemote, kLocal, 0, 0);
    auto view = TcpView::parse(std::span<const std::byte>(bytes_).first(syn.size()));
    SN_CHECK(view.ok());
    auto opts = TcpOptions::parse(view->options());
    SN_CHECK(opts.ok());
    c.accept_syn(*view, *opts, iss, now);
  }

 private:
  std::array<std::byte, kTcpMinHeaderSize + kTcpMaxOptionsSize> bytes_{};
};

TcpHeader peer_header(SeqNum seq, SeqNum ack, uint8_t flags, Instant now, uint32_t tsecr) {
  TcpHeader h;
  h.src_port = kRemotePort;
  h.dst_port = kLocalPort;
  h.seq = seq;
  h.ack = ack;
  h.flags = flags;
  h.window = 0xffff;  // scaled by 7: 8 MiB, never the limit
  h.options.timestamps = {{ms_of(now), tsecr}};
  return h;
}

// One Connection in ESTABLISHED, opened passively by the scripted peer with
// the options Linux sends (MSS 1460, SACK, timestamps, window scale 7).
class OneConnection {
 public:
  OneConnection()
      : pool_(PoolConfig{.count = 4096}),
        conn_(ConnectionConfig{}, pool_, sink_, kLocal, kLocalPort, kRemote, kRemotePort) {
    TcpHeader syn = peer_header(peer_iss_, SeqNum{0}, kTcpSyn, now_, 0);
    syn.options.mss = 1460;
    syn.options.window_scale = 7;
    syn.options.sack_permitted = true;
    peer_.accept(conn_, syn, SeqNum{5000}, now_);
    peer_seq_ = peer_iss_ + 1;
    now_ += kGap;
    peer_.deliver(conn_, peer_header(peer_seq_, conn_.snd_nxt(), kTcpAck, now_, sink_.tsval),
                  nullptr, now_);
    SN_CHECK(conn_.state() == TcpState::kEstablished);
  }
  const Connection& conn() const { return conn_; }
  uint32_t mss() const { return conn_.effective_mss(); }

 protected:
  SeqNum peer_iss_{1'000'000};
  Instant now_ = kStart;
  PacketPool pool_;
  CountingSink sink_;
  ScriptedPeer peer_;
  Connection conn_;
  SeqNum peer_seq_;  // the peer's SND.NXT
};

// The receive path: one full-sized in-order data segment per step, its
// payload copied into a pool packet as a port would; the application reads
// 64 KiB at a time, so the window never closes.
class RxPath : public OneConnection {
 public:
  RxPath() : data_(mss(), std::byte{0x5a}), out_(64 * 1024) {}

  uint64_t step() {
    now_ += kGap;
    PacketPtr p = pool_.alloc();
    SN_CHECK(p != nullptr);
    std::memcpy(p->append(mss()), data_.data(), mss());
    peer_.deliver(conn_,
                  peer_header(peer_seq_, conn_.snd_nxt(), kTcpAck | kTcpPsh, now_, sink_.tsval),
                  std::move(p), now_);
    peer_seq_ += mss();
    bytes_ += mss();
    if (conn_.readable_bytes() >= out_.size()) {
      while (conn_.read(out_, now_) > 0) {
      }
    }
    if (conn_.next_deadline() <= now_) conn_.on_timer(now_);
    return 1;
  }
  uint64_t bytes() const { return bytes_; }
  uint64_t acks() const { return sink_.pure_acks; }

 private:
  std::vector<std::byte> data_;
  std::vector<std::byte> out_;
  uint64_t bytes_ = 0;
};

// The send path: each step writes 64 KiB (what the buffer takes), then the
// peer acknowledges every second segment sent until all is acknowledged;
// each ACK lets the connection send more of what was written.
class TxPath : public OneConnection {
 public:
  TxPath() : data_(64 * 1024, std::byte{0xa5}) { acked_ = conn_.snd_una(); }

  uint64_t step() {
    const uint64_t before = sink_.data_segments;
    now_ += kGap;
    bytes_ += conn_.write(data_, now_);
    while (acked_ != conn_.snd_max()) {
      now_ += kGap;
      const uint32_t out = static_cast<uint32_t>(conn_.snd_max() - acked_);
      acked_ += std::min(out, 2 * mss());
      peer_.deliver(conn_, peer_header(peer_seq_, acked_, kTcpAck, now_, sink_.tsval), nullptr,
                    now_);
    }
    if (conn_.next_deadline() <= now_) conn_.on_timer(now_);
    return sink_.data_segments - before;
  }
  uint64_t bytes() const { return bytes_; }
  uint64_t acks() const { return 0; }

 private:
  std::vector<std::byte> data_;
  SeqNum acked_;
  uint64_t bytes_ = 0;
};

// Two stacks on the simulated wire, one connection from node 0 to node 1's
// discard-like listener. Each step the client may write 256 KiB more, and
// the simulation runs until the server has read it.
class BulkPath {
 public:
  static constexpr uint32_t kStepBytes = 256 * 1024;

  BulkPath() : data_(64 * 1024, std::byte{0x3c}) {
    client_node_ = &sim_.add_node(node(1));
    server_node_ = &sim_.add_node(node(2));
    Stack& client = *client_node_->stack;
    Stack& server = *server_node_->stack;
    SN_CHECK(server.tcp().listen(kLocalPort, 4, &BulkPath::on_accept, this).ok());
    auto c = client.tcp().connect(address(2), kLocalPort);
    SN_CHECK(c.ok());
    client_ = *c;
    client_->set_on_event([](void* a, TcpSocket&) { static_cast<BulkPath*>(a)->pump(); }, this);
    SN_CHECK(sim_.run_until([&] { return server_ != nullptr; }));
  }

  uint64_t step() {
    const uint64_t before = client_->connection().counters().segments_out;
    target_ += kStepBytes;
    pump();
    SN_CHECK(sim_.run_until([&] { return read_ >= target_; }));
    return client_->connection().counters().segments_out - before;
  }
  uint64_t bytes() const { return read_; }
  uint64_t acks() const { return server_->connection().counters().segments_out; }

 private:
  static Ipv4Address address(uint8_t n) { return Ipv4Address::from_octets(10, 0, 0, n); }
  static SimNodeConfig node(uint8_t n) {
    SimNodeConfig c;
    c.address = Ipv4Prefix{address(n), 24};
    c.mac = MacAddress{{0x02, 0, 0, 0, 0, n}};
    c.pool = PoolConfig{.count = 4096};
    c.seed = n;
    return c;
  }
  static void on_accept(void* a, TcpSocket& s) {
    auto* self = static_cast<BulkPath*>(a);
    self->server_ = &s;
    s.set_on_event([](void* a, TcpSocket& s) { static_cast<BulkPath*>(a)->drain(s); }, self);
    self->drain(s);
  }
  void pump() {
    while (written_ < target_) {
      const uint64_t n = std::min<uint64_t>(data_.size(), target_ - written_);
      const uint32_t w = client_->write(std::span(data_).first(n));
      written_ += w;
      if (w == 0) break;
    }
  }
  void drain(TcpSocket& s) {
    while (const uint32_t n = s.read(in_))
      read_ += n;
  }

  Simulation sim_;
  Simulation::Node* client_node_ = nullptr;
  Simulation::Node* server_node_ = nullptr;
  TcpSocket* client_ = nullptr;
  TcpSocket* server_ = nullptr;
  std::vector<std::byte> data_;
  std::array<std::byte, 64 * 1024> in_{};
  uint64_t target_ = 0, written_ = 0, read_ = 0;
};

template <typename Path>
void warm_up(Path& p) {
  for (uint64_t n = 0; n < 2000;)
    n += p.step();
}

// The measured loop of the driver mode: the only code callgrind counts.
template <typename Path>
[[gnu::noinline]] uint64_t run_segments(Path& p, uint64_t segments) {
  uint64_t n = 0;
  while (n < segments)
    n += p.step();
  return n;
}

template <typename Path>
void run_benchmark(benchmark::State& state) {
  Path p;
  warm_up(p);
  const uint64_t acks_before = p.acks();
  const uint64_t bytes_before = p.bytes();
  uint64_t segments = 0;
  for (auto _ : state)
    segments += p.step();
  const auto segs = static_cast<double>(segments);
  state.SetBytesProcessed(static_cast<int64_t>(p.bytes() - bytes_before));
  state.counters["segments"] = benchmark::Counter(segs, benchmark::Counter::kIsRate);
  state.counters["time/segment"] =
      benchmark::Counter(segs, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  if (const uint64_t acks = p.acks() - acks_before; acks > 0)
    state.counters["acks/segment"] = static_cast<double>(acks) / segs;
}

void BM_TcpConnectionSegmentIn(benchmark::State& state) {
  run_benchmark<RxPath>(state);
}
void BM_TcpSend(benchmark::State& state) {
  run_benchmark<TxPath>(state);
}
void BM_TcpBulkTransfer(benchmark::State& state) {
  run_benchmark<BulkPath>(state);
}
BENCHMARK(BM_TcpConnectionSegmentIn);
BENCHMARK(BM_TcpSend);
BENCHMARK(BM_TcpBulkTransfer)->Unit(benchmark::kMillisecond);

template <typename Path>
int drive(uint64_t segments, const char* name) {
  Path p;
  warm_up(p);
  const uint64_t done = run_segments(p, segments);
  std::printf("path %s segments %llu\n", name, static_cast<unsigned long long>(done));
  return 0;
}

int usage() {
  std::fprintf(stderr,
               "usage: tcp_bench [benchmark flags]\n"
               "       tcp_bench --segments N --path rx|tx|bulk\n");
  return 2;
}

}  // namespace
}  // namespace sn::bench

int main(int argc, char** argv) {
  using namespace sn::bench;
  uint64_t segments = 0;
  std::string_view path;
  for (int i = 1; i + 1 < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--segments") segments = std::strtoull(argv[++i], nullptr, 10);
    if (arg == "--path") path = argv[++i];
  }
  if (segments > 0 || !path.empty()) {
    if (segments == 0) return usage();
    if (path == "rx") return drive<RxPath>(segments, "rx");
    if (path == "tx") return drive<TxPath>(segments, "tx");
    if (path == "bulk") return drive<BulkPath>(segments, "bulk");
    return usage();
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return usage();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
