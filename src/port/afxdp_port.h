// An AF_XDP port: the engine's side of a Linux interface, reached through an
// XDP socket per queue. An XDP program on the interface sends the frames
// addressed to the engine (its IPv4 address, ARP for it) to the socket of the
// queue they came in on; all else passes to the kernel, which keeps the
// interface for its own traffic.
//
// The shard's packet pool is the socket's UMEM: the kernel writes received
// frames straight into pool buffers lent to it on the fill ring, and a frame
// to send that is a single buffer of this pool goes out in place (lent on
// the TX ring until the completion ring hands it back). Anything else (a
// chain, a buffer of another shard's pool) is copied into a fresh buffer.
// Rings are refilled and reaped in batches; a send costs one sendto() kick
// per burst, and only when the kernel asks for one.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "port/iface_spec.h"
#include "port/netdev.h"
#include "port/port.h"

struct xsk_umem;
struct xsk_socket;

namespace sn {

struct AfXdpCounters {
  Counter fill_short;    // the fill ring could not be topped up (pool empty)
  Counter tx_ring_full;  // frames dropped: no room on the TX ring
  Counter tx_copied;     // frames sent from a copy (chain, or another pool's buffer)
  Counter kicks;         // sendto() calls to make the kernel transmit
  // The kernel's own drops (XDP_STATISTICS, read every kStatsEvery bursts):
  Counter kernel_rx_ring_full;  // frames dropped: our RX ring was full
  Counter kernel_rx_dropped;    // frames dropped otherwise: no fill buffer, too long
  Counter kernel_fill_empty;    // of which the kernel found the fill ring empty
  Counter kernel_tx_invalid;    // TX descriptors the kernel refused
};

class XdpAttachment;  // the XDP program on the interface, shared by its queues

class AfXdpPort final : public Port {
 public:
  // Opens queues 0..pools.size()-1 of `dev`, queue i with pools[i] as UMEM
  // (REQUIRES: each pool's buffer size a power of two, 2048 to 4096), and
  // attaches the XDP program that steers frames for `address` to them.
  // `mac` is the engine's address (normally the interface's own).
  static Result<std::vector<std::unique_ptr<AfXdpPort>>> open(const NetDev& dev,
                                                              std::span<PacketPool* const> pools,
                                                              Ipv4Address address, MacAddress mac,
                                                              uint32_t mtu, XdpBind bind);
  ~AfXdpPort() override;
  AfXdpPort(const AfXdpPort&) = delete;
  AfXdpPort& operator=(const AfXdpPort&) = delete;

  size_t rx_burst(PacketPool& pool, std::span<PacketPtr> out, Instant now) override;
  size_t tx_burst(std::span<PacketPtr> frames, Instant now) override;
  MacAddress mac() const override { return mac_; }
  uint32_t mtu() const override { return mtu_; }
  int wait_fd() const override { return fd_; }
  // Now, while the kernel has not taken every frame on the TX ring (copy
  // mode sends a bounded batch per kick): the shard must not sleep on them.
  Instant next_event() const override;
  const PortCounters& counters() const override { return counters_; }
  const AfXdpCounters& xdp_counters() const { return xdp_; }
  std::span<const DeviceCounter> device_counters() const override { return named_; }
  bool zero_copy() const { return zero_copy_; }

 private:
  struct Rings;
  AfXdpPort(PacketPool& pool, MacAddress mac, uint32_t mtu);
  Result<void> bind(const NetDev& dev, uint32_t queue, XdpBind bind, int xsks_map_fd);
  void refill();  // tops the fill ring up from the pool
  void reap();    // takes sent buffers back from the completion ring
  void kick();    // asks the kernel to transmit what is on the TX ring
  void read_kernel_stats();
  void lend(Packet* p);  // a buffer now belongs to the kernel
  PacketPtr take_back(uint64_t addr);

  PacketPool& pool_;
  MacAddress mac_;
  uint32_t mtu_;
  int fd_ = -1;
  bool zero_copy_ = false;
  bool partial_csums_ = false;  // a virtual device: see port/partial_csum.h
  std::unique_ptr<Rings> rings_;
  xsk_umem* umem_ = nullptr;
  xsk_socket* xsk_ = nullptr;
  std::shared_ptr<XdpAttachment> attachment_;
  // Which pool buffers the kernel holds (fill, RX, TX or completion ring), so
  // that closing the port can give every one back.
  std::vector<uint8_t> lent_;
  uint32_t in_fill_ = 0;          // buffers on the fill ring or being received into
  uint32_t fill_target_ = 0;      // how many the fill ring is kept topped up to
  uint32_t in_flight_tx_ = 0;     // on the TX ring, not yet completed
  uint32_t bursts_ = 0;           // rx_burst calls, for reading the kernel's statistics
  uint64_t kernel_seen_[4] = {};  // the kernel's totals at the last reading
  PortCounters counters_;
  AfXdpCounters xdp_;
  const DeviceCounter named_[8] = {{"xdp_fill_short", &xdp_.fill_short},
                                   {"xdp_tx_ring_full", &xdp_.tx_ring_full},
                                   {"xdp_tx_copied", &xdp_.tx_copied},
                                   {"xdp_kicks", &xdp_.kicks},
                                   {"xdp_kernel_rx_ring_full", &xdp_.kernel_rx_ring_full},
                                   {"xdp_kernel_fill_empty", &xdp_.kernel_fill_empty},
                                   {"xdp_kernel_rx_dropped", &xdp_.kernel_rx_dropped},
                                   {"xdp_kernel_tx_invalid", &xdp_.kernel_tx_invalid}};
};

}  // namespace sn
