// An AF_PACKET port: the engine's side of a Linux interface through a packet
// socket per shard, for interfaces where XDP is not available. The kernel
// keeps the interface and everything on it; each socket sees a copy of the
// frames addressed to the engine's MAC (a socket filter drops the rest in the
// kernel) and sends the engine's frames past the qdisc.
//
// Both directions go through rings shared with the kernel
// (Documentation/networking/packet_mmap.rst): a TPACKET_V3 receive ring of
// blocks that the kernel fills with frames and hands over whole (when full,
// or after a short timeout), and a transmit ring of fixed slots, flushed by
// one send() per burst. Frames are copied between the rings and pool buffers.
// With several shards the sockets form one fanout group, and the kernel
// spreads the flows over them by hash.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "base/result.h"
#include "port/netdev.h"
#include "port/port.h"

struct tpacket3_hdr;

namespace sn {

struct AfPacketCounters {
  Counter kernel_drops;   // frames the kernel dropped: the ring was full (PACKET_STATISTICS)
  Counter resegmented;    // TCP super-frames (GSO, GRO) split into segments of the MTU
  Counter rx_oversize;    // frames dropped: larger than a buffer, and not TCP to split
  Counter tx_ring_full;   // frames dropped: every transmit slot still held by the kernel
  Counter tx_kick_retry;  // send() left frames on the ring (device busy): sent on a later kick
};

class AfPacketPort final : public Port {
 public:
  // Opens `queues` sockets on `dev` (one per shard; a fanout group when more
  // than one). `mac` is the engine's address: when it is not the
  // interface's own, the interface goes promiscuous while the port is open.
  // REQUIRES: mtu <= dev.mtu (else an error), frames of mtu + kMaxLinkHeader
  // bytes fit the pool buffers rx_burst is given.
  static Result<std::vector<std::unique_ptr<AfPacketPort>>> open(const NetDev& dev, uint32_t queues,
                                                                 MacAddress mac, uint32_t mtu);
  ~AfPacketPort() override;
  AfPacketPort(const AfPacketPort&) = delete;
  AfPacketPort& operator=(const AfPacketPort&) = delete;

  size_t rx_burst(PacketPool& pool, std::span<PacketPtr> out, Instant now) override;
  size_t tx_burst(std::span<PacketPtr> frames, Instant now) override;
  MacAddress mac() const override { return mac_; }
  uint32_t mtu() const override { return mtu_; }
  // Readable when the kernel has handed over a block of frames.
  int wait_fd() const override { return fd_; }
  // rx_errors also counts the kernel's drops (afpacket_counters().kernel_drops).
  const PortCounters& counters() const override { return counters_; }
  const AfPacketCounters& afpacket_counters() const { return af_; }
  std::span<const DeviceCounter> device_counters() const override { return named_; }

 private:
  AfPacketPort(MacAddress mac, uint32_t mtu) : mac_(mac), mtu_(mtu) {}
  Result<void> setup(const NetDev& dev, bool promiscuous);
  Result<void> join_fanout(int& group_id);
  Result<void> filter_for_engine();
  // Delivers the frame `h` (what is left of it, if it is being split) into
  // out[n...]; true when done with it, false when out or the pool ran out.
  bool take(const tpacket3_hdr& h, PacketPool& pool, std::span<PacketPtr> out, size_t& n);
  bool resegment(const tpacket3_hdr& h, std::span<const std::byte> frame, PacketPool& pool,
                 std::span<PacketPtr> out, size_t& n);
  void release_block();
  void kick();
  // Slot i of the transmit ring. Its blocks hold whole slots and lie end to
  // end in the mapping, so the slots do too.
  std::byte* tx_slot(uint32_t i) const { return tx_ring_ + size_t(i) * tx_frame_size_; }

  MacAddress mac_;
  uint32_t mtu_;
  int fd_ = -1;
  std::byte* map_ = nullptr;  // the RX ring's blocks, then the TX ring's slots
  size_t map_size_ = 0;
  // Receive: the block read next, and within it (once it is ours) the next
  // frame, how many are left, and how much of a super-frame went out already.
  uint32_t block_ = 0;
  std::byte* frame_ = nullptr;
  uint32_t frames_left_ = 0;
  uint32_t split_done_ = 0;  // TCP payload bytes of the current super-frame delivered
  // Transmit: the slot filled next, and whether the last kick left frames.
  std::byte* tx_ring_ = nullptr;
  uint32_t tx_frame_size_ = 0;
  uint32_t tx_frames_ = 0;
  uint32_t tx_head_ = 0;
  bool tx_unsent_ = false;
  PortCounters counters_;
  AfPacketCounters af_;
  const DeviceCounter named_[5] = {{"afpacket_kernel_drops", &af_.kernel_drops},
                                   {"afpacket_resegmented", &af_.resegmented},
                                   {"afpacket_rx_oversize", &af_.rx_oversize},
                                   {"afpacket_tx_ring_full", &af_.tx_ring_full},
                                   {"afpacket_tx_kick_retry", &af_.tx_kick_retry}};
};

}  // namespace sn
