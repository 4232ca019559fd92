// Recognising partial checksums; see partial_csum.h.
#include "port/partial_csum.h"

#include <cstdint>

#include "wire/checksum.h"

namespace sn {
namespace {

uint16_t be16(std::span<const std::byte> b, size_t at) {
  return static_cast<uint16_t>(std::to_integer<uint16_t>(b[at]) << 8 |
                               std::to_integer<uint16_t>(b[at + 1]));
}
uint32_t be32(std::span<const std::byte> b, size_t at) {
  return uint32_t{be16(b, at)} << 16 | be16(b, at + 2);
}

}  // namespace

bool has_partial_l4_checksum(std::span<const std::byte> frame) {
  constexpr size_t kEth = 14;
  if (frame.size() < kEth + 20 || be16(frame, 12) != 0x0800) return false;
  const std::span<const std::byte> ip = frame.subspan(kEth);
  const size_t ihl = size_t(std::to_integer<uint8_t>(ip[0]) & 0x0f) * 4;
  if ((std::to_integer<uint8_t>(ip[0]) >> 4) != 4 || ihl < 20) return false;
  const uint16_t total = be16(ip, 2);
  if ((be16(ip, 6) & 0x3fff) != 0) return false;  // RFC 791: MF set or an offset: a fragment
  const uint8_t proto = std::to_integer<uint8_t>(ip[9]);
  const size_t check_at = proto == 6 ? 16 : proto == 17 ? 6 : 0;
  if (check_at == 0 || total < ihl + check_at + 2 || total > ip.size()) return false;
  const uint32_t pseudo = pseudo_header_sum(Ipv4Address(be32(ip, 12)), Ipv4Address(be32(ip, 16)),
                                            proto, static_cast<uint16_t>(total - ihl));
  const uint16_t field = be16(ip, ihl + check_at);
  // The kernel stores ~csum_tcpudp_magic(..., 0): the folded sum itself.
  return field == static_cast<uint16_t>(fold_sum(pseudo));
}

}  // namespace sn
