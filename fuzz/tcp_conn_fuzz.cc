// Fuzzes one TCP connection (src/tcp) in each state: the input picks a state
// and a configuration, the harness reaches that state by driving two real
// Connections on a manual clock, and the rest of the input is a sequence of
// operations on the connection under test (C) and its peer (P): segments
// crafted for C, time passing, the applications' calls, and moving or losing
// what the two have queued for each other.
//
// Besides the sanitizers it checks (see tcp_conn_harness.h): every segment
// either side emits is well formed, round-trips through emit and parse with a
// valid checksum, and carries the right stream bytes; every byte read is the
// right one; SND.UNA <= SND.NXT <= SND.MAX; a closed connection arms no timer
// and sends nothing more; on_timer() leaves no deadline in the past; and once
// both connections are destroyed every packet buffer is back in the pool.
//
// Input: a 4-byte prelude, then operations until the input runs out (reads
// past the end give zeros).
//   [0] state: SYN-SENT, SYN-RECEIVED, ESTABLISHED, FIN-WAIT-1, FIN-WAIT-2,
//       CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT (modulo 9)
//   [1] C's options: 1 SACK, 2 timestamps, 4 window scale 7 (else 0), 8 C is
//       the server (in the states either side can reach), 16 Nagle off,
//       32 CUBIC, 64 MSS 536 (else 1460), 128 small (4 KiB buffers, a pool
//       of 48 packets)
//   [2] low nibble: C writes 512 * n bytes just before its last step (left
//       in flight); high nibble: P writes 512 * n bytes after the handshake
//       (delivered, unread; at most half of C's receive buffer)
//   [3] 1 ISS near 2^32 (sequence numbers wrap), 2 P without timestamps,
//       4 P without SACK, 8 P's window scale 0
// Operations, by the first byte modulo 12 (fields big-endian):
//   0, 1  a segment to C (below); 0 builds its options, 1 takes them raw
//   2     time passes: u16 v, (v & 0x7fff) ms, times 64 if v & 0x8000
//   3     time moves to the next deadline of either side
//   4, 5  C writes / reads u16 bytes
//   6, 7  C shuts down its send side / aborts
//   8     u8: 0 deliver one segment P -> C, 1 drop one P -> C, 2 deliver one
//         C -> P, 3 drop one C -> P, 4 deliver both ways until quiet (at most
//         200), 5 deliver the next P -> C twice
//   9, 10 P writes u16 bytes / reads everything
//   11    P shuts down its send side (u8 odd: aborts)
// A segment: flags u8; mode u8; seq (mode & 3: 0 RCV.NXT + s16, 1 RCV.NXT +
// 512 * s16, 2 a raw u32, 3 RCV.NXT); ack ((mode >> 2) & 3: 0 SND.UNA + s16,
// 1 SND.MAX + s16, 2 a raw u32, 3 SND.NXT); window u16; payload length u16
// (modulo 4097, as packets of (mode >> 4) & 3: 1460, 512, 100 or 1920 bytes);
// then the options: built from u8 bits (1 timestamps: TSval = ts_recent + s8,
// TSecr = now - u8 ms; (bits >> 1) & 3 SACK blocks, each SND.UNA + s16 and
// u16 long; 8 MSS u16; 16 window scale u8; 32 SACK-permitted), or raw (u8 length
// modulo 41, then the bytes, zero-padded). Options that do not parse drop the
// segment, as the stack does. Payload bytes are the peer's stream at their
// sequence numbers.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/check.h"
#include "tcp/connection.h"
#include "wire/bytes.h"
#include "wire/tcp.h"

#include "tcp_conn_harness.h"

