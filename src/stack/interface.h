// An interface of a shard's stack: a port, our MAC and IPv4 address on it,
// its MTU, and the batch of frames waiting for the port's next tx_burst.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "base/time.h"
#include "buf/packet.h"
#include "port/port.h"
#include "wire/address.h"

namespace sn {

struct Interface {
  uint16_t index = 0;
  Port* port = nullptr;
  MacAddress mac;
  Ipv4Prefix address;  // our address and the connected subnet
  uint32_t mtu = 1500;
  std::vector<PacketPtr> tx;            // capacity reserved up front: pushing never allocates
  std::optional<Instant> arp_defended;  // when we last defended our address (RFC 5227 §2.4)

  // True for the limited broadcast address and this subnet's directed broadcast.
  bool is_broadcast(Ipv4Address a) const {
    return a.is_broadcast() || (address.length < 31 && a == address.broadcast());
  }
};

}  // namespace sn
