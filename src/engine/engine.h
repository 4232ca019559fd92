// The engine: N shards (src/shard: each its pool, stack, ports and services),
// each driven by a thread of its own on the real clock, pinned to a core of
// the process's allowed set, plus the control socket that serves the
// counters. A multi-queue TAP gives each shard its own queue; the dispatcher
// re-steers what the kernel put on the wrong one.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/result.h"
#include "engine/services.h"
#include "host/region.h"
#include "port/iface_spec.h"
#include "shard/shard.h"
#include "stack/stack.h"

namespace sn {

struct EngineIface {
  IfaceSpec spec;
  Ipv4Prefix address;
};

struct EngineConfig {
  std::string name = "shardnet";
  std::vector<EngineIface> ifaces;
  std::optional<Ipv4Address> gateway;
  std::vector<ServiceSpec> services;
  std::string control_path;  // empty: default_control_path(name)
  uint32_t shards = 0;       // 0: one per core the process may run on (1 with a mem: iface)
  SteerConfig steer;
  uint32_t balance_threshold = 256;  // see ShardGroupConfig; 0: off
  StackConfig stack;
  PoolConfig pool{.count = 16384};  // each shard's: 32 MiB of 2 KiB buffers
  host::RegionConfig host_region;   // each attached host's queues and frames (shards: ours)
  uint64_t seed = 0;                // 0: from the system's random source
  // How long a shard with nothing to do keeps polling before it sleeps: a
  // sleep and its wake-up cost more than a short spin, and add latency.
  Duration idle_spin = Duration::micros(50);
};

// /run/shardnet/NAME.sock as root, else $XDG_RUNTIME_DIR or /tmp.
std::string default_control_path(const std::string& name);

class ControlServer;
class Hosts;
class MemWire;

class Engine {
 public:
  // Opens the ports, builds the stack and starts the services; on failure
  // returns an Error and sets *why to a sentence a person can act on.
  static Result<std::unique_ptr<Engine>> create(const EngineConfig& config, std::string* why);
  ~Engine();

  // Runs the shard loop until stop() is called: busy while there is work;
  // when idle, asleep on the ports' descriptors until the next timer, so an
  // idle engine uses no CPU.
  void run();
  // Asks run() to return; safe from any thread (it wakes a sleeping loop).
  void stop();

  // The counters as text or JSON; safe to call from any thread.
  std::string stats_text() const;
  std::string stats_json() const;
  const std::string& control_path() const { return control_path_; }

 private:
  struct ShardIo;
  Engine() = default;
  void shard_loop(uint32_t i);
  static void wake(void* arg, uint32_t shard);

  std::string name_;
  std::string control_path_;
  Duration idle_spin_;
  std::unique_ptr<MemWire> wire_;  // for mem: interfaces (one shard only)
  std::unique_ptr<ShardGroup> group_;
  std::vector<std::unique_ptr<ShardIo>> io_;  // per shard: ports, services, wakeup
  std::unique_ptr<Hosts> hosts_;              // attached hosts (control thread)
  std::unique_ptr<ControlServer> control_;
  std::atomic<bool> stop_{false};
};

}  // namespace sn
