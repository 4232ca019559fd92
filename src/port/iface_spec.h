// The `--iface` argument: which port to open and how to wrap it.
//
//   tap:NAME[,queues=N][,mac=02:..][,mtu=N][,offload=0|1][,loss=P][,dup=P]
//       [,reorder=P][,corrupt=P][,delay=5ms][,reorder_delay=2ms][,seed=S][,pcap=PATH]
//   afxdp:IFNAME[,bind=auto|copy|zerocopy][,same options]
//   afpacket:IFNAME[,same options]
//   shm:NAME[,same options]
//   mem:NAME[,same options]
//   dpdk:DEVICE[,devargs=KEY=VALUE[;KEY=VALUE...]][,same options]
//
// tap: makes its own device; afxdp: and afpacket: take an existing interface
// (a veth end, a NIC) whose kernel side keeps what is not the engine's. shm:
// joins two engines on one machine through shared memory
// (/dev/shm/shardnet-port-NAME): the first to start makes it, the second
// joins; both need the same --shards and mtu.
//
// dpdk: (only when shardnet was built with DPDK) opens a DPDK virtual device:
// DEVICE is its name, whose prefix picks the driver (net_tap0, net_af_packet0,
// net_ring0, net_null0; up to 63 letters, digits, '-', '_' and '.'), and
// devargs= the driver's arguments, with ';' where DPDK writes ',' (commas
// separate the --iface options): dpdk:net_tap0,devargs=iface=dtap0 has DPDK
// make a Linux TAP named dtap0, dpdk:net_af_packet0,devargs=iface=eth1;qpairs=2
// takes eth1 through a packet socket.
//
// offload=1 (the default) lets the kernel hand a TAP port TCP frames of up
// to 64 KiB with the checksum left to the device (virtio-net header), where
// the kernel supports it; offload=0 has it segment and checksum every frame.
//
// Probabilities are in [0, 1]; durations take an ns, us, ms or s suffix.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "port/fault_port.h"
#include "wire/address.h"

namespace sn {

enum class XdpBind { kAuto, kCopy, kZeroCopy };  // auto: zero-copy where the driver can

struct IfaceSpec {
  std::string kind;  // "tap", "afxdp", "afpacket", "shm", "mem" or "dpdk"
  std::string name;
  uint32_t queues = 1;
  std::optional<MacAddress> mac;  // the engine's MAC; chosen by the caller when absent
  uint32_t mtu = 1500;
  FaultConfig fault;
  std::string pcap_path;          // empty: no capture
  XdpBind bind = XdpBind::kAuto;  // afxdp: the XDP socket's bind mode
  bool offload = true;            // tap: TSO and checksum offload (virtio-net header)
  std::string devargs;            // dpdk: the driver's arguments, with DPDK's ','
};

// Parses an --iface value. On bad input the Error's message names the problem.
Result<IfaceSpec> parse_iface_spec(std::string_view s);

// "5ms", "250us", "1s", "100ns": a non-negative whole number and a unit.
std::optional<Duration> parse_duration(std::string_view s);

}  // namespace sn
