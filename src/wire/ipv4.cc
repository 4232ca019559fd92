// IPv4 header parsing and emission (RFC 791 §3.1, RFC 1122 §3.2.1).
#include "wire/ipv4.h"

#include "base/check.h"
#include "wire/checksum.h"

namespace sn {
namespace {

// RFC 791 §3.1 "Options": EOL ends the list, NOP is a single octet, and every
// other option is kind, length (counting both), data. Length must fit.
bool options_well_formed(std::span<const std::byte> opts) {
  size_t i = 0;
  while (i < opts.size()) {
    const uint8_t kind = load8(opts.data() + i);
    if (kind == kIpv4OptEol) return true;
    if (kind == kIpv4OptNop) {
      ++i;
      continue;
    }
    if (i + 1 >= opts.size()) return false;
    const uint8_t len = load8(opts.data() + i + 1);
    if (len < 2 || len > opts.size() - i) return false;
    i += len;
  }
  return true;
}

}  // namespace

Parsed<Ipv4View> Ipv4View::parse(std::span<const std::byte> bytes) {
  if (bytes.size() < kIpv4MinHeaderSize) return ParseError::kTruncated;
  const uint8_t vihl = load8(bytes.data());
  if ((vihl >> 4) != 4) return ParseError::kBadVersion;
  const size_t header_length = size_t{vihl & 0x0fu} * 4;
  if (header_length < kIpv4MinHeaderSize) return ParseError::kBadHeaderLength;
  if (bytes.size() < header_length) return ParseError::kTruncated;
  // RFC 1812 §5.2.2 (the same checks a router makes): the total length must
  // cover the header and must not claim bytes that did not arrive.
  const uint16_t total_length = load16(bytes.data() + 2);
  if (total_length < header_length || total_length > bytes.size()) {
    return ParseError::kBadTotalLength;
  }
  if (!options_well_formed(bytes.subspan(kIpv4MinHeaderSize, header_length - kIpv4MinHeaderSize))) {
    return ParseError::kBadOption;
  }
  return Ipv4View(bytes, header_length);
}

bool Ipv4View::checksum_ok() const {
  return sn::checksum_ok(header());
}

void Ipv4Header::emit(std::span<std::byte> out) const {
  SN_CHECK(out.size() >= kSize);
  std::byte* p = out.data();
  store8(p, 0x45);  // version 4, IHL 5
  store8(p + 1, tos);
  store16(p + 2, total_length);
  store16(p + 4, id);
  // Flags: bit 0 reserved (zero), DF, MF; then the offset in 8-octet units.
  const uint16_t flags_offset = static_cast<uint16_t>((df ? 0x4000 : 0) | (mf ? 0x2000 : 0) |
                                                      ((fragment_offset / 8) & 0x1fff));
  store16(p + 6, flags_offset);
  store8(p + 8, ttl);
  store8(p + 9, protocol);
  store16(p + 10, 0);
  src.store(p + 12);
  dst.store(p + 16);
  store16(p + 10, internet_checksum(out.first(kSize)));  // RFC 791 §3.1 "Header Checksum"
}

Ipv4Header Ipv4Header::from(const Ipv4View& view) {
  Ipv4Header h;
  h.tos = view.tos();
  h.total_length = view.total_length();
  h.id = view.id();
  h.df = view.df();
  h.mf = view.mf();
  h.fragment_offset = view.fragment_offset();
  h.ttl = view.ttl();
  h.protocol = view.protocol();
  h.src = view.src();
  h.dst = view.dst();
  return h;
}

}  // namespace sn
