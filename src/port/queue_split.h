// One port seen as N receive queues, as a multi-queue NIC or TAP shows itself
// to N shards: frames that arrive on the underlying port are spread over the
// queues by a policy standing in for the kernel's (or the NIC's) choice, and
// each queue transmits on the underlying port. The multi-shard engine's
// dispatcher then re-steers what landed on the wrong queue.
//
// Single-threaded: for the deterministic multi-shard tests and simulations,
// which drive every shard in one thread on virtual time.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "port/port.h"

namespace sn {

class QueueSplitter {
 public:
  enum class Spread {
    kRoundRobin,  // frame i to queue i mod N: most frames land on a wrong shard
    kFirst,       // every frame to queue 0: one shard forwards all of them
  };
  QueueSplitter(Port& under, uint32_t queues, Spread spread);
  ~QueueSplitter();

  Port& queue(uint32_t i);
  uint32_t queues() const { return static_cast<uint32_t>(queues_.size()); }

 private:
  class Queue;
  // Takes everything the underlying port has and spreads it.
  void fill(PacketPool& pool, Instant now);

  Port& under_;
  Spread spread_;
  uint64_t next_ = 0;
  std::vector<std::unique_ptr<Queue>> queues_;
};

}  // namespace sn
