// Test harness for connections: two Connections joined by an in-memory wire
// on a manual clock. Every segment goes through TcpHeader::emit and back
// through TcpView::parse (checksum checked), so what the connection sends is
// real wire format. Hooks drop, duplicate or delay chosen segments; reach()
// puts a connection in any state a connection can be in.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include "base/time.h"
#include "buf/pool.h"
#include "tcp/connection.h"
#include "wire/checksum.h"
#include "wire/tcp.h"

namespace sn::testing {

inline constexpr Ipv4Address kClientAddr = Ipv4Address::from_octets(10, 0, 0, 1);
inline constexpr Ipv4Address kServerAddr = Ipv4Address::from_octets(10, 0, 0, 2);
inline constexpr L4Port kClientPort{40000};
inline constexpr L4Port kServerPort{80};
// TSval is `now` in ms and a TSecr of 0 means "none", so start well past 0.
inline constexpr Instant kStart = Instant::from_ns(int64_t{1000} * 1'000'000'000);

// A segment as it crossed the wire.
struct WireSegment {
  Instant sent;
  TcpHeader h;
  std::vector<std::byte> bytes;  // header and payload, as emitted
  size_t payload_len() const { return bytes.size() - h.size(); }
  bool has(uint8_t f) const { return (h.flags & f) != 0; }
};

enum class Side { kClient, kServer };
enum class Fate { kDeliver, kDrop, kDuplicate, kDelay };

// Builds the wire bytes of a header and payload, checksum included.
inline std::vector<std::byte> to_wire(const TcpHeader& h, const Packet* payload, Ipv4Address src,
                                      Ipv4Address dst) {
  const uint32_t plen = payload ? payload->chain_size() : 0;
  std::vector<std::byte> out(h.size() + plen);
  if (plen > 0) chain_copy_out(*payload, 0, std::span(out).subspan(h.size()));
  const uint32_t sum = Checksum{}.add(std::span(out).subspan(h.size())).sum();
  h.emit(out, src, dst, sum, static_cast<uint16_t>(plen));
  return out;
}

class Pair {
 public:
  explicit Pair(const ConnectionConfig& client_cfg = {}, const ConnectionConfig& server_cfg = {},
                PoolConfig pool_cfg = {.count = 16384, .buffer_size = 2048, .headroom = 128})
      : pool_(pool_cfg),
        client_sink_(this, Side::kClient),
        server_sink_(this, Side::kServer),
        client(client_cfg, pool_, client_sink_, kClientAddr, kClientPort, kServerAddr, kServerPort),
        server(server_cfg, pool_, server_sink_, kServerAddr, kServerPort, kClientAddr,
               kClientPort) {}

  Connection& conn(Side s) { return s == Side::kClient ? client : server; }
  std::vector<WireSegment>& sent(Side s) { return s == Side::kClient ? client_log : server_log; }

  // Active open by the client; the server accepts the SYN the way the demux
  // will (accept_syn), then everything is delivered.
  void handshake(SeqNum client_iss = SeqNum{1000}, SeqNum server_iss = SeqNum{5000}) {
    ASSERT_TRUE(client.connect(client_iss, now).ok());
    accept_next_syn(server_iss);
    deliver_all();
  }
  // Takes the client's first queued SYN off the wire and gives it to the
  // server's accept_syn.
  void accept_next_syn(SeqNum server_iss) {
    ASSERT_FALSE(to_server_.empty());
    InFlight f = std::move(to_server_.front());
    to_server_.pop_front();
    auto view = TcpView::parse(f.seg.bytes);
    ASSERT_TRUE(view.ok());
    auto opts = TcpOptions::parse(view->options());
    ASSERT_TRUE(opts.ok());
    server.accept_syn(*view, *opts, server_iss, now);
  }

  // Delivers every segment due by `now`, including those they provoke.
  void deliver_all() {
    for (int guard = 0; guard < 10'000'000; ++guard) {
      InFlight* next = nullptr;
      std::deque<InFlight>* q = nullptr;
      for (auto* cand : {&to_server_, &to_client_}) {
        for (auto& f : *cand) {
          if (f.arrive <= now && (next == nullptr || f.order < next->order)) {
            next = &f;
            q = cand;
          }
        }
      }
      if (next == nullptr) return;
      auto it = std::find_if(q->begin(), q->end(), [&](const InFlight& f) { return &f == next; });
      InFlight f = std::move(*it);
      q->erase(it);
      deliver(q == &to_server_ ? server : client, f.seg.bytes);
    }
    FAIL() << "deliver_all did not settle";
  }

  // Hands raw wire bytes to a connection as the stack will: parse, check the
  // checksum, parse options, copy the payload into a pool packet.
  void deliver(Connection& c, const std::vector<std::byte>& bytes) {
    auto view = TcpView::parse(bytes);
    ASSERT_TRUE(view.ok());
    const Ipv4Address src = &c == &server ? kClientAddr : kServerAddr;
    const Ipv4Address dst = &c == &server ? kServerAddr : kClientAddr;
    ASSERT_TRUE(view->checksum_ok(src, dst));
    auto opts = TcpOptions::parse(view->options());
    ASSERT_TRUE(opts.ok());
    PacketPtr payload;
    if (!view->payload().empty()) {
      payload = pool_.alloc_chain(static_cast<uint32_t>(view->payload().size()), 1460);
      ASSERT_TRUE(payload != nullptr);
      chain_copy_in(*payload, 0, view->payload());
    }
    c.on_segment(*view, *opts, std::move(payload), now);
  }

  // A crafted segment to `to`, as if from its peer.
  void inject(Side to, const TcpHeader& h, std::span<const std::byte> data = {}) {
    PacketPtr p;
    if (!data.empty()) {
      p = pool_.alloc_chain(static_cast<uint32_t>(data.size()), 1460);
      chain_copy_in(*p, 0, data);
    }
    const bool to_server = to == Side::kServer;
    deliver(conn(to), to_wire(h, p.get(), to_server ? kClientAddr : kServerAddr,
                              to_server ? kServerAddr : kClientAddr));
  }
  // A header from `to`'s peer with the right ports.
  TcpHeader header_to(Side to, SeqNum seq, SeqNum ack, uint8_t flags, uint16_t window = 1000) {
    TcpHeader h;
    h.src_port = to == Side::kServer ? kClientPort : kServerPort;
    h.dst_port = to == Side::kServer ? kServerPort : kClientPort;
    h.seq = seq;
    h.ack = ack;
    h.flags = flags;
    h.window = window;
    return h;
  }

  Instant next_event() {
    Instant t = std::min(client.next_deadline(), server.next_deadline());
    for (auto* q : {&to_server_, &to_client_})
      for (auto& f : *q)
        t = std::min(t, f.arrive);
    return t;
  }

  // Advances virtual time event by event (deliveries and deadlines) until
  // pred() holds or nothing is left to happen before `limit`.
  bool run_until(const std::function<bool()>& pred, Duration limit = Duration::seconds(3600)) {
    const Instant end = now + limit;
    for (;;) {
      deliver_all();
      if (pred()) return true;
      const Instant t = next_event();
      if (t == Instant::never() || t > end) return false;
      if (t > now) now = t;
      if (client.next_deadline() <= now) client.on_timer(now);
      if (server.next_deadline() <= now) server.on_timer(now);
    }
  }
  void advance(Duration d) {
    const Instant end = now + d;
    run_until([&] { return false; }, d);
    now = end;
    deliver_all();
  }

  Instant now = kStart;
  Duration delay{};  // one-way latency
  Duration reorder_delay = Duration::millis(5);
  // Decides each segment's fate: fault(from, index within that direction, seg).
  std::function<Fate(Side, size_t, const WireSegment&)> fault;
  std::vector<WireSegment> client_log, server_log;

 private:
  struct InFlight {
    Instant arrive;
    uint64_t order;
    WireSegment seg;
  };
  struct Sink final : SegmentSink {
    Sink(Pair* p, Side s) : pair(p), side(s) {}
    void send(const TcpHeader& h, PacketPtr payload) override { pair->on_send(side, h, payload); }
    Pair* pair;
    Side side;
  };
  void on_send(Side from, const TcpHeader& h, const PacketPtr& payload) {
    const bool c = from == Side::kClient;
    WireSegment seg{
        now, h,
        to_wire(h, payload.get(), c ? kClientAddr : kServerAddr, c ? kServerAddr : kClientAddr)};
    auto& log = sent(from);
    log.push_back(seg);
    const Fate fate = fault ? fault(from, log.size() - 1, seg) : Fate::kDeliver;
    auto& q = c ? to_server_ : to_client_;
    switch (fate) {
      case Fate::kDrop:
        return;
      case Fate::kDuplicate:
        q.push_back({now + delay, order_++, seg});
        q.push_back({now + delay, order_++, std::move(seg)});
        return;
      case Fate::kDelay:
        q.push_back({now + delay + reorder_delay, order_++, std::move(seg)});
        return;
      case Fate::kDeliver:
        q.push_back({now + delay, order_++, std::move(seg)});
        return;
    }
  }

  PacketPool pool_;
  Sink client_sink_, server_sink_;
  std::deque<InFlight> to_server_, to_client_;
  uint64_t order_ = 0;

 public:
  Connection client;
  Connection server;
};

inline std::vector<std::byte> pattern(size_t n, uint32_t seed) {
  std::vector<std::byte> v(n);
  uint32_t x = seed * 2654435761u + 1;
  for (auto& b : v) {
    x = x * 1103515245u + 12345u;
    b = static_cast<std::byte>(x >> 24);
  }
  return v;
}

// Puts one connection of `p` in `target` and returns its side. Every state
// but CLOSED and LISTEN: SYN-SENT is the client after connect(), with its SYN
// still on the wire; SYN-RECEIVED the server after accept_syn(), its SYN-ACK
// on the wire; the others follow a handshake with ISS 1000 (client) and 5000
// (server), and any FIN this function does not deliver is still on the wire.
// For CLOSING, p.fault drops everything but FINs from then on.
inline Side reach(Pair& p, TcpState target) {
  switch (target) {
    case TcpState::kSynSent:
      EXPECT_TRUE(p.client.connect(SeqNum{1000}, p.now).ok());
      return Side::kClient;
    case TcpState::kSynReceived:
      EXPECT_TRUE(p.client.connect(SeqNum{1000}, p.now).ok());
      p.accept_next_syn(SeqNum{5000});
      return Side::kServer;
    default:
      break;
  }
  p.handshake();
  switch (target) {
    case TcpState::kEstablished:
      return Side::kClient;
    case TcpState::kFinWait1:
      EXPECT_TRUE(p.client.shutdown_send(p.now).ok());  // FIN not delivered
      return Side::kClient;
    case TcpState::kFinWait2:
    case TcpState::kCloseWait:
      EXPECT_TRUE(p.client.shutdown_send(p.now).ok());
      p.deliver_all();
      return target == TcpState::kFinWait2 ? Side::kClient : Side::kServer;
    case TcpState::kLastAck:
      EXPECT_TRUE(p.client.shutdown_send(p.now).ok());
      p.deliver_all();
      EXPECT_TRUE(p.server.shutdown_send(p.now).ok());  // FIN not delivered
      return Side::kServer;
    case TcpState::kClosing:
      EXPECT_TRUE(p.client.shutdown_send(p.now).ok());
      EXPECT_TRUE(p.server.shutdown_send(p.now).ok());
      // Deliver only the FINs: drop everything from here.
      p.fault = [](Side, size_t, const WireSegment& s) {
        return s.has(kTcpFin) ? Fate::kDeliver : Fate::kDrop;
      };
      p.deliver_all();
      return Side::kClient;
    case TcpState::kTimeWait:
      EXPECT_TRUE(p.client.shutdown_send(p.now).ok());
      p.deliver_all();
      EXPECT_TRUE(p.server.shutdown_send(p.now).ok());
      p.deliver_all();
      return Side::kClient;
    default:
      ADD_FAILURE() << "unreachable here: " << target;
      return Side::kClient;
  }
}

}  // namespace sn::testing
