// The built-in services.
#include "engine/services.h"

#include "engine/http.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <unordered_map>
#include <vector>

namespace sn {

namespace {

// Echoes every datagram back to its sender, reusing its buffers (RFC 862).
// Datagrams from the ports of the other small services (echo, daytime,
// chargen, time) are not answered: a spoofed one would set two echo servers
// talking to each other for ever (the loop inetd guards against).
class UdpEcho final : public Service {
 public:
  UdpEcho(Stack& stack, UdpSocket* socket) : stack_(stack), socket_(socket) {
    socket_->set_on_readable([](void* a, UdpSocket& s) { static_cast<UdpEcho*>(a)->drain(s); },
                             this);
  }

 private:
  static bool loop_prone(L4Port p) { return p.v == 7 || p.v == 13 || p.v == 19 || p.v == 37; }

  void drain(UdpSocket& s) {
    while (auto d = s.recv()) {
      if (loop_prone(d->src_port) || d->src_port.v == 0 ||
          !s.send_to(d->src, d->src_port, std::move(d->data))) {
        stack_.counters().drop.udp_echo_unanswered.inc();
      }
    }
  }
  Stack& stack_;
  UdpSocket* socket_;
};

// Echoes a TCP stream back (RFC 862), reading only what the send buffer has
// room for: a slow reader holds the writer back instead of growing memory.
class TcpEcho final : public Service {
 public:
  TcpEcho() = default;
  void accept(TcpSocket& s) {
    Conn& c = take_conn();
    c.service = this;
    c.socket = &s;
    s.set_on_event(
        [](void* a, TcpSocket& s) {
          Conn& c = *static_cast<Conn*>(a);
          c.service->pump(c, s);
        },
        &c);
    pump(c, s);
  }

 private:
  // A connection holds no buffer of its own: it reads only what its send
  // buffer has room for, through the shard's one scratch buffer, so unread
  // data waits in the receive buffer (and its window tells the peer to wait)
  // while the send buffer is full. `pending` holds bytes read but refused by
  // write() (the pool ran dry): rare, and empty again once sent.
  struct Conn {
    TcpEcho* service = nullptr;
    TcpSocket* socket = nullptr;
    std::vector<std::byte> pending;
    size_t off = 0;  // into pending
  };

  // Conns are reused: a new connection takes one a closed one left.
  Conn& take_conn() {
    if (free_.empty()) {
      conns_.push_back(std::make_unique<Conn>());
      free_.reserve(conns_.size());  // room to take each back without growing
      return *conns_.back();
    }
    Conn* c = free_.back();
    free_.pop_back();
    return *c;
  }

  void pump(Conn& c, TcpSocket& s) {
    for (;;) {
      if (c.off < c.pending.size()) {
        c.off += s.write(std::span<const std::byte>(c.pending).subspan(c.off));
        if (c.off < c.pending.size()) break;  // wait to be writable
        std::vector<std::byte>().swap(c.pending);
        c.off = 0;
      }
      const uint32_t room = std::min<uint32_t>(s.send_space(), scratch_.size());
      if (room == 0) break;  // the send buffer is full: wait to be writable
      const uint32_t n = s.read(std::span<std::byte>(scratch_.data(), room));
      if (n == 0) break;
      const uint32_t w = s.write(std::span<const std::byte>(scratch_.data(), n));
      if (w < n) c.pending.assign(scratch_.begin() + w, scratch_.begin() + n);
    }
    // Done once everything the peer sent is read and echoed: closing with
    // unread data would reset the connection (RFC 1122 §4.2.2.13).
    const bool drained = c.off == c.pending.size() && s.connection().readable_bytes() == 0;
    if (s.state() == TcpState::kClosed || (s.eof() && drained)) {
      s.close();  // FIN after what is queued; freed by the stack once closed
      std::vector<std::byte>().swap(c.pending);  // no events come after close()
      c.off = 0;
      free_.push_back(&c);
    }
  }

  std::vector<std::unique_ptr<Conn>> conns_;  // every Conn made, in use or free
  std::vector<Conn*> free_;
  std::array<std::byte, 16384> scratch_;
};

// Reads and drops everything (RFC 863), closing when the peer does.
class TcpDiscard final : public Service {
 public:
  static void on_event(void*, TcpSocket& s) {
    std::array<std::byte, 16384> scratch;
    while (s.read(scratch) > 0) {
    }
    if (s.eof() || s.state() == TcpState::kClosed) s.close();
  }
};

// Writes a fixed pattern for as long as the peer reads it (the TCP
// counterpart of chargen, RFC 864, for bulk download measurement): byte n of
// every stream is n mod 256. What arrives is dropped; the connection closes
// when the peer closes or resets it. Like TcpEcho, it writes until the send
// buffer is full and resumes on the next event.
class TcpSource final : public Service {
 public:
  TcpSource() {
    for (size_t i = 0; i < pattern_.size(); ++i)
      pattern_[i] = static_cast<std::byte>(i);
  }
  void accept(TcpSocket& s) {
    auto c = std::make_unique<Conn>();
    c->service = this;
    c->socket = &s;
    Conn* raw = c.get();
    conns_.emplace(&s, std::move(c));
    s.set_on_event([](void* a, TcpSocket& s) { static_cast<Conn*>(a)->service->pump(s); }, raw);
    pump(s);
  }

