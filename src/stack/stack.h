// One shard's private IPv4 stack: interfaces, ARP, IPv4 with fragmentation and
// reassembly, ICMP, UDP and TCP. It does no I/O of its own beyond its ports' burst
// calls, keeps no clock (every entry point is handed `now`), and owns all of
// its memory: the shard's pool, timer wheel, counters and tables.
#pragma once

#include <array>
#include <memory>
#include <vector>

#include "base/rng.h"
#include "base/time.h"
#include "base/timer_wheel.h"
#include "buf/pool.h"
#include "port/port.h"
#include "stack/arp.h"
#include "stack/config.h"
#include "stack/counters.h"
#include "stack/icmp.h"
#include "stack/interface.h"
#include "stack/ipv4.h"
#include "stack/route.h"
#include "stack/steering.h"
#include "stack/tcp.h"
#include "stack/udp.h"

namespace sn {

class Stack {
 public:
  Stack(const StackConfig& config, PacketPool& pool, Instant now, uint64_t seed);
  ~Stack();
  Stack(const Stack&) = delete;
  Stack& operator=(const Stack&) = delete;

  // Adds an interface on `port` with our address and subnet; the connected
  // route is added with it. Returns the interface's index.
  uint16_t add_interface(Port& port, Ipv4Prefix address);
  // Adds a default route through `gateway`, which must be on a connected subnet.
  Result<void> set_gateway(Ipv4Address gateway);
  // Announces every interface's address with a gratuitous ARP.
  void start(Instant now);

  // Polls every port once, processes what arrived, runs due timers and
  // flushes transmit batches. Returns the amount of work done (0: idle).
  size_t poll(Instant now);
  // Processes one received Ethernet frame.
  void receive(PacketPtr frame, Instant now);
  // Sends the ACKs TCP connections still owe (Tcp::flush_acks), then hands
  // every batched frame to its port.
  void flush();
  // When the stack next has work without new input (a timer, a port's
  // delayed frame), or Instant::never().
  Instant next_event() const;

  // Queues a finished Ethernet frame for transmission on interface `iface`.
  void transmit(uint16_t iface, PacketPtr frame);

  Instant now() const { return now_; }
  const StackConfig& config() const { return config_; }
  PacketPool& pool() { return pool_; }
  TimerWheel& timers() { return timers_; }
  StackCounters& counters() { return counters_; }
  const StackCounters& counters() const { return counters_; }
  Rng& rng() { return rng_; }
  RouteTable& routes() { return routes_; }
  const RouteTable& routes() const { return routes_; }
  Interface& iface(uint16_t index) { return *ifaces_[index]; }
  const Interface& iface(uint16_t index) const { return *ifaces_[index]; }
  size_t iface_count() const { return ifaces_.size(); }
  // The interface whose address is `a`, or null.
  Interface* iface_with_address(Ipv4Address a);

  // Makes this stack one shard of several (null: alone). Set before start().
  void set_steering(StackSteering* s) { steering_ = s; }
  StackSteering* steering() const { return steering_; }

  Arp& arp() { return arp_; }
  Ipv4& ipv4() { return ipv4_; }
  Icmp& icmp() { return icmp_; }
  Udp& udp() { return udp_; }
  Tcp& tcp() { return tcp_; }

 private:
  void flush(Interface& ifc);

  StackConfig config_;
  PacketPool& pool_;
  Instant now_;
  TimerWheel timers_;
  StackCounters counters_;
  Rng rng_;
  RouteTable routes_;
  std::vector<std::unique_ptr<Interface>> ifaces_;
  Arp arp_;
  Ipv4 ipv4_;
  Icmp icmp_;
  Udp udp_;
  Tcp tcp_;
  std::array<PacketPtr, 64> rx_;
  StackSteering* steering_ = nullptr;
};

}  // namespace sn
