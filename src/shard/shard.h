// One shard of a multi-shard engine (the patent's IOP running its own stack):
// a private stack and pool, and its ends of the rings to every other shard.
// A frame that lands here but hashes to another shard is handed over on the
// ring to it; so is a datagram reassembled here whose transport owner is
// elsewhere; ARP updates go to every shard. TCP never leaves its shard.
//
// Load balancing (Fig. 12A/12B): connectionless work may. A UDP datagram for
// a port served on every shard (a replicated bind, marked in the group's lock
// table) whose owner's input queue holds `balance_threshold` messages or more
// goes to the least loaded shard instead, if that one's queue is under half
// the owner's (this shard wins ties: no ring to cross). The queue depth of a
// shard is what waits on the rings into it, read from the rings' indices, so
// a shard that has stopped polling shows up at once. Fragments are not moved
// (the pieces of one datagram must meet); the datagram they make is, as it
// goes on to its transport owner. Each move is counted in `balanced`.
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
#include "shard/lock_table.h"
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
  X(balanced)            /* UDP work moved off an overloaded owner (Fig. 12B) */ \
  X(ring_full)           /* a message dropped: the ring to its shard was full */ \
  X(polls) \
  X(busy_polls)          /* polls that found work */ \
  X(busy_ns)             /* time in polls that found work (the engine's clock) */ \
  X(idle_ns)             /* time in polls that found none, and asleep */
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
  // Queue depth (messages waiting for a shard) from which its connectionless
  // work may be balanced to another; 0: never.
  uint32_t balance_threshold = 256;
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
  // The engine's performance monitor: time spent busy or idle.
  void account(bool busy, Duration d) {
    (busy ? counters_.busy_ns : counters_.idle_ns).inc(d.ns());
  }

  // StackSteering.
  bool steer_frame(PacketPtr& frame) override;
  bool steer_datagram(const Ipv4Meta& meta, PacketPtr& datagram) override;
  bool owns_tuple(uint8_t protocol, Ipv4Address local, L4Port lport, Ipv4Address remote,
                  L4Port rport) const override;
  void arp_learned(uint16_t iface, Ipv4Address ip, MacAddress mac) override;

 private:
  bool send_to(uint32_t shard, ShardMessage&& m);
  void take(ShardMessage& m);
  // Where UDP work for `owner`, to local port `port`, goes (see above).
  uint32_t balance_udp(uint32_t owner, L4Port port);

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
  uint32_t balance_threshold() const { return balance_threshold_; }
  // Messages waiting on the rings into shard `s` (its input queue); any
  // thread, a moment's view.
  uint32_t queue_depth(uint32_t s) const;

  // The shared lock table. Bits 0..65535: UDP ports bound on every shard,
  // whose datagrams any shard may serve (the balancer's to move).
  LockTable& locks() { return locks_; }
  void set_udp_replicated(L4Port port, bool on) {
    if (on)
      (void)locks_.test_and_set(port.v);
    else
      locks_.clear(port.v);
  }
  bool udp_replicated(L4Port port) const { return locks_.test(port.v); }
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
  uint32_t balance_threshold_;
  LockTable locks_{65536 / 64};
  std::vector<std::unique_ptr<SpscRing<ShardMessage>>>
      rings_;  // [from * N + to]; from == to unused
  std::vector<std::unique_ptr<Shard>> shards_;
  WakeFn wake_ = nullptr;
  void* wake_arg_ = nullptr;
};

}  // namespace sn
