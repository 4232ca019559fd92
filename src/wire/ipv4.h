// IPv4 headers (RFC 791 §3.1; RFC 1122 §3.2.1): a view over received bytes,
// checked once, and a value we emit (20 bytes, no options).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "wire/address.h"
#include "wire/bytes.h"
#include "wire/parse.h"

namespace sn {

inline constexpr uint8_t kIpProtoIcmp = 1;
inline constexpr uint8_t kIpProtoTcp = 6;
inline constexpr uint8_t kIpProtoUdp = 17;
inline constexpr size_t kIpv4MinHeaderSize = 20;
inline constexpr size_t kIpv4MaxHeaderSize = 60;

// RFC 791 §3.1 option kinds the option walk knows by shape.
inline constexpr uint8_t kIpv4OptEol = 0;
inline constexpr uint8_t kIpv4OptNop = 1;

class Ipv4View {
 public:
  // Checks, in order: size >= 20 (kTruncated); version 4 (kBadVersion); IHL >= 5
  // (kBadHeaderLength); size >= IHL*4 (kTruncated); IHL*4 <= total length <=
  // size (kBadTotalLength); options well-formed (kBadOption). Bytes past total
  // length (link padding) are allowed and excluded. The checksum is NOT checked.
  static Parsed<Ipv4View> parse(std::span<const std::byte> bytes);

  bool checksum_ok() const;
  size_t header_length() const { return header_length_; }
  uint8_t tos() const { return load8(p(1)); }
  uint16_t total_length() const { return load16(p(2)); }
  uint16_t id() const { return load16(p(4)); }
  bool reserved_flag() const { return (load8(p(6)) & 0x80) != 0; }
  bool df() const { return (load8(p(6)) & 0x40) != 0; }
  bool mf() const { return (load8(p(6)) & 0x20) != 0; }
  uint16_t fragment_offset() const {  // in bytes: the field counts 8-byte units
    return static_cast<uint16_t>((load16(p(6)) & 0x1fff) * 8);
  }
  bool is_fragment() const { return mf() || fragment_offset() != 0; }
  uint8_t ttl() const { return load8(p(8)); }
  uint8_t protocol() const { return load8(p(9)); }
  uint16_t checksum() const { return load16(p(10)); }
  Ipv4Address src() const { return Ipv4Address::load(p(12)); }
  Ipv4Address dst() const { return Ipv4Address::load(p(16)); }

  std::span<const std::byte> header() const { return bytes_.first(header_length_); }
  std::span<const std::byte> options() const {
    return bytes_.subspan(kIpv4MinHeaderSize, header_length_ - kIpv4MinHeaderSize);
  }
  // The bytes after the header up to total_length; link padding excluded.
  std::span<const std::byte> payload() const {
    return bytes_.subspan(header_length_, total_length() - header_length_);
  }

 private:
  Ipv4View(std::span<const std::byte> bytes, size_t header_length)
      : bytes_(bytes), header_length_(header_length) {}
  const std::byte* p(size_t off) const { return bytes_.data() + off; }

  std::span<const std::byte> bytes_;
  size_t header_length_ = 0;
};

struct Ipv4Header {
  uint8_t tos = 0;
  uint16_t total_length = 0;  // header + payload
  uint16_t id = 0;
  bool df = false;
  bool mf = false;
  uint16_t fragment_offset = 0;  // bytes; REQUIRES a multiple of 8, <= 65528
  uint8_t ttl = 64;
  uint8_t protocol = 0;
  Ipv4Address src, dst;

  static constexpr size_t kSize = 20;
  // REQUIRES: out.size() >= kSize. Writes 20 bytes (IHL 5, no options) with the
  // header checksum computed.
  void emit(std::span<std::byte> out) const;
  // Options of the view are dropped.
  static Ipv4Header from(const Ipv4View& view);

  bool operator==(const Ipv4Header&) const = default;
};

}  // namespace sn
