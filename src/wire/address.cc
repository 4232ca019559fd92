// Loading, storing, printing and parsing of MAC and IPv4 addresses.
#include "wire/address.h"

#include <cstdio>
#include <cstring>

#include "wire/bytes.h"

namespace sn {
namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A decimal number of at most `max_digits` digits without leading zeros, at
// the front of s; advances s past it.
std::optional<uint32_t> take_decimal(std::string_view& s, size_t max_digits) {
  size_t n = 0;
  uint32_t v = 0;
  while (n < s.size() && s[n] >= '0' && s[n] <= '9') {
    if (n == max_digits) return std::nullopt;
    v = v * 10 + static_cast<uint32_t>(s[n] - '0');
    ++n;
  }
  if (n == 0 || (n > 1 && s[0] == '0')) return std::nullopt;
  s.remove_prefix(n);
  return v;
}

std::optional<Ipv4Address> take_ipv4(std::string_view& s) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) {
    if (i > 0) {
      if (s.empty() || s[0] != '.') return std::nullopt;
      s.remove_prefix(1);
    }
    auto octet = take_decimal(s, 3);
    if (!octet || *octet > 255) return std::nullopt;
    v = (v << 8) | *octet;
  }
  return Ipv4Address(v);
}

}  // namespace

// (Six bytes in wire order either way: one copy, no byte loop.)
MacAddress MacAddress::load(const std::byte* p) {
  MacAddress m;
  std::memcpy(m.b.data(), p, m.b.size());
  return m;
}

void MacAddress::store(std::byte* p) const {
  std::memcpy(p, b.data(), b.size());
}

std::string MacAddress::to_string() const {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4],
                b[5]);
  return buf;
}

std::optional<MacAddress> MacAddress::parse(std::string_view s) {
  if (s.size() != 17) return std::nullopt;
  MacAddress m;
  for (size_t i = 0; i < 6; ++i) {
    const size_t at = i * 3;
    if (i > 0 && s[at - 1] != ':') return std::nullopt;
    const int hi = hex_digit(s[at]);
    const int lo = hex_digit(s[at + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    m.b[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return m;
}

Ipv4Address Ipv4Address::load(const std::byte* p) {
  return Ipv4Address(load32(p));
}

void Ipv4Address::store(std::byte* p) const {
  store32(p, v);
}

std::string Ipv4Address::to_string() const {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", octet(0), octet(1), octet(2), octet(3));
  return buf;
}

std::optional<Ipv4Address> Ipv4Address::parse(std::string_view s) {
  auto a = take_ipv4(s);
  if (!a || !s.empty()) return std::nullopt;
  return a;
}

std::optional<Ipv4Prefix> Ipv4Prefix::parse(std::string_view s) {
  auto a = take_ipv4(s);
  if (!a || s.empty() || s[0] != '/') return std::nullopt;
  s.remove_prefix(1);
  auto len = take_decimal(s, 2);
  if (!len || *len > 32 || !s.empty()) return std::nullopt;
  return Ipv4Prefix{*a, static_cast<uint8_t>(*len)};
}

std::string Ipv4Prefix::to_string() const {
  return address.to_string() + "/" + std::to_string(length);
}

}  // namespace sn