namespace sn::fuzz {
namespace {

class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return at_ >= size_; }
  uint8_t u8() { return at_ < size_ ? data_[at_++] : 0; }
  uint16_t u16() {
    const uint16_t hi = u8();
    return static_cast<uint16_t>(hi << 8 | u8());
  }
  uint32_t u32() {
    const uint32_t hi = u16();
    return hi << 16 | u16();
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t at_ = 0;
};

enum class Goal {
  kSynSent,
  kSynReceived,
  kEstablished,
  kFinWait1,
  kFinWait2,
  kCloseWait,
  kClosing,
  kLastAck,
  kTimeWait,
};
constexpr int kGoals = 9;

constexpr TcpState state_of(Goal g) {
  switch (g) {
    case Goal::kSynSent:
      return TcpState::kSynSent;
    case Goal::kSynReceived:
      return TcpState::kSynReceived;
    case Goal::kEstablished:
      return TcpState::kEstablished;
    case Goal::kFinWait1:
      return TcpState::kFinWait1;
    case Goal::kFinWait2:
      return TcpState::kFinWait2;
    case Goal::kCloseWait:
      return TcpState::kCloseWait;
    case Goal::kClosing:
      return TcpState::kClosing;
    case Goal::kLastAck:
      return TcpState::kLastAck;
    case Goal::kTimeWait:
      return TcpState::kTimeWait;
  }
  return TcpState::kClosed;
}

struct Setup {
  Goal goal = Goal::kEstablished;
  bool c_is_server = false;
  uint32_t c_writes = 0;  // bytes C leaves in flight
  uint32_t p_writes = 0;  // bytes P sends first, delivered and unread
  SeqNum client_iss{1000}, server_iss{5000};
  ConnectionConfig c_config, p_config;
  PoolConfig pool{.count = 512, .buffer_size = 2048, .headroom = 128};
};

Setup read_setup(Input& in) {
  Setup s;
  s.goal = static_cast<Goal>(in.u8() % kGoals);
  const uint8_t c = in.u8();
  const uint8_t data = in.u8();
  const uint8_t p = in.u8();
  ConnectionConfig& cc = s.c_config;
  cc.sack = (c & 1) != 0;
  cc.timestamps = (c & 2) != 0;
  cc.window_scale = (c & 4) ? 7 : 0;
  s.c_is_server = (c & 8) != 0;
  cc.nodelay = (c & 16) != 0;
  cc.cc = (c & 32) ? CongestionAlgorithm::kCubic : CongestionAlgorithm::kNewReno;
  cc.mss = (c & 64) ? 536 : 1460;
  cc.send_buffer = cc.recv_buffer = 32 * 1024;
  cc.max_ooo_segments = 16;
  if (c & 128) {
    cc.send_buffer = cc.recv_buffer = 4096;
    cc.max_ooo_segments = 4;
    s.pool.count = 48;
  }
  s.c_writes = 512u * (data & 0x0f);
  // At most half of C's buffer, so that a window stays open for P's FIN.
  s.p_writes = std::min(512u * (data >> 4), cc.recv_buffer / 2);
  if (p & 1) {
    s.client_iss = SeqNum{0xffffffffu - 700};
    s.server_iss = SeqNum{0xffffffffu - 3000};
  }
  s.p_config = cc;
  s.p_config.nodelay = false;
  s.p_config.timestamps = cc.timestamps && !(p & 2);
  s.p_config.sack = cc.sack && !(p & 4);
  if (p & 8) s.p_config.window_scale = 0;
  // Which side C is follows from the state where only one side can reach it.
  if (s.goal == Goal::kSynSent) s.c_is_server = false;
  if (s.goal == Goal::kSynReceived) s.c_is_server = true;
  return s;
}

class Fuzz {
 public:
  Fuzz(PacketPool& pool, const Setup& s)
      : s_(s),
        h_(pool, s.c_is_server ? s.p_config : s.c_config, s.c_is_server ? s.c_config : s.p_config),
        c_(s.c_is_server ? h_.server : h_.client),
        p_(h_.peer_of(c_)) {}

