// IPv4 receive and send paths.
#include "stack/ipv4.h"

#include <algorithm>
#include <cstring>

#include "stack/chain_checksum.h"
#include "stack/stack.h"
#include "wire/bytes.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"
#include "wire/tcp.h"

namespace sn {

Ipv4::Ipv4(Stack& stack, const ReassemblyConfig& reassembly)
    : stack_(stack),
      reassembler_(stack, reassembly),
      next_id_(static_cast<uint16_t>(stack.rng().next())) {}

// RFC 1122 §3.2.1: validate, then accept datagrams for one of our addresses
// (the weak host model, §3.3.4.2) or a broadcast address of the interface.
void Ipv4::receive(Interface& ifc, PacketPtr packet, bool link_broadcast) {
  StackCounters& c = stack_.counters();
  auto ip = Ipv4View::parse(packet->bytes());
  if (!ip) {
    switch (ip.error()) {
      case ParseError::kBadVersion:
        c.drop.ip_bad_version.inc();
        break;
      case ParseError::kBadHeaderLength:
        c.drop.ip_bad_header_length.inc();
        break;
      case ParseError::kBadTotalLength:
        c.drop.ip_bad_total_length.inc();
        break;
      case ParseError::kBadOption:
        c.drop.ip_bad_option.inc();
        break;
      default:
        c.drop.ip_truncated.inc();
        break;
    }
    return;
  }
  if (!ip->checksum_ok()) {
    c.drop.ip_bad_checksum.inc();
    return;
  }
  const Ipv4Address src = ip->src(), dst = ip->dst();
  // §3.2.1.3: a broadcast, multicast or loopback (127/8, which must never
  // appear on a wire) source is discarded; so is 0/8 ("this host", only for a
  // host that does not know its address yet, asking a broadcast), and one of
  // our own addresses, which only a spoofer sends us (Linux drops both too).
  const bool this_network = src.octet(0) == 0 && !ifc.is_broadcast(ip->dst());
  if (src.is_broadcast() || src.is_multicast() || src.is_loopback() || ifc.is_broadcast(src) ||
      this_network || stack_.iface_with_address(src)) {
    c.drop.ip_bad_source.inc();
    return;
  }
  const bool broadcast = ifc.is_broadcast(dst);
  if (!broadcast && !stack_.iface_with_address(dst)) {
    c.drop.ip_not_for_us.inc();  // a host does not forward (§3.3.1.1 silent discard)
    return;
  }
  c.ip_rx_datagrams.inc();
  Ipv4Meta meta{src,       dst,       ip->protocol(),
                ip->ttl(), ip->tos(), static_cast<uint16_t>(ip->header_length()),
                ifc.index, broadcast, link_broadcast};
  packet->truncate(ip->total_length());  // drop link-layer padding
  if (ip->is_fragment()) {
    packet = reassembler_.add(*ip, std::move(packet));
    if (!packet) return;
    meta.header_length = Ipv4Header::kSize;  // the rebuilt header has no options
    // Fragments meet on the shard their (src, dst, protocol, id) hash to; the
    // whole datagram goes on to its transport owner.
    if (StackSteering* s = stack_.steering(); s != nullptr && s->steer_datagram(meta, packet))
      return;
  }
  deliver(meta, std::move(packet));
}

void Ipv4::deliver(const Ipv4Meta& meta, PacketPtr datagram) {
  datagram->trim_front(meta.header_length);
  switch (meta.protocol) {
    case kIpProtoIcmp:
      stack_.icmp().receive(meta, std::move(datagram));
      return;
    case kIpProtoUdp:
      stack_.udp().receive(meta, std::move(datagram));
      return;
    case kIpProtoTcp:
      stack_.tcp().receive(meta, std::move(datagram));
      return;
    default:
      // RFC 1122 §3.2.2.1: protocol unreachable, when not sent to a broadcast.
      stack_.counters().drop.ip_unknown_protocol.inc();
      datagram->prepend(meta.header_length);
      stack_.icmp().send_error(kIcmpDestUnreachable, kIcmpProtocolUnreachable, meta, *datagram);
      return;
  }
}

Result<Ipv4::Hop> Ipv4::route(Ipv4Address dst) const {
  if (dst.is_broadcast()) {  // limited broadcast: out of the first interface
    if (stack_.iface_count() == 0) return Error{Errc::kUnreachable, "no interface"};
    return Hop{0, dst};
  }
  auto hop = stack_.routes().lookup(dst);
  if (!hop) return Error{Errc::kUnreachable, "no route to host"};
  return Hop{hop->iface, hop->address};
}

Result<Ipv4Address> Ipv4::source_for(Ipv4Address dst) const {
  auto hop = route(dst);
  if (!hop) return hop.error();
  return stack_.iface(hop->iface).address.address;
}

Result<void> Ipv4::send(const Send& s, PacketPtr payload) {
  StackCounters& c = stack_.counters();
  const uint32_t generation = stack_.routes().generation();
  Result<Hop> hop = Hop{};
  if (s.route != nullptr && s.route->generation == generation) {
    hop = Hop{s.route->iface, s.route->next_hop};
  } else {
    hop = route(s.dst);
    if (!hop) {
      c.drop.ip_no_route.inc();
      return hop.error();
    }
    if (s.route != nullptr) *s.route = RouteCache{generation, hop->iface, hop->next_hop};
  }
  Interface& ifc = stack_.iface(hop->iface);
  const uint32_t len = payload->chain_size();
  if (len + Ipv4Header::kSize > 65535) {
    c.drop.ip_too_big.inc();
    return Error{Errc::kTooBig, "datagram larger than 65535 bytes"};
  }
  const Ipv4Address src = s.src.is_any() ? ifc.address.address : s.src;
  const bool tso = payload->gso_size != 0;
  if (tso && (len + Ipv4Header::kSize > ifc.port->tx_tso_max() || !ifc.port->tx_l4_csum_offload() ||
              payload->headroom() < Ipv4Header::kSize + kMaxLinkHeader))
    return send_segmented(s, src, *payload);  // (the port cannot: Linux's GSO)
  // What the port cannot carry partial, the stack completes (Linux's
  // skb_checksum_help()).
  if (payload->l4_csum_partial && !ifc.port->tx_l4_csum_offload()) complete_tcp_checksum(*payload);
  Ipv4Header h;
  h.tos = s.tos;
  h.total_length = static_cast<uint16_t>(len + Ipv4Header::kSize);
  h.id = next_id_++;
  h.df = s.df;
  h.ttl = s.ttl ? s.ttl : stack_.config().default_ttl;
  h.protocol = s.protocol;
  h.src = src;
  h.dst = s.dst;

  if (tso) {
    // The port cuts it: the chain goes as it is, headers in its first link.
    c.ip_tx_tso.inc();
  } else if (h.total_length > ifc.mtu) {
    if (s.df) {
      c.drop.ip_df_too_big.inc();
      return Error{Errc::kTooBig, "datagram exceeds the MTU and may not be fragmented"};
    }
    if (payload->l4_csum_partial) complete_tcp_checksum(*payload);  // (TCP sets DF: not here)
    auto r = fragment(ifc, hop->next_hop, h, std::move(payload));
    if (r) c.ip_tx_datagrams.inc();
    return r;
  }
  if (!tso && (payload->next() || payload->headroom() < Ipv4Header::kSize + kMaxLinkHeader)) {
    // Gather into one buffer: a frame leaves as one packet.
    PacketPtr flat = stack_.pool().alloc();
    if (!flat) {
      c.drop.no_buffer.inc();
      return Error{Errc::kNoBuffers, "packet pool exhausted"};
    }
    chain_copy_out(*payload, 0, std::span<std::byte>(flat->append(len), len));
    flat->l4_csum_partial = payload->l4_csum_partial;
    payload = std::move(flat);
  }
  h.emit(std::span<std::byte>(payload->prepend(Ipv4Header::kSize), Ipv4Header::kSize));
  c.ip_tx_datagrams.inc();
  stack_.arp().output(ifc, hop->next_hop, std::move(payload));
  return ok();
}

// Cuts a TCP super-segment (data at its TCP header, all of which is in the
// first link) into segments of at most gso_size payload bytes and sends each,
// as a device with TSO would (RFC 9293 §3.7.1; Linux's tcp_gso_segment()):
// the header copied, the sequence number advanced, CWR on the first segment
// only, FIN and PSH on the last only, a partial checksum for each one's
// length. A segment the pool cannot hold ends the cut: TCP's retransmission
// covers what did not go, as for any segment lost on the way.
Result<void> Ipv4::send_segmented(const Send& s, Ipv4Address src, const Packet& super) {
  StackCounters& c = stack_.counters();
  const uint32_t thl = super.size() >= kTcpMinHeaderSize ? (load8(super.data() + 12) >> 4) * 4u : 0;
  const uint32_t mss = super.gso_size;
  if (thl < kTcpMinHeaderSize || super.size() < thl ||
      thl + mss > stack_.pool().buffer_size() - stack_.pool().headroom()) {
    c.drop.ip_too_big.inc();  // not a segment this stack made: nothing to cut it into
    return Error{Errc::kTooBig, "a TCP super-segment that cannot be cut"};
  }
  const uint32_t data = super.chain_size() - thl;
  const SeqNum seq{load32(super.data() + 4)};
  const uint8_t flags = load8(super.data() + 13);
  for (uint32_t off = 0; off < data; off += mss) {
    const uint32_t n = std::min(mss, data - off);
    const bool last = off + n == data;
    PacketPtr seg = stack_.pool().alloc();
    if (!seg) {
      c.drop.no_buffer.inc();
      return Error{Errc::kNoBuffers, "packet pool exhausted while cutting a TCP segment"};
    }
    std::byte* p = seg->append(thl + n);
    std::memcpy(p, super.data(), thl);
    chain_copy_out(super, thl + off, std::span<std::byte>(p + thl, n));
    store32(p + 4, (seq + off).v);
    uint8_t f = flags;
    if (!last) f &= static_cast<uint8_t>(~(kTcpFin | kTcpPsh));
    if (off != 0) f &= static_cast<uint8_t>(~kTcpCwr);
    store8(p + 13, f);
    store16(p + 16, static_cast<uint16_t>(pseudo_header_sum(src, s.dst, kIpProtoTcp,
                                                            static_cast<uint16_t>(thl + n))));
    seg->l4_csum_partial = true;
    c.ip_tx_gso_segments.inc();
    if (Result<void> r = send(s, std::move(seg)); !r) return r;
  }
  return ok();
}

// True when each link of the chain can go out as one fragment as it stands:
// every link but the last a multiple of 8 bytes, none above the largest
// fragment, each with room for the headers. A reassembled datagram sent back
// (an echo reply) has this shape, so it leaves without a copy.
bool Ipv4::fragments_in_place(const Packet& payload, uint32_t max_fragment) const {
  for (const Packet* p = &payload; p; p = p->next()) {
    if (p->size() == 0 || p->size() > max_fragment) return false;
    if (p->next() && p->size() % 8 != 0) return false;
    if (p->headroom() < Ipv4Header::kSize + kMaxLinkHeader) return false;
  }
  return true;
}

// RFC 791 §3.2 "An Example Fragmentation Procedure".
Result<void> Ipv4::fragment(Interface& ifc, Ipv4Address next_hop, Ipv4Header& h,
                            PacketPtr payload) {
  StackCounters& c = stack_.counters();
  const uint32_t max_fragment = (ifc.mtu - Ipv4Header::kSize) & ~7u;
  const uint32_t total = payload->chain_size();
  auto emit = [&](PacketPtr frag, uint32_t offset, uint32_t n) {
    h.fragment_offset = static_cast<uint16_t>(offset);
    h.mf = offset + n < total;
    h.total_length = static_cast<uint16_t>(n + Ipv4Header::kSize);
    h.emit(std::span<std::byte>(frag->prepend(Ipv4Header::kSize), Ipv4Header::kSize));
    c.ip_tx_fragments.inc();
    stack_.arp().output(ifc, next_hop, std::move(frag));
  };
  if (fragments_in_place(*payload, max_fragment)) {
    uint32_t offset = 0;
    while (payload) {
      PacketPtr rest = payload->take_next();
      uint32_t n = payload->size();
      emit(std::move(payload), offset, n);
      offset += n;
      payload = std::move(rest);
    }
    return ok();
  }
  for (uint32_t offset = 0; offset < total; offset += max_fragment) {
    uint32_t n = std::min(max_fragment, total - offset);
    PacketPtr frag = stack_.pool().alloc();
    if (!frag) {
      c.drop.no_buffer.inc();
      return Error{Errc::kNoBuffers, "packet pool exhausted while fragmenting"};
    }
    chain_copy_out(*payload, offset, std::span<std::byte>(frag->append(n), n));
    emit(std::move(frag), offset, n);
  }
  return ok();
}

}  // namespace sn
