// UDP header parsing, checksum and emission (RFC 768).
#include "wire/udp.h"

#include <algorithm>

#include "base/check.h"
#include "wire/checksum.h"
#include "wire/ipv4.h"

namespace sn {

Parsed<UdpView> UdpView::parse(std::span<const std::byte> bytes) {
  if (bytes.size() < UdpHeader::kSize) return ParseError::kTruncated;
  const uint16_t length = load16(bytes.data() + 4);
  if (length < UdpHeader::kSize || length > bytes.size()) return ParseError::kBadLength;
  return UdpView(bytes.first(length));
}

Parsed<UdpView> UdpView::parse_prefix(std::span<const std::byte> first, size_t total) {
  if (first.size() < UdpHeader::kSize || total < first.size()) return ParseError::kTruncated;
  const uint16_t length = load16(first.data() + 4);
  if (length < UdpHeader::kSize || length > total) return ParseError::kBadLength;
  return UdpView(first.first(std::min<size_t>(length, first.size())));
}

bool UdpView::checksum_ok(Ipv4Address src, Ipv4Address dst) const {
  if (checksum() == 0)
    return true;  // RFC 768: "all zero ... the transmitter generated no checksum"
  return Checksum{}.add_sum(pseudo_header_sum(src, dst, kIpProtoUdp, length())).add(bytes_).sum() ==
         0xffff;
}

void UdpHeader::emit(std::span<std::byte> out, Ipv4Address src, Ipv4Address dst,
                     uint32_t payload_sum) const {
  SN_CHECK(out.size() >= kSize);
  std::byte* p = out.data();
  store16(p, src_port.v);
  store16(p + 2, dst_port.v);
  store16(p + 4, length);
  store16(p + 6, 0);
  uint16_t sum = Checksum{}
                     .add_sum(pseudo_header_sum(src, dst, kIpProtoUdp, length))
                     .add(out.first(kSize))
                     .add_sum(payload_sum)
                     .finish();
  // RFC 768: "If the computed checksum is zero, it is transmitted as all ones."
  if (sum == 0) sum = 0xffff;
  store16(p + 6, sum);
}

UdpHeader UdpHeader::from(const UdpView& view) {
  return UdpHeader{view.src_port(), view.dst_port(), view.length()};
}

}  // namespace sn
