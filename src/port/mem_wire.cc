// The in-memory wire and its ports; see mem_wire.h.
#include "port/mem_wire.h"

#include <algorithm>
#include <cstring>

#include "base/check.h"

namespace sn {
namespace {

constexpr uint32_t kEthHeader = 14;

}  // namespace

MemPort::MemPort(MemWire& wire, MacAddress mac, uint32_t mtu, uint32_t ring_size)
    : wire_(wire), mac_(mac), mtu_(mtu), ring_(new uint32_t[ring_size]), ring_size_(ring_size) {}

void MemPort::enqueue(uint32_t slot) {
  SN_CHECK(count_ < ring_size_);
  ring_[(head_ + count_) % ring_size_] = slot;
  ++count_;
}

void MemPort::pop() {
  SN_CHECK(count_ > 0);
  head_ = (head_ + 1) % ring_size_;
  --count_;
}

Instant MemPort::next_event() const {
  return count_ == 0 ? Instant::never() : wire_.slots_[front()].due;
}

size_t MemPort::rx_burst(PacketPool& pool, std::span<PacketPtr> out, Instant now) {
  size_t n = 0;
  while (n < out.size() && count_ > 0) {
    const uint32_t slot = front();
    const MemWire::Slot& s = wire_.slots_[slot];
    // FIFO: a frame behind one not yet due waits too.
    if (s.due > now) break;
    PacketPtr p = pool.alloc();
    if (!p) {
      counters_.rx_no_buffer.inc();  // the frame stays queued for the next call
      break;
    }
    pop();
    if (p->tailroom() < s.len) {
      counters_.rx_errors.inc();  // the pool's buffers are too small for this frame
      wire_.unref(slot);
      continue;
    }
    std::memcpy(p->append(s.len), wire_.slot_data(slot), s.len);
    counters_.rx_frames.inc();
    counters_.rx_bytes.inc(s.len);
    wire_.unref(slot);
    out[n++] = std::move(p);
  }
  return n;
}

size_t MemPort::tx_burst(std::span<PacketPtr> frames, Instant now) {
  size_t sent = 0;
  for (PacketPtr& f : frames) {
    PacketPtr p = std::move(f);
    if (!p) continue;
    const uint32_t len = p->chain_size();
    if (len > mtu_ + kMaxLinkHeader) {
      counters_.tx_oversize.inc();
      continue;
    }
    if (len < kEthHeader) {
      counters_.tx_errors.inc();  // no destination address to switch on
      continue;
    }
    wire_.send(*this, *p, now);
    counters_.tx_frames.inc();
    counters_.tx_bytes.inc(len);
    ++sent;
  }
  return sent;
}

MemWire::MemWire(const MemWireConfig& config)
    : config_(config),
      data_(new std::byte[size_t(config.capacity) * config.max_frame]),
      slots_(config.capacity) {
  SN_CHECK(config.capacity > 0 && config.max_frame >= kEthHeader);
  SN_CHECK(config.latency >= Duration{});
  free_.reserve(config.capacity);
  for (uint32_t i = config.capacity; i > 0; --i)
    free_.push_back(i - 1);
}

MemWire::~MemWire() = default;

MemPort& MemWire::attach(MacAddress mac, uint32_t mtu) {
  SN_CHECK(mtu + kMaxLinkHeader <= config_.max_frame);
  ports_.push_back(std::unique_ptr<MemPort>(new MemPort(*this, mac, mtu, config_.capacity)));
  return *ports_.back();
}

Instant MemWire::next_event() const {
  Instant t = Instant::never();
  for (const auto& p : ports_)
    t = std::min(t, p->next_event());
  return t;
}

void MemWire::send(const MemPort& from, const Packet& frame, Instant now) {
  std::byte dst_bytes[6];
  chain_copy_out(frame, 0, dst_bytes);  // the first link may be shorter than a header
  const MacAddress dst = MacAddress::load(dst_bytes);
  const bool flood = dst.is_multicast();  // broadcast is a multicast address too
  uint32_t receivers = 0;
  for (const auto& p : ports_)
    if (p.get() != &from && (flood || p->mac_ == dst)) ++receivers;
  if (receivers == 0) {
    dropped_no_listener.inc();
    return;
  }
  if (free_.empty()) {
    dropped_full.inc();
    return;
  }
  const uint32_t slot = free_.back();
  free_.pop_back();
  const uint32_t len = frame.chain_size();
  chain_copy_out(frame, 0, {slot_data(slot), len});
  slots_[slot] = Slot{now + config_.latency, len, receivers};
  for (const auto& p : ports_)
    if (p.get() != &from && (flood || p->mac_ == dst)) p->enqueue(slot);
}

void MemWire::unref(uint32_t slot) {
  SN_CHECK(slots_[slot].refs > 0);
  if (--slots_[slot].refs == 0) free_.push_back(slot);
}

}  // namespace sn
