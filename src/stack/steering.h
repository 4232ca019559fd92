// What a stack that is one shard of several asks of the engine around it
// (src/shard): the patent's dispatch (which shard owns a frame, a reassembled
// datagram, an active open's 4-tuple) and its shared ARP cache (updates go to
// every shard). A stack alone (one shard, the tests) has none.
#pragma once

#include <cstdint>

#include "buf/packet.h"
#include "wire/address.h"

namespace sn {

struct Ipv4Meta;

class StackSteering {
 public:
  virtual ~StackSteering() = default;
  // A frame that arrived on this shard's port. True: it belongs to another
  // shard and was handed over (the stack must not touch it); false: it is
  // this shard's (frame untouched).
  virtual bool steer_frame(PacketPtr& frame) = 0;
  // A datagram reassembled here (data at its IPv4 header, `meta` filled in):
  // true if its transport owner is another shard, which now has it.
  virtual bool steer_datagram(const Ipv4Meta& meta, PacketPtr& datagram) = 0;
  // Whether segments for this 4-tuple (from this host's side) arrive on this
  // shard: active opens pick local ports that do.
  virtual bool owns_tuple(uint8_t protocol, Ipv4Address local, L4Port lport, Ipv4Address remote,
                          L4Port rport) const = 0;
  // ARP learned or refreshed `ip` at `mac` on interface `iface`.
  virtual void arp_learned(uint16_t iface, Ipv4Address ip, MacAddress mac) = 0;
};

}  // namespace sn
