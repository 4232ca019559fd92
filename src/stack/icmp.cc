// ICMP echo and errors.
#include "stack/icmp.h"

#include <algorithm>
#include <cstring>

#include "stack/chain_checksum.h"
#include "stack/stack.h"
#include "wire/bytes.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"

namespace sn {

namespace {
// Types that are themselves errors: never answered with an error (§3.2.2).
bool is_error_type(uint8_t type) {
  return type == kIcmpDestUnreachable || type == 4 /* source quench */ ||
         type == 5 /* redirect */ || type == kIcmpTimeExceeded ||
         type == 12 /* parameter problem */;
}
}  // namespace

Icmp::Icmp(Stack& stack, const IcmpConfig& config)
    : stack_(stack), config_(config), errors_(config.error_rate, config.error_burst, stack.now()) {}

void Icmp::receive(const Ipv4Meta& meta, PacketPtr message) {
  StackCounters& c = stack_.counters();
  // The 8-byte header is in the first link: a fragment other than the last
  // carries at least 8 bytes.
  auto icmp = IcmpView::parse(message->bytes());
  if (!icmp) {
    c.drop.icmp_truncated.inc();
    return;
  }
  Checksum sum;
  checksum_chain(sum, *message);
  if (sum.finish() != 0) {
    c.drop.icmp_bad_checksum.inc();
    return;
  }
  c.icmp_rx.inc();
  if (icmp->type() == kIcmpEchoReply && on_echo_reply_) {
    on_echo_reply_(on_echo_reply_arg_, meta, *message);
    return;
  }
  if (icmp->type() != kIcmpEchoRequest) {
    // Echo replies and errors have no consumer yet on this stack.
    c.drop.icmp_unhandled_type.inc();
    return;
  }
  // RFC 1122 §3.2.2.6 lets a host ignore echo requests to a broadcast
  // address; Linux does by default (icmp_echo_ignore_broadcasts), and so do we.
  if (meta.broadcast) {
    c.drop.icmp_broadcast_echo.inc();
    return;
  }
  // The reply reuses the request's buffers: change the type, patch the
  // checksum incrementally (RFC 1624), swap the addresses.
  std::byte* h = message->data();
  const uint16_t old_word = load16(h);
  h[0] = std::byte{kIcmpEchoReply};
  // Eqn. 3 gives 0x0000 for an all-zero reply (id 0, seq 0, zero data), where
  // only 0xffff verifies; 0xffff verifies wherever 0x0000 does, so send that.
  const uint16_t adjusted = checksum_adjust(load16(h + 2), old_word, load16(h));
  store16(h + 2, adjusted == 0 ? 0xffff : adjusted);
  Ipv4::Send s;
  s.src = meta.dst;
  s.dst = meta.src;
  s.protocol = kIpProtoIcmp;
  s.tos = meta.tos;
  if (stack_.ipv4().send(s, std::move(message))) {
    c.icmp_tx.inc();
    c.icmp_echo_replies.inc();
  }
}

Result<void> Icmp::send_echo_request(Ipv4Address dst, uint16_t id, uint16_t seq,
                                     std::span<const std::byte> data) {
  PacketPool& pool = stack_.pool();
  const uint32_t len = static_cast<uint32_t>(IcmpHeader::kSize + data.size());
  if (len > 65535 - 20) return Error{Errc::kTooBig, "echo request larger than a datagram"};
  PacketPtr p = pool.alloc_chain(len, pool.buffer_size() - pool.headroom());
  if (!p) {
    stack_.counters().drop.no_buffer.inc();
    return Error{Errc::kNoBuffers, "packet pool exhausted"};
  }
  chain_copy_in(*p, IcmpHeader::kSize, data);  // the payload may span links
  Checksum sum;
  checksum_chain(sum, *p, IcmpHeader::kSize);
  IcmpHeader::echo_request(id, seq).emit(std::span<std::byte>(p->data(), IcmpHeader::kSize),
                                         sum.sum());
  Ipv4::Send s;
  s.dst = dst;
  s.protocol = kIpProtoIcmp;
  auto r = stack_.ipv4().send(s, std::move(p));
  if (r) stack_.counters().icmp_tx.inc();
  return r;
}

void Icmp::send_error(uint8_t type, uint8_t code, const Ipv4Meta& meta, const Packet& original,
                      uint32_t rest) {
  StackCounters& c = stack_.counters();
  // RFC 1122 §3.2.2: no error about an error, about a datagram sent to a
  // broadcast or multicast address (IP or link layer), or from a source that
  // is not one host.
  if (meta.broadcast || meta.link_broadcast || meta.dst.is_multicast() || meta.dst.is_broadcast())
    return;
  if (meta.src.is_any() || meta.src.is_broadcast() || meta.src.is_multicast() ||
      meta.src.is_loopback())
    return;
  if (meta.protocol == kIpProtoIcmp) {
    if (original.size() <= meta.header_length) return;
    if (is_error_type(static_cast<uint8_t>(original.data()[meta.header_length]))) return;
  }
  if (!errors_.take(stack_.now())) {
    c.drop.icmp_rate_limited.inc();
    return;
  }
  // RFC 792: quote the IP header and the first 64 bits of its data.
  const uint32_t quote = std::min<uint32_t>(original.chain_size(), meta.header_length + 8u);
  PacketPtr p = stack_.pool().alloc();
  if (!p) {
    c.drop.no_buffer.inc();
    return;
  }
  std::byte* h = p->append(IcmpHeader::kSize + quote);
  chain_copy_out(original, 0, std::span<std::byte>(h + IcmpHeader::kSize, quote));
  Checksum payload;
  payload.add(std::span<const std::byte>(h + IcmpHeader::kSize, quote));
  IcmpHeader{type, code, rest}.emit(std::span<std::byte>(h, IcmpHeader::kSize), payload.sum());
  Ipv4::Send s;
  s.src = meta.dst;
  s.dst = meta.src;
  s.protocol = kIpProtoIcmp;
  if (stack_.ipv4().send(s, std::move(p))) {
    c.icmp_tx.inc();
    if (type == kIcmpDestUnreachable) c.icmp_tx_unreachable.inc();
    if (type == kIcmpTimeExceeded) c.icmp_tx_time_exceeded.inc();
  }
}

}  // namespace sn
