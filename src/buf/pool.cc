// Packet chains and the pool that owns every packet buffer.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "buf/pool.h"

namespace sn {

void PacketDeleter::operator()(Packet* p) const {
  if (p) PacketPool::release_chain(p);
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

PacketPool::PacketPool(const PoolConfig& config)
    : config_(config), owner_(std::this_thread::get_id()) {
  SN_CHECK(config.count > 0 && config.headroom < config.buffer_size);
  SN_CHECK(config.buffer_size % 64 == 0);
  // Page-aligned, whole pages: what a device registering the area asks.
  constexpr size_t kPage = 4096;
  arena_size_ = (size_t(config.count) * config.buffer_size + kPage - 1) / kPage * kPage;
  arena_.reset(static_cast<std::byte*>(std::aligned_alloc(kPage, arena_size_)));
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

void PacketPool::set_owner_thread() {
  owner_.store(std::this_thread::get_id(), std::memory_order_relaxed);
}

void PacketPool::FreeDeleter::operator()(std::byte* p) const {
  std::free(p);
}

PacketPtr PacketPool::alloc() {
  if (free_.empty()) [[unlikely]] {
    if (reclaim() == 0) {
      exhausted.inc();
      return nullptr;
    }
  }
  Packet* p = free_.back();
  free_.pop_back();
  p->head_ = config_.headroom;
  p->len_ = 0;
  p->next_ = nullptr;
  p->iface = 0;
  p->l4_csum_ok = false;
  p->l4_csum_partial = false;
  p->gso_size = 0;
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

void PacketPool::release_chain(Packet* p) {
  // One thread id per chain; per link, a compare with its pool's owner.
  const std::thread::id self = std::this_thread::get_id();
  while (p) {
    PacketPool* pool = p->pool_;
    if (pool->owner_.load(std::memory_order_relaxed) == self) [[likely]] {
      // Home: the run of links from this pool goes on its local stack.
      do {
        Packet* n = p->next_;
        p->next_ = nullptr;
        pool->free_.push_back(p);
        p = n;
      } while (p && p->pool_ == pool);
    } else {
      // Away: the run of links from this pool is already linked through
      // next_, as the remote stack wants it; push it whole, with one CAS.
      Packet* last = p;
      while (last->next_ && last->next_->pool_ == pool)
        last = last->next_;
      Packet* rest = last->next_;
      pool->push_remote(p, last);
      p = rest;
    }
  }
}

void PacketPool::push_remote(Packet* first, Packet* last) {
  Packet* top = remote_free_.load(std::memory_order_relaxed);
  do {
    last->next_ = top;
    // Release: whatever this thread did to the packets (and the next_ links
    // just written) happens before the owner, whose exchange is acquire,
    // hands them out again. Every push is an RMW on remote_free_, so the
    // pushes form one release sequence and a single acquire exchange
    // synchronizes with all of them. The failure order is relaxed: a failed
    // CAS only reloads `top`, whose packets this thread never reads.
  } while (!remote_free_.compare_exchange_weak(top, first, std::memory_order_release,
                                               std::memory_order_relaxed));
}

uint32_t PacketPool::reclaim() {
  // A plain load first, so that polling an empty remote stack (an exhausted
  // pool retrying alloc) costs no RMW on a line other threads write.
  if (remote_free_.load(std::memory_order_relaxed) == nullptr) return 0;
  Packet* p = remote_free_.exchange(nullptr, std::memory_order_acquire);
  uint32_t n = 0;
  while (p) {
    Packet* below = p->next_;
    p->next_ = nullptr;
    free_.push_back(p);
    p = below;
    ++n;
  }
  remote_frees.inc(n);
  return n;
}

}  // namespace sn
