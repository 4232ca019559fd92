// ARP (RFC 826) for one shard: a bounded cache with expiry, answers for our
// addresses, resolution of next hops with retries, a bounded queue of packets
// waiting for resolution, and gratuitous ARP (RFC 5227 §2.3) at start.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "base/time.h"
#include "base/timer_wheel.h"
#include "buf/packet.h"
#include "stack/config.h"
#include "wire/address.h"

namespace sn {

class Stack;
struct Interface;
struct ArpPacket;

class Arp {
 public:
  Arp(Stack& stack, const ArpConfig& config);
  ~Arp();

  // Handles a received ARP packet (`frame` holds it; `arp` is its ARP part).
  void receive(Interface& ifc, std::span<const std::byte> arp);
  // Sends `packet` (data at the IPv4 header) to `next_hop` on `ifc`: at once
  // if its MAC is known, else once it is resolved (bounded; counted if not).
  void output(Interface& ifc, Ipv4Address next_hop, PacketPtr packet);
  // Broadcasts a gratuitous ARP request announcing `ifc`'s address.
  void announce(Interface& ifc);
  // Learns or refreshes a mapping and, if this stack is one shard of several
  // and `notify_shards`, tells the others (an update they pass on is learned
  // with notify_shards false, so it goes round once).
  void learn(uint16_t iface, Ipv4Address ip, MacAddress mac, bool notify_shards = true);

  // The resolved, unexpired MAC of `ip`, if any.
  std::optional<MacAddress> lookup(Ipv4Address ip) const;
  size_t resolved_count() const;
  size_t pending_packets() const { return pending_count_; }

 private:
  enum class State : uint8_t { kFree, kIncomplete, kReachable };
  struct Entry {
    Arp* arp = nullptr;
    State state = State::kFree;
    uint16_t iface = 0;
    Ipv4Address ip;
    MacAddress mac;
    Instant expires;
    uint32_t retries = 0;
    uint32_t pending = 0;  // packets queued for this entry
    Timer timer;           // retry while incomplete
  };
  struct Pending {
    Entry* entry = nullptr;
    PacketPtr packet;
    uint64_t seq = 0;  // arrival order, so a next hop's packets leave FIFO
  };

  Entry* find(Ipv4Address ip) const;
  Entry* allocate(Ipv4Address ip);
  void free_entry(Entry* e);
  void send_request(Interface& ifc, Ipv4Address target);
  bool send(Interface& ifc, const ArpPacket& p, MacAddress dst);
  void resolved(Entry* e);
  void on_retry(Entry* e);
  void emit_frame(Interface& ifc, MacAddress dst, PacketPtr packet);

  Stack& stack_;
  ArpConfig config_;
  std::unique_ptr<Entry[]> entries_;
  std::vector<Pending> pending_;  // fixed size; empty slots have no packet
  uint32_t pending_count_ = 0;
  uint64_t next_seq_ = 0;
  mutable Entry* last_ = nullptr;  // the entry find() returned last: a memo
};

}  // namespace sn
