// A bounded, lock-free, single-producer single-consumer ring of uint32_t
// entries in memory shared by two processes that do not trust each other: an
// application ("host") and the engine's shard threads, talking through a memfd
// region that both map, each at its own address. An entry is a uint32_t (in
// practice the offset of a message frame in the region; the caller validates
// it). The scheme is src/buf/ring.h's: two free-running indices on their own
// cache lines, and each side keeping a private copy of the other's index so that
// it reads the shared one only when its copy says full or empty. What differs is
// that every index and entry the peer can write is treated as hostile input.
//
// Layout at the ring's offset in the region (the wire contract between the two
// processes; 64-byte aligned, shm_ring_bytes(capacity) bytes in all):
//
//   offset 0    uint32_t tail   next slot to fill; written by the producer only
//   offset 64   uint32_t head   next slot to drain; written by the consumer only
//   offset 128  uint32_t entries[capacity]   the slot of position p is p & (capacity - 1)
//   then zero padding up to a multiple of 64 bytes.
//
// All native-endian words (both processes run on one machine), accessed only as
// lock-free, hence address-free, atomics: the indices through ShmRingHeader's
// std::atomic members, the entries through std::atomic_ref<uint32_t>. Both
// indices count modulo 2^32 and start at 0, so each side attaches to a fresh
// ring only (neither can resume one that has carried entries). The capacity is
// agreed out of band when the region is built and is never read from the ring.
//
// Trust. Each side keeps its own index privately (it never reads it back from
// shared memory: its private copy is the truth) and only publishes it. What it
// reads from shared memory is the peer's index and, on the consumer side, the
// entries. A hostile or buggy peer, writing any bytes at any time, can:
//   - make the ring look full (a consumer that never moves head) or empty (a
//     producer that never moves tail), or move its index back or forth within
//     the bound below, which only changes how full the ring looks (and a
//     consumer that claims slots it has not read loses their entries);
//   - make the ring broken: an index that no honest peer could have published,
//     that is (tail - head) > capacity modulo 2^32 as seen by our side. We then
//     refuse every later push or pop, for good; the caller tears the
//     connection down. A side looks at the peer's index only when its cached
//     copy shows too little room (too few entries), and on every free_slots()
//     (size()), so a lie is seen then, not when it is written;
//   - feed garbage entries, or change an entry between its push and its pop:
//     the consumer copies each entry out exactly once and returns it as it
//     was, and the caller validates it before use;
//   - overwrite our own published index (we never read it back).
// It cannot make either side touch memory outside [mem, mem +
// shm_ring_bytes(capacity)) (every slot index is masked, the peer's index is
// bounded before it is used, and nothing read from the ring sizes or locates
// anything), nor block, allocate or make a system call on our side; and since
// every shared word is an atomic, its concurrent writes are not a data race in
// our process.
//
// Waking a peer that sleeps on an empty or full ring is the caller's business.
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <span>
#include <type_traits>

#include "base/check.h"

namespace sn {

// The ring's first 128 bytes in shared memory (see the layout above).
struct ShmRingHeader {
  alignas(64) std::atomic<uint32_t> tail;  // next slot to fill; written by the producer only
  alignas(64) std::atomic<uint32_t> head;  // next slot to drain; written by the consumer only
};

// The other process sees the same bytes through its own mapping: the atomics
// must be plain words operated on in place, at fixed offsets.
static_assert(std::atomic<uint32_t>::is_always_lock_free, "shared indices must be address-free");
static_assert(std::atomic_ref<uint32_t>::is_always_lock_free,
              "shared entries must be address-free");
static_assert(std::is_standard_layout_v<std::atomic<uint32_t>>);
static_assert(std::is_standard_layout_v<ShmRingHeader>);
static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));
static_assert(offsetof(ShmRingHeader, tail) == 0);
static_assert(offsetof(ShmRingHeader, head) == 64);
static_assert(sizeof(ShmRingHeader) == 128);

inline constexpr uint32_t kShmRingMinCapacity = 2;
inline constexpr uint32_t kShmRingMaxCapacity = uint32_t{1} << 20;
inline constexpr size_t kShmRingAlign = 64;

// Whether `capacity` is one the ring accepts: a power of two in [2, 2^20]. For a
// capacity that came from the other process, check this before constructing.
constexpr bool shm_ring_capacity_valid(uint32_t capacity) {
  return capacity >= kShmRingMinCapacity && capacity <= kShmRingMaxCapacity &&
         std::has_single_bit(capacity);
}

// The ring's size in shared memory: header and entries, rounded up to 64.
// REQUIRES: shm_ring_capacity_valid(capacity).
constexpr size_t shm_ring_bytes(uint32_t capacity) {
  const size_t bytes = sizeof(ShmRingHeader) + size_t{capacity} * sizeof(uint32_t);
  return (bytes + kShmRingAlign - 1) / kShmRingAlign * kShmRingAlign;
}

