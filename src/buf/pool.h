// A per-shard pool of packet buffers, allocated once at start. Allocation and
// release are a pop and a push on a free stack: nothing on the data path calls
// the general allocator. Not thread-safe: a pool belongs to one shard.
#pragma once

#include <cstdint>
#include <memory>
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
  explicit PacketPool(const PoolConfig& config = {});
  ~PacketPool();
  PacketPool(const PacketPool&) = delete;
  PacketPool& operator=(const PacketPool&) = delete;

  // A fresh, empty packet with the default headroom, or null when the pool is
  // exhausted (counted in `exhausted`).
  PacketPtr alloc();
  // A chain of fresh packets able to hold `bytes` bytes of data, filled
  // packet by packet up to `per_packet` bytes each; null if the pool runs out.
  PacketPtr alloc_chain(uint32_t bytes, uint32_t per_packet);

  uint32_t capacity() const { return config_.count; }
  uint32_t available() const { return static_cast<uint32_t>(free_.size()); }
  uint32_t in_use() const { return capacity() - available(); }
  uint32_t headroom() const { return config_.headroom; }
  uint32_t buffer_size() const { return config_.buffer_size; }

  Counter exhausted;  // allocations refused because the pool was empty

 private:
  friend struct PacketDeleter;
  void release(Packet* p);  // releases p and the rest of its chain

  PoolConfig config_;
  struct FreeDeleter {
    void operator()(std::byte* p) const;
  };
  std::unique_ptr<std::byte, FreeDeleter> arena_;
  std::unique_ptr<Packet[]> packets_;
  std::vector<Packet*> free_;
};

}  // namespace sn
