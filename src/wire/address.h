// Link and network addresses as types: MacAddress (EUI-48), Ipv4Address (host
// byte order value), Ipv4Prefix (address/length) and L4Port (a TCP/UDP port).
// Loading and storing go through big-endian helpers; text forms are for
// configuration and logs, never for the data path.
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace sn {

struct MacAddress {
  std::array<uint8_t, 6> b{};

  static constexpr MacAddress broadcast() {
    return MacAddress{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
  }
  bool is_broadcast() const { return *this == broadcast(); }
  // IEEE 802: the I/G bit, the least significant bit of the first octet.
  bool is_multicast() const { return (b[0] & 0x01) != 0; }
  bool is_zero() const { return *this == MacAddress{}; }

  static MacAddress load(const std::byte* p);
  void store(std::byte* p) const;
  std::string to_string() const;  // "02:00:00:00:00:01"
  // Six two-digit hex octets separated by ':' (either case); nothing else.
  static std::optional<MacAddress> parse(std::string_view s);

  auto operator<=>(const MacAddress&) const = default;
  bool operator==(const MacAddress&) const = default;
};

struct Ipv4Address {
  uint32_t v = 0;  // host byte order: 10.0.0.1 is 0x0a000001

  constexpr Ipv4Address() = default;
  constexpr explicit Ipv4Address(uint32_t value) : v(value) {}
  static constexpr Ipv4Address from_octets(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    return Ipv4Address((uint32_t{a} << 24) | (uint32_t{b} << 16) | (uint32_t{c} << 8) | d);
  }
  static constexpr Ipv4Address any() { return Ipv4Address(0); }
  static constexpr Ipv4Address broadcast() { return Ipv4Address(0xffffffff); }

  constexpr bool is_any() const { return v == 0; }
  constexpr bool is_broadcast() const { return v == 0xffffffff; }
  constexpr bool is_multicast() const { return (v >> 28) == 0xe; }  // 224.0.0.0/4, RFC 5771
  constexpr bool is_loopback() const { return (v >> 24) == 127; }  // 127.0.0.0/8, RFC 1122 §3.2.1.3
  constexpr uint8_t octet(int i) const { return static_cast<uint8_t>(v >> (24 - 8 * i)); }

  static Ipv4Address load(const std::byte* p);
  void store(std::byte* p) const;
  std::string to_string() const;  // "10.0.0.1"
  // Strict dotted quad: four decimal octets 0..255, no leading zeros ("010" is
  // rejected: some parsers read it as octal), no spaces, nothing after.
  static std::optional<Ipv4Address> parse(std::string_view s);

  auto operator<=>(const Ipv4Address&) const = default;
  bool operator==(const Ipv4Address&) const = default;
};

// An interface address with its prefix length ("10.0.0.2/24"). The host bits of
// `address` are kept; network() clears them.
struct Ipv4Prefix {
  Ipv4Address address;
  uint8_t length = 0;  // 0..32

  constexpr uint32_t mask() const { return length == 0 ? 0 : ~uint32_t{0} << (32 - length); }
  constexpr bool contains(Ipv4Address a) const { return (a.v & mask()) == (address.v & mask()); }
  constexpr Ipv4Address network() const { return Ipv4Address(address.v & mask()); }
  // The directed broadcast address of the subnet (RFC 919, RFC 1122 §3.2.1.3).
  constexpr Ipv4Address broadcast() const { return Ipv4Address(address.v | ~mask()); }

  static std::optional<Ipv4Prefix> parse(std::string_view s);  // "a.b.c.d/len", len 0..32
  std::string to_string() const;

  bool operator==(const Ipv4Prefix&) const = default;
};

// A TCP or UDP port number, host byte order.
struct L4Port {
  uint16_t v = 0;

  constexpr L4Port() = default;
  constexpr explicit L4Port(uint16_t value) : v(value) {}

  auto operator<=>(const L4Port&) const = default;
  bool operator==(const L4Port&) const = default;
};

}  // namespace sn

template <>
struct std::hash<sn::Ipv4Address> {
  size_t operator()(sn::Ipv4Address a) const noexcept { return std::hash<uint32_t>{}(a.v); }
};

template <>
struct std::hash<sn::L4Port> {
  size_t operator()(sn::L4Port p) const noexcept { return std::hash<uint16_t>{}(p.v); }
};

template <>
struct std::hash<sn::MacAddress> {
  size_t operator()(const sn::MacAddress& m) const noexcept {
    uint64_t x = 0;
    for (uint8_t o : m.b)
      x = (x << 8) | o;
    return std::hash<uint64_t>{}(x);
  }
};
