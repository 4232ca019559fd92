// Tests for UDP (RFC 768) against a literal DNS query datagram.
#include "wire/udp.h"

#include <gtest/gtest.h>

#include <vector>

#include "wire/checksum.h"
#include "wire/wire_testing.h"

namespace sn {
namespace {

const Ipv4Address kSrc = Ipv4Address::from_octets(10, 0, 0, 2);
const Ipv4Address kDst = Ipv4Address::from_octets(10, 0, 0, 1);

// 10.0.0.2:53000 -> 10.0.0.1:53, a DNS query for example.com A; length 37
// (odd), checksum a128 (checked with an independent implementation).
constexpr uint8_t kDnsQuery[] = {
    0xcf, 0x08, 0x00, 0x35, 0x00, 0x25, 0xa1, 0x28, 0xab, 0xcd, 0x01, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x65, 0x78, 0x61, 0x6d, 0x70,
    0x6c, 0x65, 0x03, 0x63, 0x6f, 0x6d, 0x00, 0x00, 0x01, 0x00, 0x01,
};

TEST(Udp, ParsesDatagram) {
  auto v = UdpView::parse(as_span(kDnsQuery));
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->src_port(), L4Port(53000));
  EXPECT_EQ(v->dst_port(), L4Port(53));
  EXPECT_EQ(v->length(), 37);
  EXPECT_EQ(v->checksum(), 0xa128);
  EXPECT_EQ(v->payload().size(), 29u);
  EXPECT_EQ(v->payload()[0], std::byte{0xab});
  EXPECT_TRUE(v->checksum_ok(kSrc, kDst));
  // The pseudo-header counts: another address fails (swapping the two would
  // not: the sum is commutative).
  EXPECT_TRUE(v->checksum_ok(kDst, kSrc));
  EXPECT_FALSE(v->checksum_ok(Ipv4Address::from_octets(10, 0, 0, 3), kDst));
}

TEST(Udp, CorruptionDetectedAnywhere) {
  for (size_t i = 0; i < sizeof kDnsQuery; ++i) {
    if (i == 4 || i == 5) continue;  // the length field changes the parse
    auto b = to_vec(kDnsQuery);
    b[i] ^= std::byte{0x04};
    auto v = UdpView::parse(b);
    ASSERT_TRUE(v.ok()) << i;
    EXPECT_FALSE(v->checksum_ok(kSrc, kDst)) << i;
  }
}

TEST(Udp, ZeroChecksumMeansNone) {
  auto b = to_vec(kDnsQuery);
  b[6] = b[7] = std::byte{0};
  b[20] = std::byte{0x42};  // even with corrupted data
  auto v = UdpView::parse(b);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->checksum_ok(kSrc, kDst));
}

TEST(Udp, TruncatedAtEveryLength) {
  for (size_t n = 0; n < UdpHeader::kSize; ++n) {
    auto v = UdpView::parse(as_span(kDnsQuery).first(n));
    ASSERT_FALSE(v.ok()) << n;
    EXPECT_EQ(v.error(), ParseError::kTruncated) << n;
  }
  // Cut inside the payload: the length field now lies.
  for (size_t n = UdpHeader::kSize; n < sizeof kDnsQuery; ++n) {
    auto v = UdpView::parse(as_span(kDnsQuery).first(n));
    ASSERT_FALSE(v.ok()) << n;
    EXPECT_EQ(v.error(), ParseError::kBadLength) << n;
  }
}

TEST(Udp, LyingLength) {
  auto b = to_vec(kDnsQuery);
  for (uint16_t len : {0, 1, 7, 38, 0xffff}) {
    b[4] = static_cast<std::byte>(len >> 8);
    b[5] = static_cast<std::byte>(len & 0xff);
    auto v = UdpView::parse(b);
    ASSERT_FALSE(v.ok()) << len;
    EXPECT_EQ(v.error(), ParseError::kBadLength) << len;
  }
  b[5] = std::byte{8};
  b[4] = std::byte{0};
  auto v = UdpView::parse(b);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->payload().empty());
}

TEST(Udp, TrailingBytesExcluded) {
  auto b = to_vec(kDnsQuery);
  b.push_back(std::byte{0});  // Ethernet padding that IP did not strip
  b.push_back(std::byte{0x99});
  auto v = UdpView::parse(b);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->payload().size(), 29u);
  EXPECT_TRUE(v->checksum_ok(kSrc, kDst));
}

TEST(Udp, EmitMatchesFixture) {
  auto out = to_vec(kDnsQuery);
  std::fill(out.begin(), out.begin() + 8, std::byte{0xcc});
  const auto payload = as_span(kDnsQuery).subspan(8);
  const UdpHeader h{L4Port(53000), L4Port(53), 37};
  h.emit(out, kSrc, kDst, Checksum{}.add(payload).sum());
  EXPECT_EQ(out, to_vec(kDnsQuery));
  auto v = UdpView::parse(out);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(UdpHeader::from(*v), h);
}

TEST(Udp, ComputedZeroIsSentAsAllOnes) {
  const UdpHeader h{L4Port(1), L4Port(2), 10};
  // Choose the two payload bytes so everything sums to ffff (checksum 0).
  std::vector<std::byte> out(10);
  h.emit(out, kSrc, kDst, 0);
  store16(&out[6], 0);
  const uint32_t s =
      Checksum{}.add_sum(pseudo_header_sum(kSrc, kDst, 17, 10)).add(std::span(out).first(8)).sum();
  store16(&out[8], static_cast<uint16_t>(0xffff - s));
  h.emit(out, kSrc, kDst, Checksum{}.add(std::span(out).subspan(8)).sum());
  EXPECT_EQ(load16(&out[6]), 0xffff);
  auto v = UdpView::parse(out);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->checksum_ok(kSrc, kDst));
}

}  // namespace
}  // namespace sn
