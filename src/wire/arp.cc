// ARP packets for Ethernet/IPv4 (RFC 826, "Packet format").
#include "wire/arp.h"

#include "base/check.h"
#include "wire/bytes.h"
#include "wire/ethernet.h"

namespace sn {

// Field offsets, RFC 826: ar$hrd, ar$pro, ar$hln, ar$pln, ar$op, ar$sha, ar$spa,
// ar$tha, ar$tpa.
namespace {
constexpr size_t kHrd = 0, kPro = 2, kHln = 4, kPln = 5, kOp = 6, kSha = 8, kSpa = 14, kTha = 18,
                 kTpa = 24;
}  // namespace

Parsed<ArpPacket> ArpPacket::parse(std::span<const std::byte> bytes) {
  if (bytes.size() < kSize) return ParseError::kTruncated;
  const std::byte* p = bytes.data();
  if (load16(p + kHrd) != kArpHtypeEthernet || load16(p + kPro) != kEtherTypeIpv4 ||
      load8(p + kHln) != 6 || load8(p + kPln) != 4) {
    return ParseError::kUnsupported;
  }
  ArpPacket a;
  a.op = load16(p + kOp);
  if (a.op != kRequest && a.op != kReply) return ParseError::kUnsupported;
  a.sha = MacAddress::load(p + kSha);
  a.spa = Ipv4Address::load(p + kSpa);
  a.tha = MacAddress::load(p + kTha);
  a.tpa = Ipv4Address::load(p + kTpa);
  return a;
}

void ArpPacket::emit(std::span<std::byte> out) const {
  SN_CHECK(out.size() >= kSize);
  std::byte* p = out.data();
  store16(p + kHrd, kArpHtypeEthernet);
  store16(p + kPro, kEtherTypeIpv4);
  store8(p + kHln, 6);
  store8(p + kPln, 4);
  store16(p + kOp, op);
  sha.store(p + kSha);
  spa.store(p + kSpa);
  tha.store(p + kTha);
  tpa.store(p + kTpa);
}

}  // namespace sn