  // Drives the two connections until C is in the chosen state.
  void reach_state() {
    const Instant& now = h_.now;
    SN_CHECK(h_.client.conn.connect(s_.client_iss, now).ok());
    if (s_.goal == Goal::kSynSent) {
      c_.write(s_.c_writes, now);
      return finish();
    }
    accept_syn();
    if (s_.goal == Goal::kSynReceived) {
      c_.write(s_.c_writes, now);
      return finish();
    }
    SN_CHECK(h_.run_until([&] { return c_.conn.state() == TcpState::kEstablished; }));
    // P's data reaches C and is acknowledged; C does not read it.
    p_.write(s_.p_writes, now);
    SN_CHECK(h_.run_until([&] { return p_.conn.snd_una() == p_.conn.snd_max(); }));
    switch (s_.goal) {
      case Goal::kEstablished:
        c_.write(s_.c_writes, now);
        break;
      case Goal::kFinWait1:
        c_.write(s_.c_writes, now);
        SN_CHECK(c_.conn.shutdown_send(now).ok());
        break;
      case Goal::kFinWait2:
        c_.write(s_.c_writes, now);
        SN_CHECK(c_.conn.shutdown_send(now).ok());
        SN_CHECK(h_.run_until([&] { return p_reads_until(TcpState::kFinWait2); }));
        break;
      case Goal::kCloseWait:
        SN_CHECK(p_.conn.shutdown_send(now).ok());
        SN_CHECK(h_.run_until([&] { return c_.conn.state() == TcpState::kCloseWait; }));
        c_.write(s_.c_writes, now);
        break;
      case Goal::kClosing:
        // Both FINs cross: C sees P's before P has seen C's.
        c_.write(s_.c_writes, now);
        SN_CHECK(c_.conn.shutdown_send(now).ok());
        SN_CHECK(p_.conn.shutdown_send(now).ok());
        h_.deliver_queued(c_);
        break;
      case Goal::kLastAck:
        SN_CHECK(p_.conn.shutdown_send(now).ok());
        SN_CHECK(h_.run_until([&] { return c_.conn.state() == TcpState::kCloseWait; }));
        c_.write(s_.c_writes, now);
        SN_CHECK(c_.conn.shutdown_send(now).ok());
        break;
      case Goal::kTimeWait:
        c_.write(s_.c_writes, now);
        SN_CHECK(c_.conn.shutdown_send(now).ok());
        SN_CHECK(h_.run_until([&] { return p_reads_until(TcpState::kFinWait2); }));
        SN_CHECK(p_.conn.shutdown_send(now).ok());
        SN_CHECK(h_.run_until([&] { return c_.conn.state() == TcpState::kTimeWait; }));
        break;
      case Goal::kSynSent:
      case Goal::kSynReceived:
        break;
    }
    finish();
  }

  void run(Input& in) {
    while (!in.empty()) {
      step(in);
      h_.check();
    }
  }

 private:
  // P reads what C sent (so that its window opens for C's FIN); true once C
  // is in `want`.
  bool p_reads_until(TcpState want) {
    while (p_.read(16384, h_.now) > 0) {
    }
    return c_.conn.state() == want;
  }

  void finish() {
    SN_CHECK(c_.conn.state() == state_of(s_.goal));
    h_.check();
  }

  // The server takes the client's SYN off the wire the way the demux does.
  void accept_syn() {
    SN_CHECK(!h_.to_server.empty());
    const std::vector<std::byte> wire = std::move(h_.to_server.front());
    h_.to_server.pop_front();
    auto view = TcpView::parse(wire);
    SN_CHECK(view.ok());
    auto opts = TcpOptions::parse(view->options());
    SN_CHECK(opts.ok());
    h_.server.conn.accept_syn(*view, *opts, s_.server_iss, h_.now);
  }

  void step(Input& in) {
    const Instant& now = h_.now;
    const uint8_t op = in.u8() % 12;
    switch (op) {
      case 0:
      case 1:
        return segment(in, /*raw_options=*/op == 1);
      case 2: {
        const uint16_t v = in.u16();
        return h_.advance(Duration::millis(v & 0x7fff) * ((v & 0x8000) ? 64 : 1));
      }
      case 3:
        (void)h_.fire_next(Instant::never() - Duration::seconds(1));
        return;
      case 4:
        c_.write(in.u16(), now);
        return;
      case 5:
        c_.read(in.u16(), now);
        return;
      case 6:
        (void)c_.conn.shutdown_send(now);
        return;
      case 7:
        c_.conn.abort(now);
        return;
      case 8:
        return move(in.u8());
      case 9:
        p_.write(in.u16(), now);
        return;
      case 10:
        while (p_.read(16384, now) > 0) {
        }
        return;
      case 11:
        if (in.u8() & 1)
          p_.conn.abort(now);
        else
          (void)p_.conn.shutdown_send(now);
        return;
    }
  }

  void move(uint8_t what) {
    switch (what % 6) {
      case 0:
        (void)h_.deliver_one(c_);
        return;
      case 1:
        (void)h_.deliver_one(c_, /*drop=*/true);
        return;
      case 2:
        (void)h_.deliver_one(p_);
        return;
      case 3:
        (void)h_.deliver_one(p_, /*drop=*/true);
        return;
      case 4:
        (void)h_.deliver_all(/*budget=*/200);
        return;
      case 5: {
        WireQueue& q = h_.queue_to(c_);
        if (q.empty()) return;
        const std::vector<std::byte> copy = q.front();
        h_.deliver(c_, copy);
        (void)h_.deliver_one(c_);
        return;
      }
    }
  }

