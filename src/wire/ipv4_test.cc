// Tests for IPv4 header parsing and emission against literal headers.
#include "wire/ipv4.h"

#include <gtest/gtest.h>

#include <vector>

#include "wire/checksum.h"
#include "wire/wire_testing.h"

namespace sn {
namespace {

// The example header from Wikipedia's "IPv4 header checksum" article: UDP,
// 192.168.0.1 -> 192.168.0.199, total length 115, checksum b861.
constexpr uint8_t kHeader[] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                               0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};

// The header followed by its 95 payload bytes (0x00, 0x01, ...).
std::vector<std::byte> datagram() {
  auto d = to_vec(kHeader);
  for (int i = 0; i < 95; ++i)
    d.push_back(static_cast<std::byte>(i));
  return d;
}

// A header with the given options (a multiple of 4 bytes) and 4 payload bytes.
std::vector<std::byte> with_options(std::vector<uint8_t> opts) {
  auto d = to_vec(kHeader);
  const size_t hl = 20 + opts.size();
  d[0] = static_cast<std::byte>(0x40 | (hl / 4));
  d[2] = std::byte{0};
  d[3] = static_cast<std::byte>(hl + 4);
  for (uint8_t o : opts)
    d.push_back(std::byte{o});
  for (int i = 0; i < 4; ++i)
    d.push_back(std::byte{0xee});
  d[10] = d[11] = std::byte{0};
  const uint16_t c = internet_checksum(std::span(d).first(hl));
  d[10] = static_cast<std::byte>(c >> 8);
  d[11] = static_cast<std::byte>(c & 0xff);
  return d;
}

ParseError error_of(std::span<const std::byte> b) {
  auto v = Ipv4View::parse(b);
  EXPECT_FALSE(v.ok());
  return v.ok() ? ParseError::kUnsupported : v.error();
}

TEST(Ipv4, ParsesFields) {
  const auto d = datagram();
  auto v = Ipv4View::parse(d);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->header_length(), 20u);
  EXPECT_EQ(v->tos(), 0);
  EXPECT_EQ(v->total_length(), 115);
  EXPECT_EQ(v->id(), 0);
  EXPECT_TRUE(v->df());
  EXPECT_FALSE(v->mf());
  EXPECT_FALSE(v->reserved_flag());
  EXPECT_EQ(v->fragment_offset(), 0);
  EXPECT_FALSE(v->is_fragment());
  EXPECT_EQ(v->ttl(), 64);
  EXPECT_EQ(v->protocol(), kIpProtoUdp);
  EXPECT_EQ(v->checksum(), 0xb861);
  EXPECT_TRUE(v->checksum_ok());
  EXPECT_EQ(v->src(), Ipv4Address::from_octets(192, 168, 0, 1));
  EXPECT_EQ(v->dst(), Ipv4Address::from_octets(192, 168, 0, 199));
  EXPECT_EQ(v->header().size(), 20u);
  EXPECT_TRUE(v->options().empty());
  ASSERT_EQ(v->payload().size(), 95u);
  EXPECT_EQ(v->payload()[0], std::byte{0});
  EXPECT_EQ(v->payload()[94], std::byte{94});
}

TEST(Ipv4, PayloadExcludesLinkPadding) {
  auto d = datagram();
  d.resize(d.size() + 10, std::byte{0xaa});
  auto v = Ipv4View::parse(d);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->payload().size(), 95u);
}

TEST(Ipv4, CorruptedChecksumDetected) {
  for (size_t i = 0; i < 20; ++i) {
    auto d = datagram();
    if (i == 0 || i == 2 || i == 3) continue;  // would change how it parses
    d[i] ^= std::byte{0x01};
    auto v = Ipv4View::parse(d);
    ASSERT_TRUE(v.ok()) << i;
    EXPECT_FALSE(v->checksum_ok()) << i;
  }
}

TEST(Ipv4, TruncatedBelowMinimumHeader) {
  const auto d = datagram();
  for (size_t n = 0; n < 20; ++n) {
    EXPECT_EQ(error_of(std::span(d).first(n)), ParseError::kTruncated) << n;
  }
}

TEST(Ipv4, BadVersion) {
  for (uint8_t version : {0, 1, 5, 6, 15}) {
    auto d = datagram();
    d[0] = static_cast<std::byte>((version << 4) | 5);
    EXPECT_EQ(error_of(d), ParseError::kBadVersion) << int{version};
  }
}

TEST(Ipv4, BadHeaderLength) {
  for (uint8_t ihl = 0; ihl < 5; ++ihl) {
    auto d = datagram();
    d[0] = static_cast<std::byte>(0x40 | ihl);
    EXPECT_EQ(error_of(d), ParseError::kBadHeaderLength) << int{ihl};
  }
}

TEST(Ipv4, HeaderLengthPastBytesIsTruncated) {
  auto d = with_options({0x01, 0x01, 0x01, 0x00});  // 24-byte header
  for (size_t n = 20; n < 24; ++n) {
    EXPECT_EQ(error_of(std::span(d).first(n)), ParseError::kTruncated) << n;
  }
  auto big = datagram();
  big[0] = std::byte{0x4f};  // claims 60 bytes; 115 are there but total length says 115
  big.resize(40);
  EXPECT_EQ(error_of(big), ParseError::kTruncated);
}

