// A Linux TAP device as a port. The engine is one end of a virtual Ethernet
// cable; the kernel's interface of the same name is the other, and belongs to
// the user. Frames are read and written one system call each, non-blocking.
//
// Offloads. Where the kernel has it (and unless turned off), every frame
// carries a virtio-net header (IFF_VNET_HDR, include/uapi/linux/virtio_net.h)
// and the device offers checksum offload and TSO for IPv4 (TUNSETOFFLOAD
// TUN_F_CSUM | TUN_F_TSO4): Linux then hands over a TCP stream in frames of up
// to 64 KiB, one read() each, with the checksum left for the device to fill
// in, instead of segmenting and checksumming every 1500 bytes itself. The
// port splits such a super-frame at the engine's MTU (gso_split.h) and vouches
// for the checksums the header says need no check (Packet::l4_csum_ok). The
// same offloads work the other way: the engine's TCP frames go out with a
// partial checksum for the kernel to complete (VIRTIO_NET_HDR_F_NEEDS_CSUM),
// and its TCP super-segments of up to 64 KiB (Packet::gso_size) as one
// writev() each, which the kernel takes whole, as it takes a GRO'd frame
// (VIRTIO_NET_HDR_GSO_TCPV4); other frames with a header that asks for nothing.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "port/port.h"

namespace sn {

struct TapCounters {
  Counter gso_frames;       // TCP super-frames (larger than the MTU) received and split
  Counter resegmented;      // the segments they were split into
  Counter csum_offloaded;   // frames whose header vouched for their TCP/UDP checksum
  Counter rx_oversize;      // frames dropped: larger than the MTU, and not TCP to split
  Counter tx_tso_frames;    // TCP super-segments sent whole for the kernel to take
  Counter tx_csum_partial;  // frames sent with a checksum for the kernel to complete
};

class TapPort final : public Port {
 public:
  // Opens queue `queue_index` of the TAP device `name` (creating the device if
  // it is missing), sets it non-blocking, sets the kernel side's MTU and brings
  // the link up. With queues > 1 the device is multi-queue and every call adds
  // one queue. `our_mac` is the engine's address, not the kernel side's.
  // `offload`: use the virtio-net header and its offloads if the kernel can.
  // REQUIRES: every queue of a device is opened with the same `offload` (the
  // kernel keeps one set of flags per device: the last queue's would win).
  static Result<std::unique_ptr<TapPort>> open(const std::string& name, MacAddress our_mac,
                                               uint32_t mtu, uint32_t queues = 1,
                                               uint32_t queue_index = 0, bool offload = true);
  // Opens every queue of an n-queue device, one port per queue, all with the
  // offloads the first one got.
  static Result<std::vector<std::unique_ptr<TapPort>>> open_queues(const std::string& name,
                                                                   MacAddress our_mac, uint32_t mtu,
                                                                   uint32_t n, bool offload = true);

  // Closing the last queue of a device this port created removes the device.
  ~TapPort() override;
  TapPort(const TapPort&) = delete;
  TapPort& operator=(const TapPort&) = delete;

  size_t rx_burst(PacketPool& pool, std::span<PacketPtr> out, Instant now) override;
  size_t tx_burst(std::span<PacketPtr> frames, Instant now) override;
  MacAddress mac() const override { return mac_; }
  uint32_t mtu() const override { return mtu_; }
  int wait_fd() const override { return fd_; }
  bool tx_l4_csum_offload() const override { return vnet_; }
  uint32_t tx_tso_max() const override { return vnet_ ? 65535 : 0; }
  const PortCounters& counters() const override { return counters_; }
  std::span<const DeviceCounter> device_counters() const override { return named_; }
  const TapCounters& tap_counters() const { return tap_; }

  const std::string& name() const { return name_; }
  uint32_t queue_index() const { return queue_index_; }
  // Frames carry the virtio-net header, and the kernel may send super-frames.
  bool offload() const { return vnet_; }

 private:
  TapPort(int fd, std::string name, MacAddress mac, uint32_t mtu, uint32_t queue_index, bool vnet);
  bool readable() const;
  // Receive without (plain) and with the virtio-net header.
  size_t rx_plain(PacketPool& pool, std::span<PacketPtr> out);
  size_t rx_vnet(PacketPool& pool, std::span<PacketPtr> out);
  // Splits the super-frame in scratch_ into out[n...]; false when out or the
  // pool ran out first (the rest waits for the next call).
  bool split_pending(PacketPool& pool, std::span<PacketPtr> out, size_t& n);

  int fd_;
  std::string name_;
  MacAddress mac_;
  uint32_t mtu_;
  uint32_t queue_index_;
  bool vnet_;
  // With the header: where a frame too large for a pool buffer is read (the
  // buffer takes its first bytes, and they are copied in front), and kept
  // while it is being split.
  std::unique_ptr<std::byte[]> scratch_;
  uint32_t pending_len_ = 0;  // bytes of the super-frame in scratch_; 0: none
  uint32_t pending_mss_ = 0;  // its sender's segment size (0: from the MTU)
  uint32_t split_done_ = 0;   // TCP payload bytes of it delivered already
  PortCounters counters_;
  TapCounters tap_;
  const DeviceCounter named_[6] = {
      {"tap_gso_frames", &tap_.gso_frames},         {"tap_resegmented", &tap_.resegmented},
      {"tap_csum_offloaded", &tap_.csum_offloaded}, {"tap_rx_oversize", &tap_.rx_oversize},
      {"tap_tx_tso_frames", &tap_.tx_tso_frames},   {"tap_tx_csum_partial", &tap_.tx_csum_partial}};
};

}  // namespace sn
