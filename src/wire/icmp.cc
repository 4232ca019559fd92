// ICMPv4 messages (RFC 792): parsing, the common constructors, and emission.
#include "wire/icmp.h"

#include "base/check.h"
#include "wire/checksum.h"

namespace sn {

Parsed<IcmpView> IcmpView::parse(std::span<const std::byte> bytes) {
  if (bytes.size() < IcmpHeader::kSize) return ParseError::kTruncated;
  return IcmpView(bytes);
}

// RFC 792: "The checksum is the 16-bit ones's complement of the one's
// complement sum of the ICMP message starting with the ICMP Type."
bool IcmpView::checksum_ok() const {
  return sn::checksum_ok(bytes_);
}

IcmpHeader IcmpHeader::echo_request(uint16_t id, uint16_t seq) {
  return IcmpHeader{kIcmpEchoRequest, 0, (uint32_t{id} << 16) | seq};
}

IcmpHeader IcmpHeader::echo_reply(uint16_t id, uint16_t seq) {
  return IcmpHeader{kIcmpEchoReply, 0, (uint32_t{id} << 16) | seq};
}

IcmpHeader IcmpHeader::dest_unreachable(uint8_t code, uint16_t next_hop_mtu) {
  return IcmpHeader{kIcmpDestUnreachable, code, next_hop_mtu};
}

IcmpHeader IcmpHeader::time_exceeded(uint8_t code) {
  return IcmpHeader{kIcmpTimeExceeded, code, 0};
}

IcmpHeader IcmpHeader::from(const IcmpView& view) {
  return IcmpHeader{view.type(), view.code(), view.rest()};
}

void IcmpHeader::emit(std::span<std::byte> out, uint32_t payload_sum) const {
  SN_CHECK(out.size() >= kSize);
  std::byte* p = out.data();
  store8(p, type);
  store8(p + 1, code);
  store16(p + 2, 0);
  store32(p + 4, rest);
  store16(p + 2, Checksum{}.add(out.first(kSize)).add_sum(payload_sum).finish());
}

}  // namespace sn
