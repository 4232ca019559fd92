// Tests for ICMPv4 (RFC 792) against a ping captured in the style Linux sends.
#include "wire/icmp.h"

#include <gtest/gtest.h>

#include <vector>

#include "wire/checksum.h"
#include "wire/ipv4.h"
#include "wire/wire_testing.h"

namespace sn {
namespace {

// 10.0.0.1 -> 10.0.0.2 echo request, id 0x1c2b, seq 1, 56 data bytes (a
// 16-byte timeval, then 0x10..0x37) as iputils ping sends. IP checksum d76c,
// ICMP checksum 90bb (both checked with an independent implementation).
constexpr uint8_t kEchoRequest[] = {
    0x45, 0x00, 0x00, 0x54, 0x4f, 0x3a, 0x40, 0x00, 0x40, 0x01, 0xd7, 0x6c, 0x0a, 0x00,
    0x00, 0x01, 0x0a, 0x00, 0x00, 0x02, 0x08, 0x00, 0x90, 0xbb, 0x1c, 0x2b, 0x00, 0x01,
    0xf0, 0xa1, 0x65, 0x65, 0x00, 0x00, 0x00, 0x00, 0x2a, 0x3e, 0x0c, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b,
    0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29,
    0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37,
};

std::span<const std::byte> icmp_bytes() {
  return as_span(kEchoRequest).subspan(20);
}

TEST(Icmp, ParsesEchoRequest) {
  auto ip = Ipv4View::parse(as_span(kEchoRequest));
  ASSERT_TRUE(ip.ok());
  EXPECT_TRUE(ip->checksum_ok());
  EXPECT_EQ(ip->protocol(), kIpProtoIcmp);
  auto v = IcmpView::parse(ip->payload());
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->type(), kIcmpEchoRequest);
  EXPECT_EQ(v->code(), 0);
  EXPECT_EQ(v->checksum(), 0x90bb);
  EXPECT_TRUE(v->checksum_ok());
  EXPECT_EQ(v->echo_id(), 0x1c2b);
  EXPECT_EQ(v->echo_seq(), 1);
  EXPECT_EQ(v->rest(), 0x1c2b0001u);
  ASSERT_EQ(v->payload().size(), 56u);
  EXPECT_EQ(v->payload()[0], std::byte{0xf0});
  EXPECT_EQ(v->payload()[55], std::byte{0x37});
  EXPECT_EQ(v->bytes().size(), 64u);
}

TEST(Icmp, CorruptionDetectedAnywhere) {
  for (size_t i = 0; i < 64; ++i) {
    auto b = to_vec(icmp_bytes());
    b[i] ^= std::byte{0x40};
    auto v = IcmpView::parse(b);
    ASSERT_TRUE(v.ok());
    EXPECT_FALSE(v->checksum_ok()) << i;
  }
}

TEST(Icmp, TruncatedAtEveryLength) {
  for (size_t n = 0; n < IcmpHeader::kSize; ++n) {
    auto v = IcmpView::parse(icmp_bytes().first(n));
    ASSERT_FALSE(v.ok()) << n;
    EXPECT_EQ(v.error(), ParseError::kTruncated);
  }
  auto v = IcmpView::parse(icmp_bytes().first(8));
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->payload().empty());
}

TEST(Icmp, EchoReplyReusesPayloadSum) {
  auto request = IcmpView::parse(icmp_bytes());
  ASSERT_TRUE(request.ok());
  std::vector<std::byte> reply = to_vec(icmp_bytes());
  const uint32_t payload_sum = Checksum{}.add(request->payload()).sum();
  IcmpHeader::echo_reply(request->echo_id(), request->echo_seq()).emit(reply, payload_sum);
  // Same bytes but type 0 and checksum 90bb + 0800 = 98bb.
  auto expected = to_vec(icmp_bytes());
  expected[0] = std::byte{0x00};
  expected[2] = std::byte{0x98};
  EXPECT_EQ(reply, expected);
  auto v = IcmpView::parse(reply);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->checksum_ok());
}

TEST(Icmp, EchoRequestEmitMatchesFixture) {
  auto out = to_vec(icmp_bytes());
  std::fill(out.begin(), out.begin() + 8, std::byte{0xcc});
  const uint32_t payload_sum = Checksum{}.add(icmp_bytes().subspan(8)).sum();
  IcmpHeader::echo_request(0x1c2b, 1).emit(out, payload_sum);
  EXPECT_EQ(out, to_vec(icmp_bytes()));
}

TEST(Icmp, ErrorConstructors) {
  const IcmpHeader frag = IcmpHeader::dest_unreachable(kIcmpFragNeeded, 1400);
  EXPECT_EQ(frag.type, kIcmpDestUnreachable);
  EXPECT_EQ(frag.code, kIcmpFragNeeded);
  EXPECT_EQ(frag.rest, 1400u);
  const IcmpHeader port = IcmpHeader::dest_unreachable(kIcmpPortUnreachable);
  EXPECT_EQ(port.rest, 0u);
  const IcmpHeader ttl = IcmpHeader::time_exceeded(kIcmpTtlExceeded);
  EXPECT_EQ(ttl.type, kIcmpTimeExceeded);
  EXPECT_EQ(ttl.code, 0);
}

TEST(Icmp, FragNeededQuotesDatagram) {
  // RFC 792: the quoted IP header plus the first 64 bits of its data.
  const auto quote = as_span(kEchoRequest).first(28);
  std::vector<std::byte> msg(8 + quote.size());
  std::copy(quote.begin(), quote.end(), msg.begin() + 8);
  IcmpHeader::dest_unreachable(kIcmpFragNeeded, 1400).emit(msg, Checksum{}.add(quote).sum());
  constexpr uint8_t kHeader[] = {0x03, 0x04, 0x00, 0x00, 0x00, 0x00, 0x05, 0x78};
  auto v = IcmpView::parse(msg);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->checksum_ok());
  EXPECT_EQ(v->type(), kIcmpDestUnreachable);
  EXPECT_EQ(v->rest() & 0xffff, 1400u);
  EXPECT_EQ(to_vec(v->payload()), to_vec(quote));
  EXPECT_EQ(msg[0], as_span(kHeader)[0]);
  EXPECT_EQ(msg[1], as_span(kHeader)[1]);
  EXPECT_EQ(to_vec(std::span(msg).subspan(4, 4)), to_vec(as_span(kHeader).subspan(4)));
  auto inner = Ipv4View::parse(v->payload());
  EXPECT_FALSE(inner.ok());  // the quote is cut short of the total length
  EXPECT_EQ(IcmpHeader::from(*v), IcmpHeader::dest_unreachable(kIcmpFragNeeded, 1400));
}

TEST(Icmp, ChecksumZeroCorner) {
  // A header whose words sum to ffff gets checksum 0000, which verifies.
  std::vector<std::byte> out(8);
  const IcmpHeader h{0x08, 0x00, 0xf7ff0000};  // 0800 + f7ff = ffff
  h.emit(out, 0);
  EXPECT_EQ(out[2], std::byte{0});
  EXPECT_EQ(out[3], std::byte{0});
  EXPECT_TRUE(IcmpView::parse(out)->checksum_ok());
}

}  // namespace
}  // namespace sn
