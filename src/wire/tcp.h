// TCP headers and options (RFC 9293 §3.1): a view over received bytes, the
// options we understand (MSS, RFC 9293 §3.7.1 and RFC 6691; window scale and
// timestamps, RFC 7323; SACK, RFC 2018), and a value we emit with its checksum.
// The protocol itself lives elsewhere.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <utility>

#include "wire/address.h"
#include "wire/bytes.h"
#include "wire/parse.h"
#include "wire/seqnum.h"

namespace sn {

inline constexpr uint8_t kTcpFin = 0x01;
inline constexpr uint8_t kTcpSyn = 0x02;
inline constexpr uint8_t kTcpRst = 0x04;
inline constexpr uint8_t kTcpPsh = 0x08;
inline constexpr uint8_t kTcpAck = 0x10;
inline constexpr uint8_t kTcpUrg = 0x20;
inline constexpr uint8_t kTcpEce = 0x40;
inline constexpr uint8_t kTcpCwr = 0x80;

inline constexpr size_t kTcpMinHeaderSize = 20;
inline constexpr size_t kTcpMaxOptionsSize = 40;

// Option kinds (IANA "TCP Option Kind Numbers").
inline constexpr uint8_t kTcpOptEol = 0;
inline constexpr uint8_t kTcpOptNop = 1;
inline constexpr uint8_t kTcpOptMss = 2;
inline constexpr uint8_t kTcpOptWindowScale = 3;
inline constexpr uint8_t kTcpOptSackPermitted = 4;
inline constexpr uint8_t kTcpOptSack = 5;
inline constexpr uint8_t kTcpOptTimestamps = 8;

inline constexpr uint8_t kTcpMaxWindowScale = 14;  // RFC 7323 §2.3

struct SackBlock {
  SeqNum left, right;  // [left, right): left edge, and one past the right edge
  bool operator==(const SackBlock&) const = default;
};

struct TcpOptions {
  std::optional<uint16_t> mss;
  std::optional<uint8_t> window_scale;
  bool sack_permitted = false;
  std::optional<std::pair<uint32_t, uint32_t>> timestamps;  // TSval, TSecr
  uint8_t sack_count = 0;                                   // 0..4 blocks in use
  std::array<SackBlock, 4> sack{};

  // Emitted size: a multiple of 4, at most 40. Laid out as Linux does (MSS,
  // SACK-permitted + timestamps, NOP + window scale, NOP NOP + SACK), so each
  // option is aligned and no trailing pad is needed. SACK blocks that do not fit
  // in 40 bytes are left out (3 fit beside timestamps, RFC 2018 §3).
  size_t size() const;
  // REQUIRES: out.size() >= size(). Writes size() bytes.
  void emit(std::span<std::byte> out) const;
  // EOL ends the list; NOP is skipped; MSS needs length 4, window scale 3,
  // SACK-permitted 2, SACK 10/18/26/34, timestamps 10; other kinds are skipped
  // if their length (>= 2) fits. Anything else -> kBadOption. A window scale
  // above 14 is taken as 14 (RFC 7323 §2.3).
  static Parsed<TcpOptions> parse(std::span<const std::byte> options);

  // The number of SACK blocks size() and emit() carry.
  uint8_t emitted_sack_count() const;

  bool operator==(const TcpOptions&) const = default;
};

class TcpView {
 public:
  // < 20 bytes -> kTruncated; data offset < 5 -> kBadHeaderLength; data offset
  // past the bytes -> kTruncated. Options are not parsed here: see
  // TcpOptions::parse(options()). The segment is the whole span (TCP has no
  // length field: pass exactly the IP payload).
  static Parsed<TcpView> parse(std::span<const std::byte> bytes);

  L4Port src_port() const { return L4Port(load16(p(0))); }
  L4Port dst_port() const { return L4Port(load16(p(2))); }
  SeqNum seq() const { return SeqNum{load32(p(4))}; }
  SeqNum ack() const { return SeqNum{load32(p(8))}; }
  size_t header_length() const { return header_length_; }
  uint8_t flags() const { return load8(p(13)); }
  uint16_t window() const { return load16(p(14)); }
  uint16_t checksum() const { return load16(p(16)); }
  uint16_t urgent() const { return load16(p(18)); }
  std::span<const std::byte> options() const {
    return bytes_.subspan(kTcpMinHeaderSize, header_length_ - kTcpMinHeaderSize);
  }
  std::span<const std::byte> payload() const { return bytes_.subspan(header_length_); }
  std::span<const std::byte> bytes() const { return bytes_; }
  // Over the pseudo-header (RFC 9293 §3.1) and the whole segment.
  bool checksum_ok(Ipv4Address src, Ipv4Address dst) const;

 private:
  TcpView(std::span<const std::byte> bytes, size_t header_length)
      : bytes_(bytes), header_length_(header_length) {}
  const std::byte* p(size_t off) const { return bytes_.data() + off; }

  std::span<const std::byte> bytes_;
  size_t header_length_ = 0;
};

struct TcpHeader {
  L4Port src_port, dst_port;
  SeqNum seq{0}, ack{0};
  uint8_t flags = 0;
  uint16_t window = 0;
  uint16_t urgent = 0;
  TcpOptions options;

  size_t size() const { return kTcpMinHeaderSize + options.size(); }
  // REQUIRES: out.size() >= size(). Writes size() bytes, the checksum covering
  // the pseudo-header (length size() + payload_len), this header and
  // payload_sum (a Checksum::sum() of the payload).
  void emit(std::span<std::byte> out, Ipv4Address src, Ipv4Address dst, uint32_t payload_sum,
            uint16_t payload_len) const;
  // The same with a partial checksum: the field holds the folded
  // pseudo-header sum only, for a device (or complete_l4_checksum) to finish
  // by summing the header and payload over it.
  void emit_partial(std::span<std::byte> out, Ipv4Address src, Ipv4Address dst,
                    uint16_t payload_len) const;
  // Fails only if the view's options are malformed.
  static Parsed<TcpHeader> from(const TcpView& view);

  bool operator==(const TcpHeader&) const = default;
};

}  // namespace sn
