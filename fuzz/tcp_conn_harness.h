// The harness behind tcp_conn_fuzz.cc: two Connections on a manual clock,
// joined by one FIFO of wire bytes each way that moves only when told to, so
// that one of them can be put in a chosen state and then handed segments no
// well-behaved peer would send. It is gtest-free (tcp_testing.h is not).
//
// Every segment either side emits is checked on the way out (End::send); both
// applications write, and the fuzzer's segments carry, the same byte stream
// (stream_byte), so every byte a connection sends or reads is checked too.
// A broken invariant aborts (SN_CHECK), which libFuzzer reports as a crash.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <span>
#include <vector>

#include "base/check.h"
#include "base/time.h"
#include "buf/pool.h"
#include "tcp/connection.h"
#include "wire/checksum.h"
#include "wire/tcp.h"

namespace sn::fuzz {

inline constexpr Ipv4Address kClientAddr = Ipv4Address::from_octets(10, 0, 0, 1);
inline constexpr Ipv4Address kServerAddr = Ipv4Address::from_octets(10, 0, 0, 2);
inline constexpr L4Port kClientPort{40000};
inline constexpr L4Port kServerPort{80};
// TSval is `now` in ms and a TSecr of 0 means "none", so start well past 0.
inline constexpr Instant kStart = Instant::from_ns(int64_t{1000} * 1'000'000'000);
// Segments waiting in one direction; past this the oldest is lost.
inline constexpr size_t kMaxQueued = 256;

// The byte loops below need no coverage feedback, and their instrumented
// comparisons were most of an execution's time.
#define SN_FUZZ_NO_COVERAGE __attribute__((no_sanitize("coverage")))

// The byte at `offset` into either direction's data stream (offset 0 is the
// byte after the SYN). A multiplicative hash, so a byte delivered at the wrong
// offset is caught.
SN_FUZZ_NO_COVERAGE inline std::byte stream_byte(uint32_t offset) {
  return static_cast<std::byte>((offset * 0x9e3779b1u) >> 24);
}
SN_FUZZ_NO_COVERAGE inline void fill_stream(std::span<std::byte> out, uint32_t offset) {
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = stream_byte(offset + static_cast<uint32_t>(i));
}
// Whether `data` is the stream's bytes from `offset` on.
SN_FUZZ_NO_COVERAGE inline bool is_stream(std::span<const std::byte> data, uint32_t offset) {
  for (size_t i = 0; i < data.size(); ++i)
    if (data[i] != stream_byte(offset + static_cast<uint32_t>(i))) return false;
  return true;
}

using WireQueue = std::deque<std::vector<std::byte>>;

// One side: its Connection, the sink that checks what the connection sends,
// and how far its application has written and read.
class End final : public SegmentSink {
 public:
  End(const ConnectionConfig& config, PacketPool& pool, Ipv4Address local, L4Port lport,
      Ipv4Address remote, L4Port rport, WireQueue& out)
      : conn(config, pool, *this, local, lport, remote, rport),
        config_(config),
        local_(local),
        remote_(remote),
        out_(out) {}

  // Checks one segment on its way out, then queues its wire bytes:
  // - it is well formed: a header of at most 60 bytes; no data on SYN or RST;
  //   an ACK field, when set, of RCV.NXT;
  // - data fits the MSS less the options sent with it, starts at or after
  //   SND.UNA, was written by the application, and is the stream's bytes;
  // - it round-trips: TcpHeader::emit, then TcpView::parse with a valid
  //   checksum and TcpHeader::from give back the same header and length.
  void send(const TcpHeader& h, PacketPtr payload) override {
    ++emitted;
    const uint32_t len = payload ? payload->chain_size() : 0;
    SN_CHECK(h.size() <= kTcpMinHeaderSize + kTcpMaxOptionsSize);
    if (h.flags & (kTcpSyn | kTcpRst)) SN_CHECK(len == 0);
    if (h.flags & kTcpAck) SN_CHECK(h.ack == conn.rcv_nxt());
    if (len > 0) {
      SN_CHECK(len + (conn.ts_ok() ? 12u : 0u) <= conn.send_mss());
      SN_CHECK(h.seq >= conn.snd_una());
      const auto offset = static_cast<uint32_t>(h.seq - (conn.iss() + 1));
      SN_CHECK(uint64_t{offset} + len <= uint64_t{written} + writing_);
      std::vector<std::byte> data(len);
      chain_copy_out(*payload, 0, data);
      SN_CHECK(is_stream(data, offset));
    }
    std::vector<std::byte> wire(h.size() + len);
    if (len > 0) chain_copy_out(*payload, 0, std::span(wire).subspan(h.size()));
    const uint32_t sum = Checksum{}.add(std::span(wire).subspan(h.size())).sum();
    h.emit(wire, local_, remote_, sum, static_cast<uint16_t>(len));
    auto view = TcpView::parse(wire);
    SN_CHECK(view.ok());
    SN_CHECK(view->checksum_ok(local_, remote_));
    SN_CHECK(view->payload().size() == len);
    auto back = TcpHeader::from(*view);
    SN_CHECK(back.ok());
    // SACK blocks that do not fit are left out by emit().
    TcpHeader want = h;
    want.options.sack_count = h.options.emitted_sack_count();
    for (size_t i = want.options.sack_count; i < want.options.sack.size(); ++i)
      want.options.sack[i] = SackBlock{};
    SN_CHECK(*back == want);
    if (out_.size() >= kMaxQueued) out_.pop_front();
    out_.push_back(std::move(wire));
  }

  // The application writes `n` more bytes of its stream; returns what was taken.
  uint32_t write(uint32_t n, Instant now) {
    std::vector<std::byte> data(n);
    fill_stream(data, written);
    writing_ = n;  // the connection may send some of it from inside write()
    const uint32_t took = conn.write(data, now);
    writing_ = 0;
    SN_CHECK(took <= n);
    written += took;
    return took;
  }
  // The application reads up to `n` bytes and checks them against the stream.
  uint32_t read(uint32_t n, Instant now) {
    std::vector<std::byte> data(n);
    const uint32_t got = conn.read(data, now);
    SN_CHECK(got <= n);
    SN_CHECK(is_stream(std::span(data).first(got), read_offset));
    read_offset += got;
    return got;
  }

  // Invariants that hold between any two calls into the connection.
  void check(Instant now) {
    SN_CHECK(conn.snd_una() <= conn.snd_nxt());
    SN_CHECK(conn.snd_nxt() <= conn.snd_max());
    SN_CHECK(conn.readable_bytes() <= config_.recv_buffer);
    if (conn.closed()) {
      // A closed connection arms nothing and sends nothing, whatever the time.
      SN_CHECK(conn.next_deadline() == Instant::never());
      const uint64_t before = emitted;
      conn.on_timer(now);
      conn.on_timer(now + Duration::seconds(3600));
      SN_CHECK(emitted == before);
    }
  }
  // Fires the connection's timers if due. A deadline that stays at or before
  // `now` after on_timer() would spin the shard's timer wheel.
  bool fire(Instant now) {
    if (conn.next_deadline() > now) return false;
    conn.on_timer(now);
    SN_CHECK(conn.next_deadline() > now);
    return true;
  }

  Connection conn;
  uint64_t emitted = 0;      // segments sent
  uint32_t written = 0;      // stream bytes the connection took from write()
  uint32_t read_offset = 0;  // stream bytes read

 private:
  ConnectionConfig config_;
  uint32_t writing_ = 0;  // the size of the write() in progress
  Ipv4Address local_, remote_;
  WireQueue& out_;
};

// A client and a server joined by two queues, on a manual clock.
class Harness {
 public:
  Harness(PacketPool& pool, const ConnectionConfig& client_config,
          const ConnectionConfig& server_config)
      : pool_(pool),
        client(client_config, pool, kClientAddr, kClientPort, kServerAddr, kServerPort, to_server),
        server(server_config, pool, kServerAddr, kServerPort, kClientAddr, kClientPort, to_client) {
  }
  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;

  WireQueue& queue_to(const End& e) { return &e == &client ? to_client : to_server; }
  End& peer_of(const End& e) { return &e == &client ? server : client; }

  // Hands wire bytes to `to` as the stack does: parse, check the checksum,
  // parse the options, copy the header aside and the payload into a pool
  // chain. A segment the pool has no room for is lost, as on a real port.
  void deliver(End& to, const std::vector<std::byte>& wire) {
    const bool to_server = &to == &server;
    auto view = TcpView::parse(wire);
    SN_CHECK(view.ok());
    SN_CHECK(view->checksum_ok(to_server ? kClientAddr : kServerAddr,
                               to_server ? kServerAddr : kClientAddr));
    auto opts = TcpOptions::parse(view->options());
    SN_CHECK(opts.ok());
    segment_in(to, view->bytes().first(view->header_length()), *opts, view->payload(), 1460);
  }
  // Gives `to` a segment: its header bytes (a TcpView must parse them), its
  // options, and its payload cut into packets of at most `per_packet` bytes.
  void segment_in(End& to, std::span<const std::byte> header, const TcpOptions& opts,
                  std::span<const std::byte> data, uint32_t per_packet) {
    auto view = TcpView::parse(header);
    SN_CHECK(view.ok());
    PacketPtr payload;
    if (!data.empty()) {
      payload = pool_.alloc_chain(static_cast<uint32_t>(data.size()), per_packet);
      if (!payload) return;
      chain_copy_in(*payload, 0, data);
    }
    to.conn.on_segment(*view, opts, std::move(payload), now);
  }

  // Moves the oldest segment queued for `to`: delivers it, or drops it.
  bool deliver_one(End& to, bool drop = false) {
    WireQueue& q = queue_to(to);
    if (q.empty()) return false;
    std::vector<std::byte> wire = std::move(q.front());
    q.pop_front();
    if (!drop) deliver(to, wire);
    return true;
  }
  // Delivers everything queued for `to` (not what that provokes from it).
  void deliver_queued(End& to) {
    for (size_t n = queue_to(to).size(); n > 0 && deliver_one(to); --n) {
    }
  }
  // Delivers both ways until both queues are empty, or `budget` segments
  // have been delivered; true if the queues are empty. A budget is needed
  // once the fuzzer's segments have put the two out of step: each then
  // answers the other's segments with an ACK the other finds unacceptable
  // and answers in turn (an "ACK storm"; RFC 5961 §7 and Linux's
  // tcp_invalid_ratelimit limit the rate, which the core leaves to the demux).
  bool deliver_all(int budget = 100'000) {
    for (int n = 0; n < budget; ++n) {
      if (!deliver_one(server) && !deliver_one(client)) return true;
    }
    return to_client.empty() && to_server.empty();
  }

  Instant next_deadline() const {
    return std::min(client.conn.next_deadline(), server.conn.next_deadline());
  }
  // Fires whichever timers are due at the next deadline, if it is no later
  // than `limit`; moves the clock there.
  bool fire_next(Instant limit) {
    const Instant t = next_deadline();
    if (t > limit) return false;
    now = std::max(now, t);
    client.fire(now);
    server.fire(now);
    return true;
  }
  // Moves the clock by `d`, firing timers on the way; delivers nothing.
  void advance(Duration d) {
    const Instant end = now + d;
    for (int guard = 0; fire_next(end); ++guard)
      SN_CHECK(guard < 10'000);
    now = end;
  }
  // Delivers everything and fires timers in time order until `pred()` holds;
  // false if it does not within `limit`. `pred` may call the connections.
  template <typename F>
  bool run_until(F pred, Duration limit = Duration::seconds(10)) {
    const Instant end = now + limit;
    for (;;) {
      // Two well-behaved connections must fall quiet.
      SN_CHECK(deliver_all());
      if (pred()) return true;
      if (!to_client.empty() || !to_server.empty()) continue;
      if (!fire_next(end)) return false;
    }
  }

  void check() {
    client.check(now);
    server.check(now);
  }

  Instant now = kStart;
  WireQueue to_client, to_server;

 private:
  PacketPool& pool_;

 public:
  End client;
  End server;
};

}  // namespace sn::fuzz
