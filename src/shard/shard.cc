// The shards of one engine and the rings between them.
#include "shard/shard.h"

#include <array>

#include "base/check.h"
#include "wire/bytes.h"
#include "wire/ipv4.h"

namespace sn {

// ---- Shard ----

Shard::Shard(ShardGroup& group, uint32_t index, const ShardGroupConfig& config, Instant now)
    : group_(group), index_(index), pool_(config.pool) {
  // Each shard its own randomness (ephemeral port counters, IP ids), the
  // same secret (ISNs, SYN cookies).
  stack_ = std::make_unique<Stack>(config.stack, pool_, now, config.seed + index);
  if (group.size() > 1) stack_->set_steering(this);
}

Shard::~Shard() = default;

bool Shard::send_to(uint32_t shard, ShardMessage&& m) {
  if (!group_.ring(index_, shard).push(std::move(m))) {
    counters_.ring_full.inc();
    return false;  // m still holds the packet: released here, counted
  }
  group_.wake(shard);
  return true;
}

uint32_t Shard::balance_udp(uint32_t owner, L4Port port) {
  const uint32_t threshold = group_.balance_threshold();
  if (threshold == 0 || !group_.udp_replicated(port)) return owner;
  const uint32_t depth = group_.queue_depth(owner);
  if (depth < threshold) return owner;
  uint32_t best = index_;
  uint32_t best_depth = group_.queue_depth(index_);
  for (uint32_t s = 0; s < group_.size(); ++s) {
    if (s == index_) continue;
    const uint32_t d = group_.queue_depth(s);
    if (d < best_depth) {
      best = s;
      best_depth = d;
    }
  }
  if (best == owner || best_depth >= depth / 2) return owner;
  counters_.balanced.inc();
  return best;
}

bool Shard::steer_frame(PacketPtr& frame) {
  const SteerDecision d = group_.dispatcher().decide(frame->bytes());
  uint32_t owner = d.shard;
  if (owner == kAnyShard) return false;
  if (d.cls == TrafficClass::kUdp && d.kind == SteerDecision::Kind::kIpv4)
    owner = balance_udp(owner, d.dst_port);
  if (owner == index_) return false;
  ShardMessage m;
  m.kind = ShardMessage::Kind::kFrame;
  m.iface = frame->iface;
  m.packet = std::move(frame);
  if (send_to(owner, std::move(m))) counters_.frames_forwarded.inc();
  return true;
}

bool Shard::steer_datagram(const Ipv4Meta& meta, PacketPtr& datagram) {
  if (meta.protocol != kIpProtoTcp && meta.protocol != kIpProtoUdp) return false;
  // The ports, if the first link has them (a reassembled datagram's first
  // link is its first fragment, which holds at least 8 bytes of payload).
  const std::span<const std::byte> b = datagram->bytes();
  if (b.size() < meta.header_length + 4u) return false;
  const L4Port sport(load16(b.data() + meta.header_length));
  const L4Port dport(load16(b.data() + meta.header_length + 2));
  uint32_t owner =
      group_.dispatcher().shard_of_tuple(meta.protocol, meta.src, sport, meta.dst, dport);
  if (meta.protocol == kIpProtoUdp) owner = balance_udp(owner, dport);
  if (owner == index_) return false;
  ShardMessage m;
  m.kind = ShardMessage::Kind::kDatagram;
  m.iface = meta.iface;
  m.meta = meta;
  m.packet = std::move(datagram);
  if (send_to(owner, std::move(m))) counters_.datagrams_forwarded.inc();
  return true;
}

bool Shard::owns_tuple(uint8_t protocol, Ipv4Address local, L4Port lport, Ipv4Address remote,
                       L4Port rport) const {
  // What arrives for it has the remote end as its source.
  return group_.dispatcher().shard_of_tuple(protocol, remote, rport, local, lport) == index_;
}

void Shard::arp_learned(uint16_t iface, Ipv4Address ip, MacAddress mac) {
  for (uint32_t s = 0; s < group_.size(); ++s) {
    if (s == index_) continue;
    ShardMessage m;
    m.kind = ShardMessage::Kind::kArpLearn;
    m.iface = iface;
    m.ip = ip;
    m.mac = mac;
    if (send_to(s, std::move(m))) counters_.arp_updates_sent.inc();
  }
}

void Shard::take(ShardMessage& m) {
  switch (m.kind) {
    case ShardMessage::Kind::kFrame:
      counters_.frames_received.inc();
      m.packet->iface = m.iface;
      stack_->receive(std::move(m.packet), stack_->now());
      return;
    case ShardMessage::Kind::kDatagram:
      counters_.datagrams_received.inc();
      stack_->ipv4().deliver(m.meta, std::move(m.packet));
      return;
    case ShardMessage::Kind::kArpLearn:
      counters_.arp_updates_received.inc();
      stack_->arp().learn(m.iface, m.ip, m.mac, /*notify_shards=*/false);
      return;
  }
}

size_t Shard::poll(Instant now) {
  counters_.polls.inc();
  size_t work = stack_->poll(now);  // sets the stack's clock
  std::array<ShardMessage, 32> batch;
  for (uint32_t from = 0; from < group_.size(); ++from) {
    if (from == index_) continue;
    SpscRing<ShardMessage>& r = group_.ring(from, index_);
    for (uint32_t n; (n = r.pop_burst(batch)) > 0;) {
      for (uint32_t i = 0; i < n; ++i)
        take(batch[i]);
      work += n;
      if (n < batch.size()) break;
    }
  }
  stack_->flush();
  if (work > 0) counters_.busy_polls.inc();
  return work;
}

bool Shard::inbox_empty() const {
  for (uint32_t from = 0; from < group_.size(); ++from)
    if (from != index_ && !group_.ring(from, index_).empty()) return false;
  return true;
}

Instant Shard::next_event() const {
  if (!inbox_empty()) return stack_->now();
  return stack_->next_event();
}

// ---- ShardGroup ----

ShardGroup::ShardGroup(const ShardGroupConfig& config, Instant now)
    : dispatcher_(config.steer, config.shards), balance_threshold_(config.balance_threshold) {
  SN_CHECK(config.shards >= 1);
  const uint32_t n = config.shards;
  rings_.resize(size_t{n} * n);
  for (uint32_t from = 0; from < n; ++from)
    for (uint32_t to = 0; to < n; ++to)
      if (from != to)
        rings_[from * n + to] = std::make_unique<SpscRing<ShardMessage>>(config.ring_size);
  shards_.reserve(n);  // size() is read while shards are built
  for (uint32_t i = 0; i < n; ++i)
    shards_.push_back(nullptr);
  for (uint32_t i = 0; i < n; ++i)
    shards_[i] = std::make_unique<Shard>(*this, i, config, now);
}

ShardGroup::~ShardGroup() {
  // Messages still on the rings hold packets of the shards' pools: release
  // them before the pools go.
  ShardMessage m;
  for (auto& r : rings_)
    if (r)
      while (r->pop(m))
        m.packet.reset();
  // A stack may hold another shard's packets (forwarded frames in a TCP
  // receive buffer): every stack goes before any pool does.
  for (auto& s : shards_)
    s->stack_.reset();
}

uint32_t ShardGroup::queue_depth(uint32_t s) const {
  uint32_t depth = 0;
  for (uint32_t from = 0; from < size(); ++from)
    if (from != s) depth += static_cast<uint32_t>(ring(from, s).size());
  return depth;
}

void ShardGroup::start(Instant now) {
  shards_[0]->stack().start(now);
}

size_t ShardGroup::poll(Instant now) {
  size_t work = 0;
  for (auto& s : shards_)
    work += s->poll(now);
  return work;
}

Instant ShardGroup::next_event() const {
  Instant next = Instant::never();
  for (const auto& s : shards_)
    next = std::min(next, s->next_event());
  return next;
}

}  // namespace sn
