// The pcap capture wrapper; see pcap_port.h.
#include "port/pcap_port.h"

#include <pcap/pcap.h>

#include <algorithm>

namespace sn {

PcapPort::PcapPort(Port& inner, const std::string& path)
    : inner_(inner), scratch_(new std::byte[kSnapLen]) {
  // Nanosecond stamps: virtual time steps are often finer than a microsecond.
  pcap_ = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, static_cast<int>(kSnapLen),
                                               PCAP_TSTAMP_PRECISION_NANO);
  if (pcap_) dumper_ = pcap_dump_open(pcap_, path.c_str());
}

Result<std::unique_ptr<PcapPort>> PcapPort::open(Port& inner, const std::string& path) {
  auto p = std::make_unique<PcapPort>(inner, path);
  if (!p->ok()) return Error{Errc::kIo, "cannot open the pcap capture file for writing"};
  return p;
}

PcapPort::~PcapPort() {
  if (dumper_) {
    pcap_dump_flush(dumper_);
    pcap_dump_close(dumper_);
  }
  if (pcap_) pcap_close(pcap_);
}

void PcapPort::flush() {
  if (dumper_) pcap_dump_flush(dumper_);
}

size_t PcapPort::rx_burst(PacketPool& pool, std::span<PacketPtr> out, Instant now) {
  const size_t n = inner_.rx_burst(pool, out, now);
  for (size_t i = 0; i < n; ++i)
    dump(*out[i], now);
  return n;
}

size_t PcapPort::tx_burst(std::span<PacketPtr> frames, Instant now) {
  for (const PacketPtr& f : frames)
    if (f) dump(*f, now);
  return inner_.tx_burst(frames, now);
}

void PcapPort::dump(const Packet& p, Instant now) {
  if (!dumper_) return;
  const uint32_t len = p.chain_size();
  const uint32_t caplen = std::min(len, kSnapLen);
  const std::byte* bytes = p.data();
  if (p.next()) {  // a chain: make it contiguous
    chain_copy_out(p, 0, {scratch_.get(), caplen});
    bytes = scratch_.get();
  }
  pcap_pkthdr h{};
  const int64_t ns = std::max<int64_t>(now.ns(), 0);
  h.ts.tv_sec = static_cast<time_t>(ns / 1000'000'000);
  h.ts.tv_usec = static_cast<suseconds_t>(ns % 1000'000'000);  // nanoseconds, see above
  h.caplen = caplen;
  h.len = len;
  pcap_dump(reinterpret_cast<u_char*>(dumper_), &h, reinterpret_cast<const u_char*>(bytes));
  ++captured_;
}

}  // namespace sn