TEST(Ipv4, LyingTotalLength) {
  auto d = datagram();
  // Longer than what arrived.
  d[2] = std::byte{0x00};
  d[3] = std::byte{116};
  EXPECT_EQ(error_of(d), ParseError::kBadTotalLength);
  d[2] = std::byte{0xff};
  d[3] = std::byte{0xff};
  EXPECT_EQ(error_of(d), ParseError::kBadTotalLength);
  // Shorter than the header.
  for (uint8_t t : {0, 1, 19}) {
    d[2] = std::byte{0};
    d[3] = std::byte{t};
    EXPECT_EQ(error_of(d), ParseError::kBadTotalLength) << int{t};
  }
  auto opt = with_options({0x01, 0x01, 0x01, 0x00});
  opt[3] = std::byte{23};
  EXPECT_EQ(error_of(opt), ParseError::kBadTotalLength);
  // Exactly the header: an empty payload is fine.
  d[3] = std::byte{20};
  auto v = Ipv4View::parse(d);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->payload().empty());
}

TEST(Ipv4, WellFormedOptions) {
  // NOP NOP NOP EOL.
  auto d = with_options({0x01, 0x01, 0x01, 0x00});
  auto v = Ipv4View::parse(d);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->header_length(), 24u);
  EXPECT_EQ(v->options().size(), 4u);
  EXPECT_EQ(v->payload().size(), 4u);
  EXPECT_TRUE(v->checksum_ok());
  // Record route (RFC 791: type 7, length 7, pointer 4, one slot) then EOL.
  EXPECT_TRUE(Ipv4View::parse(with_options({0x07, 0x07, 0x04, 0, 0, 0, 0, 0x00})).ok());
  // Router alert (RFC 2113), exactly filling the area.
  EXPECT_TRUE(Ipv4View::parse(with_options({0x94, 0x04, 0x00, 0x00})).ok());
  // Garbage after EOL is not looked at.
  EXPECT_TRUE(Ipv4View::parse(with_options({0x00, 0xff, 0x00, 0x01})).ok());
  // The largest header: 40 bytes of NOPs.
  auto big = with_options(std::vector<uint8_t>(40, 0x01));
  auto bv = Ipv4View::parse(big);
  ASSERT_TRUE(bv.ok());
  EXPECT_EQ(bv->header_length(), 60u);
}

TEST(Ipv4, MalformedOptions) {
  const std::vector<std::vector<uint8_t>> bad = {
      {0x94, 0x00, 0x00, 0x00},              // length 0
      {0x94, 0x01, 0x00, 0x00},              // length 1
      {0x94, 0x05, 0x00, 0x00},              // runs past the area by one
      {0x01, 0x01, 0x01, 0x07},              // a kind with no room for its length
      {0x07, 0x07, 0x04, 0, 0, 0, 0, 0x44},  // second option: kind 0x44, no length
      {0x01, 0x83, 0xff, 0x00},              // loose source route, length 255
  };
  for (const auto& opts : bad) {
    EXPECT_EQ(error_of(with_options(opts)), ParseError::kBadOption) << int{opts[1]};
  }
}

TEST(Ipv4, FragmentFields) {
  auto d = datagram();
  d[6] = std::byte{0x20};  // MF, offset 0xb9 * 8 = 1480
  d[7] = std::byte{0xb9};
  auto v = Ipv4View::parse(d);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->mf());
  EXPECT_FALSE(v->df());
  EXPECT_EQ(v->fragment_offset(), 1480);
  EXPECT_TRUE(v->is_fragment());
  d[6] = std::byte{0x00};  // last fragment
  EXPECT_TRUE(Ipv4View::parse(d)->is_fragment());
  d[7] = std::byte{0x00};
  d[6] = std::byte{0x20};  // first fragment
  EXPECT_TRUE(Ipv4View::parse(d)->is_fragment());
  d[6] = std::byte{0x9f};  // reserved flag, largest offset
  d[7] = std::byte{0xff};
  v = Ipv4View::parse(d);
  EXPECT_TRUE(v->reserved_flag());
  EXPECT_EQ(v->fragment_offset(), 8191 * 8);
}

TEST(Ipv4, EmitMatchesLiteralHeader) {
  Ipv4Header h;
  h.total_length = 115;
  h.df = true;
  h.ttl = 64;
  h.protocol = kIpProtoUdp;
  h.src = Ipv4Address::from_octets(192, 168, 0, 1);
  h.dst = Ipv4Address::from_octets(192, 168, 0, 199);
  std::vector<std::byte> out(Ipv4Header::kSize, std::byte{0xcc});
  h.emit(out);
  EXPECT_EQ(out, to_vec(kHeader));
}

TEST(Ipv4, RoundTrip) {
  Ipv4Header h;
  h.tos = 0xb8;
  h.total_length = 28;
  h.id = 0xbeef;
  h.mf = true;
  h.fragment_offset = 2960;
  h.ttl = 1;
  h.protocol = kIpProtoIcmp;
  h.src = Ipv4Address::from_octets(10, 0, 0, 1);
  h.dst = Ipv4Address::from_octets(224, 0, 0, 251);
  std::vector<std::byte> out(28);
  h.emit(out);
  auto v = Ipv4View::parse(out);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->checksum_ok());
  EXPECT_EQ(Ipv4Header::from(*v), h);
  EXPECT_EQ(v->payload().size(), 8u);
}

TEST(Ipv4, FromDropsOptions) {
  auto d = with_options({0x94, 0x04, 0x00, 0x00});
  auto v = Ipv4View::parse(d);
  ASSERT_TRUE(v.ok());
  const Ipv4Header h = Ipv4Header::from(*v);
  EXPECT_EQ(h.total_length, 28);
  EXPECT_EQ(h.protocol, kIpProtoUdp);
}

}  // namespace
}  // namespace sn