  // A segment crafted for C (see the top of the file for the layout).
  void segment(Input& in, bool raw_options) {
    const Connection& c = c_.conn;
    const uint8_t flags = in.u8();
    const uint8_t mode = in.u8();
    SeqNum seq = c.rcv_nxt();
    switch (mode & 3) {
      case 0:
        seq += static_cast<int16_t>(in.u16());
        break;
      case 1:
        seq += static_cast<int16_t>(in.u16()) * 512;
        break;
      case 2:
        seq = SeqNum{in.u32()};
        break;
    }
    SeqNum ack = c.snd_nxt();
    switch ((mode >> 2) & 3) {
      case 0:
        ack = c.snd_una() + static_cast<int16_t>(in.u16());
        break;
      case 1:
        ack = c.snd_max() + static_cast<int16_t>(in.u16());
        break;
      case 2:
        ack = SeqNum{in.u32()};
        break;
    }
    const uint16_t window = in.u16();
    const uint32_t len = in.u16() % 4097u;
    constexpr std::array<uint32_t, 4> kPerPacket = {1460, 512, 100, 1920};
    const uint32_t per_packet = kPerPacket[(mode >> 4) & 3];

    std::array<std::byte, kTcpMaxOptionsSize> options{};
    size_t options_len = 0;
    if (raw_options) {
      options_len = in.u8() % (kTcpMaxOptionsSize + 1);
      for (size_t i = 0; i < options_len; ++i)
        options[i] = std::byte{in.u8()};
      options_len = (options_len + 3) / 4 * 4;
    } else {
      options_len = built_options(in, options);
    }

    std::array<std::byte, kTcpMinHeaderSize + kTcpMaxOptionsSize> header{};
    std::byte* p = header.data();
    store16(p, kServerPort.v);  // the ports are not looked at by the connection
    store16(p + 2, kClientPort.v);
    store32(p + 4, seq.v);
    store32(p + 8, ack.v);
    store8(p + 12, static_cast<uint8_t>((kTcpMinHeaderSize + options_len) / 4 << 4));
    store8(p + 13, flags);
    store16(p + 14, window);
    std::copy_n(options.begin(), options_len, p + kTcpMinHeaderSize);
    const auto hdr = std::span<const std::byte>(header).first(kTcpMinHeaderSize + options_len);
    auto view = TcpView::parse(hdr);
    SN_CHECK(view.ok());
    auto opts = TcpOptions::parse(view->options());
    if (!opts) return;

    // The payload is the peer's stream at its sequence numbers. In SYN-SENT a
    // SYN sets IRS, so its data is the stream's start.
    const SeqNum start = (flags & kTcpSyn) ? seq + 1 : seq;
    const SeqNum base =
        c.state() == TcpState::kSynSent && (flags & kTcpSyn) ? seq + 1 : c.irs() + 1;
    std::vector<std::byte> data(len);
    fill_stream(data, static_cast<uint32_t>(start - base));
    h_.segment_in(c_, hdr, *opts, data, per_packet);
  }

  // Options from bits, with values near the connection's own; emitted, so
  // that TcpOptions::parse reads them back.
  size_t built_options(Input& in, std::span<std::byte, kTcpMaxOptionsSize> out) {
    const Connection& c = c_.conn;
    const uint8_t bits = in.u8();
    TcpOptions o;
    if (bits & 1) {
      const uint32_t now_ms = static_cast<uint32_t>(h_.now.ns() / 1'000'000);
      const uint32_t tsval = c.ts_recent() + static_cast<uint32_t>(static_cast<int8_t>(in.u8()));
      o.timestamps = {{tsval, now_ms - in.u8()}};
    }
    o.sack_count = static_cast<uint8_t>((bits >> 1) & 3);
    for (uint8_t i = 0; i < o.sack_count; ++i) {
      const SeqNum left = c.snd_una() + static_cast<int16_t>(in.u16());
      o.sack[i] = SackBlock{left, left + in.u16()};
    }
    if (bits & 8) o.mss = in.u16();
    if (bits & 16) o.window_scale = std::min<uint8_t>(in.u8(), kTcpMaxWindowScale);
    o.sack_permitted = (bits & 32) != 0;
    const size_t n = o.size();
    o.emit(out.first(n));
    return n;
  }

  Setup s_;
  Harness h_;
  End& c_;
  End& p_;
};

}  // namespace
}  // namespace sn::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sn;
  using namespace sn::fuzz;
  Input in(data, size);
  const Setup setup = read_setup(in);
  PacketPool pool(setup.pool);
  {
    Fuzz f(pool, setup);
    f.reach_state();
    f.run(in);
  }
  SN_CHECK(pool.available() == pool.capacity());
  return 0;
}
