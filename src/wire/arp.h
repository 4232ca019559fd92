// ARP for Ethernet and IPv4 only (RFC 826): the 28-byte packet with hardware
// type 1, protocol type 0x0800, hlen 6, plen 4.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "wire/address.h"
#include "wire/parse.h"

namespace sn {

inline constexpr uint16_t kArpHtypeEthernet = 1;

struct ArpPacket {
  static constexpr size_t kSize = 28;
  static constexpr uint16_t kRequest = 1;
  static constexpr uint16_t kReply = 2;

  uint16_t op = 0;
  MacAddress sha;   // sender hardware address
  Ipv4Address spa;  // sender protocol address
  MacAddress tha;   // target hardware address
  Ipv4Address tpa;  // target protocol address

  // < 28 bytes -> kTruncated; another hardware or protocol type or length, or an
  // op other than request/reply -> kUnsupported. Trailing bytes (Ethernet
  // padding) are ignored.
  static Parsed<ArpPacket> parse(std::span<const std::byte> bytes);
  // REQUIRES: out.size() >= kSize. Writes kSize bytes.
  void emit(std::span<std::byte> out) const;

  bool operator==(const ArpPacket&) const = default;
};

}  // namespace sn
