// The port interface: a network device seen as burst receive and burst
// transmit of Ethernet frames. Implementations: the in-memory wire (tests,
// simulation, the demo), Linux TAP, and wrappers such as the fault injector.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "base/counter.h"
#include "base/time.h"
#include "buf/pool.h"
#include "wire/address.h"

namespace sn {

// The largest link-layer header in front of an IP datagram: Ethernet with one
// 802.1Q tag. A frame is at most mtu() + kMaxLinkHeader bytes.
inline constexpr uint32_t kMaxLinkHeader = 18;

struct PortCounters {
  Counter rx_frames, rx_bytes, tx_frames, tx_bytes;
  Counter rx_no_buffer;  // a frame was waiting but the pool was empty
  Counter rx_errors;     // the device reported an error on receive
  Counter tx_errors;     // the device refused a frame
  Counter tx_oversize;   // a frame larger than the device's MTU plus headers
};

// A counter particular to one kind of device (AF_XDP's ring events, say).
struct DeviceCounter {
  const char* name;
  const Counter* counter;
};

class Port {
 public:
  virtual ~Port() = default;

  // Receives up to out.size() frames into packets from `pool`; returns how many.
  virtual size_t rx_burst(PacketPool& pool, std::span<PacketPtr> out, Instant now) = 0;
  // Sends every frame in `frames` (single packets, not chains, but for the
  // TSO super-frames of a port with tx_tso_max()) and releases
  // them; a frame the device cannot take is dropped and counted. Returns how
  // many were handed to the device.
  virtual size_t tx_burst(std::span<PacketPtr> frames, Instant now) = 0;

  virtual MacAddress mac() const = 0;
  // The IP MTU: the largest IPv4 datagram a frame on this port carries.
  virtual uint32_t mtu() const = 0;
  // A file descriptor that becomes readable when frames arrive, or -1 if the
  // port has none (then an idle shard wakes on its timers only).
  virtual int wait_fd() const { return -1; }
  // The earliest time this port has work to do without new input (a delayed
  // frame coming due), or Instant::never().
  virtual Instant next_event() const { return Instant::never(); }

  // True if frames may be sent with a partial TCP checksum
  // (Packet::l4_csum_partial): the device completes it, or carries it to a
  // receiver that trusts the link (a local peer; see port/partial_csum.h).
  virtual bool tx_l4_csum_offload() const { return false; }
  // TCP segmentation offload: the largest IPv4 datagram of a TCP super-frame
  // (a chain with Packet::gso_size set and a partial checksum) the device
  // cuts into segments itself, or 0 if it takes only frames within the MTU.
  // A port that says so takes such chains in tx_burst(); the stack cuts
  // super-frames for any other (Linux's GSO).
  virtual uint32_t tx_tso_max() const { return 0; }

  virtual const PortCounters& counters() const = 0;
  // The device's own counters beyond counters(); wrappers pass the inner's on.
  virtual std::span<const DeviceCounter> device_counters() const { return {}; }
};

}  // namespace sn
