// ARP: the RFC 826 packet reception algorithm, resolution with retries, and a
// bounded cache. Lookups scan a small fixed table; the cache is small by design.
#include "stack/arp.h"

#include "stack/stack.h"
#include "wire/arp.h"
#include "wire/ethernet.h"

namespace sn {

namespace {
constexpr Duration kDefendInterval = Duration::seconds(10);  // RFC 5227 §1.1 DEFEND_INTERVAL
}

Arp::Arp(Stack& stack, const ArpConfig& config)
    : stack_(stack), config_(config), entries_(new Entry[config.cache_size]) {
  for (uint32_t i = 0; i < config_.cache_size; ++i) {
    Entry& e = entries_[i];
    e.arp = this;
    e.timer.set_callback(
        [](void* a, Instant) {
          auto* e = static_cast<Entry*>(a);
          e->arp->on_retry(e);
        },
        &e);
  }
  pending_.resize(config_.pending_total);
}

Arp::~Arp() = default;

Arp::Entry* Arp::find(Ipv4Address ip) const {
  // Most traffic goes to one next hop (the gateway, or the one peer): try the
  // last entry found before scanning the table.
  if (last_ && last_->state != State::kFree && last_->ip == ip) return last_;
  for (uint32_t i = 0; i < config_.cache_size; ++i) {
    Entry& e = entries_[i];
    if (e.state != State::kFree && e.ip == ip) return last_ = &e;
  }
  return nullptr;
}

std::optional<MacAddress> Arp::lookup(Ipv4Address ip) const {
  const Entry* e = find(ip);
  if (e && e->state == State::kReachable && stack_.now() < e->expires) return e->mac;
  return std::nullopt;
}

size_t Arp::resolved_count() const {
  size_t n = 0;
  for (uint32_t i = 0; i < config_.cache_size; ++i)
    n += entries_[i].state == State::kReachable;
  return n;
}

// A free entry, else the resolved entry that expires first. Incomplete entries
// are never evicted: they hold queued packets and finish within a few seconds.
Arp::Entry* Arp::allocate(Ipv4Address ip) {
  Entry* victim = nullptr;
  for (uint32_t i = 0; i < config_.cache_size; ++i) {
    Entry& e = entries_[i];
    if (e.state == State::kFree) {
      victim = &e;
      break;
    }
    if (e.state == State::kReachable && (!victim || e.expires < victim->expires)) victim = &e;
  }
  if (!victim) return nullptr;
  free_entry(victim);
  victim->ip = ip;
  return victim;
}

void Arp::free_entry(Entry* e) {
  if (e->pending > 0) {
    for (Pending& p : pending_) {
      if (p.entry == e && p.packet) {
        p.packet.reset();
        p.entry = nullptr;
        --pending_count_;
        stack_.counters().drop.arp_unresolved.inc();
      }
    }
  }
  stack_.timers().cancel(e->timer);
  e->state = State::kFree;
  e->pending = 0;
  e->retries = 0;
}

void Arp::learn(uint16_t iface, Ipv4Address ip, MacAddress mac, bool notify_shards) {
  Entry* e = find(ip);
  if (!e) e = allocate(ip);
  if (!e) {
    stack_.counters().drop.arp_cache_full.inc();
    return;
  }
  e->iface = iface;
  e->mac = mac;
  e->expires = stack_.now() + config_.entry_ttl;
  bool was_incomplete = e->state == State::kIncomplete;
  e->state = State::kReachable;
  if (was_incomplete) resolved(e);
  if (notify_shards) {
    if (StackSteering* s = stack_.steering()) s->arp_learned(iface, ip, mac);
  }
}

// RFC 826, "Packet Reception", for hardware type Ethernet and protocol IPv4.
void Arp::receive(Interface& ifc, std::span<const std::byte> bytes) {
  StackCounters& c = stack_.counters();
  auto parsed = ArpPacket::parse(bytes);
  if (!parsed) {
    if (parsed.error() == ParseError::kUnsupported)
      c.drop.arp_unsupported.inc();
    else
      c.drop.arp_malformed.inc();
    return;
  }
  const ArpPacket& p = *parsed;
  c.arp_rx.inc();
  // A sender hardware address that is not a unicast MAC, or a sender protocol
  // address that no host can own, is never learned (RFC 1122 §2.3.2.1 spirit).
  if (p.sha.is_multicast() || p.sha.is_zero() || p.spa.is_broadcast() || p.spa.is_multicast()) {
    c.drop.arp_bad_sender.inc();
    return;
  }
  if (p.spa == ifc.address.address && !p.spa.is_any()) {
    // Someone else claims our address (RFC 5227 §2.4 (c)). Defend it with one
    // announcement, and at most once per DEFEND_INTERVAL: a stream of
    // conflicting packets must not turn into a stream of broadcasts.
    c.drop.arp_conflict.inc();
    const Instant now = stack_.now();
    if (p.sha != ifc.mac && (!ifc.arp_defended || now - *ifc.arp_defended >= kDefendInterval)) {
      ifc.arp_defended = now;
      announce(ifc);
    }
    return;
  }
  bool for_us = p.tpa == ifc.address.address;
  // "If the pair <protocol type, sender protocol address> is already in my
  // translation table, update the sender hardware address field" -- merge.
  bool merged = false;
  if (!p.spa.is_any()) {
    if (find(p.spa)) {
      learn(ifc.index, p.spa, p.sha);
      merged = true;
    }
  }
  if (!for_us) return;  // not an error: ARP traffic for other hosts on the link
  // "If Merge_flag is false, add the triplet to the translation table."
  if (!merged && !p.spa.is_any()) learn(ifc.index, p.spa, p.sha);
  if (p.op == ArpPacket::kRequest) {
    ArpPacket reply;
    reply.op = ArpPacket::kReply;
    reply.sha = ifc.mac;
    reply.spa = ifc.address.address;
    reply.tha = p.sha;
    reply.tpa = p.spa;
    // A probe (sender address 0.0.0.0, RFC 5227 §2.1.1) is answered by broadcast.
    if (send(ifc, reply, p.spa.is_any() ? MacAddress::broadcast() : p.sha)) c.arp_tx_replies.inc();
  }
}

void Arp::output(Interface& ifc, Ipv4Address next_hop, PacketPtr packet) {
  if (ifc.is_broadcast(next_hop)) {
    emit_frame(ifc, MacAddress::broadcast(), std::move(packet));
    return;
  }
  Entry* e = find(next_hop);
  if (e && e->state == State::kReachable) {
    if (stack_.now() < e->expires) {
      emit_frame(ifc, e->mac, std::move(packet));
      return;
    }
    free_entry(e);  // expired: resolve again
    e = nullptr;
  }
  if (!e) {
    e = allocate(next_hop);
    if (!e) {
      stack_.counters().drop.arp_cache_full.inc();
      return;
    }
    e->state = State::kIncomplete;
    e->iface = ifc.index;
    e->retries = 0;
    send_request(ifc, next_hop);
    stack_.timers().schedule(e->timer, stack_.now() + config_.retry_interval);
  }
  if (e->pending >= config_.pending_per_entry || pending_count_ >= config_.pending_total) {
    stack_.counters().drop.arp_pending_full.inc();
    return;
  }
  for (Pending& p : pending_) {
    if (!p.packet) {
      p.entry = e;
      p.packet = std::move(packet);
      p.seq = next_seq_++;
      ++e->pending;
      ++pending_count_;
      return;
    }
  }
}

void Arp::resolved(Entry* e) {
  stack_.timers().cancel(e->timer);
  stack_.counters().arp_resolved.inc();
  Interface& ifc = stack_.iface(e->iface);
  // Release what waited, oldest first.
  while (e->pending > 0) {
    Pending* oldest = nullptr;
    for (Pending& p : pending_)
      if (p.entry == e && p.packet && (!oldest || p.seq < oldest->seq)) oldest = &p;
    SN_CHECK(oldest != nullptr);
    emit_frame(ifc, e->mac, std::move(oldest->packet));
    oldest->entry = nullptr;
    --pending_count_;
    --e->pending;
  }
}

void Arp::on_retry(Entry* e) {
  if (e->state != State::kIncomplete) return;
  if (++e->retries >= config_.max_retries) {
    free_entry(e);  // drops and counts what was waiting
    return;
  }
  send_request(stack_.iface(e->iface), e->ip);
  stack_.timers().schedule(e->timer, stack_.now() + config_.retry_interval);
}

void Arp::send_request(Interface& ifc, Ipv4Address target) {
  ArpPacket req;
  req.op = ArpPacket::kRequest;
  req.sha = ifc.mac;
  req.spa = ifc.address.address;
  req.tpa = target;
  if (send(ifc, req, MacAddress::broadcast())) stack_.counters().arp_tx_requests.inc();
}

// RFC 5227 §2.3: an announcement is a request with our address as both the
// sender's and the target's.
void Arp::announce(Interface& ifc) {
  send_request(ifc, ifc.address.address);
}

bool Arp::send(Interface& ifc, const ArpPacket& p, MacAddress dst) {
  PacketPtr pkt = stack_.pool().alloc();
  if (!pkt) {
    stack_.counters().drop.no_buffer.inc();
    return false;
  }
  p.emit(std::span<std::byte>(pkt->append(ArpPacket::kSize), ArpPacket::kSize));
  EthernetHeader eth{dst, ifc.mac, std::nullopt, kEtherTypeArp};
  eth.emit(std::span<std::byte>(pkt->prepend(eth.size()), eth.size()));
  stack_.transmit(ifc.index, std::move(pkt));
  return true;
}

void Arp::emit_frame(Interface& ifc, MacAddress dst, PacketPtr packet) {
  EthernetHeader eth{dst, ifc.mac, std::nullopt, kEtherTypeIpv4};
  eth.emit(std::span<std::byte>(packet->prepend(eth.size()), eth.size()));
  stack_.transmit(ifc.index, std::move(packet));
}

}  // namespace sn
