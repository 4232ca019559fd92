// Partial checksums. A Linux sender that offloads its TCP or UDP checksum
// leaves in the field only the sum of the pseudo-header (CHECKSUM_PARTIAL),
// for the device to complete. A real NIC completes it; veth and TAP hand the
// frame on as it is, and say so only in metadata an AF_XDP socket never
// sees. A port on such a device recognises these frames: the data never left
// the host's memory, so, like the kernel for its own virtual devices, the
// engine vouches for them (Packet::l4_csum_ok) instead of dropping them.
#pragma once

#include <cstddef>
#include <span>

namespace sn {

// True if `frame` is an Ethernet II frame carrying an unfragmented IPv4 TCP
// or UDP datagram whose checksum field holds exactly its pseudo-header sum
// (the form a CHECKSUM_PARTIAL sender leaves).
bool has_partial_l4_checksum(std::span<const std::byte> frame);

}  // namespace sn