 private:
  // The pattern's period (256) divides its size, so a write may start at any
  // offset below the size and the stream stays n mod 256 across the wrap.
  static constexpr size_t kPatternSize = 16384;

  struct Conn {
    TcpSource* service = nullptr;
    TcpSocket* socket = nullptr;
    uint32_t off = 0;  // where in pattern_ the next write starts
  };

  void pump(TcpSocket& s) {
    auto it = conns_.find(&s);
    if (it == conns_.end()) return;
    Conn& c = *it->second;
    std::array<std::byte, 16384> scratch;
    while (s.read(scratch) > 0) {
    }
    for (;;) {
      const uint32_t n =
          s.write(std::span<const std::byte>(pattern_.data() + c.off, pattern_.size() - c.off));
      if (n == 0) break;  // the send buffer is full (or closed): wait to be writable
      c.off = static_cast<uint32_t>((c.off + n) % pattern_.size());
    }
    if (s.state() == TcpState::kClosed || s.eof()) {
      s.close();  // FIN after what is queued; freed by the stack once closed
      conns_.erase(it);
    }
  }

  std::array<std::byte, kPatternSize> pattern_;
  std::unordered_map<TcpSocket*, std::unique_ptr<Conn>> conns_;
};

}  // namespace

Result<ServiceSpec> parse_service_spec(std::string_view text, std::string* why) {
  auto bad = [&](std::string msg) -> Result<ServiceSpec> {
    *why = std::move(msg);
    return Error{Errc::kInvalidArgument, "bad service"};
  };
  size_t colon = text.find(':');
  if (colon == std::string_view::npos) return bad("a service is KIND:PORT, e.g. udp-echo:7");
  ServiceSpec spec;
  spec.kind = std::string(text.substr(0, colon));
  std::string_view rest = text.substr(colon + 1);
  size_t colon2 = rest.find(':');
  std::string_view port = rest.substr(0, colon2);
  if (colon2 != std::string_view::npos) spec.arg = std::string(rest.substr(colon2 + 1));
  unsigned v = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
  if (ec != std::errc() || end != port.data() + port.size() || v == 0 || v > 65535)
    return bad("service port must be 1-65535: '" + std::string(port) + "'");
  spec.port = L4Port(static_cast<uint16_t>(v));
  if (spec.kind != "udp-echo" && spec.kind != "tcp-echo" && spec.kind != "discard" &&
      spec.kind != "source" && spec.kind != "http")
    return bad("unknown service kind '" + spec.kind +
               "' (known: udp-echo, tcp-echo, discard, source, http:PORT:DIR)");
  if (spec.kind == "http" && spec.arg.empty()) return bad("http needs a directory: http:PORT:DIR");
  return spec;
}

Result<std::unique_ptr<Service>> start_service(Stack& stack, const ServiceSpec& spec) {
  if (spec.kind == "udp-echo") {
    auto s = stack.udp().bind(Ipv4Address::any(), spec.port);
    if (!s) return s.error();
    return std::unique_ptr<Service>(new UdpEcho(stack, *s));
  }
  if (spec.kind == "tcp-echo") {
    auto svc = std::make_unique<TcpEcho>();
    auto l = stack.tcp().listen(
        spec.port, 128, [](void* a, TcpSocket& s) { static_cast<TcpEcho*>(a)->accept(s); },
        svc.get());
    if (!l) return l.error();
    return std::unique_ptr<Service>(std::move(svc));
  }
  if (spec.kind == "discard") {
    auto svc = std::make_unique<TcpDiscard>();
    auto l = stack.tcp().listen(
        spec.port, 128,
        [](void*, TcpSocket& s) {
          s.set_on_event(&TcpDiscard::on_event, nullptr);
          TcpDiscard::on_event(nullptr, s);
        },
        nullptr);
    if (!l) return l.error();
    return std::unique_ptr<Service>(std::move(svc));
  }
  if (spec.kind == "source") {
    auto svc = std::make_unique<TcpSource>();
    auto l = stack.tcp().listen(
        spec.port, 128, [](void* a, TcpSocket& s) { static_cast<TcpSource*>(a)->accept(s); },
        svc.get());
    if (!l) return l.error();
    return std::unique_ptr<Service>(std::move(svc));
  }
  if (spec.kind == "http") return start_http_service(stack, spec);
  return Error{Errc::kInvalidArgument, "unknown service kind"};
}

}  // namespace sn
