// The shard's stack: Ethernet demultiplexing, the poll loop body, and
// transmit batching.
#include "stack/stack.h"

#include <cstring>

#include "wire/ethernet.h"

namespace sn {

Stack::Stack(const StackConfig& config, PacketPool& pool, Instant now, uint64_t seed)
    : config_(config),
      pool_(pool),
      now_(now),
      timers_(now),
      rng_(seed),
      arp_(*this, config.arp),
      ipv4_(*this, config.reassembly),
      icmp_(*this, config.icmp),
      udp_(*this, config.udp),
      tcp_(*this, config.tcp) {
  SN_CHECK(config_.rx_burst <= rx_.size());
}

Stack::~Stack() = default;

uint16_t Stack::add_interface(Port& port, Ipv4Prefix address) {
  // REQUIRES: a whole frame fits one packet buffer (the engine checks this
  // and says so; here it is an invariant).
  SN_CHECK(port.mtu() + kMaxLinkHeader <= pool_.buffer_size() - pool_.headroom());
  auto ifc = std::make_unique<Interface>();
  ifc->index = static_cast<uint16_t>(ifaces_.size());
  ifc->port = &port;
  ifc->mac = port.mac();
  ifc->address = address;
  ifc->mtu = port.mtu();
  ifc->tx.reserve(config_.tx_batch);
  routes_.add(Route{address, ifc->index, std::nullopt});
  ifaces_.push_back(std::move(ifc));
  return ifaces_.back()->index;
}

Result<void> Stack::set_gateway(Ipv4Address gateway) {
  for (auto& ifc : ifaces_) {
    if (ifc->address.contains(gateway)) {
      routes_.add(Route{Ipv4Prefix{Ipv4Address::any(), 0}, ifc->index, gateway});
      return ok();
    }
  }
  return Error{Errc::kUnreachable, "the gateway is not on a connected subnet"};
}

Interface* Stack::iface_with_address(Ipv4Address a) {
  for (auto& ifc : ifaces_)
    if (ifc->address.address == a) return ifc.get();
  return nullptr;
}

void Stack::start(Instant now) {
  now_ = now;
  for (auto& ifc : ifaces_)
    arp_.announce(*ifc);
  flush();
}

size_t Stack::poll(Instant now) {
  now_ = now;
  size_t work = 0;
  for (auto& ifc : ifaces_) {
    size_t n = ifc->port->rx_burst(pool_, std::span<PacketPtr>(rx_.data(), config_.rx_burst), now);
    for (size_t i = 0; i < n; ++i) {
      rx_[i]->iface = ifc->index;
      if (steering_ != nullptr && steering_->steer_frame(rx_[i])) continue;
      receive(std::move(rx_[i]), now);
    }
    work += n;
  }
  work += timers_.advance(now);
  flush();
  return work;
}

void Stack::receive(PacketPtr frame, Instant now) {
  now_ = now;
  counters_.rx_frames.inc();
  counters_.rx_bytes.inc(frame->size());
  SN_CHECK(frame->iface < ifaces_.size());
  Interface& ifc = *ifaces_[frame->iface];
  auto eth = EthernetView::parse(frame->bytes());
  if (!eth) {
    if (eth.error() == ParseError::kTruncated)
      counters_.drop.eth_truncated.inc();
    else
      counters_.drop.eth_unsupported.inc();
    return;
  }
  // Untagged frames, or priority-tagged ones (VLAN ID 0, 802.1Q §9.6), on
  // every tag: an 802.1ad frame for another service VLAN is not ours.
  if (eth->vlan_count() > 0 &&
      ((*eth->vlan_tci() & 0x0fff) != 0 || (*eth->outer_vlan_tci() & 0x0fff) != 0)) {
    counters_.drop.eth_unsupported.inc();
    return;
  }
  const MacAddress dst = eth->dst();
  if (dst != ifc.mac && !dst.is_broadcast()) {
    counters_.drop.eth_not_for_us.inc();
    return;
  }
  switch (eth->ethertype()) {
    case kEtherTypeArp:
      arp_.receive(ifc, eth->payload());
      return;
    case kEtherTypeIpv4:
      frame->trim_front(static_cast<uint32_t>(eth->header_size()));
      ipv4_.receive(ifc, std::move(frame), dst.is_multicast());
      return;
    default:
      counters_.drop.eth_unknown_type.inc();
      return;
  }
}

void Stack::transmit(uint16_t iface, PacketPtr frame) {
  Interface& ifc = *ifaces_[iface];
  frame->iface = iface;
  // IEEE 802.3 §3.2.8: a frame carries at least 60 bytes before its FCS;
  // pad short ones (ARP, small ICMP) with zeros rather than leave it to the port.
  if (frame->size() < kEthernetMinFrameSize) {
    const uint32_t pad = static_cast<uint32_t>(kEthernetMinFrameSize) - frame->size();
    std::memset(frame->append(pad), 0, pad);
  }
  // A TSO super-segment holds a buffer per 2 KiB: it goes at once rather
  // than keep a batch's worth of them from the pool.
  const bool chain = frame->next() != nullptr;
  ifc.tx.push_back(std::move(frame));
  if (ifc.tx.size() >= config_.tx_batch || chain) flush(ifc);
}

void Stack::flush() {
  tcp_.flush_acks();
  for (auto& ifc : ifaces_)
    if (!ifc->tx.empty()) flush(*ifc);
}

void Stack::flush(Interface& ifc) {
  // tx_frames/tx_bytes count what the stack hands its ports; the port's own
  // counters say what the device took, and what it refused is counted here.
  for (const PacketPtr& p : ifc.tx) {
    counters_.tx_frames.inc();
    counters_.tx_bytes.inc(p->next() ? p->chain_size() : p->size());  // (a TSO chain)
  }
  const size_t offered = ifc.tx.size();
  const size_t taken = ifc.port->tx_burst(std::span<PacketPtr>(ifc.tx), now_);
  counters_.tx_batches.inc();
  counters_.drop.tx_port_full.inc(offered - taken);
  ifc.tx.clear();
}

Instant Stack::next_event() const {
  Instant next = timers_.next_deadline();
  for (const auto& ifc : ifaces_)
    next = std::min(next, ifc->port->next_event());
  return next;
}

}  // namespace sn
