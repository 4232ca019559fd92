// The engine: a shard (its pool, ports, stack and services) driven by a loop
// on the real clock, plus the control socket that serves its counters. This
// issue's engine has one shard; the multi-shard engine grows from here.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/result.h"
#include "engine/services.h"
#include "port/iface_spec.h"
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
  StackConfig stack;
  PoolConfig pool;
  uint64_t seed = 0;  // 0: from the system's random source
};

// /run/shardnet/NAME.sock as root, else $XDG_RUNTIME_DIR or /tmp.
std::string default_control_path(const std::string& name);

class ControlServer;

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
  struct Shard;
  Engine() = default;

  std::string name_;
  std::string control_path_;
  std::unique_ptr<Shard> shard_;
  std::unique_ptr<ControlServer> control_;
  std::atomic<bool> stop_{false};
  int wake_fd_ = -1;  // an eventfd stop() writes to
};

}  // namespace sn
