// A bounded, lock-free, single-producer single-consumer ring: the queue that
// carries packets (and other messages) from one shard's thread to another's.
// One thread pushes, one thread pops; neither ever blocks or allocates after
// construction. The same scheme as DPDK's rte_ring in SP/SC mode, folly's
// ProducerConsumerQueue and rigtorp's SPSCQueue: two free-running indices on
// their own cache lines, and each side keeping a private copy of the other's
// index so that it reads the shared one only when its copy says full or empty.
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdint>
#include <memory>
#include <span>
#include <type_traits>
#include <utility>

#include "base/check.h"

namespace sn {

// Lets a test start the free-running indices near their wrap at 2^32.
struct SpscRingPeer;

// Invariants (with head = head_, tail = tail_, both counting modulo 2^32):
//   0 <= tail - head <= capacity;
//   slots [head, tail) (each index taken modulo capacity) hold live T objects,
//   every other slot is raw storage;
//   the producer alone writes tail_, head_cache_ and the slot at tail; the
//   consumer alone writes head_, tail_cache_ and reads the slot at head.
//
// Memory order. A slot changes hands twice, and each hand-over is one
// release store paired with one acquire load:
//   - producer -> consumer: the producer constructs the slot, then stores
//     tail_ with release; the consumer loads tail_ with acquire before it
//     reads the slot, so it sees the finished object (and whatever the object
//     points to, e.g. the bytes of a packet).
//   - consumer -> producer: the consumer moves the object out and destroys it,
//     then stores head_ with release; the producer loads head_ with acquire
//     before it constructs in that slot again, so its writes cannot overtake
//     the consumer's reads of the old object.
// Each side loads its own index relaxed (no other thread writes it).
template <typename T>
class SpscRing {
  static_assert(std::is_nothrow_move_constructible_v<T>, "T must move without throwing");
  static_assert(std::is_nothrow_move_assignable_v<T>, "T must move without throwing");

 public:
  // REQUIRES: 1 <= capacity <= 2^31. Rounded up to a power of two, at least 2.
  explicit SpscRing(uint32_t capacity) {
    SN_CHECK(capacity >= 1 && capacity <= (uint32_t{1} << 31));
    capacity_ = std::bit_ceil(std::max<uint32_t>(capacity, 2));
    mask_ = capacity_ - 1;
    slots_ = std::allocator<T>().allocate(capacity_);
  }
  // REQUIRES: neither thread is still using the ring. Destroys what is left.
  ~SpscRing() {
    const uint32_t tail = tail_.load(std::memory_order_acquire);
    for (uint32_t i = head_.load(std::memory_order_acquire); i != tail; ++i)
      std::destroy_at(slot(i));
    std::allocator<T>().deallocate(slots_, capacity_);
  }
  SpscRing(const SpscRing&) = delete;
  SpscRing& operator=(const SpscRing&) = delete;

  // Producer only. Moves `v` in, or returns false if the ring is full (then
  // `v` is left as it was).
  bool push(T&& v) {
    const uint32_t tail = tail_.load(std::memory_order_relaxed);
    if (free_slots(tail, 1) == 0) return false;
    std::construct_at(slot(tail), std::move(v));
    tail_.store(tail + 1, std::memory_order_release);  // publishes the slot
    return true;
  }

  // Producer only. Moves items[0, n) in, in order, where n is as many as
  // fit; returns n. items[n, size) are left as they were.
  uint32_t push_burst(std::span<T> items) {
    const uint32_t tail = tail_.load(std::memory_order_relaxed);
    const uint32_t n = clamp(items.size(), free_slots(tail, items.size()));
    for (uint32_t i = 0; i < n; ++i)
      std::construct_at(slot(tail + i), std::move(items[i]));
    if (n > 0) tail_.store(tail + n, std::memory_order_release);  // publishes the n slots
    return n;
  }

  // Consumer only. Moves the oldest item into `out`, or returns false if the
  // ring is empty (then `out` is left as it was).
  bool pop(T& out) {
    const uint32_t head = head_.load(std::memory_order_relaxed);
    if (used_slots(head, 1) == 0) return false;
    T* s = slot(head);
    out = std::move(*s);
    std::destroy_at(s);
    head_.store(head + 1, std::memory_order_release);  // hands the slot back
    return true;
  }

  // Consumer only. Moves up to out.size() of the oldest items into out[0, n),
  // oldest first; returns n.
  uint32_t pop_burst(std::span<T> out) {
    const uint32_t head = head_.load(std::memory_order_relaxed);
    const uint32_t n = clamp(out.size(), used_slots(head, out.size()));
    for (uint32_t i = 0; i < n; ++i) {
      T* s = slot(head + i);
      out[i] = std::move(*s);
      std::destroy_at(s);
    }
    if (n > 0) head_.store(head + n, std::memory_order_release);  // hands the n slots back
    return n;
  }

  // The number of items, from any thread. Exact on the producer's or the
  // consumer's thread when the other side is idle; otherwise a value the
  // ring held at some moment during the call, or close to one.
  uint32_t size() const {
    // Head first, with acquire: the consumer had seen tail >= head before it
    // stored head, so the tail loaded next is at least this head, and the
    // difference cannot go below zero. It can exceed the capacity if both
    // sides move in between; clamp it.
    const uint32_t head = head_.load(std::memory_order_acquire);
    const uint32_t tail = tail_.load(std::memory_order_acquire);
    return std::min(tail - head, capacity_);
  }
  bool empty() const { return size() == 0; }
  uint32_t capacity() const { return capacity_; }

 private:
  friend struct SpscRingPeer;
  static constexpr size_t kCacheLine = 64;

  T* slot(uint32_t index) const { return slots_ + (index & mask_); }
  static uint32_t clamp(size_t want, uint32_t have) {
    return want < have ? static_cast<uint32_t>(want) : have;
  }

  // Producer: free slots at `tail`. Reads the consumer's head_ only when the
  // cached copy shows fewer than `want` (a stale copy can only under-count).
  uint32_t free_slots(uint32_t tail, size_t want) {
    uint32_t free = capacity_ - (tail - head_cache_);
    if (free < want) {
      head_cache_ = head_.load(std::memory_order_acquire);  // pairs with pop's release
      free = capacity_ - (tail - head_cache_);
    }
    return free;
  }
  // Consumer: filled slots at `head`. Reads the producer's tail_ only when the
  // cached copy shows fewer than `want` (a stale copy can only under-count).
  uint32_t used_slots(uint32_t head, size_t want) {
    uint32_t used = tail_cache_ - head;
    if (used < want) {
      tail_cache_ = tail_.load(std::memory_order_acquire);  // pairs with push's release
      used = tail_cache_ - head;
    }
    return used;
  }

  // The producer's line: its own index and its copy of the consumer's.
  alignas(kCacheLine) std::atomic<uint32_t> tail_{0};  // next slot to fill
  uint32_t head_cache_ = 0;
  // The consumer's line: its own index and its copy of the producer's.
  alignas(kCacheLine) std::atomic<uint32_t> head_{0};  // next slot to drain
  uint32_t tail_cache_ = 0;
  // Read-only after construction, read by both: a line of its own, so that
  // index stores do not evict it.
  alignas(kCacheLine) uint32_t capacity_ = 0;
  uint32_t mask_ = 0;
  T* slots_ = nullptr;
};

}  // namespace sn
