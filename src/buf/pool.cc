// Packet chains and the pool that owns every packet buffer.
#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "buf/pool.h"

namespace sn {

void PacketDeleter::operator()(Packet* p) const {
  if (p) p->pool_->release(p);
}

void Packet::append_chain(PacketPtr tail) {
  Packet* last = this;
  while (last->next_)
    last = last->next_;
  last->next_ = tail.release();
}

PacketPtr Packet::take_next() {
  Packet* n = next_;
  next_ = nullptr;
  return PacketPtr(n);
}

uint32_t Packet::chain_size() const {
  uint32_t total = 0;
  for (const Packet* p = this; p; p = p->next_)
    total += p->len_;
  return total;
}

uint32_t Packet::chain_count() const {
  uint32_t n = 0;
  for (const Packet* p = this; p; p = p->next_)
    ++n;
  return n;
}

void chain_copy_out(const Packet& head, uint32_t offset, std::span<std::byte> out) {
  const Packet* p = &head;
  while (p && offset >= p->size()) {
    offset -= p->size();
    p = p->next();
  }
  size_t done = 0;
  while (done < out.size()) {
    SN_CHECK(p != nullptr);
    size_t n = std::min<size_t>(p->size() - offset, out.size() - done);
    std::memcpy(out.data() + done, p->data() + offset, n);
    done += n;
    offset = 0;
    p = p->next();
  }
}

void chain_copy_in(Packet& head, uint32_t offset, std::span<const std::byte> in) {
  Packet* p = &head;
  while (p && offset >= p->size() && !in.empty()) {
    offset -= p->size();
    p = p->next();
  }
  size_t done = 0;
  while (done < in.size()) {
    SN_CHECK(p != nullptr);
    size_t n = std::min<size_t>(p->size() - offset, in.size() - done);
    std::memcpy(p->data() + offset, in.data() + done, n);
    done += n;
    offset = 0;
    p = p->next();
  }
}

void chain_truncate(Packet& head, uint32_t n) {
  for (Packet* p = &head; p; p = p->next()) {
    if (n <= p->size()) {
      p->truncate(n);
      p->take_next();  // releases the rest
      return;
    }
    n -= p->size();
  }
}

PacketPool::PacketPool(const PoolConfig& config) : config_(config) {
  SN_CHECK(config.count > 0 && config.headroom < config.buffer_size);
  SN_CHECK(config.buffer_size % 64 == 0);
  arena_.reset(
      static_cast<std::byte*>(std::aligned_alloc(64, size_t(config.count) * config.buffer_size)));
  SN_CHECK(arena_ != nullptr);
  packets_.reset(new Packet[config.count]);
  free_.reserve(config.count);
  for (uint32_t i = 0; i < config.count; ++i) {
    Packet& p = packets_[i];
    p.pool_ = this;
    p.buf_ = arena_.get() + size_t(i) * config.buffer_size;
    p.cap_ = config.buffer_size;
    p.index_ = i;
    free_.push_back(&packets_[config.count - 1 - i]);
  }
}

PacketPool::~PacketPool() = default;

void PacketPool::FreeDeleter::operator()(std::byte* p) const {
  std::free(p);
}

PacketPtr PacketPool::alloc() {
  if (free_.empty()) [[unlikely]] {
    exhausted.inc();
    return nullptr;
  }
  Packet* p = free_.back();
  free_.pop_back();
  p->head_ = config_.headroom;
  p->len_ = 0;
  p->next_ = nullptr;
  p->iface = 0;
  return PacketPtr(p);
}

PacketPtr PacketPool::alloc_chain(uint32_t bytes, uint32_t per_packet) {
  SN_CHECK(per_packet > 0 && per_packet <= config_.buffer_size - config_.headroom);
  PacketPtr head = alloc();
  if (!head) return nullptr;
  Packet* last = head.get();
  uint32_t left = bytes;
  for (;;) {
    uint32_t n = std::min(left, per_packet);
    last->append(n);
    left -= n;
    if (left == 0) break;
    PacketPtr more = alloc();
    if (!more) return nullptr;  // releases the partial chain
    Packet* raw = more.get();
    last->next_ = more.release();
    last = raw;
  }
  return head;
}

void PacketPool::release(Packet* p) {
  while (p) {
    SN_CHECK(p->pool_ == this);
    Packet* n = p->next_;
    p->next_ = nullptr;
    free_.push_back(p);
    p = n;
  }
}

}  // namespace sn