// Writes a fresh, empty ring (head = tail = 0, entries and padding zero) at
// `mem`. Done once by the engine when it builds a region.
// REQUIRES: shm_ring_capacity_valid(capacity); `mem` 64-byte aligned, with
// shm_ring_bytes(capacity) writable bytes; no process uses the ring yet.
inline void shm_ring_init(void* mem, uint32_t capacity) {
  SN_CHECK(shm_ring_capacity_valid(capacity));
  SN_CHECK(mem != nullptr && reinterpret_cast<uintptr_t>(mem) % kShmRingAlign == 0);
  std::memset(mem, 0, shm_ring_bytes(capacity));
  ::new (mem) ShmRingHeader{};  // value-initialised: tail = head = 0
}

// Lets a test start both sides' private indices near their wrap at 2^32.
struct ShmRingPeer;

// The producer's side of a ring in shared memory. One thread at a time.
//
// Invariants (tail = tail_, counting modulo 2^32):
//   0 <= tail - head_cache_ <= capacity_ (head_cache_ is only ever a head that
//   passed that bound, and tail advances by no more than the free slots);
//   once broken_, head_cache_ == tail - capacity_, so the cached count shows no
//   room and every push takes the slow path, which refuses it.
//
// Memory order, as in src/buf/ring.h, with the entries as relaxed atomics:
//   - producer -> consumer: push stores the entry, then stores tail with
//     release; the consumer loads tail with acquire before it reads the entry,
//     so it sees the value (and whatever the producer wrote into the frame the
//     value points to).
//   - consumer -> producer: the consumer reads the entry, then stores head with
//     release; the producer loads head with acquire before it stores into that
//     slot again, so its store cannot overtake the consumer's read of the old
//     value.
class ShmRingProducer {
 public:
  // Detached: push fails, free_slots() is 0, not broken.
  ShmRingProducer() = default;
  // REQUIRES: shm_ring_capacity_valid(capacity); `mem` 64-byte aligned, with
  // shm_ring_bytes(capacity) bytes, holding a ring that shm_ring_init made and
  // that nothing has pushed to yet: the private tail starts at 0.
  ShmRingProducer(void* mem, uint32_t capacity)
      : header_(std::launder(static_cast<ShmRingHeader*>(mem))),
        entries_(reinterpret_cast<uint32_t*>(static_cast<std::byte*>(mem) + sizeof(ShmRingHeader))),
        capacity_(capacity),
        mask_(capacity - 1) {
    SN_CHECK(shm_ring_capacity_valid(capacity));
    SN_CHECK(mem != nullptr && reinterpret_cast<uintptr_t>(mem) % kShmRingAlign == 0);
  }

  // Stores `v` in the next slot and publishes it, or returns false if the ring
  // is full, broken or detached.
  bool push(uint32_t v) {
    if (room(1) == 0) return false;
    entry(tail_).store(v, std::memory_order_relaxed);
    tail_ += 1;
    header_->tail.store(tail_, std::memory_order_release);  // publishes the slot
    return true;
  }

  // Stores values[0, n) in order, where n is as many as fit, and publishes
  // them at once; returns n.
  uint32_t push_burst(std::span<const uint32_t> values) {
    const uint32_t n = clamp(values.size(), room(values.size()));
    if (n == 0) return 0;
    for (uint32_t i = 0; i < n; ++i)
      entry(tail_ + i).store(values[i], std::memory_order_relaxed);
    tail_ += n;
    header_->tail.store(tail_, std::memory_order_release);  // publishes the n slots
    return n;
  }

  // Free slots as far as it can tell: always reads (and checks) the
  // consumer's head. 0 once broken or when detached.
  uint32_t free_slots() { return room(size_t{capacity_} + 1); }  // more than can be free

  // Whether the consumer's head was ever seen impossible. Once broken, always.
  bool broken() const { return broken_; }
  uint32_t capacity() const { return capacity_; }

 private:
  friend struct ShmRingPeer;

  std::atomic_ref<uint32_t> entry(uint32_t position) const {
    return std::atomic_ref<uint32_t>(entries_[position & mask_]);
  }
  static uint32_t clamp(size_t want, uint32_t have) {
    return want < have ? static_cast<uint32_t>(want) : have;
  }

  // Free slots at tail_. Reads the consumer's head only when the cached copy
  // shows fewer than `want` (a stale honest copy can only under-count), and
  // checks it before believing it.
  uint32_t room(size_t want) {
    uint32_t free = capacity_ - (tail_ - head_cache_);
    if (free < want) {
      if (broken_ || header_ == nullptr) return 0;
      const uint32_t head =
          header_->head.load(std::memory_order_acquire);  // pairs with pop's release
      if (tail_ - head > capacity_) {  // ahead of our tail, or more than a ring behind
        broken_ = true;
        head_cache_ = tail_ - capacity_;  // no room, ever again
        return 0;
      }
      head_cache_ = head;
      free = capacity_ - (tail_ - head);
    }
    return free;
  }

