// UDP sockets, receive and send.
#include "stack/udp.h"

#include <algorithm>
#include <cstring>

#include "stack/chain_checksum.h"
#include "stack/stack.h"
#include "wire/bytes.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"
#include "wire/udp.h"

namespace sn {

namespace {
constexpr uint32_t kMaxPayload = 65535 - 20 - UdpHeader::kSize;
}

UdpSocket::UdpSocket(Udp& udp, Ipv4Address local, L4Port port, uint32_t queue)
    : udp_(udp), local_(local), port_(port), ring_(queue) {}

bool UdpSocket::push(UdpDatagram d) {
  if (count_ == ring_.size()) return false;
  ring_[(head_ + count_) % ring_.size()] = std::move(d);
  ++count_;
  return true;
}

std::optional<UdpDatagram> UdpSocket::recv() {
  if (count_ == 0) return std::nullopt;
  UdpDatagram d = std::move(ring_[head_]);
  head_ = (head_ + 1) % static_cast<uint32_t>(ring_.size());
  --count_;
  return d;
}

Result<void> UdpSocket::send_to(Ipv4Address dst, L4Port port, std::span<const std::byte> data) {
  Stack& stack = udp_.stack();
  if (data.size() > kMaxPayload) return Error{Errc::kTooBig, "UDP payload larger than 65507 bytes"};
  PacketPool& pool = stack.pool();
  PacketPtr payload;
  if (data.empty()) {
    payload = pool.alloc();
  } else {
    payload =
        pool.alloc_chain(static_cast<uint32_t>(data.size()), pool.buffer_size() - pool.headroom());
  }
  if (!payload) {
    stack.counters().drop.no_buffer.inc();
    return Error{Errc::kNoBuffers, "packet pool exhausted"};
  }
  chain_copy_in(*payload, 0, data);
  return send_to(dst, port, std::move(payload));
}

Result<void> UdpSocket::send_to(Ipv4Address dst, L4Port port, PacketPtr payload) {
  Stack& stack = udp_.stack();
  const uint32_t len = payload->chain_size();
  if (len > kMaxPayload) return Error{Errc::kTooBig, "UDP payload larger than 65507 bytes"};
  if (port.v == 0) return Error{Errc::kInvalidArgument, "destination port 0"};
  Ipv4Address src = local_;
  if (src.is_any()) {
    auto s = stack.ipv4().source_for(dst);
    if (!s) {
      stack.counters().drop.ip_no_route.inc();
      return s.error();
    }
    src = *s;
  }
  Checksum sum;
  checksum_chain(sum, *payload);
  UdpHeader h{port_, port, static_cast<uint16_t>(len + UdpHeader::kSize)};
  h.emit(std::span<std::byte>(payload->prepend(UdpHeader::kSize), UdpHeader::kSize), src, dst,
         sum.sum());
  Ipv4::Send s;
  s.src = src;
  s.dst = dst;
  s.protocol = kIpProtoUdp;
  auto r = stack.ipv4().send(s, std::move(payload));
  if (r) stack.counters().udp_tx_datagrams.inc();
  return r;
}

Udp::Udp(Stack& stack, const UdpConfig& config)
    : stack_(stack), config_(config), by_port_(65536, nullptr) {}

Udp::~Udp() = default;

Result<UdpSocket*> Udp::bind(Ipv4Address local, L4Port port) {
  if (port.v == 0) {
    // RFC 6056 §3.3.1-style: start at a random point, walk until free.
    constexpr uint32_t kFirst = 49152, kCount = 65536 - kFirst;
    uint32_t start = static_cast<uint32_t>(stack_.rng().below(kCount));
    for (uint32_t i = 0; i < kCount && port.v == 0; ++i) {
      uint16_t candidate = static_cast<uint16_t>(kFirst + (start + i) % kCount);
      if (!by_port_[candidate]) port = L4Port(candidate);
    }
    if (port.v == 0) return Error{Errc::kAddressInUse, "no free ephemeral UDP port"};
  }
  if (by_port_[port.v]) return Error{Errc::kAddressInUse, "UDP port already bound"};
  sockets_.push_back(
      std::unique_ptr<UdpSocket>(new UdpSocket(*this, local, port, config_.rx_queue)));
  by_port_[port.v] = sockets_.back().get();
  return sockets_.back().get();
}

void Udp::close(UdpSocket* socket) {
  by_port_[socket->local_port().v] = nullptr;
  std::erase_if(sockets_, [&](const auto& s) { return s.get() == socket; });
}

void Udp::receive(const Ipv4Meta& meta, PacketPtr datagram) {
  StackCounters& c = stack_.counters();
  const uint32_t size = datagram->chain_size();
  // The 8-byte header is in the first link (a fragment other than the last
  // carries at least 8 bytes); the length field is checked against the chain.
  auto udp = UdpView::parse_prefix(datagram->bytes(), size);
  if (!udp) {
    if (udp.error() == ParseError::kTruncated)
      c.drop.udp_truncated.inc();
    else
      c.drop.udp_bad_length.inc();
    return;
  }
  const uint16_t length = udp->length();
  const L4Port src_port = udp->src_port(), dst_port = udp->dst_port();
  // Zero: the sender computed none (RFC 768).
  if (udp->checksum() != 0 && !datagram->l4_csum_ok) {
    Checksum sum;
    sum.add_sum(pseudo_header_sum(meta.src, meta.dst, kIpProtoUdp, length));
    uint32_t left = length;
    for (const Packet* p = datagram.get(); p && left > 0; p = p->next()) {
      uint32_t n = std::min(left, p->size());
      sum.add(p->bytes().first(n));
      left -= n;
    }
    if (sum.finish() != 0) {
      c.drop.udp_bad_checksum.inc();
      return;
    }
  }
  UdpSocket* s = by_port_[dst_port.v];
  if (!s || (!s->local_address().is_any() && s->local_address() != meta.dst && !meta.broadcast)) {
    c.drop.udp_no_port.inc();
    // RFC 1122 §4.1.3.1: port unreachable (not for broadcasts, see send_error).
    datagram->prepend(meta.header_length);
    stack_.icmp().send_error(kIcmpDestUnreachable, kIcmpPortUnreachable, meta, *datagram);
    return;
  }
  // Keep the payload only: drop the header and anything past `length`.
  datagram->trim_front(UdpHeader::kSize);
  chain_truncate(*datagram, length - UdpHeader::kSize);
  if (!s->push(UdpDatagram{std::move(datagram), meta.src, src_port, meta.dst})) {
    c.drop.udp_rx_queue_full.inc();
    return;
  }
  c.udp_rx_datagrams.inc();
  if (s->on_readable_) s->on_readable_(s->arg_, *s);
}

}  // namespace sn
