// What the kernel knows of a network interface the engine opens by name
// (AF_XDP and AF_PACKET ports take an existing device; TAP makes its own).
#pragma once

#include <cstdint>
#include <string>

#include "base/result.h"
#include "wire/address.h"

namespace sn {

struct NetDev {
  std::string name;
  int ifindex = 0;
  MacAddress mac;
  uint32_t mtu = 0;
  uint32_t rx_queues = 0;  // receive queues, from ETHTOOL_GCHANNELS; 0: unknown
  std::string driver;      // "veth", "tun", "ixgbe"...: from ETHTOOL_GDRVINFO, or empty

  // A virtual device whose frames from this host may carry partial checksums.
  bool hands_over_partial_checksums() const { return driver == "veth" || driver == "tun"; }
};

// Looks the interface up and brings its link up. Errors name the interface
// and what is wrong (missing, permission, too long a name).
Result<NetDev> open_netdev(const std::string& name);

}  // namespace sn
