// The simulator: several stacks joined by the in-memory wire, on virtual
// time, each port optionally behind a seeded fault injector. Protocol tests
// and the rootless demo run here; a run is exact and repeatable.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "port/fault_port.h"
#include "port/mem_wire.h"
#include "stack/stack.h"

namespace sn {

struct SimNodeConfig {
  Ipv4Prefix address;
  MacAddress mac;
  uint32_t mtu = 1500;
  std::optional<FaultConfig> fault;  // faults on this node's port, both ways
  StackConfig stack;
  PoolConfig pool;
  uint64_t seed = 1;
};

// Something else the simulation drives beside its nodes (a multi-shard
// engine: src/shard), polled every round on the same virtual clock.
class SimActor {
 public:
  virtual ~SimActor() = default;
  virtual size_t poll(Instant now) = 0;  // the work done (0: idle)
  virtual Instant next_event() const = 0;
};

class Simulation {
 public:
  struct Node {
    explicit Node(const PoolConfig& pool_config) : pool(pool_config) {}
    PacketPool pool;
    MemPort* wire_port = nullptr;
    std::unique_ptr<FaultPort> fault;
    std::unique_ptr<Stack> stack;
  };

  explicit Simulation(const MemWireConfig& wire = {},
                      Instant start = Instant::from_ns(1'000'000'000));

  // Adds a node and starts its stack (it announces itself with gratuitous ARP).
  Node& add_node(const SimNodeConfig& config);
  Node& node(size_t i) { return *nodes_[i]; }
  // Drives `a` too, from now on (it must outlive the simulation's runs).
  void add_actor(SimActor& a) { actors_.push_back(&a); }
  MemWire& wire() { return wire_; }
  Instant now() const { return now_; }

  // Polls every node, then moves time to the next event, until `done()` holds
  // or `limit` of virtual time has passed; returns done().
  template <typename F>
  bool run_until(F done, Duration limit = Duration::seconds(10)) {
    const Instant deadline = now_ + limit;
    while (!done()) {
      if (!step(deadline)) return done();
    }
    return true;
  }
  // Runs until nothing is pending anywhere, or `limit` passes; true if quiet.
  bool run_until_idle(Duration limit = Duration::seconds(10));
  // Runs for exactly `d` of virtual time.
  void run_for(Duration d);

 private:
  // One round: poll everyone; if nobody had work, jump to the next event (at
  // most `deadline`). False once there is nothing more to do before `deadline`.
  bool step(Instant deadline);
  Instant next_event() const;

  MemWire wire_;
  Instant now_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<SimActor*> actors_;
};

}  // namespace sn
