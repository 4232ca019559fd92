// Splitting TCP super-frames. A sender on this host that offloads
// segmentation (TSO, GSO) hands a virtual device one IPv4 TCP datagram of up
// to 64 KiB, and a NIC that merges segments (GRO, LRO) hands up the same
// shape. A port whose device may pass such a frame on whole (AF_PACKET on a
// veth, TAP with the virtio-net header) splits it at the engine's MTU here,
// the way the kernel's GSO would have (tcp_gso_segment(); RFC 9293 §3.7.1 for
// the segment sizes), into pool packets the stack takes as received frames.
//
// Each segment copies the link, IP and TCP headers, and gets its own IP total
// length, IP ID (the first's plus its index, as the kernel counts them) and
// header checksum, its sequence number, CWR on the first only, FIN and PSH on
// the last only, and in the TCP checksum field the pseudo-header sum (the
// partial form a CHECKSUM_PARTIAL sender leaves, see partial_csum.h), marked
// Packet::l4_csum_ok: the caller splits only frames whose checksum the
// device vouched for, and the stack does not sum the payload again.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "buf/pool.h"

namespace sn {

// The shape of an unfragmented IPv4 datagram carrying one TCP segment: header
// lengths and the payload length, all within the datagram's bytes.
struct TcpIpv4Shape {
  uint32_t ihl = 0;      // IPv4 header bytes
  uint32_t thl = 0;      // TCP header bytes
  uint32_t payload = 0;  // TCP payload bytes (the IP total length less both headers)
};

// The shape of `datagram` (an IPv4 datagram from its first byte; bytes past
// its total length are ignored), or nullopt when it is not an unfragmented
// IPv4 TCP segment whose lengths agree with each other and with its bytes.
std::optional<TcpIpv4Shape> tcp_ipv4_shape(std::span<const std::byte> datagram);

enum class GsoStatus {
  kDone,      // every segment delivered
  kOutFull,   // `out` filled up: call again with the same frame and progress
  kNoBuffer,  // the pool ran dry: likewise
  kRefused,   // not a TCP datagram that splits at this MTU; nothing delivered
};

struct GsoSplitResult {
  GsoStatus status = GsoStatus::kRefused;
  uint32_t segments = 0;  // delivered by this call
  uint64_t bytes = 0;     // their frames' bytes, link headers included
};

// Splits the TCP super-frame made of `link_header` (copied in front of each
// segment as it is: 14 bytes of Ethernet, 18 with an 802.1Q tag) and
// `datagram` into segments whose IP datagrams are at most `mtu` bytes and
// whose payloads are at most `mss` bytes (0: as many as the MTU allows), and
// never larger than a buffer of `pool`. They go into out[n], out[n + 1], ...;
// n is advanced. `done` is how many payload bytes earlier calls for this
// frame delivered: 0 at first; kept up to date. A frame not larger than one
// segment comes out as one segment, rewritten the same way.
// REQUIRES: n <= out.size().
GsoSplitResult gso_split(std::span<const std::byte> link_header,
                         std::span<const std::byte> datagram, uint32_t mtu, uint32_t mss,
                         PacketPool& pool, std::span<PacketPtr> out, size_t& n, uint32_t& done);

}  // namespace sn
