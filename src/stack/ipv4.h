// IPv4 for one shard (RFC 791, RFC 1122 §3.2-3.3): validation of what
// arrives, reassembly, delivery to ICMP and UDP; routing, fragmentation and
// hand-off to ARP for what leaves.
#pragma once

#include <cstdint>

#include "base/result.h"
#include "buf/packet.h"
#include "stack/reassembly.h"
#include "stack/route.h"
#include "wire/address.h"
#include "wire/ipv4.h"

namespace sn {

class Stack;
struct Interface;

// What a transport learns of the datagram that carried its segment. The IPv4
// header's bytes stay in the packet's headroom, `header_length` bytes in
// front of the transport header, for ICMP errors to quote.
struct Ipv4Meta {
  Ipv4Address src, dst;
  uint8_t protocol = 0;
  uint8_t ttl = 0;
  uint8_t tos = 0;
  uint16_t header_length = 0;
  uint16_t iface = 0;
  bool broadcast = false;       // sent to a broadcast address
  bool link_broadcast = false;  // came in a link-layer broadcast or multicast frame
};

class Ipv4 {
 public:
  struct Send {
    Ipv4Address src;  // any: the address of the interface the route picks
    Ipv4Address dst;
    uint8_t protocol = 0;
    uint8_t ttl = 0;  // 0: the stack's default
    uint8_t tos = 0;
    bool df = false;
    RouteCache* route = nullptr;  // if given: used while valid, refreshed when not
  };

  Ipv4(Stack& stack, const ReassemblyConfig& reassembly);

  // Handles a received packet whose data starts at the IPv4 header;
  // `link_broadcast`: its frame was sent to a broadcast or multicast MAC.
  void receive(Interface& ifc, PacketPtr packet, bool link_broadcast = false);
  // Sends `payload` (a chain; data at the transport header), fragmenting it
  // when it exceeds the MTU of the interface the route picks. A TCP
  // super-segment (Packet::gso_size) goes to a port with TSO whole, and is
  // cut into segments here for any other.
  Result<void> send(const Send& s, PacketPtr payload);
  // The source address a datagram to `dst` would carry, if it is routable.
  Result<Ipv4Address> source_for(Ipv4Address dst) const;

  Reassembler& reassembler() { return reassembler_; }
  // Hands a whole datagram (data at its IPv4 header) to its protocol: for a
  // datagram another shard reassembled and steered here.
  void deliver(const Ipv4Meta& meta, PacketPtr datagram);

 private:
  struct Hop {
    uint16_t iface;
    Ipv4Address next_hop;
  };
  Result<Hop> route(Ipv4Address dst) const;
  Result<void> fragment(Interface& ifc, Ipv4Address next_hop, Ipv4Header& h, PacketPtr payload);
  bool fragments_in_place(const Packet& payload, uint32_t max_fragment) const;
  Result<void> send_segmented(const Send& s, Ipv4Address src, const Packet& super);

  Stack& stack_;
  Reassembler reassembler_;
  uint16_t next_id_;
};

}  // namespace sn
