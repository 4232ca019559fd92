// Fuzzes every wire parser directly on the input, including the TCP header
// and options (which the one-shard stack does not reach yet), and checks that
// what parses emits and parses back the same.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/check.h"
#include "wire/arp.h"
#include "wire/ethernet.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"
#include "wire/tcp.h"
#include "wire/udp.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sn;
  std::span<const std::byte> in(reinterpret_cast<const std::byte*>(data), size);
  if (auto eth = EthernetView::parse(in)) {
    EthernetHeader h = EthernetHeader::from(*eth);
    std::vector<std::byte> out(h.size());
    h.emit(out);
    auto again = EthernetView::parse(out);
    SN_CHECK(again.ok() && again->ethertype() == h.ethertype);
  }
  if (auto arp = ArpPacket::parse(in)) {
    std::vector<std::byte> out(ArpPacket::kSize);
    arp->emit(out);
    SN_CHECK(ArpPacket::parse(out).ok());
  }
  if (auto ip = Ipv4View::parse(in)) {
    (void)ip->checksum_ok();
    SN_CHECK(ip->payload().size() + ip->header_length() == ip->total_length());
  }
  if (auto icmp = IcmpView::parse(in)) (void)icmp->checksum_ok();
  if (auto udp = UdpView::parse(in)) {
    SN_CHECK(udp->payload().size() + 8 == udp->length());
    (void)udp->checksum_ok(Ipv4Address(0x0a000001), Ipv4Address(0x0a000002));
  }
  if (size > 0) {
    if (auto udp = UdpView::parse_prefix(in.first(size / 2 + 1), size)) (void)udp->payload();
  }
  if (auto tcp = TcpView::parse(in)) {
    auto h = TcpHeader::from(*tcp);
    if (h) {
      std::vector<std::byte> out(h->size());
      h->emit(out, Ipv4Address(1), Ipv4Address(2), 0, 0);
      auto back = TcpView::parse(out);
      SN_CHECK(back.ok());
      auto h2 = TcpHeader::from(*back);
      SN_CHECK(h2.ok());
    }
  }
  if (auto opts = TcpOptions::parse(in)) {
    std::vector<std::byte> out(opts->size());
    opts->emit(out);
    SN_CHECK(TcpOptions::parse(out).ok());
  }
  return 0;
}
