// Opening the device an --iface names (tap:, afxdp:, afpacket:, shm:, dpdk:), one port per
// shard queue: port i is shard i's, and receives into pools[i].
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "base/result.h"
#include "port/iface_spec.h"
#include "port/port.h"

namespace sn {

// `address` is the engine's IPv4 address on the interface:
// an AF_XDP port steers only what is addressed to it. `fallback_mac` is used
// by TAP and shm when the spec names no MAC; AF_XDP and AF_PACKET take the
// interface's own. mem: interfaces are the engine's, not a device.
Result<std::vector<std::unique_ptr<Port>>> open_device(const IfaceSpec& spec,
                                                       std::span<PacketPool* const> pools,
                                                       Ipv4Address address,
                                                       MacAddress fallback_mac);

}  // namespace sn