  ShmRingHeader* header_ = nullptr;
  uint32_t* entries_ = nullptr;
  uint32_t capacity_ = 0;
  uint32_t mask_ = 0;
  uint32_t tail_ = 0;        // the truth; the shared tail is only its published copy
  uint32_t head_cache_ = 0;  // the last head that passed the bound
  bool broken_ = false;
};

// The consumer's side of a ring in shared memory. One thread at a time.
//
// Invariants (head = head_, counting modulo 2^32):
//   0 <= tail_cache_ - head <= capacity_ (tail_cache_ is only ever a tail that
//   passed that bound, and head advances by no more than the waiting entries);
//   once broken_, tail_cache_ == head, so the cached count shows nothing waiting
//   and every pop takes the slow path, which refuses it.
// Memory order: see ShmRingProducer.
class ShmRingConsumer {
 public:
  // Detached: pop fails, size() is 0, not broken.
  ShmRingConsumer() = default;
  // REQUIRES: shm_ring_capacity_valid(capacity); `mem` 64-byte aligned, with
  // shm_ring_bytes(capacity) bytes, holding a ring that shm_ring_init made and
  // that nothing has popped from yet: the private head starts at 0.
  ShmRingConsumer(void* mem, uint32_t capacity)
      : header_(std::launder(static_cast<ShmRingHeader*>(mem))),
        entries_(reinterpret_cast<uint32_t*>(static_cast<std::byte*>(mem) + sizeof(ShmRingHeader))),
        capacity_(capacity),
        mask_(capacity - 1) {
    SN_CHECK(shm_ring_capacity_valid(capacity));
    SN_CHECK(mem != nullptr && reinterpret_cast<uintptr_t>(mem) % kShmRingAlign == 0);
  }

  // Copies the oldest entry into `v` and hands its slot back, or returns false
  // if the ring is empty, broken or detached (then `v` is left as it was). The
  // value is whatever the producer wrote: the caller validates it.
  bool pop(uint32_t& v) {
    if (waiting(1) == 0) return false;
    v = entry(head_).load(std::memory_order_relaxed);
    head_ += 1;
    header_->head.store(head_, std::memory_order_release);  // hands the slot back
    return true;
  }

  // Copies up to out.size() of the oldest entries into out[0, n), oldest
  // first, and hands their slots back at once; returns n.
  uint32_t pop_burst(std::span<uint32_t> out) {
    const uint32_t n = clamp(out.size(), waiting(out.size()));
    if (n == 0) return 0;
    for (uint32_t i = 0; i < n; ++i)
      out[i] = entry(head_ + i).load(std::memory_order_relaxed);
    head_ += n;
    header_->head.store(head_, std::memory_order_release);  // hands the n slots back
    return n;
  }

  // Entries waiting as far as it can tell: always reads (and checks) the
  // producer's tail. 0 once broken or when detached.
  uint32_t size() { return waiting(size_t{capacity_} + 1); }  // more than can be waiting

  // Whether the producer's tail was ever seen impossible. Once broken, always.
  bool broken() const { return broken_; }
  uint32_t capacity() const { return capacity_; }

 private:
  friend struct ShmRingPeer;

  std::atomic_ref<uint32_t> entry(uint32_t position) const {
    return std::atomic_ref<uint32_t>(entries_[position & mask_]);
  }
  static uint32_t clamp(size_t want, uint32_t have) {
    return want < have ? static_cast<uint32_t>(want) : have;
  }

  // Entries waiting at head_. Reads the producer's tail only when the cached
  // copy shows fewer than `want` (a stale honest copy can only under-count),
  // and checks it before believing it.
  uint32_t waiting(size_t want) {
    uint32_t used = tail_cache_ - head_;
    if (used < want) {
      if (broken_ || header_ == nullptr) return 0;
      const uint32_t tail =
          header_->tail.load(std::memory_order_acquire);  // pairs with push's release
      if (tail - head_ > capacity_) {  // behind our head, or more than a ring ahead
        broken_ = true;
        tail_cache_ = head_;  // nothing waiting, ever again (drops what was cached)
        return 0;
      }
      tail_cache_ = tail;
      used = tail - head_;
    }
    return used;
  }

  ShmRingHeader* header_ = nullptr;
  uint32_t* entries_ = nullptr;
  uint32_t capacity_ = 0;
  uint32_t mask_ = 0;
  uint32_t head_ = 0;        // the truth; the shared head is only its published copy
  uint32_t tail_cache_ = 0;  // the last tail that passed the bound
  bool broken_ = false;
};

}  // namespace sn
