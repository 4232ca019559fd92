// A Linux TAP device as a port. The engine is one end of a virtual Ethernet
// cable; the kernel's interface of the same name is the other, and belongs to
// the user. Frames are read and written one system call each, non-blocking.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "port/port.h"

namespace sn {

class TapPort final : public Port {
 public:
  // Opens queue `queue_index` of the TAP device `name` (creating the device if
  // it is missing), sets it non-blocking, sets the kernel side's MTU and brings
  // the link up. With queues > 1 the device is multi-queue and every call adds
  // one queue. `our_mac` is the engine's address, not the kernel side's.
  static Result<std::unique_ptr<TapPort>> open(const std::string& name, MacAddress our_mac,
                                               uint32_t mtu, uint32_t queues = 1,
                                               uint32_t queue_index = 0);
  // Opens every queue of an n-queue device, one port per queue.
  static Result<std::vector<std::unique_ptr<TapPort>>> open_queues(const std::string& name,
                                                                   MacAddress our_mac, uint32_t mtu,
                                                                   uint32_t n);

  // Closing the last queue of a device this port created removes the device.
  ~TapPort() override;
  TapPort(const TapPort&) = delete;
  TapPort& operator=(const TapPort&) = delete;

  size_t rx_burst(PacketPool& pool, std::span<PacketPtr> out, Instant now) override;
  size_t tx_burst(std::span<PacketPtr> frames, Instant now) override;
  MacAddress mac() const override { return mac_; }
  uint32_t mtu() const override { return mtu_; }
  int wait_fd() const override { return fd_; }
  const PortCounters& counters() const override { return counters_; }

  const std::string& name() const { return name_; }
  uint32_t queue_index() const { return queue_index_; }

 private:
  TapPort(int fd, std::string name, MacAddress mac, uint32_t mtu, uint32_t queue_index)
      : fd_(fd), name_(std::move(name)), mac_(mac), mtu_(mtu), queue_index_(queue_index) {}
  bool readable() const;

  int fd_;
  std::string name_;
  MacAddress mac_;
  uint32_t mtu_;
  uint32_t queue_index_;
  PortCounters counters_;
};

}  // namespace sn
