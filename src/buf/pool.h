// A per-shard pool of packet buffers, allocated once at start. Allocation and
// release are a pop and a push on a free stack: nothing on the data path calls
// the general allocator.
//
// Threads. A pool belongs to one shard: its owner thread allocates, and what
// it releases goes straight back on the local free stack. A packet may end its
// life on another shard's thread (it crossed a ring); releasing it there
// pushes it on the pool's lock-free "remote free" stack instead, and the owner
// takes that whole stack back when its local one runs dry, or on reclaim().
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <thread>
#include <vector>

#include "base/counter.h"
#include "buf/packet.h"

namespace sn {

struct PoolConfig {
  uint32_t count = 4096;        // buffers
  uint32_t buffer_size = 2048;  // bytes per buffer, headroom included
  uint32_t headroom = 128;      // default headroom of a fresh buffer
};

class PacketPool {
 public:
  // The constructing thread is the owner until set_owner_thread().
  explicit PacketPool(const PoolConfig& config = {});
  // REQUIRES: no packet of this pool is still alive, or can be released.
  ~PacketPool();
  PacketPool(const PacketPool&) = delete;
  PacketPool& operator=(const PacketPool&) = delete;

  // Makes the calling thread the owner: a shard thread calls it as it starts.
  // REQUIRES: the previous owner has stopped using the pool, and this call
  // happens before any packet of the pool reaches another thread (a thread
  // start or a ring push orders it).
  void set_owner_thread();

  // alloc(), alloc_chain(), reclaim() and available() use the local free
  // stack. REQUIRES: called on the owner thread. (Were the owner never bound,
  // a single other thread may use them as long as the owner stays idle: its
  // releases then all take the remote path, which is slower but correct.)

  // A fresh, empty packet with the default headroom, or null when the pool is
  // exhausted (counted in `exhausted`). Takes the remote frees back first
  // when the local free stack is empty.
  PacketPtr alloc();
  // A chain of fresh packets able to hold `bytes` bytes of data, filled
  // packet by packet up to `per_packet` bytes each; null if the pool runs out.
  PacketPtr alloc_chain(uint32_t bytes, uint32_t per_packet);

  // Takes every packet released on other threads back onto the local free
  // stack, and returns how many came back. alloc() does this by itself when it
  // needs to; leak checks call it before comparing available() to capacity().
  uint32_t reclaim();

  uint32_t capacity() const { return config_.count; }
  // Packets on the local free stack only: packets released on other threads
  // and not yet reclaimed count neither here nor as free (see reclaim()).
  uint32_t available() const { return static_cast<uint32_t>(free_.size()); }
  uint32_t in_use() const { return capacity() - available(); }
  uint32_t headroom() const { return config_.headroom; }
  uint32_t buffer_size() const { return config_.buffer_size; }

  // The buffers as one page-aligned area, buffer i at i * buffer_size(): a
  // port whose device reads and writes memory it was given (AF_XDP's UMEM)
  // registers it, and passes packets to the device by offset.
  std::span<std::byte> arena() const { return {arena_.get(), arena_size_}; }
  bool owns(const Packet& p) const { return p.pool_ == this; }
  // Where p's first data byte lies in the arena. REQUIRES: owns(p).
  uint64_t arena_offset(const Packet& p) const { return uint64_t(p.buf_ - arena_.get()) + p.head_; }
  // The packet whose buffer holds arena byte `offset`, as lent to a device
  // (alive, not on a free stack). REQUIRES: offset < arena().size().
  Packet* packet_at(uint64_t offset) const {
    return &packets_[static_cast<size_t>(offset / config_.buffer_size)];
  }

  Counter exhausted;  // allocations refused because the pool was empty
  // Packets released on another thread, counted as the owner takes them back.
  Counter remote_frees;

 private:
  friend struct PacketDeleter;
  // Releases p and the rest of its chain, each link to its own pool: onto
  // that pool's local free stack when the caller is its owner, onto its
  // remote free stack otherwise. Any thread.
  static void release_chain(Packet* p);
  // Pushes the run first..last (linked through next_) on the remote stack.
  void push_remote(Packet* first, Packet* last);

  PoolConfig config_;
  struct FreeDeleter {
    void operator()(std::byte* p) const;
  };
  std::unique_ptr<std::byte, FreeDeleter> arena_;
  size_t arena_size_ = 0;
  std::unique_ptr<Packet[]> packets_;
  // The owner's id. Relaxed atomic: other threads only compare it with their
  // own id, which needs no ordering, and set_owner_thread()'s REQUIRES gives
  // the rest; atomic so that comparing during a re-bind is not a data race.
  std::atomic<std::thread::id> owner_;
  static_assert(std::atomic<std::thread::id>::is_always_lock_free);
  // Local free stack: the owner's alone. Reserved for every packet at
  // construction, so a push never allocates.
  std::vector<Packet*> free_;
  // Remote free stack (Treiber): the top packet, linked through next_. Any
  // thread pushes with a CAS; the owner pops by exchanging the whole list out
  // for null. No one pops a single node, so the ABA problem cannot arise.
  // Invariant: every packet of the pool is in exactly one of: alive (owned by
  // a PacketPtr or a chain), free_, or the remote list.
  alignas(64) std::atomic<Packet*> remote_free_{nullptr};
};

}  // namespace sn
