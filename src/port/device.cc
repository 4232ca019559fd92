// Opening a device; see device.h.
#include "port/device.h"

#include "port/afpacket_port.h"
#include "port/afxdp_port.h"
#include "port/netdev.h"
#include "port/shm_port.h"
#include "port/tap_port.h"
#ifdef SN_HAVE_DPDK
#include "port/dpdk/dpdk_port.h"
#endif

namespace sn {
namespace {

template <typename P>
std::vector<std::unique_ptr<Port>> as_ports(std::vector<std::unique_ptr<P>> v) {
  std::vector<std::unique_ptr<Port>> out;
  for (auto& p : v)
    out.push_back(std::move(p));
  return out;
}

}  // namespace

Result<std::vector<std::unique_ptr<Port>>> open_device(const IfaceSpec& spec,
                                                       std::span<PacketPool* const> pools,
                                                       Ipv4Address address,
                                                       MacAddress fallback_mac) {
  const auto n = static_cast<uint32_t>(pools.size());
  if (spec.kind == "tap") {
    const MacAddress mac = spec.mac.value_or(fallback_mac);
    if (n == 1) {
      auto tap = TapPort::open(spec.name, mac, spec.mtu, 1, 0, spec.offload);
      if (!tap) return tap.error();
      std::vector<std::unique_ptr<Port>> out;
      out.push_back(std::move(*tap));
      return out;
    }
    auto taps = TapPort::open_queues(spec.name, mac, spec.mtu, n, spec.offload);
    if (!taps) return taps.error();
    return as_ports(std::move(*taps));
  }
  if (spec.kind == "afxdp") {
    auto dev = open_netdev(spec.name);
    if (!dev) return dev.error();
    auto ports =
        AfXdpPort::open(*dev, pools, address, spec.mac.value_or(dev->mac), spec.mtu, spec.bind);
    if (!ports) return ports.error();
    return as_ports(std::move(*ports));
  }
  if (spec.kind == "afpacket") {
    auto dev = open_netdev(spec.name);
    if (!dev) return dev.error();
    auto ports = AfPacketPort::open(*dev, n, spec.mac.value_or(dev->mac), spec.mtu);
    if (!ports) return ports.error();
    return as_ports(std::move(*ports));
  }
  if (spec.kind == "shm") {
    auto ports = ShmPort::open(spec.name, n, spec.mac.value_or(fallback_mac), spec.mtu);
    if (!ports) return ports.error();
    return as_ports(std::move(*ports));
  }
  if (spec.kind == "dpdk") {
#ifdef SN_HAVE_DPDK
    auto ports = DpdkPort::open(spec.name, spec.devargs, n, spec.mac, fallback_mac, spec.mtu);
    if (!ports) return ports.error();
    return as_ports(std::move(*ports));
#else
    return Error{Errc::kInvalidArgument,
                 "this shardnet was built without DPDK (configure with -DSN_DPDK=ON and Debian's "
                 "dpdk-dev)"};
#endif
  }
  return Error{Errc::kInvalidArgument, "this kind of interface is not a device"};
}

}  // namespace sn
