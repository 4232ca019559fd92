// A capture wrapper: every frame received from, or sent to, the inner port is
// also written to a pcap file (Ethernet link type, nanosecond timestamps),
// stamped with the `now` the caller hands in. Open it in Wireshark or tcpdump -r.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "base/result.h"
#include "port/port.h"

// libpcap's handles, declared here so users of this header need not include pcap.h.
struct pcap;
struct pcap_dumper;

namespace sn {

class PcapPort final : public Port {
 public:
  // Starts a capture into `path`. When the file cannot be opened the port still
  // passes frames through, and ok() is false; open() reports that as an Error.
  PcapPort(Port& inner, const std::string& path);
  static Result<std::unique_ptr<PcapPort>> open(Port& inner, const std::string& path);
  // Flushes and closes the file.
  ~PcapPort() override;
  PcapPort(const PcapPort&) = delete;
  PcapPort& operator=(const PcapPort&) = delete;

  bool ok() const { return dumper_ != nullptr; }
  // Writes buffered records to the file now.
  void flush();

  size_t rx_burst(PacketPool& pool, std::span<PacketPtr> out, Instant now) override;
  size_t tx_burst(std::span<PacketPtr> frames, Instant now) override;
  MacAddress mac() const override { return inner_.mac(); }
  uint32_t mtu() const override { return inner_.mtu(); }
  int wait_fd() const override { return inner_.wait_fd(); }
  Instant next_event() const override { return inner_.next_event(); }
  const PortCounters& counters() const override { return inner_.counters(); }
  std::span<const DeviceCounter> device_counters() const override {
    return inner_.device_counters();
  }

  uint64_t captured() const { return captured_; }

 private:
  static constexpr uint32_t kSnapLen = 65535;

  void dump(const Packet& p, Instant now);

  Port& inner_;
  pcap* pcap_ = nullptr;
  pcap_dumper* dumper_ = nullptr;
  std::unique_ptr<std::byte[]> scratch_;  // kSnapLen bytes: a chain made contiguous
  uint64_t captured_ = 0;
};

}  // namespace sn
