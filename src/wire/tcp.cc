// TCP header and option parsing and emission (RFC 9293 §3.1, §3.2).
#include "wire/tcp.h"

#include <algorithm>

#include "base/check.h"
#include "wire/checksum.h"
#include "wire/ipv4.h"

namespace sn {
namespace {

constexpr size_t kMssLen = 4;            // RFC 9293 §3.2
constexpr size_t kWindowScaleLen = 3;    // RFC 7323 §2.2
constexpr size_t kSackPermittedLen = 2;  // RFC 2018 §2
constexpr size_t kTimestampsLen = 10;    // RFC 7323 §3.2
constexpr size_t kSackBlockLen = 8;      // RFC 2018 §3

// Bytes of everything but SACK blocks, in the aligned layout emit() writes.
size_t size_without_sack(const TcpOptions& o) {
  size_t n = 0;
  if (o.mss) n += 4;
  if (o.timestamps) {
    n += 12;  // [SACK-permitted | NOP NOP] + timestamps
  } else if (o.sack_permitted) {
    n += 4;  // NOP NOP SACK-permitted
  }
  if (o.window_scale) n += 4;  // NOP + window scale
  return n;
}

}  // namespace

uint8_t TcpOptions::emitted_sack_count() const {
  const size_t base = size_without_sack(*this);
  // NOP NOP kind len, then the blocks.
  if (sack_count == 0 || base + 4 + kSackBlockLen > kTcpMaxOptionsSize) return 0;
  const size_t fit = (kTcpMaxOptionsSize - base - 4) / kSackBlockLen;
  return static_cast<uint8_t>(std::min<size_t>({sack_count, fit, sack.size()}));
}

size_t TcpOptions::size() const {
  const uint8_t n = emitted_sack_count();
  return size_without_sack(*this) + (n ? 4 + kSackBlockLen * n : 0);
}

void TcpOptions::emit(std::span<std::byte> out) const {
  SN_CHECK(out.size() >= size());
  std::byte* p = out.data();
  auto put8 = [&p](uint8_t v) { store8(p++, v); };
  if (mss) {
    put8(kTcpOptMss);
    put8(kMssLen);
    store16(p, *mss);
    p += 2;
  }
  if (timestamps) {
    if (sack_permitted) {
      put8(kTcpOptSackPermitted);
      put8(kSackPermittedLen);
    } else {
      put8(kTcpOptNop);
      put8(kTcpOptNop);
    }
    put8(kTcpOptTimestamps);
    put8(kTimestampsLen);
    store32(p, timestamps->first);
    store32(p + 4, timestamps->second);
    p += 8;
  } else if (sack_permitted) {
    put8(kTcpOptNop);
    put8(kTcpOptNop);
    put8(kTcpOptSackPermitted);
    put8(kSackPermittedLen);
  }
  if (window_scale) {
    put8(kTcpOptNop);
    put8(kTcpOptWindowScale);
    put8(kWindowScaleLen);
    put8(*window_scale);
  }
  if (const uint8_t n = emitted_sack_count(); n > 0) {
    put8(kTcpOptNop);
    put8(kTcpOptNop);
    put8(kTcpOptSack);
    put8(static_cast<uint8_t>(2 + kSackBlockLen * n));
    for (uint8_t i = 0; i < n; ++i) {
      store32(p, sack[i].left.v);
      store32(p + 4, sack[i].right.v);
      p += kSackBlockLen;
    }
  }
  SN_CHECK(static_cast<size_t>(p - out.data()) == size());
}

Parsed<TcpOptions> TcpOptions::parse(std::span<const std::byte> options) {
  TcpOptions o;
  const std::byte* b = options.data();
  const size_t end = options.size();
  size_t i = 0;
  while (i < end) {
    const uint8_t kind = load8(b + i);
    if (kind == kTcpOptEol) break;  // RFC 9293 §3.2: end of option list
    if (kind == kTcpOptNop) {
      ++i;
      continue;
    }
    // RFC 9293 §3.2: every other option has a length octet counting kind and
    // length, and options we do not implement are ignored (RFC 1122 §4.2.2.5).
    if (i + 1 >= end) return ParseError::kBadOption;
    const uint8_t len = load8(b + i + 1);
    if (len < 2 || len > end - i) return ParseError::kBadOption;
    const std::byte* v = b + i + 2;
    switch (kind) {
      case kTcpOptMss:
        if (len != kMssLen) return ParseError::kBadOption;
        o.mss = load16(v);
        break;
      case kTcpOptWindowScale:
        if (len != kWindowScaleLen) return ParseError::kBadOption;
        // RFC 7323 §2.3: a shift above 14 is logged and 14 used instead.
        o.window_scale = std::min(load8(v), kTcpMaxWindowScale);
        break;
      case kTcpOptSackPermitted:
        if (len != kSackPermittedLen) return ParseError::kBadOption;
        o.sack_permitted = true;
        break;
      case kTcpOptSack: {
        if (len < 2 + kSackBlockLen || (len - 2) % kSackBlockLen != 0 ||
            len > 2 + kSackBlockLen * o.sack.size()) {
          return ParseError::kBadOption;
        }
        o.sack_count = static_cast<uint8_t>((len - 2) / kSackBlockLen);
        for (uint8_t k = 0; k < o.sack_count; ++k) {
          o.sack[k] = SackBlock{SeqNum{load32(v + k * kSackBlockLen)},
                                SeqNum{load32(v + k * kSackBlockLen + 4)}};
        }
        break;
      }
      case kTcpOptTimestamps:
        if (len != kTimestampsLen) return ParseError::kBadOption;
        o.timestamps = std::pair{load32(v), load32(v + 4)};
        break;
      default:
        break;
    }
    i += len;
  }
  return o;
}

Parsed<TcpView> TcpView::parse(std::span<const std::byte> bytes) {
  if (bytes.size() < kTcpMinHeaderSize) return ParseError::kTruncated;
  const size_t header_length = (size_t{load8(bytes.data() + 12)} >> 4) * 4;  // data offset
  if (header_length < kTcpMinHeaderSize) return ParseError::kBadHeaderLength;
  if (header_length > bytes.size()) return ParseError::kTruncated;
  return TcpView(bytes, header_length);
}

bool TcpView::checksum_ok(Ipv4Address src, Ipv4Address dst) const {
  const auto length = static_cast<uint16_t>(bytes_.size());
  return Checksum{}.add_sum(pseudo_header_sum(src, dst, kIpProtoTcp, length)).add(bytes_).sum() ==
         0xffff;
}

void TcpHeader::emit(std::span<std::byte> out, Ipv4Address src, Ipv4Address dst,
                     uint32_t payload_sum, uint16_t payload_len) const {
  emit_partial(out, src, dst, payload_len);
  // RFC 9293 §3.1 "Checksum": pseudo-header, header and data (the field
  // holds the pseudo-header's sum now, so summing over it counts it).
  store16(out.data() + 16, Checksum{}.add(out.first(size())).add_sum(payload_sum).finish());
}

void TcpHeader::emit_partial(std::span<std::byte> out, Ipv4Address src, Ipv4Address dst,
                             uint16_t payload_len) const {
  const size_t header_length = size();
  SN_CHECK(out.size() >= header_length);
  std::byte* p = out.data();
  store16(p, src_port.v);
  store16(p + 2, dst_port.v);
  store32(p + 4, seq.v);
  store32(p + 8, ack.v);
  store8(p + 12, static_cast<uint8_t>((header_length / 4) << 4));  // data offset, reserved 0
  store8(p + 13, flags);
  store16(p + 14, window);
  store16(p + 16, 0);
  store16(p + 18, urgent);
  options.emit(out.subspan(kTcpMinHeaderSize));
  const auto length = static_cast<uint16_t>(header_length + payload_len);
  store16(p + 16, static_cast<uint16_t>(pseudo_header_sum(src, dst, kIpProtoTcp, length)));
}

Parsed<TcpHeader> TcpHeader::from(const TcpView& view) {
  auto options = TcpOptions::parse(view.options());
  if (!options) return options.error();
  TcpHeader h;
  h.src_port = view.src_port();
  h.dst_port = view.dst_port();
  h.seq = view.seq();
  h.ack = view.ack();
  h.flags = view.flags();
  h.window = view.window();
  h.urgent = view.urgent();
  h.options = *options;
  return h;
}

}  // namespace sn
