// ICMP for IPv4 (RFC 792; RFC 1122 §3.2.2): echo, destination unreachable and
// time exceeded. The 8-byte header is type, code, checksum and four bytes whose
// meaning depends on the type ("rest": echo id/seq, or next-hop MTU, RFC 1191).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "wire/bytes.h"
#include "wire/parse.h"

namespace sn {

inline constexpr uint8_t kIcmpEchoReply = 0;
inline constexpr uint8_t kIcmpDestUnreachable = 3;
inline constexpr uint8_t kIcmpEchoRequest = 8;
inline constexpr uint8_t kIcmpTimeExceeded = 11;

// Destination unreachable codes (RFC 792).
inline constexpr uint8_t kIcmpNetUnreachable = 0;
inline constexpr uint8_t kIcmpHostUnreachable = 1;
inline constexpr uint8_t kIcmpProtocolUnreachable = 2;
inline constexpr uint8_t kIcmpPortUnreachable = 3;
inline constexpr uint8_t kIcmpFragNeeded = 4;
// Time exceeded codes (RFC 792).
inline constexpr uint8_t kIcmpTtlExceeded = 0;
inline constexpr uint8_t kIcmpReassemblyTimeExceeded = 1;

class IcmpView {
 public:
  // < 8 bytes -> kTruncated. The checksum is not checked here.
  static Parsed<IcmpView> parse(std::span<const std::byte> bytes);

  uint8_t type() const { return load8(bytes_.data()); }
  uint8_t code() const { return load8(bytes_.data() + 1); }
  uint16_t checksum() const { return load16(bytes_.data() + 2); }
  bool checksum_ok() const;  // over the whole message
  uint16_t echo_id() const { return load16(bytes_.data() + 4); }
  uint16_t echo_seq() const { return load16(bytes_.data() + 6); }
  uint32_t rest() const { return load32(bytes_.data() + 4); }
  // After the 8-byte header: echo data, or for errors the quoted datagram.
  std::span<const std::byte> payload() const { return bytes_.subspan(8); }
  std::span<const std::byte> bytes() const { return bytes_; }

 private:
  explicit IcmpView(std::span<const std::byte> bytes) : bytes_(bytes) {}
  std::span<const std::byte> bytes_;
};

struct IcmpHeader {
  uint8_t type = 0;
  uint8_t code = 0;
  uint32_t rest = 0;

  static constexpr size_t kSize = 8;

  static IcmpHeader echo_request(uint16_t id, uint16_t seq);
  static IcmpHeader echo_reply(uint16_t id, uint16_t seq);
  // RFC 1191 §4: for kIcmpFragNeeded the low 16 bits of rest carry the next-hop MTU.
  static IcmpHeader dest_unreachable(uint8_t code, uint16_t next_hop_mtu = 0);
  static IcmpHeader time_exceeded(uint8_t code);
  static IcmpHeader from(const IcmpView& view);

  // REQUIRES: out.size() >= kSize. Writes 8 bytes; the checksum covers these
  // header words plus payload_sum (a Checksum::sum() over the payload).
  void emit(std::span<std::byte> out, uint32_t payload_sum) const;

  bool operator==(const IcmpHeader&) const = default;
};

}  // namespace sn
