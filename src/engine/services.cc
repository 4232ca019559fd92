// The built-in services.
#include "engine/services.h"

#include <charconv>

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
  if (spec.kind != "udp-echo")
    return bad("unknown service kind '" + spec.kind + "' (known: udp-echo)");
  return spec;
}

Result<std::unique_ptr<Service>> start_service(Stack& stack, const ServiceSpec& spec) {
  if (spec.kind == "udp-echo") {
    auto s = stack.udp().bind(Ipv4Address::any(), spec.port);
    if (!s) return s.error();
    return std::unique_ptr<Service>(new UdpEcho(stack, *s));
  }
  return Error{Errc::kInvalidArgument, "unknown service kind"};
}

}  // namespace sn
