// UDP headers (RFC 768): a view over received bytes and a value we emit, with
// the pseudo-header checksum.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "wire/address.h"
#include "wire/bytes.h"
#include "wire/parse.h"

namespace sn {

class UdpView {
 public:
  // < 8 bytes -> kTruncated; length field < 8 or > size -> kBadLength. Bytes past
  // the length field are excluded.
  static Parsed<UdpView> parse(std::span<const std::byte> bytes);
  // For a datagram of `total` bytes of which only the first `first.size()`
  // are contiguous (a reassembled datagram held in a packet chain): the same
  // checks against `total`; the view then covers at most the contiguous part.
  static Parsed<UdpView> parse_prefix(std::span<const std::byte> first, size_t total);

  L4Port src_port() const { return L4Port(load16(bytes_.data())); }
  L4Port dst_port() const { return L4Port(load16(bytes_.data() + 2)); }
  uint16_t length() const { return load16(bytes_.data() + 4); }
  uint16_t checksum() const { return load16(bytes_.data() + 6); }
  // The payload, or for parse_prefix its contiguous part.
  std::span<const std::byte> payload() const { return bytes_.subspan(8); }
  // RFC 768: a zero checksum means the sender computed none; that is ok.
  // REQUIRES: a view from parse() (the whole datagram).
  bool checksum_ok(Ipv4Address src, Ipv4Address dst) const;

 private:
  explicit UdpView(std::span<const std::byte> bytes) : bytes_(bytes) {}
  std::span<const std::byte> bytes_;  // length() bytes, or the contiguous part of them
};

struct UdpHeader {
  L4Port src_port, dst_port;
  uint16_t length = 0;  // header + payload

  static constexpr size_t kSize = 8;

  // REQUIRES: out.size() >= kSize. Writes 8 bytes with the checksum over the
  // pseudo-header, this header and payload_sum (a Checksum::sum() of the
  // payload). A computed 0 is sent as 0xffff (RFC 768).
  void emit(std::span<std::byte> out, Ipv4Address src, Ipv4Address dst, uint32_t payload_sum) const;
  static UdpHeader from(const UdpView& view);

  bool operator==(const UdpHeader&) const = default;
};

}  // namespace sn
