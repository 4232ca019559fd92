// A DPDK port: the engine on a DPDK Ethernet device, one device queue per
// shard. Built only when DPDK is found (Debian's dpdk-dev); the device is a
// DPDK virtual device named on the command line, such as net_tap (DPDK makes
// a Linux TAP interface), net_af_packet (an existing interface through a
// packet socket), net_ring (a loopback in memory) or net_null (a sink).
//
// DPDK's environment (EAL) is set up once per process, on the first open,
// without huge pages and without PCI: its memory comes from anonymous pages
// (--no-huge -m 512), and it shares nothing with other DPDK processes
// (--no-shconf: no files, no multi-process; --in-memory would say the same
// but does not go with --no-huge), so several engines run side by side.
// Devices are added and removed at run time (rte_eal_hotplug_add), so one
// process may open several.
// The EAL takes the CPU it starts on as its one lcore and leaves the
// caller's CPU affinity as it was; the shard threads are the engine's own,
// not EAL lcores: each calls rte_eth_rx_burst and rte_eth_tx_burst on its
// own queue only, which DPDK allows from any thread, and the mbuf pool has
// no per-lcore cache (those need EAL lcores).
//
// Frames are copied: received mbufs into packets of the shard's pool (then
// the mbufs go back in bulk), sent packets into mbufs allocated in bulk. The
// engine's packets stay in its own pools and DPDK's mbufs in DPDK's.
//
// Waking. DPDK polls. On net_tap the port uses the queue's receive interrupt
// (the TAP queue's file descriptor, readable when frames wait) as wait_fd(),
// so an idle shard sleeps; on other devices wait_fd() is -1 and next_event()
// asks for the next poll: kIdlePoll after the last receive call while frames
// come, backing off to kIdlePollMax as the device stays quiet (then a first
// frame waits up to that long; a larger --spin-us trades CPU for latency).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "port/port.h"

struct rte_mbuf;

namespace sn {

struct DpdkCounters {
  Counter tx_refused;         // frames dropped: the device's transmit queue took no more
  Counter mbuf_alloc_failed;  // frames dropped: no mbuf free to copy them into
  Counter rx_oversize;        // frames dropped: larger than a pool buffer
  // The device's own statistics (rte_eth_stats), device-wide: kept by queue
  // 0's port, read from the device every kStatsEvery.
  Counter imissed;  // frames the device dropped: no receive descriptor free
  Counter ierrors;  // erroneous frames the device received
  Counter oerrors;  // frames the device failed to transmit
};

class DpdkDevice;  // the ethdev and its mbuf pool, shared by its queues' ports

class DpdkPort final : public Port {
 public:
  // How long an idle shard sleeps at most on a device without receive
  // interrupts (an eighth of the time the device has been quiet, within
  // these bounds), and how often the device's statistics are read.
  static constexpr Duration kIdlePoll = Duration::micros(100);
  static constexpr Duration kIdlePollMax = Duration::millis(1);
  static constexpr Duration kStatsEvery = Duration::micros(100'000);

  // Probes the virtual device `device` (its name picks the driver by prefix:
  // net_tap0, net_ring_x) with `devargs` (DPDK's KEY=VALUE,... form), sets it
  // up with `queues` receive and transmit queues and starts it: port i
  // uses queue i. `mac` is the engine's address; when absent, the device's
  // own, except on net_tap, whose own address is the Linux side's: there
  // `fallback_mac`. When the engine's address is not the device's, the
  // device goes promiscuous.
  // REQUIRES: frames of mtu + kMaxLinkHeader bytes fit the pool buffers
  // rx_burst is given (longer ones are dropped and counted).
  static Result<std::vector<std::unique_ptr<DpdkPort>>> open(std::string_view device,
                                                             std::string_view devargs,
                                                             uint32_t queues,
                                                             std::optional<MacAddress> mac,
                                                             MacAddress fallback_mac, uint32_t mtu);
  ~DpdkPort() override;
  DpdkPort(const DpdkPort&) = delete;
  DpdkPort& operator=(const DpdkPort&) = delete;

  size_t rx_burst(PacketPool& pool, std::span<PacketPtr> out, Instant now) override;
  size_t tx_burst(std::span<PacketPtr> frames, Instant now) override;
  MacAddress mac() const override { return mac_; }
  uint32_t mtu() const override { return mtu_; }
  int wait_fd() const override { return wait_fd_; }
  // Without a wait_fd(): the next poll, kIdlePoll to kIdlePollMax after the
  // last rx_burst.
  Instant next_event() const override;
  // rx_errors counts imissed and ierrors too, tx_errors the refused frames,
  // the failed mbuf allocations and oerrors.
  const PortCounters& counters() const override { return counters_; }
  const DpdkCounters& dpdk_counters() const { return dpdk_; }
  std::span<const DeviceCounter> device_counters() const override { return named_; }
  // The DPDK driver's name ("net_tap", "net_ring"...).
  const std::string& driver() const;

 private:
  DpdkPort(std::shared_ptr<DpdkDevice> dev, uint16_t queue, MacAddress mac, uint32_t mtu,
           int wait_fd);
  void read_device_stats(Instant now);
  // Copies the frame in `m` (all its segments) into a packet of `pool`.
  PacketPtr copy_in(const rte_mbuf& m, PacketPool& pool);

  std::shared_ptr<DpdkDevice> dev_;
  uint16_t queue_;
  MacAddress mac_;
  uint32_t mtu_;
  int wait_fd_;
  bool partial_csums_;  // the driver may hand over partial checksums (port/partial_csum.h)
  Instant last_poll_;   // the last rx_burst
  Instant last_frame_;  // the last rx_burst that found frames
  Instant next_stats_;
  // The device's statistics when last read (queue 0's port only).
  uint64_t seen_imissed_ = 0, seen_ierrors_ = 0, seen_oerrors_ = 0;
  PortCounters counters_;
  DpdkCounters dpdk_;
  const DeviceCounter named_[6] = {{"dpdk_tx_refused", &dpdk_.tx_refused},
                                   {"dpdk_mbuf_alloc_failed", &dpdk_.mbuf_alloc_failed},
                                   {"dpdk_rx_oversize", &dpdk_.rx_oversize},
                                   {"dpdk_imissed", &dpdk_.imissed},
                                   {"dpdk_ierrors", &dpdk_.ierrors},
                                   {"dpdk_oerrors", &dpdk_.oerrors}};
};

}  // namespace sn
