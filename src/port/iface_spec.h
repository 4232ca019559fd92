// The `--iface` argument: which port to open and how to wrap it.
//
//   tap:NAME[,queues=N][,mac=02:..][,mtu=N][,loss=P][,dup=P][,reorder=P]
//       [,corrupt=P][,delay=5ms][,reorder_delay=2ms][,seed=S][,pcap=PATH]
//   afxdp:IFNAME[,bind=auto|copy|zerocopy][,same options]
//   afpacket:IFNAME[,same options]
//   mem:NAME[,same options]
//
// tap: makes its own device; afxdp: and afpacket: take an existing interface
// (a veth end, a NIC) whose kernel side keeps what is not the engine's.
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
  std::string kind;  // "tap", "afxdp", "afpacket" or "mem"
  std::string name;
  uint32_t queues = 1;
  std::optional<MacAddress> mac;  // the engine's MAC; chosen by the caller when absent
  uint32_t mtu = 1500;
  FaultConfig fault;
  std::string pcap_path;          // empty: no capture
  XdpBind bind = XdpBind::kAuto;  // afxdp: the XDP socket's bind mode
};

// Parses an --iface value. On bad input the Error's message names the problem.
Result<IfaceSpec> parse_iface_spec(std::string_view s);

// "5ms", "250us", "1s", "100ns": a non-negative whole number and a unit.
std::optional<Duration> parse_duration(std::string_view s);

}  // namespace sn
