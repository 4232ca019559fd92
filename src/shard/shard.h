// One shard of a multi-shard engine (the patent's IOP running its own stack):
// a private stack and pool, and its ends of the rings to every other shard.
// A frame that lands here but hashes to another shard is handed over on the
// ring to it; so is a datagram reassembled here whose transport owner is
// elsewhere; ARP updates go to every shard. TCP never leaves its shard.
//
// A ShardGroup holds the shards, the dispatcher and the N*(N-1) rings. It
// does no threading itself: the engine runs each shard's poll() on a thread
// of its own, and the deterministic tests run them all in one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "base/counter.h"
#include "buf/pool.h"
#include "buf/ring.h"
#include "shard/dispatcher.h"
#include "stack/ipv4.h"
#include "stack/sim.h"
#include "stack/stack.h"

namespace sn {

// A message on a ring between two shards.
struct ShardMessage {
  enum class Kind : uint8_t { kFrame, kDatagram, kArpLearn };
  Kind kind = Kind::kFrame;
  uint16_t iface = 0;
  PacketPtr packet;  // kFrame: at its Ethernet header; kDatagram: at its IPv4 header
  Ipv4Meta meta;     // kDatagram
  Ipv4Address ip;    // kArpLearn
  MacAddress mac;    // kArpLearn
};

// clang-format off
// X(name): what a shard handed over and took in, and what it could not.
#define SN_SHARD_COUNTERS(X) \
  X(frames_forwarded)    /* arrived here, owned by another shard: sent on */ \
  X(frames_received)     /* forwarded here by another shard */ \
  X(datagrams_forwarded) /* reassembled here, transport owner elsewhere */ \
  X(datagrams_received) \
  X(arp_updates_sent) \
  X(arp_updates_received) \
  X(ring_full)           /* a message dropped: the ring to its shard was full */ \
  X(polls) \
  X(busy_polls)          /* polls that found work */
// clang-format on

struct ShardCounters {
#define SN_DECLARE(name) Counter name;
  SN_SHARD_COUNTERS(SN_DECLARE)
#undef SN_DECLARE
  template <typename F>
  void for_each(F&& f) const {
#define SN_VISIT(name) f(#name, name.get());
    SN_SHARD_COUNTERS(SN_VISIT)
#undef SN_VISIT
  }
};

struct ShardGroupConfig {
  uint32_t shards = 1;
  SteerConfig steer;
  StackConfig stack;  // every shard's (the ISN secret must be the same on all)
  PoolConfig pool;    // each shard's own pool
  uint32_t ring_size = 1024;
  uint64_t seed = 1;
};

class ShardGroup;

class Shard final : public StackSteering {
 public:
  Shard(ShardGroup& group, uint32_t index, const ShardGroupConfig& config, Instant now);
  ~Shard() override;

  uint32_t index() const { return index_; }
  Stack& stack() { return *stack_; }
  const Stack& stack() const { return *stack_; }
  PacketPool& pool() { return pool_; }
  const PacketPool& pool() const { return pool_; }
  const ShardCounters& counters() const { return counters_; }

  // Polls the stack (port, timers), then takes in what other shards sent.
  // Returns the work done (0: idle).
  size_t poll(Instant now);
  // When the shard next has work without new input.
  Instant next_event() const;
  // Nothing waits on the rings into this shard.
  bool inbox_empty() const;

  // StackSteering.
  bool steer_frame(PacketPtr& frame) override;
  bool steer_datagram(const Ipv4Meta& meta, PacketPtr& datagram) override;
  bool owns_tuple(uint8_t protocol, Ipv4Address local, L4Port lport, Ipv4Address remote,
                  L4Port rport) const override;
  void arp_learned(uint16_t iface, Ipv4Address ip, MacAddress mac) override;

 private:
  bool send_to(uint32_t shard, ShardMessage&& m);
  void take(ShardMessage& m);

  friend class ShardGroup;
  ShardGroup& group_;
  const uint32_t index_;
  PacketPool pool_;
  std::unique_ptr<Stack> stack_;
  ShardCounters counters_;
};

class ShardGroup final : public SimActor {
 public:
  // Builds the shards' stacks (no interfaces yet: add them with each shard's
  // stack().add_interface(), the same interfaces in the same order).
  ShardGroup(const ShardGroupConfig& config, Instant now);
  ~ShardGroup() override;

  uint32_t size() const { return static_cast<uint32_t>(shards_.size()); }
  Shard& shard(uint32_t i) { return *shards_[i]; }
  const Shard& shard(uint32_t i) const { return *shards_[i]; }
  const Dispatcher& dispatcher() const { return dispatcher_; }
  SpscRing<ShardMessage>& ring(uint32_t from, uint32_t to) { return *rings_[from * size() + to]; }
  const SpscRing<ShardMessage>& ring(uint32_t from, uint32_t to) const {
    return *rings_[from * size() + to];
  }
  // Called after a message is pushed to shard `to` (the engine wakes a
  // sleeping shard thread); none in one thread.
  using WakeFn = void (*)(void* arg, uint32_t to);
  void set_wake(WakeFn fn, void* arg) {
    wake_ = fn;
    wake_arg_ = arg;
  }
  void wake(uint32_t to) {
    if (wake_ != nullptr) wake_(wake_arg_, to);
  }
  // Announces every interface once (shard 0's gratuitous ARP).
  void start(Instant now);

  // SimActor: every shard in turn, in one thread.
  size_t poll(Instant now) override;
  Instant next_event() const override;

 private:
  Dispatcher dispatcher_;
  std::vector<std::unique_ptr<SpscRing<ShardMessage>>>
      rings_;  // [from * N + to]; from == to unused
  std::vector<std::unique_ptr<Shard>> shards_;
  WakeFn wake_ = nullptr;
  void* wake_arg_ = nullptr;
};

}  // namespace sn
