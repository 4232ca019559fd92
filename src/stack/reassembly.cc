// IPv4 reassembly; see reassembly.h for the policy.
#include "stack/reassembly.h"

#include <algorithm>

#include "stack/stack.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"

namespace sn {

namespace {
constexpr uint32_t kMaxPayload = 65535 - 20;  // the largest datagram, less a minimal header
}

Reassembler::Reassembler(Stack& stack, const ReassemblyConfig& config)
    : stack_(stack), config_(config), slots_(new Datagram[config.max_datagrams]) {
  config_.max_fragments = std::min(config_.max_fragments, kMaxFragments);
  for (uint32_t i = 0; i < config_.max_datagrams; ++i) {
    Datagram& d = slots_[i];
    d.owner = this;
    d.timer.set_callback(
        [](void* a, Instant) {
          auto* d = static_cast<Datagram*>(a);
          d->owner->on_timeout(d);
        },
        &d);
  }
}

Reassembler::~Reassembler() {
  for (uint32_t i = 0; i < config_.max_datagrams; ++i)
    if (slots_[i].used) discard(&slots_[i]);
}

Reassembler::Datagram* Reassembler::find(const Ipv4View& ip) {
  for (uint32_t i = 0; i < config_.max_datagrams; ++i) {
    Datagram& d = slots_[i];
    if (d.used && d.id == ip.id() && d.src == ip.src() && d.dst == ip.dst() &&
        d.protocol == ip.protocol())
      return &d;
  }
  return nullptr;
}

Reassembler::Datagram* Reassembler::start(const Ipv4View& ip) {
  Datagram* slot = nullptr;
  Datagram* oldest = nullptr;
  for (uint32_t i = 0; i < config_.max_datagrams; ++i) {
    Datagram& d = slots_[i];
    if (!d.used) {
      slot = &d;
      break;
    }
    if (!oldest || d.started < oldest->started) oldest = &d;
  }
  if (!slot) {
    // Full: the oldest datagram gives way, so a flood of fragments that never
    // complete cannot lock out new datagrams until the timeout.
    stack_.counters().drop.frag_evicted.inc();
    discard(oldest);
    slot = oldest;
  }
  Datagram& d = *slot;
  d.used = true;
  d.src = ip.src();
  d.dst = ip.dst();
  d.protocol = ip.protocol();
  d.id = ip.id();
  d.first_header_length = 0;
  d.total = 0;
  d.received = 0;
  d.count = 0;
  d.started = next_started_++;
  ++in_flight_;
  stack_.timers().schedule(d.timer, stack_.now() + config_.timeout);
  return &d;
}

void Reassembler::discard(Datagram* d) {
  for (uint32_t i = 0; i < d->count; ++i)
    PacketPtr release(d->frags[i].packet);
  buffers_held_ -= d->count;
  d->count = 0;
  d->used = false;
  stack_.timers().cancel(d->timer);
  --in_flight_;
}

// Evicts the oldest datagrams other than `keep` until `buffers` more fit.
bool Reassembler::make_room(uint32_t buffers, const Datagram* keep) {
  while (buffers_held_ + buffers > config_.max_buffers) {
    Datagram* oldest = nullptr;
    for (uint32_t i = 0; i < config_.max_datagrams; ++i) {
      Datagram& d = slots_[i];
      if (d.used && &d != keep && (!oldest || d.started < oldest->started)) oldest = &d;
    }
    if (!oldest) return false;
    stack_.counters().drop.frag_evicted.inc();
    discard(oldest);
  }
  return true;
}

PacketPtr Reassembler::add(const Ipv4View& ip, PacketPtr packet) {
  StackCounters::Drops& drop = stack_.counters().drop;
  const uint32_t offset = ip.fragment_offset();
  const uint32_t length = static_cast<uint32_t>(ip.payload().size());
  const bool last = !ip.mf();
  // RFC 791: every fragment but the last carries a multiple of 8 bytes.
  if ((!last && length % 8 != 0) || (!last && length == 0)) {
    drop.frag_bad_length.inc();
    return nullptr;
  }
  if (offset + length > kMaxPayload) {
    drop.frag_too_big.inc();
    return nullptr;
  }
  uint32_t buffers = packet->chain_count();
  Datagram* d = find(ip);
  if (!d) d = start(ip);

  if (last) {
    if (d->total != 0 && d->total != offset + length) {
      drop.frag_inconsistent.inc();  // two different ends
      discard(d);
      return nullptr;
    }
    d->total = offset + length;
  }
  // Nothing may lie beyond the end.
  if (d->total != 0 && d->count > 0) {
    const Fragment& hi = d->frags[d->count - 1];
    if (hi.offset + hi.length > d->total || (!last && offset + length > d->total)) {
      drop.frag_inconsistent.inc();
      discard(d);
      return nullptr;
    }
  }
  // Find the insertion point and check both neighbours for overlap.
  uint32_t at = 0;
  while (at < d->count && d->frags[at].offset < offset)
    ++at;
  if (at < d->count && d->frags[at].offset == offset && d->frags[at].length == length) {
    drop.frag_duplicate.inc();
    return nullptr;
  }
  bool overlap = (at > 0 && d->frags[at - 1].offset + d->frags[at - 1].length > offset) ||
                 (at < d->count && offset + length > d->frags[at].offset);
  if (overlap) {
    drop.frag_overlap.inc();
    discard(d);
    return nullptr;
  }
  if (d->count >= config_.max_fragments) {
    drop.frag_too_many.inc();
    discard(d);
    return nullptr;
  }
  if (!make_room(buffers, d)) {
    // No room even after evicting every other datagram: this one cannot
    // complete, so it gives back what it holds.
    drop.frag_memory.inc();
    discard(d);
    return nullptr;
  }
  if (offset == 0) d->first_header_length = static_cast<uint16_t>(ip.header_length());
  packet->trim_front(static_cast<uint32_t>(ip.header_length()));
  std::move_backward(d->frags.begin() + at, d->frags.begin() + d->count,
                     d->frags.begin() + d->count + 1);
  d->frags[at] =
      Fragment{static_cast<uint16_t>(offset), static_cast<uint16_t>(length), packet.release()};
  ++d->count;
  d->received += length;
  buffers_held_ += buffers;

  if (d->total == 0 || d->received != d->total) return nullptr;
  return assemble(d);
}

PacketPtr Reassembler::assemble(Datagram* d) {
  // The fragments cover [0, total) without overlap, in order.
  PacketPtr head(d->frags[0].packet);
  uint32_t buffers = head->chain_count();
  for (uint32_t i = 1; i < d->count; ++i) {
    buffers += d->frags[i].packet->chain_count();
    head->append_chain(PacketPtr(d->frags[i].packet));
  }
  // Rebuild the first fragment's header in front of its payload: its bytes
  // are still in the packet's headroom, where trim_front left them.
  const uint16_t hlen = d->first_header_length;
  head->prepend(hlen);
  auto first = Ipv4View::parse(head->bytes());  // the header as it arrived: it parsed then
  SN_CHECK(first.ok());
  Ipv4Header rebuilt = Ipv4Header::from(*first);
  rebuilt.total_length = static_cast<uint16_t>(Ipv4Header::kSize + d->total);
  rebuilt.mf = false;
  rebuilt.fragment_offset = 0;
  // Options are not kept: the rebuilt header is the minimal one.
  head->trim_front(hlen - Ipv4Header::kSize);
  rebuilt.emit(std::span<std::byte>(head->data(), Ipv4Header::kSize));

  buffers_held_ -= buffers;
  d->count = 0;
  d->used = false;
  stack_.timers().cancel(d->timer);
  --in_flight_;
  stack_.counters().ip_reassembled.inc();
  return head;
}

// RFC 1122 §3.3.2: on timeout, discard; if fragment zero is in hand, send an
// ICMP Time Exceeded (code 1) about it.
void Reassembler::on_timeout(Datagram* d) {
  stack_.counters().drop.frag_timeout.inc();
  if (d->count > 0 && d->frags[0].offset == 0 && d->first_header_length != 0) {
    Packet* first = d->frags[0].packet;
    first->prepend(d->first_header_length);
    Ipv4Meta meta;
    meta.src = d->src;
    meta.dst = d->dst;
    meta.protocol = d->protocol;
    meta.header_length = d->first_header_length;
    // Only datagrams to one of our addresses or to a broadcast address get
    // this far: one to none of ours was a broadcast, and gets no error.
    meta.broadcast = stack_.iface_with_address(d->dst) == nullptr;
    stack_.icmp().send_error(kIcmpTimeExceeded, kIcmpReassemblyTimeExceeded, meta, *first);
    first->trim_front(d->first_header_length);
  }
  discard(d);
}

}  // namespace sn
